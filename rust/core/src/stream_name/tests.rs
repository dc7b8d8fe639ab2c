use proptest::prelude::*;

use super::*;
use crate::contract::{Right, Symbol};

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn ok(name: &str) -> StreamKey {
    parse_stream_name(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(name: &str) -> String {
    match parse_stream_name(name) {
        Ok(k) => panic!("{name} parsed as {k:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn contract_streams() {
    assert_eq!(
        ok("stock.AAPL@trade"),
        StreamKey::of_contract(ReqType::Trade, ContractKey::stock(sym("AAPL")))
    );
    assert_eq!(
        ok("index.SPX@ohlc"),
        StreamKey::of_contract(ReqType::Ohlc, ContractKey::index(sym("SPX")))
    );
    assert_eq!(
        ok("option.SPY.20250321.570000.C@quote"),
        StreamKey::of_contract(
            ReqType::Quote,
            ContractKey::option(sym("SPY"), 20250321, 570000, Right::Call)
        )
    );
    assert_eq!(
        ok("option.SPXW.20240229.1.P@open_interest"),
        StreamKey::of_contract(
            ReqType::OpenInterest,
            ContractKey::option(sym("SPXW"), 20240229, 1, Right::Put)
        )
    );
    assert_eq!(
        ok("option.SPY.20250321.4294967295.C@trade")
            .contract
            .unwrap()
            .strike,
        u32::MAX
    );
}

#[test]
fn symbols_may_hold_dots() {
    // A stock's symbol is everything after `stock.`; an option's is everything between
    // `option.` and the last three fields.
    assert_eq!(
        ok("stock.BRK.B@trade"),
        StreamKey::of_contract(ReqType::Trade, ContractKey::stock(sym("BRK.B")))
    );
    assert_eq!(
        ok("option.BRK.B.20250321.570000.C@quote"),
        StreamKey::of_contract(
            ReqType::Quote,
            ContractKey::option(sym("BRK.B"), 20250321, 570000, Right::Call)
        )
    );
    assert_eq!(
        ok("stock.A.B.C.D@quote").contract.unwrap().symbol,
        sym("A.B.C.D")
    );
    assert_eq!(ok("index.^SPX@trade").contract.unwrap().symbol, sym("^SPX"));
    assert_eq!(
        ok("stock.BF/B-W@trade").contract.unwrap().symbol,
        sym("BF/B-W")
    );
}

#[test]
fn whole_market_streams() {
    assert_eq!(
        ok("option@full_trades"),
        StreamKey::full(SecType::Option, ReqType::FullTrades)
    );
    assert_eq!(
        ok("stock@full_trades"),
        StreamKey::full(SecType::Stock, ReqType::FullTrades)
    );
    assert_eq!(
        ok("option@full_open_interest"),
        StreamKey::full(SecType::Option, ReqType::FullOpenInterest)
    );
}

#[test]
fn shape_errors() {
    let shape = "expected <sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>";
    assert_eq!(err(""), format!("{shape}, got \"\""));
    assert_eq!(err("stock.AAPL"), format!("{shape}, got \"stock.AAPL\""));
    assert_eq!(
        err("stock@trade"),
        "expected stock.<SYMBOL>@trade, got \"stock@trade\""
    );
    assert_eq!(
        err("index@ohlc"),
        "expected index.<SYMBOL>@ohlc, got \"index@ohlc\""
    );
    assert_eq!(
        err("option.SPY@quote"),
        "expected option.<SYMBOL>.<expiration>.<strike>.<right>@quote, got \"option.SPY@quote\""
    );
    assert_eq!(
        err("option.SPY.20250321.C@trade"),
        "expected option.<SYMBOL>.<expiration>.<strike>.<right>@trade, got \"option.SPY.20250321.C@trade\""
    );
    assert_eq!(
        err("option@trade"),
        "expected option.<SYMBOL>.<expiration>.<strike>.<right>@trade, got \"option@trade\""
    );
    // Long input is cut in the echo.
    let long = format!("stock.{}", "A".repeat(100));
    assert_eq!(
        err(&long),
        format!(
            "{shape}, got \"stock.{}\"... (106 characters)",
            "A".repeat(58)
        )
    );
}

#[test]
fn sec_and_kind_errors() {
    assert_eq!(
        err("bond.X@trade"),
        "sec: expected one of stock, option, index, got \"bond\""
    );
    assert_eq!(
        err("STOCK.AAPL@trade"),
        "sec: expected one of stock, option, index, got \"STOCK\""
    );
    assert_eq!(
        err("@trade"),
        "sec: expected one of stock, option, index, got \"\""
    );
    let kinds = "kind: expected one of trade, quote, ohlc, open_interest, full_trades, \
                 full_open_interest, got";
    assert_eq!(err("stock.AAPL@book"), format!("{kinds} \"book\""));
    assert_eq!(err("stock.AAPL@TRADE"), format!("{kinds} \"TRADE\""));
    assert_eq!(err("stock.AAPL@"), format!("{kinds} \"\""));
    assert_eq!(err("stock.AAPL@trade@x"), format!("{kinds} \"trade@x\""));
    assert_eq!(
        err("option@full_trades.X"),
        format!("{kinds} \"full_trades.X\"")
    );
    assert_eq!(err("stock.A@trade\n"), format!("{kinds} \"trade\\n\""));
}

#[test]
fn unsupported_combinations() {
    assert_eq!(
        err("stock.AAPL@open_interest"),
        "stock does not support open_interest"
    );
    assert_eq!(err("index.SPX@quote"), "index does not support quote");
    assert_eq!(
        err("index@full_trades"),
        "index does not support full_trades"
    );
    assert_eq!(
        err("stock@full_open_interest"),
        "stock does not support full_open_interest"
    );
    // The combination is checked before the contract.
    assert_eq!(err("index.spx@quote"), "index does not support quote");
}

#[test]
fn whole_market_streams_take_no_contract() {
    assert_eq!(
        err("option.SPY@full_trades"),
        "option@full_trades takes no contract, got \"option.SPY@full_trades\""
    );
    assert_eq!(
        err("option.@full_open_interest"),
        "option@full_open_interest takes no contract, got \"option.@full_open_interest\""
    );
}

#[test]
fn contract_errors() {
    let symbol = "contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got";
    assert_eq!(err("stock.aapl@trade"), format!("{symbol} \"aapl\""));
    assert_eq!(err("stock.@trade"), format!("{symbol} \"\""));
    assert_eq!(
        err("stock.ABCDEFGHIJKLMNOPQ@trade"),
        format!("{symbol} \"ABCDEFGHIJKLMNOPQ\" (17 characters)")
    );
    assert_eq!(err("stock.A B@trade"), format!("{symbol} \"A B\""));
    assert_eq!(err("option..20250321.1.C@trade"), format!("{symbol} \"\""));
    assert_eq!(
        err("option.spy.2025.0.X@trade"),
        format!("{symbol} \"spy\""),
        "symbol first"
    );
    assert_eq!(
        err("option.SPY.20250230.570000.C@quote"),
        "contract.expiration: not a calendar date: 20250230"
    );
    assert_eq!(
        err("option.SPY.2025032.570000.C@quote"),
        "contract.expiration: not a calendar date: 2025032"
    );
    assert_eq!(
        err("option.SPY.21000229.570000.C@quote"),
        "contract.expiration: not a calendar date: 21000229"
    );
    for bad in ["020250321", "2025-03-21", "", "-20250321", "+20250321"] {
        assert_eq!(
            err(&format!("option.SPY.{bad}.570000.C@quote")),
            format!("contract.expiration: must be a YYYYMMDD integer, got \"{bad}\"")
        );
    }
    assert_eq!(
        err("option.SPY.20250321.0.C@quote"),
        "contract.strike: must be a positive integer (thousandths of a dollar), got 0"
    );
    for bad in ["0570000", "570,5", "", "-5", "1e3"] {
        assert_eq!(
            err(&format!("option.SPY.20250321.{bad}.C@quote")),
            format!(
                "contract.strike: must be a positive integer (thousandths of a dollar), got \"{bad}\""
            )
        );
    }
    // The last three fields are taken from the right: a dot in the strike shifts them.
    assert_eq!(
        err("option.SPY.20250321.570.5.C@quote"),
        "contract.expiration: not a calendar date: 570"
    );
    assert_eq!(
        err("option.SPY.20250321.4294967296.C@quote"),
        "contract.strike: must be at most 4294967295 (thousandths of a dollar), got 4294967296"
    );
    assert_eq!(
        err("option.SPY.20250321.570000.c@quote"),
        "contract.right: expected one of C, P, got \"c\""
    );
    assert_eq!(
        err("option.SPY.20250321.570000.CALL@quote"),
        "contract.right: expected one of C, P, got \"CALL\""
    );
    // A stock's dots belong to its symbol, so option fields there are symbol characters.
    assert_eq!(
        err("stock.SPY.20250321.570000.C@trade"),
        format!("{symbol} \"SPY.20250321.570000.C\" (21 characters)")
    );
}

#[test]
fn errors_are_typed() {
    assert_eq!(
        parse_stream_name("option.SPY.20250230.1.C@trade"),
        Err(StreamNameError::Contract(ContractError::new(
            ContractField::Expiration,
            ContractReason::NotACalendarDate {
                got: "20250230".to_owned()
            }
        )))
    );
    assert_eq!(
        parse_stream_name("stock.A@open_interest"),
        Err(StreamNameError::Unsupported {
            sec_type: SecType::Stock,
            req_type: ReqType::OpenInterest
        })
    );
}

#[test]
fn stream_keys_from_fields() {
    assert_eq!(
        stream_key(
            SecType::Stock,
            ReqType::Trade,
            Some("AAPL"),
            None,
            None,
            None
        ),
        Ok(ok("stock.AAPL@trade"))
    );
    assert_eq!(
        stream_key(
            SecType::Option,
            ReqType::Quote,
            Some("SPY"),
            Some(20250321),
            Some(570000),
            Some("C")
        ),
        Ok(ok("option.SPY.20250321.570000.C@quote"))
    );
    assert_eq!(
        stream_key(SecType::Option, ReqType::FullTrades, None, None, None, None),
        Ok(ok("option@full_trades"))
    );
    let message = |r: Result<StreamKey, StreamNameError>| r.unwrap_err().to_string();
    assert_eq!(
        message(stream_key(
            SecType::Option,
            ReqType::FullTrades,
            Some("SPY"),
            None,
            None,
            None
        )),
        "option@full_trades takes no contract, got a contract"
    );
    assert_eq!(
        message(stream_key(
            SecType::Stock,
            ReqType::OpenInterest,
            Some("AAPL"),
            None,
            None,
            None
        )),
        "stock does not support open_interest"
    );
    assert_eq!(
        message(stream_key(
            SecType::Stock,
            ReqType::Trade,
            None,
            None,
            None,
            None
        )),
        "contract.symbol: required"
    );
    assert_eq!(
        message(stream_key(
            SecType::Option,
            ReqType::Trade,
            Some("SPY"),
            Some(20250230),
            Some(1),
            Some("C")
        )),
        "contract.expiration: not a calendar date: 20250230"
    );
    assert_eq!(
        message(stream_key(
            SecType::Stock,
            ReqType::Trade,
            Some("AAPL"),
            None,
            Some(1),
            None
        )),
        "contract.strike: not allowed for STOCK (only an OPTION has expiration, strike, right)"
    );
}

fn symbol_strategy() -> impl Strategy<Value = Symbol> {
    "[A-Z0-9./^-]{1,16}".prop_map(|s| Symbol::new(&s).unwrap())
}

fn date_strategy() -> impl Strategy<Value = u32> {
    (1900u32..=2999, 1u32..=12, 1u32..=31)
        .prop_map(|(y, m, d)| y * 10_000 + m * 100 + d)
        .prop_filter("a calendar date", |n| {
            crate::contract::is_calendar_date(u64::from(*n))
        })
}

fn key_strategy() -> impl Strategy<Value = StreamKey> {
    let contract = prop_oneof![
        symbol_strategy().prop_map(ContractKey::stock),
        symbol_strategy().prop_map(ContractKey::index),
        (
            symbol_strategy(),
            date_strategy(),
            1u32..,
            prop_oneof![Just(Right::Call), Just(Right::Put)]
        )
            .prop_map(|(s, e, k, r)| ContractKey::option(s, e, k, r)),
    ];
    let full = prop_oneof![
        Just(StreamKey::full(SecType::Stock, ReqType::FullTrades)),
        Just(StreamKey::full(SecType::Option, ReqType::FullTrades)),
        Just(StreamKey::full(SecType::Option, ReqType::FullOpenInterest)),
    ];
    let of_contract = (contract, 0usize..4).prop_filter_map("supported", |(c, i)| {
        let req = [
            ReqType::Trade,
            ReqType::Quote,
            ReqType::Ohlc,
            ReqType::OpenInterest,
        ][i];
        c.sec_type
            .supports(req)
            .then(|| StreamKey::of_contract(req, c))
    });
    prop_oneof![1 => full, 6 => of_contract]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn names_round_trip(key in key_strategy()) {
        prop_assert_eq!(parse_stream_name(&key.name()), Ok(key));
    }

    #[test]
    fn any_string_is_a_key_or_a_one_line_error(name in ".{0,80}") {
        match parse_stream_name(&name) {
            Ok(key) => prop_assert_eq!(key.name(), name),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.contains('\n'));
                prop_assert!(message.len() < 400);
            }
        }
    }
}

/// Command lines name contracts case-insensitively; the wire's names stay exact.
#[test]
fn typed_names_take_contracts_in_any_case() {
    for (typed, exact) in [
        ("stock.aapl@trade", "stock.AAPL@trade"),
        (" stock.Aapl@quote ", "stock.AAPL@quote"),
        (
            "option.spy.20250321.570000.c@trade",
            "option.SPY.20250321.570000.C@trade",
        ),
        ("index.spx@ohlc", "index.SPX@ohlc"),
        ("option@full_trades", "option@full_trades"),
    ] {
        assert_eq!(
            parse_typed_stream_name(typed).map(|k| k.name()),
            Ok(exact.to_owned()),
            "{typed}"
        );
    }
    // Only the contract's case: the prefix and the kind are as exact as ever.
    assert!(parse_typed_stream_name("STOCK.aapl@trade").is_err());
    assert!(parse_typed_stream_name("stock.aapl@TRADE").is_err());
    assert!(parse_stream_name("stock.aapl@trade").is_err());
    assert_eq!(
        typed_contract(" spy:20250321:570000:p\n"),
        "SPY:20250321:570000:P"
    );
}
