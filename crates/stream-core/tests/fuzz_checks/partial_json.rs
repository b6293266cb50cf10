//! The incremental partial-JSON parser on arbitrary text in arbitrary pieces: it never panics,
//! every snapshot only adds to the one before, and whenever `serde_json` accepts the whole
//! text, the final value equals `serde_json`'s (and when it rejects it, so do we).

use arbitrary::Arbitrary;
use serde_json::Value;
use stream_core::partial_json::PartialJson;

#[derive(Debug, Arbitrary)]
struct Input {
    cuts: Vec<u16>,
    partial_strings: bool,
    text: String,
}

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

/// The string literals of a JSON-like text, unescaped where they are valid JSON strings.
fn string_literals(text: &str) -> Vec<String> {
    let mut literals = Vec::new();
    let mut chars = text.char_indices();
    while let Some((start, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let literal = &text[start..=end];
        literals
            .push(serde_json::from_str::<String>(literal).unwrap_or_else(|_| literal.to_owned()));
    }
    literals
}

/// Runs the target on one input: the bytes are read as the fuzzer reads them
/// (`arbitrary`, taking the rest), and inputs that do not decode are skipped.
pub(crate) fn check(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    let text = &input.text;
    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (text.len() + 1))
        .filter(|&c| text.is_char_boundary(c))
        .collect();
    cuts.sort_unstable();
    cuts.push(text.len());
    let mut parser = if input.partial_strings {
        PartialJson::with_partial_strings()
    } else {
        PartialJson::new()
    };
    // A duplicate key may replace a shown value (serde_json keeps the last), which is the one
    // way a snapshot may take something back: allowed only when a string literal repeats
    // (compared after unescaping, so `"a"` and `"\u0061"` count as the same).
    let may_replace = {
        let literals = string_literals(text);
        literals
            .iter()
            .enumerate()
            .any(|(i, a)| literals[i + 1..].contains(a))
    };
    let mut last = Value::Null;
    let mut start = 0;
    let mut failed = false;
    for end in cuts {
        if parser.push(&text[start..end]).is_err() {
            failed = true;
        }
        start = end;
        if !failed && !may_replace {
            let now = parser.snapshot().clone();
            assert!(is_prefix_of(&last, &now), "{last} then {now}");
            last = now;
        }
    }
    assert_eq!(parser.raw(), text.as_str());
    let ours = parser.finish();
    match serde_json::from_str::<Value>(text) {
        Ok(expected) => assert_eq!(ours.expect("serde_json accepts it"), expected),
        Err(_) => assert!(ours.is_err(), "accepted what serde_json rejects: {text:?}"),
    }
}
