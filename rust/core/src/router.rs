//! From a source's events to the connected client's frames (SPEC §3.3): the subscription
//! filter, the session OHLC event after each trade, the server's bar rings, and encoding.
//!
//! A source hands the [`Router`] every event it has, whatever is subscribed; the router updates
//! the bars with every trade (so an embedding program sees the whole market and OHLC events
//! carry the whole session), then writes the events the client subscribed to as ready server
//! frames into one buffer. One call per batch, no allocation per event.

use crate::bars::{BarBook, BarsError, SessionBar, Trade as BarTrade};
use crate::contract::{ContractKey, ReqType, SecType};
use crate::event::{ContractId, EncodeError, EventBody, EventEncoder, EventHeader, Ohlc};

/// One event of a source: a contract registered with [`Router::add_contract`] and its body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub contract: ContractId,
    pub body: EventBody,
}

/// Per-contract subscription bits.
const QUOTE: u8 = 1;
const TRADE: u8 = 2;
const OHLC: u8 = 4;
const OPEN_INTEREST: u8 = 8;

/// What [`Router::route`] did with one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routed {
    /// Data events written (the count behind `stats.sent`).
    pub written: u64,
    /// Events refused because they cannot be encoded or aggregated (non-finite price, unknown
    /// contract, negative time); the first reason is kept.
    pub rejected: u64,
    /// Why the first rejected event was refused.
    pub first_error: Option<String>,
}

/// The connected client's subscriptions, the OHLC switch and the contract registry.
#[derive(Debug)]
pub struct Router {
    encoder: EventEncoder,
    sec_types: Vec<SecType>,
    wanted: Vec<u8>,
    full_trades: [bool; 3],
    full_open_interest: [bool; 3],
    ohlcvc: bool,
    next_id: Option<u64>,
}

fn sec_index(sec_type: SecType) -> usize {
    match sec_type {
        SecType::Stock => 0,
        SecType::Option => 1,
        SecType::Index => 2,
    }
}

impl Router {
    /// A router with no contracts and no subscriptions. `ohlcvc` sends the session OHLC event
    /// after each trade of a contract with a `TRADE`, `FULL_TRADES` or `OHLC` subscription.
    pub fn new(ohlcvc: bool) -> Self {
        Self {
            encoder: EventEncoder::new(),
            sec_types: Vec::new(),
            wanted: Vec::new(),
            full_trades: [false; 3],
            full_open_interest: [false; 3],
            ohlcvc,
            next_id: None,
        }
    }

    /// Registers a contract; the same key always gets the same id.
    pub fn add_contract(&mut self, contract: ContractKey) -> ContractId {
        let id = self.encoder.add_contract(contract);
        if id as usize == self.sec_types.len() {
            self.sec_types.push(contract.sec_type);
            self.wanted.push(0);
        }
        id
    }

    /// The contract registered under `id`.
    pub fn contract(&self, id: ContractId) -> Option<&ContractKey> {
        self.encoder.contract(id)
    }

    /// Number of registered contracts.
    pub fn contract_count(&self) -> usize {
        self.sec_types.len()
    }

    /// Whether OHLC events follow trades.
    pub fn ohlcvc(&self) -> bool {
        self.ohlcvc
    }

    /// Replaces every subscription with `subscriptions` (`contract` is `None` for `FULL_*`).
    /// Contracts not yet registered are registered, so a later event of theirs matches.
    pub fn set_subscriptions<'a>(
        &mut self,
        subscriptions: impl IntoIterator<Item = (SecType, ReqType, Option<&'a ContractKey>)>,
    ) {
        self.wanted.fill(0);
        self.full_trades = [false; 3];
        self.full_open_interest = [false; 3];
        for (sec_type, req_type, contract) in subscriptions {
            let bit = match req_type {
                ReqType::Quote => QUOTE,
                ReqType::Trade => TRADE,
                ReqType::Ohlc => OHLC,
                ReqType::OpenInterest => OPEN_INTEREST,
                ReqType::FullTrades => {
                    self.full_trades[sec_index(sec_type)] = true;
                    continue;
                }
                ReqType::FullOpenInterest => {
                    self.full_open_interest[sec_index(sec_type)] = true;
                    continue;
                }
            };
            if let Some(contract) = contract {
                let id = self.add_contract(*contract);
                self.wanted[id as usize] |= bit;
            }
        }
    }

    /// Numbers the data events written from now on with header `id`s `next, next + 1, …`
    /// (`--pace ack`), or stops numbering (`None`).
    pub fn set_next_id(&mut self, next: Option<u64>) {
        self.next_id = next;
    }

    /// The header id the next data event gets, if numbering is on.
    pub fn next_id(&self) -> Option<u64> {
        self.next_id
    }

    /// Applies every trade of `events` to `bars` and appends the subscribed events (and the
    /// OHLC event after each subscribed trade) to `out` as server text frames.
    ///
    /// An event that cannot be encoded or aggregated is skipped and counted in
    /// [`Routed::rejected`]; the others go out.
    pub fn route(&mut self, bars: &mut BarBook, events: &[Event], out: &mut Vec<u8>) -> Routed {
        let mut routed = Routed::default();
        for event in events {
            if let Err(reason) = self.route_one(bars, event, out, &mut routed.written) {
                routed.rejected += 1;
                routed.first_error.get_or_insert(reason);
            }
        }
        routed
    }

    fn route_one(
        &mut self,
        bars: &mut BarBook,
        event: &Event,
        out: &mut Vec<u8>,
        written: &mut u64,
    ) -> Result<(), String> {
        let id = event.contract;
        let Some(&sec_type) = self.sec_types.get(id as usize) else {
            return Err(EncodeError::UnknownContract(id).to_string());
        };
        let wanted = self.wanted[id as usize];
        let sec = sec_index(sec_type);
        match &event.body {
            EventBody::Trade(trade) => {
                let session = bars
                    .update_trade(id, bar_trade(trade))
                    .map_err(|e| match e {
                        BarsError::InvalidValue { column, reason, .. } => {
                            format!("trade.{column}: {reason}")
                        }
                        other => other.to_string(),
                    })?;
                let send_trade = wanted & TRADE != 0 || self.full_trades[sec];
                if send_trade {
                    self.write(out, id, &event.body, written)?;
                }
                if self.ohlcvc && (send_trade || wanted & OHLC != 0) {
                    if let Some(session) = session {
                        let ohlc = EventBody::Ohlc(ohlc_event(&session));
                        self.write(out, id, &ohlc, written)?;
                    }
                }
                Ok(())
            }
            EventBody::Quote(_) if wanted & QUOTE != 0 => self.write(out, id, &event.body, written),
            EventBody::OpenInterest(_)
                if wanted & OPEN_INTEREST != 0 || self.full_open_interest[sec] =>
            {
                self.write(out, id, &event.body, written)
            }
            EventBody::Ohlc(_) if wanted & OHLC != 0 => self.write(out, id, &event.body, written),
            _ => Ok(()),
        }
    }

    fn write(
        &mut self,
        out: &mut Vec<u8>,
        contract: ContractId,
        body: &EventBody,
        written: &mut u64,
    ) -> Result<(), String> {
        let header = EventHeader {
            id: self.next_id,
            pseq: None,
        };
        self.encoder
            .write_frame(out, contract, header, body)
            .map_err(|e| e.to_string())?;
        if let Some(next) = &mut self.next_id {
            *next += 1;
        }
        *written += 1;
        Ok(())
    }
}

fn bar_trade(trade: &crate::event::Trade) -> BarTrade {
    BarTrade {
        date: trade.date as i32,
        ms_of_day: trade.ms_of_day as i32,
        price: trade.price,
        size: i64::from(trade.size),
    }
}

/// The OHLC event body of a session bar: stamped with the session's latest trade time.
fn ohlc_event(session: &SessionBar) -> Ohlc {
    Ohlc {
        ms_of_day: session.close_ms as u32,
        open: session.open,
        high: session.high,
        low: session.low,
        close: session.close,
        volume: session.volume as u64,
        count: session.count as u64,
        date: session.date as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Right, Symbol};
    use crate::event::{OpenInterest, Quote, Trade};
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

    fn types(out: &[u8]) -> Vec<String> {
        payloads(out)
            .iter()
            .map(|p| {
                let start = p.find("\"type\":\"").unwrap() + 8;
                let end = start + p[start..].find('"').unwrap();
                let symbol_at = p.find("\"symbol\":\"").unwrap() + 10;
                let symbol_end = symbol_at + p[symbol_at..].find('"').unwrap();
                format!("{}:{}", &p[start..end], &p[symbol_at..symbol_end])
            })
            .collect()
    }

    fn setup() -> (Router, BarBook, ContractId, ContractId, ContractId) {
        let mut router = Router::new(true);
        let aapl = router.add_contract(stock("AAPL"));
        let msft = router.add_contract(stock("MSFT"));
        let spy = router.add_contract(call());
        (router, BarBook::new(&[1000], 16).unwrap(), aapl, msft, spy)
    }

    #[test]
    fn only_subscribed_events_go_out_but_every_trade_makes_bars() {
        let (mut router, mut bars, aapl, msft, spy) = setup();
        router.set_subscriptions([(SecType::Stock, ReqType::Quote, Some(&stock("AAPL")))]);
        let events = [
            Event {
                contract: aapl,
                body: quote(1),
            },
            Event {
                contract: msft,
                body: quote(2),
            },
            Event {
                contract: aapl,
                body: trade(3, 10.0, 5),
            },
            Event {
                contract: spy,
                body: oi(4),
            },
        ];
        let mut out = Vec::new();
        let routed = router.route(&mut bars, &events, &mut out);
        assert_eq!(routed.written, 1);
        assert_eq!(types(&out), ["QUOTE:AAPL"]);
        assert_eq!(bars.session(aapl).unwrap().count, 1);
    }

    #[test]
    fn ohlc_follows_each_subscribed_trade_with_the_whole_session() {
        let (mut router, mut bars, aapl, msft, _) = setup();
        let mut out = Vec::new();
        // Trades before the subscription still count in the session.
        router.route(
            &mut bars,
            &[Event {
                contract: aapl,
                body: trade(1, 10.0, 5),
            }],
            &mut out,
        );
        assert!(out.is_empty());
        router.set_subscriptions([
            (SecType::Stock, ReqType::Trade, Some(&stock("AAPL"))),
            (SecType::Stock, ReqType::Ohlc, Some(&stock("MSFT"))),
        ]);
        let events = [
            Event {
                contract: aapl,
                body: trade(2, 12.0, 1),
            },
            Event {
                contract: msft,
                body: trade(3, 7.5, 2),
            },
        ];
        let routed = router.route(&mut bars, &events, &mut out);
        assert_eq!(routed.written, 3);
        let p = payloads(&out);
        assert_eq!(types(&out), ["TRADE:AAPL", "OHLC:AAPL", "OHLC:MSFT"]);
        assert!(p[1].ends_with(r#""ohlc":{"ms_of_day":2,"open":10.0,"high":12.0,"low":10.0,"close":12.0,"volume":6,"count":2,"date":20250321}}"#), "{}", p[1]);
    }

    #[test]
    fn no_ohlcvc_sends_trades_only() {
        let mut router = Router::new(false);
        let aapl = router.add_contract(stock("AAPL"));
        let mut bars = BarBook::new(&[1000], 16).unwrap();
        router.set_subscriptions([
            (SecType::Stock, ReqType::Trade, Some(&stock("AAPL"))),
            (SecType::Stock, ReqType::Ohlc, Some(&stock("AAPL"))),
        ]);
        let mut out = Vec::new();
        router.route(
            &mut bars,
            &[Event {
                contract: aapl,
                body: trade(2, 12.0, 1),
            }],
            &mut out,
        );
        assert_eq!(types(&out), ["TRADE:AAPL"]);
    }

    #[test]
    fn full_streams_match_their_security_type() {
        let (mut router, mut bars, aapl, _, spy) = setup();
        router.set_subscriptions([
            (SecType::Option, ReqType::FullTrades, None),
            (SecType::Option, ReqType::FullOpenInterest, None),
        ]);
        let events = [
            Event {
                contract: aapl,
                body: trade(1, 10.0, 5),
            },
            Event {
                contract: spy,
                body: trade(2, 4.15, 3),
            },
            Event {
                contract: spy,
                body: oi(3),
            },
            Event {
                contract: spy,
                body: quote(4),
            },
        ];
        let mut out = Vec::new();
        router.route(&mut bars, &events, &mut out);
        assert_eq!(types(&out), ["TRADE:SPY", "OHLC:SPY", "OPEN_INTEREST:SPY"]);
        router.set_subscriptions([]);
        out.clear();
        router.route(&mut bars, &events, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn header_ids_number_every_data_event() {
        let (mut router, mut bars, aapl, _, _) = setup();
        router.set_subscriptions([(SecType::Stock, ReqType::Trade, Some(&stock("AAPL")))]);
        router.set_next_id(Some(7));
        let mut out = Vec::new();
        router.route(
            &mut bars,
            &[Event {
                contract: aapl,
                body: trade(1, 10.0, 5),
            }],
            &mut out,
        );
        let p = payloads(&out);
        assert!(p[0].starts_with(r#"{"header":{"type":"TRADE","status":"CONNECTED","id":7}"#));
        assert!(p[1].starts_with(r#"{"header":{"type":"OHLC","status":"CONNECTED","id":8}"#));
        assert_eq!(router.next_id(), Some(9));
    }

    #[test]
    fn bad_events_are_skipped_and_reported() {
        let (mut router, mut bars, aapl, _, _) = setup();
        router.set_subscriptions([(SecType::Stock, ReqType::Trade, Some(&stock("AAPL")))]);
        let events = [
            Event {
                contract: aapl,
                body: trade(1, f64::NAN, 5),
            },
            Event {
                contract: 99,
                body: trade(1, 1.0, 5),
            },
            Event {
                contract: aapl,
                body: trade(2, 10.0, 5),
            },
        ];
        let mut out = Vec::new();
        let routed = router.route(&mut bars, &events, &mut out);
        assert_eq!(routed.written, 2);
        assert_eq!(routed.rejected, 2);
        assert_eq!(
            routed.first_error.as_deref(),
            Some("trade.price: must be finite")
        );
        assert_eq!(bars.session(aapl).unwrap().count, 1);
    }
}
