use super::*;
use crate::event::decode_event;
use proptest::prelude::*;

const TRADE: &str = r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"trade":{"ms_of_day":34200000,"sequence":1,"size":100,"condition":0,"price":190.5,"exchange":57,"date":20250321}}"#;

/// Feeds `chunks` the way the HTTP source does: after a control object, the rest of the read
/// again. Returns the data events kept and the controls, in order, as strings.
fn run(stream: &mut JsonEventStream, chunks: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        loop {
            let fed = stream.feed(rest, |json| {
                decode_event(json).map(|decoded| {
                    if decoded.is_some() {
                        out.push(String::from_utf8(json.to_vec()).unwrap());
                    }
                    decoded.is_some()
                })
            });
            rest = &rest[fed.consumed..];
            let Some(control) = fed.control else {
                assert!(rest.is_empty());
                break;
            };
            out.push(format!("{control:?}"));
        }
    }
    out
}

#[test]
fn events_and_controls_come_in_stream_order() {
    let body = format!(
        "{TRADE}{{\"StreamStatus\":\"EndSnapshot\"}}\n{TRADE}\n{{\"StreamStatus\":\"GoAway\"}}{TRADE}"
    );
    let mut stream = JsonEventStream::default();
    let got = run(&mut stream, &[body.as_bytes()]);
    assert_eq!(
        got,
        vec![TRADE, "EndSnapshot", TRADE, "GoAway", TRADE]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    );
    assert_eq!(stream.events(), 3);
    assert_eq!(stream.skipped(), 0);
}

#[test]
fn the_feed_stops_right_after_a_control_object() {
    let body = format!("{TRADE} {{\"StreamStatus\":\"GoAway\"}} {TRADE}");
    let mut stream = JsonEventStream::default();
    let fed = stream.feed(body.as_bytes(), |json| {
        decode_event(json).map(|d| d.is_some())
    });
    assert_eq!(fed.events, 1);
    assert_eq!(fed.control, Some(Control::GoAway));
    assert!(fed.control.unwrap().ends_request());
    assert_eq!(&body[fed.consumed..], format!(" {TRADE}"));
    assert_eq!(stream.offset(), fed.consumed as u64);
}

#[test]
fn errors_keep_their_message() {
    let mut stream = JsonEventStream::default();
    let body = br#"{"Error":"Unauthorized","Message":"token expired"}{"Error":{"code":7}}{"StreamStatus":"Paused"}"#;
    let got = run(&mut stream, &[body]);
    assert_eq!(
        got,
        vec![
            r#"Error { error: "Unauthorized", message: Some("token expired") }"#,
            r#"Error { error: "{\"code\":7}", message: None }"#,
            r#"Status("Paused")"#,
        ]
    );
}

#[test]
fn invalid_objects_are_skipped_counted_and_located() {
    let mut stream = JsonEventStream::new(256);
    let bad_price = TRADE.replace("190.5", "\"x\"");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300));
    let body = format!(
        "{{\"foo\":1}}{bad_price}{big}]{{\"header\":{{\"type\":\"STATUS\"}}}}{{\"a\":\"\u{e9}\"}}"
    );
    let mut skips = Vec::new();
    let mut offset = 0;
    for piece in body.as_bytes().chunks(7) {
        let fed = stream.feed(piece, |json| decode_event(json).map(|d| d.is_some()));
        assert!(fed.control.is_none());
        offset += piece.len();
        if let Some(skip) = stream.take_latest_skip() {
            skips.push(skip.to_string());
        }
    }
    assert_eq!(stream.offset(), offset as u64);
    assert_eq!(stream.events(), 0);
    assert_eq!(stream.skipped(), 6);
    let trade_at = "{\"foo\":1}".len();
    assert_eq!(
        skips[0],
        "at stream offset 0: not an event: no header, StreamStatus or Error"
    );
    assert!(skips[1].starts_with(&format!("at stream offset {trade_at}: trade.price:")));
    assert!(skips[2].contains("exceeds max_object_size of 256 bytes"));
    assert!(skips[3].contains("unexpected byte 0x5d (']')"));
    assert!(skips[4].ends_with(r#"header.type: "STATUS" is not a data event"#));
    assert!(skips[5].ends_with("not an event: no header, StreamStatus or Error"));
    assert!(stream.buffered() <= 256);
}

#[test]
fn invalid_utf8_is_skipped() {
    let mut stream = JsonEventStream::default();
    let fed = stream.feed(b"{\"a\":\"\xff\"}", |_| Ok::<_, String>(true));
    assert_eq!(fed.events, 0);
    assert_eq!(stream.skipped(), 1);
    assert_eq!(
        stream.take_latest_skip().unwrap().reason,
        "invalid UTF-8 at byte 6"
    );
}

#[test]
fn long_texts_are_clipped_at_a_character_boundary() {
    let long = "é".repeat(MAX_TEXT);
    let body = format!("{{\"Error\":\"{long}\"}}");
    let mut stream = JsonEventStream::default();
    let fed = stream.feed(body.as_bytes(), |_| Ok::<_, String>(false));
    let Some(Control::Error { error, message }) = fed.control else {
        panic!("expected an Error control");
    };
    assert!(error.len() <= MAX_TEXT + '…'.len_utf8());
    assert!(error.ends_with('…'));
    assert_eq!(message, None);
}

/// `body` cut into reads of `sizes[0]`, `sizes[1]`, … bytes (cycling), as a proxy might.
fn chunked<'a>(body: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        chunks.push(head);
        rest = tail;
    }
    chunks
}

proptest! {
    /// Any chunking of a stream of events and controls gives the same events and controls in
    /// the same order.
    #[test]
    fn any_chunking_gives_the_same_result(
        kinds in prop::collection::vec(0u8..4, 1..20),
        sizes in prop::collection::vec(1usize..300, 1..20),
    ) {
        let mut body = String::new();
        for (i, kind) in kinds.iter().enumerate() {
            match kind {
                0 | 1 => body.push_str(&TRADE.replace("\"sequence\":1", &format!("\"sequence\":{i}"))),
                2 => body.push_str("{\"StreamStatus\":\"EndSnapshot\"}"),
                _ => body.push_str("{\"Error\":\"é\\\"\",\"Message\":\"x\"}\n"),
            }
        }
        let whole = run(&mut JsonEventStream::default(), &[body.as_bytes()]);
        let chunked = run(&mut JsonEventStream::default(), &chunked(body.as_bytes(), &sizes));
        prop_assert_eq!(whole, chunked);
    }
}

/// What one run of a stream did: each read's events (with their JSON), the controls, and the
/// skips (count and latest reason after each read).
type Outcome = Vec<(
    Vec<(crate::hub::Event, Vec<u8>)>,
    Option<Control>,
    u64,
    Option<Skip>,
)>;

/// Feeds `chunks` (re-feeding the rest after a control) through a hub's batch: with the
/// decoder's fast path (`JsonEventSink`, as the binding does) or with whole objects only.
fn run_into_hub(chunks: &[&[u8]], max_object_size: usize, fast: bool) -> Outcome {
    use crate::hub::{Hub, JsonEventDecoder, JsonEventSink, SourceBatch};
    let mut stream = JsonEventStream::new(max_object_size);
    let mut hub = Hub::new(true);
    let mut decoder = JsonEventDecoder::new();
    let mut batch = SourceBatch::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        loop {
            let fed = if fast {
                let mut sink = JsonEventSink {
                    decoder: &mut decoder,
                    batch: &mut batch,
                    hub: &mut hub,
                };
                stream.feed_to(rest, &mut sink)
            } else {
                stream.feed(rest, |json| decoder.push(&mut batch, &mut hub, json))
            };
            let events = batch
                .events()
                .iter()
                .zip(batch.spans())
                .map(|(event, span)| {
                    let (from, to) = span.expect("every event has its JSON");
                    (*event, batch.raw()[from..to].to_vec())
                })
                .collect();
            assert_eq!(fed.events, batch.len(), "events counted = events appended");
            batch.clear();
            let latest = stream.take_latest_skip();
            out.push((events, fed.control.clone(), stream.skipped(), latest));
            rest = &rest[fed.consumed..];
            if fed.control.is_none() {
                assert!(rest.is_empty());
                break;
            }
        }
    }
    out
}

/// Objects a stream may carry, for the fast-path property: compact events of several
/// contract spellings, and everything the fast path must leave to the whole-object path.
fn stream_object(kind: u8, i: usize) -> Vec<u8> {
    const AAPL: &str = r#"{"security_type":"STOCK","symbol":"AAPL"}"#;
    const SPY: &str = r#"{"security_type":"OPTION","symbol":"SPY","expiration":20250321,"strike":550000,"right":"C"}"#;
    let trade = |contract: &str, extra: &str| {
        format!(
            r#"{{"header":{{"type":"TRADE","status":"CONNECTED"}},"contract":{contract},"trade":{{"ms_of_day":{},"sequence":{i},"size":100,"condition":0,"price":190.5,"exchange":57,"date":20250321{extra}}}}}"#,
            34_200_000 + i
        )
        .into_bytes()
    };
    match kind {
        0..=3 => trade(AAPL, ""),
        4..=6 => trade(SPY, ""),
        // A contract spelled another way (spaces), then the same with an unknown nested field.
        7 => trade(r#"{ "security_type": "STOCK", "symbol": "MSFT" }"#, ""),
        8 => trade(AAPL, r#","extra":{"a":[1,{"b":"}"}]}"#),
        // Mismatched brackets inside an unknown field: the decoder's skip and the splitter's
        // depth disagree, so only the splitter may say where the object ends.
        9 => trade(AAPL, r#","extra":[1}"#),
        10 => {
            let mut event = trade(AAPL, r#","note":"é""#);
            let at = event.len() - 4;
            event[at] = 0xff; // not UTF-8
            event
        }
        11 => trade(AAPL, &format!(r#","note":"{}""#, "x".repeat(300))), // over the limit
        12 => trade(AAPL, "").replace_bytes("190.5", "\"x\""),
        13 => br#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}"#
            .to_vec(),
        14 => br#"{"StreamStatus":"EndSnapshot"}"#.to_vec(),
        15 => br#"{"Error":"Throttled","Message":"later"}"#.to_vec(),
        16 => b"]x".to_vec(),
        17 => b"\n \r\n".to_vec(),
        // Body before the header (decoded after it, from its position).
        _ => format!(
            r#"{{"trade":{{"ms_of_day":1,"sequence":{i},"size":1,"condition":0,"price":1.25,"exchange":1,"date":20250321}},"header":{{"type":"TRADE","status":"CONNECTED"}},"contract":{AAPL}}}"#
        )
        .into_bytes(),
    }
}

trait ReplaceBytes {
    fn replace_bytes(self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes()
    }
}

proptest! {
    /// The decoder's fast path (events taken as they start, without the splitter's scan) keeps
    /// exactly what the whole-object path keeps — the same events with the same JSON, controls,
    /// skip counts and reasons — for any mix of objects and any chunking.
    #[test]
    fn the_fast_path_keeps_what_whole_objects_keep(
        kinds in prop::collection::vec(0u8..19, 1..40),
        separators in prop::collection::vec(0u8..3, 1..40),
        sizes in prop::collection::vec(1usize..700, 1..20),
    ) {
        let mut body = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            body.extend(stream_object(*kind, i));
            body.extend_from_slice(match separators[i % separators.len()] {
                0 => b"",
                1 => b"\n",
                _ => b" \r\n",
            });
        }
        let chunks = chunked(&body, &sizes);
        let max = 512;
        prop_assert_eq!(run_into_hub(&chunks, max, true), run_into_hub(&chunks, max, false));
        prop_assert_eq!(run_into_hub(&[&body], max, true), run_into_hub(&[&body], max, false));
    }
}

#[test]
fn the_fast_path_takes_remembered_compact_events() {
    use crate::hub::{Hub, JsonEventDecoder, JsonEventSink, SourceBatch};
    let body: Vec<u8> = (0..4).flat_map(|i| stream_object(0, i)).collect();
    let (mut hub, mut decoder, mut batch) =
        (Hub::new(true), JsonEventDecoder::new(), SourceBatch::new());
    // The first event teaches the decoder the spelling (whole path); then the fast path.
    let first = stream_object(0, 0).len();
    assert_eq!(decoder.push_prefix(&mut batch, &body), None);
    assert_eq!(decoder.push(&mut batch, &mut hub, &body[..first]), Ok(true));
    assert_eq!(decoder.push_prefix(&mut batch, &body[first..]), Some(first));
    assert_eq!(batch.len(), 2);
    // Not an unknown nested field, not a truncated object.
    assert_eq!(decoder.push_prefix(&mut batch, &stream_object(8, 1)), None);
    assert_eq!(decoder.push_prefix(&mut batch, &body[..first - 1]), None);
    assert_eq!(batch.len(), 2);
    let mut sink = JsonEventSink {
        decoder: &mut decoder,
        batch: &mut batch,
        hub: &mut hub,
    };
    let fed = JsonEventStream::default().feed_to(&body, &mut sink);
    assert_eq!((fed.consumed, fed.events), (body.len(), 4));
    // Over the size limit or not UTF-8: the stream's own checks, as for whole objects.
    let mut small = JsonEventStream::new(first - 1);
    assert_eq!(small.feed_to(&body[..first], &mut sink).events, 0);
    assert!(small
        .take_latest_skip()
        .unwrap()
        .reason
        .contains("max_object_size"));
    let mut bad = body[..first].to_vec();
    bad.extend(stream_object(10, 1));
    let mut stream = JsonEventStream::default();
    assert_eq!(stream.feed_to(&bad, &mut sink).events, 1);
    assert!(stream
        .take_latest_skip()
        .unwrap()
        .reason
        .starts_with("invalid UTF-8"));
}
