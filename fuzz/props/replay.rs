//! Replays a fuzz target's committed inputs on stable, in the normal test run: the seed corpus (`corpus/<target>/`)
//! and the reproducers of fixed crashes (`regressions/<target>/`).

use std::panic::catch_unwind;
use std::path::Path;

/// Applies `check` to every committed input of `target` under `fuzz_dir`, and fails naming every input that broke it.
pub(crate) fn replay(fuzz_dir: &str, target: &str, check: fn(&[u8])) {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = Path::new(fuzz_dir).join(kind).join(target);
        // Regressions exist only for targets that have found something.
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        inputs.extend(entries.map(|entry| entry.expect("a readable directory entry").path()));
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no committed inputs for {target} under {fuzz_dir}");
    let failed: Vec<_> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a readable input");
            // The hook still prints each panic's message and location; catching it names every failing input.
            catch_unwind(|| check(&data)).is_err()
        })
        .collect();
    assert!(failed.is_empty(), "{} of {} inputs failed: {failed:#?}", failed.len(), inputs.len());
}
