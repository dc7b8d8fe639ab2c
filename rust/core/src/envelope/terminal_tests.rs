//! The original terminal's documented command forms: read as their strict equivalents in the
//! terminal dialect, refused with a message naming the strict form in the strict dialect, and
//! every other rule unchanged.

// Dates and strikes are written as on the wire (YYYYMMDD, thousandths).
#![allow(clippy::unreadable_literal)]

use super::*;
use crate::contract::{Right, Symbol};

fn terminal(frame: &str) -> Result<Command, EnvelopeError> {
    parse_command(frame.as_bytes(), Dialect::Terminal)
}

fn strict(frame: &str) -> Result<Command, EnvelopeError> {
    parse_command(frame.as_bytes(), Dialect::Strict)
}

/// The message of the error `parse` gives for `frame`.
#[track_caller]
fn message(result: Result<Command, EnvelopeError>) -> String {
    result.expect_err("frame should be rejected").message
}

/// Asserts `lenient` reads as `canonical` in the terminal dialect.
#[track_caller]
fn same_as(lenient: &str, canonical: &str) {
    let expected = strict(canonical).expect("the canonical form parses");
    assert_eq!(terminal(lenient), Ok(expected), "{lenient}");
}

fn stock_trade(symbol: &str, id: u64) -> Command {
    Command::Stream(StreamCommand {
        sec_type: SecType::Stock,
        req_type: ReqType::Trade,
        add: true,
        id,
        contract: Some(ContractKey::stock(Symbol::new(symbol).unwrap())),
    })
}

/// The documentation's samples, as Python's `repr` writes their dicts.
const REPR_STOCK: &str = "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', \
                          'add': True, 'id': 0, 'contract': {'root': 'AAPL'}}";
const REPR_OPTION: &str = "{'msg_type': 'STREAM', 'sec_type': 'OPTION', 'req_type': 'QUOTE', \
                           'add': True, 'id': 0, 'contract': {'root': 'SPXW', \
                           'expiration': '20240315', 'strike': '4800000', 'right': 'C'}}";
const REPR_BULK: &str = "{'msg_type': 'STREAM_BULK', 'sec_type': 'STOCK', 'req_type': 'TRADE', \
                         'add': True, 'id': 0}";

#[test]
fn documentation_samples_read_as_their_strict_equivalents() {
    assert_eq!(terminal(REPR_STOCK), Ok(stock_trade("AAPL", 0)));
    same_as(
        REPR_OPTION,
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":0,
            "contract":{"symbol":"SPXW","expiration":20240315,"strike":4800000,"right":"C"}}"#,
    );
    same_as(
        REPR_BULK,
        r#"{"msg_type":"STREAM","sec_type":"STOCK","req_type":"FULL_TRADES","add":true,"id":0}"#,
    );
    same_as(
        r#"{"msg_type":"STREAM_BULK","sec_type":"OPTION","req_type":"TRADE","add":false,"id":3}"#,
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"FULL_TRADES","add":false,"id":3}"#,
    );
    same_as(
        r#"{"msg_type":"STREAM_BULK","sec_type":"OPTION","req_type":"OPEN_INTEREST","add":true,"id":4}"#,
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"FULL_OPEN_INTEREST","add":true,"id":4}"#,
    );
    assert_eq!(
        terminal(r#"{"msg_type":"STOP"}"#),
        Ok(Command::Stop(StopCommand { id: None }))
    );
    assert_eq!(
        terminal("{'msg_type': 'STOP', 'id': 7}"),
        Ok(Command::Stop(StopCommand { id: Some(7) }))
    );
    // Each lenient form also works alone, in JSON, and mixed with the others.
    same_as(
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"TRADE","add":true,"id":1,
            "contract":{"symbol":"SPY","expiration":"20250321","strike":570000,"right":"P"}}"#,
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"TRADE","add":true,"id":1,
            "contract":{"symbol":"SPY","expiration":20250321,"strike":570000,"right":"P"}}"#,
    );
    same_as(
        r#"{"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADE", "add": True, "id": 2, "contract": {"symbol": "AAPL"}}"#,
        r#"{"msg_type":"STREAM","sec_type":"STOCK","req_type":"TRADE","add":true,"id":2,"contract":{"symbol":"AAPL"}}"#,
    );
    // Leading zeros in a digit string are digits like any other.
    let Ok(Command::Stream(c)) = terminal(
        r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"TRADE","add":true,"id":1,
            "contract":{"root":"SPY","expiration":"20250321","strike":"0570000","right":"C"}}"#,
    ) else {
        panic!("leading zeros")
    };
    assert_eq!(
        c.contract,
        Some(ContractKey::option(
            Symbol::new("SPY").unwrap(),
            20250321,
            570000,
            Right::Call
        ))
    );
}

#[test]
fn every_other_rule_stays_strict_with_the_same_messages() {
    let option = |exp: &str, strike: &str| {
        format!(
            "{{'msg_type': 'STREAM', 'sec_type': 'OPTION', 'req_type': 'QUOTE', 'add': True, \
             'id': 9, 'contract': {{'root': 'SPY', 'expiration': {exp}, 'strike': {strike}, \
             'right': 'C'}}}}"
        )
    };
    let cases = [
        (
            option("'20250230'", "'570000'"),
            "contract.expiration: not a calendar date: 20250230",
        ),
        (
            option("'20250321'", "'4.8'"),
            r#"contract.strike: must be a positive integer (thousandths of a dollar), got "4.8""#,
        ),
        (
            option("'2025-03-21'", "'570000'"),
            r#"contract.expiration: must be a YYYYMMDD integer, got "2025-03-21""#,
        ),
        (
            option("'20250321'", "'0'"),
            "contract.strike: must be a positive integer (thousandths of a dollar), got 0",
        ),
        (
            option("'20250321'", "'4294967296'"),
            &message(strict(
                r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":9,
                    "contract":{"root":"SPY","expiration":20250321,"strike":4294967296,"right":"C"}}"#,
            )),
        ),
        (
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, \
             'id': 0, 'contract': {'roots': 'AAPL'}}"
                .to_owned(),
            "contract.roots: unknown field (expected symbol)",
        ),
        (
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'ad': True, \
             'id': 0, 'contract': {'root': 'AAPL'}}"
                .to_owned(),
            "ad: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
        ),
        (
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': 'True', \
             'id': 0, 'contract': {'root': 'AAPL'}}"
                .to_owned(),
            r#"add: must be a boolean, got "True""#,
        ),
        (
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, \
             'id': '0', 'contract': {'root': 'AAPL'}}"
                .to_owned(),
            r#"id: must be an integer 0 <= id < 2^63, got "0""#,
        ),
        (
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': None, \
             'id': 0, 'contract': {'root': 'AAPL'}}"
                .to_owned(),
            "add: must be a boolean, got null",
        ),
        (
            // Only expiration and strike may be digit strings.
            "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, \
             'id': 0, 'contract': {'root': 'AAPL'}, 'extra': 1}"
                .to_owned(),
            "extra: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
        ),
    ];
    for (frame, expected) in &cases {
        assert_eq!(message(terminal(frame)), *expected, "{frame}");
    }
}

#[test]
fn stream_bulk_takes_only_trade_and_open_interest_without_a_contract() {
    let bulk = |sec: &str, req: &str, extra: &str| {
        format!(
            r#"{{"msg_type":"STREAM_BULK","sec_type":"{sec}","req_type":"{req}","add":true,"id":6{extra}}}"#
        )
    };
    assert_eq!(
        message(terminal(&bulk("STOCK", "QUOTE", ""))),
        r#"req_type: STREAM_BULK takes TRADE or OPEN_INTEREST, got "QUOTE""#
    );
    assert_eq!(
        message(terminal(&bulk("STOCK", "FULL_TRADES", ""))),
        r#"req_type: STREAM_BULK takes TRADE or OPEN_INTEREST, got "FULL_TRADES""#
    );
    assert_eq!(
        message(terminal(&bulk("STOCK", "OPEN_INTEREST", ""))),
        "req_type: FULL_OPEN_INTEREST (STREAM_BULK OPEN_INTEREST) is not available for STOCK \
         (STOCK supports QUOTE, TRADE, OHLC, FULL_TRADES)"
    );
    assert_eq!(
        message(terminal(&bulk("INDEX", "TRADE", ""))),
        "req_type: FULL_TRADES (STREAM_BULK TRADE) is not available for INDEX \
         (INDEX supports TRADE, OHLC)"
    );
    assert_eq!(
        message(terminal(&bulk(
            "STOCK",
            "TRADE",
            r#","contract":{"root":"AAPL"}"#
        ))),
        "contract: must be absent for STREAM_BULK"
    );
    assert_eq!(
        message(terminal(&bulk("STOCK", "TRADE", r#","right":"C""#))),
        "right: unknown field (expected msg_type, sec_type, req_type, add, id)"
    );
    let err = terminal(&bulk("STOCK", "TRADE", r#","id":7"#)).unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.req_id),
        ("id: duplicate field", None)
    );
}

#[test]
fn strict_refuses_each_lenient_form_naming_the_strict_form() {
    let err = strict(REPR_STOCK).unwrap_err();
    assert_eq!(
        (err.path.as_str(), err.message.as_str(), err.req_id),
        (
            "json",
            "json: a Python literal, not JSON: write strings in double quotes and true, false, \
             null (this server runs with --strict)",
            None
        )
    );
    assert_eq!(
        message(strict(
            r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":0,
                "contract":{"root":"SPXW","expiration":"20240315","strike":4800000,"right":"C"}}"#
        )),
        r#"contract.expiration: must be a YYYYMMDD integer, got "20240315" (this server runs with --strict: send 20240315 without quotes)"#
    );
    assert_eq!(
        message(strict(
            r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":0,
                "contract":{"root":"SPXW","expiration":20240315,"strike":"4800000","right":"C"}}"#
        )),
        r#"contract.strike: must be a positive integer (thousandths of a dollar), got "4800000" (this server runs with --strict: send 4800000 without quotes)"#
    );
    // A string that is not digits is wrong in both dialects, without the hint.
    assert_eq!(
        message(strict(
            r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":0,
                "contract":{"root":"SPXW","expiration":20240315,"strike":"4.8","right":"C"}}"#
        )),
        r#"contract.strike: must be a positive integer (thousandths of a dollar), got "4.8""#
    );
    let err = strict(&REPR_BULK.replace('\'', "\"").replace("True", "true")).unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.req_id),
        (
            r#"msg_type: STREAM_BULK is the original terminal's older form (this server runs with --strict): send "msg_type": "STREAM" with "req_type": "FULL_TRADES""#,
            Some(0)
        )
    );
    assert_eq!(
        message(strict(
            r#"{"msg_type":"STREAM_BULK","sec_type":"OPTION","req_type":"OPEN_INTEREST","add":true,"id":0}"#
        )),
        r#"msg_type: STREAM_BULK is the original terminal's older form (this server runs with --strict): send "msg_type": "STREAM" with "req_type": "FULL_OPEN_INTEREST""#
    );
    assert_eq!(message(strict(r#"{"msg_type":"STOP"}"#)), "id: required");
}

#[test]
fn syntax_errors_in_a_python_literal_point_into_the_frame_as_sent() {
    // The reader that got further reports: here the Python one, at the unquoted value.
    let frame = "{'msg_type': 'STREAM', 'add': tru}";
    assert_eq!(
        message(terminal(frame)),
        "json: expected value (the Python literals are True, False and None) at byte 30"
    );
    assert_eq!(&frame[30..33], "tru");
    assert_eq!(
        message(terminal("{'msg_type': 'STREAM',}")),
        "json: trailing comma at byte 22"
    );
    // JSON's own literals are not Python.
    assert_eq!(
        message(terminal("{'add': true, 'id': 1}")),
        "json: expected value (the Python literals are True, False and None) at byte 8"
    );
    // A JSON mistake in a JSON frame: the JSON reader got further.
    assert_eq!(
        message(terminal(r#"{"add": True, "id": 1 "x": 2}"#)),
        "json: expected `,` or `}` at byte 22"
    );
    assert_eq!(
        message(terminal("{'a': 1 'b': 2}")),
        "json: expected `,` or `}` at byte 8"
    );
    // Offsets count bytes of multi-byte characters.
    assert_eq!(
        message(terminal("{'é': 1 x}")),
        "json: expected `,` or `}` at byte 9"
    );
    // In strict mode only the JSON reader's error counts.
    assert_eq!(
        message(strict("{'msg_type': 'STREAM', 'add': tru}")),
        "json: key must be a string at byte 1"
    );
}

#[test]
fn a_command_sent_one_line_per_frame_says_so() {
    // The seed's pretty-printed envelope, pasted into websocat: one frame per line.
    let pasted =
        "{\n\"msg_type\": \"STREAM\",\n\"sec_type\": \"STOCK\",\n\"req_type\": \"QUOTE\",\n\
                  \"add\": true,\n\"id\": 1,\n\"contract\": {\"symbol\": \"AAPL\"}\n}";
    for dialect in [Dialect::Terminal, Dialect::Strict] {
        for line in pasted.lines() {
            let err = parse_command(line.as_bytes(), dialect).unwrap_err();
            assert_eq!(
                (err.message.as_str(), err.req_id),
                (
                    "json: incomplete object — send each command as one message",
                    None
                ),
                "{line:?}"
            );
        }
    }
    for fragment in ["  'add': True,", "]", "{\"contract\": {", "\"a\\\"b\" :1"] {
        assert_eq!(
            message(terminal(fragment)),
            "json: incomplete object — send each command as one message",
            "{fragment}"
        );
    }
    // A whole value that is not an object is still reported as what it is.
    for (frame, expected) in [
        ("\"STREAM\"", "json: expected an object, got \"STREAM\""),
        ("\"a\" \"b\"", "json: trailing characters at byte 4"),
        ("x", "json: expected value at byte 0"),
        ("", "json: EOF while parsing a value at byte 0"),
    ] {
        assert_eq!(message(terminal(frame)), expected, "{frame}");
    }
    // The seed's own one-line "Try it" command is whole.
    assert!(terminal(
        r#"{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "TRADE", "id": 1, "add": true, "contract": {"symbol": "SPY", "expiration": 20250321, "strike": 570000, "right": "C"}}"#
    )
    .is_ok());
}

/// A float is echoed as the exact value sent, whichever reader read it: the JSON reader rounds
/// correctly too (found by hypothesis: it used to read 2.1839927004565355e99 one ulp off).
#[test]
fn a_float_reads_the_same_in_json_and_as_a_python_literal() {
    for text in [
        "2.1839927004565355e+99",
        "0.1",
        "1e-300",
        "-7.5e22",
        "123456789.123456789",
    ] {
        let shown = ryu::Buffer::new()
            .format(text.parse::<f64>().unwrap())
            .to_owned();
        let expected = format!("id: must be an integer 0 <= id < 2^63, got {shown}");
        assert_eq!(
            message(terminal(&format!("{{\"id\": {text}}}"))),
            expected,
            "json {text}"
        );
        assert_eq!(
            message(terminal(&format!("{{'id': {text}}}"))),
            expected,
            "literal {text}"
        );
    }
}

proptest::proptest! {
    /// No input makes either dialect panic; every error is one bounded line naming its path,
    /// and a byte offset never points past the frame.
    #[test]
    fn any_frame_is_a_command_or_one_bounded_error(
        frame in proptest::collection::vec(proptest::prop_oneof![
            proptest::sample::select(b"{}[]'\":, \\\nTrueFalseNone0123456789-.eEux".to_vec()),
            proptest::prelude::any::<u8>(),
        ], 0..120)
    ) {
        for dialect in [Dialect::Terminal, Dialect::Strict] {
            if let Err(e) = parse_command(&frame, dialect) {
                let prefix = format!("{}: ", e.path);
                proptest::prop_assert!(e.message.starts_with(&prefix));
                proptest::prop_assert!(!e.message.contains('\n'));
                proptest::prop_assert!(e.message.len() < 600);
                if let Some(at) = e.message.rsplit(" at byte ").next().and_then(|n| n.parse::<usize>().ok()) {
                    proptest::prop_assert!(at <= frame.len());
                }
            }
        }
    }
}
