//! A small, obviously correct SSE decoder, written straight from the WHATWG text and kept for
//! tests and fuzzing only: decode the whole stream to text first, then split lines and apply
//! the field rules one character at a time. No limits, no incremental input, no speed.
//!
//! Shared by the integration tests and the fuzz targets (`#[path]`-included), so that the
//! production decoder is always compared against the same oracle.

/// One dispatched event, as plain owned strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefEvent {
    /// The event type (`"message"` when no non-empty `event` field set one).
    pub(crate) event: String,
    /// The data buffer without its trailing LF.
    pub(crate) data: String,
    /// The last event ID at dispatch.
    pub(crate) id: String,
    /// The last valid `retry` of the event's block.
    pub(crate) retry: Option<u64>,
}

impl RefEvent {
    /// The decoder's next event through the borrowed API (`next_event_ref`) or the owned one
    /// (`next_event`), as plain strings.
    pub(crate) fn next(
        decoder: &mut stream_core::sse::Decoder,
        borrowed: bool,
    ) -> Result<Option<Self>, stream_core::sse::SseError> {
        if borrowed {
            decoder.next_event_ref().map(|e| e.map(Self::from_event))
        } else {
            decoder
                .next_event()
                .map(|e| e.map(|e| Self::from_event(e.as_event_ref())))
        }
    }

    /// The same fields taken from a production event.
    pub(crate) fn from_event(event: stream_core::sse::EventRef<'_>) -> Self {
        Self {
            event: event.event_type().to_owned(),
            data: event.data().to_owned(),
            id: event.id().to_owned(),
            retry: event.retry(),
        }
    }
}

/// Decodes a complete stream. With `flush_at_end`, an unterminated last line counts and the
/// last block is dispatched (the decoder's opt-in), else both are discarded (the standard).
pub(crate) fn decode(input: &[u8], flush_at_end: bool) -> Vec<RefEvent> {
    decode_with_end(input, flush_at_end).0
}

/// What a stream leaves once it is over.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RefEnd {
    /// The standard's last event ID string: the last event ID buffer at the last blank line
    /// (or at the last block, dispatched at the end with `flush_at_end`).
    pub(crate) last_event_id: String,
    /// The last valid `retry` value, whatever its block became.
    pub(crate) reconnection_time: Option<u64>,
    /// The stream ended inside a line, or inside a block that holds an `event` or `data`
    /// field or a valid `id` or `retry` field.
    pub(crate) mid_event: bool,
}

/// [`decode`], and what the stream leaves once it is over.
pub(crate) fn decode_with_end(input: &[u8], flush_at_end: bool) -> (Vec<RefEvent>, RefEnd) {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = String::from_utf8_lossy(input);

    // Split into lines; remember whether the last one was terminated.
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut terminated = true;
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
                terminated = true;
            }
            '\n' => {
                lines.push(std::mem::take(&mut current));
                terminated = true;
            }
            other => {
                current.push(other);
                terminated = false;
            }
        }
    }
    let unterminated = !terminated;
    if !terminated && flush_at_end {
        lines.push(current);
    }

    let mut events = Vec::new();
    let mut event_type = String::new();
    let mut data = String::new();
    let mut last_id = String::new();
    let mut last_id_string = String::new();
    let mut reconnection_time = None;
    let mut open_block = false;
    let mut retry = None;
    let dispatch = |event_type: &mut String,
                    data: &mut String,
                    retry: &mut Option<u64>,
                    last_id: &String,
                    events: &mut Vec<RefEvent>| {
        let block_retry = retry.take();
        if data.is_empty() {
            event_type.clear();
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        events.push(RefEvent {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type.clone()
            },
            data: std::mem::take(data),
            id: last_id.clone(),
            retry: block_retry,
        });
        event_type.clear();
    };
    for line in &lines {
        if line.is_empty() {
            last_id_string.clone_from(&last_id);
            open_block = false;
            dispatch(
                &mut event_type,
                &mut data,
                &mut retry,
                &last_id,
                &mut events,
            );
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_str(), ""),
        };
        match name {
            "event" => {
                event_type = value.to_owned();
                open_block = true;
            }
            "data" => {
                data.push_str(value);
                data.push('\n');
                open_block = true;
            }
            "id" if !value.contains('\0') => {
                last_id = value.to_owned();
                open_block = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let mut n: u64 = 0;
                for b in value.bytes() {
                    n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
                }
                retry = Some(n);
                reconnection_time = Some(n);
                open_block = true;
            }
            _ => {}
        }
    }
    if flush_at_end {
        last_id_string.clone_from(&last_id);
        dispatch(
            &mut event_type,
            &mut data,
            &mut retry,
            &last_id,
            &mut events,
        );
    }
    let end = RefEnd {
        last_event_id: last_id_string,
        reconnection_time,
        mid_event: unterminated || open_block,
    };
    (events, end)
}
