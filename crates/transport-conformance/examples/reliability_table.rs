//! Plays the whole fault matrix with both transports and prints `docs/reliability.md`'s table.
//!
//! ```text
//! cargo run -p transport-conformance --features ureq,hyper --example reliability_table
//! ```

use transport_conformance::matrix;
use transport_conformance::runners::{Async, Blocking};

fn main() {
    let mut outcomes = Vec::new();
    for cell in matrix::cells() {
        outcomes.push(matrix::run::<Blocking>(cell.name, "ureq"));
        outcomes.push(matrix::run::<Async>(cell.name, "hyper"));
    }
    print!("{}", matrix::markdown(&outcomes));
}
