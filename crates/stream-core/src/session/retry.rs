//! When to retry and how long to wait: the retry rules, the backoff with jitter, and the
//! server's `retry-after-ms` / `retry-after` (seconds or an HTTP date).

use core::fmt;
use core::time::Duration;

use super::{AttemptId, Deadline, Output, Session, State, TransportErrorKind, new_accumulator};
use crate::eventstream;
use crate::sse::Decoder;

/// Why an attempt is retried (for `tracing`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Reason {
    /// A retryable status (408, 409, 429, 5xx, or `x-should-retry: true`).
    Status(u16),
    /// The connection failed.
    Transport(TransportErrorKind),
    /// The response head or the first event did not come in time.
    Deadline(Deadline),
    /// An `error` event before any output.
    ErrorEvent,
    /// The body ended before any output.
    EarlyEnd,
    /// A feed's connection ended.
    Dropped,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "status {status}"),
            Self::Transport(kind) => write!(f, "{kind} error"),
            Self::Deadline(deadline) => write!(f, "{deadline:?} deadline"),
            Self::ErrorEvent => f.write_str("error event before any output"),
            Self::EarlyEnd => f.write_str("the body ended before any output"),
            Self::Dropped => f.write_str("the connection ended"),
        }
    }
}

impl Session {
    pub(super) fn retries_left(&self) -> bool {
        self.attempts <= self.config.retry.max_retries
    }

    /// The wait before another attempt, when one may be made: nothing reached the caller,
    /// retries are left, and the wait (`asked` by the server, else the backoff) ends before
    /// the total deadline. `None` means the error that asked for the retry is final: a retry
    /// that cannot fit would only turn it into `Timeout(Total)` later.
    pub(super) fn next_retry(
        &mut self,
        now: Duration,
        asked: Option<Duration>,
    ) -> Option<Duration> {
        if self.delivered || !self.retries_left() {
            return None;
        }
        let delay = asked.unwrap_or_else(|| self.backoff());
        match (self.started_at, self.config.timeouts.total) {
            (Some(started), Some(total)) if now + delay >= started + total => None,
            _ => Some(delay),
        }
    }

    pub(super) fn status_is_retryable(&self, status: u16) -> bool {
        match self.header("x-should-retry") {
            Some("true") => true,
            Some("false") => false,
            _ => matches!(status, 408 | 409 | 429) || status >= 500,
        }
    }

    /// Drops the attempt's connection and waits `delay` before the next one.
    pub(super) fn retry(
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
            "retrying"
        );
        let _ = reason;
        self.outputs.push_back(Output::DropConnection { attempt });
        self.decoder = Decoder::with_config(self.decoder.config().clone());
        if let Some(frames) = &mut self.frames {
            *frames = eventstream::Decoder::with_max_message_len(frames.max_message_len());
        }
        self.accumulator = new_accumulator(&self.config);
        self.idle_deadline = None;
        self.state = State::Backoff { until: now + delay };
    }

    /// `initial * 2^n` capped, less up to `jitter` of it at random.
    pub(super) fn backoff(&mut self) -> Duration {
        let policy = &self.config.retry;
        let n = self.attempts.saturating_sub(1).min(30);
        let base = policy
            .initial_backoff
            .saturating_mul(1u32 << n)
            .min(policy.max_backoff);
        let jitter = policy.jitter.clamp(0.0, 1.0);
        let random = self.next_random();
        base.mul_f64(1.0 - jitter * random)
    }

    pub(super) fn next_random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 exactly.
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }

    /// The delay the response asks for, when it is within bounds.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        let max = self.config.retry.max_retry_after;
        let within = |d: Duration| (!d.is_zero() && d <= max).then_some(d);
        if let Some(ms) = self.header("retry-after-ms") {
            return ms
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && *ms > 0.0)
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                .and_then(within);
        }
        let value = self.header("retry-after")?.trim();
        if let Ok(secs) = value.parse::<f64>() {
            return (secs.is_finite() && secs > 0.0)
                .then(|| Duration::try_from_secs_f64(secs).ok())
                .flatten()
                .and_then(within);
        }
        let at = http_date(value)?;
        let reference = http_date(self.header("date")?)?;
        at.checked_sub(reference)
            .map(Duration::from_secs)
            .and_then(within)
    }
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut time = parts.next()?.split(':');
    let hour: u64 = time.next()?.parse().ok()?;
    let minute: u64 = time.next()?.parse().ok()?;
    let second: u64 = time.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1970..=9999).contains(&year) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::http_date;

    #[test]
    fn http_dates() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            http_date("Wed, 29 Feb 2024 12:00:01 GMT"),
            Some(1_709_208_001)
        );
        assert_eq!(http_date("garbage"), None);
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
    }
}
