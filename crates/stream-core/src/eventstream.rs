//! The AWS event stream encoding (`application/vnd.amazon.eventstream`), in which Amazon
//! Bedrock streams Claude's events: an incremental, bounded [`Decoder`] fed in pieces of any
//! size, the [`Message`] type with its typed headers, an encoder ([`Message::encode`], for tests
//! and the local server), and the mapping of Bedrock's frames to the Messages API's events and
//! errors ([`bedrock`]).
//!
//! A message on the wire:
//!
//! ```text
//! total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (of the 8 bytes before)
//! headers (headers length bytes) | payload | message CRC32 (of every byte before it)
//! ```
//!
//! A header is a name (a length byte, then UTF-8), a type byte and a value: `0` true, `1` false,
//! `2` i8, `3` i16, `4` i32, `5` i64 (big-endian), `6` bytes and `7` a string (a u16 length
//! first), `8` a timestamp (i64 milliseconds), `9` a UUID (16 bytes). Both checksums are CRC32
//! (IEEE).
//!
//! ```
//! use stream_core::eventstream::{Decoder, HeaderValue, Message};
//!
//! let wire = Message::new(r#"{"bytes":"e30="}"#)
//!     .with_header(":message-type", HeaderValue::String("event".into()))
//!     .with_header(":event-type", HeaderValue::String("chunk".into()))
//!     .encode();
//! let mut decoder = Decoder::new();
//! for piece in wire.chunks(7) {
//!     decoder.feed_slice(piece);
//! }
//! let message = decoder.next_message()?.expect("one whole message");
//! assert_eq!(message.event_type(), Some("chunk"));
//! assert_eq!(&message.payload()[..], br#"{"bytes":"e30="}"#);
//! assert!(decoder.next_message()?.is_none());
//! # Ok::<(), stream_core::eventstream::EventStreamError>(())
//! ```
//!
//! # Guarantees
//!
//! * **Chunking does not matter**: any split of the same bytes gives the same messages and
//!   errors.
//! * **Bounded**: a message longer than [`Decoder::max_message_len`] is refused from its prelude,
//!   before any of it is buffered. A message's payload is a slice of the input chunk when the
//!   message lies in one chunk; else the message is assembled once in a buffer.
//! * **Typed errors, all the peer's**: a bad length, a bad checksum or a bad header is an
//!   [`EventStreamError`]. The framing gives no way to find the next message after one of
//!   them, so the decoder stops: every later call returns the same error.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub mod bedrock;

/// The prelude: total length, headers length, their CRC32.
const PRELUDE_LEN: usize = 12;
/// The prelude and the message CRC32: the size of a message with no headers and no payload.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;
/// The default for [`Decoder::max_message_len`]: the largest message AWS sends (a 16 MiB
/// payload and 128 KiB of headers) and its framing.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024 + 128 * 1024 + MIN_MESSAGE_LEN;

/// A header's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderValue {
    /// Type 0 (true) or 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Int16(i16),
    /// Type 4.
    Int32(i32),
    /// Type 5.
    Int64(i64),
    /// Type 6.
    ByteArray(Bytes),
    /// Type 7.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid(u128),
}

impl HeaderValue {
    /// The value when it is a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }
}

/// One header of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The name (1 to 255 bytes of UTF-8).
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

/// One message of an event stream: its headers, in order, and its payload.
///
/// ```
/// use stream_core::eventstream::{HeaderValue, Message};
///
/// let message = Message::new("{}").with_header(":message-type", HeaderValue::String("event".into()));
/// assert_eq!(message.message_type(), Some("event"));
/// assert_eq!(message.headers().len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    headers: Vec<Header>,
    payload: Bytes,
}

impl Message {
    /// A message with this payload and no headers.
    #[must_use]
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// Adds a header (builder style).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: HeaderValue) -> Self {
        self.headers.push(Header {
            name: name.into(),
            value,
        });
        self
    }

    /// The headers, in the order they came.
    #[must_use]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The value of the first header with this name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|header| header.name == name)
            .map(|header| &header.value)
    }

    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The `:message-type` header: `event`, `exception` or `error`.
    #[must_use]
    pub fn message_type(&self) -> Option<&str> {
        self.header(":message-type").and_then(HeaderValue::as_str)
    }

    /// The `:event-type` header of an event (Bedrock: `chunk`).
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.header(":event-type").and_then(HeaderValue::as_str)
    }

    /// The `:exception-type` header of an exception (Bedrock: `throttlingException`, ...).
    #[must_use]
    pub fn exception_type(&self) -> Option<&str> {
        self.header(":exception-type").and_then(HeaderValue::as_str)
    }

    /// The message on the wire.
    ///
    /// # Panics
    ///
    /// When a header name is empty or longer than 255 bytes, a byte array or string value is
    /// longer than 65,535 bytes, or the message is longer than `u32::MAX` bytes: messages this
    /// encoding cannot carry (the caller's bug).
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut headers = BytesMut::new();
        for header in &self.headers {
            let name = header.name.as_bytes();
            let name_len = u8::try_from(name.len()).expect("a header name of at most 255 bytes");
            assert!(name_len > 0, "a header name of at least one byte");
            headers.put_u8(name_len);
            headers.put_slice(name);
            match &header.value {
                HeaderValue::Bool(true) => headers.put_u8(0),
                HeaderValue::Bool(false) => headers.put_u8(1),
                HeaderValue::Byte(value) => {
                    headers.put_u8(2);
                    headers.put_i8(*value);
                }
                HeaderValue::Int16(value) => {
                    headers.put_u8(3);
                    headers.put_i16(*value);
                }
                HeaderValue::Int32(value) => {
                    headers.put_u8(4);
                    headers.put_i32(*value);
                }
                HeaderValue::Int64(value) => {
                    headers.put_u8(5);
                    headers.put_i64(*value);
                }
                HeaderValue::ByteArray(bytes) => {
                    headers.put_u8(6);
                    put_short_bytes(&mut headers, bytes);
                }
                HeaderValue::String(text) => {
                    headers.put_u8(7);
                    put_short_bytes(&mut headers, text.as_bytes());
                }
                HeaderValue::Timestamp(millis) => {
                    headers.put_u8(8);
                    headers.put_i64(*millis);
                }
                HeaderValue::Uuid(uuid) => {
                    headers.put_u8(9);
                    headers.put_u128(*uuid);
                }
            }
        }
        let total = MIN_MESSAGE_LEN + headers.len() + self.payload.len();
        let mut out = BytesMut::with_capacity(total);
        out.put_u32(u32::try_from(total).expect("a message of at most 4 GiB"));
        out.put_u32(u32::try_from(headers.len()).expect("headers of at most 4 GiB"));
        out.put_u32(crc32(&out[..8]));
        out.put_slice(&headers);
        out.put_slice(&self.payload);
        let crc = crc32(&out);
        out.put_u32(crc);
        out.freeze()
    }
}

fn put_short_bytes(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u16(u16::try_from(bytes.len()).expect("a header value of at most 65,535 bytes"));
    out.put_slice(bytes);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// Why the decoder refused the stream. The peer is to blame for every variant; the offsets
/// are of the first byte of the message in the stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventStreamError {
    /// The prelude's CRC32 does not match its first eight bytes.
    PreludeChecksum {
        /// The stream offset of the message.
        offset: u64,
        /// The checksum the prelude carries.
        expected: u32,
        /// The checksum of its bytes.
        computed: u32,
    },
    /// The message's CRC32 does not match its bytes.
    MessageChecksum {
        /// The stream offset of the message.
        offset: u64,
        /// The checksum the message carries.
        expected: u32,
        /// The checksum of its bytes.
        computed: u32,
    },
    /// The total length is shorter than a message can be, or the headers do not fit in it.
    InvalidLength {
        /// The stream offset of the message.
        offset: u64,
        /// The total length the prelude gives.
        total_len: u32,
        /// The headers length the prelude gives.
        headers_len: u32,
    },
    /// The message is longer than [`Decoder::max_message_len`].
    MessageTooLarge {
        /// The stream offset of the message.
        offset: u64,
        /// The total length the prelude gives.
        total_len: u32,
        /// The limit.
        limit: usize,
    },
    /// A header is cut short, has an unknown type, an empty name, or a name or string that is
    /// not UTF-8.
    InvalidHeader {
        /// The stream offset of the message.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The stream ended inside a message.
    Truncated {
        /// The stream offset of the message.
        offset: u64,
        /// The bytes of it that came.
        received: usize,
    },
}

impl EventStreamError {
    /// The stream offset of the message the error is about.
    #[must_use]
    pub const fn offset(&self) -> u64 {
        match self {
            Self::PreludeChecksum { offset, .. }
            | Self::MessageChecksum { offset, .. }
            | Self::InvalidLength { offset, .. }
            | Self::MessageTooLarge { offset, .. }
            | Self::InvalidHeader { offset, .. }
            | Self::Truncated { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for EventStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PreludeChecksum {
                offset,
                expected,
                computed,
            } => write!(
                f,
                "event stream message at byte {offset}: prelude checksum {computed:#010x}, \
                 expected {expected:#010x}"
            ),
            Self::MessageChecksum {
                offset,
                expected,
                computed,
            } => write!(
                f,
                "event stream message at byte {offset}: message checksum {computed:#010x}, \
                 expected {expected:#010x}"
            ),
            Self::InvalidLength {
                offset,
                total_len,
                headers_len,
            } => write!(
                f,
                "event stream message at byte {offset}: a total length of {total_len} cannot \
                 hold {headers_len} bytes of headers"
            ),
            Self::MessageTooLarge {
                offset,
                total_len,
                limit,
            } => write!(
                f,
                "event stream message at byte {offset} is {total_len} bytes, over the limit of \
                 {limit}"
            ),
            Self::InvalidHeader { offset, reason } => {
                write!(f, "event stream message at byte {offset}: {reason}")
            }
            Self::Truncated { offset, received } => write!(
                f,
                "the event stream ended inside the message at byte {offset} ({received} bytes \
                 of it came)"
            ),
        }
    }
}

impl core::error::Error for EventStreamError {}

/// The incremental event stream decoder: [`feed`](Self::feed) chunks, drain
/// [`next_message`](Self::next_message) until `Ok(None)`, [`finish`](Self::finish) at the end
/// of the stream and drain once more. See the [module docs](self).
#[derive(Debug)]
pub struct Decoder {
    max_message_len: usize,
    /// Chunks fed and not yet read; the front one from `pos`.
    input: VecDeque<Bytes>,
    pos: usize,
    /// Bytes of `input` not yet read.
    unread: usize,
    /// Stream offset of the next message.
    offset: u64,
    ended: bool,
    failed: Option<EventStreamError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default limit ([`DEFAULT_MAX_MESSAGE_LEN`]).
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_message_len(DEFAULT_MAX_MESSAGE_LEN)
    }

    /// A decoder that refuses messages longer than `bytes`.
    ///
    /// ```
    /// use stream_core::eventstream::{Decoder, EventStreamError, Message};
    ///
    /// let mut decoder = Decoder::with_max_message_len(64);
    /// decoder.feed(Message::new(vec![b'x'; 100]).encode());
    /// assert!(matches!(decoder.next_message(), Err(EventStreamError::MessageTooLarge { .. })));
    /// ```
    #[must_use]
    pub fn with_max_message_len(bytes: usize) -> Self {
        Self {
            max_message_len: bytes,
            input: VecDeque::new(),
            pos: 0,
            unread: 0,
            offset: 0,
            ended: false,
            failed: None,
        }
    }

    /// The longest message accepted, in bytes (framing included).
    #[must_use]
    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Adds the next chunk of the stream (kept, not copied, until read).
    pub fn feed(&mut self, chunk: impl Into<Bytes>) {
        let chunk = chunk.into();
        if !chunk.is_empty() && !self.ended {
            self.unread += chunk.len();
            self.input.push_back(chunk);
        }
    }

    /// Adds the next chunk of the stream by copying it.
    pub fn feed_slice(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() {
            self.feed(Bytes::copy_from_slice(chunk));
        }
    }

    /// Marks the end of the stream: a message cut short is then
    /// [`EventStreamError::Truncated`].
    pub fn finish(&mut self) {
        self.ended = true;
    }

    /// Bytes fed and not yet read as messages.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        self.unread
    }

    /// Whether part of a message has come and not all of it.
    #[must_use]
    pub fn is_mid_message(&self) -> bool {
        self.unread > 0
    }

    /// The next message: `Ok(None)` when more input is needed (or, after
    /// [`finish`](Self::finish), at the clean end of the stream).
    ///
    /// # Errors
    ///
    /// [`EventStreamError`] for a message that breaks the framing; the decoder then stops, and
    /// every later call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<Message>, EventStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.read_message() {
            Ok(message) => Ok(message),
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    fn read_message(&mut self) -> Result<Option<Message>, EventStreamError> {
        let offset = self.offset;
        if self.unread < PRELUDE_LEN {
            return self.need_more(offset);
        }
        let prelude = self.peek::<PRELUDE_LEN>();
        let total_len = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]);
        let headers_len = u32::from_be_bytes([prelude[4], prelude[5], prelude[6], prelude[7]]);
        let expected = u32::from_be_bytes([prelude[8], prelude[9], prelude[10], prelude[11]]);
        let computed = crc32(&prelude[..8]);
        if computed != expected {
            return Err(EventStreamError::PreludeChecksum {
                offset,
                expected,
                computed,
            });
        }
        let total = total_len as usize;
        if total < MIN_MESSAGE_LEN || headers_len as usize > total - MIN_MESSAGE_LEN {
            return Err(EventStreamError::InvalidLength {
                offset,
                total_len,
                headers_len,
            });
        }
        if total > self.max_message_len {
            return Err(EventStreamError::MessageTooLarge {
                offset,
                total_len,
                limit: self.max_message_len,
            });
        }
        if self.unread < total {
            return self.need_more(offset);
        }
        let bytes = self.take(total);
        self.offset += total as u64;
        let (body, crc) = bytes.split_at(total - 4);
        let expected = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32(body);
        if computed != expected {
            return Err(EventStreamError::MessageChecksum {
                offset,
                expected,
                computed,
            });
        }
        let headers_end = PRELUDE_LEN + headers_len as usize;
        let headers = parse_headers(&bytes.slice(PRELUDE_LEN..headers_end))
            .map_err(|reason| EventStreamError::InvalidHeader { offset, reason })?;
        Ok(Some(Message {
            headers,
            payload: bytes.slice(headers_end..total - 4),
        }))
    }

    fn need_more(&self, offset: u64) -> Result<Option<Message>, EventStreamError> {
        if self.ended && self.unread > 0 {
            return Err(EventStreamError::Truncated {
                offset,
                received: self.unread,
            });
        }
        Ok(None)
    }

    /// The first `N` unread bytes (there are at least `N`).
    fn peek<const N: usize>(&self) -> [u8; N] {
        let mut out = [0; N];
        let mut filled = 0;
        let mut skip = self.pos;
        for chunk in &self.input {
            let part = &chunk[skip..];
            skip = 0;
            let n = part.len().min(N - filled);
            out[filled..filled + n].copy_from_slice(&part[..n]);
            filled += n;
            if filled == N {
                break;
            }
        }
        out
    }

    /// The next `len` unread bytes (there are at least `len`): a slice of the front chunk when
    /// they lie in it, else a copy.
    fn take(&mut self, len: usize) -> Bytes {
        self.unread -= len;
        if let Some(front) = self.input.front()
            && front.len() - self.pos >= len
        {
            let bytes = front.slice(self.pos..self.pos + len);
            self.pos += len;
            if self.pos == front.len() {
                self.input.pop_front();
                self.pos = 0;
            }
            return bytes;
        }
        let mut out = BytesMut::with_capacity(len);
        while out.len() < len {
            let Some(front) = self.input.front_mut() else {
                break;
            };
            let part = &front[self.pos..];
            let n = part.len().min(len - out.len());
            out.put_slice(&part[..n]);
            self.pos += n;
            if self.pos == front.len() {
                self.input.pop_front();
                self.pos = 0;
            }
        }
        out.freeze()
    }
}

/// The headers of a message.
fn parse_headers(mut bytes: &[u8]) -> Result<Vec<Header>, &'static str> {
    let mut headers = Vec::new();
    while bytes.has_remaining() {
        let name_len = usize::from(bytes.get_u8());
        if name_len == 0 {
            return Err("a header with an empty name");
        }
        let name = take(&mut bytes, name_len).ok_or("a header name cut short")?;
        let name = core::str::from_utf8(name)
            .map_err(|_| "a header name that is not UTF-8")?
            .to_string();
        if !bytes.has_remaining() {
            return Err("a header without a value type");
        }
        let value = match bytes.get_u8() {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed(&mut bytes)?)),
            3 => HeaderValue::Int16(i16::from_be_bytes(fixed(&mut bytes)?)),
            4 => HeaderValue::Int32(i32::from_be_bytes(fixed(&mut bytes)?)),
            5 => HeaderValue::Int64(i64::from_be_bytes(fixed(&mut bytes)?)),
            6 => HeaderValue::ByteArray(Bytes::copy_from_slice(short_bytes(&mut bytes)?)),
            7 => HeaderValue::String(
                core::str::from_utf8(short_bytes(&mut bytes)?)
                    .map_err(|_| "a string header that is not UTF-8")?
                    .to_string(),
            ),
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(&mut bytes)?)),
            9 => HeaderValue::Uuid(u128::from_be_bytes(fixed(&mut bytes)?)),
            _ => return Err("a header of an unknown type"),
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(len)?;
    *bytes = rest;
    Some(head)
}

fn fixed<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], &'static str> {
    take(bytes, N)
        .and_then(|head| head.try_into().ok())
        .ok_or("a header value cut short")
}

fn short_bytes<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], &'static str> {
    let len = u16::from_be_bytes(fixed(bytes)?);
    take(bytes, usize::from(len)).ok_or("a header value cut short")
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::{Decoder, EventStreamError, HeaderValue, Message};

    fn sample() -> Message {
        Message::new(&b"{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"}"[..])
            .with_header(":message-type", HeaderValue::String("event".into()))
            .with_header(":event-type", HeaderValue::String("chunk".into()))
            .with_header("flag", HeaderValue::Bool(false))
            .with_header("n", HeaderValue::Int64(-7))
            .with_header("id", HeaderValue::Uuid(42))
    }

    #[test]
    fn a_message_round_trips_at_every_split() {
        let wire = [sample().encode(), sample().encode()].concat();
        for split in 0..=wire.len() {
            let mut decoder = Decoder::new();
            decoder.feed_slice(&wire[..split]);
            let mut got = Vec::new();
            while let Some(message) = decoder.next_message().unwrap() {
                got.push(message);
            }
            decoder.feed_slice(&wire[split..]);
            decoder.finish();
            while let Some(message) = decoder.next_message().unwrap() {
                got.push(message);
            }
            assert_eq!(got, [sample(), sample()], "split at {split}");
        }
    }

    #[test]
    fn each_corruption_is_a_typed_error_that_stays() {
        let wire = sample().encode();
        type Expected = fn(&EventStreamError) -> bool;
        let cases: [(usize, Expected); 3] = [
            (9, |e| matches!(e, EventStreamError::PreludeChecksum { .. })),
            (20, |e| {
                matches!(e, EventStreamError::MessageChecksum { .. })
            }),
            (wire.len() - 1, |e| {
                matches!(e, EventStreamError::MessageChecksum { .. })
            }),
        ];
        for (at, expected) in cases {
            let mut bad = wire.to_vec();
            bad[at] ^= 0x40;
            let mut decoder = Decoder::new();
            decoder.feed(bad);
            let err = decoder.next_message().unwrap_err();
            assert!(expected(&err), "byte {at}: {err}");
            assert_eq!(decoder.next_message().unwrap_err(), err, "the error stays");
        }
        let mut decoder = Decoder::new();
        decoder.feed(wire.slice(..wire.len() - 3));
        assert_eq!(decoder.next_message(), Ok(None));
        decoder.finish();
        assert!(matches!(
            decoder.next_message(),
            Err(EventStreamError::Truncated { offset: 0, .. })
        ));
    }
}
