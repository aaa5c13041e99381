//! Fuzz target `forward`: the check is `dataplane::fuzzing::forward` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dataplane::fuzzing::forward(data));
