//! An incremental, WHATWG-exact Server-Sent Events decoder.
//!
//! [`Decoder`] implements "interpreting an event stream" from the HTML Living Standard
//! (section 9.2): one leading BOM is stripped; CR, LF and CRLF end lines (a CR at the end of one
//! chunk and an LF at the start of the next are one line end); `event`, `data`, `id` and `retry`
//! fields; comments; unknown fields ignored; one space after the colon removed; a blank line
//! dispatches when the data buffer is non-empty; the last event ID persists; an incomplete event
//! at the end of the stream is discarded.
//!
//! # Driving it
//!
//! 1. [`feed`](Decoder::feed) each chunk as it arrives (a [`Bytes`] is kept, not copied);
//! 2. call [`next_event`](Decoder::next_event) (owned events) or
//!    [`next_event_ref`](Decoder::next_event_ref) (borrowed, cheaper) until it returns
//!    `Ok(None)`, which means "feed me more": partial input is a state, never an error;
//! 3. at the end of the stream call [`finish`](Decoder::finish) and drain `next_event` once more.
//!
//! ```
//! use stream_core::sse::Decoder;
//!
//! let mut decoder = Decoder::new();
//! let mut events = Vec::new();
//! for chunk in ["data: hel", "lo\r", "\n\r\nid: 7\ndata: a\ndata: b\n\n"] {
//!     decoder.feed(chunk);
//!     while let Some(event) = decoder.next_event()? {
//!         events.push((event.data().to_owned(), event.id().to_owned()));
//!     }
//! }
//! decoder.finish();
//! assert!(decoder.next_event()?.is_none());
//! assert_eq!(events, [("hello".into(), "".into()), ("a\nb".into(), "7".into())]);
//! # Ok::<(), stream_core::sse::SseError>(())
//! ```
//!
//! # Guarantees
//!
//! * **Chunking does not matter.** Any split of the same bytes gives the same events and errors.
//! * **Linear time.** Each input byte is validated and searched for a line end a small, bounded
//!   number of times (the quick path may search a line the line loop then searches again); an
//!   `event` line with a known name is compared rather than searched, and nothing before the
//!   read position is rescanned when more input arrives.
//! * **Bounded memory.** A line longer than [`DecoderConfig::max_line_len`] or an event larger
//!   than [`DecoderConfig::max_event_size`] is a typed error ([`SseError`]); the decoder then
//!   drops that event, discards input up to the next blank line without buffering it, and goes
//!   on ([`SseError::can_resync`]).
//! * **Zero-copy where possible.** The complete lines of each chunk are validated as UTF-8 once
//!   (with SIMD) and copied into one reused string, 64 KiB at a time.
//!   [`next_event_ref`](Decoder::next_event_ref) hands out [`EventRef`]s whose strings are
//!   `&str` slices of it: no allocation, no reference count. [`next_event`](Decoder::next_event)
//!   hands out owned [`Event`]s whose type, data and ID are reference-counted slices of the input
//!   chunk itself. Either way, an event with one `data` line that sits in one chunk costs no
//!   allocation; the decoder's own buffers (for events that span chunks or have several `data`
//!   lines) are reused from event to event.
//! * **UTF-8.** Lossy by default (each maximal invalid subpart becomes U+FFFD, as in
//!   [`String::from_utf8_lossy`]); [`Utf8Mode::Strict`] makes invalid input an error instead.
//!
//! The decoder keeps whatever has been [fed](Decoder::feed) until it is drained: feed one chunk,
//! drain it, then feed the next, and memory stays at one chunk plus the limits, plus a copy of
//! at most 64 KiB of the chunk being read (a long chunk is validated and copied a window at a
//! time).

use alloc::collections::VecDeque;
use alloc::string::String;
use core::fmt;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

/// The default for [`DecoderConfig::max_line_len`]: 16 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 16 * 1024 * 1024;
/// The default for [`DecoderConfig::max_event_size`]: 16 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// The UTF-8 byte order mark, stripped once at the very start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// A partial-line buffer that grew past this is released after use rather than kept.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;
/// The most of a chunk validated and copied at a time: the copy is bounded whatever the
/// chunk size, and a long chunk is read a window at a time.
const TEXT_WINDOW: usize = 64 * 1024;

/// How the decoder treats bytes that are not valid UTF-8.
///
/// ```
/// use stream_core::sse::{Decoder, DecoderConfig, SseError, Utf8Mode};
///
/// let mut lossy = Decoder::new();
/// lossy.feed(&b"data: caf\xC3\n\n"[..]);
/// assert_eq!(lossy.next_event()?.unwrap().data(), "caf\u{FFFD}");
///
/// let mut strict = Decoder::with_config(DecoderConfig::new().utf8(Utf8Mode::Strict));
/// strict.feed(&b"data: caf\xC3\n\n"[..]);
/// assert!(matches!(strict.next_event(), Err(SseError::InvalidUtf8 { .. })));
/// # Ok::<(), SseError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Utf8Mode {
    /// Replace each maximal invalid subpart with U+FFFD and go on, as the WHATWG "UTF-8 decode"
    /// and browsers do. The default.
    #[default]
    Lossy,
    /// Report invalid UTF-8 anywhere in a line as [`SseError::InvalidUtf8`].
    Strict,
}

/// Limits and options of a [`Decoder`].
///
/// ```
/// use stream_core::sse::{Decoder, DecoderConfig, Utf8Mode};
///
/// let config = DecoderConfig::new()
///     .max_line_len(1 << 20)
///     .max_event_size(4 << 20)
///     .utf8(Utf8Mode::Strict);
/// let decoder = Decoder::with_config(config);
/// assert_eq!(decoder.config().max_line_len_limit(), 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecoderConfig {
    max_line_len: usize,
    max_event_size: usize,
    utf8: Utf8Mode,
    dispatch_incomplete_at_end: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl DecoderConfig {
    /// The defaults: 16 MiB lines, 16 MiB events, lossy UTF-8, spec behaviour at end of stream.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            utf8: Utf8Mode::Lossy,
            dispatch_incomplete_at_end: false,
        }
    }

    /// The longest line accepted, in bytes, without its line end. A longer line is
    /// [`SseError::LineTooLong`] as soon as the limit is crossed (the decoder does not wait for
    /// the line to end, and does not buffer the rest of it).
    #[must_use]
    pub const fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// The largest event accepted, in bytes: the type plus the data buffer (each `data` line's
    /// value plus one LF). A larger event is [`SseError::EventTooLarge`].
    #[must_use]
    pub const fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// How invalid UTF-8 is treated (default [`Utf8Mode::Lossy`]).
    #[must_use]
    pub const fn utf8(mut self, mode: Utf8Mode) -> Self {
        self.utf8 = mode;
        self
    }

    /// Opt in to dispatching the last event at the end of the stream even though no blank line
    /// ended it (and to counting an unterminated last line). The standard discards it, which is
    /// the default; some servers forget the final blank line.
    #[must_use]
    pub const fn dispatch_incomplete_at_end(mut self, yes: bool) -> Self {
        self.dispatch_incomplete_at_end = yes;
        self
    }

    /// The line length limit in bytes.
    #[must_use]
    pub const fn max_line_len_limit(&self) -> usize {
        self.max_line_len
    }

    /// The event size limit in bytes.
    #[must_use]
    pub const fn max_event_size_limit(&self) -> usize {
        self.max_event_size
    }

    /// The UTF-8 mode.
    #[must_use]
    pub const fn utf8_mode(&self) -> Utf8Mode {
        self.utf8
    }

    /// Whether an incomplete last event is dispatched at the end of the stream.
    #[must_use]
    pub const fn dispatches_incomplete_at_end(&self) -> bool {
        self.dispatch_incomplete_at_end
    }
}

/// A dispatched event.
///
/// Cloning is cheap (reference counts, no copy). The strings are slices of the input chunk when
/// the event's lines sat in one chunk.
///
/// ```
/// use stream_core::sse::Event;
///
/// let event = Event::new("content_block_stop", r#"{"type":"content_block_stop","index":0}"#);
/// assert_eq!(event.event_type(), "content_block_stop");
/// assert_eq!(event.id(), "");
/// assert_eq!(event.retry(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Event {
    event_type: ByteString,
    data: ByteString,
    id: ByteString,
    retry: Option<u64>,
}

impl Event {
    /// An event with this type and data, no ID and no retry (for tests and for building streams).
    /// An empty type means `message`, as on the wire.
    #[must_use]
    pub fn new(event_type: &str, data: &str) -> Self {
        Self {
            event_type: ByteString::from(event_type),
            data: ByteString::from(data),
            id: ByteString::new(),
            retry: None,
        }
    }

    /// The event type: the last `event` field of the block, or `"message"` when there was none
    /// (or it was empty).
    #[must_use]
    pub fn event_type(&self) -> &str {
        if self.event_type.is_empty() {
            "message"
        } else {
            &self.event_type
        }
    }

    /// Whether the block set a non-empty type with an `event` field.
    #[must_use]
    pub fn has_explicit_type(&self) -> bool {
        !self.event_type.is_empty()
    }

    /// The data: the values of the block's `data` lines joined with LF.
    #[must_use]
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The data as shared bytes (a cheap clone; a slice of the input chunk when possible).
    #[must_use]
    pub fn data_bytes(&self) -> Bytes {
        self.data.as_bytes().clone()
    }

    /// The last event ID at dispatch (`""` until an `id` field sets one). Like a browser's
    /// `lastEventId`, it persists across events until another `id` field changes it.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The reconnection time in milliseconds, when a valid `retry` field appeared in this
    /// event's block (the last valid one wins). Values beyond `u64::MAX` saturate.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The event as one JSON object: `event`, `data`, `id`, and `retry` when the block set
    /// one. Printed one per line, this is the decoder's conformance output.
    ///
    /// ```
    /// use stream_core::sse::Event;
    ///
    /// let event = Event::new("", "a\nb").with_id("7");
    /// assert_eq!(
    ///     event.to_json().to_string(),
    ///     r#"{"data":"a\nb","event":"message","id":"7"}"#
    /// );
    /// ```
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        self.as_event_ref().to_json()
    }

    /// The event as an [`EventRef`] borrowing its strings.
    ///
    /// ```
    /// use stream_core::sse::Event;
    ///
    /// let event = Event::new("ping", "{}");
    /// assert_eq!(event.as_event_ref().event_type(), "ping");
    /// ```
    #[must_use]
    pub fn as_event_ref(&self) -> EventRef<'_> {
        EventRef {
            event_type: &self.event_type,
            data: &self.data,
            id: &self.id,
            retry: self.retry,
        }
    }

    /// Sets the ID (builder style, for tests and for building streams).
    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = ByteString::from(id);
        self
    }

    /// Sets the reconnection time (builder style, for tests and for building streams).
    #[must_use]
    pub fn with_retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_event_ref().fmt_fields(f.debug_struct("Event"))
    }
}

/// A dispatched event borrowed from the [`Decoder`], as
/// [`next_event_ref`](Decoder::next_event_ref) returns it: the same accessors as [`Event`], with
/// strings that point into the decoder, valid until the next call on it.
///
/// ```
/// use stream_core::sse::Decoder;
///
/// let mut decoder = Decoder::new();
/// decoder.feed("id: 7\nretry: 100\ndata: hi\n\n");
/// let event = decoder.next_event_ref()?.expect("one event");
/// assert_eq!((event.event_type(), event.data(), event.id()), ("message", "hi", "7"));
/// assert_eq!(event.retry(), Some(100));
/// let kept = event.to_event();
/// assert_eq!(kept.data(), "hi");
/// # Ok::<(), stream_core::sse::SseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRef<'a> {
    event_type: &'a str,
    data: &'a str,
    id: &'a str,
    retry: Option<u64>,
}

impl<'a> EventRef<'a> {
    /// The event type: the last `event` field of the block, or `"message"` when there was none
    /// (or it was empty).
    #[must_use]
    pub fn event_type(&self) -> &'a str {
        if self.event_type.is_empty() {
            "message"
        } else {
            self.event_type
        }
    }

    /// Whether the block set a non-empty type with an `event` field.
    #[must_use]
    pub fn has_explicit_type(&self) -> bool {
        !self.event_type.is_empty()
    }

    /// The data: the values of the block's `data` lines joined with LF.
    #[must_use]
    pub fn data(&self) -> &'a str {
        self.data
    }

    /// The last event ID at dispatch (`""` until an `id` field sets one).
    #[must_use]
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The reconnection time in milliseconds, when a valid `retry` field appeared in this
    /// event's block.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// An owned copy of the event.
    #[must_use]
    pub fn to_event(&self) -> Event {
        Event {
            event_type: ByteString::from(self.event_type),
            data: ByteString::from(self.data),
            id: ByteString::from(self.id),
            retry: self.retry,
        }
    }

    /// The event as one JSON object, as [`Event::to_json`].
    ///
    /// ```
    /// use stream_core::sse::Event;
    ///
    /// let event = Event::new("ping", "{}");
    /// assert_eq!(event.as_event_ref().to_json(), event.to_json());
    /// ```
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("event".into(), self.event_type().into());
        object.insert("data".into(), self.data.into());
        object.insert("id".into(), self.id.into());
        if let Some(retry) = self.retry {
            object.insert("retry".into(), retry.into());
        }
        serde_json::Value::Object(object)
    }

    fn fmt_fields(&self, mut s: fmt::DebugStruct<'_, '_>) -> fmt::Result {
        s.field("event", &self.event_type())
            .field("data", &self.data);
        if !self.id.is_empty() {
            s.field("id", &self.id);
        }
        if let Some(retry) = self.retry {
            s.field("retry", &retry);
        }
        s.finish()
    }
}

impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_fields(f.debug_struct("EventRef"))
    }
}

/// Why the decoder refused part of the stream. The peer is to blame for every variant.
///
/// After any of these the decoder drops the event being built, skips the input up to the next
/// blank line without buffering it, and continues: calling [`Decoder::next_event`] again goes on
/// with the next event ([`can_resync`](Self::can_resync)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SseError {
    /// A line was longer than [`DecoderConfig::max_line_len`].
    LineTooLong {
        /// The limit that was crossed, in bytes.
        limit: usize,
        /// Stream offset of the first byte of the line.
        offset: u64,
    },
    /// An event's data and type were larger than [`DecoderConfig::max_event_size`].
    EventTooLarge {
        /// The limit that was crossed, in bytes.
        limit: usize,
        /// Stream offset of the first byte of the line that crossed it.
        offset: u64,
    },
    /// A line was not valid UTF-8 ([`Utf8Mode::Strict`] only).
    InvalidUtf8 {
        /// Stream offset of the first byte of the line.
        offset: u64,
        /// Offset, within the line, of the first invalid byte.
        valid_up_to: usize,
    },
}

impl SseError {
    /// Whether decoding can go on after this error (it resumes at the next blank line). True for
    /// every error this decoder reports today; a caller that wants fail-fast simply stops.
    #[must_use]
    pub const fn can_resync(&self) -> bool {
        match self {
            Self::LineTooLong { .. } | Self::EventTooLarge { .. } | Self::InvalidUtf8 { .. } => {
                true
            }
        }
    }

    /// The stream offset of the first byte of the offending line.
    #[must_use]
    pub const fn offset(&self) -> u64 {
        match self {
            Self::LineTooLong { offset, .. }
            | Self::EventTooLarge { offset, .. }
            | Self::InvalidUtf8 { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineTooLong { limit, offset } => write!(
                f,
                "SSE line at byte {offset} is longer than the limit of {limit} bytes"
            ),
            Self::EventTooLarge { limit, offset } => write!(
                f,
                "SSE event grew past the limit of {limit} bytes at the line at byte {offset}"
            ),
            Self::InvalidUtf8 {
                offset,
                valid_up_to,
            } => write!(
                f,
                "SSE line at byte {offset} is not valid UTF-8 (first invalid byte at {})",
                offset + *valid_up_to as u64
            ),
        }
    }
}

impl core::error::Error for SseError {}

/// The incremental SSE decoder. See the [module docs](self) for the algorithm and guarantees.
///
/// Methods by role:
/// * inputs: [`feed`](Self::feed), [`feed_slice`](Self::feed_slice), [`finish`](Self::finish);
/// * output: [`next_event_ref`](Self::next_event_ref) (borrowed, no allocation) or
///   [`next_event`](Self::next_event) (owned) — call one of them until `Ok(None)` after every
///   input;
/// * getters: [`last_event_id`](Self::last_event_id),
///   [`reconnection_time`](Self::reconnection_time), [`is_mid_event`](Self::is_mid_event),
///   [`buffered_len`](Self::buffered_len), [`is_finished`](Self::is_finished),
///   [`config`](Self::config).
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    /// Chunks fed and not yet read; the front one is read from `pos`.
    input: VecDeque<Bytes>,
    pos: usize,
    /// Stream offset of `input[0][0]`.
    consumed: u64,
    /// The front chunk's complete lines, validated as UTF-8 once for all of them.
    front_text: Option<ValidText>,
    /// The buffer of the last chunk's text, for the next one.
    spare_text: String,
    lines: LineState,
    builder: EventBuilder,
    /// `finish` was called.
    ended: bool,
    /// The end of the stream was processed; nothing more will come out.
    done: bool,
}

/// The whole lines of a window of one chunk (at most [`TEXT_WINDOW`] bytes), validated as
/// UTF-8 in one pass (with SIMD) and copied once into a string, so that the values of every
/// line in it are `&str` slices of that copy (borrowed events) without validating each line
/// again. Owned events take reference-counted slices of the chunk itself.
#[derive(Debug)]
struct ValidText {
    text: String,
    /// Where `text` starts in the chunk.
    start: usize,
    /// The chunk goes on past what this window validated (it was cut at the window size, at
    /// invalid UTF-8 or inside a character): past `text`, a new window may start.
    more: bool,
}

impl ValidText {
    /// Validates up to [`TEXT_WINDOW`] bytes of `chunk[start..]` and copies their whole lines
    /// into `text` (a buffer reused from window to window). Stops early at invalid UTF-8 or at
    /// a character cut by the end of the window; the bytes after the last line end belong to a
    /// line the general path reads.
    fn new(chunk: &Bytes, start: usize, mut text: String, line_ends: &LineEnds) -> Self {
        let rest = &chunk[start..];
        let valid = valid_prefix(&rest[..rest.len().min(TEXT_WINDOW)]);
        let end = line_ends.rfind(valid.as_bytes()).map_or(0, |i| i + 1);
        text.clear();
        text.push_str(valid.get(..end).unwrap_or_default());
        Self {
            text,
            start,
            more: valid.len() < rest.len(),
        }
    }

    /// Where the line that ends at `end` (at an LF or a CR) is followed by the next one, if
    /// the run says (a CR at its end may be the first half of a CRLF split across chunks).
    #[inline(always)]
    fn line_end_at(&self, end: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        match (bytes.get(end), bytes.get(end + 1)) {
            (Some(b'\n'), _) => Some(end + 1),
            (Some(b'\r'), Some(b'\n')) => Some(end + 2),
            (Some(b'\r'), Some(_)) => Some(end + 1),
            _ => None,
        }
    }

    /// The range `span` of the run as a shared string that refers to `chunk`, the chunk the
    /// window is of.
    fn shared(&self, chunk: &Bytes, span: (usize, usize)) -> ByteString {
        let text = self.str(span);
        let from = self.start + span.0;
        ByteString::try_from(chunk.slice(from..from + text.len()))
            .unwrap_or_else(|_| ByteString::from(text))
    }

    /// The validated bytes of `chunk[from..to]`, if they lie inside this run.
    fn line(&self, from: usize, to: usize) -> Option<&[u8]> {
        let from = from.checked_sub(self.start)?;
        self.text.as_bytes().get(from..to - self.start)
    }

    /// Where `value`, a slice of this run's text, lies in it.
    fn span_of(&self, value: &[u8]) -> Option<(usize, usize)> {
        let start = value
            .as_ptr()
            .addr()
            .checked_sub(self.text.as_ptr().addr())?;
        let end = start + value.len();
        (end <= self.text.len()).then_some((start, end))
    }

    #[inline]
    fn str(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }
}

/// Where the bytes of a line are, which decides how its values are kept.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Inside the front chunk's validated run (the line is a slice of its text): values are
    /// kept as ranges of it. Comes with the chunk, which owned values slice.
    Valid(&'a ValidText, &'a Bytes),
    /// Anywhere else (a line copied from several chunks, or past invalid UTF-8): values are
    /// decoded into the builder's buffers. Carries the front chunk's run, if any, which earlier
    /// values of the event may still point into.
    Raw(Option<&'a ValidText>),
}

impl<'a> Source<'a> {
    fn front(self) -> Option<&'a ValidText> {
        match self {
            Self::Valid(valid, _) => Some(valid),
            Self::Raw(front) => front,
        }
    }
}

/// Where the line splitter stands between chunks.
#[derive(Debug)]
struct LineState {
    /// Bytes of a line that started in an earlier chunk.
    partial: BytesMut,
    /// Stream offset of the first byte of the current line.
    line_start: u64,
    /// The current line crossed the limit: drop its bytes until its line end.
    skipping_line: bool,
    /// The last line ended with CR at the end of a chunk: an LF first thing is part of it.
    after_cr: bool,
    /// How many bytes of a leading BOM have been seen; `None` once past the start.
    bom_seen: Option<u8>,
}

/// Finds the next LF or CR. Where the CPU has AVX2, memchr's searcher for it is set up once
/// and called directly: `memchr2` would check for the feature and set up its search on every
/// call, which costs as much as searching a line of 100 bytes.
#[derive(Clone, Copy, Debug)]
struct LineEnds {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::Two>,
}

impl LineEnds {
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::Two::new(b'\n', b'\r'),
        }
    }

    /// Where the first LF or CR in `haystack` is.
    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(searcher) = &self.avx2 {
            return searcher.find(haystack);
        }
        memchr::memchr2(b'\n', b'\r', haystack)
    }

    /// Where the last LF or CR in `haystack` is.
    #[inline(always)]
    fn rfind(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(searcher) = &self.avx2 {
            return searcher.rfind(haystack);
        }
        memchr::memrchr2(b'\n', b'\r', haystack)
    }
}

/// One text field of the event being built (its type, or its data).
#[derive(Debug, Default)]
struct Field {
    slot: Slot,
    /// The value when `slot` is [`Slot::Buf`]; kept between events for its capacity.
    buf: String,
}

/// Where a [`Field`]'s value is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Slot {
    /// No line set it.
    #[default]
    Empty,
    /// A range of the front chunk's validated run.
    Span(usize, usize),
    /// In the field's buffer.
    Buf,
    /// One of the Messages API's event names ([`KNOWN_EVENT_TYPES`]); for the type only.
    Known(&'static str),
}

impl Field {
    fn is_set(&self) -> bool {
        self.slot != Slot::Empty
    }

    #[inline]
    fn as_str<'a>(&'a self, front: Option<&'a ValidText>) -> &'a str {
        match self.slot {
            Slot::Empty => "",
            Slot::Span(start, end) => front.map_or("", |valid| valid.str((start, end))),
            Slot::Buf => &self.buf,
            Slot::Known(name) => name,
        }
    }

    /// Sets the value to `value`; returns its length once decoded (invalid UTF-8 outside the
    /// validated text becomes U+FFFD, three bytes per maximal invalid subpart).
    fn set(&mut self, value: &[u8], source: Source<'_>) -> usize {
        if let Source::Valid(valid, _) = source
            && let Some((start, end)) = valid.span_of(value)
        {
            self.slot = Slot::Span(start, end);
            end - start
        } else {
            self.buf.clear();
            push_lossy(&mut self.buf, value);
            self.slot = Slot::Buf;
            self.buf.len()
        }
    }

    /// Appends LF and `value` to a value that is set; returns the length added, decoded.
    fn append_line(&mut self, value: &[u8], source: Source<'_>) -> usize {
        self.materialize(source.front());
        let before = self.buf.len();
        self.buf.push('\n');
        match source {
            Source::Valid(valid, _) => match valid.span_of(value) {
                Some(span) => self.buf.push_str(valid.str(span)),
                None => push_lossy(&mut self.buf, value),
            },
            Source::Raw(_) => push_lossy(&mut self.buf, value),
        }
        self.buf.len() - before
    }

    /// Copies a value that points into the front chunk into the buffer, before that chunk
    /// goes.
    fn materialize(&mut self, front: Option<&ValidText>) {
        if let Slot::Span(start, end) = self.slot {
            self.buf.clear();
            if let Some(valid) = front {
                self.buf.push_str(valid.str((start, end)));
            }
            self.slot = Slot::Buf;
        }
    }

    /// The value as an owned string: a shared slice of the front chunk when it lies in one,
    /// else the buffer itself (moved, not copied).
    fn take_shared(&mut self, front: Option<(&ValidText, &Bytes)>) -> ByteString {
        match self.slot {
            Slot::Empty => ByteString::new(),
            Slot::Span(start, end) => match front {
                Some((valid, chunk)) => valid.shared(chunk, (start, end)),
                None => ByteString::new(),
            },
            Slot::Buf => ByteString::from(core::mem::take(&mut self.buf)),
            Slot::Known(name) => ByteString::from_static(name),
        }
    }

    #[inline]
    fn clear(&mut self) {
        self.slot = Slot::Empty;
        self.buf.clear();
        // A long value grew the buffer, possibly for an earlier line of the block: let it go.
        if self.buf.capacity() > KEEP_LINE_CAPACITY {
            self.buf = String::new();
        }
    }
}

/// The fields of the event being built, and what persists across events.
#[derive(Debug)]
struct EventBuilder {
    /// Finds line ends in the window.
    line_ends: LineEnds,
    data: Field,
    event_type: Field,
    /// Length of the current type, for the event size limit.
    type_len: usize,
    /// Bytes of data and type so far, for the event size limit.
    size: usize,
    /// The last valid `retry` of the current block.
    block_retry: Option<u64>,
    /// The event in `data` and `event_type` was dispatched and not yet handed out.
    dispatched: bool,
    /// The `retry` of the dispatched event.
    retry: Option<u64>,
    last_event_id: ByteString,
    reconnection_time: Option<u64>,
    /// An error dropped the current event: ignore lines up to the next blank one.
    skipping_event: bool,
    /// The last two known event names `event` lines set, as their lines
    /// ([`KNOWN_EVENT_LINES`]), the latest first: the quick path expects the next `event` line
    /// to be one of them, and checks that by comparison instead of searching for its end.
    known_lines: [Option<&'static str>; 2],
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default [`DecoderConfig`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(DecoderConfig::new())
    }

    /// A decoder with the given limits and options.
    #[must_use]
    pub fn with_config(config: DecoderConfig) -> Self {
        Self {
            config,
            input: VecDeque::new(),
            pos: 0,
            consumed: 0,
            front_text: None,
            spare_text: String::new(),
            lines: LineState {
                partial: BytesMut::new(),
                line_start: 0,
                skipping_line: false,
                after_cr: false,
                bom_seen: Some(0),
            },
            builder: EventBuilder {
                line_ends: LineEnds::new(),
                data: Field::default(),
                event_type: Field::default(),
                type_len: 0,
                size: 0,
                block_retry: None,
                dispatched: false,
                retry: None,
                last_event_id: ByteString::new(),
                reconnection_time: None,
                skipping_event: false,
                known_lines: [None; 2],
            },
            ended: false,
            done: false,
        }
    }

    /// The configuration this decoder was built with.
    #[must_use]
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Adds the next chunk of the stream. The chunk is kept (not copied) until it is read.
    ///
    /// Feeding after [`finish`](Self::finish) is a caller bug: the bytes are ignored (and a
    /// debug build panics).
    pub fn feed(&mut self, chunk: impl Into<Bytes>) {
        debug_assert!(!self.ended, "Decoder::feed called after Decoder::finish");
        if self.ended {
            return;
        }
        let chunk = chunk.into();
        if !chunk.is_empty() {
            self.input.push_back(chunk);
        }
    }

    /// Adds the next chunk of the stream by copying it.
    pub fn feed_slice(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() {
            self.feed(Bytes::copy_from_slice(chunk));
        }
    }

    /// Marks the end of the stream. Drain [`next_event`](Self::next_event) afterwards: it
    /// returns the events still in the input, then `Ok(None)` for good. An incomplete last event
    /// is discarded, as the standard says, unless
    /// [`DecoderConfig::dispatch_incomplete_at_end`] is on.
    pub fn finish(&mut self) {
        self.ended = true;
    }

    /// Whether [`finish`](Self::finish) was called and every event has been taken.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.done
    }

    /// A decoder for the next connection of the same stream, as the `EventSource` standard
    /// reconnects: no partial line or event of this connection, the same configuration, and
    /// the same last event ID and reconnection time.
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.feed(&b"retry: 500\nid: 7\ndata: seven\n\ndata: cut sh"[..]);
    /// while decoder.next_event()?.is_some() {}
    /// let mut next = decoder.reconnected();
    /// assert_eq!((next.last_event_id(), next.reconnection_time()), ("7", Some(500)));
    /// next.feed(&b"data: eight\n\n"[..]);
    /// assert_eq!(next.next_event()?.map(|e| e.data().to_owned()).as_deref(), Some("eight"));
    /// # Ok::<(), stream_core::sse::SseError>(())
    /// ```
    #[must_use]
    pub fn reconnected(&self) -> Self {
        let mut next = Self::with_config(self.config.clone());
        next.builder.last_event_id = self.builder.last_event_id.clone();
        next.builder.reconnection_time = self.builder.reconnection_time;
        next
    }

    /// Starts with this last event ID (a feed resumed from an ID known beforehand); a NUL
    /// makes it empty, as it makes an `id` field ignored.
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// assert_eq!(Decoder::new().with_last_event_id("41").last_event_id(), "41");
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.builder.last_event_id = if id.contains('\0') {
            ByteString::new()
        } else {
            ByteString::from(id)
        };
        self
    }

    /// The last event ID buffer: the value of the last valid `id` field so far (`""` if none).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.builder.last_event_id
    }

    /// The stream's reconnection time in milliseconds: the last valid `retry` field so far,
    /// whether or not its block dispatched an event.
    #[must_use]
    pub fn reconnection_time(&self) -> Option<u64> {
        self.builder.reconnection_time
    }

    /// Whether, in the input read so far, an event or a line has begun and not been completed.
    /// Once [`next_event`](Self::next_event) has drained the input at the end of the stream,
    /// this says the stream was cut inside an event.
    #[must_use]
    pub fn is_mid_event(&self) -> bool {
        let builder = &self.builder;
        !self.lines.partial.is_empty()
            || self.lines.skipping_line
            || (!builder.dispatched && (builder.data.is_set() || builder.type_len > 0))
    }

    /// Bytes held: unread input plus the partial line and the event being built.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        let unread: usize = self.input.iter().map(Bytes::len).sum::<usize>() - self.pos;
        unread + self.lines.partial.len() + self.builder.size
    }

    /// The next dispatched event, owned: `Ok(None)` when more input is needed (or, after
    /// [`finish`](Self::finish), when the stream is over), or an error for a line or event
    /// that broke a limit or (in strict mode) was not UTF-8. After an error, call again: the
    /// decoder resumes at the next event.
    ///
    /// The event's strings are shared slices of the input chunk when its lines sat in one
    /// chunk (a reference count, no copy). To look at each event and move
    /// on, [`next_event_ref`](Self::next_event_ref) is cheaper.
    ///
    /// # Errors
    ///
    /// [`SseError`] as described on each variant.
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        if !self.quick_dispatch() && !self.advance()? {
            return Ok(None);
        }
        // The window is always of the front chunk.
        let front = self.front_text.as_ref().zip(self.input.front());
        let builder = &mut self.builder;
        builder.dispatched = false;
        let event = Event {
            event_type: builder.event_type.take_shared(front),
            data: builder.data.take_shared(front),
            id: builder.last_event_id.clone(),
            retry: builder.retry.take(),
        };
        builder.data.clear();
        builder.event_type.clear();
        Ok(Some(event))
    }

    /// The next dispatched event, borrowed from the decoder: like
    /// [`next_event`](Self::next_event), but the event's strings point into the decoder (its
    /// current chunk or its buffers), so it costs no allocation and no reference count, and it
    /// lives until the next call on the decoder. [`EventRef::to_event`] keeps a copy.
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.feed("event: ping\ndata: {}\n\ndata: a\ndata: b\n\n");
    /// let mut seen = Vec::new();
    /// while let Some(event) = decoder.next_event_ref()? {
    ///     seen.push(format!("{}={}", event.event_type(), event.data()));
    /// }
    /// assert_eq!(seen, ["ping={}", "message=a\nb"]);
    /// # Ok::<(), stream_core::sse::SseError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SseError`] as described on each variant.
    #[inline]
    pub fn next_event_ref(&mut self) -> Result<Option<EventRef<'_>>, SseError> {
        if !self.quick_dispatch() && !self.advance()? {
            return Ok(None);
        }
        let front = self.front_text.as_ref();
        let builder = &self.builder;
        Ok(Some(EventRef {
            event_type: builder.event_type.as_str(front),
            data: builder.data.as_str(front),
            id: &builder.last_event_id,
            retry: builder.retry,
        }))
    }

    /// The steady state, inline in the callers: when the next block has the commonest shape
    /// and lies whole in the front window, dispatches it (`true`, the event is in the builder)
    /// without [`advance`](Self::advance).
    #[inline(always)]
    fn quick_dispatch(&mut self) -> bool {
        let Self {
            config,
            pos,
            consumed,
            front_text,
            lines,
            builder,
            ..
        } = self;
        builder.hand_out();
        // A read position inside the window means that no line is pending: a partial line, a
        // line being skipped and a CR at the end of a chunk all leave it at the chunk's end,
        // and a BOM is matched before the first window.
        if let Some(valid) = front_text.as_ref()
            && let Some(at) = pos.checked_sub(valid.start)
            && at < valid.text.len()
            && !builder.skipping_event
            && !builder.data.is_set()
            && let Some(next) = builder.quick_block(valid, at, config)
        {
            debug_assert!(lines.is_clean(), "a pending line inside the window");
            *pos = valid.start + next;
            lines.line_start = *consumed + *pos as u64;
            return true;
        }
        false
    }

    /// Reads input until an event is dispatched (`Ok(true)`; it is in the builder, to be
    /// handed out) or the input runs out (`Ok(false)`).
    fn advance(&mut self) -> Result<bool, SseError> {
        let Self {
            config,
            input,
            pos,
            consumed,
            front_text,
            spare_text,
            lines,
            builder,
            ended,
            done,
        } = self;
        builder.hand_out();
        loop {
            let Some(chunk) = input.front() else {
                if *ended && !*done {
                    *done = true;
                    return builder.end_of_stream(lines, config);
                }
                return Ok(false);
            };
            if *pos >= chunk.len() {
                builder.retire_window(front_text, spare_text);
                *consumed += chunk.len() as u64;
                *pos = 0;
                input.pop_front();
                continue;
            }
            if lines.is_clean() {
                // A new window at the first line of a chunk, and past the end of a window that
                // did not reach the end of its chunk.
                let stale = front_text
                    .as_ref()
                    .is_none_or(|valid| valid.more && *pos >= valid.start + valid.text.len());
                if stale {
                    builder.retire_window(front_text, spare_text);
                    let text = core::mem::take(spare_text);
                    *front_text = Some(ValidText::new(chunk, *pos, text, &builder.line_ends));
                }
                if let Some(valid) = front_text.as_ref()
                    && let Some(at) = pos.checked_sub(valid.start)
                    && at < valid.text.len()
                {
                    match builder.whole_lines(valid, chunk, at, *consumed, lines, config) {
                        (at, Ok(false)) if at == valid.text.len() => {
                            *pos = valid.start + at;
                            // When the window reaches the end of the chunk, what follows its
                            // last line end starts a line that goes on in a later chunk.
                            let tail = &chunk[*pos..];
                            if !valid.more && tail.len() <= config.max_line_len {
                                lines.partial.extend_from_slice(tail);
                                *pos = chunk.len();
                            }
                            continue;
                        }
                        // A line the general path below handles (a CR at the end of the run,
                        // or a line over the limit).
                        (at, Ok(false)) => *pos = valid.start + at,
                        (at, result) => {
                            *pos = valid.start + at;
                            return result;
                        }
                    }
                }
            }
            let rest = &chunk[*pos..];

            if let Some(seen) = lines.bom_seen {
                // Match the BOM byte by byte: it may be split across chunks.
                let seen_len = usize::from(seen);
                if rest[0] == BOM[seen_len] {
                    *pos += 1;
                    lines.bom_seen = if seen_len + 1 == BOM.len() {
                        lines.line_start = *consumed + *pos as u64;
                        None
                    } else {
                        Some(seen + 1)
                    };
                } else {
                    // Not a BOM after all: what matched is the start of the first line.
                    lines.partial.extend_from_slice(&BOM[..seen_len]);
                    lines.bom_seen = None;
                }
                continue;
            }

            if lines.after_cr {
                lines.after_cr = false;
                if rest[0] == b'\n' {
                    *pos += 1;
                    lines.line_start += 1;
                    continue;
                }
            }

            let Some(end) = builder.line_ends.find(rest) else {
                // The line goes on in a later chunk.
                if !lines.skipping_line {
                    if lines.partial.len() + rest.len() > config.max_line_len {
                        lines.start_skipping();
                        builder.drop_event();
                        let offset = lines.line_start;
                        *pos = chunk.len();
                        return Err(SseError::LineTooLong {
                            limit: config.max_line_len,
                            offset,
                        });
                    }
                    lines.partial.extend_from_slice(rest);
                }
                *pos = chunk.len();
                continue;
            };

            // A line ends at `end`; work out where the next one starts.
            let line_end = *pos + end;
            let mut next = line_end + 1;
            if rest[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => lines.after_cr = true,
                }
            }
            let line_offset = lines.line_start;
            lines.line_start = *consumed + next as u64;

            if lines.skipping_line {
                lines.skipping_line = false;
                *pos = next;
                continue;
            }
            let result = if lines.partial.is_empty() {
                if end > config.max_line_len {
                    Err(SseError::LineTooLong {
                        limit: config.max_line_len,
                        offset: line_offset,
                    })
                } else {
                    let valid = front_text.get_or_insert_with(|| {
                        ValidText::new(chunk, *pos, core::mem::take(spare_text), &builder.line_ends)
                    });
                    match valid.line(*pos, line_end) {
                        Some(line) => {
                            builder.line(line, Source::Valid(valid, chunk), line_offset, config)
                        }
                        None => builder.line(
                            &chunk[*pos..line_end],
                            Source::Raw(Some(valid)),
                            line_offset,
                            config,
                        ),
                    }
                }
            } else if lines.partial.len() + end > config.max_line_len {
                lines.release_partial();
                Err(SseError::LineTooLong {
                    limit: config.max_line_len,
                    offset: line_offset,
                })
            } else {
                lines.partial.extend_from_slice(&rest[..end]);
                let source = Source::Raw(front_text.as_ref());
                let result = builder.line(&lines.partial, source, line_offset, config);
                lines.release_partial();
                result
            };
            *pos = next;
            match result {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(err) => {
                    builder.drop_event();
                    return Err(err);
                }
            }
        }
    }
}

impl LineState {
    /// Whether the next line starts in the front chunk with nothing pending: no partial
    /// line, no line being skipped, no CR awaiting its LF, no BOM being matched.
    #[inline(always)]
    fn is_clean(&self) -> bool {
        self.partial.is_empty() && !self.skipping_line && !self.after_cr && self.bom_seen.is_none()
    }

    fn start_skipping(&mut self) {
        self.skipping_line = true;
        self.release_partial();
    }

    fn release_partial(&mut self) {
        self.partial.clear();
        if self.partial.capacity() > KEEP_LINE_CAPACITY {
            self.partial = BytesMut::new();
        }
    }
}

impl EventBuilder {
    /// The fast path: interprets the complete lines of the front chunk's validated run from
    /// `at` on, until an event is dispatched, an error, the end of the run, or a line the
    /// general path must handle. Returns where it stopped (in the run) and what happened; an
    /// error has already dropped the event.
    fn whole_lines(
        &mut self,
        valid: &ValidText,
        chunk: &Bytes,
        mut at: usize,
        consumed: u64,
        lines: &mut LineState,
        config: &DecoderConfig,
    ) -> (usize, Result<bool, SseError>) {
        let len = valid.text.len();
        let result = loop {
            if at >= len {
                break Ok(false);
            }
            if !self.data.is_set()
                && !self.skipping_event
                && let Some(next) = self.quick_block(valid, at, config)
            {
                at = next;
                break Ok(true);
            }
            let bytes = valid.text.as_bytes();
            if bytes[at] == b'\n' {
                // A blank line needs no search.
                at += 1;
                if self.dispatch() {
                    break Ok(true);
                }
                continue;
            }
            let Some(end) = self.line_ends.find(&bytes[at..]).map(|i| at + i) else {
                break Ok(false);
            };
            // A CR at the end of the run is left to the general path.
            let Some(next) = valid.line_end_at(end) else {
                break Ok(false);
            };
            if end - at > config.max_line_len {
                break Ok(false);
            }
            let line = &bytes[at..end];
            let offset = consumed + (valid.start + at) as u64;
            at = next;
            // The commonest line, a `data` line while no error is being skipped, inline.
            let result = match line.strip_prefix(b"data:") {
                Some(value) if !self.skipping_event => {
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    self.data_line(value, Source::Valid(valid, chunk), offset, config)
                        .map(|()| false)
                }
                _ => self.line(line, Source::Valid(valid, chunk), offset, config),
            };
            match result {
                Ok(false) => {}
                Ok(true) => break Ok(true),
                Err(err) => {
                    self.drop_event();
                    break Err(err);
                }
            }
        };
        lines.line_start = consumed + (valid.start + at) as u64;
        (at, result)
    }

    /// The commonest block read in one go, while the block has no data yet: an optional
    /// `event` line naming one of the last two known names, one `data: ` line and a blank
    /// line, each ending with LF, CRLF or CR, within the limits. Dispatches its event and returns
    /// where the next line starts; for any other shape, returns `None` having changed nothing,
    /// and the line-by-line loop reads the block.
    #[inline(always)]
    fn quick_block(
        &mut self,
        valid: &ValidText,
        at: usize,
        config: &DecoderConfig,
    ) -> Option<usize> {
        const DATA: &[u8] = b"data: ";
        let bytes = valid.text.as_bytes();
        let mut line = at;
        let mut name = None;
        if bytes[at] == b'e' {
            let rest = &bytes[at..];
            let known = match self.known_lines {
                [Some(latest), _] if starts_with_short(rest, latest.as_bytes()) => latest,
                [_, Some(before)] if starts_with_short(rest, before.as_bytes()) => before,
                _ => return None,
            };
            line = valid.line_end_at(at + known.len())?;
            name = known.get(EVENT_PREFIX_LEN..);
        }
        let value_start = line + DATA.len();
        if bytes.get(line..value_start) != Some(DATA) {
            return None;
        }
        let end = value_start + self.line_ends.find(bytes.get(value_start..)?)?;
        let next = match bytes.get(end..end + 2) {
            Some(b"\n\n") => end + 2,
            _ => valid.line_end_at(valid.line_end_at(end)?)?,
        };
        let type_len = name.map_or(self.type_len, str::len);
        if (end - line).max(EVENT_PREFIX_LEN + type_len) > config.max_line_len
            || type_len + (end - value_start) > config.max_event_size
        {
            return None;
        }
        if let Some(name) = name {
            self.event_type.slot = Slot::Known(name);
        }
        self.data.slot = Slot::Span(value_start, end);
        self.retry = self.block_retry.take();
        self.size = 0;
        self.type_len = 0;
        self.dispatched = true;
        Some(next)
    }

    /// Interprets one complete line (without its line end); `source` says where it lies.
    /// Returns whether it dispatched an event.
    #[inline(always)]
    fn line(
        &mut self,
        line: &[u8],
        source: Source<'_>,
        offset: u64,
        config: &DecoderConfig,
    ) -> Result<bool, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if self.skipping_event {
            return Ok(false);
        }
        if config.utf8 == Utf8Mode::Strict
            && !matches!(source, Source::Valid(..))
            && let Err(err) = core::str::from_utf8(line)
        {
            return Err(SseError::InvalidUtf8 {
                offset,
                valid_up_to: err.valid_up_to(),
            });
        }
        // The two fields of nearly every line are matched before looking for the colon.
        let (name, value) = if line.starts_with(b"data:") {
            line.split_at(4)
        } else if line.starts_with(b"event:") {
            line.split_at(5)
        } else {
            match memchr::memchr(b':', line) {
                Some(0) => return Ok(false), // A comment.
                Some(colon) => line.split_at(colon),
                None => (line, &b""[..]),
            }
        };
        let value = value.get(1..).unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match name {
            b"data" => self.data_line(value, source, offset, config)?,
            b"event" => match known_event_type(value) {
                Some(known) => {
                    let line = KNOWN_EVENT_LINES[known];
                    if self.known_lines[0] != Some(line) {
                        self.known_lines = [Some(line), self.known_lines[0]];
                    }
                    self.known_type(KNOWN_EVENT_TYPES[known], offset, config)?;
                }
                None => {
                    self.size -= core::mem::take(&mut self.type_len);
                    let len = self.event_type.set(value, source);
                    self.grow(len, offset, config)?;
                    self.type_len = len;
                }
            },
            b"id" if memchr::memchr(0, value).is_none() => {
                self.last_event_id = shared_text(value, source);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |acc, digit| {
                    acc.saturating_mul(10)
                        .saturating_add(u64::from(digit - b'0'))
                });
                self.block_retry = Some(millis);
                self.reconnection_time = Some(millis);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Forgets the event dispatched last, once it has been handed out.
    #[inline(always)]
    fn hand_out(&mut self) {
        if self.dispatched {
            self.dispatched = false;
            self.retry = None;
            self.data.clear();
            self.event_type.clear();
        }
    }

    /// Drops the front window: values of the event being built that point into it are copied
    /// out first, and its text buffer is kept in `spare` for the next window.
    fn retire_window(&mut self, front_text: &mut Option<ValidText>, spare: &mut String) {
        if let Some(old) = front_text.take() {
            self.data.materialize(Some(&old));
            self.event_type.materialize(Some(&old));
            *spare = old.text;
        }
    }

    /// An `event` field whose value is a known name.
    #[inline(always)]
    fn known_type(
        &mut self,
        name: &'static str,
        offset: u64,
        config: &DecoderConfig,
    ) -> Result<(), SseError> {
        self.size -= core::mem::take(&mut self.type_len);
        self.event_type.slot = Slot::Known(name);
        self.grow(name.len(), offset, config)?;
        self.type_len = name.len();
        Ok(())
    }

    /// A `data` field: the first sets the data buffer, later ones append LF and the value.
    #[inline(always)]
    fn data_line(
        &mut self,
        value: &[u8],
        source: Source<'_>,
        offset: u64,
        config: &DecoderConfig,
    ) -> Result<(), SseError> {
        // The value is taken first and measured as kept (after U+FFFD replacement); over the
        // limit, the caller drops the event, so at most one line's worth is held past it.
        let added = if self.data.is_set() {
            self.data.append_line(value, source)
        } else {
            self.data.set(value, source)
        };
        self.grow(added, offset, config)
    }

    /// Accounts for `added` bytes of event, or reports the event as too large.
    fn grow(&mut self, added: usize, offset: u64, config: &DecoderConfig) -> Result<(), SseError> {
        if added > config.max_event_size - self.size {
            return Err(SseError::EventTooLarge {
                limit: config.max_event_size,
                offset,
            });
        }
        self.size += added;
        Ok(())
    }

    /// A blank line: dispatch the event if there is data, and start a new block either way.
    /// A dispatched event stays in the fields until it is handed out.
    fn dispatch(&mut self) -> bool {
        let retry = self.block_retry.take();
        self.size = 0;
        self.type_len = 0;
        if self.skipping_event || !self.data.is_set() {
            self.skipping_event = false;
            self.data.clear();
            self.event_type.clear();
            return false;
        }
        self.retry = retry;
        self.dispatched = true;
        true
    }

    /// An error: forget the event being built and ignore lines up to the next blank one.
    fn drop_event(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.type_len = 0;
        self.size = 0;
        self.block_retry = None;
        self.skipping_event = true;
    }

    /// The end of the stream: discard the incomplete event, or with the opt-in, dispatch it.
    fn end_of_stream(
        &mut self,
        lines: &mut LineState,
        config: &DecoderConfig,
    ) -> Result<bool, SseError> {
        if let Some(seen) = lines.bom_seen.take() {
            lines.partial.extend_from_slice(&BOM[..usize::from(seen)]);
        }
        let mut result = Ok(false);
        if config.dispatch_incomplete_at_end {
            if !lines.partial.is_empty() && !lines.skipping_line {
                let partial = core::mem::take(&mut lines.partial);
                result = self.line(&partial, Source::Raw(None), lines.line_start, config);
            }
            if matches!(result, Ok(false)) {
                result = Ok(self.dispatch());
            }
        }
        lines.partial = BytesMut::new();
        lines.skipping_line = false;
        if !matches!(result, Ok(true)) {
            self.data.clear();
            self.event_type.clear();
        }
        self.type_len = 0;
        self.size = 0;
        self.block_retry = None;
        result
    }
}

/// The event names of the Messages streaming API, kept as static strings so that the most
/// common types of owned events cost no reference count.
const KNOWN_EVENT_TYPES: [&str; 9] = [
    "content_block_delta",
    "content_block_start",
    "content_block_stop",
    "message_delta",
    "message_start",
    "message_stop",
    "message",
    "ping",
    "error",
];

/// The `event` line of each of [`KNOWN_EVENT_TYPES`], in the same order, as the API writes it
/// (one space after the colon).
const KNOWN_EVENT_LINES: [&str; 9] = [
    "event: content_block_delta",
    "event: content_block_start",
    "event: content_block_stop",
    "event: message_delta",
    "event: message_start",
    "event: message_stop",
    "event: message",
    "event: ping",
    "event: error",
];

/// The length of `event: `, where the name starts in [`KNOWN_EVENT_LINES`].
const EVENT_PREFIX_LEN: usize = "event: ".len();

/// `haystack.starts_with(prefix)` for a short prefix, compared eight bytes at a time inline
/// rather than by a call to `memcmp`.
#[inline(always)]
fn starts_with_short(haystack: &[u8], prefix: &[u8]) -> bool {
    fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        bytes
            .get(at..at + N)
            .and_then(|word| word.try_into().ok())
            .unwrap_or([0; N])
    }
    let len = prefix.len();
    let Some(head) = haystack.get(..len) else {
        return false;
    };
    // Two overlapping loads of 16 or 8 bytes cover any prefix up to 32 bytes.
    match len {
        16..=32 => {
            word::<16>(head, 0) == word::<16>(prefix, 0)
                && word::<16>(head, len - 16) == word::<16>(prefix, len - 16)
        }
        8..16 => {
            word::<8>(head, 0) == word::<8>(prefix, 0)
                && word::<8>(head, len - 8) == word::<8>(prefix, len - 8)
        }
        _ => head == prefix,
    }
}

/// The index in [`KNOWN_EVENT_TYPES`] of the name `value` spells, if any.
fn known_event_type(value: &[u8]) -> Option<usize> {
    KNOWN_EVENT_TYPES
        .iter()
        .position(|name| name.as_bytes() == value)
}

/// The longest valid UTF-8 prefix of `bytes` (all of it, normally), found with SIMD.
fn valid_prefix(bytes: &[u8]) -> &str {
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return text;
    }
    let valid_up_to = match simdutf8::compat::from_utf8(bytes) {
        Ok(text) => text.len(),
        Err(err) => err.valid_up_to(),
    };
    simdutf8::basic::from_utf8(&bytes[..valid_up_to]).unwrap_or_default()
}

/// Appends `bytes` to `buf`, each maximal invalid subpart replaced with U+FFFD.
fn push_lossy(buf: &mut String, bytes: &[u8]) {
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        buf.push_str(text);
        return;
    }
    for piece in bytes.utf8_chunks() {
        buf.push_str(piece.valid());
        if !piece.invalid().is_empty() {
            buf.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// A field value as a shared string: a slice of the validated run when it lies in one, else
/// decoded (lossily; strict mode has rejected invalid input before this point).
fn shared_text(value: &[u8], source: Source<'_>) -> ByteString {
    if value.is_empty() {
        return ByteString::new();
    }
    if let Source::Valid(valid, chunk) = source
        && let Some(span) = valid.span_of(value)
    {
        return valid.shared(chunk, span);
    }
    let mut text = String::new();
    push_lossy(&mut text, value);
    ByteString::from(text)
}
