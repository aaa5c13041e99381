//! Fuzz target `forward`: its seed inputs and every crash it found (`fuzz/seeds/forward/`,
//! `fuzz/regressions/forward/`), replayed through the target's own check. No EAL needed.

use std::path::Path;

#[test]
fn forward_inputs_replay() {
    wire::fuzzing::replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz"), "forward", dataplane::fuzzing::forward);
}
