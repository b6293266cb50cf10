//! The helper events' conformance interface (the `helper_events` example) on every recorded
//! stream, whole, in small pieces and cut at every point, against its expected output written
//! out in `tests/expected_helpers/`.
//!
//! Regenerate the expected outputs with `BLESS=1 cargo test -p stream-core --test
//! helper_events` and review the diff by hand.

#[allow(dead_code)]
#[path = "../examples/helper_events.rs"]
mod example;

use std::io;
use std::path::{Path, PathBuf};

#[path = "support/fixtures.rs"]
mod support;
use support::fixtures;

fn expected_path(fixture: &Path) -> PathBuf {
    support::expected_path(fixture, "expected_helpers", "jsonl")
}

/// The example's output and exit status for `bytes` fed in pieces of `piece` bytes.
fn run(bytes: &[u8], piece: usize) -> (String, bool) {
    let pieces = bytes
        .chunks(piece.max(1))
        .map(|p| Ok::<_, io::Error>(p.to_vec()));
    let mut out = Vec::new();
    let ok = example::run(pieces, &mut out).unwrap();
    (String::from_utf8(out).unwrap(), ok)
}

/// A fixture as the API sends it: the SDKs' files lack the blank line after their last event.
fn complete(fixture: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture).unwrap();
    if !bytes.ends_with(b"\n\n") {
        bytes.extend_from_slice(b"\n\n");
    }
    bytes
}

#[test]
fn every_fixture_gives_its_expected_helper_events() {
    for fixture in fixtures() {
        let bytes = complete(&fixture);
        let (output, ok) = run(&bytes, 64 * 1024);
        let path = expected_path(&fixture);
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&path, &output).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} (run with BLESS=1)", path.display()));
        assert_eq!(output, expected, "{}", fixture.display());
        // The exit status says whether the last line is a failure.
        let last: serde_json::Value = serde_json::from_str(output.lines().last().unwrap()).unwrap();
        assert_eq!(ok, last.get("error").is_none(), "{}", fixture.display());
    }
}

#[test]
fn the_output_does_not_depend_on_how_the_input_is_cut() {
    for fixture in fixtures() {
        let bytes = complete(&fixture);
        let whole = run(&bytes, bytes.len());
        for piece in [1, 2, 7, 100] {
            assert_eq!(
                run(&bytes, piece),
                whole,
                "{} in {piece}-byte pieces",
                fixture.display()
            );
        }
        // Every single cut point.
        for cut in 0..=bytes.len() {
            let pieces = [bytes[..cut].to_vec(), bytes[cut..].to_vec()].map(Ok::<_, io::Error>);
            let mut out = Vec::new();
            let ok = example::run(pieces, &mut out).unwrap();
            assert_eq!(
                (String::from_utf8(out).unwrap(), ok),
                whole,
                "{} cut at {cut}",
                fixture.display()
            );
        }
    }
}

#[test]
fn a_truncated_stream_ends_with_the_failure_and_the_partial_message() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.ends_with("python-sdk/incomplete_partial_json_response.txt"))
        .unwrap();
    // As the SDK's file is: no blank line after the last event, so it never dispatches.
    let (output, ok) = run(&std::fs::read(&fixture).unwrap(), 1000);
    assert!(!ok);
    let last: serde_json::Value = serde_json::from_str(output.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["kind"], "truncated");
    assert!(last["partial"]["content"].is_array());
    // Helper events came before it.
    assert!(output.lines().count() > 1);
}
