//! Reconnection of raw SSE streams (feeds), as the WHATWG `EventSource` model has it: after the
//! response started, a connection that ends or fails is opened again after the reconnection
//! time, with `Last-Event-ID`, and the same stream goes on.

use alloc::borrow::ToOwned;
use core::time::Duration;

use super::retry::Reason;
use super::{AttemptId, Output, Session, State, What};

/// How a raw SSE stream reconnects (see [`Session::with_reconnect`]).
///
/// The reconnection time is the stream's last `retry:` value, or [`delay`](Self::delay) until
/// it sends one. The first reconnection after events waits exactly that long; each further
/// attempt in a row with no event doubles it (less up to a quarter at random), up to
/// [`max_delay`](Self::max_delay). [`max_attempts`](Self::max_attempts) bounds the attempts in
/// a row with no event; the total deadline, if any, bounds the whole feed.
///
/// ```
/// use core::time::Duration;
/// use stream_core::session::Reconnect;
///
/// let policy = Reconnect::new()
///     .delay(Duration::from_millis(500))
///     .max_delay(Duration::from_secs(10))
///     .max_attempts(5);
/// assert_eq!(policy.max_attempts, Some(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnect {
    /// The reconnection time until the stream sends `retry:` (default 3 s).
    pub delay: Duration,
    /// The longest wait between attempts (default 30 s).
    pub max_delay: Duration,
    /// The most attempts in a row that bring no event (default: no limit, as `EventSource`).
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self::new()
    }
}

impl Reconnect {
    /// The defaults: 3 s, at most 30 s between attempts, no limit on attempts.
    #[must_use]
    pub fn new() -> Self {
        Self {
            delay: Duration::from_secs(3),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }

    /// The reconnection time until the stream sends `retry:`.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The longest wait between attempts.
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The most attempts in a row that bring no event.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

impl Session {
    /// Reconnects this raw stream after its connection ends or fails, once a response has
    /// started (a Messages stream ignores it: a generated reply cannot be resumed). A
    /// `last-event-id` header already in the request is the ID to resume from until the stream
    /// sends one. A 204 ends the feed for good; a 2xx that is not `text/event-stream` fails it;
    /// 408, 429 and 5xx are retried as reconnections; any other status fails it.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::{Output, Reconnect, Session};
    ///
    /// let request = Request::new("GET", "http://127.0.0.1/feed");
    /// let mut session = Session::raw(&ClientConfig::new(), request).with_reconnect(Reconnect::new());
    /// let t = Duration::from_secs;
    /// session.enter(t(0))?;
    /// let Some(Output::Send { attempt, .. }) = session.poll_output() else { panic!() };
    /// session.handle_response_head(attempt, t(0), 200, [("content-type", "text/event-stream")]);
    /// session.handle_body(attempt, t(0), &b"retry: 2000\nid: 1\ndata: one\n\n"[..]);
    /// assert!(matches!(session.poll_output(), Some(Output::SseEvent(_))));
    /// session.handle_end(attempt, t(1)); // the server drops the connection
    /// assert!(matches!(session.poll_output(), Some(Output::DropConnection { .. })));
    /// assert_eq!(session.poll_timeout(), Some(t(3))); // `retry: 2000`
    /// session.handle_timeout(t(3));
    /// let Some(Output::Send { request, .. }) = session.poll_output() else { panic!() };
    /// assert_eq!(request.header("last-event-id"), Some("1"));
    /// assert_eq!(session.reconnects(), 1);
    /// # Ok::<(), stream_core::session::CallerError>(())
    /// ```
    #[must_use]
    pub fn with_reconnect(mut self, reconnect: Reconnect) -> Self {
        self.set_reconnect(reconnect);
        self
    }

    /// As [`with_reconnect`](Self::with_reconnect), in place (before `enter`).
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::{Reconnect, Session};
    ///
    /// let request = Request::new("GET", "http://127.0.0.1/feed").with_header("last-event-id", "41");
    /// let mut session = Session::raw(&ClientConfig::new(), request);
    /// session.set_reconnect(Reconnect::new());
    /// assert_eq!(session.last_event_id(), "41");
    /// ```
    pub fn set_reconnect(&mut self, reconnect: Reconnect) {
        if !matches!(self.state, State::Deferred) {
            return;
        }
        if let What::Raw(request) = &self.what {
            if let Some(id) = request.header("last-event-id") {
                let id = id.to_owned();
                self.decoder = self.decoder.reconnected().with_last_event_id(&id);
            }
            self.reconnect = Some(reconnect);
        }
    }

    /// How many times the stream reconnected.
    #[must_use]
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// The last event ID of the stream (`""` before any): what a reconnection sends.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    /// Whether a connection that ends or fails now is reconnected: reconnection is on and a
    /// response of this feed has started.
    pub(super) fn reconnects_now(&self) -> bool {
        self.reconnect.is_some() && self.streamed
    }

    /// The wait before the next reconnection, when one may be made: attempts are left and
    /// the wait ends before the total deadline.
    pub(super) fn reconnect_delay(&mut self, asked: Option<Duration>) -> Option<Duration> {
        let policy = self.reconnect.clone()?;
        if policy
            .max_attempts
            .is_some_and(|max| self.failures_in_row >= max)
        {
            return None;
        }
        let base = self
            .decoder
            .reconnection_time()
            .map_or(policy.delay, Duration::from_millis);
        let delay = match asked {
            Some(asked) => asked,
            None if self.failures_in_row == 0 => base,
            None => {
                let n = self.failures_in_row.min(20);
                let grown = base.saturating_mul(1 << n).min(policy.max_delay.max(base));
                grown.mul_f64(1.0 - 0.25 * self.next_random())
            }
        };
        match (self.started_at, self.config.timeouts.total) {
            (Some(started), Some(total)) if self.now + delay >= started + total => None,
            _ => Some(delay),
        }
    }

    /// Drops the attempt's connection and opens another after `delay`, resuming after the
    /// last event ID.
    pub(super) fn reconnect(
        &mut self,
        attempt: AttemptId,
        now: Duration,
        delay: Duration,
        reason: Reason,
    ) {
        trace!(
            info,
            attempt = attempt.number(),
            reason = %reason,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            last_event_id = self.decoder.last_event_id(),
            "reconnecting"
        );
        let _ = reason;
        self.outputs.push_back(Output::DropConnection { attempt });
        self.decoder = self.decoder.reconnected();
        self.idle_deadline = None;
        self.failures_in_row += 1;
        self.reconnects += 1;
        self.state = State::Backoff { until: now + delay };
    }
}
