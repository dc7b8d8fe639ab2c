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
        let mut chunks = Vec::new();
        let mut rest = body.as_bytes();
        let mut i = 0;
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(sizes[i % sizes.len()].min(rest.len()));
            chunks.push(head);
            rest = tail;
            i += 1;
        }
        let chunked = run(&mut JsonEventStream::default(), &chunks);
        prop_assert_eq!(whole, chunked);
    }
}
