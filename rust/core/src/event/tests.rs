//! Round trips and error reporting across encoder, scanner and batch decoder.

use super::*;
use crate::contract::{ContractKey, Right, Symbol};
use crate::ws::{encode_frames, Opcode};

const SPEC_TRADE: &str = r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"OPTION","symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"},"trade":{"ms_of_day":34200123,"sequence":8812,"size":3,"condition":0,"price":4.15,"exchange":5,"date":20250321}}"#;

fn spy_call() -> ContractKey {
    ContractKey::option(Symbol::new("SPY").unwrap(), 20250321, 570000, Right::Call)
}

fn decode_all(payloads: &[&str]) -> EventBatch {
    let mut d = BatchDecoder::new();
    for p in payloads {
        d.push_payload(p.as_bytes());
    }
    d.take_batch()
}

fn errors(batch: &EventBatch) -> Vec<(usize, &str)> {
    batch
        .errors
        .iter()
        .map(|e| (e.index, e.message.as_str()))
        .collect()
}

#[test]
fn spec_trade_decodes() {
    let b = decode_all(&[SPEC_TRADE]);
    assert_eq!(b.kinds, vec![EventKind::Trade as u8]);
    assert_eq!(b.new_contracts, vec![(0, spy_call())]);
    let t = &b.trades;
    assert_eq!(
        (
            t.contract_id[0],
            t.id[0],
            t.ms_of_day[0],
            t.sequence[0],
            t.size[0]
        ),
        (0, 0, 34200123, 8812, 3)
    );
    assert_eq!((t.condition[0], t.exchange[0], t.date[0]), (0, 5, 20250321));
    assert_eq!(t.price[0].to_bits(), 4.15f64.to_bits());
}

#[test]
fn every_type_round_trips() {
    let mut enc = EventEncoder::new();
    let spy = enc.add_contract(spy_call());
    let aapl = enc.add_contract(ContractKey::stock(Symbol::new("AAPL").unwrap()));
    let spx = enc.add_contract(ContractKey::index(Symbol::new("^SPX").unwrap()));
    let bodies = [
        (
            spy,
            EventBody::Trade(Trade {
                ms_of_day: 1,
                sequence: -5,
                size: 2,
                condition: 3,
                price: -0.0,
                exchange: 4,
                date: 20250102,
            }),
        ),
        (
            aapl,
            EventBody::Quote(Quote {
                ms_of_day: 86_399_999,
                bid_size: 1,
                bid_exchange: 2,
                bid: 1e-300,
                bid_condition: 3,
                ask_size: 4,
                ask_exchange: 5,
                ask: 1.7976931348623157e308,
                ask_condition: 6,
                date: 20250103,
            }),
        ),
        (
            spx,
            EventBody::Ohlc(Ohlc {
                ms_of_day: 7,
                open: 0.1,
                high: 0.30000000000000004,
                low: 5e-324,
                close: 123456.789,
                volume: u64::MAX,
                count: 9,
                date: 20250104,
            }),
        ),
        (
            spy,
            EventBody::OpenInterest(OpenInterest {
                ms_of_day: 8,
                open_interest: 12345,
                date: 20250105,
            }),
        ),
    ];
    let mut frames = Vec::new();
    let mut payloads = Vec::new();
    for (i, (contract, body)) in bodies.iter().enumerate() {
        let header = EventHeader {
            id: Some(i as u64 + 1),
            pseq: Some(99),
        };
        enc.write_frame(&mut frames, *contract, header, body)
            .unwrap();
        let mut json = Vec::new();
        enc.write_json(&mut json, *contract, header, body).unwrap();
        payloads.push(json);
    }
    enc.write_status_frame(
        &mut frames,
        EventHeader::default(),
        Stats {
            sent: 4,
            dropped: 0,
        },
    );
    assert!(!frames.is_empty());

    let mut d = BatchDecoder::new();
    for p in &payloads {
        d.push_payload(p);
    }
    let mut status = Vec::new();
    write_status_json(
        &mut status,
        EventHeader::default(),
        Stats {
            sent: 4,
            dropped: 0,
        },
    );
    d.push_payload(&status);
    let b = d.take_batch();
    assert_eq!(b.kinds, vec![0, 1, 2, 3, 4]);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.new_contracts.len(), 3);
    assert_eq!(b.trades.sequence, vec![-5]);
    assert_eq!(b.trades.price[0].to_bits(), (-0.0f64).to_bits());
    assert_eq!(b.trades.id, vec![1]);
    assert_eq!(b.quotes.bid, vec![1e-300]);
    assert_eq!(b.quotes.ask, vec![1.7976931348623157e308]);
    assert_eq!(b.quotes.id, vec![2]);
    assert_eq!(b.ohlc.high, vec![0.30000000000000004]);
    assert_eq!(b.ohlc.low, vec![5e-324]);
    assert_eq!(b.ohlc.volume, vec![u64::MAX]);
    assert_eq!(b.open_interest.open_interest, vec![12345]);
    assert_eq!(b.open_interest.contract_id, b.trades.contract_id);
    assert_eq!(b.status.sent, vec![4]);
    assert_eq!(b.status.received, vec![4]);
    assert_eq!(
        d.contract(2),
        Some(&ContractKey::index(Symbol::new("^SPX").unwrap()))
    );
}

#[test]
fn key_order_whitespace_and_unknown_fields() {
    let shuffled = r#" { "trade" : { "date":20250321, "price" : 4 , "extra":[1,{"x":"}"}], "exchange":5,"condition":0,"size":3,"sequence":8812,"ms_of_day":34200123 } ,
        "contract":{"right":"C","strike":570000,"root":"SPY","expiration":20250321,"security_type":"OPTION","v":null},
        "new_field": {"a": true},
        "header":{"status":"CONNECTED","type":"TRADE","id":7} } "#;
    let b = decode_all(&[SPEC_TRADE, shuffled]);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.trades.contract_id, vec![0, 0]);
    assert_eq!(b.trades.price, vec![4.15, 4.0]);
    assert_eq!(b.trades.id, vec![0, 7]);
    assert_eq!(b.new_contracts.len(), 1);
}

#[test]
fn canonical_order_with_spaces_after_colons() {
    // What Python's `json.dumps` writes by default: the fast path of the canonical key order
    // meets `": "` separators.
    let spaced = SPEC_TRADE.replace("\":", "\": ").replace(",\"", ", \"");
    let b = decode_all(&[&spaced, SPEC_TRADE]);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.trades.price, vec![4.15, 4.15]);
    assert_eq!(b.trades.size, vec![3, 3]);
}

#[test]
fn malformed_frames_are_listed_and_neighbours_survive() {
    let bad_price = SPEC_TRADE.replace("4.15", "\"4.15\"");
    let missing = SPEC_TRADE.replace(r#""size":3,"#, "");
    let float_size = SPEC_TRADE.replace(r#""size":3"#, r#""size":3.0"#);
    let bad_symbol = SPEC_TRADE.replace("SPY", "spy");
    let bad_date = SPEC_TRADE.replace("\"expiration\":20250321", "\"expiration\":20250231");
    let no_contract = r#"{"header":{"type":"OPEN_INTEREST"},"open_interest":{"ms_of_day":1,"open_interest":2,"date":3}}"#;
    let no_body = r#"{"header":{"type":"OHLC","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"A"}}"#;
    let stock_strike = r#"{"header":{"type":"OPEN_INTEREST"},"contract":{"security_type":"STOCK","symbol":"A","strike":5},"open_interest":{"ms_of_day":1,"open_interest":2,"date":3}}"#;
    let truncated = &SPEC_TRADE[..120];
    let b = decode_all(&[
        SPEC_TRADE,
        &bad_price,
        &missing,
        &float_size,
        &bad_symbol,
        &bad_date,
        no_contract,
        no_body,
        stock_strike,
        truncated,
        "[1]",
        SPEC_TRADE,
    ]);
    assert_eq!(b.trades.len(), 2);
    assert_eq!(b.kinds, vec![0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0]);
    assert_eq!(
        errors(&b),
        vec![
            (1, "trade.price: expected a number at byte 228"),
            (2, "trade.size: required field is missing"),
            (
                3,
                "trade.size: expected an integer in 0..=4294967295 at byte 204"
            ),
            (
                4,
                "contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got 's' at byte 94"
            ),
            (
                5,
                "contract.expiration: expected a calendar date YYYYMMDD at byte 113"
            ),
            (6, "contract: required object is missing"),
            (7, "ohlc: required object is missing"),
            (
                8,
                "contract.strike: not allowed for a STOCK contract at byte 93"
            ),
            (9, "json: unexpected end of input at byte 120"),
            (10, "json: expected '{' at byte 0"),
        ]
    );
}

/// A STATUS header tells whether the server's own upstream is down and when its snapshot
/// ended; any status but `DISCONNECTED` is up, in either key order and both wire formats.
#[test]
fn status_headers_carry_the_upstream_state() {
    let b = decode_all(&[
        r#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}"#,
        r#"{"header":{"type":"STATUS","status":"DISCONNECTED"},"stats":{"sent":1,"dropped":0}}"#,
        r#"{"header":{"status":"DISCONNECTED","type":"STATUS"}}"#,
        r#"{"header":{"type":"STATUS","status":"CONNECTED","stream_status":"EndSnapshot"},"stats":{"sent":2,"dropped":0}}"#,
        r#"{"stream":"@status","data":{"header":{"type":"STATUS","status":"DISCONNECTED"},"stats":{"sent":3,"dropped":0}}}"#,
        r#"{"header":{"type":"STATUS","status":"UNVERIFIED","stream_status":"Other"}}"#,
        r#"{"header":{"type":"STATUS","status":7}}"#,
    ]);
    assert_eq!(b.kinds, vec![4, 4, 4, 4, 4, 4, 7]);
    assert_eq!(b.status.connected, vec![1, 0, 0, 1, 0, 1]);
    assert_eq!(b.status.end_of_snapshot, vec![0, 0, 0, 1, 0, 0]);
    assert_eq!(
        errors(&b),
        vec![(6, "header.status: expected a string at byte 36")]
    );
}

#[test]
fn acks_status_and_other() {
    let b = decode_all(&[
        r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":1}}"#,
        r#"{"header":{"type":"REQ_RESPONSE","response":"ERROR","req_id":null,"message":"json: bad \"x\" at byte 3"}}"#,
        r#"{"header":{"type":"STATUS","status":"CONNECTED"}}"#,
        r#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":2}}"#,
        r#"{"header":{"type":"SOMETHING_NEW","id":"not a number"},"x":1}"#,
        r#"{"stream":"stock.AAPL@trade","data":{}}"#,
        r#"{"header":{"type":"REQ_RESPONSE","req_id":1}}"#,
        r#"{"header":{"type":"TRADE","id":-1}}"#,
    ]);
    assert_eq!(b.kinds, vec![5, 5, 4, 4, 6, 6, 7, 7]);
    assert_eq!(
        b.acks,
        vec![
            Ack {
                req_id: Some(1),
                response: "OK".into(),
                message: None,
                result: None
            },
            Ack {
                req_id: None,
                response: "ERROR".into(),
                message: Some("json: bad \"x\" at byte 3".into()),
                result: None
            },
        ]
    );
    assert_eq!(b.status.sent, vec![-1, 1]);
    assert_eq!(b.status.dropped, vec![-1, 2]);
    assert_eq!(b.other.len(), 2);
    assert_eq!(
        errors(&b),
        vec![
            (6, "header.response: required field is missing"),
            (
                7,
                "header.id: expected an integer in 0..=18446744073709551615 at byte 31"
            ),
        ]
    );
}

#[test]
fn contracts_interned_across_batches() {
    let mut d = BatchDecoder::new();
    d.push_payload(SPEC_TRADE.as_bytes());
    let first = d.take_batch();
    assert_eq!(first.new_contracts, vec![(0, spy_call())]);
    // Same contract, spelled differently: same id, not new.
    d.push_payload(
        SPEC_TRADE
            .replace(r#""symbol":"SPY""#, r#""root":"SPY""#)
            .as_bytes(),
    );
    d.push_payload(SPEC_TRADE.replace("\"C\"", "\"P\"").as_bytes());
    let second = d.take_batch();
    assert_eq!(second.trades.contract_id, vec![0, 1]);
    assert_eq!(second.new_contracts.len(), 1);
    assert_eq!(second.new_contracts[0].0, 1);
}

/// `data_only` counts a batch of data events alone, and nothing that holds anything else.
#[test]
fn data_only_is_data_events_and_nothing_else() {
    let status = r#"{"header":{"type":"STATUS","status":"CONNECTED"}}"#;
    let ack = r#"{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":1}}"#;
    let quote = SPEC_TRADE
        .replace(r#""type":"TRADE""#, r#""type":"QUOTE""#)
        .replace(
            r#""trade":{"ms_of_day":34200123,"sequence":8812,"size":3,"condition":0,"price":4.15,"exchange":5,"date":20250321}"#,
            r#""quote":{"ms_of_day":1,"bid_size":1,"bid_exchange":1,"bid":1.0,"bid_condition":1,"ask_size":1,"ask_exchange":1,"ask":1.5,"ask_condition":1,"date":20250321}"#,
        );
    let data_only = |payloads: &[&str], known: bool| {
        let mut d = BatchDecoder::new();
        if known {
            d.push_payload(SPEC_TRADE.as_bytes());
            d.take_batch();
        }
        for p in payloads {
            d.push_payload(p.as_bytes());
        }
        let b = d.take_batch();
        b.data_only(&b.kind_counts())
    };
    assert_eq!(data_only(&[SPEC_TRADE, &quote, SPEC_TRADE], true), Some(3));
    // A contract seen for the first time needs registering.
    assert_eq!(data_only(&[SPEC_TRADE], false), None);
    assert_eq!(data_only(&[SPEC_TRADE, status], true), None);
    assert_eq!(data_only(&[ack, SPEC_TRADE], true), None);
    assert_eq!(data_only(&[SPEC_TRADE, r#"{"x":1}"#], true), None);
    assert_eq!(
        data_only(&[SPEC_TRADE, r#"{"header":{"type":"TRADE"}}"#], true),
        None
    );
    assert_eq!(data_only(&[], true), None);
    // Through the frame decoder: a control frame, and a protocol error after a data event.
    let frame = |opcode: Opcode, payload: &[u8]| {
        let mut out = Vec::new();
        encode_frames(&mut out, opcode, [payload], None);
        out
    };
    let trade = frame(Opcode::Text, SPEC_TRADE.as_bytes());
    let mut decoder = EventDecoder::new();
    let b = decoder.feed(&trade);
    assert_eq!(b.data_only(&b.kind_counts()), None); // its contract is new
    let b = decoder.feed(&trade);
    assert_eq!(b.data_only(&b.kind_counts()), Some(1));
    let b = decoder.feed(&[trade.clone(), frame(Opcode::Ping, b"p")].concat());
    assert_eq!(b.data_only(&b.kind_counts()), None);
    let reserved_opcode = [0x83, 0x00];
    let b = decoder.feed(&[&trade[..], &reserved_opcode].concat());
    assert!(b.protocol_error.is_some(), "{:?}", b.protocol_error);
    assert_eq!(b.kind_counts()[EventKind::Trade as usize], 1);
    assert_eq!(b.data_only(&b.kind_counts()), None);
}

/// The compact fast paths hand over to the general parser wherever the layout departs from
/// the canonical one: the result never depends on where that happens.
#[test]
fn fast_path_fallback_at_every_field_gives_the_same_event() {
    let body_start = SPEC_TRADE.find("\"trade\":{").unwrap() + "\"trade\":{".len();
    let commas: Vec<usize> = SPEC_TRADE[body_start..]
        .match_indices(',')
        .map(|(i, _)| body_start + i)
        .collect();
    assert_eq!(commas.len(), 6);
    let reference = decode_all(&[SPEC_TRADE]);
    let mut variants = vec![
        SPEC_TRADE.replace("\"CONNECTED\"}", "\"CONNECTED\" }"),
        SPEC_TRADE.replace(
            r#""type":"TRADE","status":"CONNECTED""#,
            r#""status":"CONNECTED","type":"TRADE""#,
        ),
        SPEC_TRADE.replace("\"trade\":{", "\"trade\":{\"x\":[1],"),
        SPEC_TRADE.replace("\"trade\":{", "\"trade\":{ "),
        SPEC_TRADE.replace(",\"date\":20250321}}", ",\"date\":20250321,\"more\":{}}}"),
    ];
    for &at in &commas {
        variants.push(format!("{} {}", &SPEC_TRADE[..at], &SPEC_TRADE[at..]));
        variants.push(format!(
            "{}, \"unknown\":\"}}\"{}",
            &SPEC_TRADE[..at],
            &SPEC_TRADE[at..]
        ));
        variants.push(format!(
            "{}{}",
            &SPEC_TRADE[..=at],
            &SPEC_TRADE[at + 1..].replacen('"', " \"", 1)
        ));
    }
    for variant in &variants {
        let b = decode_all(&[variant]);
        assert!(b.errors.is_empty(), "{variant}: {:?}", b.errors);
        assert_eq!(b.trades, reference.trades, "{variant}");
    }
    // A header id (`--pace ack`) takes the general path and is read.
    let with_id = SPEC_TRADE.replace("\"CONNECTED\"}", "\"CONNECTED\",\"id\":42}");
    assert_eq!(decode_all(&[&with_id]).trades.id, vec![42]);
    // Integers that are not plain digit runs still get the general rules and messages.
    let at = SPEC_TRADE.find("\"size\":").unwrap() + "\"size\":".len();
    let not_u32 = format!("trade.size: expected an integer in 0..=4294967295 at byte {at}");
    for (bad, message) in [
        (
            "\"size\":03",
            format!("json: expected ',' or '}}' at byte {}", at + 1),
        ),
        ("\"size\":3e0", not_u32.clone()),
        ("\"size\":-3", not_u32.clone()),
        ("\"size\":4294967296", not_u32.clone()),
    ] {
        let b = decode_all(&[&SPEC_TRADE.replace("\"size\":3", bad)]);
        assert_eq!(errors(&b), vec![(0, message.as_str())], "{bad}");
    }
}

/// `{"stream":…,"data":{event}}` (SPEC §4) in the server's exact layout.
fn wrapped(stream: &str, event: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{event}}}"#)
}

const STREAM_STATUS: &str = r#"{"stream":"@status","data":{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":7,"dropped":2}}}"#;

#[test]
fn stream_wrapper_decodes_into_the_same_columns() {
    let plain = decode_all(&[
        SPEC_TRADE,
        r#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":7,"dropped":2}}"#,
    ]);
    let spy = wrapped("option.SPY.20250321.570000.C@trade", SPEC_TRADE);
    // Any key order and whitespace; the stream name is not needed (nor checked) for data.
    let reordered =
        format!(r#"{{ "data" : {SPEC_TRADE} , "stream" : "whatever" , "x":[1,{{}}] }}"#);
    let b = decode_all(&[&spy, STREAM_STATUS, &reordered]);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.kinds, vec![0, 4, 0]);
    assert_eq!(b.trades.price, vec![4.15, 4.15]);
    assert_eq!(b.trades.contract_id, vec![0, 0]);
    assert_eq!(b.new_contracts, vec![(0, spy_call())]);
    assert_eq!(b.status.sent, vec![7]);
    assert_eq!(b.status.dropped, vec![2]);
    assert_eq!(b.status.received, vec![1]);
    // Exactly the columns of the unwrapped frames.
    let once = decode_all(&[&spy, STREAM_STATUS]);
    assert_eq!(once.trades, plain.trades);
    assert_eq!(once.status, plain.status);
    // Every event type, and header ids, survive the wrapper.
    let aapl = ContractKey::stock(Symbol::new("AAPL").unwrap());
    let bodies = [
        EventBody::Quote(Quote {
            ms_of_day: 1,
            bid_size: 2,
            bid_exchange: 3,
            bid: 1.5,
            bid_condition: 4,
            ask_size: 5,
            ask_exchange: 6,
            ask: 1.75,
            ask_condition: 7,
            date: 20250321,
        }),
        EventBody::Ohlc(Ohlc {
            ms_of_day: 1,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10,
            count: 2,
            date: 20250321,
        }),
        EventBody::OpenInterest(OpenInterest {
            ms_of_day: 1,
            open_interest: 99,
            date: 20250321,
        }),
    ];
    let mut payloads = Vec::new();
    for body in bodies {
        let mut json = Vec::new();
        let header = EventHeader {
            id: Some(9),
            pseq: None,
        };
        write_event_json(&mut json, header, &aapl, &body).unwrap();
        payloads.push(wrapped(
            "stock.AAPL@quote",
            std::str::from_utf8(&json).unwrap(),
        ));
    }
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    let b = decode_all(&refs);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.kinds, vec![1, 2, 3]);
    assert_eq!(b.quotes.ask, vec![1.75]);
    assert_eq!(b.ohlc.low, vec![0.5]);
    assert_eq!(b.open_interest.open_interest, vec![99]);
    assert_eq!(b.quotes.id, vec![9]);
}

#[test]
fn stream_replies_are_acks() {
    let b = decode_all(&[
        r#"{"result":null,"id":1}"#,
        r#"{"result":["stock.AAPL@trade","option@full_trades"],"id":3}"#,
        r#"{"error":{"code":"INVALID_PARAM","msg":"params[0]: unknown stream \"x\""},"id":1}"#,
        r#"{"error":{"code":"INVALID_JSON","msg":"json: expected value at byte 0"},"id":null}"#,
        r#"{ "id" : 4 , "error" : { "msg":"params: too many", "code":"TOO_MANY_STREAMS", "extra": [] } }"#,
        r#"{"result":[]}"#,
    ]);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.kinds, vec![5; 6]);
    let ack = |req_id, response: &str, message: Option<&str>, result: Option<&str>| Ack {
        req_id,
        response: response.into(),
        message: message.map(Into::into),
        result: result.map(Into::into),
    };
    assert_eq!(
        b.acks,
        vec![
            ack(Some(1), "OK", None, None),
            ack(
                Some(3),
                "OK",
                None,
                Some(r#"["stock.AAPL@trade","option@full_trades"]"#)
            ),
            ack(
                Some(1),
                "INVALID_PARAM",
                Some("params[0]: unknown stream \"x\""),
                None
            ),
            ack(
                None,
                "INVALID_JSON",
                Some("json: expected value at byte 0"),
                None
            ),
            ack(Some(4), "TOO_MANY_STREAMS", Some("params: too many"), None),
            ack(None, "OK", None, Some("[]")),
        ]
    );
}

#[test]
fn malformed_stream_messages_are_listed_and_neighbours_decode() {
    let bad_price = wrapped(
        "stock.AAPL@trade",
        &SPEC_TRADE.replace("\"price\":4.15", "\"price\":\"x\""),
    );
    let price_at = bad_price.find("\"price\":").unwrap() + "\"price\":".len();
    let nested = wrapped("a", &wrapped("b", SPEC_TRADE));
    let b = decode_all(&[
        SPEC_TRADE,
        &bad_price,
        r#"{"stream":"stock.AAPL@trade","data":[1]}"#,
        r#"{"stream":"stock.AAPL@trade","data":{"header":{"type":"TRADE","status":"CONNECTED"}}}"#,
        r#"{"stream":"stock.AAPL@trade","data":{"header":"#,
        r#"{"result":null,"id":-1}"#,
        r#"{"error":{"msg":"no code"},"id":1}"#,
        r#"{"error":"oops","id":1}"#,
        r#"{"error":{"code":7},"id":1}"#,
        r#"{"stream":"x","data":{"header":{"type":"STATUS"},"stats":{"sent":1}}}"#,
        &wrapped("stock.AAPL@trade", SPEC_TRADE),
        r#"{"stream":"x","data":{"news":1}}"#,
        &nested,
        r#"{"stream":"x","data":{}} x"#,
    ]);
    assert_eq!(
        errors(&b),
        vec![
            (
                1,
                format!("trade.price: expected a number at byte {price_at}").as_str()
            ),
            (2, "data: expected an object at byte 36"),
            (3, "contract: required object is missing"),
            (4, "json: unexpected end of input at byte 46"),
            (
                5,
                "id: expected an integer in 0..=18446744073709551615 or null at byte 20"
            ),
            (6, "error.code: required field is missing"),
            (7, "error: expected an object at byte 9"),
            (8, "error.code: expected a string at byte 17"),
            (9, "stats.dropped: required field is missing"),
            (13, "json: trailing characters after the object at byte 25"),
        ]
    );
    // The good neighbours decode; unknown headerless data (and a wrapper inside a wrapper,
    // which is no event) is `other`.
    assert_eq!(b.kinds, vec![0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 6, 6, 7]);
    assert_eq!(b.trades.len(), 2);
    assert_eq!(b.other.len(), 2);
}

#[test]
fn decode_event_reads_one_plain_event() {
    use crate::event::decode_event;
    let line = br#"{"header":{"type":"QUOTE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"quote":{"ms_of_day":1,"bid_size":1,"bid_exchange":2,"bid":1.5,"bid_condition":0,"ask_size":3,"ask_exchange":4,"ask":1.51,"ask_condition":0,"date":20250321}}"#;
    let (key, body) = decode_event(line).unwrap().unwrap();
    assert_eq!(key.symbol.as_str(), "AAPL");
    assert!(matches!(body, EventBody::Quote(q) if q.ask.to_bits() == 1.51f64.to_bits()));
    // Not data: None. A /v1/stream wrapper is not a plain event.
    let status =
        br#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}"#;
    assert_eq!(decode_event(status).unwrap(), None);
    let wrapped = [
        br#"{"stream":"stock.AAPL@quote","data":"#.as_slice(),
        line,
        b"}",
    ]
    .concat();
    assert_eq!(decode_event(&wrapped).unwrap(), None);
    // Trailing bytes and bad fields are errors with their place.
    let mut trailing = line.to_vec();
    trailing.extend_from_slice(b" x");
    assert_eq!(
        decode_event(&trailing).unwrap_err().to_string(),
        format!(
            "json: trailing characters after the object at byte {}",
            line.len() + 1
        )
    );
    let bad = String::from_utf8_lossy(line).replace("1.51", "\"x\"");
    assert!(decode_event(bad.as_bytes())
        .unwrap_err()
        .to_string()
        .starts_with("quote.ask: "));
}

mod line_decoder {
    use proptest::prelude::*;

    use super::super::{decode_event, write_event_json, EventHeader, EventLineDecoder};
    use super::*;

    fn lines() -> Vec<Vec<u8>> {
        let spy = Symbol::new("SPY").unwrap();
        let contracts = [
            ContractKey::option(spy, 20250321, 570000, Right::Call),
            ContractKey::option(spy, 20250321, 575000, Right::Put),
            ContractKey::stock(Symbol::new("AAPL").unwrap()),
        ];
        let mut out = Vec::new();
        for (i, c) in contracts.iter().enumerate() {
            let body = EventBody::Trade(Trade {
                ms_of_day: 34200000 + i as u32,
                sequence: i as i64,
                size: 3,
                condition: 0,
                price: 4.15,
                exchange: 5,
                date: 20250321,
            });
            let mut line = Vec::new();
            write_event_json(&mut line, EventHeader::default(), c, &body).unwrap();
            out.push(line);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever came before (remembered spellings), each payload decodes as `decode_event`
        /// decodes it: valid lines, lines with bytes changed, cut or spliced together.
        #[test]
        fn decodes_as_decode_event(
            edits in proptest::collection::vec(
                (0usize..3, 0usize..300, any::<u8>(), 0usize..320, any::<bool>()),
                1..12,
            ),
        ) {
            let base = lines();
            let mut decoder = EventLineDecoder::new();
            for (which, at, byte, cut, edit) in edits {
                let mut line = base[which].clone();
                if edit {
                    let n = line.len();
                    line[at % n] = byte;
                    line.truncate(cut.max(1));
                }
                prop_assert_eq!(decoder.decode(&line), decode_event(&line));
                // The untouched spelling after an edited one still decodes the same.
                prop_assert_eq!(decoder.decode(&base[which]), decode_event(&base[which]));
            }
        }
    }
}
