//! The recorded streams in `fixtures/`, and where a test writes out what it expects of each.

use std::path::{Path, PathBuf};

/// Every recorded stream, sorted.
pub(crate) fn fixtures() -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/anthropic");
    let mut files = Vec::new();
    for sub in std::fs::read_dir(dir).expect("fixtures/ in the repository") {
        for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    assert!(files.len() >= 16, "found only {} fixtures", files.len());
    files
}

/// `tests/<dir>/<fixture's folder>__<fixture's stem>.<ext>`.
pub(crate) fn expected_path(fixture: &Path, dir: &str, ext: &str) -> PathBuf {
    let folder = fixture
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let stem = fixture.file_stem().unwrap().to_str().unwrap();
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/{dir}/{folder}__{stem}.{ext}"))
}
