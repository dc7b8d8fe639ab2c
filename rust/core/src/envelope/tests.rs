// Dates and strikes are written as on the wire (YYYYMMDD, thousandths), where digit separators
// would hide the format.
#![allow(clippy::unreadable_literal)]

use super::*;

fn parse(frame: &str) -> Result<Command, EnvelopeError> {
    parse_command(frame.as_bytes(), Dialect::Terminal)
}

/// Asserts the frame is rejected with exactly this path, message and `req_id`.
#[track_caller]
fn rejects(frame: &str, path: &str, message: &str, req_id: Option<u64>) {
    rejects_bytes(frame.as_bytes(), path, message, req_id);
}

#[track_caller]
fn rejects_bytes(frame: &[u8], path: &str, message: &str, req_id: Option<u64>) {
    let got = parse_command(frame, Dialect::Terminal).expect_err("frame should be rejected");
    assert_eq!(
        got,
        EnvelopeError {
            path: path.to_owned(),
            message: message.to_owned(),
            req_id,
        },
        "frame: {}",
        String::from_utf8_lossy(frame)
    );
}

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn stream(frame: &str) -> StreamCommand {
    match parse(frame) {
        Ok(Command::Stream(c)) => c,
        other => panic!("not a stream command: {other:?}"),
    }
}

/// A STREAM frame for `sec`/`req` with the contract JSON `contract` (omitted when `None`).
fn stream_frame(sec: &str, req: &str, contract: Option<&str>) -> String {
    let contract = contract.map_or(String::new(), |c| format!(r#","contract":{c}"#));
    format!(
        r#"{{"msg_type":"STREAM","sec_type":"{sec}","req_type":"{req}","add":true,"id":5{contract}}}"#
    )
}

const SPY_C: &str = r#"{"symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"}"#;

// ---- valid commands ------------------------------------------------------------------------

#[test]
fn spec_examples_parse() {
    assert_eq!(
        parse(
            r#"{"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADE", "add": true, "id": 1,
                "contract": {"symbol": "AAPL"}}"#
        ),
        Ok(Command::Stream(StreamCommand {
            sec_type: SecType::Stock,
            req_type: ReqType::Trade,
            add: true,
            id: 1,
            contract: Some(ContractKey::stock(sym("AAPL"))),
        }))
    );
    assert_eq!(
        parse(r#"{"msg_type": "STOP", "id": 2}"#),
        Ok(Command::Stop(StopCommand { id: Some(2) }))
    );
    assert_eq!(
        parse(
            r#"{"msg_type":"STREAM","sec_type":"OPTION","req_type":"TRADE","id":1,"add":false,
                "contract":{"symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"}}"#
        ),
        Ok(Command::Stream(StreamCommand {
            sec_type: SecType::Option,
            req_type: ReqType::Trade,
            add: false,
            id: 1,
            contract: Some(ContractKey::option(
                sym("SPY"),
                20250321,
                570000,
                Right::Call
            )),
        }))
    );
}

#[test]
fn event_ack_parses() {
    assert_eq!(
        parse(
            r#"{"type": "event_ack", "correlation_id": "3f1c", "events_processed": [17, 18], "timestamp": 1700000000000}"#
        ),
        Ok(Command::EventAck(EventAck {
            correlation_id: "3f1c".to_owned(),
            events_processed: vec![17, 18],
            timestamp: 1_700_000_000_000,
        }))
    );
    assert_eq!(
        parse(r#"{"type":"event_ack","correlation_id":"","events_processed":[],"timestamp":-1}"#),
        Ok(Command::EventAck(EventAck {
            correlation_id: String::new(),
            events_processed: vec![],
            timestamp: -1,
        }))
    );
    assert_eq!(
        parse(r#"{"type":"event_ack","correlation_id":"","events_processed":[]," timestamp":1}"#)
            .unwrap_err()
            .message,
        r#"" timestamp": unknown field (expected type, correlation_id, events_processed, timestamp)"#
    );
}

#[test]
fn req_id_of_commands() {
    assert_eq!(
        parse(&stream_frame("STOCK", "FULL_TRADES", None))
            .unwrap()
            .req_id(),
        Some(5)
    );
    assert_eq!(
        parse(r#"{"id":9,"msg_type":"STOP"}"#).unwrap().req_id(),
        Some(9)
    );
    let ack = r#"{"type":"event_ack","correlation_id":"x","events_processed":[1],"timestamp":0}"#;
    assert_eq!(parse(ack).unwrap().req_id(), None);
}

#[test]
fn every_sec_type_and_req_type_combination() {
    let allowed: [(&str, &[&str]); 3] = [
        ("STOCK", &["QUOTE", "TRADE", "OHLC", "FULL_TRADES"]),
        (
            "OPTION",
            &[
                "QUOTE",
                "TRADE",
                "OHLC",
                "OPEN_INTEREST",
                "FULL_TRADES",
                "FULL_OPEN_INTEREST",
            ],
        ),
        ("INDEX", &["TRADE", "OHLC"]),
    ];
    let mut valid = 0;
    for (sec, reqs) in allowed {
        let sec_type = SecType::parse(sec).unwrap();
        for req_type in ReqType::ALL {
            let req = req_type.as_str();
            let contract_json = match (req_type.is_full(), sec) {
                (true, _) => None,
                (false, "OPTION") => Some(SPY_C),
                (false, _) => Some(r#"{"symbol":"SPX"}"#),
            };
            let frame = stream_frame(sec, req, contract_json);
            if reqs.contains(&req) {
                let contract = contract_json.map(|_| match sec_type {
                    SecType::Option => {
                        ContractKey::option(sym("SPY"), 20250321, 570000, Right::Call)
                    }
                    SecType::Stock => ContractKey::stock(sym("SPX")),
                    SecType::Index => ContractKey::index(sym("SPX")),
                });
                assert_eq!(
                    stream(&frame),
                    StreamCommand {
                        sec_type,
                        req_type,
                        add: true,
                        id: 5,
                        contract
                    },
                    "{frame}"
                );
                valid += 1;
            } else {
                rejects(
                    &frame,
                    "req_type",
                    &format!(
                        "req_type: {req} is not available for {sec} ({sec} supports {})",
                        reqs.join(", ")
                    ),
                    Some(5),
                );
            }
        }
    }
    assert_eq!(valid, 12);
}

#[test]
fn root_is_an_alias_of_symbol() {
    let c = stream(&stream_frame("STOCK", "QUOTE", Some(r#"{"root":"AAPL"}"#)));
    assert_eq!(c.contract, Some(ContractKey::stock(sym("AAPL"))));
    let c = stream(&stream_frame(
        "OPTION",
        "QUOTE",
        Some(r#"{"root":"SPXW","expiration":20240229,"strike":1,"right":"P"}"#),
    ));
    assert_eq!(
        c.contract,
        Some(ContractKey::option(sym("SPXW"), 20240229, 1, Right::Put))
    );
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(r#"{"symbol":"AAPL","root":"AAPL"}"#)),
        "contract.root",
        "contract.root: not allowed together with symbol (root is an alias of symbol)",
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(r#"{"root":"AAPL","symbol":"MSFT"}"#)),
        "contract.root",
        "contract.root: not allowed together with symbol (root is an alias of symbol)",
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(r#"{"root":"aapl"}"#)),
        "contract.root",
        r#"contract.root: must be 1-16 characters of A-Z 0-9 . / ^ -, got "aapl""#,
        Some(5),
    );
}

// ---- json ------------------------------------------------------------------------------------

#[test]
fn json_errors_report_exact_byte_offsets() {
    rejects(
        "",
        "json",
        "json: EOF while parsing a value at byte 0",
        None,
    );
    rejects(
        "   ",
        "json",
        "json: EOF while parsing a value at byte 3",
        None,
    );
    // An object cut short is a command sent in pieces (see `terminal_tests`).
    rejects(
        "{",
        "json",
        "json: incomplete object — send each command as one message",
        None,
    );
    rejects(
        "[1",
        "json",
        "json: EOF while parsing a list at byte 2",
        None,
    );
    rejects("x", "json", "json: expected value at byte 0", None);
    rejects("{x", "json", "json: key must be a string at byte 1", None);
    rejects(r#"{"a" 1}"#, "json", "json: expected `:` at byte 5", None);
    rejects(
        r#"{"id":1}}"#,
        "json",
        "json: trailing characters at byte 8",
        None,
    );
    rejects(
        r#"{"id":01}"#,
        "json",
        "json: invalid number at byte 7",
        None,
    );
    rejects(
        r#"{"a":"\q"}"#,
        "json",
        "json: invalid escape at byte 7",
        None,
    );
    rejects(
        "{\"a\":\"\u{1}\"}",
        "json",
        "json: control character (\\u0000-\\u001F) found while parsing a string at byte 6",
        None,
    );
    // Later lines: the offset counts every byte of the earlier lines, newlines included.
    rejects(
        "{\n  \"id\": 1,\n  oops\n}",
        "json",
        "json: key must be a string at byte 15",
        None,
    );
    rejects(
        "{\n\n\n x}",
        "json",
        "json: key must be a string at byte 5",
        None,
    );
    rejects(
        "{\"a\":1,\n}",
        "json",
        "json: trailing comma at byte 8",
        None,
    );
    rejects(
        "{\"a\":\n",
        "json",
        "json: incomplete object — send each command as one message",
        None,
    );
    rejects(
        "[\"a\",\n",
        "json",
        "json: EOF while parsing a value at byte 6",
        None,
    );
    // Multi-byte characters count as their UTF-8 length (é = 2 bytes, 😀 = 4 bytes).
    rejects(
        "{\"é\":1 x}",
        "json",
        "json: expected `,` or `}` at byte 8",
        None,
    );
    rejects(
        "{\"😀\":\n \"é\" x}",
        "json",
        "json: expected `,` or `}` at byte 15",
        None,
    );
    // Nesting beyond serde_json's recursion limit is an error, not a stack overflow.
    let deep = "[".repeat(10_000);
    rejects(
        &deep,
        "json",
        "json: recursion limit exceeded at byte 127",
        None,
    );
}

#[test]
fn json_error_offsets_point_at_the_offending_byte() {
    // Independent check: for frames whose only error is one stray byte, the reported offset is
    // that byte's position whatever the lines and characters before it.
    for prefix in [
        "",
        "\n",
        "\n\n  ",
        "\"é😀\\n\",\n",
        " \t\r\n ",
        "\"a\\nb\",\n\"ü\", {\"€\":\n[]},",
    ] {
        let frame = format!("[{prefix}1 @]");
        let at = frame.find('@').unwrap();
        let err = parse(&frame).unwrap_err();
        assert_eq!(
            err.message,
            format!("json: expected `,` or `]` at byte {at}"),
            "{frame:?}"
        );
    }
}

#[test]
fn invalid_utf8() {
    rejects_bytes(b"\xff", "json", "json: invalid UTF-8 at byte 0", None);
    rejects_bytes(
        b"{\"id\":1,\"a\":\"\xc3\"}",
        "json",
        "json: invalid UTF-8 at byte 13",
        None,
    );
    rejects_bytes(
        b"{\"a\":\"\xed\xa0\x80\"}",
        "json",
        "json: invalid UTF-8 at byte 6",
        None,
    );
    rejects_bytes(
        b"{\"a\":\"\xe2\x82\xac\"}\xc0",
        "json",
        "json: invalid UTF-8 at byte 11",
        None,
    );
}

#[test]
fn top_level_must_be_an_object() {
    rejects(
        "[1]",
        "json",
        "json: expected an object, got an array",
        None,
    );
    rejects("null", "json", "json: expected an object, got null", None);
    rejects(" 12 ", "json", "json: expected an object, got 12", None);
    rejects(
        r#""STOP""#,
        "json",
        r#"json: expected an object, got "STOP""#,
        None,
    );
    rejects("{}", "id", "id: required", None);
}

// ---- id ----------------------------------------------------------------------------------------

#[test]
fn id_boundaries() {
    assert_eq!(
        parse(r#"{"msg_type":"STOP","id":0}"#),
        Ok(Command::Stop(StopCommand { id: Some(0) }))
    );
    assert_eq!(
        parse(r#"{"msg_type":"STOP","id":9223372036854775807}"#),
        Ok(Command::Stop(StopCommand {
            id: Some((1 << 63) - 1)
        }))
    );
    let bad = [
        ("9223372036854775808", "9223372036854775808"),
        ("18446744073709551615", "18446744073709551615"),
        ("18446744073709551616", "1.8446744073709552e19"),
        ("-1", "-1"),
        ("1.5", "1.5"),
        ("1.0", "1.0"),
        ("1e3", "1000.0"),
        (r#""1""#, r#""1""#),
        ("true", "true"),
        ("null", "null"),
        ("[1]", "an array"),
        (r#"{"n":1}"#, "an object"),
    ];
    for (value, shown) in bad {
        rejects(
            &format!(r#"{{"msg_type":"STOP","id":{value}}}"#),
            "id",
            &format!("id: must be an integer 0 <= id < 2^63, got {shown}"),
            None,
        );
    }
    rejects(
        r#"{"msg_type":"STOP","add":true}"#,
        "id",
        "id: required",
        None,
    );
    rejects(
        r#"{"msg_type":"STOP","id":1,"id":1}"#,
        "id",
        "id: duplicate field",
        None,
    );
}

#[test]
fn id_is_checked_before_everything_else() {
    // Every other field is wrong too; the id problem is reported, without a req_id.
    rejects(
        r#"{"msg_type":"X","sec_type":"Y","bogus":1,"id":-3}"#,
        "id",
        "id: must be an integer 0 <= id < 2^63, got -3",
        None,
    );
    // Once the id is known, every later error carries it.
    rejects(
        r#"{"bogus":1,"id":3}"#,
        "msg_type",
        "msg_type: required",
        Some(3),
    );
}

// ---- msg_type, duplicates, unknown fields --------------------------------------------------------

#[test]
fn msg_type() {
    rejects(r#"{"id":1}"#, "msg_type", "msg_type: required", Some(1));
    rejects(
        r#"{"id":1,"msg_type":"stream"}"#,
        "msg_type",
        r#"msg_type: expected one of STREAM, STOP, got "stream""#,
        Some(1),
    );
    rejects(
        r#"{"id":1,"msg_type":7}"#,
        "msg_type",
        "msg_type: expected one of STREAM, STOP, got 7",
        Some(1),
    );
}

#[test]
fn duplicate_fields_are_rejected() {
    rejects(
        r#"{"msg_type":"STOP","id":1,"msg_type":"STOP"}"#,
        "msg_type",
        "msg_type: duplicate field",
        Some(1),
    );
    // Reported before msg_type and unknown-field checks; first repeated key in document order.
    rejects(
        r#"{"id":1,"zz":1,"b":1,"b":2,"zz":2}"#,
        "b",
        "b: duplicate field",
        Some(1),
    );
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(r#"{"symbol":"A","symbol":"A"}"#)),
        "contract.symbol",
        "contract.symbol: duplicate field",
        Some(5),
    );
    rejects(
        &stream_frame(
            "OPTION",
            "QUOTE",
            Some(r#"{"symbol":"A","strike":1,"strik":1,"strike":2}"#),
        ),
        "contract.strike",
        "contract.strike: duplicate field",
        Some(5),
    );
    rejects(
        r#"{"type":"event_ack","type":"event_ack"}"#,
        "type",
        "type: duplicate field",
        None,
    );
}

#[test]
fn unknown_fields_top_level() {
    rejects(
        r#"{"msg_type":"STOP","id":2,"contract":{"symbol":"A"}}"#,
        "contract",
        "contract: unknown field (expected msg_type, id)",
        Some(2),
    );
    rejects(
        r#"{"msg_type":"STREAM","id":2,"sec_typ":"STOCK","zzz":1}"#,
        "sec_typ",
        "sec_typ: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
        Some(2),
    );
    // Unknown fields are found before missing ones.
    rejects(
        r#"{"msg_type":"STREAM","id":2,"type":"event_ack"}"#,
        "type",
        "type: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
        Some(2),
    );
}

#[test]
fn unknown_keys_are_quoted_when_not_plain_names() {
    let long = "k".repeat(65);
    let cases = [
        ("contract.strike", r#""contract.strike""#),
        ("", r#""""#),
        ("a b", r#""a b""#),
        ("a\\nb", r#""a\nb""#),
        ("q\\\"", r#""q\"""#),
        ("ü", r#""ü""#),
        (
            long.as_str(),
            &format!(r#""{}"... (65 characters)"#, "k".repeat(64)),
        ),
    ];
    for (key_json, segment) in cases {
        rejects(
            &format!(r#"{{"msg_type":"STOP","id":2,"{key_json}":0}}"#),
            segment,
            &format!("{segment}: unknown field (expected msg_type, id)"),
            Some(2),
        );
    }
    let plain = "K_9".repeat(21);
    rejects(
        &format!(r#"{{"msg_type":"STOP","id":2,"{plain}":0}}"#),
        &plain,
        &format!("{plain}: unknown field (expected msg_type, id)"),
        Some(2),
    );
}

#[test]
fn unknown_fields_in_contract() {
    rejects(
        &stream_frame(
            "OPTION",
            "QUOTE",
            Some(r#"{"symbol":"SPY","expiration":20250321,"strik":5,"right":"C"}"#),
        ),
        "contract.strik",
        "contract.strik: unknown field (expected symbol, expiration, strike, right)",
        Some(5),
    );
    // Option fields on a STOCK or INDEX contract are unknown fields.
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(SPY_C)),
        "contract.expiration",
        "contract.expiration: unknown field (expected symbol)",
        Some(5),
    );
    rejects(
        &stream_frame("INDEX", "OHLC", Some(r#"{"symbol":"SPX","right":"C"}"#)),
        "contract.right",
        "contract.right: unknown field (expected symbol)",
        Some(5),
    );
    rejects(
        &stream_frame(
            "STOCK",
            "QUOTE",
            Some(r#"{"security_type":"STOCK","symbol":"A"}"#),
        ),
        "contract.security_type",
        "contract.security_type: unknown field (expected symbol)",
        Some(5),
    );
}

// ---- STREAM fields -------------------------------------------------------------------------------

#[test]
fn sec_type_and_req_type() {
    rejects(
        r#"{"msg_type":"STREAM","id":4}"#,
        "sec_type",
        "sec_type: required",
        Some(4),
    );
    rejects(
        r#"{"msg_type":"STREAM","id":4,"sec_type":"STOCKS"}"#,
        "sec_type",
        r#"sec_type: expected one of STOCK, OPTION, INDEX, got "STOCKS""#,
        Some(4),
    );
    rejects(
        r#"{"msg_type":"STREAM","id":4,"sec_type":null}"#,
        "sec_type",
        "sec_type: expected one of STOCK, OPTION, INDEX, got null",
        Some(4),
    );
    rejects(
        r#"{"msg_type":"STREAM","id":4,"sec_type":"STOCK"}"#,
        "req_type",
        "req_type: required",
        Some(4),
    );
    rejects(
        &stream_frame("STOCK", "TRADES", Some(r#"{"symbol":"A"}"#)),
        "req_type",
        r#"req_type: expected one of QUOTE, TRADE, OHLC, OPEN_INTEREST, FULL_TRADES, FULL_OPEN_INTEREST, got "TRADES""#,
        Some(5),
    );
    rejects(
        r#"{"msg_type":"STREAM","id":4,"sec_type":"STOCK","req_type":["TRADE"]}"#,
        "req_type",
        "req_type: expected one of QUOTE, TRADE, OHLC, OPEN_INTEREST, FULL_TRADES, FULL_OPEN_INTEREST, got an array",
        Some(4),
    );
}

#[test]
fn add_is_a_required_boolean() {
    let base = r#"{"msg_type":"STREAM","id":6,"sec_type":"STOCK","req_type":"FULL_TRADES""#;
    rejects(&format!("{base}}}"), "add", "add: required", Some(6));
    for (value, shown) in [
        (r#""true""#, r#""true""#),
        ("1", "1"),
        ("null", "null"),
        ("0.0", "0.0"),
    ] {
        rejects(
            &format!(r#"{base},"add":{value}}}"#),
            "add",
            &format!("add: must be a boolean, got {shown}"),
            Some(6),
        );
    }
    assert!(!stream(&format!(r#"{base},"add":false}}"#)).add);
}

#[test]
fn contract_presence() {
    rejects(
        &stream_frame("STOCK", "TRADE", None),
        "contract",
        "contract: required",
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "FULL_TRADES", Some(r#"{"symbol":"AAPL"}"#)),
        "contract",
        "contract: must be absent for FULL_TRADES",
        Some(5),
    );
    rejects(
        &stream_frame("OPTION", "FULL_OPEN_INTEREST", Some("null")),
        "contract",
        "contract: must be absent for FULL_OPEN_INTEREST",
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "TRADE", Some(r#""AAPL""#)),
        "contract",
        r#"contract: must be an object, got "AAPL""#,
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "TRADE", Some("[]")),
        "contract",
        "contract: must be an object, got an array",
        Some(5),
    );
    rejects(
        &stream_frame("STOCK", "TRADE", Some("{}")),
        "contract.symbol",
        "contract.symbol: required",
        Some(5),
    );
    assert_eq!(
        stream(&stream_frame("OPTION", "FULL_OPEN_INTEREST", None)).contract,
        None
    );
}

#[test]
fn symbols() {
    let ok = [
        "A",
        "ABCDEFGHIJKLMNOP",
        "BRK.B",
        "BF/B",
        "^SPX",
        "X-1",
        "0123456789",
    ];
    for s in ok {
        let c = stream(&stream_frame(
            "STOCK",
            "TRADE",
            Some(&format!(r#"{{"symbol":"{s}"}}"#)),
        ));
        assert_eq!(c.contract.unwrap().symbol.as_str(), s);
    }
    let long = "A".repeat(65);
    let bad = [
        (
            r#""ABCDEFGHIJKLMNOPQ""#,
            r#""ABCDEFGHIJKLMNOPQ" (17 characters)"#.to_owned(),
        ),
        (r#""aapl""#, r#""aapl""#.to_owned()),
        (r#""AA PL""#, r#""AA PL""#.to_owned()),
        (r#"" AAPL""#, r#"" AAPL""#.to_owned()),
        (r#""""#, r#""""#.to_owned()),
        (r#""AAPL\n""#, r#""AAPL\n""#.to_owned()),
        (r#""ÄPL""#, r#""ÄPL""#.to_owned()),
        ("5", "5".to_owned()),
        ("null", "null".to_owned()),
        (
            &format!(r#""{long}""#),
            format!(r#""{}"... (65 characters)"#, "A".repeat(64)),
        ),
    ];
    for (value, shown) in &bad {
        rejects(
            &stream_frame("STOCK", "TRADE", Some(&format!(r#"{{"symbol":{value}}}"#))),
            "contract.symbol",
            &format!("contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got {shown}"),
            Some(5),
        );
    }
}

fn option_frame(expiration: &str, strike: &str, right: &str) -> String {
    stream_frame(
        "OPTION",
        "QUOTE",
        Some(&format!(
            r#"{{"symbol":"SPY","expiration":{expiration},"strike":{strike},"right":{right}}}"#
        )),
    )
}

#[test]
fn expirations() {
    for date in [20240229, 20000229, 19000101, 29991231, 20251231, 20250430] {
        let c = stream(&option_frame(&date.to_string(), "1", r#""C""#));
        assert_eq!(c.contract.unwrap().expiration, date);
    }
    for date in [
        "20250230",
        "20250229",
        "21000229",
        "19000229",
        "20251301",
        "20250100",
        "20250431",
        "2025032",
        "0",
        "-20250321",
        "99991231",
    ] {
        rejects(
            &option_frame(date, "1", r#""C""#),
            "contract.expiration",
            &format!("contract.expiration: not a calendar date: {date}"),
            Some(5),
        );
    }
    for (value, shown) in [
        (r#""2025-03-21""#, r#""2025-03-21""#),
        (r#""""#, r#""""#),
        ("20250321.0", "20250321.0"),
        ("null", "null"),
    ] {
        rejects(
            &option_frame(value, "1", r#""C""#),
            "contract.expiration",
            &format!("contract.expiration: must be a YYYYMMDD integer, got {shown}"),
            Some(5),
        );
    }
    rejects(
        &stream_frame(
            "OPTION",
            "QUOTE",
            Some(r#"{"symbol":"SPY","strike":1,"right":"C"}"#),
        ),
        "contract.expiration",
        "contract.expiration: required",
        Some(5),
    );
}

#[test]
fn strikes() {
    for strike in [1_u32, 570_000, u32::MAX] {
        let c = stream(&option_frame("20250321", &strike.to_string(), r#""P""#));
        assert_eq!(c.contract.unwrap().strike, strike);
    }
    for (value, shown) in [
        ("0", "0"),
        ("-5", "-5"),
        ("1.5", "1.5"),
        ("570000.0", "570000.0"),
        (r#""4.8""#, r#""4.8""#),
        (r#""-5""#, r#""-5""#),
        (r#"" 570000""#, r#"" 570000""#),
        ("true", "true"),
    ] {
        rejects(
            &option_frame("20250321", value, r#""P""#),
            "contract.strike",
            &format!("contract.strike: must be a positive integer (thousandths of a dollar), got {shown}"),
            Some(5),
        );
    }
    rejects(
        &option_frame("20250321", "4294967296", r#""P""#),
        "contract.strike",
        "contract.strike: must be at most 4294967295 (thousandths of a dollar), got 4294967296",
        Some(5),
    );
    rejects(
        &stream_frame(
            "OPTION",
            "QUOTE",
            Some(r#"{"symbol":"SPY","expiration":20250321,"right":"C"}"#),
        ),
        "contract.strike",
        "contract.strike: required",
        Some(5),
    );
}

#[test]
fn rights() {
    assert_eq!(
        stream(&option_frame("20250321", "1", r#""C""#))
            .contract
            .unwrap()
            .right,
        Some(Right::Call)
    );
    assert_eq!(
        stream(&option_frame("20250321", "1", r#""P""#))
            .contract
            .unwrap()
            .right,
        Some(Right::Put)
    );
    for (value, shown) in [
        (r#""c""#, r#""c""#),
        (r#""CALL""#, r#""CALL""#),
        ("1", "1"),
        ("null", "null"),
    ] {
        rejects(
            &option_frame("20250321", "1", value),
            "contract.right",
            &format!("contract.right: expected one of C, P, got {shown}"),
            Some(5),
        );
    }
    rejects(
        &stream_frame(
            "OPTION",
            "QUOTE",
            Some(r#"{"symbol":"SPY","expiration":20250321,"strike":1}"#),
        ),
        "contract.right",
        "contract.right: required",
        Some(5),
    );
}

#[test]
fn contract_fields_are_checked_in_order() {
    // All four fields are wrong: symbol is reported first, then expiration, strike, right.
    rejects(
        &option_frame("1", "0", r#""X""#).replace("SPY", "s"),
        "contract.symbol",
        r#"contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "s""#,
        Some(5),
    );
    rejects(
        &option_frame("1", "0", r#""X""#),
        "contract.expiration",
        "contract.expiration: not a calendar date: 1",
        Some(5),
    );
    rejects(
        &option_frame("20250321", "0", r#""X""#),
        "contract.strike",
        "contract.strike: must be a positive integer (thousandths of a dollar), got 0",
        Some(5),
    );
    // Combination errors come before add and contract errors.
    rejects(
        r#"{"msg_type":"STREAM","id":8,"sec_type":"INDEX","req_type":"QUOTE","add":"x","contract":5}"#,
        "req_type",
        "req_type: QUOTE is not available for INDEX (INDEX supports TRADE, OHLC)",
        Some(8),
    );
    // Key-level contract errors come before field values.
    rejects(
        &stream_frame("STOCK", "QUOTE", Some(r#"{"symbol":"bad","x":1}"#)),
        "contract.x",
        "contract.x: unknown field (expected symbol)",
        Some(5),
    );
}

// ---- event_ack -----------------------------------------------------------------------------------

#[test]
fn event_ack_errors() {
    let cases = [
        (
            r#"{"type":"pong"}"#,
            "type",
            r#"type: expected "event_ack", got "pong""#,
        ),
        (
            r#"{"type":null}"#,
            "type",
            r#"type: expected "event_ack", got null"#,
        ),
        (
            r#"{"type":"event_ack","id":1}"#,
            "id",
            "id: unknown field (expected type, correlation_id, events_processed, timestamp)",
        ),
        (
            r#"{"type":"event_ack"}"#,
            "correlation_id",
            "correlation_id: required",
        ),
        (
            r#"{"type":"event_ack","correlation_id":5}"#,
            "correlation_id",
            "correlation_id: must be a string, got 5",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c"}"#,
            "events_processed",
            "events_processed: required",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":17}"#,
            "events_processed",
            "events_processed: must be an array of event ids, got 17",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[1,"unknown"]}"#,
            "events_processed[1]",
            r#"events_processed[1]: must be an integer 0 <= n < 2^63, got "unknown""#,
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[-1]}"#,
            "events_processed[0]",
            "events_processed[0]: must be an integer 0 <= n < 2^63, got -1",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[9223372036854775808]}"#,
            "events_processed[0]",
            "events_processed[0]: must be an integer 0 <= n < 2^63, got 9223372036854775808",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[]}"#,
            "timestamp",
            "timestamp: required",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[],"timestamp":1.5}"#,
            "timestamp",
            "timestamp: must be an integer (milliseconds since the epoch), got 1.5",
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[],"timestamp":"1"}"#,
            "timestamp",
            r#"timestamp: must be an integer (milliseconds since the epoch), got "1""#,
        ),
        (
            r#"{"type":"event_ack","correlation_id":"c","events_processed":[],"timestamp":9223372036854775808}"#,
            "timestamp",
            "timestamp: must be an integer (milliseconds since the epoch), got 9223372036854775808",
        ),
    ];
    for (frame, path, message) in cases {
        rejects(frame, path, message, None);
    }
    let ok = r#"{"type":"event_ack","correlation_id":"c","events_processed":[9223372036854775807],"timestamp":-9223372036854775808}"#;
    assert_eq!(
        parse(ok),
        Ok(Command::EventAck(EventAck {
            correlation_id: "c".to_owned(),
            events_processed: vec![(1 << 63) - 1],
            timestamp: i64::MIN,
        }))
    );
}

// ---- bounded echo and acks -------------------------------------------------------------------------

#[test]
fn echoed_values_are_bounded() {
    let huge = "Z".repeat(3000);
    let err = parse(&format!(r#"{{"id":1,"msg_type":"{huge}"}}"#)).unwrap_err();
    assert_eq!(
        err.message,
        format!(
            r#"msg_type: expected one of STREAM, STOP, got "{}"... (3000 characters)"#,
            "Z".repeat(64)
        )
    );
    let err = parse(&format!(r#"{{"id":1,"{huge}":1}}"#)).unwrap_err();
    assert!(err.message.len() < 200, "{}", err.message);
    // Escaped characters are counted as characters of the original string.
    let err = parse(&format!(
        r#"{{"id":1,"msg_type":"{}"}}"#,
        "\\u0001".repeat(100)
    ))
    .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            r#"msg_type: expected one of STREAM, STOP, got "{}"... (100 characters)"#,
            "\\u0001".repeat(64)
        )
    );
}

#[test]
fn error_acks() {
    let err = parse(&option_frame("20250321", "-5", r#""C""#)).unwrap_err();
    let mut out = Vec::new();
    err.encode_ack(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":5,"message":"contract.strike: must be a positive integer (thousandths of a dollar), got -5"}}"#
    );
    let err = parse(r#"{"id":1,"msg_type":"a\"b\\c"}"#).unwrap_err();
    let mut out = Vec::new();
    err.encode_ack(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":1,"message":"msg_type: expected one of STREAM, STOP, got \"a\\\"b\\\\c\""}}"#
    );
    let err = parse("nope").unwrap_err();
    let mut out = Vec::new();
    err.encode_ack(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":null,"message":"json: expected ident at byte 1"}}"#
    );
    assert_eq!(err.to_string(), err.message);
}

#[test]
fn supported_req_types_table() {
    assert_eq!(
        supported_req_types(SecType::Index),
        [ReqType::Trade, ReqType::Ohlc]
    );
    assert_eq!(supported_req_types(SecType::Option), ReqType::ALL);
    assert_eq!(
        supported_req_types(SecType::Stock),
        [
            ReqType::Quote,
            ReqType::Trade,
            ReqType::Ohlc,
            ReqType::FullTrades
        ]
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
            check_error_shape(parse_command(&frame, Dialect::Terminal));
        }

        #[test]
        fn mutated_commands_never_panic(
            cut in 0usize..200,
            byte in any::<u8>(),
            at in 0usize..200,
        ) {
            let mut frame = option_frame("20250321", "570000", r#""C""#).into_bytes();
            let at = at % frame.len();
            frame[at] = byte;
            frame.truncate(cut.max(at));
            check_error_shape(parse_command(&frame, Dialect::Terminal));
        }
    }

    fn check_error_shape(result: Result<Command, EnvelopeError>) {
        if let Err(e) = result {
            assert!(e.message.starts_with(&format!("{}: ", e.path)), "{e:?}");
            let mut out = Vec::new();
            e.encode_ack(&mut out);
            let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed["header"]["message"], e.message.as_str());
        }
    }
}
