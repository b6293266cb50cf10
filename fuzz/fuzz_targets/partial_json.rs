//! The incremental partial-JSON parser on arbitrary text in arbitrary pieces: it never panics,
//! every snapshot only adds to the one before, and whenever `serde_json` accepts the whole
//! text, the final value equals `serde_json`'s (and when it rejects it, so do we).
#![no_main]

#[path = "../../crates/stream-core/tests/fuzz_checks/partial_json.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
