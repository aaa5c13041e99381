//! Fuzz target `mag`: the check is `mag::fuzzing::mag` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mag::fuzzing::mag(data));
