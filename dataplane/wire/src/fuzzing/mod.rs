//! The checks of the fuzz targets (`fuzz/`), one function per target, so the fuzz binary
//! and the regression test that replays `fuzz/regressions/<target>/` run the same code
//! (feature `fuzzing`). Each takes the raw fuzz input and panics when an invariant fails.

mod parsers;
mod pmip;
mod rewrites;

pub use parsers::parsers;
pub use pmip::pmip;
pub use rewrites::{checksum_ok, fix_checksum, rewrites};

use std::path::Path;

/// Feeds every file of `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (`fuzz` is
/// the fuzz project's directory) to `check`, as the regression tests do; a panic names the
/// file. Returns how many files ran, and fails when there were none.
pub fn replay(fuzz: &Path, target: &str, check: fn(&[u8])) -> usize {
    let mut files: Vec<_> = ["seeds", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(fuzz.join(d).join(target)).ok())
        .flatten()
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seed or regression inputs for {target} under {}", fuzz.display());
    for f in &files {
        let data = std::fs::read(f).expect("readable input");
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            panic!("{target}: {} fails: {msg}", f.display());
        }
    }
    files.len()
}
