//! The producer of a streamed reply: events from the source, pacing and pings, event-level
//! faults, chunking, byte-level faults; into a channel of capacity one.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::generate::{GeneratedEvents, ping, splitmix64};
use crate::record::{Abort, ConnControl};
use crate::reply::{Chunking, Fault, Reply, Source};

/// Why production stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The client went away (the body was dropped).
    Gone,
    /// End the body cleanly now.
    Clean,
    Stall,
    Reset,
    Cut,
}

/// The events of a source, each a complete SSE event where the source has one.
#[derive(Debug)]
pub(crate) enum Events {
    Recorded { bytes: Bytes, at: usize },
    Generated(Box<GeneratedEvents>),
}

pub(crate) fn events(
    source: &Source,
    model: &str,
    request: &[u8],
    last_event_id: Option<&str>,
) -> Events {
    match source {
        Source::Feed(feed) => Events::Recorded {
            bytes: feed.body(feed.first(last_event_id)),
            at: 0,
        },
        Source::Answer => Events::Recorded {
            bytes: crate::answer::stream(&serde_json::from_slice(request).unwrap_or_default()),
            at: 0,
        },
        Source::Recorded(bytes) => Events::Recorded {
            bytes: bytes.clone(),
            at: 0,
        },
        Source::Generated(generate) => Events::Generated(Box::new(generate.events(model))),
    }
}

impl Iterator for Events {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self {
            Self::Generated(events) => events.next(),
            Self::Recorded { bytes, at } => {
                let len = split_event(&bytes[*at..])?;
                let event = bytes.slice(*at..*at + len);
                *at += len;
                Some(event)
            }
        }
    }
}

/// The length of the first event in `s`: up to and including the blank line that ends it
/// (lines end in CRLF, LF or CR), or all of `s` when no blank line comes.
fn split_event(s: &[u8]) -> Option<usize> {
    if s.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut line_start = 0;
    while i < s.len() {
        let b = s[i];
        i += 1;
        if b == b'\n' || b == b'\r' {
            if b == b'\r' && s.get(i) == Some(&b'\n') {
                i += 1;
            }
            if line_start + 1 == i || (line_start + 2 == i && b == b'\r' && s[line_start] == b'\r')
            {
                return Some(i);
            }
            line_start = i;
        }
    }
    Some(s.len())
}

fn is_message_stop(event: &[u8]) -> bool {
    let text = String::from_utf8_lossy(event);
    text.lines().any(|line| {
        let line = line.trim_end_matches('\r');
        line.strip_prefix("event:")
            .is_some_and(|name| name.trim_start() == "message_stop")
            || (line.starts_with("data:")
                && (line.contains("\"type\":\"message_stop\"")
                    || line.contains("\"type\": \"message_stop\"")))
    })
}

fn error_event() -> Bytes {
    Bytes::from_static(
        b"event: error\ndata: {\"type\": \"error\", \"error\": {\"details\": null, \"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n",
    )
}

/// The `error` event the API sends for a failure of this Bedrock exception's kind.
fn exception_event(kind: &str, message: &str) -> Bytes {
    let error_type = match kind.to_ascii_lowercase().trim_end_matches("exception") {
        "throttling" => "rate_limit_error",
        "serviceunavailable" => "overloaded_error",
        "validation" => "invalid_request_error",
        _ => "api_error",
    };
    let data =
        serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}});
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

fn invalid_utf8_event(index: u64) -> Bytes {
    let mut event = format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":\"bad "
    )
    .into_bytes();
    event.extend_from_slice(b"\xFF \xC3\x28 \x80 end\"}}\n\n");
    Bytes::from(event)
}

/// Sends body bytes in the chunks the reply asks for, stopping at a byte-level fault.
#[derive(Debug)]
struct Emitter {
    tx: mpsc::Sender<Bytes>,
    sent: u64,
    pending: BytesMut,
    chunking: Chunking,
    rng: u64,
    want: Option<usize>,
    offset: usize,
    chunk_delay: Duration,
    first: bool,
    byte_fault: Option<(u64, Stop)>,
}

impl Emitter {
    /// The length of the next chunk, or `None` for "whatever is pending, now".
    fn next_len(&mut self) -> Option<usize> {
        match &self.chunking {
            Chunking::Events => None,
            Chunking::Fixed(n) => Some((*n).max(1)),
            Chunking::Random { seed, max } => {
                if self.want.is_none() {
                    self.rng = splitmix64(self.rng ^ *seed);
                    let max = (*max).max(1) as u64;
                    self.want = usize::try_from(1 + self.rng % max).ok();
                }
                self.want
            }
            Chunking::Offsets(offsets) => {
                while offsets.get(self.offset).is_some_and(|&o| o <= self.sent) {
                    self.offset += 1;
                }
                offsets
                    .get(self.offset)
                    .and_then(|&o| usize::try_from(o - self.sent).ok())
            }
        }
    }

    async fn emit(&mut self, bytes: Bytes) -> Result<(), Stop> {
        if self.pending.is_empty() && self.next_len().is_none() {
            return self.send(bytes).await;
        }
        self.pending.extend_from_slice(&bytes);
        loop {
            match self.next_len() {
                Some(n) if self.pending.len() >= n => {
                    let chunk = self.pending.split_to(n).freeze();
                    self.want = None;
                    self.send(chunk).await?;
                }
                Some(_) => return Ok(()),
                None => return self.flush().await,
            }
        }
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = self.pending.split().freeze();
        self.want = None;
        self.send(chunk).await
    }

    async fn send(&mut self, mut chunk: Bytes) -> Result<(), Stop> {
        let mut stop = None;
        if let Some((at, fault)) = self.byte_fault {
            let room = at.saturating_sub(self.sent);
            if chunk.len() as u64 >= room {
                chunk.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                stop = Some(fault);
            }
        }
        if !chunk.is_empty() {
            if !self.first && !self.chunk_delay.is_zero() {
                tokio::time::sleep(self.chunk_delay).await;
            }
            self.first = false;
            let len = chunk.len() as u64;
            self.tx.send(chunk).await.map_err(|_| Stop::Gone)?;
            self.sent += len;
        }
        stop.map_or(Ok(()), Err)
    }
}

/// Produces a streamed reply into `tx`, then ends it as the reply's faults say.
pub(crate) async fn produce(
    events: Events,
    reply: Reply,
    tx: mpsc::Sender<Bytes>,
    control: Arc<ConnControl>,
    bedrock: bool,
) {
    let byte_fault = reply
        .faults
        .iter()
        .filter_map(|fault| match fault {
            Fault::ResetAfterBytes(n) => Some((*n, Stop::Reset)),
            Fault::CutAfterBytes(n) => Some((*n, Stop::Cut)),
            Fault::StallAfterBytes(n) => Some((*n, Stop::Stall)),
            _ => None,
        })
        .min_by_key(|(n, _)| *n);
    let mut emitter = Emitter {
        tx,
        sent: 0,
        pending: BytesMut::new(),
        chunking: reply.chunking.clone(),
        rng: 0,
        want: None,
        offset: 0,
        chunk_delay: reply.chunk_delay,
        first: true,
        byte_fault,
    };
    let mut outcome = run(events, &reply, &mut emitter, bedrock)
        .await
        .err()
        .unwrap_or(Stop::Clean);
    if outcome == Stop::Clean {
        outcome = emitter.flush().await.err().unwrap_or(Stop::Clean);
    }
    let tx = emitter.tx;
    match outcome {
        // Dropping `tx` ends the body cleanly (or the client is gone anyway).
        Stop::Clean | Stop::Gone => {}
        Stop::Stall => tx.closed().await,
        Stop::Reset | Stop::Cut => {
            // Let the connection take and write everything sent so far, then take it down.
            while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            control.abort(if outcome == Stop::Reset {
                Abort::Reset
            } else {
                Abort::Cut
            });
            // Keep `tx` until the body is dropped, so the body never ends cleanly.
            tx.closed().await;
        }
    }
}

/// Emits the events as the faults say; `bedrock` frames each in the AWS event stream encoding
/// (an `error` event becomes an exception frame).
async fn run(
    mut events: Events,
    reply: &Reply,
    emitter: &mut Emitter,
    bedrock: bool,
) -> Result<(), Stop> {
    let end_before_stop = reply.faults.contains(&Fault::EndBeforeMessageStop);
    let mut n: u64 = 0;
    loop {
        for fault in &reply.faults {
            match fault {
                Fault::ErrorEventAt(at) if *at == n && bedrock => {
                    let message = "Bedrock is unable to process your request.";
                    emitter
                        .emit(crate::provider::exception(
                            "serviceUnavailableException",
                            message,
                        ))
                        .await?;
                    return Err(Stop::Clean);
                }
                Fault::ExceptionAt(at, kind) if *at == n => {
                    let message = format!("scripted {kind}");
                    let bytes = if bedrock {
                        crate::provider::exception(kind, &message)
                    } else {
                        exception_event(kind, &message)
                    };
                    emitter.emit(bytes).await?;
                    return Err(Stop::Clean);
                }
                Fault::ErrorEventAt(at) if *at == n => {
                    emitter.emit(error_event()).await?;
                    return Err(Stop::Clean);
                }
                Fault::InjectAt(at, bytes) if *at == n => emitter.emit(bytes.clone()).await?,
                Fault::InvalidUtf8At(at, index) if *at == n => {
                    emitter.emit(invalid_utf8_event(*index)).await?;
                }
                Fault::HugeLineAt(at, len) if *at == n => {
                    huge_line(emitter, *len).await?;
                    return Err(Stop::Clean);
                }
                Fault::EndAfterEvents(at) if *at == n => return Err(Stop::Clean),
                Fault::ResetAfterEvents(at) if *at == n => {
                    emitter.flush().await?;
                    return Err(Stop::Reset);
                }
                Fault::CutAfterEvents(at) if *at == n => {
                    emitter.flush().await?;
                    return Err(Stop::Cut);
                }
                Fault::StallAfterEvents(at) if *at == n => {
                    emitter.flush().await?;
                    return Err(Stop::Stall);
                }
                _ => {}
            }
        }
        let Some(event) = events.next() else {
            return Ok(());
        };
        if end_before_stop && is_message_stop(&event) {
            return Err(Stop::Clean);
        }
        if n > 0 && !reply.event_delay.is_zero() {
            emitter.flush().await?;
            wait_with_pings(emitter, reply.event_delay, reply.ping_interval).await?;
        }
        let event = if bedrock {
            crate::provider::frame(&event)
        } else {
            event
        };
        emitter.emit(event).await?;
        n += 1;
    }
}

/// Waits `delay`, sending a ping each `interval` of it.
async fn wait_with_pings(
    emitter: &mut Emitter,
    delay: Duration,
    interval: Option<Duration>,
) -> Result<(), Stop> {
    let mut left = delay;
    if let Some(interval) = interval {
        while left > interval {
            tokio::time::sleep(interval).await;
            emitter.emit(ping()).await?;
            emitter.flush().await?;
            left -= interval;
        }
    }
    tokio::time::sleep(left).await;
    Ok(())
}

/// One `data:` line of `len` bytes in all, with no line ending, produced 64 KiB at a time.
async fn huge_line(emitter: &mut Emitter, len: u64) -> Result<(), Stop> {
    const PIECE: usize = 64 << 10;
    let prefix = Bytes::from_static(b"data: ");
    let mut left = len;
    let head = prefix.slice(..usize::try_from(left.min(6)).unwrap_or(6));
    left -= head.len() as u64;
    emitter.emit(head).await?;
    let piece = Bytes::from(vec![b'x'; PIECE]);
    while left > 0 {
        let take = usize::try_from(left.min(PIECE as u64)).unwrap_or(PIECE);
        emitter.emit(piece.slice(..take)).await?;
        left -= take as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_blank_lines_of_any_ending() {
        let all =
            Bytes::from_static(b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\ndata: 3\r\rtail");
        let events = Events::Recorded { bytes: all, at: 0 };
        let parts: Vec<Bytes> = events.collect();
        assert_eq!(
            parts,
            [
                &b"event: a\ndata: 1\n\n"[..],
                b"event: b\r\ndata: 2\r\n\r\n",
                b"data: 3\r\r",
                b"tail"
            ]
        );
    }

    #[test]
    fn message_stop_is_recognised_by_name_or_type() {
        assert!(is_message_stop(b"event: message_stop\ndata: {}\n\n"));
        assert!(is_message_stop(b"data: {\"type\": \"message_stop\"}\n\n"));
        assert!(!is_message_stop(
            b"event: content_block_delta\ndata: {\"text\":\"message_stop\"}\n\n"
        ));
    }
}
