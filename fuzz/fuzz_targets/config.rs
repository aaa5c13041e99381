//! Fuzz target `config`: the check is `control/src/config.rs`'s `fuzz_check` (replayed by
//! `cargo test -p control`). `control` is a binary crate, so the file is compiled in here.
#![no_main]

#[allow(dead_code)]
#[path = "../../control/src/config.rs"]
mod config;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config::fuzz_check(data));
