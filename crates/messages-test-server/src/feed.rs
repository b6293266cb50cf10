//! A resumable event feed, as an `EventSource` client meets one: numbered events with ids, the
//! connection dropped every few events, `Last-Event-ID` honoured, an optional `retry:`, and a
//! 204 once every event was delivered.

use bytes::Bytes;

/// The shape of a feed reply ([`Reply::feed`](crate::Reply::feed)).
///
/// Event `n` (from 1) is `id: n`, `event: tick`, `data: {"n": n}`. A request resumes after
/// its `last-event-id` (from the first event without one, or with one that is not a number);
/// each response carries at most [`drop_every`](Self::drop_every) events and then ends, and a
/// request that resumes after the last event gets `204 No Content`.
///
/// ```
/// use messages_test_server::{Feed, Reply, Server};
///
/// let server = Server::builder()
///     .default_reply(Reply::feed(Feed::new(30).drop_every(10).retry_ms(250)))
///     .start();
/// # let _ = server;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Feed {
    pub(crate) total: u64,
    pub(crate) drop_every: u64,
    pub(crate) retry_ms: Option<u64>,
    pub(crate) cut_mid_event: bool,
}

impl Feed {
    /// A feed of `total` events, all in one response.
    pub fn new(total: u64) -> Self {
        Self {
            total,
            drop_every: u64::MAX,
            retry_ms: None,
            cut_mid_event: false,
        }
    }

    /// Ends each response after this many events (at least 1).
    pub fn drop_every(mut self, events: u64) -> Self {
        self.drop_every = events.max(1);
        self
    }

    /// Starts each response with `retry: ms` (the client's reconnection time).
    pub fn retry_ms(mut self, ms: u64) -> Self {
        self.retry_ms = Some(ms);
        self
    }

    /// Ends each response that [drops](Self::drop_every) before the feed is over inside the
    /// next event instead of between events: after its `id` line and part of its data, as a
    /// connection lost mid-event. A client must ask for that event again: its `id` does not
    /// count, since no blank line ended it.
    pub fn cut_mid_event(mut self) -> Self {
        self.cut_mid_event = true;
        self
    }

    /// The first event a request with this `last-event-id` gets; past `total`, the feed is
    /// over (204).
    pub(crate) fn first(&self, last_event_id: Option<&str>) -> u64 {
        last_event_id
            .and_then(|id| id.trim().parse::<u64>().ok())
            .map_or(1, |id| id.saturating_add(1))
    }

    /// The body of one response, starting at event `first`.
    pub(crate) fn body(&self, first: u64) -> Bytes {
        let mut body = String::new();
        if let Some(ms) = self.retry_ms {
            body.push_str(&format!("retry: {ms}\n\n"));
        }
        let last = first.saturating_add(self.drop_every - 1).min(self.total);
        for n in first..=last {
            body.push_str(&format!("id: {n}\nevent: tick\ndata: {{\"n\": {n}}}\n\n"));
        }
        if self.cut_mid_event && last < self.total {
            let next = last + 1;
            body.push_str(&format!("id: {next}\nevent: tick\ndata: {{\"n\""));
        }
        Bytes::from(body)
    }
}

#[cfg(test)]
mod tests {
    use super::Feed;

    #[test]
    fn responses_resume_after_the_last_event_id() {
        let feed = Feed::new(5).drop_every(2).retry_ms(10);
        assert_eq!(feed.first(None), 1);
        assert_eq!(feed.first(Some("2")), 3);
        assert_eq!(feed.first(Some("x")), 1);
        let body = String::from_utf8(feed.body(5).to_vec()).unwrap();
        assert_eq!(
            body,
            "retry: 10\n\nid: 5\nevent: tick\ndata: {\"n\": 5}\n\n"
        );
        assert_eq!(
            String::from_utf8(feed.body(1).to_vec())
                .unwrap()
                .matches("id: ")
                .count(),
            2
        );
        // Cut inside the next event, except at the end of the feed.
        let cut = feed.clone().cut_mid_event();
        let body = String::from_utf8(cut.body(1).to_vec()).unwrap();
        assert!(
            body.ends_with("data: {\"n\": 2}\n\nid: 3\nevent: tick\ndata: {\"n\""),
            "{body}"
        );
        assert_eq!(cut.body(5), feed.body(5));
    }
}
