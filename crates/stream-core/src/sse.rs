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
//! * **Linear time.** Each input byte is validated as UTF-8 and searched for a line end a
//!   small, bounded number of times: once, normally; the start of a line that goes on over
//!   several chunks is validated again once, when the line ends; after invalid UTF-8 the rest of
//!   a chunk is checked up to the next invalid byte at a time. Nothing before the read position
//!   is rescanned when more input arrives. An `event` line that repeats one of the last four
//!   names seen is compared rather than searched when it is at most 32 bytes (a name of up to
//!   25 bytes), whatever the names are.
//! * **Bounded memory.** A line longer than [`DecoderConfig::max_line_len`] or an event larger
//!   than [`DecoderConfig::max_event_size`] is a typed error ([`SseError`]); the decoder then
//!   drops that event, discards input up to the next blank line without buffering it, and goes
//!   on ([`SseError::can_resync`]).
//! * **One validation and one copy per window; no allocation per event.** The whole lines of
//!   each chunk are validated as UTF-8 once (with SIMD) and copied once into a shared buffer,
//!   64 KiB at a time (a window). [`next_event_ref`](Decoder::next_event_ref) hands out
//!   [`EventRef`]s whose strings are `&str` slices of it: no copy, no allocation, no reference
//!   count. [`next_event`](Decoder::next_event) hands out owned [`Event`]s whose data is
//!   copied inline into the event when it is at most [`INLINE_DATA_LEN`] bytes (no allocation,
//!   no reference count), and otherwise shares the window (a reference count; no copy and no
//!   second validation); whose type is the remembered name (inline up to 23 bytes); and whose
//!   ID is a slice of the input chunk. The window's buffer is reused for the next window when no
//!   owned event holds it, so events allocate nothing in the steady state; the decoder's
//!   buffers for events that span chunks or have several `data` lines are reused too, except
//!   that an owned event takes such data's buffer along when the data is longer than
//!   [`INLINE_DATA_LEN`] (the next such event allocates a new one).
//! * **UTF-8.** Lossy by default (each maximal invalid subpart becomes U+FFFD, as in
//!   [`String::from_utf8_lossy`]); [`Utf8Mode::Strict`] makes invalid input an error instead.
//!
//! The decoder keeps whatever has been [fed](Decoder::feed) until it is drained: feed one chunk,
//! drain it, then feed the next, and memory stays at one chunk plus the limits, plus a copy of
//! at most 64 KiB of the chunk being read (a long chunk is validated and copied a window at a
//! time) and of the start of the line it ends in, plus the windows that owned events still
//! hold, plus the chunk that the last `id` line came from (the last event ID is a slice of it).
//!
//! The decoder has one line reader (`Decoder::advance` for lines outside the window,
//! `EventBuilder::window_lines` inside it) and one field interpreter; the quick path that
//! reads a whole common block at once is a pre-check in front of them, with the same line-end
//! and limit helpers. No event name is special to it.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use arrayvec::ArrayString;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use smol_str::SmolStr;

/// The default for [`DecoderConfig::max_line_len`]: 16 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 16 * 1024 * 1024;
/// The default for [`DecoderConfig::max_event_size`]: 16 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// The UTF-8 byte order mark, stripped once at the very start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// A partial-line buffer that grew past this is released after use rather than kept.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;
/// The most of a chunk validated and copied into one window: the copy is bounded whatever the
/// chunk size, and a long chunk is read a window at a time.
const TEXT_WINDOW: usize = 64 * 1024;
/// How many event names the decoder remembers ([`Names`]).
const RECENT_NAMES: usize = 4;
/// The longest event name remembered.
const MAX_REMEMBERED_NAME: usize = 64;
/// The longest data an owned [`Event`] keeps inline: copied into the event, with no
/// allocation and no reference count. Longer data shares the decoder's buffer. The data of most
/// Messages deltas fits (80% of the `content_block_delta` events in the repository's fixtures),
/// and an [`Event`] is 256 bytes on 64-bit targets: a larger one costs more to move than the
/// reference counts it saves (measured with the decoder benchmark).
///
/// ```
/// use stream_core::sse::{Decoder, INLINE_DATA_LEN};
///
/// let mut decoder = Decoder::new();
/// decoder.feed(format!("data: {}\n\n", "x".repeat(INLINE_DATA_LEN + 1)));
/// let event = decoder.next_event()?.expect("one event");
/// // Long data is shared: its bytes are the decoder's buffer, not a copy.
/// assert_eq!(event.data_bytes().as_ptr(), event.data().as_ptr());
/// # Ok::<(), stream_core::sse::SseError>(())
/// ```
pub const INLINE_DATA_LEN: usize = 148;

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
    event_types: &'static [&'static str],
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
            event_types: &[],
        }
    }

    /// Event names the stream is expected to use (the Messages API's, say). The decoder
    /// recognises any name that repeats whether or not it is listed (the last four names seen,
    /// compared on its quick path when the `event` line is at most 32 bytes); a listed name is
    /// recognised the first time too, without a copy, and an owned event of a listed type costs
    /// no reference count for its type. An empty name is ignored here.
    ///
    /// ```
    /// use stream_core::sse::{Decoder, DecoderConfig};
    ///
    /// let config = DecoderConfig::new().event_types(&["tick", "tock"]);
    /// let mut decoder = Decoder::with_config(config);
    /// decoder.feed("event: tick\ndata: 1\n\n");
    /// assert_eq!(decoder.next_event()?.unwrap().event_type(), "tick");
    /// # Ok::<(), stream_core::sse::SseError>(())
    /// ```
    #[must_use]
    pub const fn event_types(mut self, names: &'static [&'static str]) -> Self {
        self.event_types = names;
        self
    }

    /// The event names given to [`event_types`](Self::event_types).
    #[must_use]
    pub const fn expected_event_types(&self) -> &'static [&'static str] {
        self.event_types
    }

    /// The longest line accepted, in bytes, without its line end. A longer line is
    /// [`SseError::LineTooLong`] as soon as the limit is crossed (the decoder does not wait for
    /// the line to end, and does not buffer the rest of it).
    #[must_use]
    pub const fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// The largest event accepted, in bytes: the type plus the data as the event hands it out
    /// (the `data` lines' values joined by LF, without a final one). A larger event is
    /// [`SseError::EventTooLarge`].
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

    /// Whether a line of `len` bytes (without its line end) is within the limit: the one check
    /// every path of the decoder makes.
    #[inline(always)]
    const fn line_fits(&self, len: usize) -> bool {
        len <= self.max_line_len
    }

    /// Whether an event of `size` bytes so far can take `added` more.
    #[inline(always)]
    const fn event_fits(&self, size: usize, added: usize) -> bool {
        added <= self.max_event_size.saturating_sub(size)
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
/// Cloning is cheap: data of up to [`INLINE_DATA_LEN`] bytes is inline (a copy of at most that
/// many bytes, no allocation), longer data and the ID are shared (a reference count).
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
    event_type: SmolStr,
    data: Text,
    /// `None` when empty: dropping it then calls nothing.
    id: Option<ByteString>,
    retry: Option<u64>,
}

impl Event {
    /// An event with this type and data, no ID and no retry (for tests and for building streams).
    /// An empty type means `message`, as on the wire.
    #[must_use]
    pub fn new(event_type: &str, data: &str) -> Self {
        Self {
            event_type: SmolStr::new(event_type),
            data: Text::new(data),
            id: None,
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

    /// The data as [`Bytes`]: a copy when it is kept inline (at most [`INLINE_DATA_LEN`]
    /// bytes), else a cheap clone that shares the decoder's buffer.
    #[must_use]
    pub fn data_bytes(&self) -> Bytes {
        self.data.to_bytes()
    }

    /// The last event ID at dispatch (`""` until an `id` field sets one). Like a browser's
    /// `lastEventId`, it persists across events until another `id` field changes it.
    #[must_use]
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
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
            event_type: self.event_type.as_str(),
            data: self.data.as_str(),
            id: self.id(),
            retry: self.retry,
        }
    }

    /// Sets the ID (builder style, for tests and for building streams).
    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = (!id.is_empty()).then(|| ByteString::from(id));
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

/// An owned event's data: inline when short, else shared. (A struct rather than an enum:
/// the shared string's niche is the tag, so moving an event never reads a tag byte written
/// apart from its neighbours.)
#[derive(Clone)]
struct Text {
    shared: Option<ByteString>,
    inline: ArrayString<INLINE_DATA_LEN>,
}

impl Text {
    /// A copy of `text`: inline when it fits, else in a buffer of its own.
    fn new(text: &str) -> Self {
        ArrayString::from(text).map_or_else(
            |_| Self::shared(ByteString::from(text)),
            |inline| Self {
                shared: None,
                inline,
            },
        )
    }

    /// No data (inline; nothing is written but the length).
    #[inline(always)]
    fn empty() -> Self {
        Self {
            shared: None,
            inline: ArrayString::new(),
        }
    }

    #[inline(always)]
    fn shared(text: ByteString) -> Self {
        Self {
            shared: Some(text),
            inline: ArrayString::new(),
        }
    }

    #[inline(always)]
    fn as_str(&self) -> &str {
        match &self.shared {
            Some(text) => text,
            None => &self.inline,
        }
    }

    fn to_bytes(&self) -> Bytes {
        match &self.shared {
            Some(text) => text.as_bytes().clone(),
            None => Bytes::copy_from_slice(self.inline.as_bytes()),
        }
    }
}

impl core::ops::Deref for Text {
    type Target = str;

    #[inline(always)]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl core::hash::Hash for Text {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
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
            event_type: SmolStr::new(self.event_type),
            data: Text::new(self.data),
            id: (!self.id.is_empty()).then(|| ByteString::from(self.id)),
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
    /// The front chunk's whole lines from some position on, validated once.
    window: Window,
    /// The buffer of the last window, for the next one.
    spare: String,
    /// The read position is the start of the window's carried line (before the chunk).
    from_carry: bool,
    lines: LineState,
    builder: EventBuilder,
    /// `finish` was called.
    ended: bool,
    /// The end of the stream was processed; nothing more will come out.
    done: bool,
    /// The end of the stream was processed inside an event or a line.
    cut: bool,
}

/// The whole lines of a stretch of the front chunk, from `start` on (at most [`TEXT_WINDOW`]
/// bytes, up to the last line end, and before any invalid UTF-8), after the start of a line
/// that earlier chunks began (`carry` bytes), validated as UTF-8 once with SIMD and copied
/// once into a buffer: borrowed values are `&str` slices of it; the first owned value longer
/// than [`INLINE_DATA_LEN`] makes it shared, and such values share it (a reference count, no
/// copy and no second validation); shorter ones are copied into the event. So a line or a
/// block across a chunk boundary is read like any other. When the chunk ends inside a line,
/// that line's start is kept as the window's tail (validated with the rest, and copied) and
/// becomes the carried line of the next chunk's window (copied again, not validated again).
/// The buffer is reused for the next window when no owned event holds it, so borrowed events
/// allocate nothing.
#[derive(Debug, Default)]
struct Window {
    text: WindowText,
    len: usize,
    /// How many bytes of the text came from earlier chunks: `text[carry..]` is the front
    /// chunk's, from `start` on.
    carry: usize,
    start: usize,
    /// The chunk's byte just past the text, if any.
    next_byte: Option<u8>,
    /// What follows the text in the chunk is valid and holds no line end: the start of a
    /// line that goes on in a later chunk.
    open_tail: bool,
    /// That start of a line, as validated text, when `open_tail`: carried into the next
    /// window without being copied into the partial-line buffer and validated again.
    tail: String,
    /// The chunk was found to hold invalid UTF-8: its later windows are validated with a check
    /// that stops at the first invalid byte (the SIMD check that does not would rescan the
    /// rest of the chunk for every line that holds one). Kept until the chunk is let go.
    early_exit: bool,
}

/// A window's buffer: its own until an owned event shares it.
#[derive(Debug)]
enum WindowText {
    Own(String),
    Shared(ByteString),
}

impl Default for WindowText {
    fn default() -> Self {
        Self::Own(String::new())
    }
}

impl Window {
    /// Becomes the window of `chunk` from `start`, after the `carry` bytes of a line that
    /// earlier chunks began, in a reclaimed buffer (`spare`) or a new one. Empty when no whole
    /// valid line starts there, or when the carried line does not end in a valid window: the
    /// line reader reads it on its own.
    fn renew(
        &mut self,
        carry: &[u8],
        chunk: &Bytes,
        start: usize,
        line_ends: &LineEnds,
        spare: &mut String,
    ) {
        self.retire(spare);
        // The tail's buffer is kept for the next tail.
        let mut tail = core::mem::take(&mut self.tail);
        tail.clear();
        *self = Self {
            start,
            next_byte: chunk.get(start).copied(),
            tail,
            early_exit: self.early_exit,
            ..Self::default()
        };
        let rest = &chunk[start..];
        let Some((carried, cut, lines)) = carried(carry, rest) else {
            return;
        };
        let mut buf = core::mem::take(spare);
        buf.clear();
        buf.push_str(carried);
        if let Some(cut) = cut {
            buf.push(cut);
        }
        let skip = rest.len() - lines.len();
        if !self.fill(buf, carry.len(), skip, chunk, start, line_ends) {
            self.retire(spare);
        }
    }

    /// Becomes the window of `chunk` from `start` after the start of a line that this window's
    /// tail holds (from the chunk before, which [`retire`](Self::retire) left): the tail is
    /// not copied into the partial-line buffer, nor validated again. Returns false, the tail
    /// kept, when the carried line does not end in a valid window of the chunk.
    fn refill_from_tail(
        &mut self,
        chunk: &Bytes,
        start: usize,
        line_ends: &LineEnds,
        spare: &mut String,
    ) -> bool {
        let mut buf = core::mem::take(spare);
        buf.clear();
        buf.push_str(&self.tail);
        if self.fill(buf, self.tail.len(), 0, chunk, start, line_ends) {
            return true;
        }
        self.retire(spare);
        false
    }

    /// Appends to `buf` (which holds `carry` bytes of earlier chunks, plus the rest of a
    /// character they cut, `skip` bytes of the chunk) the whole valid lines of `chunk` from
    /// `start + skip`, and makes it this window, with the valid rest of the chunk as its tail.
    /// Returns false, with `buf` as an empty window's text (for [`retire`](Self::retire)) and
    /// the tail unchanged, when no line end follows.
    fn fill(
        &mut self,
        mut buf: String,
        carry: usize,
        skip: usize,
        chunk: &Bytes,
        start: usize,
        line_ends: &LineEnds,
    ) -> bool {
        let rest = &chunk[start..];
        let rest = &rest[..rest.len().min(TEXT_WINDOW)];
        // Validated front to back first (the input is read in order, which memory prefetches
        // well), then cut at the last line end.
        let lines = rest.get(skip..).unwrap_or_default();
        let valid = valid_prefix(lines, self.early_exit);
        let early_exit = self.early_exit || valid.len() < lines.len();
        let whole = valid.len() == lines.len() && rest.len() == chunk.len() - start;
        let Some(last) = line_ends.rfind(valid.as_bytes()) else {
            self.text = WindowText::Own(buf);
            self.len = 0;
            self.early_exit = early_exit;
            return false;
        };
        let (lines, tail) = valid.split_at(last + 1);
        buf.push_str(lines);
        let len = buf.len();
        self.tail.clear();
        if whole {
            self.tail.push_str(tail);
        }
        *self = Self {
            text: WindowText::Own(buf),
            len,
            carry,
            start,
            next_byte: chunk.get(start + len - carry).copied(),
            open_tail: whole,
            tail: core::mem::take(&mut self.tail),
            early_exit,
        };
        true
    }

    /// The chunk position of text position `at` (at least `carry`).
    #[inline(always)]
    fn pos_of(&self, at: usize) -> usize {
        debug_assert!(at >= self.carry, "a position in the carried line");
        (self.start + at).saturating_sub(self.carry)
    }

    /// The stream offset of text position `at`, for a chunk at stream offset `consumed`.
    #[inline(always)]
    fn offset_of(&self, at: usize, consumed: u64) -> u64 {
        (consumed + (self.start + at) as u64).saturating_sub(self.carry as u64)
    }

    /// Leaves nothing to read (the tail, if any, stays) and gives the buffer back, emptied,
    /// into `spare` when no owned event holds it (and it is not one a long carried line grew).
    fn retire(&mut self, spare: &mut String) {
        self.len = 0;
        self.open_tail = false;
        let mut buf = match core::mem::take(&mut self.text) {
            WindowText::Own(buf) => buf,
            WindowText::Shared(text) => match text.into_bytes().try_into_mut() {
                Ok(mut bytes) => {
                    bytes.clear();
                    String::from_utf8(Vec::from(bytes)).unwrap_or_default()
                }
                Err(_) => return,
            },
        };
        // The larger buffer is kept (an empty window has none), up to what a window needs.
        if buf.capacity() > spare.capacity() && buf.capacity() <= TEXT_WINDOW + KEEP_LINE_CAPACITY {
            buf.clear();
            *spare = buf;
        }
    }

    /// Makes the buffer shared, for owned values (the first time: one allocation).
    #[inline(always)]
    fn make_shared(&mut self) {
        if let WindowText::Own(buf) = &mut self.text {
            let buf = core::mem::take(buf);
            self.text = WindowText::Shared(ByteString::from(buf));
        }
    }

    /// Where reading goes on in the text: at its start when it begins with a carried line
    /// not read yet (`from_carry`), else at chunk position `pos` when that is inside it.
    #[inline(always)]
    fn read_at(&self, pos: usize, from_carry: bool) -> Option<usize> {
        if from_carry {
            return (self.len > 0).then_some(0);
        }
        self.at(pos)
    }

    /// Where chunk position `pos` is in the text, when inside it.
    #[inline(always)]
    fn at(&self, pos: usize) -> Option<usize> {
        pos.checked_sub(self.start)
            .map(|at| at + self.carry)
            .filter(|&at| at < self.len)
    }

    #[inline(always)]
    fn text(&self) -> &str {
        match &self.text {
            WindowText::Own(buf) => buf,
            WindowText::Shared(text) => text,
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.text().as_bytes()
    }

    #[inline(always)]
    fn str(&self, (from, to): (usize, usize)) -> &str {
        self.text().get(from..to).unwrap_or_default()
    }

    /// Where the line that ends at `end` (an LF or a CR) is followed by the next (possibly
    /// just past the text), and whether that CR ends the chunk: an LF first thing in the next
    /// chunk then belongs to it.
    #[inline(always)]
    fn after_line_end(&self, end: usize) -> (usize, bool) {
        let bytes = self.bytes();
        match bytes[end] {
            b'\r' => match bytes.get(end + 1).copied().or(self.next_byte) {
                Some(b'\n') => (end + 2, false),
                Some(_) => (end + 1, false),
                None => (end + 1, true),
            },
            _ => (end + 1, false),
        }
    }

    /// Where the line after a line end at `end` starts, when `end` is a line end inside the
    /// text and the next line starts inside it too.
    #[inline(always)]
    fn line_end_at(&self, end: usize) -> Option<usize> {
        let bytes = self.bytes();
        match (bytes.get(end)?, bytes.get(end + 1)) {
            (b'\n', _) => Some(end + 1),
            (b'\r', Some(b'\n')) => Some(end + 2),
            (b'\r', Some(_)) => Some(end + 1),
            _ => None,
        }
    }

    /// The range as a string that shares the window's buffer ([`make_shared`] first; else a
    /// copy).
    ///
    /// [`make_shared`]: Self::make_shared
    #[inline(always)]
    fn share(&self, span: (usize, usize)) -> ByteString {
        match &self.text {
            WindowText::Shared(text) => text.slice_ref(self.str(span)),
            WindowText::Own(_) => ByteString::from(self.str(span)),
        }
    }
}

/// The value of a field: where it lies decides how it is kept.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// `window.text[from..to]`: valid, kept as a range of the window.
    Window(&'a Window, usize, usize),
    /// Bytes of a line outside any window (across chunks, or with invalid UTF-8): decoded
    /// lossily into a buffer (strict mode has rejected invalid input before).
    Raw(&'a [u8]),
}

impl Value<'_> {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        match *self {
            Self::Window(window, from, to) => &window.bytes()[from..to],
            Self::Raw(bytes) => bytes,
        }
    }

    /// The value as a string of its own: a slice of `chunk` (the chunk the window is of), or
    /// a decoded copy. It shares neither the window's buffer (which then could not be
    /// reclaimed) nor a buffer of the decoder's.
    fn detached(&self, chunk: &Bytes) -> ByteString {
        if let Self::Window(window, from, to) = *self
            && let Some(from) = (window.start + from).checked_sub(window.carry)
            && let Some(bytes) = chunk.get(from..(window.start + to).saturating_sub(window.carry))
            && let Ok(text) = ByteString::try_from(chunk.slice_ref(bytes))
        {
            return text;
        }
        let mut text = String::new();
        push_lossy(&mut text, self.bytes());
        ByteString::from(text)
    }
}

/// Where a line is, for the field interpreter.
#[derive(Clone, Copy)]
enum Src {
    /// The line starts at this position of the window's text.
    Window(usize),
    /// The line is outside any window.
    Raw,
}

/// Where the line splitter stands between chunks.
#[derive(Debug)]
struct LineState {
    /// Bytes of a line that started in an earlier chunk.
    partial: BytesMut,
    /// The line that started in an earlier chunk is the window's tail instead (valid, and
    /// within the line limit).
    in_tail: bool,
    /// The front chunk, from the read position, was found to hold no window for the partial
    /// line (when the tail was carried into it): read it with the line reader.
    no_window: bool,
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

/// The event names seen last, the latest first, so that an `event` line that repeats one is
/// compared rather than searched, and an owned event's type is the remembered string.
#[derive(Debug, Default)]
struct Names {
    /// Unused entries are empty and at the end. Names of up to 23 bytes are inline.
    recent: [SmolStr; RECENT_NAMES],
    /// `event: ` and the name, as the quick path compares them (in two loads of 16 bytes),
    /// when that fits [`EVENT_LINE_KEY`] bytes; else nothing (length 0).
    lines: [[u8; EVENT_LINE_KEY]; RECENT_NAMES],
    line_lens: [u8; RECENT_NAMES],
}

/// The longest `event` line the quick path compares whole.
const EVENT_LINE_KEY: usize = 32;

impl Names {
    /// The entry whose `event: ` line `text` starts with, and that line's length (without its
    /// line end).
    #[inline(always)]
    fn line_prefix_of(&self, text: &[u8]) -> Option<(usize, usize)> {
        for i in 0..RECENT_NAMES {
            let len = usize::from(self.line_lens[i]);
            if len > 0 && starts_with_short(text, &self.lines[i][..len]) {
                return Some((i, len));
            }
        }
        None
    }

    /// The entry spelt `value`.
    fn find(&self, value: &[u8]) -> Option<usize> {
        self.recent
            .iter()
            .take_while(|name| !name.is_empty())
            .position(|name| name.as_str().as_bytes() == value)
    }

    /// Makes entry `i` the latest; it is then entry 0.
    #[inline(always)]
    fn promote(&mut self, i: usize) {
        if i > 0 {
            self.recent[..=i].rotate_right(1);
            self.lines[..=i].rotate_right(1);
            self.line_lens[..=i].rotate_right(1);
        }
    }

    /// Remembers a new name as the latest, forgetting the oldest; it is then entry 0.
    fn remember(&mut self, name: SmolStr) {
        self.recent.rotate_right(1);
        self.lines.rotate_right(1);
        self.line_lens.rotate_right(1);
        let line = [b"event: ", name.as_str().as_bytes()];
        let len = line[0].len() + line[1].len();
        self.line_lens[0] = 0;
        if len <= EVENT_LINE_KEY {
            let key = &mut self.lines[0];
            key[..line[0].len()].copy_from_slice(line[0]);
            key[line[0].len()..len].copy_from_slice(line[1]);
            self.line_lens[0] = u8::try_from(len).unwrap_or(0);
        }
        self.recent[0] = name;
    }

    #[inline(always)]
    fn get(&self, i: usize) -> &SmolStr {
        &self.recent[i]
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
#[derive(Debug, Default)]
enum Slot {
    /// No line set it.
    #[default]
    Empty,
    /// A range of the window's text.
    Window(usize, usize),
    /// In the field's buffer.
    Buf,
    /// A remembered event name ([`Names`]); for the type only.
    Name(usize),
}

impl Field {
    #[inline(always)]
    fn is_set(&self) -> bool {
        !matches!(self.slot, Slot::Empty)
    }

    #[inline(always)]
    fn as_str<'a>(&'a self, window: &'a Window, names: &'a Names) -> &'a str {
        match &self.slot {
            Slot::Empty => "",
            Slot::Window(from, to) => window.str((*from, *to)),
            Slot::Buf => &self.buf,
            Slot::Name(i) => names.get(*i).as_str(),
        }
    }

    /// Sets the value; returns its length once decoded (invalid UTF-8 outside a window becomes
    /// U+FFFD, three bytes per maximal invalid subpart).
    #[inline(always)]
    fn set(&mut self, value: Value<'_>) -> usize {
        match value {
            Value::Window(_, from, to) => {
                self.slot = Slot::Window(from, to);
                to - from
            }
            Value::Raw(bytes) => {
                self.buf.clear();
                push_lossy(&mut self.buf, bytes);
                self.slot = Slot::Buf;
                self.buf.len()
            }
        }
    }

    /// Appends LF and `value` to a value that is set; returns the length added, decoded.
    fn append_line(&mut self, value: Value<'_>, window: &Window, names: &Names) -> usize {
        self.materialize(window, names);
        let before = self.buf.len();
        self.buf.push('\n');
        match value {
            Value::Window(window, from, to) => self.buf.push_str(window.str((from, to))),
            Value::Raw(bytes) => push_lossy(&mut self.buf, bytes),
        }
        self.buf.len() - before
    }

    /// Copies the value into the buffer, to append to it.
    fn materialize(&mut self, window: &Window, names: &Names) {
        if !matches!(self.slot, Slot::Buf) {
            let mut buf = core::mem::take(&mut self.buf);
            buf.clear();
            buf.push_str(self.as_str(window, names));
            self.buf = buf;
            self.slot = Slot::Buf;
        }
    }

    /// The window is about to go: a value in it is copied into the buffer (so that the
    /// window's buffer can be reclaimed).
    fn unpin(&mut self, window: &Window, names: &Names) {
        if let Slot::Window(..) = self.slot {
            self.materialize(window, names);
        }
    }

    /// Moves the value into `data` (empty): inline when short, else shared with the window or
    /// the buffer itself (moved, not copied). Written in place: the inline bytes are copied
    /// once, straight into the event.
    #[inline(always)]
    fn take_data(&mut self, window: &Window, data: &mut Text) {
        let text = match core::mem::take(&mut self.slot) {
            Slot::Empty | Slot::Name(_) => return,
            Slot::Window(from, to) => {
                if to - from > INLINE_DATA_LEN {
                    data.shared = Some(window.share((from, to)));
                    return;
                }
                window.str((from, to))
            }
            Slot::Buf => {
                if self.buf.len() > INLINE_DATA_LEN {
                    data.shared = Some(ByteString::from(core::mem::take(&mut self.buf)));
                    return;
                }
                &self.buf
            }
        };
        // Fits: checked above.
        let _ = data.inline.try_push_str(text);
    }

    /// The value as an event type: the remembered name itself (a copy of at most 23 bytes,
    /// or a reference count), or a new string.
    #[inline(always)]
    fn take_name(&mut self, window: &Window, names: &Names) -> SmolStr {
        match core::mem::take(&mut self.slot) {
            Slot::Empty => SmolStr::default(),
            Slot::Window(from, to) => SmolStr::new(window.str((from, to))),
            Slot::Buf => SmolStr::new(&self.buf),
            Slot::Name(i) => names.get(i).clone(),
        }
    }

    #[inline(always)]
    fn clear(&mut self) {
        self.slot = Slot::Empty;
        if !self.buf.is_empty() {
            self.buf.clear();
            // A long value grew the buffer, possibly for an earlier line of the block: let
            // it go.
            if self.buf.capacity() > KEEP_LINE_CAPACITY {
                self.buf = String::new();
            }
        }
    }
}

/// The fields of the event being built, and what persists across events.
#[derive(Debug)]
struct EventBuilder {
    /// Finds line ends.
    line_ends: LineEnds,
    data: Field,
    event_type: Field,
    names: Names,
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
    /// The last event ID as of the last blank line (the standard's "last event ID string").
    last_event_id: ByteString,
    /// The value of an `id` field of the current block (the standard's "last event ID buffer",
    /// when it differs): the last event ID once a blank line ends the block.
    block_id: Option<ByteString>,
    reconnection_time: Option<u64>,
    /// An error dropped the current event: ignore lines up to the next blank one.
    skipping_event: bool,
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
            window: Window::default(),
            spare: String::new(),
            from_carry: false,
            lines: LineState {
                partial: BytesMut::new(),
                in_tail: false,
                no_window: false,
                line_start: 0,
                skipping_line: false,
                after_cr: false,
                bom_seen: Some(0),
            },
            builder: EventBuilder {
                line_ends: LineEnds::new(),
                data: Field::default(),
                event_type: Field::default(),
                names: Names::default(),
                type_len: 0,
                size: 0,
                block_retry: None,
                dispatched: false,
                retry: None,
                last_event_id: ByteString::new(),
                block_id: None,
                reconnection_time: None,
                skipping_event: false,
            },
            ended: false,
            done: false,
            cut: false,
        }
    }

    /// The configuration this decoder was built with.
    #[must_use]
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Adds the next chunk of the stream. The chunk is kept (not copied) until it is read.
    /// When everything fed before has been read and it ended inside a line, this already reads
    /// the chunk's first stretch of lines into the decoder's window (validated, copied once),
    /// which the next call to [`next_event_ref`](Self::next_event_ref) or
    /// [`next_event`](Self::next_event) would do anyway; it never returns an event or an error.
    ///
    /// Feeding after [`finish`](Self::finish) is a caller bug: the bytes are ignored (and a
    /// debug build panics).
    pub fn feed(&mut self, chunk: impl Into<Bytes>) {
        debug_assert!(!self.ended, "Decoder::feed called after Decoder::finish");
        if self.ended {
            return;
        }
        let chunk = chunk.into();
        if chunk.is_empty() {
            return;
        }
        self.input.push_back(chunk);
        // The commonest chunk boundary, a line cut by the end of the chunk before: its window
        // is made now, so that the quick path reads on into it without a detour.
        if self.lines.in_tail && self.input.len() == 1 {
            self.carry_tail();
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
    /// the same [last event ID](Self::last_event_id) (so an `id` field of a block that the
    /// connection cut does not count: that event is asked for again) and reconnection time.
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.feed(&b"retry: 500\nid: 7\ndata: seven\n\nid: 8\ndata: cut sh"[..]);
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
        self.builder.block_id = None;
        self.builder.last_event_id = if id.contains('\0') {
            ByteString::new()
        } else {
            ByteString::from(id)
        };
        self
    }

    /// The last event ID: the value of the last valid `id` field of a block that a blank line
    /// has ended (`""` if none), which is what the `EventSource` standard sends as
    /// `Last-Event-ID` when it reconnects, and the ID of the last event dispatched. An `id`
    /// field counts once its block ends: one in a block that the end of the stream cuts never
    /// does (unless [`DecoderConfig::dispatch_incomplete_at_end`] dispatches that block).
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.feed("id: 1\ndata: a\n\nid: 2\ndata: b\n");
    /// assert_eq!(decoder.next_event()?.map(|e| e.id().to_owned()).as_deref(), Some("1"));
    /// assert!(decoder.next_event()?.is_none());
    /// assert_eq!(decoder.last_event_id(), "1"); // event "b" is not complete
    /// decoder.feed("\n");
    /// assert_eq!(decoder.next_event()?.map(|e| e.id().to_owned()).as_deref(), Some("2"));
    /// assert_eq!(decoder.last_event_id(), "2");
    /// # Ok::<(), stream_core::sse::SseError>(())
    /// ```
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

    /// Whether, in the input read so far, an event or a line has begun and not been completed:
    /// a line without its line end, or a block that no blank line has ended yet and that holds
    /// an `event` or `data` field or a valid `id` or `retry` (comments and unknown fields do
    /// not count). Once [`next_event`](Self::next_event) has drained the input at the
    /// end of the stream, this says whether the stream was cut inside one.
    ///
    /// ```
    /// use stream_core::sse::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.feed("data: a\n\n: a comment\n");
    /// assert!(decoder.next_event()?.is_some());
    /// assert!(decoder.next_event()?.is_none());
    /// assert!(!decoder.is_mid_event());
    /// decoder.feed("id: 2\n");
    /// assert!(decoder.next_event()?.is_none());
    /// assert!(decoder.is_mid_event());
    /// decoder.finish();
    /// assert!(decoder.next_event()?.is_none());
    /// assert!(decoder.is_mid_event()); // the stream was cut inside an event
    /// # Ok::<(), stream_core::sse::SseError>(())
    /// ```
    #[must_use]
    pub fn is_mid_event(&self) -> bool {
        self.cut || mid_event(&self.lines, self.from_carry, &self.builder)
    }

    /// Bytes held: unread input plus the partial line and the event being built.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        let unread: usize = self.input.iter().map(Bytes::len).sum::<usize>() - self.pos;
        // The start of a line that earlier chunks began: the window's tail, or already the
        // start of the window (read on `feed`).
        let tail = if self.lines.in_tail {
            self.window.tail.len()
        } else if self.from_carry {
            self.window.carry
        } else {
            0
        };
        unread + self.lines.partial.len() + tail + self.builder.size
    }

    /// The next dispatched event, owned: `Ok(None)` when more input is needed (or, after
    /// [`finish`](Self::finish), when the stream is over), or an error for a line or event
    /// that broke a limit or (in strict mode) was not UTF-8. After an error, call again: the
    /// decoder resumes at the next event.
    ///
    /// The event's data is copied inline into it when it is at most [`INLINE_DATA_LEN`] bytes
    /// (no allocation, no reference count); longer data shares the decoder's validated copy of
    /// the input (a reference count, no copy, no second validation). Its type is the name
    /// remembered from earlier events. To look at each event and move on,
    /// [`next_event_ref`](Self::next_event_ref) is cheaper.
    ///
    /// # Errors
    ///
    /// [`SseError`] as described on each variant.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        if !self.quick_dispatch() && !self.advance()? {
            return Ok(None);
        }
        if let Slot::Window(from, to) = self.builder.data.slot
            && to - from > INLINE_DATA_LEN
        {
            self.window.make_shared();
        }
        let window = &self.window;
        let builder = &mut self.builder;
        builder.dispatched = false;
        // Built where it is returned, then its data written in place: the inline bytes are
        // copied once, into the returned value, rather than built elsewhere and moved.
        let mut event = Ok(Some(Event {
            event_type: builder.event_type.take_name(window, &builder.names),
            data: Text::empty(),
            // An empty ID needs no call through the shared bytes' vtable.
            id: (!builder.last_event_id.is_empty()).then(|| builder.last_event_id.clone()),
            retry: builder.retry.take(),
        }));
        if let Ok(Some(event)) = &mut event {
            builder.data.take_data(window, &mut event.data);
        }
        builder.data.clear();
        builder.event_type.clear();
        event
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
        let window = &self.window;
        let builder = &self.builder;
        Ok(Some(EventRef {
            event_type: builder.event_type.as_str(window, &builder.names),
            data: builder.data.as_str(window, &builder.names),
            id: &builder.last_event_id,
            retry: builder.retry,
        }))
    }

    /// The line the last chunk ended with, held as the window's tail: see [`carry_tail`].
    fn carry_tail(&mut self) {
        let Self {
            input,
            pos,
            window,
            spare,
            from_carry,
            lines,
            builder,
            ..
        } = self;
        if let Some(chunk) = input.front() {
            carry_tail(
                chunk,
                *pos,
                window,
                spare,
                from_carry,
                lines,
                &builder.line_ends,
            );
        }
    }

    /// The steady state, inline in the callers: the pre-check of
    /// [`EventBuilder::quick_block`] at the read position, before [`advance`](Self::advance).
    /// Returns whether it dispatched an event (it is in the builder).
    #[inline(always)]
    fn quick_dispatch(&mut self) -> bool {
        let Self {
            config,
            pos,
            consumed,
            window,
            from_carry,
            lines,
            builder,
            ..
        } = self;
        builder.hand_out();
        // A read position inside the window means that no line is pending: a partial line, a
        // line being skipped and a CR at the end of a chunk all leave it at the chunk's end,
        // and a BOM is matched before the first window.
        if let Some(at) = window.read_at(*pos, *from_carry)
            && let Some(next) = builder.quick_block(window, at, config)
        {
            debug_assert!(lines.is_clean(), "a pending line inside the window");
            *from_carry = false;
            *pos = window.pos_of(next);
            lines.line_start = window.offset_of(next, *consumed);
            return true;
        }
        false
    }

    /// Reads input until an event is dispatched (`Ok(true)`; it is in the builder, to be
    /// handed out) or the input runs out (`Ok(false)`). This is the one line reader: lines in
    /// the window are read by [`EventBuilder::window_lines`], the rest (a BOM, a CR awaiting
    /// its LF, a line across chunks or with invalid UTF-8) here; both hand each line to the
    /// one field interpreter, [`EventBuilder::line`].
    fn advance(&mut self) -> Result<bool, SseError> {
        let Self {
            config,
            input,
            pos,
            consumed,
            window,
            spare,
            from_carry,
            lines,
            builder,
            ended,
            done,
            cut,
        } = self;
        builder.hand_out();
        loop {
            let Some(chunk) = input.front() else {
                if *ended && !*done {
                    *done = true;
                    *cut = mid_event(lines, *from_carry, builder);
                    if core::mem::take(&mut lines.in_tail) {
                        lines.partial.extend_from_slice(window.tail.as_bytes());
                        window.tail.clear();
                    }
                    return builder.end_of_stream(lines, config);
                }
                return Ok(false);
            };
            if *pos >= chunk.len() {
                builder.leave_window(window);
                window.retire(spare);
                window.early_exit = false;
                *consumed += chunk.len() as u64;
                *pos = 0;
                input.pop_front();
                continue;
            }
            if lines.is_clean() {
                if window.read_at(*pos, *from_carry).is_none() {
                    // What follows a window known to end in an open line starts a line that
                    // goes on in a later chunk: keep it without looking at it again.
                    // It is the window's tail, already validated.
                    if window.open_tail
                        && *pos == window.pos_of(window.len)
                        && fits_line(chunk.len() - *pos, lines, config).is_ok()
                    {
                        lines.in_tail = true;
                        *pos = chunk.len();
                        continue;
                    }
                    builder.leave_window(window);
                    window.renew(&[], chunk, *pos, &builder.line_ends, spare);
                }
                if let Some(at) = window.read_at(*pos, *from_carry) {
                    *from_carry = false;
                    let (at, result) =
                        builder.window_lines(window, chunk, at, *consumed, lines, config);
                    *pos = window.pos_of(at);
                    match result {
                        Ok(false) => continue,
                        result => return result,
                    }
                }
            } else if lines.in_tail {
                carry_tail(
                    chunk,
                    *pos,
                    window,
                    spare,
                    from_carry,
                    lines,
                    &builder.line_ends,
                );
                continue;
            } else if !core::mem::take(&mut lines.no_window)
                && !lines.partial.is_empty()
                && !lines.skipping_line
                && builder
                    .line_ends
                    .find(&chunk[*pos..chunk.len().min(*pos + TEXT_WINDOW)])
                    .is_some()
            {
                // A line that earlier chunks began: read with this chunk's lines, in one
                // window, when it ends in it and is valid. (Only then: the line so far is
                // validated and copied into the window, once per line, not once per chunk.)
                builder.leave_window(window);
                window.renew(&lines.partial, chunk, *pos, &builder.line_ends, spare);
                if window.len > 0 {
                    lines.release_partial();
                    *from_carry = true;
                    continue;
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
                    if let Err(err) = fits_line(lines.partial.len() + rest.len(), lines, config) {
                        lines.start_skipping();
                        builder.drop_event();
                        *pos = chunk.len();
                        return Err(err);
                    }
                    lines.partial.extend_from_slice(rest);
                }
                *pos = chunk.len();
                continue;
            };

            // A line ends at `end`; work out where the next one starts.
            let mut next = *pos + end + 1;
            if rest[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => lines.after_cr = true,
                }
            }
            *pos = next;
            if lines.skipping_line {
                lines.skipping_line = false;
                lines.line_start = *consumed + next as u64;
                continue;
            }
            let result = match fits_line(lines.partial.len() + end, lines, config) {
                Err(err) => {
                    lines.release_partial();
                    Err(err)
                }
                Ok(()) if lines.partial.is_empty() => builder.line(
                    &rest[..end],
                    Src::Raw,
                    window,
                    chunk,
                    lines.line_start,
                    config,
                ),
                Ok(()) => {
                    lines.partial.extend_from_slice(&rest[..end]);
                    let result = builder.line(
                        &lines.partial,
                        Src::Raw,
                        window,
                        chunk,
                        lines.line_start,
                        config,
                    );
                    lines.release_partial();
                    result
                }
            };
            lines.line_start = *consumed + next as u64;
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

/// Whether an event or a line has begun and not been completed: see [`Decoder::is_mid_event`].
fn mid_event(lines: &LineState, from_carry: bool, builder: &EventBuilder) -> bool {
    !lines.partial.is_empty()
        || lines.in_tail
        || from_carry
        || lines.skipping_line
        || lines.bom_seen.is_some_and(|seen| seen > 0)
        || (!builder.dispatched
            && (builder.data.is_set()
                || builder.event_type.is_set()
                || builder.block_id.is_some()
                || builder.block_retry.is_some()
                || builder.skipping_event))
}

/// The line the last chunk ended with, held as the window's tail: read with the lines of
/// `chunk` from `pos` on, in one window, when it ends there; else it waits in the partial-line
/// buffer.
fn carry_tail(
    chunk: &Bytes,
    pos: usize,
    window: &mut Window,
    spare: &mut String,
    from_carry: &mut bool,
    lines: &mut LineState,
    line_ends: &LineEnds,
) {
    lines.in_tail = false;
    if window.refill_from_tail(chunk, pos, line_ends, spare) {
        *from_carry = true;
    } else {
        lines.partial.extend_from_slice(window.tail.as_bytes());
        window.tail.clear();
        // A window of this chunk with the partial line would fail the same way.
        lines.no_window = true;
    }
}

/// The line length limit, shared by every path: `Err` when a line of `len` bytes (without
/// its line end) starting at `lines.line_start` is too long.
#[inline(always)]
fn fits_line(len: usize, lines: &LineState, config: &DecoderConfig) -> Result<(), SseError> {
    if !config.line_fits(len) {
        return Err(SseError::LineTooLong {
            limit: config.max_line_len,
            offset: lines.line_start,
        });
    }
    Ok(())
}

impl LineState {
    /// Whether the next line starts in the front chunk with nothing pending: no partial
    /// line, no line being skipped, no CR awaiting its LF, no BOM being matched.
    #[inline(always)]
    fn is_clean(&self) -> bool {
        self.partial.is_empty()
            && !self.in_tail
            && !self.skipping_line
            && !self.after_cr
            && self.bom_seen.is_none()
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
    /// Reads the window's lines from `at` on until an event is dispatched, an error, or the
    /// end of the window. Returns where it stopped and what happened; an error has already
    /// dropped the event.
    fn window_lines(
        &mut self,
        window: &Window,
        chunk: &Bytes,
        mut at: usize,
        consumed: u64,
        lines: &mut LineState,
        config: &DecoderConfig,
    ) -> (usize, Result<bool, SseError>) {
        let text = window.bytes();
        let len = text.len();
        let result = loop {
            if at >= len {
                break Ok(false);
            }
            if let Some(next) = self.quick_block(window, at, config) {
                at = next;
                break Ok(true);
            }
            if let Some(next) = self.quick_event_line(window, at, config) {
                // A block cut by the end of the window: its `event` line was compared.
                at = next;
                continue;
            }
            lines.line_start = window.offset_of(at, consumed);
            if text[at] == b'\n' {
                // A blank line needs no search.
                at += 1;
                if self.dispatch() {
                    break Ok(true);
                }
                continue;
            }
            // The window ends with a line end, so there is one.
            let end = at + self.line_ends.find(&text[at..]).unwrap_or(len - 1 - at);
            let (next, cr_at_chunk_end) = window.after_line_end(end);
            lines.after_cr = cr_at_chunk_end;
            let result = match fits_line(end - at, lines, config) {
                Ok(()) => self.line(
                    &text[at..end],
                    Src::Window(at),
                    window,
                    chunk,
                    lines.line_start,
                    config,
                ),
                Err(err) => Err(err),
            };
            at = next;
            match result {
                Ok(false) => {}
                Ok(true) => break Ok(true),
                Err(err) => {
                    self.drop_event();
                    break Err(err);
                }
            }
        };
        lines.line_start = window.offset_of(at, consumed);
        (at, result)
    }

    /// The commonest block read in one go, while the block has no data yet: an optional
    /// `event: ` line that repeats a remembered name, one `data: ` line and a blank line,
    /// each ending with LF, CRLF or CR, within the limits. Dispatches its event and returns
    /// where the next line starts; for any other shape, returns `None` having changed nothing,
    /// and the line reader reads the block.
    #[inline(always)]
    fn quick_block(&mut self, window: &Window, at: usize, config: &DecoderConfig) -> Option<usize> {
        const EVENT: &[u8] = b"event: ";
        const DATA: &[u8; 6] = b"data: ";
        if self.skipping_event || self.data.is_set() {
            return None;
        }
        let text = window.bytes();
        let mut line = at;
        let mut name = None;
        if text[at] == b'e' {
            let (i, len) = self.names.line_prefix_of(&text[at..])?;
            line = window.line_end_at(at + len)?;
            name = Some((i, len - EVENT.len()));
        }
        let value_start = line + DATA.len();
        // A fixed-size comparison, inline.
        let prefix: &[u8; 6] = text.get(line..value_start)?.try_into().ok()?;
        if prefix != DATA {
            return None;
        }
        let end = value_start + self.line_ends.find(text.get(value_start..)?)?;
        let next = match text.get(end..end + 2) {
            Some(b"\n\n") => end + 2,
            _ => window.line_end_at(window.line_end_at(end)?)?,
        };
        let type_len = name.map_or(self.type_len, |(_, len)| len);
        if !config.line_fits((end - line).max(EVENT.len() + type_len))
            || !config.event_fits(0, type_len + (end - value_start))
        {
            return None;
        }
        if let Some((i, _)) = name {
            self.names.promote(i);
            self.event_type.slot = Slot::Name(0);
        }
        if self.block_id.is_some() {
            self.end_block_id();
        }
        self.data.slot = Slot::Window(value_start, end);
        self.retry = self.block_retry.take();
        self.size = 0;
        self.type_len = 0;
        self.dispatched = true;
        Some(next)
    }

    /// An `event: ` line that repeats a remembered name, as [`quick_block`](Self::quick_block)
    /// compares it, read on its own (when the block goes on past the window): the field
    /// interpreter's work for it, without a search for its end. Returns where the next line
    /// starts; `None`, having changed nothing, for any other line or one that breaks a limit.
    #[inline(always)]
    fn quick_event_line(
        &mut self,
        window: &Window,
        at: usize,
        config: &DecoderConfig,
    ) -> Option<usize> {
        const EVENT: usize = b"event: ".len();
        let text = window.bytes();
        if self.skipping_event || text[at] != b'e' {
            return None;
        }
        let (i, len) = self.names.line_prefix_of(&text[at..])?;
        let next = window.line_end_at(at + len)?;
        let size = self.size - self.type_len;
        if !config.line_fits(len) || !config.event_fits(size, len - EVENT) {
            return None;
        }
        self.names.promote(i);
        self.event_type.slot = Slot::Name(0);
        self.type_len = len - EVENT;
        self.size = size + self.type_len;
        Some(next)
    }

    /// The field interpreter: one complete line (without its line end) starting at stream
    /// offset `offset`. Returns whether it dispatched an event.
    #[inline(always)]
    fn line(
        &mut self,
        line: &[u8],
        src: Src,
        window: &Window,
        chunk: &Bytes,
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
            && matches!(src, Src::Raw)
            && let Err(err) = core::str::from_utf8(line)
        {
            return Err(SseError::InvalidUtf8 {
                offset,
                valid_up_to: err.valid_up_to(),
            });
        }
        // The two fields of nearly every line are matched before looking for the colon.
        let (name, colon) = if line.starts_with(b"data:") {
            (&b"data"[..], 4)
        } else if line.starts_with(b"event:") {
            (&b"event"[..], 5)
        } else {
            match memchr::memchr(b':', line) {
                Some(0) => return Ok(false), // A comment.
                Some(colon) => (&line[..colon], colon),
                None => (line, line.len()),
            }
        };
        let from = match line.get(colon + 1) {
            Some(b' ') => colon + 2,
            _ => (colon + 1).min(line.len()),
        };
        let value = match src {
            Src::Window(at) => Value::Window(window, at + from, at + line.len()),
            Src::Raw => Value::Raw(&line[from..]),
        };
        match name {
            b"data" => {
                let added = if self.data.is_set() {
                    self.data.append_line(value, window, &self.names)
                } else {
                    self.data.set(value)
                };
                self.grow(added, offset, config)?;
            }
            b"event" => self.event_line(value, offset, config)?,
            b"id" if memchr::memchr(0, value.bytes()).is_none() => {
                self.block_id = Some(value.detached(chunk));
            }
            b"retry"
                if !value.bytes().is_empty() && value.bytes().iter().all(u8::is_ascii_digit) =>
            {
                let millis = value.bytes().iter().fold(0u64, |acc, digit| {
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

    /// An `event` field: a remembered name, a name the caller registered, or a new name
    /// (remembered when it is short).
    fn event_line(
        &mut self,
        value: Value<'_>,
        offset: u64,
        config: &DecoderConfig,
    ) -> Result<(), SseError> {
        self.size -= core::mem::take(&mut self.type_len);
        let bytes = value.bytes();
        let len = if let Some(i) = self.names.find(bytes) {
            self.names.promote(i);
            self.event_type.slot = Slot::Name(0);
            bytes.len()
        } else if let Some(name) = config
            .event_types
            .iter()
            .find(|n| !n.is_empty() && n.as_bytes() == bytes)
        {
            self.names.remember(SmolStr::new_static(name));
            self.event_type.slot = Slot::Name(0);
            bytes.len()
        } else if let Some(name) = remembered_name(value) {
            let len = name.len();
            self.names.remember(name);
            self.event_type.slot = Slot::Name(0);
            len
        } else {
            self.event_type.set(value)
        };
        self.grow(len, offset, config)?;
        self.type_len = len;
        Ok(())
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

    /// The window is about to be replaced: values of the event being built that lie in it
    /// are copied out.
    fn leave_window(&mut self, window: &Window) {
        self.data.unpin(window, &self.names);
        self.event_type.unpin(window, &self.names);
    }

    /// Accounts for `added` bytes of event, or reports the event as too large.
    #[inline(always)]
    fn grow(&mut self, added: usize, offset: u64, config: &DecoderConfig) -> Result<(), SseError> {
        if !config.event_fits(self.size, added) {
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
        self.end_block_id();
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

    /// A blank line: an `id` field of the block becomes the last event ID (whether or not the
    /// block dispatches an event).
    #[inline(always)]
    fn end_block_id(&mut self) {
        if let Some(id) = self.block_id.take() {
            self.last_event_id = id;
        }
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
                let (window, chunk) = (Window::default(), Bytes::new());
                result = self.line(
                    &partial,
                    Src::Raw,
                    &window,
                    &chunk,
                    lines.line_start,
                    config,
                );
            }
            if matches!(result, Ok(false)) {
                result = Ok(self.dispatch());
            }
        }
        lines.partial = BytesMut::new();
        lines.skipping_line = false;
        // An `id` of a block that no blank line ended does not count.
        self.block_id = None;
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

/// A new event name as it is remembered: a copy of its own (inline up to 23 bytes, else one
/// small allocation the first time it is seen); `None` for names not worth remembering (empty,
/// long, or with invalid UTF-8).
fn remembered_name(value: Value<'_>) -> Option<SmolStr> {
    let bytes = value.bytes();
    if bytes.is_empty() || bytes.len() > MAX_REMEMBERED_NAME {
        return None;
    }
    match value {
        Value::Window(window, from, to) => Some(SmolStr::new(window.str((from, to)))),
        Value::Raw(bytes) => core::str::from_utf8(bytes).ok().map(SmolStr::new),
    }
}

/// `haystack.starts_with(prefix)` for a short prefix, compared eight or sixteen bytes at a
/// time inline rather than by a call to `memcmp`.
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
    // Two overlapping loads of 16 or 8 bytes cover any prefix from 8 to 32 bytes.
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

/// The carried start of a line (`carry`, bytes of earlier chunks) as text, the character a
/// chunk boundary cut in two (completed from `lines`), and the rest of `lines`; `None` when
/// the carried bytes are not valid UTF-8.
fn carried<'a>(carry: &'a [u8], lines: &'a [u8]) -> Option<(&'a str, Option<char>, &'a [u8])> {
    #[cfg(test)]
    work::validated(carry.len());
    if let Ok(text) = simdutf8::basic::from_utf8(carry) {
        return Some((text, None, lines));
    }
    let valid_up_to = match simdutf8::compat::from_utf8(carry) {
        Ok(text) => return Some((text, None, lines)),
        // Only a character cut at the end is allowed.
        Err(err) if err.error_len().is_none() => err.valid_up_to(),
        Err(_) => return None,
    };
    let (valid, cut) = carry.split_at(valid_up_to);
    let width: usize = match cut.first()? {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    let rest = lines.get(width.checked_sub(cut.len())?..)?;
    let mut bytes = [0u8; 4];
    for (slot, byte) in bytes.iter_mut().zip(cut.iter().chain(lines)).take(width) {
        *slot = *byte;
    }
    let character = core::str::from_utf8(bytes.get(..width)?)
        .ok()?
        .chars()
        .next()?;
    Some((
        simdutf8::basic::from_utf8(valid).ok()?,
        Some(character),
        rest,
    ))
}

/// The longest valid UTF-8 prefix of `bytes` (all of it, normally), found with SIMD: with the
/// fastest check first, or when `early_exit`, with the one that stops at the first invalid
/// byte (the fastest check reads to the end before it fails).
fn valid_prefix(bytes: &[u8], early_exit: bool) -> &str {
    if !early_exit {
        #[cfg(test)]
        work::validated(bytes.len());
        if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
            return text;
        }
    }
    let valid_up_to = match simdutf8::compat::from_utf8(bytes) {
        Ok(text) => {
            #[cfg(test)]
            work::validated(bytes.len());
            return text;
        }
        Err(err) => err.valid_up_to(),
    };
    // The check stops within a block of 64 bytes past the invalid byte; the valid part is
    // checked again to be handed out as text.
    #[cfg(test)]
    work::validated(bytes.len().min(valid_up_to + 64) + valid_up_to);
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

/// Counts the bytes the decoder validates as UTF-8, for the tests that bound its work.
#[cfg(test)]
mod work {
    extern crate std;

    use core::cell::Cell;

    std::thread_local! {
        static VALIDATED: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn validated(bytes: usize) {
        VALIDATED.with(|count| count.set(count.get() + bytes));
    }

    /// The bytes validated on this thread since the last call.
    pub(super) fn take() -> usize {
        VALIDATED.with(Cell::take)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    /// Feeds `chunks` one at a time, reading after each, then ends the stream; returns the
    /// events' data (or the errors' names) and the bytes validated.
    fn decode(config: DecoderConfig, chunks: &[Bytes]) -> (Vec<String>, usize) {
        let _ = work::take();
        let mut decoder = Decoder::with_config(config);
        let mut out = Vec::new();
        let mut drain = |decoder: &mut Decoder| {
            loop {
                match decoder.next_event_ref() {
                    Ok(Some(event)) => out.push(String::from(event.data())),
                    Ok(None) => break,
                    Err(err) => out.push(alloc::format!("{err:?}")),
                }
            }
        };
        for chunk in chunks {
            decoder.feed(chunk.clone());
            drain(&mut decoder);
        }
        decoder.finish();
        drain(&mut decoder);
        (out, work::take())
    }

    /// A line over many chunks without a line end is validated once, when it ends, not again
    /// with every chunk that adds to it.
    #[test]
    fn a_line_over_many_chunks_is_validated_once() {
        let mut chunks = vec![Bytes::from_static(b"data: ")];
        chunks.extend((0..720).map(|_| Bytes::from(vec![b'x'; 1460])));
        chunks.push(Bytes::from_static(b"\n\ndata: after\n\n"));
        let fed: usize = chunks.iter().map(Bytes::len).sum();
        let (events, validated) = decode(DecoderConfig::new(), &chunks);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].len(), 720 * 1460);
        assert_eq!(events[1], "after");
        assert!(
            validated <= 2 * fed,
            "{validated} bytes validated for {fed} fed"
        );
    }

    /// An empty name among the expected event types is ignored: it would hide the names
    /// remembered after it and match every `event` line first.
    #[test]
    fn an_empty_expected_name_is_ignored() {
        let config = DecoderConfig::new().event_types(&["", "tick"]);
        let mut decoder = Decoder::with_config(config);
        decoder.feed("event: tick\ndata: 1\n\nevent:\ndata: 2\n\nevent: tock\ndata: 3\n\n");
        let mut seen = Vec::new();
        while let Some(event) = decoder.next_event_ref().unwrap() {
            seen.push(alloc::format!("{}={}", event.event_type(), event.data()));
        }
        assert_eq!(seen, ["tick=1", "message=2", "tock=3"]);
        let names = &decoder.builder.names;
        assert_eq!(names.find(b"tick"), Some(1));
        assert_eq!(names.find(b"tock"), Some(0));
        assert_eq!(
            names.line_prefix_of(b"event: tick\n").map(|(i, _)| i),
            Some(1)
        );
    }

    /// Lines with invalid UTF-8 do not make the decoder validate the rest of the chunk again for
    /// each of them, in either mode.
    #[test]
    fn lines_with_invalid_utf8_do_not_rescan_the_chunk() {
        let mut wire = Vec::new();
        for _ in 0..4096 {
            wire.extend_from_slice(b"data: caf\xE9\n\ndata: ok\n\n");
        }
        let fed = wire.len();
        // Each line with invalid UTF-8 ends a window, and the next two windows' checks each
        // stop within a 64-byte block past the next invalid byte.
        let bound = 2 * fed + 4096 * 2 * 2 * 64;
        let chunks = [Bytes::from(wire)];
        let (events, validated) = decode(DecoderConfig::new(), &chunks);
        assert_eq!(events.len(), 8192);
        assert_eq!(events[0], "caf\u{FFFD}");
        assert_eq!(events[1], "ok");
        assert!(
            validated <= bound,
            "{validated} bytes validated for {fed} fed"
        );

        let strict = DecoderConfig::new().utf8(Utf8Mode::Strict);
        let (events, validated) = decode(strict, &chunks);
        assert_eq!(events.len(), 8192);
        assert!(events[0].starts_with("InvalidUtf8"), "{}", events[0]);
        assert_eq!(events[1], "ok");
        assert!(
            validated <= bound,
            "{validated} bytes validated for {fed} fed"
        );
    }
}
