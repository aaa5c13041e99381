//! Fuzz target `mag`: its seed inputs and every crash it found (`fuzz/seeds/mag/`,
//! `fuzz/regressions/mag/`), replayed through the target's own check.

use std::path::Path;

#[test]
fn mag_inputs_replay() {
    wire::fuzzing::replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz"), "mag", mag::fuzzing::mag);
}
