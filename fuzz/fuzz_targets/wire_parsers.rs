//! Fuzz target `wire_parsers`: the check is `wire::fuzzing::parsers` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wire::fuzzing::parsers(data));
