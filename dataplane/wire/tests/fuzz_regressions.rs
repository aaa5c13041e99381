//! The fuzz targets' seed inputs and every crash they found (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`), replayed through the targets' own checks.

use std::path::{Path, PathBuf};
use wire::fuzzing::{parsers, pmip, replay, rewrites};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn wire_parsers_inputs_replay() {
    replay(&fuzz_dir(), "wire_parsers", parsers);
}

#[test]
fn wire_rewrites_inputs_replay() {
    replay(&fuzz_dir(), "wire_rewrites", rewrites);
}

#[test]
fn pmip_codec_inputs_replay() {
    replay(&fuzz_dir(), "pmip_codec", pmip);
}
