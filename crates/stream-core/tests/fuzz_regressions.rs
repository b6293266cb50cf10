//! Every input kept under `fuzz/regressions/<target>/` (inputs that once failed, and the
//! minimised corpus of the long runs) replayed through the fuzz targets' own checks, which
//! live here so that `cargo test` runs them on stable (the targets in `fuzz/` call the same
//! functions under libFuzzer).

// Each test binary that includes the reference decoder uses part of it.
#[allow(dead_code)]
#[path = "support/reference.rs"]
mod reference;

#[path = "fuzz_checks/accumulator.rs"]
mod accumulator;
#[path = "fuzz_checks/eventstream.rs"]
mod eventstream;
#[path = "fuzz_checks/partial_json.rs"]
mod partial_json;
#[path = "fuzz_checks/session.rs"]
mod session;
#[path = "fuzz_checks/sse_decoder.rs"]
mod sse_decoder;

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/regressions/<target>/`; returns how many.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails again", path.display());
        count += 1;
    }
    count
}

#[test]
fn sse_decoder_regressions_pass() {
    replay("sse_decoder", sse_decoder::check);
    // The recorded streams themselves, as the fuzzer's seeds.
    for dir in ["python-sdk", "typescript-sdk", "recorded"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/anthropic")
            .join(dir);
        for entry in std::fs::read_dir(dir).unwrap() {
            sse_decoder::check(&std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
}

#[test]
fn accumulator_regressions_pass() {
    replay("accumulator", accumulator::check);
}

#[test]
fn partial_json_regressions_pass() {
    assert!(replay("partial_json", partial_json::check) >= 1);
}

#[test]
fn session_regressions_pass() {
    replay("session", session::check);
}

#[test]
fn eventstream_regressions_pass() {
    replay("eventstream", eventstream::check);
    // A few inputs of every shape, so that the check itself runs without the fuzzer too.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for len in 0..400 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_be_bytes()[0]
            })
            .collect();
        eventstream::check(&data);
    }
}
