//! The SSE decoder on arbitrary bytes cut at arbitrary points: it never panics, the events (and
//! errors) of the split feed equal those of the whole feed, and with default limits they equal
//! the events of the reference decoder kept in the tests.
#![no_main]

// The check uses part of the reference decoder.
#[allow(dead_code)]
#[path = "../../crates/stream-core/tests/support/reference.rs"]
mod reference;
#[path = "../../crates/stream-core/tests/fuzz_checks/sse_decoder.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
