//! An incremental parser for JSON that arrives in pieces, with a live partial value.
//!
//! A tool call's `input` streams as `input_json_delta` fragments that only form JSON once all
//! have arrived. The official SDKs re-parse the whole buffer after every fragment, which is
//! quadratic. [`PartialJson`] parses each byte once, as it arrives, and updates one
//! [`serde_json::Value`] tree in place, so the snapshot after every fragment costs amortised
//! O(1) per input byte and is available by reference.
//!
//! # What the snapshot shows
//!
//! It never takes back what an earlier snapshot showed (the one exception: a duplicate object
//! key replaces the earlier value, as in `serde_json`'s final value).
//!
//! * Objects and arrays appear as soon as they open, and grow.
//! * An object key appears once its value has started to appear.
//! * A string value appears when its closing quote arrives; with
//!   [`PartialJson::with_partial_strings`] it appears at its opening quote and grows.
//! * A number appears once something ends it (`,`, `]`, `}`, whitespace, or
//!   [`finish`](PartialJson::finish)), because `12` may become `123`.
//! * `true`, `false` and `null` appear once complete.
//! * Before any value has started, the snapshot is `null`.
//!
//! [`finish`](PartialJson::finish) gives the exact value: for valid JSON it equals
//! `serde_json::from_str` of the whole input (numbers are converted by `serde_json` itself, and
//! nesting is limited to `serde_json`'s depth), and invalid JSON is a typed error.
//!
//! ```
//! use stream_core::partial_json::PartialJson;
//!
//! let mut parser = PartialJson::new();
//! parser.push(r#"{"city": "Par"#)?;
//! assert_eq!(parser.snapshot(), &serde_json::json!({}));
//! parser.push(r#"is", "days": [1, 2"#)?;
//! assert_eq!(parser.snapshot(), &serde_json::json!({"city": "Paris", "days": [1]}));
//! parser.push("]}")?;
//! assert_eq!(parser.finish()?, serde_json::json!({"city": "Paris", "days": [1, 2]}));
//! # Ok::<(), stream_core::partial_json::PartialJsonError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value};

/// The deepest nesting accepted: the same as `serde_json`'s default recursion limit (127 nested
/// arrays or objects parse, 128 do not).
pub const DEFAULT_MAX_DEPTH: usize = 127;

/// Why the input is not valid JSON. The peer is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartialJsonError {
    kind: ErrorKind,
    offset: usize,
}

/// What was wrong, for [`PartialJsonError::kind`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A character that cannot come here.
    Unexpected {
        /// The character.
        found: char,
        /// What could have come instead.
        expected: &'static str,
    },
    /// A backslash escape that JSON does not have.
    InvalidEscape,
    /// A `\u` escape that is not four hex digits or is a lone surrogate.
    InvalidUnicodeEscape,
    /// A raw control character (U+0000 to U+001F) inside a string.
    ControlCharacter,
    /// A number that is malformed or out of range.
    InvalidNumber,
    /// Nesting deeper than the limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Something other than whitespace after the value.
    TrailingCharacters,
    /// The input ended inside the value ([`PartialJson::finish`] only).
    UnexpectedEnd,
    /// No value at all ([`PartialJson::finish`] only).
    Empty,
}

impl PartialJsonError {
    /// What was wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The byte offset in the whole input where it went wrong.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for PartialJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Unexpected { found, expected } => {
                write!(f, "unexpected {found:?}, expected {expected}")?;
            }
            ErrorKind::InvalidEscape => f.write_str("invalid escape in a string")?,
            ErrorKind::InvalidUnicodeEscape => f.write_str("invalid \\u escape in a string")?,
            ErrorKind::ControlCharacter => f.write_str("control character in a string")?,
            ErrorKind::InvalidNumber => f.write_str("invalid number")?,
            ErrorKind::TooDeep { limit } => write!(f, "nested deeper than {limit} levels")?,
            ErrorKind::TrailingCharacters => f.write_str("characters after the value")?,
            ErrorKind::UnexpectedEnd => f.write_str("the input ended inside the value")?,
            ErrorKind::Empty => f.write_str("no value")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl core::error::Error for PartialJsonError {}

/// Where the parser stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A value must come (top level, after `:`, after `,` in an array).
    Value,
    /// Just after `[`: a value or `]`.
    FirstElement,
    /// Just after `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the closing bracket (or the end, at top level).
    AfterValue,
    /// Inside a string (a key, or a value).
    Str { key: bool },
    /// Inside a number.
    Num,
    /// Inside `true`, `false` or `null`.
    Literal { word: &'static str, matched: usize },
    /// The top-level value is complete: only whitespace may follow.
    End,
}

/// Where a string escape stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After `\`.
    Backslash,
    /// Inside `\uXXXX`: digits read so far and their value; `high` is a pending high surrogate.
    Unicode {
        digits: u8,
        value: u32,
        high: Option<u32>,
    },
    /// After a high surrogate escape: `\` must follow.
    NeedLowBackslash {
        high: u32,
    },
    /// After a high surrogate escape and `\`: `u` must follow.
    NeedLowU {
        high: u32,
    },
}

/// An open array or object.
#[derive(Debug)]
struct Frame {
    object: bool,
    /// In an object: the key of the value being parsed or open.
    key: Option<String>,
}

/// The incremental parser. See the [module docs](self).
#[derive(Debug)]
pub struct PartialJson {
    raw: String,
    root: Value,
    stack: Vec<Frame>,
    state: State,
    escape: Escape,
    /// The string being read (in partial-strings mode, a value string lives in the tree).
    text: String,
    /// The number being read.
    number: String,
    partial_strings: bool,
    max_depth: usize,
    error: Option<PartialJsonError>,
}

impl Default for PartialJson {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialJson {
    /// A parser whose snapshot withholds a string until it is complete.
    #[must_use]
    pub fn new() -> Self {
        Self {
            raw: String::new(),
            root: Value::Null,
            stack: Vec::new(),
            state: State::Value,
            escape: Escape::None,
            text: String::new(),
            number: String::new(),
            partial_strings: false,
            max_depth: DEFAULT_MAX_DEPTH,
            error: None,
        }
    }

    /// A parser whose snapshot shows string values while they arrive.
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::with_partial_strings();
    /// parser.push(r#"{"path": "/tmp/fi"#)?;
    /// assert_eq!(parser.snapshot()["path"], "/tmp/fi");
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn with_partial_strings() -> Self {
        Self {
            partial_strings: true,
            ..Self::new()
        }
    }

    /// Sets the deepest nesting accepted (default [`DEFAULT_MAX_DEPTH`]).
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new().max_depth(2);
    /// assert!(parser.push("[[[]]]").is_err());
    /// ```
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Everything pushed so far, also after an error.
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The value as far as it can be shown (see the [module docs](self)).
    #[must_use]
    pub fn snapshot(&self) -> &Value {
        &self.root
    }

    /// Whether a complete top-level value has been read (a number at the end still counts as
    /// open until [`finish`](Self::finish)).
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.state == State::End && self.error.is_none()
    }

    /// Parses the next fragment.
    ///
    /// # Errors
    ///
    /// [`PartialJsonError`] when the input so far cannot be the start of a JSON value. The
    /// parser then stays failed: later pushes are kept in [`raw`](Self::raw) and return the
    /// same error.
    pub fn push(&mut self, fragment: &str) -> Result<(), PartialJsonError> {
        let start = self.raw.len();
        self.raw.push_str(fragment);
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        self.parse(fragment.as_bytes(), start).inspect_err(|error| {
            self.error = Some(error.clone());
        })
    }

    /// Ends the input and returns the value, which is moved out (the snapshot is `null`
    /// afterwards).
    ///
    /// # Errors
    ///
    /// The first error seen, [`ErrorKind::UnexpectedEnd`] when the value is not complete, or
    /// [`ErrorKind::Empty`] when there was no value.
    pub fn finish(&mut self) -> Result<Value, PartialJsonError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let end = self.raw.len();
        match self.state {
            State::End => {}
            State::Num if self.stack.is_empty() => {
                let value = self.end_number(end)?;
                self.root = value;
                self.state = State::End;
            }
            State::Value if self.stack.is_empty() => {
                return Err(self.fail(ErrorKind::Empty, end));
            }
            _ => return Err(self.fail(ErrorKind::UnexpectedEnd, end)),
        }
        Ok(core::mem::take(&mut self.root))
    }

    fn fail(&mut self, kind: ErrorKind, offset: usize) -> PartialJsonError {
        let error = PartialJsonError { kind, offset };
        self.error = Some(error.clone());
        error
    }

    fn parse(&mut self, bytes: &[u8], base: usize) -> Result<(), PartialJsonError> {
        let error = |kind, at: usize| PartialJsonError {
            kind,
            offset: base + at,
        };
        let unexpected = |at: usize, expected| {
            // The fragment is a `&str` and `at` sits on a character boundary (every state
            // change happens at an ASCII byte or the start of a character).
            let found = core::str::from_utf8(&bytes[at..])
                .ok()
                .and_then(|rest| rest.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            error(ErrorKind::Unexpected { found, expected }, at)
        };
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Str { key } => {
                    if self.escape != Escape::None {
                        self.escape_byte(b, key).map_err(|kind| error(kind, i))?;
                        i += 1;
                        continue;
                    }
                    // A run of plain characters up to the next quote or backslash.
                    let end =
                        memchr::memchr2(b'"', b'\\', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                    if let Some(n) = bytes[i..end].iter().position(|&c| c < 0x20) {
                        return Err(error(ErrorKind::ControlCharacter, i + n));
                    }
                    if end > i {
                        // Both ends are ASCII bytes or the fragment's ends: character
                        // boundaries of a valid `&str`.
                        let run = core::str::from_utf8(&bytes[i..end]).unwrap_or_default();
                        self.append_text(run, key);
                    }
                    i = end;
                    if i == bytes.len() {
                        break;
                    }
                    if bytes[i] == b'"' {
                        self.end_string(key);
                    } else {
                        self.escape = Escape::Backslash;
                    }
                    i += 1;
                }
                State::Num => {
                    if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                        self.number.push(char::from(b));
                        i += 1;
                    } else {
                        let value = self.end_number(base + i)?;
                        self.insert(value);
                        self.after_value();
                    }
                }
                State::Literal { word, matched } => {
                    if word.as_bytes()[matched] != b {
                        return Err(unexpected(i, "the rest of a literal"));
                    }
                    i += 1;
                    if matched + 1 == word.len() {
                        let value = match word {
                            "true" => Value::Bool(true),
                            "false" => Value::Bool(false),
                            _ => Value::Null,
                        };
                        self.insert(value);
                        self.after_value();
                    } else {
                        self.state = State::Literal {
                            word,
                            matched: matched + 1,
                        };
                    }
                }
                _ if matches!(b, b' ' | b'\t' | b'\n' | b'\r') => i += 1,
                State::Value | State::FirstElement => {
                    match b {
                        b']' if self.state == State::FirstElement => self.close(),
                        b'{' | b'[' => {
                            if self.stack.len() >= self.max_depth {
                                return Err(error(
                                    ErrorKind::TooDeep {
                                        limit: self.max_depth,
                                    },
                                    i,
                                ));
                            }
                            let object = b == b'{';
                            self.insert(if object {
                                Value::Object(Map::new())
                            } else {
                                Value::Array(Vec::new())
                            });
                            self.stack.push(Frame { object, key: None });
                            self.state = if object {
                                State::FirstKey
                            } else {
                                State::FirstElement
                            };
                        }
                        b'"' => {
                            self.state = State::Str { key: false };
                            if self.partial_strings {
                                self.insert_keep_key(Value::String(String::new()));
                            }
                        }
                        b'-' | b'0'..=b'9' => {
                            self.number.clear();
                            self.number.push(char::from(b));
                            self.state = State::Num;
                        }
                        b't' => {
                            self.state = State::Literal {
                                word: "true",
                                matched: 1,
                            }
                        }
                        b'f' => {
                            self.state = State::Literal {
                                word: "false",
                                matched: 1,
                            }
                        }
                        b'n' => {
                            self.state = State::Literal {
                                word: "null",
                                matched: 1,
                            }
                        }
                        _ => return Err(unexpected(i, "a value")),
                    }
                    i += 1;
                }
                State::FirstKey | State::Key => {
                    match b {
                        b'}' if self.state == State::FirstKey => self.close(),
                        b'"' => {
                            self.text.clear();
                            self.state = State::Str { key: true };
                        }
                        _ => return Err(unexpected(i, "an object key")),
                    }
                    i += 1;
                }
                State::Colon => {
                    if b != b':' {
                        return Err(unexpected(i, "':'"));
                    }
                    self.state = State::Value;
                    i += 1;
                }
                State::AfterValue => {
                    let object = self.stack.last().is_some_and(|frame| frame.object);
                    match b {
                        b',' => self.state = if object { State::Key } else { State::Value },
                        b'}' if object => self.close(),
                        b']' if !object => self.close(),
                        _ => return Err(unexpected(i, "',' or a closing bracket")),
                    }
                    i += 1;
                }
                State::End => return Err(error(ErrorKind::TrailingCharacters, i)),
            }
        }
        Ok(())
    }

    /// One byte of an escape sequence inside a string.
    fn escape_byte(&mut self, b: u8, key: bool) -> Result<(), ErrorKind> {
        match self.escape {
            Escape::None => {}
            Escape::Backslash => {
                let c = match b {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        self.escape = Escape::Unicode {
                            digits: 0,
                            value: 0,
                            high: None,
                        };
                        return Ok(());
                    }
                    _ => return Err(ErrorKind::InvalidEscape),
                };
                self.escape = Escape::None;
                self.append_text(c.encode_utf8(&mut [0; 4]), key);
            }
            Escape::Unicode {
                digits,
                value,
                high,
            } => {
                let digit = char::from(b)
                    .to_digit(16)
                    .ok_or(ErrorKind::InvalidUnicodeEscape)?;
                let value = value * 16 + digit;
                if digits < 3 {
                    self.escape = Escape::Unicode {
                        digits: digits + 1,
                        value,
                        high,
                    };
                    return Ok(());
                }
                let code = match (high, value) {
                    (None, 0xD800..=0xDBFF) => {
                        self.escape = Escape::NeedLowBackslash { high: value };
                        return Ok(());
                    }
                    (None, 0xDC00..=0xDFFF) => return Err(ErrorKind::InvalidUnicodeEscape),
                    (None, code) => code,
                    (Some(high), 0xDC00..=0xDFFF) => {
                        0x1_0000 + ((high - 0xD800) << 10) + (value - 0xDC00)
                    }
                    (Some(_), _) => return Err(ErrorKind::InvalidUnicodeEscape),
                };
                let c = char::from_u32(code).ok_or(ErrorKind::InvalidUnicodeEscape)?;
                self.escape = Escape::None;
                self.append_text(c.encode_utf8(&mut [0; 4]), key);
            }
            Escape::NeedLowBackslash { high } => {
                if b != b'\\' {
                    return Err(ErrorKind::InvalidUnicodeEscape);
                }
                self.escape = Escape::NeedLowU { high };
            }
            Escape::NeedLowU { high } => {
                if b != b'u' {
                    return Err(ErrorKind::InvalidUnicodeEscape);
                }
                self.escape = Escape::Unicode {
                    digits: 0,
                    value: 0,
                    high: Some(high),
                };
            }
        }
        Ok(())
    }

    /// Appends decoded text to the string being read: to the tree when it is a value string
    /// shown while it grows, else to the side buffer.
    fn append_text(&mut self, text: &str, key: bool) {
        if !key && self.partial_strings {
            if let Some(Value::String(shown)) = self.current_scalar() {
                shown.push_str(text);
            }
        } else {
            self.text.push_str(text);
        }
    }

    fn end_string(&mut self, key: bool) {
        if key {
            let key = core::mem::take(&mut self.text);
            if let Some(frame) = self.stack.last_mut() {
                frame.key = Some(key);
            }
            self.state = State::Colon;
        } else {
            if !self.partial_strings {
                let text = core::mem::take(&mut self.text);
                self.insert(Value::String(text));
            } else if let Some(frame) = self.stack.last_mut() {
                frame.key = None;
            }
            self.after_value();
        }
    }

    fn end_number(&mut self, offset: usize) -> Result<Value, PartialJsonError> {
        // serde_json converts the number itself, so the result is exactly its own.
        match serde_json::from_str::<Value>(&self.number) {
            Ok(value @ Value::Number(_)) => Ok(value),
            _ => Err(self.fail(ErrorKind::InvalidNumber, offset)),
        }
    }

    /// A value is complete: the parent expects a separator, or the top level is done.
    fn after_value(&mut self) {
        self.state = if self.stack.is_empty() {
            State::End
        } else {
            State::AfterValue
        };
    }

    fn close(&mut self) {
        self.stack.pop();
        if let Some(frame) = self.stack.last_mut() {
            frame.key = None;
        }
        self.after_value();
    }

    /// The innermost open container in the tree (the root when nothing is open).
    fn container(&mut self) -> Option<&mut Value> {
        let mut current = &mut self.root;
        let depth = self.stack.len();
        for frame in self.stack.iter().take(depth.saturating_sub(1)) {
            current = match current {
                Value::Array(items) => items.last_mut()?,
                Value::Object(map) => map.get_mut(frame.key.as_deref()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The value under construction in the innermost container (a growing string).
    fn current_scalar(&mut self) -> Option<&mut Value> {
        if self.stack.is_empty() {
            return Some(&mut self.root);
        }
        let key = self.stack.last()?.key.clone();
        match self.container()? {
            Value::Array(items) => items.last_mut(),
            Value::Object(map) => map.get_mut(key.as_deref()?),
            _ => None,
        }
    }

    /// Puts a value that just started or completed into the innermost container, and
    /// forgets the object key when the value is complete.
    fn insert(&mut self, value: Value) {
        let is_container = value.is_object() || value.is_array();
        self.insert_keep_key(value);
        if !is_container && let Some(frame) = self.stack.last_mut() {
            frame.key = None;
        }
    }

    fn insert_keep_key(&mut self, value: Value) {
        if self.stack.is_empty() {
            self.root = value;
            return;
        }
        let key = self.stack.last().and_then(|frame| frame.key.clone());
        match self.container() {
            Some(Value::Array(items)) => items.push(value),
            Some(Value::Object(map)) => {
                if let Some(key) = key {
                    map.insert(key, value);
                }
            }
            _ => {}
        }
    }
}

impl fmt::Display for PartialJson {
    /// The raw input so far.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Whether `earlier` shows nothing that `later` takes back.
    fn is_prefix_of(earlier: &Value, later: &Value) -> bool {
        match (earlier, later) {
            (Value::Null, _) => true,
            (Value::Object(a), Value::Object(b)) => a
                .iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| is_prefix_of(v, w))),
            (Value::Array(a), Value::Array(b)) => {
                a.len() <= b.len() && a.iter().zip(b).all(|(v, w)| is_prefix_of(v, w))
            }
            (Value::String(a), Value::String(b)) => b.starts_with(a.as_str()),
            (a, b) => a == b,
        }
    }

    fn parse_in_pieces(
        input: &str,
        cuts: &[usize],
        partial: bool,
    ) -> Result<Value, PartialJsonError> {
        let mut parser = if partial {
            PartialJson::with_partial_strings()
        } else {
            PartialJson::new()
        };
        let mut last = Value::Null;
        let mut start = 0;
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|c| c % (input.len() + 1))
            .filter(|&c| input.is_char_boundary(c))
            .collect();
        points.sort_unstable();
        points.push(input.len());
        for end in points {
            parser.push(&input[start..end])?;
            start = end;
            let now = parser.snapshot().clone();
            assert!(is_prefix_of(&last, &now), "{last} then {now} for {input}");
            last = now;
        }
        let value = parser.finish()?;
        assert!(is_prefix_of(&last, &value), "{last} then final {value}");
        Ok(value)
    }

    const DOCUMENTS: &[&str] = &[
        r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#,
        r#"{"a":[1,-2.5e3,0,true,false,null,{"b":{}},[]],"c":"\"\\\/\b\f\n\r\t"}"#,
        r#"  {"emoji": "\ud83d\ude00 and é 中文 \u00e9", "n": -0.0, "big": 12345678901234567890}  "#,
        r#"[[[[]]], {"": ""}, "x", 1E+2, 3.25]"#,
        r#""top-level string""#,
        "42",
        "true",
    ];

    #[test]
    fn documents_at_every_split() {
        for doc in DOCUMENTS {
            let expected: Value = serde_json::from_str(doc).unwrap();
            for partial in [false, true] {
                for cut in 0..=doc.len() {
                    if !doc.is_char_boundary(cut) {
                        continue;
                    }
                    assert_eq!(
                        parse_in_pieces(doc, &[cut], partial).unwrap(),
                        expected,
                        "{doc} at {cut}"
                    );
                }
                let bytes: Vec<usize> = (0..doc.len()).collect();
                assert_eq!(
                    parse_in_pieces(doc, &bytes, partial).unwrap(),
                    expected,
                    "{doc} char by char"
                );
            }
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_like_serde_json() {
        let mut parser = PartialJson::new();
        parser.push(r#"{"dup": 1, "dup": [2]}"#).unwrap();
        assert_eq!(parser.finish().unwrap(), json!({"dup": [2]}));
    }

    #[test]
    fn snapshots_withhold_what_may_change() {
        let mut parser = PartialJson::new();
        parser.push(r#"{"n": 12"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({}));
        parser.push("3, \"s\": \"ab").unwrap();
        assert_eq!(parser.snapshot(), &json!({"n": 123}));
        parser.push("c\", \"t\": tr").unwrap();
        assert_eq!(parser.snapshot(), &json!({"n": 123, "s": "abc"}));
        parser.push("ue, \"l\": [\"x").unwrap();
        assert_eq!(
            parser.snapshot(),
            &json!({"n": 123, "s": "abc", "t": true, "l": []})
        );
        parser.push("\"]}").unwrap();
        assert!(parser.is_complete());
        assert_eq!(
            parser.finish().unwrap(),
            json!({"n": 123, "s": "abc", "t": true, "l": ["x"]})
        );
    }

    #[test]
    fn partial_strings_grow_in_place() {
        let mut parser = PartialJson::with_partial_strings();
        parser.push(r#"{"a": ["he"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["he"]}));
        parser.push(r#"llo \u00"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello "]}));
        parser.push(r#"e9"], "b": "#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é"]}));
        parser.push(r#""x"}"#).unwrap();
        assert_eq!(
            parser.finish().unwrap(),
            json!({"a": ["hello é"], "b": "x"})
        );
    }

    #[test]
    fn empty_fragments_and_whitespace_are_fine() {
        let mut parser = PartialJson::new();
        for piece in ["", "  ", "\n", "{", "", "}", " "] {
            parser.push(piece).unwrap();
        }
        assert_eq!(parser.finish().unwrap(), json!({}));
    }

    #[test]
    fn top_level_number_waits_for_the_end() {
        let mut parser = PartialJson::new();
        parser.push("-1").unwrap();
        parser.push("7").unwrap();
        assert_eq!(parser.snapshot(), &Value::Null);
        assert_eq!(parser.finish().unwrap(), json!(-17));
    }

    fn error_kind(input: &str) -> ErrorKind {
        let mut parser = PartialJson::new();
        match parser.push(input) {
            Err(err) => err.kind().clone(),
            Ok(()) => parser.finish().unwrap_err().kind().clone(),
        }
    }

    #[test]
    fn every_error_kind() {
        assert!(matches!(
            error_kind("{,"),
            ErrorKind::Unexpected { found: ',', .. }
        ));
        assert!(matches!(
            error_kind("[1,]"),
            ErrorKind::Unexpected { found: ']', .. }
        ));
        assert!(matches!(
            error_kind("{\"a\" 1}"),
            ErrorKind::Unexpected { found: '1', .. }
        ));
        assert!(matches!(
            error_kind("{\"a\":1,}"),
            ErrorKind::Unexpected { found: '}', .. }
        ));
        assert!(matches!(
            error_kind("[1 2]"),
            ErrorKind::Unexpected { found: '2', .. }
        ));
        assert!(matches!(
            error_kind("tru e"),
            ErrorKind::Unexpected { found: ' ', .. }
        ));
        assert!(matches!(
            error_kind("é"),
            ErrorKind::Unexpected { found: 'é', .. }
        ));
        assert_eq!(error_kind(r#""\x""#), ErrorKind::InvalidEscape);
        assert_eq!(error_kind(r#""\u12g4""#), ErrorKind::InvalidUnicodeEscape);
        assert_eq!(error_kind(r#""\ude00""#), ErrorKind::InvalidUnicodeEscape);
        assert_eq!(error_kind(r#""\ud83d""#), ErrorKind::InvalidUnicodeEscape);
        assert_eq!(
            error_kind(r#""\ud83d\u0041""#),
            ErrorKind::InvalidUnicodeEscape
        );
        assert_eq!(error_kind("\"a\u{1}\""), ErrorKind::ControlCharacter);
        assert_eq!(error_kind("[01]"), ErrorKind::InvalidNumber);
        assert_eq!(error_kind("[1.]"), ErrorKind::InvalidNumber);
        assert_eq!(error_kind("[1e400]"), ErrorKind::InvalidNumber);
        assert_eq!(error_kind("[-]"), ErrorKind::InvalidNumber);
        assert_eq!(error_kind("{} x"), ErrorKind::TrailingCharacters);
        assert_eq!(error_kind("{\"a\": [1"), ErrorKind::UnexpectedEnd);
        assert_eq!(error_kind("  "), ErrorKind::Empty);
        assert_eq!(error_kind(""), ErrorKind::Empty);
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(error_kind(&deep), ErrorKind::TooDeep { limit: 127 });
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(PartialJson::new().push(&ok), Ok(()));
        assert!(serde_json::from_str::<Value>(&ok).is_ok());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }

    #[test]
    fn failed_parser_keeps_everything_and_stays_failed() {
        let mut parser = PartialJson::new();
        parser.push("{\"a\": 1").unwrap();
        let err = parser.push(" x").unwrap_err();
        assert_eq!(err.offset(), 8);
        assert_eq!(parser.push("}").unwrap_err(), err);
        assert_eq!(parser.raw(), "{\"a\": 1 x}");
        assert_eq!(parser.finish().unwrap_err(), err);
        assert!(err.to_string().contains("at byte 8"));
    }

    #[test]
    fn a_mebibyte_in_eight_byte_fragments() {
        let mut doc = String::from("{\"lines\": [");
        let mut i = 0;
        while doc.len() < 1 << 20 {
            doc += &format!("{{\"n\": {i}, \"text\": \"line {i} with \\\"quotes\\\" and é\"}}, ");
            i += 1;
        }
        doc += "null]}";
        // Fragments of about 8 bytes, cut on character boundaries as `&str` fragments are.
        let mut parser = PartialJson::new();
        let mut start = 0;
        while start < doc.len() {
            let mut end = (start + 8).min(doc.len());
            while !doc.is_char_boundary(end) {
                end += 1;
            }
            parser.push(&doc[start..end]).unwrap();
            assert!(parser.snapshot().is_object());
            start = end;
        }
        assert_eq!(
            parser.finish().unwrap(),
            serde_json::from_str::<Value>(&doc).unwrap()
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e15f64..1e15).prop_map(|f| json!(f)),
            "[a-z\"\\\\/\\u{0}-\\u{1f}é中😀 ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"é]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_values_in_arbitrary_pieces(value in arb_json(), cuts in prop::collection::vec(any::<usize>(), 0..12), pretty in any::<bool>(), partial in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { serde_json::to_string(&value).unwrap() };
            let expected: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(parse_in_pieces(&text, &cuts, partial).unwrap(), expected);
        }

        #[test]
        fn arbitrary_text_agrees_with_serde_json(text in "[\\[\\]{}\",:0-9a-z.eE+\\- \\\\u]{0,24}", cuts in prop::collection::vec(any::<usize>(), 0..6)) {
            let ours = parse_in_pieces(&text, &cuts, false);
            match serde_json::from_str::<Value>(&text) {
                Ok(expected) => prop_assert_eq!(ours.unwrap(), expected),
                Err(_) => prop_assert!(ours.is_err(), "we accepted {:?}", text),
            }
        }
    }

    #[test]
    fn display_is_the_raw_input() {
        let mut parser = PartialJson::new();
        parser.push("[1,").unwrap();
        assert_eq!(parser.to_string(), "[1,");
        assert_eq!(vec![parser.raw()], ["[1,"]);
    }
}
