//! The fault matrix (`transport_conformance::matrix`), one test per cell and transport.

use transport_conformance::matrix;
use transport_conformance::runners::{Async, Blocking};

macro_rules! matrix_tests {
    ($($cell:ident),* $(,)?) => {
        const CELLS: &[&str] = &[$(stringify!($cell)),*];

        mod blocking {
            $(
                #[test]
                fn $cell() {
                    super::matrix::run::<super::Blocking>(stringify!($cell), "ureq");
                }
            )*
        }

        mod asynchronous {
            $(
                #[test]
                fn $cell() {
                    super::matrix::run::<super::Async>(stringify!($cell), "hyper");
                }
            )*
        }
    };
}

matrix_tests!(
    reset_after_bytes,
    reset_after_events,
    reset_between_cr_and_lf,
    cut_after_events,
    stall_mid_stream,
    stall_before_any_event,
    slow_drip_within_idle,
    slow_drip_past_idle,
    garbage_json,
    garbage_bytes_ignored,
    huge_line,
    invalid_utf8_lossy,
    invalid_utf8_strict,
    error_event_first,
    error_event_mid_stream,
    end_before_message_stop,
    wrong_content_type,
    tls_untrusted,
    tls_trusted,
    never_answers,
    connection_refused,
    status_400,
    status_400_retry_after,
    status_401,
    status_401_retry_after,
    status_403,
    status_403_retry_after,
    status_404,
    status_404_retry_after,
    status_413,
    status_413_retry_after,
    status_408,
    status_408_retry_after,
    status_409,
    status_409_retry_after,
    status_429,
    status_429_retry_after,
    status_500,
    status_500_retry_after,
    status_502,
    status_502_retry_after,
    status_503,
    status_503_retry_after,
    status_504,
    status_504_retry_after,
    status_529,
    status_529_retry_after,
);

#[test]
fn every_cell_has_its_tests() {
    let names: Vec<&str> = matrix::cells().iter().map(|c| c.name).collect();
    assert_eq!(names, CELLS);
}
