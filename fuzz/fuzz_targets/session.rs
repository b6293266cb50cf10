//! The session on arbitrary sequences of driver inputs (statuses, headers, body pieces,
//! transport errors, times, closes), with input for the current attempt or a stale one.
//! Invariants: no panic; outputs stay well-formed (attempt numbers only grow, at most
//! `max_retries + 1` requests, every drop names a sent attempt); at most one `Finished`;
//! nothing but one connection drop after `close`.
#![no_main]

#[path = "../../crates/stream-core/tests/fuzz_checks/session.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
