//! The event stream decoder (Amazon Bedrock's framing) on arbitrary bytes and well-formed
//! messages cut at arbitrary points: see `tests/fuzz_checks/eventstream.rs`.
#![no_main]

#[path = "../../crates/stream-core/tests/fuzz_checks/eventstream.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
