//! The scenarios every transport of the workspace must pass, written once and run against
//! each transport through a small [`Runner`] that says how that transport enters a stream,
//! reads it and leaves it. Every scenario talks to the local Messages server
//! (`messages-test-server`) over real sockets.
//!
//! A transport's test file implements [`Runner`] and expands [`conformance_suite!`], which
//! makes one `#[test]` per scenario:
//!
//! ```ignore
//! struct Blocking;
//! impl transport_conformance::Runner for Blocking { /* ... */ }
//! transport_conformance::conformance_suite!(Blocking);
//! ```
#![forbid(unsafe_code)]

pub mod matrix;
pub mod runners;
pub mod scenarios;

use std::time::{Duration, Instant};

use stream_core::Error;
use stream_core::messages::{Message, StreamEvent};
use stream_core::request::{ClientConfig, MessageParams, Request, RequestOptions};
use stream_core::session::{Reconnect, SessionError};
use stream_core::sse::Event as SseEvent;

/// The service a scenario's Messages requests go to, as the local server answers each: the
/// Anthropic API's path, Bedrock's (event-stream framing, an AWS Signature Version 4 checked for form)
/// or Vertex AI's (SSE, a bearer token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cloud {
    /// `POST /v1/messages` with an API key.
    #[default]
    Anthropic,
    /// Amazon Bedrock, signed with AWS Signature Version 4 by `anthropic_stream::bedrock::SigV4`.
    Bedrock,
    /// Google Vertex AI with a bearer token.
    Vertex,
}

std::thread_local! {
    static CLOUD: std::cell::Cell<Cloud> = const { std::cell::Cell::new(Cloud::Anthropic) };
}

impl Cloud {
    /// The cloud the scenarios of this thread use ([`Cloud::Anthropic`] unless
    /// [`with_cloud`] says otherwise).
    #[must_use]
    pub fn current() -> Self {
        CLOUD.with(std::cell::Cell::get)
    }
}

/// Runs `scenario` with its requests going to `cloud`.
pub fn with_cloud(cloud: Cloud, scenario: impl FnOnce()) {
    let before = CLOUD.with(|c| c.replace(cloud));
    struct Restore(Cloud);
    impl Drop for Restore {
        fn drop(&mut self) {
            CLOUD.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(before);
    scenario();
}

/// How a scenario reads a stream and leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Read every event to the end (or the first error), then ask for the final message.
    Drain,
    /// Consume the stream into its text deltas, then ask for the final message.
    TextStream,
    /// Read this many events, then drop the stream.
    DropAfter(usize),
    /// Read this many events, then call `close()`.
    CloseAfter(usize),
    /// In the scoped form (`with`), read events until this many were read, then break out of
    /// the loop and return.
    BreakInWith(usize),
    /// In the scoped form, read this many events, then return an error with `?`.
    ErrorInWith(usize),
    /// In the scoped form, read this many events, then panic.
    PanicInWith(usize),
    /// Read this many events, then cancel the whole future that owns the stream while it is
    /// pending (in `enter` when the count is 0 and the server is silent, else in `next`), as a
    /// timeout or an aborted task does. Blocking runners drop the stream instead.
    CancelPending(usize),
    /// Read every event, as [`Exit::Drain`], but stop for `pause` after every `every`-th event,
    /// `times` times (a consumer busy running a tool or writing to a slow terminal).
    DrainPausing {
        /// Pause after every this many events.
        every: usize,
        /// How many pauses.
        times: usize,
        /// How long each pause is.
        pause: Duration,
    },
}

impl Exit {
    /// How long to pause after the `read`-th event, if at all.
    #[must_use]
    pub fn pause_after(self, read: usize) -> Option<Duration> {
        match self {
            Self::DrainPausing {
                every,
                times,
                pause,
            } if every > 0 && read.is_multiple_of(every) && read / every <= times => Some(pause),
            _ => None,
        }
    }
}

/// What happened to one stream.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Run {
    /// The error of `enter` (the response head), if it failed.
    pub enter_error: Option<Error>,
    /// Every event delivered, in order.
    pub events: Vec<StreamEvent>,
    /// The helper event of each event that has one (`stream.helper(&event)`), as JSON.
    pub helpers: Vec<serde_json::Value>,
    /// The text deltas, for [`Exit::TextStream`].
    pub text: Vec<String>,
    /// The error that ended the stream after `enter`, if any.
    pub error: Option<Error>,
    /// The final message, when the stream ended well and the exit asked for it.
    pub message: Option<Message>,
    /// The response's request id.
    pub request_id: Option<String>,
    /// The snapshot when the scenario stopped reading.
    pub snapshot: Option<Message>,
    /// When the scope was left (the stream dropped, closed, or the `with` call returned).
    pub exited_at: Option<Instant>,
    /// Whether the scope was left by a panic (caught by the runner).
    pub panicked: bool,
}

impl Run {
    /// The session error of the failure, at enter or after.
    ///
    /// # Panics
    ///
    /// When the stream did not fail with a session error.
    #[must_use]
    pub fn failure(&self) -> &SessionError {
        self.enter_error
            .as_ref()
            .or(self.error.as_ref())
            .and_then(Error::session_error)
            .unwrap_or_else(|| panic!("no stream failure in {self:?}"))
    }

    /// The final message.
    ///
    /// # Panics
    ///
    /// When there is none.
    #[must_use]
    pub fn message(&self) -> &Message {
        self.message
            .as_ref()
            .unwrap_or_else(|| panic!("no final message in {self:?}"))
    }
}

/// What happened to one raw SSE stream.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SseRun {
    /// The error of `enter`, if it failed.
    pub enter_error: Option<Error>,
    /// The response status.
    pub status: Option<u16>,
    /// The response headers (`stream.header_map()`).
    pub headers: http::HeaderMap,
    /// Every event delivered.
    pub events: Vec<SseEvent>,
    /// The error that ended the stream, if any.
    pub error: Option<Error>,
    /// When the scope was left.
    pub exited_at: Option<Instant>,
    /// How many times the stream reconnected.
    pub reconnects: u32,
}

/// How a transport runs the scenarios. Implementations are small: they translate each
/// [`Exit`] into the transport's own calls.
pub trait Runner {
    /// The transport's client.
    type Client: std::fmt::Debug;

    /// Whether a pending call can be cancelled (async transports); blocking runners play
    /// [`Exit::CancelPending`] as a drop.
    #[must_use]
    fn cancels() -> bool {
        false
    }

    /// A client with this configuration; with `roots`, trusting exactly those DER
    /// certificates instead of the webpki roots.
    fn client(config: ClientConfig, roots: Option<&[u8]>) -> Self::Client;

    /// Describes a stream of `params`, calls `between` (nothing may have been sent yet),
    /// enters it and reads it as `exit` says.
    fn run(
        client: &Self::Client,
        params: MessageParams,
        exit: Exit,
        between: &mut dyn FnMut(),
    ) -> Run;

    /// Enters a stream of `params` with per-request `options` and drains it (as
    /// [`Exit::Drain`]).
    fn run_with_options(
        client: &Self::Client,
        params: MessageParams,
        options: &RequestOptions,
    ) -> Run;

    /// The same for a raw SSE stream of `request`, reconnecting as `reconnect` says.
    fn run_sse(
        client: &Self::Client,
        request: Request,
        reconnect: Option<&Reconnect>,
        exit: Exit,
        between: &mut dyn FnMut(),
    ) -> SseRun;
}

/// Expands to one `#[test]` per scenario of [`scenarios`], run with the given [`Runner`].
#[macro_export]
macro_rules! conformance_suite {
    ($runner:ty) => {
        // The scenarios that check what only the Anthropic API has: its headers before
        // `enter`, raw SSE endpoints and feeds, bytes injected into SSE, secrets in its
        // headers, proxies.
        $crate::conformance_suite!(@each $runner;
            nothing_is_sent_before_enter,
            a_raw_sse_stream_from_any_endpoint,
            garbage_huge_lines_and_invalid_utf8,
            secrets_never_appear_in_errors,
            proxies_tunnel_every_request_the_core_names,
            a_feed_reconnects_with_last_event_id_and_loses_nothing,
        );
        $crate::conformance_suite!(@any_cloud @each $runner);
        $crate::conformance_suite!(@any_cloud @cloud $runner; bedrock, Bedrock);
        $crate::conformance_suite!(@any_cloud @cloud $runner; vertex, Vertex);
    };
    // The scenarios that hold for every cloud, handed to the arm `$arm` after `$args`.
    (@any_cloud $arm:tt $($args:tt)*) => {
        $crate::conformance_suite!($arm $($args)*;
            every_fixture_gives_the_accumulators_final_message,
            generated_replies_arrive_whole_at_any_chunking,
            drop_mid_stream_closes_the_connection_at_once,
            close_mid_stream_closes_the_connection_at_once,
            break_inside_with_closes_at_once,
            question_mark_inside_with_closes_at_once,
            panic_inside_with_closes_at_once,
            retries_follow_retry_after_then_stream,
            retries_stop_at_the_limit_and_obey_x_should_retry,
            a_final_status_error_surfaces_at_enter_with_its_request_id,
            a_stalled_stream_ends_at_the_idle_deadline_with_the_partial_message,
            a_slow_drip_within_the_idle_deadline_is_not_a_stall,
            a_message_past_its_size_limit_fails_and_closes,
            a_consumer_away_for_three_idle_deadlines_loses_nothing,
            a_real_stall_ends_at_the_idle_deadline,
            a_retry_past_the_total_deadline_returns_its_cause_at_once,
            the_total_deadline_holds_across_retries_and_a_paced_stream,
            a_slow_consumer_of_a_paced_server_gets_everything,
            helper_events_are_the_cores,
            per_request_options_override_the_client,
            a_server_that_never_answers_hits_the_head_deadline,
            a_truncated_stream_hands_back_the_partial_message,
            text_stream_then_final_message,
            tls_with_a_trusted_self_signed_certificate_works_and_an_untrusted_one_is_refused,
            a_wrong_content_type_is_a_typed_error_at_enter,
            an_error_event_mid_stream_is_final_and_first_is_retried,
            resets_and_cuts_end_in_typed_errors_with_what_was_received,
            exits_at_random_points_close_at_once,
            each_attempt_is_authorized_as_its_cloud_wants,
            exceptions_follow_the_api_error_kinds,
        );
    };
    (@cloud $runner:ty; $module:ident, $cloud:ident; $($name:ident,)*) => {
        /// The scenarios whose requests can go to any cloud, through this one.
        mod $module {
            #[allow(unused_imports, reason = "the runner's type may be defined beside the suite")]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::with_cloud($crate::Cloud::$cloud, $crate::scenarios::$name::<$runner>);
                }
            )*
        }
    };
    (@each $runner:ty; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name::<$runner>();
            }
        )*
    };
}
