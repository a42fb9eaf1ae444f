//! Every committed seed (`corpus/<target>/`) and every input that once failed
//! (`regressions/<target>/`) through its target, on every test run: what the fuzzer found
//! stays fixed without the fuzzer (which CI does not build).

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a readable input");
            (path.display().to_string(), bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn every_seed_and_every_regression_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failed = Vec::new();
    for (name, target) in legate_fuzz::TARGETS {
        let seeds = inputs(&root.join("corpus").join(name));
        assert!(!seeds.is_empty(), "{name} has no seeds in corpus/{name}");
        for (path, bytes) in seeds
            .into_iter()
            .chain(inputs(&root.join("regressions").join(name)))
        {
            if std::panic::catch_unwind(|| target(&bytes)).is_err() {
                failed.push(path);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail their target: {failed:?}"
    );
}

/// The harness has a binary for every target and no other, so a target added to `TARGETS`
/// is fuzzed too.
#[test]
fn the_harness_fuzzes_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the harness manifest");
    let mut bins: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| *name != "legate-fuzz-harness")
        .collect();
    bins.sort_unstable();
    let mut targets: Vec<&str> = legate_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    targets.sort_unstable();
    assert_eq!(bins, targets);
    for name in targets {
        let source = std::fs::read_to_string(root.join("fuzz_targets").join(format!("{name}.rs")))
            .unwrap_or_else(|_| panic!("fuzz_targets/{name}.rs"));
        assert!(source.contains("fuzz_target!"), "{name}");
    }
}
