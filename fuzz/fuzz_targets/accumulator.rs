//! The accumulator on arbitrary event sequences: well-formed events in any order (so every
//! rule and violation is reached), plus raw SSE names and data. Invariants: no panic, every
//! event is applied or rejected with a typed error, and what the accumulator holds stays within
//! a constant factor of what it was given.
#![no_main]

#[path = "../../crates/stream-core/tests/fuzz_checks/accumulator.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
