use super::*;
use crate::bars::BarBook;
use crate::contract::{ReqType, Right, SecType, Symbol};
use crate::event::{EventBody, OpenInterest, Quote, Trade};
use crate::ws::decoder::{FrameDecoder, Message, ProtocolError};
use crate::ws::frame::Role;

fn stock(s: &str) -> ContractKey {
    ContractKey::stock(Symbol::new(s).unwrap())
}

fn call() -> ContractKey {
    ContractKey::option(Symbol::new("SPY").unwrap(), 20250321, 570000, Right::Call)
}

fn trade(ms: u32, price: f64, size: u32) -> EventBody {
    EventBody::Trade(Trade {
        ms_of_day: ms,
        sequence: i64::from(ms),
        size,
        condition: 0,
        price,
        exchange: 1,
        date: 20250321,
    })
}

fn quote(ms: u32) -> EventBody {
    EventBody::Quote(Quote {
        ms_of_day: ms,
        bid_size: 1,
        bid_exchange: 1,
        bid: 1.0,
        bid_condition: 0,
        ask_size: 1,
        ask_exchange: 1,
        ask: 1.01,
        ask_condition: 0,
        date: 20250321,
    })
}

fn oi(ms: u32) -> EventBody {
    EventBody::OpenInterest(OpenInterest {
        ms_of_day: ms,
        open_interest: 5,
        date: 20250321,
    })
}

fn ev(contract: ContractId, body: EventBody) -> Event {
    Event { contract, body }
}

fn on(req: ReqType, c: ContractKey) -> StreamKey {
    StreamKey::of_contract(req, c)
}

/// The JSON payloads of the frames in `out`.
fn payloads(out: &[u8]) -> Vec<String> {
    let mut decoder = FrameDecoder::new(Role::Client).with_max_message_size(1 << 20);
    let mut messages = Vec::new();
    decoder
        .feed::<ProtocolError, _>(out, |m| {
            if let Message::Text(text) = m {
                messages.push(text.to_owned());
            }
            Ok(())
        })
        .unwrap();
    messages
}

/// `TYPE:SYMBOL` of each event frame, prefixed with `stream=` for §4 frames.
fn summary(p: &str) -> String {
    let field = |key: &str| {
        let at = p.find(key).unwrap() + key.len();
        let end = at + p[at..].find('"').unwrap();
        p[at..end].to_owned()
    };
    let kind = format!("{}:{}", field("\"type\":\""), field("\"symbol\":\""));
    if p.starts_with("{\"stream\":") {
        format!("{}={kind}", field("\"stream\":\""))
    } else {
        kind
    }
}

/// Publishes `events` and returns each subscriber's summaries and counts.
fn run(
    hub: &mut Hub,
    bars: &mut BarBook,
    events: &[Event],
) -> Vec<(SubscriberId, Vec<String>, u64)> {
    let rejections = hub.publish(bars, events);
    assert_eq!(rejections.count, 0, "{:?}", rejections.first);
    let mut out = Vec::new();
    hub.take_output(|ids, output| {
        let (frames, count) = (output.to_vec(), output.count());
        let p = payloads(&frames);
        assert_eq!(p.len() as u64, count);
        for &id in ids {
            out.push((id, p.iter().map(|s| summary(s)).collect(), count));
        }
    });
    out.sort();
    out
}

struct Setup {
    hub: Hub,
    bars: BarBook,
    aapl: ContractId,
    msft: ContractId,
    spy: ContractId,
}

fn setup() -> Setup {
    let mut hub = Hub::new(true);
    let aapl = hub.add_contract(stock("AAPL"));
    let msft = hub.add_contract(stock("MSFT"));
    let spy = hub.add_contract(call());
    Setup {
        hub,
        bars: BarBook::new(&[1000], 16).unwrap(),
        aapl,
        msft,
        spy,
    }
}

#[test]
fn only_subscribed_events_go_out_but_every_trade_makes_bars() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        msft,
        spy,
    } = setup();
    let a = hub.add_subscriber(Wire::Events);
    hub.subscribe(a, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    let events = [
        ev(aapl, quote(1)),
        ev(msft, quote(2)),
        ev(aapl, trade(3, 10.0, 5)),
        ev(spy, oi(4)),
    ];
    let out = run(&mut hub, &mut bars, &events);
    assert_eq!(out, [(a, vec!["QUOTE:AAPL".to_owned()], 1)]);
    assert_eq!(bars.session(aapl).unwrap().count, 1);
}

#[test]
fn ohlc_follows_each_subscribed_trade_with_the_whole_session() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        msft,
        ..
    } = setup();
    let a = hub.add_subscriber(Wire::Events);
    // Trades before the subscription still count in the session.
    assert!(run(&mut hub, &mut bars, &[ev(aapl, trade(1, 10.0, 5))]).is_empty());
    hub.subscribe(
        a,
        &[
            on(ReqType::Trade, stock("AAPL")),
            on(ReqType::Ohlc, stock("MSFT")),
        ],
        10,
    )
    .unwrap();
    hub.publish(
        &mut bars,
        &[ev(aapl, trade(2, 12.0, 1)), ev(msft, trade(3, 7.5, 2))],
    );
    let mut frames = Vec::new();
    hub.take_output(|_, output| {
        assert_eq!(output.count(), 3);
        frames.extend_from_slice(&output.to_vec());
    });
    let p = payloads(&frames);
    let kinds: Vec<String> = p.iter().map(|s| summary(s)).collect();
    assert_eq!(kinds, ["TRADE:AAPL", "OHLC:AAPL", "OHLC:MSFT"]);
    assert!(p[1].ends_with(r#""ohlc":{"ms_of_day":2,"open":10.0,"high":12.0,"low":10.0,"close":12.0,"volume":6,"count":2,"date":20250321}}"#), "{}", p[1]);
}

#[test]
fn no_ohlcvc_sends_trades_only() {
    let mut hub = Hub::new(false);
    let aapl = hub.add_contract(stock("AAPL"));
    let mut bars = BarBook::new(&[1000], 16).unwrap();
    let a = hub.add_subscriber(Wire::Events);
    hub.subscribe(
        a,
        &[
            on(ReqType::Trade, stock("AAPL")),
            on(ReqType::Ohlc, stock("AAPL")),
        ],
        10,
    )
    .unwrap();
    let out = run(&mut hub, &mut bars, &[ev(aapl, trade(2, 12.0, 1))]);
    assert_eq!(out, [(a, vec!["TRADE:AAPL".to_owned()], 1)]);
}

#[test]
fn full_streams_match_their_security_type() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        spy,
        ..
    } = setup();
    let a = hub.add_subscriber(Wire::Events);
    hub.subscribe(
        a,
        &[
            StreamKey::full(SecType::Option, ReqType::FullTrades),
            StreamKey::full(SecType::Option, ReqType::FullOpenInterest),
        ],
        10,
    )
    .unwrap();
    let events = [
        ev(aapl, trade(1, 10.0, 5)),
        ev(spy, trade(2, 4.15, 3)),
        ev(spy, oi(3)),
        ev(spy, quote(4)),
    ];
    let out = run(&mut hub, &mut bars, &events);
    let want: Vec<String> = ["TRADE:SPY", "OHLC:SPY", "OPEN_INTEREST:SPY"]
        .map(String::from)
        .to_vec();
    assert_eq!(out, [(a, want, 3)]);
    let change = hub.clear(a).unwrap();
    assert_eq!(change.lost.len(), 2);
    assert!(run(&mut hub, &mut bars, &events).is_empty());
}

#[test]
fn stream_wire_names_the_first_matching_stream_in_subscription_order() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        ..
    } = setup();
    let full = StreamKey::full(SecType::Stock, ReqType::FullTrades);
    let own = on(ReqType::Trade, stock("AAPL"));
    let ohlc = on(ReqType::Ohlc, stock("AAPL"));
    let s = hub.add_subscriber(Wire::Stream);
    hub.subscribe(s, &[ohlc, full, own], 10).unwrap();
    let out = run(&mut hub, &mut bars, &[ev(aapl, trade(1, 10.0, 5))]);
    // The TRADE matches stock@full_trades (before stock.AAPL@trade); the OHLC matches
    // stock.AAPL@ohlc first. Each is sent once.
    assert_eq!(
        out[0].1,
        ["stock@full_trades=TRADE:AAPL", "stock.AAPL@ohlc=OHLC:AAPL"]
    );
    // Subscribed again after unsubscribing: it moves to the end of the order.
    hub.unsubscribe(s, &[ohlc]).unwrap();
    hub.subscribe(s, &[ohlc], 10).unwrap();
    let out = run(&mut hub, &mut bars, &[ev(aapl, trade(2, 10.0, 5))]);
    assert_eq!(
        out[0].1,
        [
            "stock@full_trades=TRADE:AAPL",
            "stock@full_trades=OHLC:AAPL"
        ]
    );
    assert_eq!(hub.fanout().subscriptions(s).unwrap(), [full, own, ohlc]);
}

#[test]
fn each_subscriber_gets_its_own_selection_encoded_once() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        msft,
        ..
    } = setup();
    let e = hub.add_subscriber(Wire::Events);
    let s1 = hub.add_subscriber(Wire::Stream);
    let s2 = hub.add_subscriber(Wire::Stream);
    hub.subscribe(e, &[on(ReqType::Quote, stock("MSFT"))], 10)
        .unwrap();
    hub.subscribe(s1, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    hub.subscribe(
        s2,
        &[
            on(ReqType::Quote, stock("AAPL")),
            on(ReqType::Quote, stock("MSFT")),
        ],
        10,
    )
    .unwrap();
    let out = run(
        &mut hub,
        &mut bars,
        &[ev(aapl, quote(1)), ev(msft, quote(2)), ev(aapl, quote(3))],
    );
    assert_eq!(
        out,
        [
            (e, vec!["QUOTE:MSFT".to_owned()], 1),
            (s1, vec!["stock.AAPL@quote=QUOTE:AAPL".to_owned(); 2], 2),
            (
                s2,
                vec![
                    "stock.AAPL@quote=QUOTE:AAPL".to_owned(),
                    "stock.MSFT@quote=QUOTE:MSFT".to_owned(),
                    "stock.AAPL@quote=QUOTE:AAPL".to_owned()
                ],
                3
            ),
        ]
    );
}

#[test]
fn the_union_reports_first_and_last_subscribers() {
    let mut hub = Hub::new(true);
    let a = hub.add_subscriber(Wire::Stream);
    let b = hub.add_subscriber(Wire::Events);
    let t = on(ReqType::Trade, stock("AAPL"));
    let q = on(ReqType::Quote, stock("AAPL"));
    let change = hub.subscribe(a, &[t, q, t], 10).unwrap();
    assert_eq!(change.gained, [t, q]);
    assert!(hub.subscribe(b, &[t], 10).unwrap().is_empty());
    assert!(hub.unsubscribe(a, &[t]).unwrap().is_empty());
    assert_eq!(hub.unsubscribe(a, &[q, q]).unwrap().lost, [q]);
    assert_eq!(hub.remove_subscriber(b).unwrap().lost, [t]);
    assert_eq!(hub.fanout().union().count(), 0);
    // The removed subscriber's id is reused by the next one.
    assert_eq!(hub.add_subscriber(Wire::Events), b);
    assert_eq!(hub.clear(99), Err(FanoutError::UnknownSubscriber(99)));
}

#[test]
fn too_many_streams_applies_nothing() {
    let mut hub = Hub::new(true);
    let a = hub.add_subscriber(Wire::Stream);
    let t = on(ReqType::Trade, stock("AAPL"));
    let q = on(ReqType::Quote, stock("AAPL"));
    let m = on(ReqType::Quote, stock("MSFT"));
    hub.subscribe(a, &[t], 2).unwrap();
    // Already subscribed and repeated streams do not count twice.
    hub.subscribe(a, &[t, q, q], 2).unwrap();
    assert_eq!(
        hub.subscribe(a, &[m], 2),
        Err(SubscribeError::TooManyStreams { limit: 2 })
    );
    assert_eq!(hub.fanout().subscriptions(a).unwrap(), [t, q]);
}

#[test]
fn the_universe_refuses_what_the_source_does_not_have() {
    let mut hub = Hub::new(true);
    let mut universe = Universe::new();
    universe.insert(&stock("AAPL"));
    universe.insert(&stock("MSFT"));
    universe.insert(&call());
    universe.insert(&ContractKey::option(
        Symbol::new("SPY").unwrap(),
        20250321,
        575000,
        Right::Call,
    ));
    hub.set_universe(universe);
    let a = hub.add_subscriber(Wire::Events);
    assert_eq!(
        message(
            &mut hub,
            a,
            &[
                on(ReqType::Trade, stock("AAPL")),
                on(ReqType::Trade, stock("XYZ"))
            ]
        ),
        "1: contract.symbol: no STOCK XYZ in this market; STOCK: AAPL, MSFT"
    );
    let spy = Symbol::new("SPY").unwrap();
    let aapl = Symbol::new("AAPL").unwrap();
    assert_eq!(
        message(
            &mut hub,
            a,
            &[on(
                ReqType::Quote,
                ContractKey::option(aapl, 20250321, 570000, Right::Call)
            )]
        ),
        "0: contract.symbol: no options on AAPL in this market; option chains: SPY"
    );
    assert_eq!(
        message(
            &mut hub,
            a,
            &[on(
                ReqType::Quote,
                ContractKey::option(spy, 20250328, 570000, Right::Call)
            )]
        ),
        "0: contract.expiration: SPY options have no expiration 20250328; expirations: 20250321"
    );
    assert_eq!(
        message(
            &mut hub,
            a,
            &[on(
                ReqType::Quote,
                ContractKey::option(spy, 20250321, 1000, Right::Call)
            )]
        ),
        "0: contract.strike: SPY 20250321 has no call strike 1000; strikes: 570000, 575000"
    );
    assert_eq!(
        message(
            &mut hub,
            a,
            &[on(
                ReqType::Trade,
                ContractKey::index(Symbol::new("SPX").unwrap())
            )]
        ),
        "0: contract.symbol: no INDEX SPX in this market (it has no INDEX)"
    );
    // Nothing of a refused command was applied; whole-market streams are always fine.
    assert!(hub.fanout().subscriptions(a).unwrap().is_empty());
    hub.subscribe(
        a,
        &[StreamKey::full(SecType::Option, ReqType::FullTrades)],
        10,
    )
    .unwrap();
    assert_eq!(
        hub.universe().unwrap().describe(),
        "stock AAPL,MSFT; options on SPY: expirations 20250321, 2 strikes 570000-575000, C/P"
    );
}

fn message(hub: &mut Hub, id: SubscriberId, streams: &[StreamKey]) -> String {
    match hub.subscribe(id, streams, 100) {
        Err(SubscribeError::NotInUniverse { index, error }) => format!("{index}: {error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_events_are_skipped_and_reported() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        ..
    } = setup();
    let a = hub.add_subscriber(Wire::Events);
    hub.subscribe(
        a,
        &[
            on(ReqType::Trade, stock("AAPL")),
            on(ReqType::Quote, stock("AAPL")),
        ],
        10,
    )
    .unwrap();
    let mut bad_quote = quote(3);
    if let EventBody::Quote(q) = &mut bad_quote {
        q.bid = f64::INFINITY;
    }
    let events = [
        ev(aapl, trade(1, f64::NAN, 5)),
        ev(99, trade(1, 1.0, 5)),
        ev(aapl, bad_quote),
        ev(aapl, trade(2, 10.0, 5)),
    ];
    let rejections = hub.publish(&mut bars, &events);
    assert_eq!(rejections.count, 3);
    assert_eq!(
        rejections.first.unwrap().to_string(),
        "trade.price: must be finite"
    );
    let mut count = 0;
    hub.take_output(|ids, output| count += output.count() * ids.len() as u64);
    assert_eq!(count, 2);
    assert_eq!(bars.session(aapl).unwrap().count, 1);
}

#[test]
fn subscribing_registers_the_contract_so_later_events_match() {
    let mut hub = Hub::new(true);
    let mut bars = BarBook::new(&[1000], 16).unwrap();
    let a = hub.add_subscriber(Wire::Events);
    hub.subscribe(a, &[on(ReqType::Quote, stock("NEW"))], 10)
        .unwrap();
    let id = hub.add_contract(stock("NEW"));
    let out = run(&mut hub, &mut bars, &[ev(id, quote(1))]);
    assert_eq!(out[0].2, 1);
}

#[test]
fn subscribers_with_identical_output_share_one_buffer() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        msft,
        ..
    } = setup();
    let quotes = [
        on(ReqType::Quote, stock("AAPL")),
        on(ReqType::Quote, stock("MSFT")),
    ];
    let a = hub.add_subscriber(Wire::Stream);
    let b = hub.add_subscriber(Wire::Stream);
    let c = hub.add_subscriber(Wire::Stream);
    let d = hub.add_subscriber(Wire::Events);
    hub.subscribe(a, &quotes, 10).unwrap();
    // The same streams in the other order: the same frames, since no event matches two.
    hub.subscribe(b, &[quotes[1], quotes[0]], 10).unwrap();
    hub.subscribe(c, &quotes[..1], 10).unwrap();
    hub.subscribe(d, &quotes, 10).unwrap();
    hub.publish(&mut bars, &[ev(aapl, quote(1)), ev(msft, quote(2))]);
    let mut groups = Vec::new();
    hub.take_output(|ids, output| {
        groups.push((
            ids.to_vec(),
            payloads(&output.to_vec()).len(),
            output.count(),
        ));
    });
    assert_eq!(
        groups,
        [(vec![a, b], 2, 2), (vec![c], 1, 1), (vec![d], 2, 2)]
    );
    // Output is emptied once taken.
    hub.take_output(|_, _| panic!("nothing published"));
}

#[test]
fn events_with_their_original_json_are_forwarded_as_they_are() {
    let Setup {
        mut hub, mut bars, ..
    } = setup();
    // Another producer's spelling: other key order, spaces. It is forwarded byte for byte.
    let raw = br#"{"contract": {"symbol": "AAPL", "security_type": "STOCK"}, "header": {"status": "CONNECTED", "type": "TRADE"}, "trade": {"price": 10.5, "size": 5, "ms_of_day": 1, "sequence": 9, "condition": 0, "exchange": 1, "date": 20250321}}"#;
    let (key, body) = crate::event::decode_event(raw).unwrap().unwrap();
    let aapl = hub.add_contract(key);
    let e = hub.add_subscriber(Wire::Events);
    let s = hub.add_subscriber(Wire::Stream);
    hub.subscribe(e, &[on(ReqType::Trade, stock("AAPL"))], 10)
        .unwrap();
    hub.subscribe(s, &[on(ReqType::Trade, stock("AAPL"))], 10)
        .unwrap();
    let rejections = hub.publish_raw(&mut bars, &[ev(aapl, body)], &[Some((0, raw.len()))], raw);
    assert_eq!(rejections.count, 0);
    let mut out = Vec::new();
    hub.take_output(|ids, output| out.push((ids.to_vec(), payloads(&output.to_vec()))));
    let text = std::str::from_utf8(raw).unwrap();
    assert_eq!(out[0].0, [e]);
    assert_eq!(out[0].1[0], text);
    // The session OHLC has no original: it is encoded.
    assert!(out[0].1[1].starts_with(r#"{"header":{"type":"OHLC","status":"CONNECTED"}"#));
    assert_eq!(out[1].0, [s]);
    assert_eq!(
        out[1].1[0],
        format!(r#"{{"stream":"stock.AAPL@trade","data":{text}}}"#)
    );
}

// ---- a source's own session OHLC --------------------------------------------------------

fn ohlc(ms: u32) -> EventBody {
    EventBody::Ohlc(crate::event::Ohlc {
        ms_of_day: ms,
        open: 1.0,
        high: 2.0,
        low: 0.5,
        close: 1.5,
        volume: 10,
        count: 3,
        date: 20250321,
    })
}

#[test]
fn a_source_with_its_own_session_ohlc_gets_it_routed_like_a_computed_one() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        ..
    } = setup();
    hub.set_source_session_ohlc(true);
    let trader = hub.add_subscriber(Wire::Events);
    hub.subscribe(trader, &[on(ReqType::Trade, stock("AAPL"))], 10)
        .unwrap();
    let full = hub.add_subscriber(Wire::Stream);
    hub.subscribe(
        full,
        &[StreamKey::full(SecType::Stock, ReqType::FullTrades)],
        10,
    )
    .unwrap();
    // The recorded trade and the recorded OHLC after it; no OHLC of the hub's own.
    let out = run(
        &mut hub,
        &mut bars,
        &[ev(aapl, trade(1, 10.0, 5)), ev(aapl, ohlc(1))],
    );
    assert_eq!(
        out,
        [
            (
                trader,
                vec!["TRADE:AAPL".to_owned(), "OHLC:AAPL".to_owned()],
                2
            ),
            (
                full,
                vec![
                    "stock@full_trades=TRADE:AAPL".to_owned(),
                    "stock@full_trades=OHLC:AAPL".to_owned()
                ],
                2
            ),
        ]
    );
    // The trade still made bars.
    assert_eq!(bars.session(aapl).unwrap().count, 1);
}

// ---- lock-step (`--pace ack`) --------------------------------------------------------------

/// Publishes or drains, returning (subscriber, payloads).
fn outputs(hub: &mut Hub) -> Vec<(SubscriberId, Vec<String>)> {
    let mut out = Vec::new();
    hub.take_output(|ids, output| {
        let p = payloads(&output.to_vec());
        for &id in ids {
            out.push((id, p.clone()));
        }
    });
    out.sort();
    out
}

fn header_id(payload: &str) -> Option<u64> {
    let header_end = payload.find('}')?;
    let at = payload[..header_end].find("\"id\":")? + 5;
    payload[at..header_end].parse().ok()
}

#[test]
fn lock_step_sends_at_most_the_window_with_ids_and_waits_for_acks() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        msft,
        ..
    } = setup();
    hub.enable_lock_step(2);
    let paced = hub.add_subscriber(Wire::Events);
    let watcher = hub.add_subscriber(Wire::Stream);
    hub.subscribe(paced, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    hub.subscribe(
        watcher,
        &[StreamKey::full(SecType::Stock, ReqType::FullTrades)],
        10,
    )
    .unwrap();
    hub.publish(
        &mut bars,
        &[
            ev(aapl, quote(1)),
            ev(msft, trade(2, 5.0, 1)), // not the paced client's: goes to the watcher at once
            ev(aapl, quote(3)),
            ev(aapl, quote(4)),
            ev(aapl, quote(5)),
        ],
    );
    let out = outputs(&mut hub);
    let paced_out = &out.iter().find(|(s, _)| *s == paced).unwrap().1;
    assert_eq!(
        paced_out.iter().map(|p| header_id(p)).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    assert!(paced_out[0].starts_with(r#"{"header":{"type":"QUOTE","status":"CONNECTED","id":1},"#));
    let watcher_out = &out.iter().find(|(s, _)| *s == watcher).unwrap().1;
    assert_eq!(watcher_out.len(), 2, "the MSFT trade and its session OHLC");
    assert_eq!(hub.lock_step().unwrap().outstanding(), 2);
    assert_eq!(hub.lock_step().unwrap().backlog(), 2);
    // Nothing more until an ack; unknown ids change nothing.
    hub.drain();
    assert!(outputs(&mut hub).is_empty());
    assert_eq!(
        hub.acknowledge(paced, &[7, 1]),
        Acknowledged {
            acked: 1,
            unknown: 1
        }
    );
    hub.drain();
    let out = outputs(&mut hub);
    assert_eq!(out.len(), 1);
    assert_eq!(header_id(&out[0].1[0]), Some(3));
    assert_eq!(summary(&out[0].1[0]), "QUOTE:AAPL");
    // Acks in any order.
    assert_eq!(hub.acknowledge(paced, &[3, 2]).acked, 2);
    hub.drain();
    let out = outputs(&mut hub);
    assert_eq!(header_id(&out[0].1[0]), Some(4));
    assert_eq!(hub.lock_step().unwrap().backlog(), 0);
}

#[test]
fn a_trade_and_its_session_ohlc_count_as_two_events_of_the_window() {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        ..
    } = setup();
    hub.enable_lock_step(1);
    let paced = hub.add_subscriber(Wire::Events);
    hub.subscribe(paced, &[on(ReqType::Trade, stock("AAPL"))], 10)
        .unwrap();
    hub.publish(&mut bars, &[ev(aapl, trade(1, 10.0, 5))]);
    let out = outputs(&mut hub);
    assert_eq!(out[0].1.len(), 1);
    assert_eq!(summary(&out[0].1[0]), "TRADE:AAPL");
    hub.acknowledge(paced, &[1]);
    hub.drain();
    let out = outputs(&mut hub);
    assert_eq!(summary(&out[0].1[0]), "OHLC:AAPL");
    assert_eq!(header_id(&out[0].1[0]), Some(2));
}

#[test]
fn nothing_goes_out_before_the_paced_client_subscribed_and_a_new_client_resumes_at_the_first_unacknowledged(
) {
    let Setup {
        mut hub,
        mut bars,
        aapl,
        ..
    } = setup();
    hub.enable_lock_step(2);
    let watcher = hub.add_subscriber(Wire::Stream);
    hub.subscribe(watcher, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    hub.publish(
        &mut bars,
        &[ev(aapl, quote(1)), ev(aapl, quote(2)), ev(aapl, quote(3))],
    );
    // No paced client yet: everything waits (the watcher too).
    assert!(outputs(&mut hub).is_empty());
    let first = hub.add_subscriber(Wire::Events);
    hub.drain();
    assert!(outputs(&mut hub).is_empty(), "not subscribed yet");
    hub.subscribe(first, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    hub.drain();
    let out = outputs(&mut hub);
    assert_eq!(out.len(), 2, "both got quotes 1 and 2");
    hub.acknowledge(first, &[1]);
    // A new client takes over with quote 2 unacknowledged (it connects before the old one
    // is gone); the old one's late ack is ignored.
    let second = hub.add_subscriber(Wire::Events);
    assert_eq!(hub.acknowledge(first, &[2]).unknown, 1);
    hub.remove_subscriber(first).unwrap();
    hub.subscribe(second, &[on(ReqType::Quote, stock("AAPL"))], 10)
        .unwrap();
    hub.drain();
    let out = outputs(&mut hub);
    let second_out = &out.iter().find(|(s, _)| *s == second).unwrap().1;
    // Quote 2 again (its ids start at 1), then quote 3; the watcher gets only quote 3.
    let ms: Vec<&str> = second_out
        .iter()
        .map(|p| &p[p.find("\"ms_of_day\":").unwrap() + 12..][..1])
        .collect();
    assert_eq!(ms, ["2", "3"]);
    assert_eq!(
        second_out.iter().map(|p| header_id(p)).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    let watcher_out = &out.iter().find(|(s, _)| *s == watcher).unwrap().1;
    assert_eq!(watcher_out.len(), 1);
}
