//! Fuzz target `reflector`: the check is `reflector::fuzzing::reflector` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reflector::fuzzing::reflector(data));
