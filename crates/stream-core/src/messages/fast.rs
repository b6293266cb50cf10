//! The fast path of [`StreamEvent::parse`](super::StreamEvent::parse) for the event that makes
//! up nearly every stream: a `content_block_delta` carrying a `text_delta`, `input_json_delta` or
//! `thinking_delta`.
//!
//! It reads exactly one shape: an object with the keys `type` (a string), `index` (an unsigned
//! integer) and `delta` (an object with the keys `type` and the one string field its type
//! names), in any order, with any JSON whitespace. Anything else (another key, a key twice, a
//! `null`, an escaped key, a number with a fraction, trailing bytes, invalid JSON) makes it
//! return `None`, and the general serde path decodes the event and reports its errors. So on
//! what it accepts it agrees with the general path, and it never rejects anything itself.
//!
//! String values without escapes are taken as they are (after checking for the control
//! characters JSON forbids in strings); values with escapes are unescaped by `serde_json`.

use alloc::string::String;

use super::Delta;

/// The index and delta of a `content_block_delta` of the common shape, or `None` for anything
/// else.
pub(super) fn content_block_delta(data: &str) -> Option<(usize, Delta)> {
    compact(data).or_else(|| any_layout(data))
}

/// The compact layout the API sends, keys in its order and no whitespace: compared as
/// fixed text, so only the index and the string value are read.
fn compact(data: &str) -> Option<(usize, Delta)> {
    const START: &[u8] = br#"{"type":"content_block_delta","index":"#;
    const DELTA: &[u8] = br#","delta":{"type":""#;
    let mut cursor = Cursor {
        bytes: data.as_bytes(),
        data,
        at: START.len(),
    };
    if !cursor.bytes.starts_with(START) {
        return None;
    }
    let index = cursor.unsigned()?;
    cursor
        .bytes
        .get(cursor.at..)?
        .starts_with(DELTA)
        .then_some(())?;
    cursor.at += DELTA.len();
    let rest = &cursor.bytes[cursor.at..];
    let (kind, skip): (fn(String) -> Delta, usize) = if rest.starts_with(br#"text_delta","text":"#)
    {
        (Delta::Text, br#"text_delta","text":"#.len())
    } else if rest.starts_with(br#"input_json_delta","partial_json":"#) {
        (
            Delta::InputJson,
            br#"input_json_delta","partial_json":"#.len(),
        )
    } else if rest.starts_with(br#"thinking_delta","thinking":"#) {
        (Delta::Thinking, br#"thinking_delta","thinking":"#.len())
    } else {
        return None;
    };
    cursor.at += skip;
    let text = cursor.string()?;
    (cursor.bytes.get(cursor.at..)? == b"}}").then(|| (index, kind(text)))
}

/// Any key order and whitespace.
fn any_layout(data: &str) -> Option<(usize, Delta)> {
    let mut cursor = Cursor {
        bytes: data.as_bytes(),
        data,
        at: 0,
    };
    let (mut index, mut delta, mut seen_type) = (None, None, false);
    cursor.object(|cursor, key| {
        match key {
            b"type" if !seen_type => {
                cursor.string()?;
                seen_type = true;
            }
            b"index" if index.is_none() => index = Some(cursor.unsigned()?),
            b"delta" if delta.is_none() => delta = Some(cursor.delta()?),
            _ => return None,
        }
        Some(())
    })?;
    cursor.skip_whitespace();
    if cursor.at != cursor.bytes.len() {
        return None;
    }
    Some((index?, delta?))
}

/// A position in the event's data.
struct Cursor<'a> {
    bytes: &'a [u8],
    data: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Skips whitespace and takes `byte`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// Reads an object, handing each key (unescaped keys only) to `value`, which reads the
    /// value.
    fn object(&mut self, mut value: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        loop {
            self.skip_whitespace();
            let (key, escaped) = self.raw_string()?;
            if escaped {
                return None;
            }
            self.expect(b':')?;
            value(self, key)?;
            self.skip_whitespace();
            match self.bytes.get(self.at)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The bytes between the quotes of a string token (escapes left as they are) and whether
    /// it has escapes; the cursor moves past the closing quote. One pass: strings are short.
    /// Control characters make it `None`.
    fn raw_string(&mut self) -> Option<(&'a [u8], bool)> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            at = skip_plain(self.bytes, at);
            match *self.bytes.get(at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                0..0x20 => return None,
                _ => at += 1,
            }
        }
        self.at = at + 1;
        Some((&self.bytes[start..at], escaped))
    }

    /// A string value, unescaped.
    fn string(&mut self) -> Option<String> {
        self.skip_whitespace();
        let start = self.at;
        let (_, escaped) = self.raw_string()?;
        if escaped {
            serde_json::from_str(self.data.get(start..self.at)?).ok()
        } else {
            self.data.get(start + 1..self.at - 1).map(String::from)
        }
    }

    /// An unsigned integer that fits in `usize`, without sign, fraction or exponent.
    fn unsigned(&mut self) -> Option<usize> {
        self.skip_whitespace();
        let digits = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.bytes[self.at..self.at + digits];
        if digits == 0 || digits > 18 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.at + digits) {
            return None;
        }
        self.at += digits;
        let value = text
            .iter()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
        usize::try_from(value).ok()
    }

    /// The `delta` object: its `type` and the string field that type carries.
    fn delta(&mut self) -> Option<Delta> {
        self.skip_whitespace();
        let (mut kind, mut text) = (None, None);
        self.object(|cursor, key| {
            match key {
                b"type" if kind.is_none() => {
                    cursor.skip_whitespace();
                    let (raw, _) = cursor.raw_string()?;
                    kind = Some(match raw {
                        b"text_delta" => b"text" as &[u8],
                        b"input_json_delta" => b"partial_json",
                        b"thinking_delta" => b"thinking",
                        _ => return None,
                    });
                }
                b"text" | b"partial_json" | b"thinking" if text.is_none() => {
                    text = Some((key, cursor.string()?));
                }
                _ => return None,
            }
            Some(())
        })?;
        let (field, text) = text?;
        let kind = kind?;
        if field != kind {
            return None;
        }
        Some(match kind {
            b"text" => Delta::Text(text),
            b"partial_json" => Delta::InputJson(text),
            _ => Delta::Thinking(text),
        })
    }
}

/// The position of the first byte at or after `at` that is a quote, a backslash or a control
/// character (or the end): eight bytes at a time, with the usual word tricks. A flag can be
/// wrong only above a byte that truly matches, so the lowest flag is exact.
fn skip_plain(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(word) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().unwrap_or([b'"'; 8]));
        let flags = zero_byte(word ^ QUOTES)
            | zero_byte(word ^ BACKSLASHES)
            | (word.wrapping_sub(SPACES) & !word & HIGHS);
        if flags != 0 {
            return at + (flags.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::StreamEvent;
    use alloc::string::ToString;

    /// The general path's reading of a `content_block_delta`.
    fn general(data: &str) -> Option<(usize, Delta)> {
        match StreamEvent::parse_general("content_block_delta", data) {
            Ok(StreamEvent::ContentBlockDelta { index, delta }) => Some((index, delta)),
            _ => None,
        }
    }

    #[test]
    fn common_shapes_take_the_fast_path_and_agree() {
        for data in [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type": "content_block_delta", "index": 12, "delta": {"type": "text_delta", "text": "caf\u00e9 \"q\" \n"}}"#,
            " {\"index\":3,\"delta\":{\"partial_json\":\"{\\\"a\\\": 1\",\"type\":\"input_json_delta\"},\"type\":\"content_block_delta\"}\r\n",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm 中文 🦀"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\ud83e\udd80"}}"#,
            r#"{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{\"a\": [1, 2"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x\ty"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}} "#,
        ] {
            let fast = content_block_delta(data);
            assert!(fast.is_some(), "not taken: {data}");
            assert_eq!(fast, general(data), "{data}");
            assert_eq!(any_layout(data), fast, "{data}");
            if data.starts_with(r#"{"type":"content_block_delta","index":"#) && data.ends_with("}}")
            {
                assert_eq!(compact(data), fast, "{data}");
            }
        }
    }

    #[test]
    fn skip_plain_stops_at_the_first_special_byte() {
        for (text, expected) in [
            ("abcdefghijklmnop\"", 16),
            ("abc\\defghijklmnop", 3),
            ("abcdefgh\u{1}ijk", 8),
            ("é中🦀abcdefgh\"", 17),
            ("\"", 0),
            ("abc", 3),
            ("", 0),
            ("\u{7f}\u{80}abcdefghij\u{1f}\"", 13),
        ] {
            assert_eq!(skip_plain(text.as_bytes(), 0), expected, "{text:?}");
            // From every start, the answer is the first special byte at or after it.
            for start in 0..=text.len() {
                let want = text.as_bytes()[start..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .map_or(text.len(), |i| start + i);
                assert_eq!(
                    skip_plain(text.as_bytes(), start),
                    want,
                    "{text:?} from {start}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn skip_plain_equals_a_byte_loop(bytes: alloc::vec::Vec<u8>, start in 0usize..64) {
            let start = start.min(bytes.len());
            let want = bytes[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(bytes.len(), |i| start + i);
            proptest::prop_assert_eq!(skip_plain(&bytes, start), want);
        }
    }

    #[test]
    fn anything_else_goes_to_the_general_path() {
        for data in [
            // Other keys, kinds, fields, duplicates and nulls.
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"extra":1}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"#,
            r#"{"type":"content_block_delta","index":00,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","thinking":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"index":1,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}"#,
            r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0}"#,
            r#"{"typ\u0065":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
            // Numbers that are not plain unsigned integers.
            r#"{"index":-1,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"index":1.0,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"index":1e2,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"index":01,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"index":99999999999999999999,"delta":{"type":"text_delta","text":"a"}}"#,
            // Invalid JSON.
            "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\tb\"}}",
            r#"{"index":0,"delta":{"type":"text_delta","text":"\x"}}"#,
            r#"{"index":0,"delta":{"type":"text_delta","text":"a"}} x"#,
            r#"{"index":0,"delta":{"type":"text_delta","text":"a"}"#,
            r#"{"index":0,"delta":{"type":"text_delta","text":"a\"#,
            r#"{"index":0,,"delta":{"type":"text_delta","text":"a"}}"#,
            "",
        ] {
            assert_eq!(content_block_delta(data), None, "taken: {data}");
            assert_eq!(compact(data), None, "taken: {data}");
            // Whatever the general path makes of it is what the caller gets.
            let parsed = StreamEvent::parse("content_block_delta", data);
            let general = StreamEvent::parse_general("content_block_delta", data);
            assert_eq!(
                parsed.as_ref().map_err(ToString::to_string),
                general.as_ref().map_err(ToString::to_string),
                "{data}"
            );
        }
    }
}
