//! Fuzz target `pmip_codec`: the check is `wire::fuzzing::pmip` (replayed by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wire::fuzzing::pmip(data));
