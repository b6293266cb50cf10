//! An incremental parser for JSON that arrives in pieces, with a live partial value.
//!
//! A tool call's `input` streams as `input_json_delta` fragments that only form JSON once all
//! have arrived. The official SDKs re-parse the whole buffer after every fragment, which is
//! quadratic. [`PartialJson`] reads each byte once, as it arrives, and updates one
//! [`serde_json::Value`] tree in place, so the live value after every fragment costs amortised
//! O(1) per input byte and is available by reference ([`PartialJson::snapshot`]).
//!
//! # What the snapshot shows
//!
//! It never takes back what an earlier snapshot showed: object keys are only added, arrays only
//! grow, strings only grow (the one exception: a duplicate object key replaces the earlier
//! value, because `serde_json` keeps the last one and the final value must equal its).
//!
//! * Before any value has started (no input, or only whitespace), the snapshot is `null`.
//! * Objects and arrays appear as soon as they open, and grow.
//! * An object key appears once its value has started to appear.
//! * A string value appears when its closing quote arrives; with
//!   [`PartialJson::with_partial_strings`] it appears (empty) at its opening quote and grows
//!   with every fragment. A `\u` escape, or a surrogate pair, is added once it is complete.
//! * A number appears once something ends it (`,`, `]`, `}`, whitespace, or
//!   [`finish`](PartialJson::finish)), because `12` may become `123`.
//! * `true`, `false` and `null` appear once complete.
//!
//! [`finish`](PartialJson::finish) gives the exact value: for valid JSON it equals
//! `serde_json::from_str` of the whole input (numbers are converted by `serde_json` itself,
//! duplicate keys keep the last value, and nesting is limited to `serde_json`'s depth), and
//! invalid JSON, or a truncated or empty input, is a typed [`PartialJsonError`].
//!
//! Numbers are exact: this crate turns on `serde_json`'s `float_roundtrip`, so a float is the
//! double nearest to its text (correctly rounded; `serde_json`'s default parser can be one unit
//! in the last place off, turning `123456789.12345679` into `123456789.1234568`), and it is
//! written back in the shortest text that reads as the same double. Integers are `u64` or
//! `i64` when they fit and the nearest double beyond that, as `serde_json` gives them.
//!
//! # How it works, and what it costs
//!
//! The parser is a byte-at-a-time state machine (a stack of open arrays and objects, the token
//! being read, the escape being decoded), so a fragment may end anywhere: inside a string, an
//! escape, a surrogate pair, a number, a literal or whitespace. Its state lives outside the
//! tree; the tree holds only what the snapshot shows.
//!
//! Most bytes never touch the tree: a withheld string collects in a reused side buffer and is
//! copied into the tree once, at its exact size, when it ends; a key waits beside the stack
//! for its value; a number collects its text. The tree is touched only when a value starts or
//! completes, or a shown string grows. For that the parser needs a `&mut` to the innermost open
//! container. Safe Rust cannot keep that reference from one [`push`](PartialJson::push) to the
//! next (it would borrow from the parser itself), so the parser reaches it by walking from the
//! root along the stack (the last element of each open array, the current key's value in each
//! open object), and then *keeps* it for the rest of the fragment: opening a container moves it
//! one level down, in O(1). Closing a container lets go of it, and the next change walks down
//! again. A shown string is looked up once per fragment in its container and grows in place
//! (`String::push_str` on the `Value::String` in the tree). Nothing ever re-reads the buffer,
//! re-serialises, or clones the tree.
//!
//! So a fragment costs O(its length), plus one walk if it changes the tree, plus one walk per
//! closing bracket in it that is followed by a change; a walk is one step per open level, and
//! the depth is bounded ([`DEFAULT_MAX_DEPTH`] by default). With the depth bounded, the work is
//! amortised O(1) per input byte, whatever the fragment sizes: linear in the whole input, where
//! re-parsing per fragment is quadratic. (A step into an object, like every insertion into one,
//! is a `BTreeMap` look-up, as in `serde_json` itself; `preserve_order` is not enabled, so keys
//! come out sorted.)
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

use serde_json::map::Entry;
use serde_json::{Number, Value};

/// The deepest nesting accepted by default: the same as `serde_json`'s recursion limit
/// (127 nested arrays or objects parse, 128 do not).
///
/// ```
/// use stream_core::partial_json::{DEFAULT_MAX_DEPTH, ErrorKind, PartialJson};
///
/// let ok = format!("{}{}", "[".repeat(DEFAULT_MAX_DEPTH), "]".repeat(DEFAULT_MAX_DEPTH));
/// assert!(PartialJson::new().push(&ok).is_ok());
/// let err = PartialJson::new().push(&format!("[{ok}]")).unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::TooDeep { limit: DEFAULT_MAX_DEPTH });
/// ```
pub const DEFAULT_MAX_DEPTH: usize = 127;

/// Why the input is not valid JSON (the peer is to blame): what was wrong, and where.
///
/// Once [`PartialJson::push`] or [`PartialJson::finish`] has returned an error, the parser
/// stays failed and returns the same error again.
///
/// ```
/// use stream_core::partial_json::{ErrorKind, PartialJson};
///
/// let mut parser = PartialJson::new();
/// parser.push(r#"{"a": 1"#)?;
/// let err = parser.push(r#" "b": 2}"#).unwrap_err();
/// assert_eq!(err.offset(), 8);
/// assert_eq!(err.to_string(), "unexpected '\"', expected ',' or '}' at byte 8");
/// assert_eq!(parser.push("}"), Err(err));
/// assert_eq!(parser.raw(), r#"{"a": 1 "b": 2}}"#);
/// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartialJsonError {
    kind: ErrorKind,
    offset: usize,
}

/// What was wrong, for [`PartialJsonError::kind`].
///
/// ```
/// use stream_core::partial_json::{ErrorKind, PartialJson};
///
/// let kind = |input: &str| {
///     let mut parser = PartialJson::new();
///     let err = match parser.push(input) {
///         Err(err) => err,
///         Ok(()) => parser.finish().unwrap_err(),
///     };
///     err.kind().clone()
/// };
/// assert_eq!(kind("[1 2]"), ErrorKind::Unexpected { found: '2', expected: "',' or ']'" });
/// assert_eq!(kind(r#""\x""#), ErrorKind::InvalidEscape);
/// assert_eq!(kind(r#""\ud83d""#), ErrorKind::InvalidUnicodeEscape);
/// assert_eq!(kind("\"\n\""), ErrorKind::ControlCharacter);
/// assert_eq!(kind("[01]"), ErrorKind::InvalidNumber);
/// assert_eq!(kind("{} {}"), ErrorKind::TrailingCharacters);
/// assert_eq!(kind("[1, 2"), ErrorKind::UnexpectedEnd);
/// assert_eq!(kind(" "), ErrorKind::Empty);
/// ```
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
    /// A `\u` escape that is not four hex digits, or is a lone or mismatched surrogate.
    InvalidUnicodeEscape,
    /// A raw control character (U+0000 to U+001F) inside a string.
    ControlCharacter,
    /// A number that is malformed or out of range (the offset is where the number starts).
    InvalidNumber,
    /// Nesting deeper than the limit.
    TooDeep {
        /// The limit ([`PartialJson::max_depth`]).
        limit: usize,
    },
    /// Something other than whitespace after the value.
    TrailingCharacters,
    /// The input ended inside the value ([`PartialJson::finish`] only).
    UnexpectedEnd,
    /// No value at all: the input was empty or whitespace ([`PartialJson::finish`] only).
    Empty,
    /// The live value no longer matches the parser's position in it. The parser is the only
    /// writer of the value, so this is a defect of this crate, never of the input; it is
    /// reported rather than letting the snapshot and the final value silently miss changes.
    OutOfStep,
}

impl PartialJsonError {
    /// What was wrong.
    ///
    /// ```
    /// use stream_core::partial_json::{ErrorKind, PartialJson};
    ///
    /// let err = PartialJson::new().push("[1,]").unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Unexpected { found: ']', .. }));
    /// ```
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The byte offset in the whole input (all fragments together) where it went wrong.
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push("[true, ")?;
    /// let err = parser.push("nul!]").unwrap_err();
    /// assert_eq!(err.offset(), 10);
    /// assert_eq!(&parser.raw()[err.offset()..], "!]");
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
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
            ErrorKind::OutOfStep => {
                f.write_str("the partial-JSON parser lost its place in the value (a defect)")?;
            }
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl core::error::Error for PartialJsonError {}

/// The incremental parser. See the [module docs](self) for what the snapshot shows and what it
/// costs.
///
/// ```
/// use serde_json::json;
/// use stream_core::partial_json::PartialJson;
///
/// // The fragments of one tool call, as `input_json_delta` events carry them.
/// let fragments = ["", r#"{"location": "San Fra"#, r#"ncisco, CA", "unit": "#, r#""fahrenheit"}"#];
/// let mut parser = PartialJson::new();
/// for fragment in fragments {
///     parser.push(fragment)?;
///     println!("{}", parser.snapshot()); // null, {}, {"location":"San Francisco, CA"}, ...
/// }
/// assert_eq!(parser.finish()?, json!({"location": "San Francisco, CA", "unit": "fahrenheit"}));
/// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
/// ```
#[derive(Debug)]
pub struct PartialJson {
    /// Everything pushed, also after an error.
    raw: String,
    /// The live value: what the snapshot shows.
    root: Value,
    /// Everything else: the state machine.
    core: Core,
}

impl Default for PartialJson {
    /// The same as [`PartialJson::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl PartialJson {
    /// A parser whose snapshot withholds a string value until it is complete.
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push(r#"{"path": "/tmp/fi"#)?;
    /// assert_eq!(parser.snapshot(), &serde_json::json!({}));
    /// parser.push(r#"le.txt""#)?;
    /// assert_eq!(parser.snapshot()["path"], "/tmp/file.txt");
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            raw: String::new(),
            root: Value::Null,
            core: Core {
                stack: Vec::new(),
                state: State::Value,
                escape: Escape::None,
                text: String::new(),
                number: String::new(),
                number_start: 0,
                partial_strings: false,
                max_depth: DEFAULT_MAX_DEPTH,
                error: None,
                #[cfg(test)]
                work: 0,
            },
        }
    }

    /// A parser whose snapshot shows string values while they arrive (they only ever grow).
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::with_partial_strings();
    /// parser.push(r#"{"path": "/tmp/fi"#)?;
    /// assert_eq!(parser.snapshot()["path"], "/tmp/fi");
    /// parser.push(r#"le \u00"#)?; // half an escape is not shown yet
    /// assert_eq!(parser.snapshot()["path"], "/tmp/file ");
    /// parser.push(r#"e9"#)?;
    /// assert_eq!(parser.snapshot()["path"], "/tmp/file é");
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn with_partial_strings() -> Self {
        let mut parser = Self::new();
        parser.core.partial_strings = true;
        parser
    }

    /// Sets the deepest nesting of arrays and objects accepted (default
    /// [`DEFAULT_MAX_DEPTH`]); deeper input is an [`ErrorKind::TooDeep`] error.
    ///
    /// The parser itself never recurses, but `serde_json` drops, compares and prints a
    /// [`Value`] recursively, so a limit far above the default lets a peer make those recurse
    /// as deep as it likes: keep it in the hundreds.
    ///
    /// ```
    /// use stream_core::partial_json::{ErrorKind, PartialJson};
    ///
    /// let mut parser = PartialJson::new().max_depth(2);
    /// parser.push("[[")?;
    /// let err = parser.push("[]]]").unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::TooDeep { limit: 2 });
    /// assert_eq!(err.offset(), 2);
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.core.max_depth = depth;
        self
    }

    /// Everything pushed so far, also what came after an error (for reporting it).
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push("[1, ")?;
    /// assert!(parser.push("x").is_err());
    /// assert!(parser.push("]").is_err());
    /// assert_eq!(parser.raw(), "[1, x]");
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The value as far as it can be shown (see the [module docs](self)): `null` before any
    /// value has started. It is updated in place by every [`push`](Self::push), never rebuilt.
    ///
    /// ```
    /// use serde_json::{Value, json};
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// assert_eq!(parser.snapshot(), &Value::Null);
    /// parser.push(r#"{"a": [1, tr"#)?;
    /// assert_eq!(parser.snapshot(), &json!({"a": [1]}));
    /// parser.push("ue, 2")?;
    /// assert_eq!(parser.snapshot(), &json!({"a": [1, true]})); // 2 may become 20
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> &Value {
        &self.root
    }

    /// Whether a complete top-level value has been read, so that [`finish`](Self::finish)
    /// would succeed without more input (a number at the end counts as open: it might go on).
    ///
    /// ```
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push(r#"{"a": 1"#)?;
    /// assert!(!parser.is_complete());
    /// parser.push("}\n")?;
    /// assert!(parser.is_complete());
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.core.state == State::End && self.core.error.is_none()
    }

    /// Parses the next fragment and updates the snapshot. A fragment may be empty, whitespace,
    /// or cut anywhere (inside a string, an escape, a number or a literal).
    ///
    /// ```
    /// use serde_json::json;
    /// use stream_core::partial_json::PartialJson;
    ///
    /// let mut parser = PartialJson::new();
    /// for fragment in ["", "[\"\\ud8", "3d\\ude00\", -1.", "5e", "3 ", "]"] {
    ///     parser.push(fragment)?;
    /// }
    /// assert_eq!(parser.finish()?, json!(["😀", -1500.0]));
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PartialJsonError`] when the input so far cannot be the start of a JSON value, or
    /// nests too deeply. The parser then stays failed: later pushes are still kept in
    /// [`raw`](Self::raw) and return the same error. The snapshot keeps what it showed.
    pub fn push(&mut self, fragment: &str) -> Result<(), PartialJsonError> {
        let base = self.raw.len();
        self.raw.push_str(fragment);
        if let Some(error) = &self.core.error {
            return Err(error.clone());
        }
        self.core
            .parse(&mut self.root, fragment, base)
            .inspect_err(|error| self.core.error = Some(error.clone()))
    }

    /// Ends the input and returns the exact value, equal to `serde_json::from_str` of
    /// [`raw`](Self::raw). The value is moved out, not copied: on success the parser is spent
    /// (its snapshot is `null` afterwards). On error the snapshot is left as it was, so the
    /// caller can still use the partial value and the raw text.
    ///
    /// ```
    /// use serde_json::json;
    /// use stream_core::partial_json::{ErrorKind, PartialJson};
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push("42")?;
    /// assert_eq!(parser.finish()?, json!(42)); // the end of the input ends the number
    ///
    /// let mut parser = PartialJson::new();
    /// parser.push(r#"{"a": [1, 2"#)?;
    /// assert_eq!(parser.finish().unwrap_err().kind(), &ErrorKind::UnexpectedEnd);
    /// assert_eq!(parser.snapshot(), &json!({"a": [1]}));
    /// # Ok::<(), stream_core::partial_json::PartialJsonError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error seen, [`ErrorKind::UnexpectedEnd`] when the value is not complete,
    /// [`ErrorKind::InvalidNumber`] for a malformed number at the end, or
    /// [`ErrorKind::Empty`] when there was no value at all. The parser then stays failed.
    pub fn finish(&mut self) -> Result<Value, PartialJsonError> {
        if let Some(error) = &self.core.error {
            return Err(error.clone());
        }
        let core = &mut self.core;
        let end = self.raw.len();
        match core.state {
            State::End => {}
            State::Num if core.stack.is_empty() => match number_value(&core.number) {
                Some(value) => {
                    self.root = value;
                    core.state = State::End;
                }
                None => return Err(core.fail(ErrorKind::InvalidNumber, core.number_start)),
            },
            State::Value if core.stack.is_empty() => return Err(core.fail(ErrorKind::Empty, end)),
            _ => return Err(core.fail(ErrorKind::UnexpectedEnd, end)),
        }
        Ok(core::mem::take(&mut self.root))
    }
}

impl fmt::Display for PartialJson {
    /// The raw input so far (the same as [`PartialJson::raw`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

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
    /// After a value in an array or object: `,` or the closing bracket.
    AfterValue,
    /// Inside a string: an object key, or a value.
    Str { key: bool },
    /// Inside a number.
    Num,
    /// Inside `true`, `false` or `null`: `matched` bytes of `word` have been read.
    Literal { word: &'static [u8], matched: usize },
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
    /// In an object: the key of the member being read. Once that member's value is in the
    /// tree and still open (a container, or a string shown while it grows), this is how the
    /// walk from the root finds it again.
    key: String,
}

/// The parser's state: everything but the raw text and the tree, so that a `&mut` into the
/// tree and a `&mut Core` can be held at the same time.
#[derive(Debug)]
struct Core {
    /// The open arrays and objects, outermost first.
    stack: Vec<Frame>,
    state: State,
    escape: Escape,
    /// The key or withheld string being read: a scratch buffer, reused, so that each
    /// finished string costs one allocation of its exact size.
    text: String,
    /// The text of the number being read.
    number: String,
    /// Where that number started, for errors.
    number_start: usize,
    partial_strings: bool,
    max_depth: usize,
    error: Option<PartialJsonError>,
    /// Steps taken to reach into the tree (walk levels and string look-ups), for the tests
    /// that check the work is linear.
    #[cfg(test)]
    work: usize,
}

/// What `Core::run` holds of the tree.
enum Cursor<'t> {
    /// Nothing: a change to the tree needs a walk from the root first.
    Lazy,
    /// The innermost open container (the root itself when nothing is open). Should the tree
    /// ever be out of step with the stack (only the parser changes it, so it cannot), the
    /// parser stops with [`ErrorKind::OutOfStep`] instead of dropping changes.
    At(&'t mut Value),
}

/// Why `Core::run` stopped.
enum Flow {
    /// The fragment is used up.
    Done,
    /// The next byte changes the tree and the cursor is `Lazy`.
    NeedTree,
}

impl Core {
    fn fail(&mut self, kind: ErrorKind, offset: usize) -> PartialJsonError {
        let error = PartialJsonError { kind, offset };
        self.error = Some(error.clone());
        error
    }

    /// Parses one fragment that starts at byte `base` of the whole input.
    fn parse(&mut self, root: &mut Value, text: &str, base: usize) -> Result<(), PartialJsonError> {
        let mut at = 0;
        let mut cursor = Cursor::Lazy;
        loop {
            match self.run(cursor, text, &mut at, base)? {
                Flow::Done => return Ok(()),
                Flow::NeedTree => {
                    #[cfg(test)]
                    {
                        self.work += self.stack.len().max(1);
                    }
                    let Some(node) = walk(&self.stack, root) else {
                        return Err(self.fail(ErrorKind::OutOfStep, base + at));
                    };
                    cursor = Cursor::At(node);
                }
            }
        }
    }

    /// Runs the state machine over `text[*at..]` until it is used up, or until the tree must
    /// change and the cursor is `Lazy` (then `*at` is the byte that changes it, not consumed).
    fn run(
        &mut self,
        mut cursor: Cursor<'_>,
        text: &str,
        at: &mut usize,
        base: usize,
    ) -> Result<Flow, PartialJsonError> {
        let bytes = text.as_bytes();
        let error = |kind, i: usize| PartialJsonError {
            kind,
            offset: base + i,
        };
        let unexpected = |i: usize, expected| {
            // `i` is on a character boundary: every state change happens at an ASCII byte or
            // at the start of a character.
            let found = text
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            error(ErrorKind::Unexpected { found, expected }, i)
        };
        while let Some(&b) = bytes.get(*at) {
            let i = *at;
            match self.state {
                State::Str { key } => {
                    let shown = !key && self.partial_strings;
                    let scanned = if shown {
                        match &mut cursor {
                            Cursor::Lazy => return Ok(Flow::NeedTree),
                            Cursor::At(node) => {
                                #[cfg(test)]
                                {
                                    self.work += 1;
                                }
                                let Some(out) = shown_string(node, self.stack.last()) else {
                                    return Err(error(ErrorKind::OutOfStep, i));
                                };
                                scan_string(&mut self.escape, out, text, i)
                            }
                        }
                    } else {
                        scan_string(&mut self.escape, &mut self.text, text, i)
                    };
                    let (end, closed) = scanned.map_err(|(kind, i)| error(kind, i))?;
                    *at = end;
                    if !closed {
                        continue;
                    }
                    // `end` is the closing quote.
                    if key {
                        if let Some(frame) = self.stack.last_mut() {
                            frame.key = String::from(self.text.as_str());
                        }
                        self.state = State::Colon;
                    } else if !shown {
                        if matches!(cursor, Cursor::Lazy) {
                            return Ok(Flow::NeedTree);
                        }
                        let string = Value::String(String::from(self.text.as_str()));
                        self.place_scalar(&mut cursor, string)
                            .ok_or_else(|| error(ErrorKind::OutOfStep, i))?;
                        self.after_value();
                    } else {
                        self.after_value();
                    }
                    *at += 1;
                }
                State::Num => {
                    if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                        self.number.push(char::from(b));
                        *at += 1;
                    } else {
                        // Ended by `b`, which the next state reads.
                        if matches!(cursor, Cursor::Lazy) {
                            return Ok(Flow::NeedTree);
                        }
                        let Some(number) = number_value(&self.number) else {
                            return Err(PartialJsonError {
                                kind: ErrorKind::InvalidNumber,
                                offset: self.number_start,
                            });
                        };
                        self.place_scalar(&mut cursor, number)
                            .ok_or_else(|| error(ErrorKind::OutOfStep, i))?;
                        self.after_value();
                    }
                }
                State::Literal { word, matched } => {
                    if word.get(matched) != Some(&b) {
                        return Err(unexpected(i, "the rest of `true`, `false` or `null`"));
                    }
                    if matched + 1 < word.len() {
                        self.state = State::Literal {
                            word,
                            matched: matched + 1,
                        };
                    } else {
                        if matches!(cursor, Cursor::Lazy) {
                            return Ok(Flow::NeedTree);
                        }
                        let value = match word {
                            b"true" => Value::Bool(true),
                            b"false" => Value::Bool(false),
                            _ => Value::Null,
                        };
                        self.place_scalar(&mut cursor, value)
                            .ok_or_else(|| error(ErrorKind::OutOfStep, i))?;
                        self.after_value();
                    }
                    *at += 1;
                }
                _ if matches!(b, b' ' | b'\t' | b'\n' | b'\r') => *at += 1,
                State::Value | State::FirstElement => {
                    match b {
                        b']' if self.state == State::FirstElement => {
                            self.close();
                            cursor = Cursor::Lazy;
                        }
                        b'[' | b'{' => {
                            if self.stack.len() >= self.max_depth {
                                return Err(error(
                                    ErrorKind::TooDeep {
                                        limit: self.max_depth,
                                    },
                                    i,
                                ));
                            }
                            let object = b == b'{';
                            let empty = if object {
                                Value::Object(serde_json::Map::new())
                            } else {
                                Value::Array(Vec::new())
                            };
                            cursor = match cursor {
                                Cursor::Lazy => return Ok(Flow::NeedTree),
                                Cursor::At(node) => place(node, self.stack.last_mut(), empty, true)
                                    .map(Cursor::At)
                                    .ok_or_else(|| error(ErrorKind::OutOfStep, i))?,
                            };
                            self.stack.push(Frame {
                                object,
                                key: String::new(),
                            });
                            self.state = if object {
                                State::FirstKey
                            } else {
                                State::FirstElement
                            };
                        }
                        b'"' => {
                            if self.partial_strings {
                                match &mut cursor {
                                    Cursor::Lazy => return Ok(Flow::NeedTree),
                                    Cursor::At(node) => {
                                        let string = Value::String(String::new());
                                        place(node, self.stack.last_mut(), string, true)
                                            .ok_or_else(|| error(ErrorKind::OutOfStep, i))?;
                                    }
                                }
                            }
                            self.text.clear();
                            self.state = State::Str { key: false };
                        }
                        b'-' | b'0'..=b'9' => {
                            self.number.clear();
                            self.number.push(char::from(b));
                            self.number_start = base + i;
                            self.state = State::Num;
                        }
                        b't' => self.start_literal(b"true"),
                        b'f' => self.start_literal(b"false"),
                        b'n' => self.start_literal(b"null"),
                        _ if self.state == State::FirstElement => {
                            return Err(unexpected(i, "a value or ']'"));
                        }
                        _ => return Err(unexpected(i, "a value")),
                    }
                    *at += 1;
                }
                State::FirstKey | State::Key => {
                    match b {
                        b'}' if self.state == State::FirstKey => {
                            self.close();
                            cursor = Cursor::Lazy;
                        }
                        b'"' => {
                            self.text.clear();
                            self.state = State::Str { key: true };
                        }
                        _ if self.state == State::FirstKey => {
                            return Err(unexpected(i, "a string key or '}'"));
                        }
                        _ => return Err(unexpected(i, "a string key")),
                    }
                    *at += 1;
                }
                State::Colon => {
                    if b != b':' {
                        return Err(unexpected(i, "':'"));
                    }
                    self.state = State::Value;
                    *at += 1;
                }
                State::AfterValue => {
                    let object = self.stack.last().is_some_and(|frame| frame.object);
                    match b {
                        b',' => self.state = if object { State::Key } else { State::Value },
                        b'}' if object => {
                            self.close();
                            cursor = Cursor::Lazy;
                        }
                        b']' if !object => {
                            self.close();
                            cursor = Cursor::Lazy;
                        }
                        _ if object => return Err(unexpected(i, "',' or '}'")),
                        _ => return Err(unexpected(i, "',' or ']'")),
                    }
                    *at += 1;
                }
                State::End => return Err(error(ErrorKind::TrailingCharacters, i)),
            }
        }
        Ok(Flow::Done)
    }

    fn start_literal(&mut self, word: &'static [u8]) {
        self.state = State::Literal { word, matched: 1 };
    }

    /// Puts a complete scalar into the innermost container (or makes it the root).
    /// Puts a finished scalar in the tree; `None` when the tree is out of step with the stack.
    fn place_scalar(&mut self, cursor: &mut Cursor<'_>, value: Value) -> Option<()> {
        match cursor {
            Cursor::At(node) => place(node, self.stack.last_mut(), value, false).map(|_| ()),
            Cursor::Lazy => Some(()),
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
        self.after_value();
    }
}

/// Walks from the root to the innermost open container (the root itself when nothing is open).
fn walk<'v>(stack: &[Frame], root: &'v mut Value) -> Option<&'v mut Value> {
    let mut node = root;
    // Each open container but the innermost selects its open child.
    for frame in stack.iter().take(stack.len().saturating_sub(1)) {
        node = child(node, frame)?;
    }
    Some(node)
}

/// The open child of a container: the last element of an array, the current key's value in
/// an object.
fn child<'v>(node: &'v mut Value, frame: &Frame) -> Option<&'v mut Value> {
    match node {
        Value::Array(items) => items.last_mut(),
        Value::Object(map) => map.get_mut(frame.key.as_str()),
        _ => None,
    }
}

/// The string value being shown while it grows: the open child of the innermost container,
/// or the root.
fn shown_string<'v>(node: &'v mut Value, frame: Option<&Frame>) -> Option<&'v mut String> {
    let value = match frame {
        Some(frame) => child(node, frame)?,
        None => node,
    };
    match value {
        Value::String(string) => Some(string),
        _ => None,
    }
}

/// Puts `value` into the container `node` (the innermost open one, whose frame is `frame`), or
/// makes it the root when nothing is open (`frame` is `None`, `node` is the root). Returns
/// where it went. In an object, the member's key is kept in the frame when the value stays open
/// (`keep_key`), so that the walk can find it again, and moved into the map otherwise.
fn place<'v>(
    node: &'v mut Value,
    frame: Option<&mut Frame>,
    value: Value,
    keep_key: bool,
) -> Option<&'v mut Value> {
    let Some(frame) = frame else {
        *node = value;
        return Some(node);
    };
    match node {
        Value::Array(items) => {
            items.push(value);
            items.last_mut()
        }
        Value::Object(map) => {
            let key = if keep_key {
                frame.key.clone()
            } else {
                core::mem::take(&mut frame.key)
            };
            // A duplicate key replaces the earlier value, as in `serde_json`.
            Some(match map.entry(key) {
                Entry::Vacant(entry) => entry.insert(value),
                Entry::Occupied(mut entry) => {
                    entry.insert(value);
                    entry.into_mut()
                }
            })
        }
        _ => None,
    }
}

/// Reads string content from `text[i..]` into `out`, decoding escapes (`escape` carries a
/// partial escape across fragments). Returns where it stopped and whether that is the closing
/// quote (not consumed), or the error and its index.
fn scan_string(
    escape: &mut Escape,
    out: &mut String,
    text: &str,
    mut i: usize,
) -> Result<(usize, bool), (ErrorKind, usize)> {
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if *escape != Escape::None {
            if let Some(&b) = bytes.get(i) {
                escape_byte(escape, out, b).map_err(|kind| (kind, i))?;
            }
            i += 1;
            continue;
        }
        // A run of plain characters up to the next quote, backslash or control character.
        let start = i;
        let rest = bytes.get(i..).unwrap_or_default();
        i += rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(rest.len());
        // Both ends are ASCII bytes or the ends of `text`: character boundaries.
        out.push_str(text.get(start..i).unwrap_or_default());
        match bytes.get(i) {
            None => break,
            Some(b'"') => return Ok((i, true)),
            Some(b'\\') => {
                *escape = Escape::Backslash;
                i += 1;
            }
            Some(_) => return Err((ErrorKind::ControlCharacter, i)),
        }
    }
    Ok((i, false))
}

/// One byte of an escape sequence inside a string; a complete escape is appended to `out`.
fn escape_byte(escape: &mut Escape, out: &mut String, b: u8) -> Result<(), ErrorKind> {
    match *escape {
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
                    *escape = Escape::Unicode {
                        digits: 0,
                        value: 0,
                        high: None,
                    };
                    return Ok(());
                }
                _ => return Err(ErrorKind::InvalidEscape),
            };
            *escape = Escape::None;
            out.push(c);
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
                *escape = Escape::Unicode {
                    digits: digits + 1,
                    value,
                    high,
                };
                return Ok(());
            }
            // Surrogates must pair up, as `serde_json::from_str` requires.
            let code = match (high, value) {
                (None, 0xD800..=0xDBFF) => {
                    *escape = Escape::NeedLowBackslash { high: value };
                    return Ok(());
                }
                (None, 0xDC00..=0xDFFF) | (Some(_), 0..=0xDBFF | 0xE000..) => {
                    return Err(ErrorKind::InvalidUnicodeEscape);
                }
                (None, code) => code,
                (Some(high), low) => 0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00),
            };
            let c = char::from_u32(code).ok_or(ErrorKind::InvalidUnicodeEscape)?;
            *escape = Escape::None;
            out.push(c);
        }
        Escape::NeedLowBackslash { high } => {
            if b != b'\\' {
                return Err(ErrorKind::InvalidUnicodeEscape);
            }
            *escape = Escape::NeedLowU { high };
        }
        Escape::NeedLowU { high } => {
            if b != b'u' {
                return Err(ErrorKind::InvalidUnicodeEscape);
            }
            *escape = Escape::Unicode {
                digits: 0,
                value: 0,
                high: Some(high),
            };
        }
    }
    Ok(())
}

/// The value of a complete number's text, exactly as `serde_json` gives it, or `None` when
/// `serde_json` rejects it.
fn number_value(text: &str) -> Option<Value> {
    // Fast path for the common short integers. `serde_json` gives a non-negative integer as a
    // `u64` and a negative one as an `i64` (`-0` is a float, so it takes the slow path).
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if (1..=18).contains(&digits.len())
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
    {
        let magnitude = digits
            .bytes()
            .fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
        if !negative {
            return Some(Value::Number(Number::from(magnitude)));
        }
        if magnitude != 0 {
            let magnitude = i64::try_from(magnitude).ok()?;
            return Some(Value::Number(Number::from(-magnitude)));
        }
    }
    // Everything else (floats, exponents, long integers, malformed text): `serde_json` itself.
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Number(_)) => Some(value),
        _ => None,
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

    /// Whether `earlier` shows nothing that `later` takes back: `null` (nothing shown yet) is a
    /// prefix of anything, objects may gain keys, arrays may grow, strings may grow at the end,
    /// and everything else must stay equal.
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

    fn parser(partial: bool) -> PartialJson {
        if partial {
            PartialJson::with_partial_strings()
        } else {
            PartialJson::new()
        }
    }

    /// Pushes `input` cut at `cuts` (taken modulo its length, off character boundaries
    /// dropped), checking after every push that the snapshot only adds to the one before and
    /// that `raw` is everything pushed; then finishes.
    fn parse_in_pieces(
        input: &str,
        cuts: &[usize],
        partial: bool,
    ) -> Result<Value, PartialJsonError> {
        let mut parser = parser(partial);
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
            assert_eq!(parser.raw(), &input[..end]);
            let now = parser.snapshot().clone();
            assert!(is_prefix_of(&last, &now), "{last} then {now} for {input}");
            last = now;
        }
        let value = parser.finish()?;
        assert!(is_prefix_of(&last, &value), "{last} then final {value}");
        Ok(value)
    }

    const DOCUMENTS: &[&str] = &[
        // As the API sends it: spaces after `:` and `,`.
        r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#,
        r#"{"a":[1,-2.5e3,0,true,false,null,{"b":{}},[]],"c":"\"\\\/\b\f\n\r\t"}"#,
        r#"  {"emoji": "\ud83d\ude00 and é 中文 \u00e9 \uD834\uDD1E", "n": -0.0, "big": 12345678901234567890}  "#,
        r#"[[[[]]], {"": ""}, "x", 1E+2, 3.25, -0, 0, -7, 1e-7, -1.5E-300, 18446744073709551616]"#,
        r#"{"empty": {}, "list": [], "s": "", "nested": {"a": {"b": [{"c": [1, [2, {}]]}]}}}"#,
        "{\n  \"pretty\": [\n    1,\n    \"two\"\n  ],\n\t\"tab\": null\r\n}\n",
        r#"{"k\u0000\"": "\u0041\\u0042", "z": 1}"#,
        r#""top-level string with \n escape""#,
        "42",
        " -3.5e+2 ",
        "true",
        "null",
        "[]",
    ];

    #[test]
    fn documents_at_every_split() {
        for doc in DOCUMENTS {
            let expected: Value = serde_json::from_str(doc).unwrap();
            for partial in [false, true] {
                for cut in 0..=doc.len() {
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
                    "{doc} byte by byte"
                );
            }
        }
    }

    #[test]
    fn documents_at_every_pair_of_splits() {
        for doc in DOCUMENTS {
            let expected: Value = serde_json::from_str(doc).unwrap();
            for a in 0..=doc.len() {
                for b in a..=doc.len() {
                    assert_eq!(
                        parse_in_pieces(doc, &[a, b], a % 2 == 0).unwrap(),
                        expected,
                        "{doc} at {a} and {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn snapshots_withhold_what_may_change() {
        let mut parser = PartialJson::new();
        assert_eq!(parser.snapshot(), &Value::Null);
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
        parser.push("\", 4.5").unwrap();
        assert_eq!(
            parser.snapshot(),
            &json!({"n": 123, "s": "abc", "t": true, "l": ["x"]})
        );
        parser.push("\n").unwrap(); // whitespace ends a number
        assert_eq!(
            parser.snapshot(),
            &json!({"n": 123, "s": "abc", "t": true, "l": ["x", 4.5]})
        );
        assert!(!parser.is_complete());
        parser.push("]}").unwrap();
        assert!(parser.is_complete());
        assert_eq!(
            parser.finish().unwrap(),
            json!({"n": 123, "s": "abc", "t": true, "l": ["x", 4.5]})
        );
    }

    #[test]
    fn numbers_are_withheld_until_ended() {
        for (input, ended_by) in [("[-1", ","), ("[2e1", "]"), ("{\"a\": 0.5", "}")] {
            let mut parser = PartialJson::new();
            parser.push(input).unwrap();
            let before = parser.snapshot().clone();
            assert!(before.as_array().is_some_and(Vec::is_empty) || before == json!({}));
            parser.push(ended_by).unwrap();
            assert_ne!(parser.snapshot(), &before, "{input}{ended_by}");
        }
        let mut parser = PartialJson::new();
        parser.push("-1").unwrap();
        parser.push("7").unwrap();
        assert_eq!(parser.snapshot(), &Value::Null);
        assert_eq!(parser.finish().unwrap(), json!(-17));
        let mut parser = PartialJson::new();
        parser.push("17 ").unwrap();
        assert_eq!(parser.snapshot(), &json!(17));
    }

    #[test]
    fn literals_and_keys_wait_for_their_values() {
        let mut parser = PartialJson::with_partial_strings();
        parser.push(r#"{"a""#).unwrap();
        assert_eq!(parser.snapshot(), &json!({}));
        parser.push(": ").unwrap();
        assert_eq!(parser.snapshot(), &json!({}));
        parser.push("fals").unwrap();
        assert_eq!(parser.snapshot(), &json!({}));
        parser.push("e, \"b\": n").unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": false}));
        parser.push("ull, \"c\": [").unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": false, "b": null, "c": []}));
        parser.push(r#"{"#).unwrap();
        assert_eq!(
            parser.snapshot(),
            &json!({"a": false, "b": null, "c": [{}]})
        );
        parser.push(r#""d": ""#).unwrap();
        assert_eq!(
            parser.snapshot(),
            &json!({"a": false, "b": null, "c": [{"d": ""}]})
        );
    }

    #[test]
    fn partial_strings_grow_in_place() {
        let mut parser = PartialJson::with_partial_strings();
        parser.push(r#"{"a": ["he"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["he"]}));
        parser.push(r#"llo \u00"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello "]}));
        parser.push(r#"e9 \ud83d"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é "]}));
        parser.push(r#"\ude"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é "]}));
        parser.push(r#"00\"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é 😀"]}));
        parser.push(r#"n"], "b": "#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é 😀\n"]}));
        parser.push(r#""x"#).unwrap();
        assert_eq!(parser.snapshot(), &json!({"a": ["hello é 😀\n"], "b": "x"}));
        parser.push(r#"y"}"#).unwrap();
        assert_eq!(
            parser.finish().unwrap(),
            json!({"a": ["hello é 😀\n"], "b": "xy"})
        );
        // A top-level string, too.
        let mut parser = PartialJson::with_partial_strings();
        parser.push("\"ab").unwrap();
        assert_eq!(parser.snapshot(), &json!("ab"));
        parser.push("c\"").unwrap();
        assert_eq!(parser.finish().unwrap(), json!("abc"));
    }

    #[test]
    fn default_mode_withholds_strings() {
        let mut parser = PartialJson::default();
        parser.push(r#"["hello", "wor"#).unwrap();
        assert_eq!(parser.snapshot(), &json!(["hello"]));
        parser.push("ld\"").unwrap();
        assert_eq!(parser.snapshot(), &json!(["hello", "world"]));
        let mut parser = PartialJson::new();
        parser.push("\"top").unwrap();
        assert_eq!(parser.snapshot(), &Value::Null);
    }

    #[test]
    fn empty_fragments_and_whitespace_are_fine() {
        let mut parser = PartialJson::new();
        for piece in ["", "  ", "\n", "{", "", "}", " ", "\t\r\n"] {
            parser.push(piece).unwrap();
        }
        assert_eq!(parser.finish().unwrap(), json!({}));
        // Empty input: the snapshot is null and finishing is an error, as in serde_json.
        let mut parser = PartialJson::new();
        parser.push("").unwrap();
        parser.push(" ").unwrap();
        assert_eq!(parser.snapshot(), &Value::Null);
        assert_eq!(parser.finish().unwrap_err().kind(), &ErrorKind::Empty);
        assert!(serde_json::from_str::<Value>(" ").is_err());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_like_serde_json() {
        for doc in [
            r#"{"dup": 1, "dup": [2]}"#,
            r#"{"dup": [1, {"x": 2}], "dup": "s", "z": {"dup": 3, "dup": {}}}"#,
        ] {
            for partial in [false, true] {
                let mut parser = parser(partial);
                parser.push(doc).unwrap();
                assert_eq!(
                    parser.finish().unwrap(),
                    serde_json::from_str::<Value>(doc).unwrap()
                );
            }
        }
    }

    fn error_of(input: &str) -> PartialJsonError {
        let mut parser = PartialJson::new();
        match parser.push(input) {
            Err(err) => err,
            Ok(()) => parser.finish().unwrap_err(),
        }
    }

    #[test]
    fn every_error_kind() {
        let cases: &[(&str, ErrorKind, usize)] = &[
            (
                "{,",
                ErrorKind::Unexpected {
                    found: ',',
                    expected: "a string key or '}'",
                },
                1,
            ),
            (
                "[1,]",
                ErrorKind::Unexpected {
                    found: ']',
                    expected: "a value",
                },
                3,
            ),
            (
                "[}",
                ErrorKind::Unexpected {
                    found: '}',
                    expected: "a value or ']'",
                },
                1,
            ),
            (
                "{\"a\" 1}",
                ErrorKind::Unexpected {
                    found: '1',
                    expected: "':'",
                },
                5,
            ),
            (
                "{\"a\":1,}",
                ErrorKind::Unexpected {
                    found: '}',
                    expected: "a string key",
                },
                7,
            ),
            (
                "[1 2]",
                ErrorKind::Unexpected {
                    found: '2',
                    expected: "',' or ']'",
                },
                3,
            ),
            (
                "{\"a\":1]",
                ErrorKind::Unexpected {
                    found: ']',
                    expected: "',' or '}'",
                },
                6,
            ),
            (
                "tru e",
                ErrorKind::Unexpected {
                    found: ' ',
                    expected: "the rest of `true`, `false` or `null`",
                },
                3,
            ),
            (
                "[nulé]",
                ErrorKind::Unexpected {
                    found: 'é',
                    expected: "the rest of `true`, `false` or `null`",
                },
                4,
            ),
            (
                "é",
                ErrorKind::Unexpected {
                    found: 'é',
                    expected: "a value",
                },
                0,
            ),
            (r#"["\x"]"#, ErrorKind::InvalidEscape, 3),
            (r#""\é""#, ErrorKind::InvalidEscape, 2),
            (r#""\u12g4""#, ErrorKind::InvalidUnicodeEscape, 5),
            (r#""\ude00""#, ErrorKind::InvalidUnicodeEscape, 6),
            (r#""\ud83d""#, ErrorKind::InvalidUnicodeEscape, 7),
            (r#""\ud83dx""#, ErrorKind::InvalidUnicodeEscape, 7),
            (r#""\ud83d\n""#, ErrorKind::InvalidUnicodeEscape, 8),
            (r#""\ud83d\u0041""#, ErrorKind::InvalidUnicodeEscape, 12),
            (r#""\ud83d\ud83d""#, ErrorKind::InvalidUnicodeEscape, 12),
            ("\"a\u{1}\"", ErrorKind::ControlCharacter, 2),
            ("{\"a\tb\": 1}", ErrorKind::ControlCharacter, 3),
            ("[01]", ErrorKind::InvalidNumber, 1),
            ("[1.]", ErrorKind::InvalidNumber, 1),
            ("[1e]", ErrorKind::InvalidNumber, 1),
            (
                "[.5]",
                ErrorKind::Unexpected {
                    found: '.',
                    expected: "a value or ']'",
                },
                1,
            ),
            ("[ 1e400]", ErrorKind::InvalidNumber, 2),
            ("[-]", ErrorKind::InvalidNumber, 1),
            ("[1-2]", ErrorKind::InvalidNumber, 1),
            (
                "[+1]",
                ErrorKind::Unexpected {
                    found: '+',
                    expected: "a value or ']'",
                },
                1,
            ),
            ("-01", ErrorKind::InvalidNumber, 0),
            ("{} x", ErrorKind::TrailingCharacters, 3),
            ("1 2", ErrorKind::TrailingCharacters, 2),
            ("{\"a\": [1", ErrorKind::UnexpectedEnd, 8),
            ("\"abc", ErrorKind::UnexpectedEnd, 4),
            ("nul", ErrorKind::UnexpectedEnd, 3),
            ("{\"a\"", ErrorKind::UnexpectedEnd, 4),
            ("  ", ErrorKind::Empty, 2),
            ("", ErrorKind::Empty, 0),
        ];
        for (input, kind, offset) in cases {
            let err = error_of(input);
            assert_eq!((err.kind(), err.offset()), (kind, *offset), "{input:?}");
            assert!(
                serde_json::from_str::<Value>(input).is_err(),
                "serde_json accepts {input:?}"
            );
            assert!(err.to_string().ends_with(&format!(" at byte {offset}")));
        }
    }

    #[test]
    fn depth_is_bounded_like_serde_json() {
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(
            error_of(&deep).kind(),
            &ErrorKind::TooDeep {
                limit: DEFAULT_MAX_DEPTH
            }
        );
        assert_eq!(error_of(&deep).offset(), 127);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(
            parse_in_pieces(&ok, &[3, 100, 200], true).unwrap(),
            serde_json::from_str::<Value>(&ok).unwrap()
        );
        let mut parser = PartialJson::new().max_depth(1);
        assert_eq!(
            parser.push(r#"{"a": {"#).unwrap_err().kind(),
            &ErrorKind::TooDeep { limit: 1 }
        );
        let mut parser = PartialJson::new().max_depth(0);
        assert_eq!(
            parser.push("1 ").map(|()| parser.snapshot().clone()),
            Ok(json!(1))
        );
        // A hostile depth is an error, not a stack overflow.
        let hostile = "[{\"a\":".repeat(100_000);
        assert!(matches!(
            error_of(&hostile).kind(),
            ErrorKind::TooDeep { .. }
        ));
    }

    #[test]
    fn failed_parser_keeps_everything_and_stays_failed() {
        let mut parser = PartialJson::with_partial_strings();
        parser.push("{\"a\": [1, \"xy").unwrap();
        let shown = parser.snapshot().clone();
        let err = parser.push("z\", 2 x").unwrap_err();
        assert_eq!(err.offset(), 19);
        assert_eq!(parser.push("]}").unwrap_err(), err);
        assert_eq!(parser.raw(), "{\"a\": [1, \"xyz\", 2 x]}");
        assert_eq!(parser.finish().unwrap_err(), err);
        assert_eq!(parser.push("").unwrap_err(), err);
        assert!(is_prefix_of(&shown, parser.snapshot()));
        assert_eq!(parser.to_string(), parser.raw());
        assert!(!parser.is_complete());
        assert!(err.to_string().contains("at byte 19"));
        // `finish` errors are sticky too.
        let mut parser = PartialJson::new();
        parser.push("[1").unwrap();
        let err = parser.finish().unwrap_err();
        assert_eq!(parser.push("]").unwrap_err(), err);
    }

    #[test]
    fn finish_moves_the_value_out() {
        let mut parser = PartialJson::new();
        parser.push("[1, [2]] ").unwrap();
        assert!(parser.is_complete());
        assert_eq!(parser.finish().unwrap(), json!([1, [2]]));
        assert_eq!(parser.snapshot(), &Value::Null);
        assert_eq!(
            parser.push(" x").unwrap_err().kind(),
            &ErrorKind::TrailingCharacters
        );
    }

    #[test]
    fn numbers_agree_with_serde_json() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "7",
            "-7",
            "999999999999999999",
            "-999999999999999999",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.0",
            "1e2",
            "1E-2",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
            "0.1000000000000000055511151231257827",
            "123456789012345678901234567890",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(number_value(text), Some(expected.clone()), "{text}");
            // Same variant, not just equal: compare the serialisations too.
            let ours = parse_in_pieces(text, &[1], false).unwrap();
            assert_eq!(ours.to_string(), expected.to_string(), "{text}");
        }
    }

    /// A tool input of about `len` bytes like the benchmark's: records with strings, escapes,
    /// non-ASCII text, integers, floats, booleans and nulls.
    fn tool_input(len: usize) -> String {
        let mut doc = String::from("{\"path\": \"/srv/data/report.json\", \"rows\": [");
        let mut i = 0;
        while doc.len() < len {
            doc += &format!(
                "{{\"id\": {i}, \"score\": {}.5, \"tags\": [\"a\", \"b\\\"c\"], \"note\": \"line {i}\\nwith caf\u{e9} \\u00e9 \u{4e2d}\", \"none\": null}}, ",
                i % 97
            );
            i += 1;
        }
        doc += "true], \"done\": false}";
        doc
    }

    /// Pushes `doc` in fragments of about eight bytes (on character boundaries, as `&str`
    /// fragments are), reading the snapshot after each; returns the parser's work count and
    /// the number of fragments.
    fn eight_byte_fragments(doc: &str, partial: bool) -> (usize, usize) {
        let mut parser = parser(partial);
        let mut start = 0;
        let mut fragments = 0;
        while start < doc.len() {
            let mut end = (start + 8).min(doc.len());
            while !doc.is_char_boundary(end) {
                end += 1;
            }
            parser.push(&doc[start..end]).unwrap();
            assert!(parser.snapshot().is_object());
            start = end;
            fragments += 1;
        }
        let work = parser.core.work;
        assert_eq!(
            parser.finish().unwrap(),
            serde_json::from_str::<Value>(doc).unwrap()
        );
        (work, fragments)
    }

    #[test]
    fn a_mebibyte_in_eight_byte_fragments_is_linear_work() {
        for partial in [false, true] {
            let (small_work, small_fragments) = eight_byte_fragments(&tool_input(1 << 18), partial);
            let (work, fragments) = eight_byte_fragments(&tool_input(1 << 20), partial);
            // At most one walk (of at most 4 levels here) per fragment plus one per closing
            // bracket, and one string look-up per fragment.
            assert!(work <= 2 * 4 * fragments, "{work} steps for {fragments}");
            // Four times the input, four times the work (to within a few percent).
            assert!(
                work * 100 <= small_work * 4 * 110,
                "{small_work} then {work}"
            );
            assert!(fragments * 100 <= small_fragments * 4 * 110);
        }
    }

    #[test]
    fn one_big_fragment_walks_once_per_closing_bracket_at_most() {
        let doc = tool_input(1 << 16);
        let mut parser = PartialJson::new();
        parser.push(&doc).unwrap();
        let closes = doc.bytes().filter(|&b| b == b']' || b == b'}').count();
        assert!(parser.core.work <= 4 * (1 + closes));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)), // non-finite becomes null
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "[a-z\"\\\\/\\u{0}-\\u{1f}\\u{7f}é中😀 ]{0,8}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"\\\\é\\u{1}]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_values_in_arbitrary_pieces(
            value in arb_json(),
            cuts in prop::collection::vec(any::<usize>(), 0..16),
            pretty in any::<bool>(),
            partial in any::<bool>(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let expected: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(parse_in_pieces(&text, &cuts, partial).unwrap(), expected);
        }

        #[test]
        fn arbitrary_text_agrees_with_serde_json(
            text in "[\\[\\]{}\",:0-9a-z.eE+\\- \\\\u]{0,24}",
            cuts in prop::collection::vec(any::<usize>(), 0..6),
            partial in any::<bool>(),
        ) {
            let ours = parse_in_pieces(&text, &cuts, partial);
            match serde_json::from_str::<Value>(&text) {
                Ok(expected) => prop_assert_eq!(ours.unwrap(), expected),
                Err(_) => prop_assert!(ours.is_err(), "we accepted {:?}", text),
            }
        }

        #[test]
        fn arbitrary_numbers_agree_with_serde_json(
            text in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
            cut in any::<usize>(),
        ) {
            let expected: Result<Value, _> = serde_json::from_str(&text);
            let doc = format!("[{text}]");
            let ours = parse_in_pieces(&doc, &[cut], false);
            match expected {
                Ok(expected) => {
                    let ours = ours.unwrap();
                    prop_assert_eq!(ours.to_string(), format!("[{expected}]"));
                    prop_assert_eq!(ours, json!([expected]));
                }
                Err(_) => prop_assert!(ours.is_err()),
            }
        }

        #[test]
        fn arbitrary_strings_with_escapes(
            chars in prop::collection::vec(any::<char>(), 0..12),
            escape_all in any::<bool>(),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            // Every character as a `\u` escape (surrogate pairs above U+FFFF), or as
            // serde_json writes it.
            let text = if escape_all {
                let mut text = String::from("\"");
                for c in &chars {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        text += &format!("\\u{unit:04x}");
                    }
                }
                text + "\""
            } else {
                serde_json::to_string(&chars.iter().collect::<String>()).unwrap()
            };
            let expected: String = chars.iter().collect();
            for partial in [false, true] {
                prop_assert_eq!(
                    parse_in_pieces(&text, &cuts, partial).unwrap(),
                    Value::String(expected.clone())
                );
            }
        }
    }

    /// Writes a finite `f64` as JSON number text in one of the forms a producer may use:
    /// Rust's shortest decimal, its exponent form, `serde_json`'s, or 17 significant digits.
    fn float_text(value: f64, form: u8) -> String {
        match form % 4 {
            0 => format!("{value}"),
            1 => format!("{value:e}"),
            2 => serde_json::to_string(&value).unwrap(),
            _ => format!("{value:.16e}"),
        }
    }

    #[test]
    fn floats_are_correctly_rounded() {
        // Values that a parser without correct rounding moves by one unit in the last place.
        for text in ["123456789.12345679", "-0.36504322718152316"] {
            let doc = format!("{{\"x\": {text}}}");
            let bits = text.parse::<f64>().unwrap().to_bits();
            for partial in [false, true] {
                for cut in 0..=doc.len() {
                    let value = parse_in_pieces(&doc, &[cut], partial).unwrap();
                    assert_eq!(
                        value["x"].as_f64().unwrap().to_bits(),
                        bits,
                        "{doc} cut at {cut}"
                    );
                    // Written back in the shortest form that reads as the same double.
                    assert_eq!(value["x"].to_string(), text);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_finite_double_keeps_its_bits(
            bits in any::<u64>(),
            form in any::<u8>(),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
            partial in any::<bool>(),
        ) {
            let value = f64::from_bits(bits);
            prop_assume!(value.is_finite());
            let text = float_text(value, form);
            let doc = format!("[{text}, {{\"v\": {text}}}]");
            let parsed = parse_in_pieces(&doc, &cuts, partial).unwrap();
            for number in [&parsed[0], &parsed[1]["v"]] {
                prop_assert_eq!(number.as_f64().unwrap().to_bits(), bits, "{}", text);
                // The written form reads back as the same double.
                let again: f64 = number.to_string().parse().unwrap();
                prop_assert_eq!(again.to_bits(), bits, "{}", text);
            }
        }
    }

    #[test]
    fn a_tree_out_of_step_is_an_error_not_a_silent_loss() {
        // Only a defect could desynchronise the tree from the stack; force one by hand.
        for (start, rest) in [("[1, [", "2]]"), ("{\"a\": [", "true]}"), ("[[", "[]]]")] {
            let mut parser = PartialJson::new();
            parser.push(start).unwrap();
            parser.root = Value::Bool(false);
            let err = parser.push(rest).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::OutOfStep, "{start}{rest}");
            // The error sticks, and `finish` reports it instead of a value missing changes.
            assert_eq!(parser.finish().unwrap_err().kind(), &ErrorKind::OutOfStep);
        }
        let mut parser = PartialJson::with_partial_strings();
        parser.push("[\"ab").unwrap();
        parser.root = Value::Array(vec![Value::Null]);
        assert_eq!(parser.push("c").unwrap_err().kind(), &ErrorKind::OutOfStep);
    }

    #[test]
    fn display_is_the_raw_input() {
        let mut parser = PartialJson::new();
        parser.push("[1,").unwrap();
        assert_eq!(parser.to_string(), "[1,");
        assert_eq!(vec![parser.raw()], ["[1,"]);
    }
}
