//! Comparing rendered text with a file under `tests/filter/golden/`.

use std::path::PathBuf;

/// Asserts `rendered` equals the golden file `name`, or rewrites the file when
/// `UPDATE_GOLDEN` is set.
pub fn check(name: &str, rendered: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/filter/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {path:?}; run with UPDATE_GOLDEN=1"));
    if expected != rendered {
        let first = expected
            .lines()
            .zip(rendered.lines())
            .position(|(want, got)| want != got)
            .map_or(String::from("(a line added or removed at the end)"), |at| {
                format!("first difference at line {}", at + 1)
            });
        panic!(
            "output differs from {path:?}, {first}; rerun with UPDATE_GOLDEN=1 and review the diff"
        );
    }
}

/// Indents every line after the first, so multi-line errors stay readable.
pub fn indent(text: &str) -> String {
    text.replace('\n', "\n    ")
}
