use super::*;
use crate::contract::{ContractKey, ReqType, Right, SecType, Symbol};

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn ok(frame: &str) -> StreamRequest {
    parse_stream_command(frame.as_bytes()).unwrap_or_else(|e| panic!("{frame}: {e}"))
}

fn rejects(frame: &str, code: StreamErrorCode, message: &str, id: Option<u64>) {
    assert_eq!(
        parse_stream_command(frame.as_bytes()),
        Err(StreamCommandError::new(code, message, id)),
        "{frame}"
    );
}

use StreamErrorCode::{InvalidJson, InvalidMethod, InvalidParam, TooManyStreams};

fn aapl_trade() -> StreamKey {
    StreamKey::of_contract(ReqType::Trade, ContractKey::stock(sym("AAPL")))
}

fn spy_quote() -> StreamKey {
    StreamKey::of_contract(
        ReqType::Quote,
        ContractKey::option(sym("SPY"), 20250321, 570000, Right::Call),
    )
}

#[test]
fn subscribe_unsubscribe_list() {
    let r = ok(
        r#"{"method": "SUBSCRIBE", "params": ["stock.AAPL@trade", "option.SPY.20250321.570000.C@quote"], "id": 1}"#,
    );
    assert_eq!(r.id, 1);
    assert_eq!(
        r.method,
        StreamMethod::Subscribe(vec![aapl_trade(), spy_quote()])
    );
    assert_eq!(r.streams(), [aapl_trade(), spy_quote()]);
    assert_eq!(r.method.as_str(), "SUBSCRIBE");
    let r = ok(r#"{"method":"UNSUBSCRIBE","params":["stock.AAPL@trade"],"id":2}"#);
    assert_eq!(
        r,
        StreamRequest {
            id: 2,
            method: StreamMethod::Unsubscribe(vec![aapl_trade()])
        }
    );
    let r = ok(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
    assert_eq!(r.method, StreamMethod::ListSubscriptions);
    assert!(r.streams().is_empty());
    assert_eq!(
        ok(r#"{"id":9223372036854775807,"params":[],"method":"LIST_SUBSCRIPTIONS"}"#).id,
        (1 << 63) - 1
    );
    assert_eq!(
        ok(r#"{"method":"SUBSCRIBE","params":["option@full_trades"],"id":0}"#).streams(),
        [StreamKey::full(SecType::Option, ReqType::FullTrades)]
    );
}

#[test]
fn duplicates_collapse_keeping_the_first_position() {
    let r = ok(
        r#"{"method":"SUBSCRIBE","params":["option.SPY.20250321.570000.C@quote","stock.AAPL@trade","option.SPY.20250321.570000.C@quote","stock.AAPL@trade"],"id":4}"#,
    );
    assert_eq!(r.streams(), [spy_quote(), aapl_trade()]);
}

#[test]
fn json_errors_have_no_id() {
    rejects(
        "",
        InvalidJson,
        "json: EOF while parsing a value at byte 0",
        None,
    );
    rejects(
        r#"{"method":"SUBSCRIBE","id":1"#,
        InvalidJson,
        "json: incomplete object — send each command as one message",
        None,
    );
    rejects(
        "{\"id\": 1, x}",
        InvalidJson,
        "json: key must be a string at byte 10",
        None,
    );
    rejects(
        "[1]",
        InvalidJson,
        "json: expected an object, got an array",
        None,
    );
    assert_eq!(
        parse_stream_command(b"{\"id\":1,\"method\":\"\xff\"}"),
        Err(StreamCommandError::new(
            InvalidJson,
            "json: invalid UTF-8 at byte 18",
            None
        ))
    );
}

#[test]
fn id_errors_have_no_id() {
    rejects(
        r#"{"method":"LIST_SUBSCRIPTIONS"}"#,
        InvalidJson,
        "id: required",
        None,
    );
    rejects(
        r#"{"method":"LIST_SUBSCRIPTIONS","id":1,"id":1}"#,
        InvalidJson,
        "id: duplicate field",
        None,
    );
    for (value, shown) in [
        (r#""7""#, r#""7""#),
        ("-1", "-1"),
        ("1.0", "1.0"),
        ("null", "null"),
        ("9223372036854775808", "9223372036854775808"),
        ("[1]", "an array"),
    ] {
        rejects(
            &format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{value}}}"#),
            InvalidJson,
            &format!("id: must be an integer 0 <= id < 2^63, got {shown}"),
            None,
        );
    }
    // The id is checked before anything else of the command.
    rejects(r#"{"method":"NOPE"}"#, InvalidJson, "id: required", None);
}

#[test]
fn method_errors() {
    rejects(
        r#"{"params":["stock.AAPL@trade"],"id":5}"#,
        InvalidMethod,
        "method: required",
        Some(5),
    );
    for (value, shown) in [
        (r#""subscribe""#, r#""subscribe""#),
        (r#""SUB""#, r#""SUB""#),
        ("1", "1"),
        ("null", "null"),
    ] {
        rejects(
            &format!(r#"{{"method":{value},"params":["stock.AAPL@trade"],"id":5}}"#),
            InvalidMethod,
            &format!(
                "method: expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, got {shown}"
            ),
            Some(5),
        );
    }
    rejects(
        r#"{"method":"SUBSCRIBE","method":"UNSUBSCRIBE","params":["stock.AAPL@trade"],"id":5}"#,
        InvalidMethod,
        "method: duplicate field",
        Some(5),
    );
}

#[test]
fn field_errors() {
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@trade"],"params":[],"id":6}"#,
        InvalidParam,
        "params: duplicate field",
        Some(6),
    );
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@trade"],"id":6,"parms":1}"#,
        InvalidParam,
        "parms: unknown field (expected method, params, id)",
        Some(6),
    );
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@trade"],"id":6,"a.b\n":1}"#,
        InvalidParam,
        r#""a.b\n": unknown field (expected method, params, id)"#,
        Some(6),
    );
    // Duplicates come before the method, unknown fields after it.
    rejects(
        r#"{"method":"X","x":1,"x":2,"id":6}"#,
        InvalidParam,
        "x: duplicate field",
        Some(6),
    );
    rejects(
        r#"{"method":"X","x":1,"id":6}"#,
        InvalidMethod,
        r#"method: expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, got "X""#,
        Some(6),
    );
}

#[test]
fn params_errors() {
    rejects(
        r#"{"method":"SUBSCRIBE","id":7}"#,
        InvalidParam,
        "params: required",
        Some(7),
    );
    for (value, shown) in [
        ("[]", "an empty array"),
        (r#""stock.AAPL@trade""#, r#""stock.AAPL@trade""#),
        ("null", "null"),
        ("{}", "an object"),
    ] {
        rejects(
            &format!(r#"{{"method":"UNSUBSCRIBE","params":{value},"id":7}}"#),
            InvalidParam,
            &format!("params: must be a non-empty array of stream names, got {shown}"),
            Some(7),
        );
    }
    for (value, shown) in [
        (r#"["stock.AAPL@trade"]"#, "an array of 1 element"),
        (r#"["a","b"]"#, "an array of 2 elements"),
        ("null", "null"),
    ] {
        rejects(
            &format!(r#"{{"method":"LIST_SUBSCRIPTIONS","params":{value},"id":7}}"#),
            InvalidParam,
            &format!("params: must be absent or empty for LIST_SUBSCRIPTIONS, got {shown}"),
            Some(7),
        );
    }
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@trade",5],"id":1}"#,
        InvalidParam,
        "params[1]: must be a stream name string, got 5",
        Some(1),
    );
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@trade","option.SPY.20250230.570000.C@quote"],"id":1}"#,
        InvalidParam,
        "params[1]: contract.expiration: not a calendar date: 20250230",
        Some(1),
    );
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.AAPL@open_interest"],"id":1}"#,
        InvalidParam,
        "params[0]: stock does not support open_interest",
        Some(1),
    );
    rejects(
        r#"{"method":"UNSUBSCRIBE","params":["stock.AAPL@trade","stock.AAPL@trades"],"id":1}"#,
        InvalidParam,
        "params[1]: kind: expected one of trade, quote, ohlc, open_interest, full_trades, \
         full_open_interest, got \"trades\"",
        Some(1),
    );
    rejects(
        r#"{"method":"SUBSCRIBE","params":["AAPL"],"id":1}"#,
        InvalidParam,
        "params[0]: expected <sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>, got \"AAPL\"",
        Some(1),
    );
    // The first bad name wins, whatever follows.
    rejects(
        r#"{"method":"SUBSCRIBE","params":["stock.aapl@trade",1,"x"],"id":1}"#,
        InvalidParam,
        "params[0]: contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got \"aapl\"",
        Some(1),
    );
}

#[test]
fn echoes_are_bounded() {
    let long = "x".repeat(3000);
    let frame = format!(r#"{{"method":"SUBSCRIBE","params":["{long}"],"id":1}}"#);
    let e = parse_stream_command(frame.as_bytes()).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "params[0]: expected <sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>, got \"{}\"... (3000 characters)",
            "x".repeat(64)
        )
    );
}

fn result(id: u64, streams: Option<&[StreamKey]>) -> String {
    let mut out = Vec::new();
    encode_stream_result(&mut out, id, streams);
    String::from_utf8(out).unwrap()
}

fn error(id: Option<u64>, code: StreamErrorCode, msg: &str) -> String {
    let mut out = Vec::new();
    encode_stream_error(&mut out, id, code, msg);
    String::from_utf8(out).unwrap()
}

#[test]
fn result_replies_are_byte_exact() {
    assert_eq!(result(1, None), r#"{"result":null,"id":1}"#);
    assert_eq!(
        result(3, Some(&[aapl_trade()])),
        r#"{"result":["stock.AAPL@trade"],"id":3}"#
    );
    assert_eq!(
        result(
            (1 << 63) - 1,
            Some(&[
                spy_quote(),
                StreamKey::full(SecType::Option, ReqType::FullTrades)
            ])
        ),
        r#"{"result":["option.SPY.20250321.570000.C@quote","option@full_trades"],"id":9223372036854775807}"#
    );
    assert_eq!(result(0, Some(&[])), r#"{"result":[],"id":0}"#);
    let mut out = b"x".to_vec();
    encode_stream_result(&mut out, 2, None);
    assert_eq!(out, br#"x{"result":null,"id":2}"#);
}

#[test]
fn error_replies_are_byte_exact() {
    assert_eq!(
        error(
            Some(1),
            InvalidParam,
            "params[1]: contract.expiration: not a calendar date: 20250230"
        ),
        r#"{"error":{"code":"INVALID_PARAM","msg":"params[1]: contract.expiration: not a calendar date: 20250230"},"id":1}"#
    );
    assert_eq!(
        error(None, InvalidJson, "json: expected value at byte 0"),
        r#"{"error":{"code":"INVALID_JSON","msg":"json: expected value at byte 0"},"id":null}"#
    );
    assert_eq!(
        error(Some(4), InvalidMethod, "method: required"),
        r#"{"error":{"code":"INVALID_METHOD","msg":"method: required"},"id":4}"#
    );
    assert_eq!(
        error(
            Some(5),
            TooManyStreams,
            "params: 10001 streams exceed the limit of 10000"
        ),
        r#"{"error":{"code":"TOO_MANY_STREAMS","msg":"params: 10001 streams exceed the limit of 10000"},"id":5}"#
    );
    // Messages are escaped (echoed input may hold quotes and control characters).
    let e = parse_stream_command(br#"{"method":"SUB\"\n","id":8}"#).unwrap_err();
    let mut out = Vec::new();
    e.encode(&mut out);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"error":{"code":"INVALID_METHOD","msg":"method: expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, got \"SUB\\\"\\n\""},"id":8}"#
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(parsed["error"]["msg"], e.message.as_str());
}

#[test]
fn codes_have_wire_names() {
    for code in StreamErrorCode::ALL {
        assert_eq!(StreamErrorCode::parse(code.as_str()), Some(code));
    }
    assert_eq!(
        StreamErrorCode::ALL.map(StreamErrorCode::as_str),
        [
            "INVALID_JSON",
            "INVALID_METHOD",
            "INVALID_PARAM",
            "TOO_MANY_STREAMS"
        ]
    );
    assert_eq!(StreamErrorCode::parse("invalid_json"), None);
}
