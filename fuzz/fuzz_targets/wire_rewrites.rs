//! Fuzz target `wire_rewrites`: the check is `wire::fuzzing::rewrites` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wire::fuzzing::rewrites(data));
