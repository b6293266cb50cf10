//! The event stream decoder against the reference, `aws-smithy-eventstream` (the AWS SDK for
//! Rust's): messages it writes, we read, at every split; messages we write, it reads; a flipped
//! byte anywhere is a typed error, never a panic or a wrong message.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::DateTime;
use aws_smithy_types::event_stream::{
    Header as AwsHeader, HeaderValue as AwsValue, Message as AwsMessage,
};
use aws_smithy_types::str_bytes::StrBytes;
use bytes::Bytes;
use proptest::prelude::*;
use stream_core::eventstream::{Decoder, EventStreamError, HeaderValue, Message};

fn to_aws(message: &Message) -> AwsMessage {
    let mut aws = AwsMessage::new(message.payload().clone());
    for header in message.headers() {
        let value = match &header.value {
            HeaderValue::Bool(value) => AwsValue::Bool(*value),
            HeaderValue::Byte(value) => AwsValue::Byte(*value),
            HeaderValue::Int16(value) => AwsValue::Int16(*value),
            HeaderValue::Int32(value) => AwsValue::Int32(*value),
            HeaderValue::Int64(value) => AwsValue::Int64(*value),
            HeaderValue::ByteArray(bytes) => AwsValue::ByteArray(bytes.clone()),
            HeaderValue::String(text) => AwsValue::String(StrBytes::from(text.clone())),
            HeaderValue::Timestamp(millis) => AwsValue::Timestamp(DateTime::from_millis(*millis)),
            HeaderValue::Uuid(uuid) => AwsValue::Uuid(*uuid),
            other => panic!("a header value the test does not know: {other:?}"),
        };
        aws = aws.add_header(AwsHeader::new(header.name.clone(), value));
    }
    aws
}

fn from_aws(aws: &AwsMessage) -> Message {
    let mut message = Message::new(aws.payload().clone());
    for header in aws.headers() {
        let value = match header.value() {
            AwsValue::Bool(value) => HeaderValue::Bool(*value),
            AwsValue::Byte(value) => HeaderValue::Byte(*value),
            AwsValue::Int16(value) => HeaderValue::Int16(*value),
            AwsValue::Int32(value) => HeaderValue::Int32(*value),
            AwsValue::Int64(value) => HeaderValue::Int64(*value),
            AwsValue::ByteArray(bytes) => HeaderValue::ByteArray(bytes.clone()),
            AwsValue::String(text) => HeaderValue::String(text.as_str().to_owned()),
            AwsValue::Timestamp(time) => HeaderValue::Timestamp(time.to_millis().unwrap()),
            AwsValue::Uuid(uuid) => HeaderValue::Uuid(*uuid),
            other => panic!("a header value the test does not know: {other:?}"),
        };
        message = message.with_header(header.name().as_str(), value);
    }
    message
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<bool>().prop_map(HeaderValue::Bool),
        any::<i8>().prop_map(HeaderValue::Byte),
        any::<i16>().prop_map(HeaderValue::Int16),
        any::<i32>().prop_map(HeaderValue::Int32),
        any::<i64>().prop_map(HeaderValue::Int64),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|bytes| HeaderValue::ByteArray(Bytes::from(bytes))),
        ".{0,20}".prop_map(HeaderValue::String),
        // Whole milliseconds the reference's `DateTime` keeps exactly.
        (-1_000_000_000_000i64..4_000_000_000_000).prop_map(HeaderValue::Timestamp),
        any::<u128>().prop_map(HeaderValue::Uuid),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(("[a-z:-]{1,12}", header_value()), 0..6),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(headers, payload)| {
            headers
                .into_iter()
                .fold(Message::new(payload), |message, (name, value)| {
                    message.with_header(name, value)
                })
        })
}

/// Decodes `wire` fed in pieces cut at `cuts` (sorted offsets).
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<Vec<Message>, EventStreamError> {
    let mut decoder = Decoder::new();
    let mut messages = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([&wire.len()]) {
        let cut = cut.clamp(start, wire.len());
        decoder.feed_slice(&wire[start..cut]);
        start = cut;
        while let Some(message) = decoder.next_message()? {
            messages.push(message);
        }
    }
    decoder.finish();
    while let Some(message) = decoder.next_message()? {
        messages.push(message);
    }
    Ok(messages)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn what_the_reference_writes_we_read_at_any_split(
        messages in proptest::collection::vec(message(), 1..5),
        mut cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let mut wire = Vec::new();
        for message in &messages {
            write_message_to(&to_aws(message), &mut wire).unwrap();
        }
        cuts.sort_unstable();
        prop_assert_eq!(decode_in_pieces(&wire, &cuts).unwrap(), messages);
    }

    #[test]
    fn what_we_write_the_reference_reads(message in message()) {
        let wire = message.encode();
        let mut reference_wire = Vec::new();
        write_message_to(&to_aws(&message), &mut reference_wire).unwrap();
        prop_assert_eq!(&wire[..], &reference_wire[..], "the same bytes");
        let read = read_message_from(wire).unwrap();
        prop_assert_eq!(from_aws(&read), message);
    }

    #[test]
    fn a_flipped_byte_is_a_typed_error(message in message(), at in any::<usize>(), bit in 0u8..8) {
        let mut wire = message.encode().to_vec();
        let at = at % wire.len();
        wire[at] ^= 1 << bit;
        let result = decode_in_pieces(&wire, &[at]);
        prop_assert!(result.is_err(), "byte {} flipped: {:?}", at, result);
    }
}

#[test]
fn a_message_in_one_chunk_is_not_copied() {
    let wire = Message::new(vec![7u8; 64]).encode();
    let mut decoder = Decoder::new();
    decoder.feed(wire.clone());
    let message = decoder.next_message().unwrap().unwrap();
    assert!(
        wire.as_ptr_range().contains(&message.payload().as_ptr()),
        "the payload is a slice of the chunk"
    );
}

#[test]
fn a_length_past_the_limit_is_refused_before_it_is_buffered() {
    let wire = Message::new(vec![0u8; 1000]).encode();
    let mut decoder = Decoder::with_max_message_len(512);
    decoder.feed(wire.slice(..12));
    assert!(matches!(
        decoder.next_message(),
        Err(EventStreamError::MessageTooLarge {
            total_len: 1016,
            limit: 512,
            ..
        })
    ));
}
