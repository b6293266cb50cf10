//! Events as JSON lines (NDJSON): relay a stream to a browser or another process, and read it
//! back into the same events.
//!
//! Each line is the event's data as the API sends it ([`StreamEvent::to_json`], with its
//! `"type"`), so a JavaScript client can `JSON.parse` each line as it would an SSE `data`
//! field; [`Reader`] (or [`parse_line`]) turns the lines back into [`StreamEvent`]s that fold
//! into the same [`Message`](crate::Message).
//!
//! ```
//! use anthropic_stream::ndjson;
//! use anthropic_stream::{Accumulator, StreamEvent};
//!
//! let events = [
//!     StreamEvent::parse("message_start", r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"x","usage":{"input_tokens":1,"output_tokens":1}}}"#)?,
//!     StreamEvent::parse("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)?,
//!     StreamEvent::parse("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#)?,
//!     StreamEvent::parse("content_block_stop", r#"{"type":"content_block_stop","index":0}"#)?,
//!     StreamEvent::parse("message_stop", r#"{"type":"message_stop"}"#)?,
//! ];
//! let mut wire = Vec::new();
//! for event in &events {
//!     ndjson::write(&mut wire, event).unwrap();
//! }
//! // ... the bytes cross a pipe, a socket, a browser ...
//! let mut accumulator = Accumulator::new();
//! for event in ndjson::Reader::new(&wire[..]) {
//!     accumulator.apply(&event.unwrap()).unwrap();
//! }
//! assert_eq!(accumulator.finish().unwrap().text(), "Hi");
//! # Ok::<(), anthropic_stream::EventError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, Write};

use stream_core::messages::{EventError, StreamEvent};

/// The event as one JSON line, with its LF.
#[must_use]
pub fn to_line(event: &StreamEvent) -> String {
    let mut line = event.to_json().to_string();
    line.push('\n');
    line
}

/// Writes the event as one JSON line.
///
/// # Errors
///
/// The writer's.
pub fn write(out: &mut impl Write, event: &StreamEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &event.to_json())?;
    out.write_all(b"\n")
}

/// Parses one line (without or with its line ending) into the event.
///
/// # Errors
///
/// [`EventError`] when the line is not a JSON event.
pub fn parse_line(line: &str) -> Result<StreamEvent, EventError> {
    // With no SSE event name, the event's `"type"` names it.
    StreamEvent::parse("message", line.trim_end_matches(['\r', '\n']))
}

/// Why a line could not be read back.
#[derive(Debug)]
#[non_exhaustive]
pub enum NdjsonError {
    /// Reading failed.
    Io(io::Error),
    /// A line is longer than the reader's limit; the reader skips to the next line.
    LineTooLong {
        /// The line number (from 1).
        line: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A line is not UTF-8.
    NotUtf8 {
        /// The line number (from 1).
        line: usize,
    },
    /// A line is not a JSON event.
    Event {
        /// The line number (from 1).
        line: usize,
        /// Why.
        source: EventError,
    },
}

impl fmt::Display for NdjsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(err) => write!(f, "reading NDJSON failed: {err}"),
            Self::LineTooLong { line, limit } => {
                write!(f, "line {line} is longer than {limit} bytes")
            }
            Self::NotUtf8 { line } => write!(f, "line {line} is not UTF-8"),
            Self::Event { line, source } => write!(f, "line {line}: {source}"),
        }
    }
}

impl std::error::Error for NdjsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            Self::Event { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Reads JSON lines back into events: an `Iterator` over any [`BufRead`]. Blank lines are
/// skipped; a bad line is an error for that line only, and reading goes on with the next.
/// Lines are bounded (16 MiB by default), so a peer cannot grow the buffer without limit.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    line: usize,
    limit: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader of `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            line: 0,
            limit: 16 << 20,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Sets the longest line accepted, in bytes.
    #[must_use]
    pub fn max_line_len(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Reads the next line into `buf`; `Ok(false)` at the end. A line over the limit is
    /// consumed whole but not kept.
    fn read_line(&mut self) -> Result<bool, NdjsonError> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(NdjsonError::Io(err)),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (take, end) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at, true),
                None => (available.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > self.limit {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&available[..take]);
                }
            }
            self.inner.consume(take + usize::from(end));
            if end {
                break;
            }
        }
        if !any {
            return Ok(false);
        }
        self.line += 1;
        if too_long {
            return Err(NdjsonError::LineTooLong {
                line: self.line,
                limit: self.limit,
            });
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<StreamEvent, NdjsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            match self.read_line() {
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Ok(true) => {}
                Err(err @ NdjsonError::Io(_)) => {
                    self.done = true;
                    return Some(Err(err));
                }
                Err(err) => return Some(Err(err)),
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some(Err(NdjsonError::NotUtf8 { line: self.line }));
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(parse_line(text).map_err(|source| NdjsonError::Event {
                line: self.line,
                source,
            }));
        }
    }
}
