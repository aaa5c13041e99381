//! Fuzz target `reflector`: its seed inputs and every crash it found
//! (`fuzz/seeds/reflector/`, `fuzz/regressions/reflector/`), replayed through its own check.

use std::path::Path;

#[test]
fn reflector_inputs_replay() {
    wire::fuzzing::replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz"), "reflector", reflector::fuzzing::reflector);
}
