//! The work done once per event, however many consumers want it: the contract registry, the
//! server's bars and the session OHLC event that follows each trade (SPEC §3.3, §6).

use std::fmt;

use crate::bars::{BarBook, BarsError, SessionBar, Trade as BarTrade};
use crate::contract::ContractKey;
use crate::event::{ContractId, EncodeError, EventBody, EventEncoder, Ohlc, Trade};

/// One event of a source: a contract registered with [`Market::add_contract`] and its body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub contract: ContractId,
    pub body: EventBody,
}

/// Which streams an outgoing event can match (SPEC §4): a session OHLC event made after a trade
/// matches more streams than an OHLC event a source sent itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Trade = 0,
    Quote = 1,
    /// The session OHLC event that follows a trade: `<c>@trade`, `<sec>@full_trades`, `<c>@ohlc`.
    SessionOhlc = 2,
    /// An OHLC event of the source itself: `<c>@ohlc` only.
    SourceOhlc = 3,
    OpenInterest = 4,
}

impl Route {
    /// Number of routes (the size of per-contract route tables).
    pub const COUNT: usize = 5;
}

/// Where a source event's original §3.3 JSON lies in its batch's bytes, when the source has it
/// (a relay, a Redis edge, a replay): it is forwarded as it is instead of being encoded again.
pub type RawSpan = Option<(usize, usize)>;

/// An event ready for the fan-out: what it is, which streams it can match, and its original
/// JSON if it has one (a session OHLC event never does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outgoing {
    pub contract: ContractId,
    pub route: Route,
    pub body: EventBody,
    pub raw: RawSpan,
}

/// Why the market refused one event of a source. The rest of its batch goes on.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectedEvent {
    /// A contract id the market never handed out.
    UnknownContract(ContractId),
    /// The trade cannot be aggregated (non-finite price, negative time or size).
    Bars(BarsError),
    /// The event cannot be encoded (a non-finite price).
    Encode(EncodeError),
}

impl fmt::Display for RejectedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectedEvent::UnknownContract(id) => {
                write!(f, "contract_id: unknown contract id {id}")
            }
            RejectedEvent::Bars(BarsError::InvalidValue { column, reason, .. }) => {
                write!(f, "trade.{column}: {reason}")
            }
            RejectedEvent::Bars(other) => write!(f, "trade: {other}"),
            RejectedEvent::Encode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RejectedEvent {}

/// The contract registry (whose ids every part of the server shares), the OHLC switches and the
/// JSON renderer of registered contracts.
#[derive(Debug)]
pub struct Market {
    encoder: EventEncoder,
    ohlcvc: bool,
    source_session_ohlc: bool,
}

impl Market {
    /// A market with no contracts. `ohlcvc` sends the session OHLC event after each trade.
    pub fn new(ohlcvc: bool) -> Self {
        Self {
            encoder: EventEncoder::new(),
            ohlcvc,
            source_session_ohlc: false,
        }
    }

    /// Declares that the source's own OHLC events are the session OHLC events (a recording or
    /// an upstream server already sends one after each trade): with `ohlcvc` they are routed
    /// as such (`<c>@trade`, `<sec>@full_trades`, `<c>@ohlc`) and the market makes none of its
    /// own. Without `ohlcvc` a source's OHLC events match `<c>@ohlc` only, as always.
    pub fn set_source_session_ohlc(&mut self, yes: bool) {
        self.source_session_ohlc = yes;
    }

    /// See [`Market::set_source_session_ohlc`].
    pub fn source_session_ohlc(&self) -> bool {
        self.source_session_ohlc
    }

    /// Registers a contract; the same key always gets the same id.
    pub fn add_contract(&mut self, contract: ContractKey) -> ContractId {
        self.encoder.add_contract(contract)
    }

    /// The contract registered under `id`.
    pub fn contract(&self, id: ContractId) -> Option<&ContractKey> {
        self.encoder.contract(id)
    }

    /// Number of registered contracts.
    pub fn contract_count(&self) -> usize {
        self.encoder.contract_count()
    }

    /// Whether OHLC events follow trades.
    pub fn ohlcvc(&self) -> bool {
        self.ohlcvc
    }

    /// The encoder holding each contract's rendered JSON.
    pub fn encoder(&self) -> &EventEncoder {
        &self.encoder
    }

    /// Which streams a source's event of this kind matches (its trades' session bars aside).
    pub fn route_of(&self, body: &EventBody) -> Route {
        match body {
            EventBody::Trade(_) => Route::Trade,
            EventBody::Quote(_) => Route::Quote,
            EventBody::Ohlc(_) if self.ohlcvc && self.source_session_ohlc => Route::SessionOhlc,
            EventBody::Ohlc(_) => Route::SourceOhlc,
            EventBody::OpenInterest(_) => Route::OpenInterest,
        }
    }

    /// Applies every trade of `events` to `bars` and appends what the consumers may receive to
    /// `out`: each event, and after each trade its contract's session OHLC event (with
    /// `ohlcvc`). `raw` is empty or gives each event's original JSON. Refused events are
    /// skipped; the first refusal is reported with their count.
    pub fn process(
        &self,
        bars: &mut BarBook,
        events: &[Event],
        raw: &[RawSpan],
        out: &mut Vec<Outgoing>,
    ) -> Rejections {
        let mut rejections = Rejections::default();
        out.reserve(events.len() * 2);
        for (i, event) in events.iter().enumerate() {
            let raw = raw.get(i).copied().flatten();
            if let Err(reason) = self.process_one(bars, event, raw, out) {
                rejections.count += 1;
                rejections.first.get_or_insert(reason);
            }
        }
        rejections
    }

    fn process_one(
        &self,
        bars: &mut BarBook,
        event: &Event,
        raw: RawSpan,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), RejectedEvent> {
        let contract = event.contract;
        if contract as usize >= self.contract_count() {
            return Err(RejectedEvent::UnknownContract(contract));
        }
        let route = match &event.body {
            EventBody::Trade(trade) => {
                let session = bars
                    .update_trade(contract, bar_trade(trade))
                    .map_err(RejectedEvent::Bars)?;
                out.push(Outgoing {
                    contract,
                    route: Route::Trade,
                    body: event.body,
                    raw,
                });
                let computed = self.ohlcvc && !self.source_session_ohlc;
                if let (true, Some(session)) = (computed, session) {
                    out.push(Outgoing {
                        contract,
                        route: Route::SessionOhlc,
                        body: EventBody::Ohlc(ohlc_event(&session)),
                        raw: None,
                    });
                }
                return Ok(());
            }
            other => self.route_of(other),
        };
        out.push(Outgoing {
            contract,
            route,
            body: event.body,
            raw,
        });
        Ok(())
    }
}

/// Events a batch refused: how many, and why the first one was.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejections {
    pub count: u64,
    pub first: Option<RejectedEvent>,
}

fn bar_trade(trade: &Trade) -> BarTrade {
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
