//! The built-in synthetic market (SPEC §5): stocks, an index and an option chain with quotes,
//! trades and open interest, deterministic for a seed.
//!
//! Every underlying (stock or index) follows a mean-reverting random walk in log price; options
//! are priced off their underlying with Black–Scholes (zero rates). Quotes sit on a cent grid
//! with `bid < ask`; each contract keeps its best bid and offer as last quoted, and trades
//! print at that bid, at that ask or inside the spread, with sizes drawn
//! like a tape (round and odd lots for stocks, small lots for options). The walk runs on the
//! events' clock (40 % a year), not on their count, so a market looks the same at 2,000 events/s
//! or two million. Given the seed and the same timestamps the events are the same however they
//! are batched;
//! time is passed in (the caller stamps events from its clock).

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;

use crate::contract::{is_calendar_date, ContractKey, Right, Symbol};
use crate::event::{ContractId, EventBody, OpenInterest, Quote, Trade};
use crate::hub::Event;

/// A stock or index of the market and its starting price in dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct Underlying {
    pub symbol: Symbol,
    pub price: f64,
}

/// One option expiration of the chain: its date and its time to expiry in years at the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expiration {
    pub date: u32,
    pub years: f64,
}

/// An option chain: `strikes` strikes around the underlying's price, calls and puts, for each
/// expiration.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Position of the underlying in [`MarketSpec::stocks`].
    pub underlying: usize,
    pub expirations: Vec<Expiration>,
    pub strikes: usize,
}

/// What the market trades.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketSpec {
    pub seed: u64,
    pub stocks: Vec<Underlying>,
    pub index: Option<Underlying>,
    pub chain: Option<Chain>,
}

/// A [`MarketSpec`] that cannot make a market; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// Annualised volatility of every underlying and of the option pricing: a lively day.
const VOLATILITY: f64 = 0.4;
/// Milliseconds in a trading year (252 days of 6.5 hours): the clock of the random walk.
const MS_PER_TRADING_YEAR: f64 = 252.0 * 6.5 * 3600.0 * 1000.0;
/// Pull of the log price back toward its start per millisecond: a trading day's time scale,
/// so a market left running for days stays in range.
const REVERSION_PER_MS: f64 = 1.0 / (6.5 * 3600.0 * 1000.0);
const MAX_STRIKES: usize = 200;

const STOCK_EXCHANGES: [u32; 9] = [1, 2, 3, 4, 5, 7, 10, 11, 12];
const OPTION_EXCHANGES: [u32; 12] = [1, 3, 5, 7, 9, 11, 42, 43, 46, 47, 60, 65];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Stock,
    Index,
    Option {
        strike: f64,
        right: Right,
        years: f64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Instrument {
    contract: ContractId,
    kind: Kind,
    /// Position in `SyntheticMarket::spots`.
    underlying: usize,
    open_interest: u64,
    /// The best bid and offer in cents, as last quoted: trades print at or inside it.
    bbo: Option<(i64, i64)>,
}

/// A mean-reverting random walk of one underlying's log price.
#[derive(Debug, Clone, Copy)]
struct Walk {
    log_price: f64,
    start: f64,
    /// When it last moved.
    at: Option<(u32, u32)>,
}

/// The market's state: underlying prices, instruments and the random stream.
#[derive(Debug)]
pub struct SyntheticMarket {
    rng: Pcg64Mcg,
    /// Each underlying (stocks, then the index): its walk.
    spots: Vec<Walk>,
    instruments: Vec<Instrument>,
    /// Cumulative activity weights of `instruments`, for picking who prints next.
    cumulative: Vec<f64>,
    sequence: i64,
}

impl SyntheticMarket {
    /// Builds the market, registering every contract through `register` (e.g.
    /// [`Hub::add_contract`](crate::hub::Hub::add_contract)) to learn its id.
    pub fn new(
        spec: &MarketSpec,
        mut register: impl FnMut(ContractKey) -> ContractId,
    ) -> Result<Self, SpecError> {
        if spec.stocks.is_empty() && spec.index.is_none() {
            return Err(SpecError(
                "symbols: the market needs a stock or an index".into(),
            ));
        }
        let mut rng = Pcg64Mcg::seed_from_u64(spec.seed);
        let mut spots = Vec::new();
        let mut instruments = Vec::new();
        let mut weights = Vec::new();
        let underlyings = spec.stocks.iter().map(|u| (u, Kind::Stock));
        for (u, kind) in underlyings.chain(spec.index.iter().map(|u| (u, Kind::Index))) {
            if !(u.price.is_finite() && u.price >= 0.01) {
                return Err(SpecError(format!(
                    "{}: starting price must be at least 0.01, got {}",
                    u.symbol, u.price
                )));
            }
            let key = match kind {
                Kind::Index => ContractKey::index(u.symbol),
                _ => ContractKey::stock(u.symbol),
            };
            instruments.push(Instrument {
                contract: register(key),
                kind,
                underlying: spots.len(),
                open_interest: 0,
                bbo: None,
            });
            weights.push(if matches!(kind, Kind::Index) {
                4.0
            } else {
                8.0
            });
            spots.push(Walk {
                log_price: u.price.ln(),
                start: u.price.ln(),
                at: None,
            });
        }
        if let Some(chain) = &spec.chain {
            let Some(under) = spec.stocks.get(chain.underlying) else {
                return Err(SpecError(format!(
                    "chain.underlying: no stock at position {}",
                    chain.underlying
                )));
            };
            if chain.strikes == 0 || chain.strikes > MAX_STRIKES {
                return Err(SpecError(format!(
                    "chain.strikes: must be 1-{MAX_STRIKES}, got {}",
                    chain.strikes
                )));
            }
            for e in &chain.expirations {
                if !is_calendar_date(u64::from(e.date)) {
                    return Err(SpecError(format!(
                        "chain.expiration: not a calendar date: {}",
                        e.date
                    )));
                }
                if !(e.years.is_finite() && e.years > 0.0) {
                    return Err(SpecError(format!(
                        "chain.expiration {}: years to expiry must be positive, got {}",
                        e.date, e.years
                    )));
                }
                for strike in strike_grid(under.price, chain.strikes) {
                    for right in [Right::Call, Right::Put] {
                        let key = ContractKey::option(
                            under.symbol,
                            e.date,
                            (strike * 1000.0).round() as u32,
                            right,
                        );
                        instruments.push(Instrument {
                            contract: register(key),
                            kind: Kind::Option {
                                strike,
                                right,
                                years: e.years,
                            },
                            underlying: chain.underlying,
                            open_interest: rng.random_range(100..50_000),
                            bbo: None,
                        });
                        weights.push(1.0);
                    }
                }
            }
        }
        let cumulative = weights
            .iter()
            .scan(0.0, |total, w| {
                *total += w;
                Some(*total)
            })
            .collect();
        Ok(Self {
            rng,
            spots,
            instruments,
            cumulative,
            sequence: 0,
        })
    }

    /// Ids of every contract of the market, in registration order.
    pub fn contracts(&self) -> impl Iterator<Item = ContractId> + '_ {
        self.instruments.iter().map(|i| i.contract)
    }

    /// Trade sequence numbers handed out so far.
    pub fn trades(&self) -> i64 {
        self.sequence
    }

    /// Appends the next `n` events to `out`, stamped `date` and spread evenly over
    /// `(from_ms, to_ms]` (all at `to_ms` when `from_ms >= to_ms`).
    pub fn generate(
        &mut self,
        date: u32,
        from_ms: u32,
        to_ms: u32,
        n: usize,
        out: &mut Vec<Event>,
    ) {
        out.reserve(n);
        let span = u64::from(to_ms.saturating_sub(from_ms));
        let total = *self.cumulative.last().expect("a market has instruments");
        for i in 0..n {
            let ms = from_ms + ((span * (i as u64 + 1)) / n as u64) as u32;
            let ms = if span == 0 { to_ms } else { ms };
            let pick = self.rng.random::<f64>() * total;
            let k = self
                .cumulative
                .partition_point(|&c| c <= pick)
                .min(self.instruments.len() - 1);
            let body = self.next_event(k, date, ms);
            out.push(Event {
                contract: self.instruments[k].contract,
                body,
            });
        }
    }

    fn next_event(&mut self, k: usize, date: u32, ms_of_day: u32) -> EventBody {
        let instrument = self.instruments[k];
        let spot = self.step(instrument.underlying, date, ms_of_day);
        let roll: f64 = self.rng.random();
        match instrument.kind {
            Kind::Index => EventBody::Trade(Trade {
                ms_of_day,
                sequence: self.next_sequence(),
                size: 0,
                condition: 0,
                price: cents_to_price(to_cents(spot).max(1)),
                exchange: 0,
                date,
            }),
            Kind::Stock => {
                if roll < 0.8 {
                    let (bid, ask) = self.stock_quote(spot);
                    self.instruments[k].bbo = Some((bid, ask));
                    self.quote(bid, ask, date, ms_of_day, true)
                } else {
                    let (bid, ask) = match instrument.bbo {
                        Some(bbo) => bbo,
                        None => self.stock_quote(spot),
                    };
                    self.trade(bid, ask, date, ms_of_day, true)
                }
            }
            Kind::Option {
                strike,
                right,
                years,
            } => {
                if roll < 0.75 {
                    let (bid, ask) = self.option_quote(spot, strike, right, years);
                    self.instruments[k].bbo = Some((bid, ask));
                    self.quote(bid, ask, date, ms_of_day, false)
                } else if roll < 0.97 {
                    let (bid, ask) = match instrument.bbo {
                        Some(bbo) => bbo,
                        None => self.option_quote(spot, strike, right, years),
                    };
                    self.trade(bid, ask, date, ms_of_day, false)
                } else {
                    let oi = &mut self.instruments[k].open_interest;
                    let change = self.rng.random_range(0..=200_u64);
                    *oi = (*oi + change).saturating_sub(100);
                    EventBody::OpenInterest(OpenInterest {
                        ms_of_day,
                        open_interest: *oi,
                        date,
                    })
                }
            }
        }
    }

    /// Moves underlying `u` to the time `(date, ms_of_day)` and returns its price. The walk is
    /// in time, not in events: `VOLATILITY` per trading year whatever the event rate.
    fn step(&mut self, u: usize, date: u32, ms_of_day: u32) -> f64 {
        let z: f64 = self.rng.sample(StandardNormal);
        let walk = &mut self.spots[u];
        let elapsed_ms = match walk.at {
            Some((d, ms)) if d == date => f64::from(ms_of_day.saturating_sub(ms)),
            _ => 0.0,
        };
        walk.at = Some((date, ms_of_day));
        let reversion = (REVERSION_PER_MS * elapsed_ms).min(1.0);
        walk.log_price += reversion * (walk.start - walk.log_price)
            + VOLATILITY * (elapsed_ms / MS_PER_TRADING_YEAR).sqrt() * z;
        walk.log_price.exp()
    }

    /// Bid and ask in cents around `spot`: one to three cents wide.
    fn stock_quote(&mut self, spot: f64) -> (i64, i64) {
        let width = self.rng.random_range(1..=3);
        let bid = (to_cents(spot) - width / 2).max(1);
        (bid, bid + width)
    }

    /// Bid and ask in cents around the Black–Scholes value: about 3 % wide, at least a cent,
    /// the bid possibly zero for a worthless option.
    fn option_quote(&mut self, spot: f64, strike: f64, right: Right, years: f64) -> (i64, i64) {
        let fair = to_cents(black_scholes(spot, strike, years, right)).max(1);
        let width =
            ((fair as f64 * 0.03).round() as i64).clamp(1, 50) + self.rng.random_range(0..=2);
        let bid = (fair - width / 2).max(0);
        (bid, bid + width)
    }

    fn quote(&mut self, bid: i64, ask: i64, date: u32, ms_of_day: u32, stock: bool) -> EventBody {
        let (bid_size, ask_size) = if stock {
            (
                100 * self.rng.random_range(1..=30),
                100 * self.rng.random_range(1..=30),
            )
        } else {
            (
                self.rng.random_range(1..=500),
                self.rng.random_range(1..=500),
            )
        };
        let exchange = self.exchange(stock);
        EventBody::Quote(Quote {
            ms_of_day,
            bid_size,
            bid_exchange: exchange,
            bid: cents_to_price(bid),
            bid_condition: 0,
            ask_size,
            ask_exchange: exchange,
            ask: cents_to_price(ask),
            ask_condition: 0,
            date,
        })
    }

    fn trade(&mut self, bid: i64, ask: i64, date: u32, ms_of_day: u32, stock: bool) -> EventBody {
        let side: f64 = self.rng.random();
        let cents = if side < 0.45 && bid > 0 {
            bid
        } else if side < 0.9 || ask - bid < 2 {
            ask
        } else {
            self.rng.random_range(bid + 1..ask)
        };
        let lot: f64 = self.rng.random();
        let size = match (stock, lot) {
            (true, l) if l < 0.5 => 100 * self.rng.random_range(1..=5),
            (true, l) if l < 0.85 => self.rng.random_range(1..=99),
            (true, _) => 100 * self.rng.random_range(5..=50),
            (false, l) if l < 0.9 => self.rng.random_range(1..=10),
            (false, _) => self.rng.random_range(10..=100),
        };
        EventBody::Trade(Trade {
            ms_of_day,
            sequence: self.next_sequence(),
            size,
            condition: 0,
            price: cents_to_price(cents),
            exchange: self.exchange(stock),
            date,
        })
    }

    fn exchange(&mut self, stock: bool) -> u32 {
        if stock {
            STOCK_EXCHANGES[self.rng.random_range(0..STOCK_EXCHANGES.len())]
        } else {
            OPTION_EXCHANGES[self.rng.random_range(0..OPTION_EXCHANGES.len())]
        }
    }

    fn next_sequence(&mut self) -> i64 {
        self.sequence += 1;
        self.sequence
    }
}

/// `n` strikes on a grid of round steps centred on `price`, lowest first, all positive.
fn strike_grid(price: f64, n: usize) -> Vec<f64> {
    let step = match price {
        p if p < 25.0 => 0.5,
        p if p < 100.0 => 1.0,
        p if p < 250.0 => 2.5,
        _ => 5.0,
    };
    let centre = (price / step).round() * step;
    let lowest = (centre - (n / 2) as f64 * step).max(step);
    (0..n).map(|i| lowest + i as f64 * step).collect()
}

fn to_cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

/// Cents as dollars; the division gives the double nearest the two-decimal value, so it prints
/// back as that value (`18912` → `189.12`).
fn cents_to_price(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Black–Scholes value with zero rates and dividends.
fn black_scholes(spot: f64, strike: f64, years: f64, right: Right) -> f64 {
    let vol_t = VOLATILITY * years.sqrt();
    let d1 = ((spot / strike).ln() + 0.5 * vol_t * vol_t) / vol_t;
    let d2 = d1 - vol_t;
    match right {
        Right::Call => spot * normal_cdf(d1) - strike * normal_cdf(d2),
        Right::Put => strike * normal_cdf(-d2) - spot * normal_cdf(-d1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::SecType;

    fn spec(seed: u64) -> MarketSpec {
        let sym = |s| Symbol::new(s).unwrap();
        MarketSpec {
            seed,
            stocks: vec![
                Underlying {
                    symbol: sym("SPY"),
                    price: 570.0,
                },
                Underlying {
                    symbol: sym("AAPL"),
                    price: 190.0,
                },
            ],
            index: Some(Underlying {
                symbol: sym("SPX"),
                price: 5700.0,
            }),
            chain: Some(Chain {
                underlying: 0,
                expirations: vec![
                    Expiration {
                        date: 20250321,
                        years: 0.02,
                    },
                    Expiration {
                        date: 20250418,
                        years: 0.1,
                    },
                ],
                strikes: 10,
            }),
        }
    }

    fn market(seed: u64) -> (SyntheticMarket, Vec<ContractKey>) {
        let mut keys = Vec::new();
        let m = SyntheticMarket::new(&spec(seed), |k| {
            keys.push(k);
            (keys.len() - 1) as ContractId
        })
        .unwrap();
        (m, keys)
    }

    #[test]
    fn chain_has_every_strike_and_right() {
        let (_, keys) = market(1);
        assert_eq!(keys.len(), 3 + 2 * 10 * 2);
        let options: Vec<_> = keys
            .iter()
            .filter(|k| k.sec_type == SecType::Option)
            .collect();
        assert_eq!(options.len(), 40);
        assert_eq!(options[0].strike, 545_000);
        assert_eq!(options[19].strike, 590_000);
        assert_eq!(keys[2].sec_type, SecType::Index);
    }

    #[test]
    fn same_seed_same_events_whatever_the_batching() {
        let (mut a, _) = market(7);
        let (mut b, _) = market(7);
        let (mut c, _) = market(8);
        let (mut ea, mut eb, mut ec) = (Vec::new(), Vec::new(), Vec::new());
        a.generate(20250321, 0, 0, 1000, &mut ea);
        for _ in 0..10 {
            b.generate(20250321, 0, 0, 100, &mut eb);
        }
        c.generate(20250321, 0, 0, 1000, &mut ec);
        assert_eq!(ea, eb);
        assert_ne!(ea, ec);
    }

    #[test]
    fn looks_like_a_market() {
        let (mut m, keys) = market(3);
        let mut events = Vec::new();
        m.generate(20250321, 34_200_000, 34_260_000, 200_000, &mut events);
        let mut last_ms = 0;
        let mut last_quote: Vec<Option<(f64, f64)>> = vec![None; keys.len()];
        let (mut quotes, mut trades, mut ois, mut inside) = (0, 0, 0, 0);
        let mut last_seq = 0;
        for e in &events {
            let key = keys[e.contract as usize];
            match e.body {
                EventBody::Quote(q) => {
                    quotes += 1;
                    assert!(q.bid < q.ask, "{q:?}");
                    assert!(q.bid >= 0.0 && q.bid_size > 0 && q.ask_size > 0);
                    assert_eq!(q.ask.to_bits(), ((q.ask * 100.0).round() / 100.0).to_bits());
                    assert_ne!(key.sec_type, SecType::Index);
                    last_quote[e.contract as usize] = Some((q.bid, q.ask));
                    last_ms = last_ms.max(q.ms_of_day);
                    assert_eq!(q.ms_of_day, last_ms);
                }
                EventBody::Trade(t) => {
                    trades += 1;
                    // At or inside the latest quote of its contract.
                    if let Some((bid, ask)) = last_quote[e.contract as usize] {
                        assert!(
                            bid <= t.price && t.price <= ask,
                            "{t:?} outside {bid}/{ask}"
                        );
                        inside += 1;
                    }
                    assert!(t.sequence > last_seq);
                    last_seq = t.sequence;
                    assert!(t.price > 0.0);
                    assert_eq!(t.ms_of_day, last_ms.max(t.ms_of_day));
                    last_ms = t.ms_of_day;
                    assert!(t.date == 20250321);
                    if key.sec_type == SecType::Index {
                        assert_eq!(t.size, 0);
                        assert!((t.price - 5700.0).abs() < 500.0, "{t:?}");
                    } else {
                        assert!(t.size > 0);
                    }
                }
                EventBody::OpenInterest(oi) => {
                    ois += 1;
                    assert_eq!(key.sec_type, SecType::Option);
                    assert!(oi.open_interest < 100_000);
                }
                EventBody::Ohlc(_) => panic!("the market sends no OHLC"),
            }
        }
        assert!(last_ms <= 34_260_000 && last_ms > 34_259_000);
        assert!(
            inside > trades / 2,
            "{inside} of {trades} trades checked against a quote"
        );
        let n = events.len() as f64;
        assert!((0.6..0.85).contains(&(f64::from(quotes) / n)), "{quotes}");
        assert!((0.15..0.35).contains(&(f64::from(trades) / n)), "{trades}");
        assert!(ois > 100);
        // Calls are worth more at lower strikes, puts at higher ones.
        let mid = |i: usize| last_quote[i].map(|(b, a)| f64::midpoint(b, a)).unwrap();
        let first_call = 3;
        assert!(mid(first_call) > mid(first_call + 18));
        assert!(mid(first_call + 1) < mid(first_call + 19));
    }

    /// The range of AAPL trade prices over `n` events spread across `span_ms`.
    fn aapl_range(span_ms: u32, n: usize) -> f64 {
        let (mut m, keys) = market(5);
        let mut events = Vec::new();
        m.generate(20250321, 34_200_000, 34_200_000 + span_ms, n, &mut events);
        let prices: Vec<f64> = events
            .iter()
            .filter(|e| keys[e.contract as usize].symbol.as_str() == "AAPL")
            .filter_map(|e| match e.body {
                EventBody::Trade(t) => Some(t.price),
                _ => None,
            })
            .collect();
        let max = prices.iter().copied().fold(f64::MIN, f64::max);
        let min = prices.iter().copied().fold(f64::MAX, f64::min);
        max - min
    }

    #[test]
    fn prices_move_with_time_not_with_the_event_count() {
        // 100,000 events in one millisecond: only the spread separates the prints.
        assert!(aapl_range(1, 100_000) <= 0.03 + 1e-9);
        // The same count over an hour: about 0.4 / sqrt(252 * 6.5) = 1 % of 190 dollars.
        let hour = aapl_range(3_600_000, 100_000);
        assert!((0.3..8.0).contains(&hour), "{hour}");
    }

    #[test]
    fn bad_specs_name_the_field() {
        let mut s = spec(1);
        s.stocks[1].price = 0.0;
        let err = SyntheticMarket::new(&s, |_| 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AAPL: starting price must be at least 0.01, got 0"
        );
        let mut s = spec(1);
        s.chain.as_mut().unwrap().expirations[0].date = 20250230;
        let err = SyntheticMarket::new(&s, |_| 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chain.expiration: not a calendar date: 20250230"
        );
        let mut s = spec(1);
        s.chain.as_mut().unwrap().underlying = 5;
        let err = SyntheticMarket::new(&s, |_| 0).unwrap_err();
        assert_eq!(err.to_string(), "chain.underlying: no stock at position 5");
        let s = MarketSpec {
            seed: 0,
            stocks: vec![],
            index: None,
            chain: None,
        };
        let err = SyntheticMarket::new(&s, |_| 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "symbols: the market needs a stock or an index"
        );
    }
}
