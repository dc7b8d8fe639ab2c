//! The streaming aggregator: per-contract session bars and interval rings, fed in batches.

use super::{
    check_interval, Bar, BarRing, BarsError, IntervalBuilder, SessionBar, Step, Trade, TradeColumns,
};

/// Largest contract id a [`BarBook`] accepts. Ids are small dense integers interned by the event
/// decoder; per-contract state lives in a `Vec` indexed by id, so the bound caps that index.
pub const MAX_CONTRACT_ID: u32 = (1 << 22) - 1;

/// One contract's bars: its session and, per configured interval, the builder and the ring.
#[derive(Debug)]
struct ContractBars {
    session: Option<SessionBar>,
    series: Vec<(IntervalBuilder, BarRing)>,
}

/// Streaming bars for many contracts: a session bar and, per configured interval, a bar builder
/// and a fixed-capacity [`BarRing`] of closed bars.
///
/// State for a contract is created on its first trade (rings reserve their storage then); a
/// contract's rings are never dropped or moved while the book lives, so views of them stay
/// valid. Trades of each contract must arrive in time order per bucket; a trade for an
/// already-closed bucket is counted in [`late_trades`](Self::late_trades) and not applied to
/// that interval (the session bar still counts it when it is of the session's date).
#[derive(Debug)]
pub struct BarBook {
    intervals_ms: Vec<i32>,
    capacity: usize,
    contracts: Vec<Option<Box<ContractBars>>>,
    /// Ids with state, in first-trade order, so `flush` does not scan the sparse index.
    active: Vec<u32>,
    late_trades: Vec<u64>,
}

impl BarBook {
    /// A book with the given bar intervals (each in `1..=86_400_000`, distinct, at least one) and
    /// ring capacity (`1..=MAX_CAPACITY`).
    pub fn new(intervals_ms: &[i64], capacity: i64) -> Result<Self, BarsError> {
        if intervals_ms.is_empty() {
            return Err(BarsError::NoIntervals);
        }
        let mut checked = Vec::with_capacity(intervals_ms.len());
        for &ms in intervals_ms {
            let ms32 = check_interval(ms)?;
            if checked.contains(&ms32) {
                return Err(BarsError::DuplicateInterval(ms));
            }
            checked.push(ms32);
        }
        let capacity_ok = usize::try_from(capacity)
            .ok()
            .filter(|&c| BarRing::new(c).is_ok());
        let Some(capacity) = capacity_ok else {
            return Err(BarsError::InvalidCapacity(capacity));
        };
        Ok(Self {
            late_trades: vec![0; checked.len()],
            intervals_ms: checked,
            capacity,
            contracts: Vec::new(),
            active: Vec::new(),
        })
    }

    /// The configured intervals, in configuration order.
    pub fn intervals_ms(&self) -> &[i32] {
        &self.intervals_ms
    }

    /// Ring capacity in bars.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Contract ids that have traded, in first-trade order.
    pub fn contracts(&self) -> &[u32] {
        &self.active
    }

    /// Position of `interval_ms` in [`intervals_ms`](Self::intervals_ms).
    pub fn interval_index(&self, interval_ms: i64) -> Result<usize, BarsError> {
        self.intervals_ms
            .iter()
            .position(|&ms| i64::from(ms) == interval_ms)
            .ok_or(BarsError::UnknownInterval(interval_ms))
    }

    /// Trades rejected as late, per interval (same order as `intervals_ms`).
    pub fn late_trades(&self) -> &[u64] {
        &self.late_trades
    }

    /// Applies a batch of trades in row order. All rows are validated first: on error nothing is
    /// applied.
    pub fn update(
        &mut self,
        contract_id: &[u32],
        trades: &TradeColumns<'_>,
    ) -> Result<(), BarsError> {
        self.update_each(contract_id, trades, |_, _| {})
    }

    /// Like [`update`](Self::update), calling `after_trade(row, session)` with the contract's
    /// session bar right after each row is applied (for the server's OHLC events).
    pub fn update_each(
        &mut self,
        contract_id: &[u32],
        trades: &TradeColumns<'_>,
        mut after_trade: impl FnMut(usize, &SessionBar),
    ) -> Result<(), BarsError> {
        if contract_id.len() != trades.len() {
            return Err(BarsError::LengthMismatch {
                column: "contract_id",
                len: contract_id.len(),
                expected: trades.len(),
            });
        }
        if let Some(row) = contract_id.iter().position(|&id| id > MAX_CONTRACT_ID) {
            return Err(BarsError::ContractIdTooLarge {
                row,
                contract_id: contract_id[row],
            });
        }
        for (row, &id) in contract_id.iter().enumerate() {
            if let Some(session) = self.apply(id, &trades.get(row)) {
                after_trade(row, session);
            }
        }
        Ok(())
    }

    /// Applies one validated trade; returns the contract's session bar afterwards.
    #[inline]
    fn apply(&mut self, id: u32, trade: &Trade) -> Option<&SessionBar> {
        let contract = contract_mut(
            &mut self.contracts,
            &mut self.active,
            &self.intervals_ms,
            self.capacity,
            id,
        );
        SessionBar::apply(&mut contract.session, trade);
        for (k, (builder, ring)) in contract.series.iter_mut().enumerate() {
            match builder.on_trade(trade) {
                Step::Applied | Step::Opened => {}
                Step::Closed(bar) => ring.push(bar),
                Step::Late => self.late_trades[k] += 1,
            }
        }
        contract.session.as_ref()
    }

    /// Applies one trade and returns the contract's session bar afterwards (`None` only when
    /// the contract's only trades are of dates before its session). Validates like
    /// [`update`](Self::update); on error nothing is applied. The server's per-event path.
    pub fn update_trade(
        &mut self,
        contract_id: u32,
        trade: Trade,
    ) -> Result<Option<SessionBar>, BarsError> {
        if contract_id > MAX_CONTRACT_ID {
            return Err(BarsError::ContractIdTooLarge {
                row: 0,
                contract_id,
            });
        }
        let invalid = |column, reason| {
            Err(BarsError::InvalidValue {
                column,
                row: 0,
                reason,
            })
        };
        if trade.date < 0 {
            return invalid("date", "must be >= 0");
        }
        if trade.ms_of_day < 0 {
            return invalid("ms_of_day", "must be >= 0");
        }
        if !trade.price.is_finite() {
            return invalid("price", "must be finite");
        }
        if trade.size < 0 {
            return invalid("size", "must be >= 0");
        }
        Ok(self.apply(contract_id, &trade).copied())
    }

    /// Closes every open bar whose end is at or before the clock `(date, ms_of_day)`; returns how
    /// many bars closed.
    pub fn flush(&mut self, date: i32, ms_of_day: i32) -> usize {
        let mut closed = 0;
        for &id in &self.active {
            if let Some(Some(contract)) = self.contracts.get_mut(id as usize) {
                for (builder, ring) in &mut contract.series {
                    if let Some(bar) = builder.flush(date, ms_of_day) {
                        ring.push(bar);
                        closed += 1;
                    }
                }
            }
        }
        closed
    }

    /// The ring of closed bars, `None` if the contract never traded.
    pub fn ring(&self, contract_id: u32, interval_ms: i64) -> Result<Option<&BarRing>, BarsError> {
        let k = self.interval_index(interval_ms)?;
        Ok(self.contract(contract_id).map(|c| &c.series[k].1))
    }

    /// The contract's bar still open for `interval_ms`, with its vwap so far.
    pub fn open_bar(&self, contract_id: u32, interval_ms: i64) -> Result<Option<Bar>, BarsError> {
        let k = self.interval_index(interval_ms)?;
        Ok(self
            .contract(contract_id)
            .and_then(|c| c.series[k].0.open_bar()))
    }

    /// The contract's session-to-date bar.
    pub fn session(&self, contract_id: u32) -> Option<SessionBar> {
        self.contract(contract_id).and_then(|c| c.session)
    }

    fn contract(&self, contract_id: u32) -> Option<&ContractBars> {
        self.contracts.get(contract_id as usize)?.as_deref()
    }
}

/// The state of `contract_id`, created on first use. (A free function so that the caller can
/// keep borrowing the book's other fields.)
#[inline]
fn contract_mut<'a>(
    contracts: &'a mut Vec<Option<Box<ContractBars>>>,
    active: &mut Vec<u32>,
    intervals_ms: &[i32],
    capacity: usize,
    contract_id: u32,
) -> &'a mut ContractBars {
    let index = contract_id as usize;
    if index >= contracts.len() {
        contracts.resize_with(index + 1, || None);
    }
    let slot = &mut contracts[index];
    if slot.is_none() {
        active.push(contract_id);
    }
    slot.get_or_insert_with(|| {
        let series = intervals_ms
            .iter()
            .map(|&ms| {
                (
                    IntervalBuilder::new(i64::from(ms)).expect("validated in BarBook::new"),
                    BarRing::new(capacity).expect("validated in BarBook::new"),
                )
            })
            .collect();
        Box::new(ContractBars {
            session: None,
            series,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(book: &mut BarBook, rows: &[(u32, i32, i32, f64, i64)]) -> Result<(), BarsError> {
        let ids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let d: Vec<i32> = rows.iter().map(|r| r.1).collect();
        let m: Vec<i32> = rows.iter().map(|r| r.2).collect();
        let p: Vec<f64> = rows.iter().map(|r| r.3).collect();
        let s: Vec<i64> = rows.iter().map(|r| r.4).collect();
        book.update(&ids, &TradeColumns::new(&d, &m, &p, &s)?)
    }

    fn starts(book: &BarBook, id: u32, iv: i64) -> Vec<(i32, f64, i64)> {
        book.ring(id, iv)
            .unwrap()
            .map(|r| {
                r.as_slice()
                    .iter()
                    .map(|b| (b.start_ms, b.close, b.count))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn per_contract_rings_and_sessions() {
        let mut book = BarBook::new(&[1000, 60_000], 4).unwrap();
        feed(
            &mut book,
            &[
                (3, 1, 100, 1.0, 1),
                (0, 1, 150, 5.0, 1),
                (3, 1, 900, 2.0, 1),
                (3, 1, 1100, 3.0, 1),
                (0, 1, 61_000, 6.0, 2),
                (3, 1, 500, 9.0, 1), // late for 1 s; for 1 min out of order, so not the close
            ],
        )
        .unwrap();
        assert_eq!(book.contracts(), &[3, 0]);
        assert_eq!(starts(&book, 3, 1000), vec![(0, 2.0, 2)]);
        assert_eq!(starts(&book, 0, 1000), vec![(0, 5.0, 1)]);
        assert_eq!(starts(&book, 0, 60_000), vec![(0, 5.0, 1)]);
        assert_eq!(starts(&book, 3, 60_000), vec![]);
        assert_eq!(book.late_trades(), &[1, 0]);
        let open = book.open_bar(3, 60_000).unwrap().unwrap();
        assert_eq!((open.open, open.close, open.count), (1.0, 3.0, 4));
        let s = book.session(3).unwrap();
        assert_eq!(
            (s.open, s.high, s.low, s.close, s.volume, s.count),
            (1.0, 9.0, 1.0, 3.0, 4, 4)
        );
        assert_eq!(book.session(1), None);
        assert!(book.ring(1, 1000).unwrap().is_none());
        assert_eq!(book.ring(1, 5).unwrap_err(), BarsError::UnknownInterval(5));

        // Due: contract 3 at 1 s [1000, 2000) and 1 min [0, 60000); contract 0 stays open.
        assert_eq!(book.flush(1, 60_000), 2);
        assert_eq!(starts(&book, 3, 1000), vec![(0, 2.0, 2), (1000, 3.0, 1)]);
        assert_eq!(starts(&book, 3, 60_000), vec![(0, 3.0, 4)]);
        assert_eq!(book.open_bar(0, 1000).unwrap().unwrap().start_ms, 61_000);
    }

    #[test]
    fn ring_keeps_the_newest_capacity_bars() {
        let mut book = BarBook::new(&[1000], 3).unwrap();
        let rows: Vec<_> = (0..10).map(|n| (7, 1, n * 1000, f64::from(n), 1)).collect();
        feed(&mut book, &rows).unwrap();
        assert_eq!(
            starts(&book, 7, 1000),
            vec![(6000, 6.0, 1), (7000, 7.0, 1), (8000, 8.0, 1)]
        );
        assert_eq!(book.ring(7, 1000).unwrap().unwrap().pushed(), 9);
    }

    #[test]
    fn bad_batches_change_nothing() {
        let mut book = BarBook::new(&[1000], 3).unwrap();
        assert_eq!(
            feed(
                &mut book,
                &[(1, 1, 0, 1.0, 1), (MAX_CONTRACT_ID + 1, 1, 0, 1.0, 1)]
            )
            .unwrap_err(),
            BarsError::ContractIdTooLarge {
                row: 1,
                contract_id: MAX_CONTRACT_ID + 1
            }
        );
        assert_eq!(
            feed(&mut book, &[(1, 1, 0, 1.0, 1), (1, 1, 0, f64::NAN, 1)]).unwrap_err(),
            BarsError::InvalidValue {
                column: "price",
                row: 1,
                reason: "must be finite"
            }
        );
        assert_eq!(
            feed(&mut book, &[(1, 1, -1, 1.0, 1)])
                .unwrap_err()
                .to_string(),
            "ms_of_day[0] must be >= 0"
        );
        assert_eq!(
            feed(&mut book, &[(1, 1, 0, 1.0, -2)])
                .unwrap_err()
                .to_string(),
            "size[0] must be >= 0"
        );
        let d = [1, 1];
        let err = book
            .update(
                &[1],
                &TradeColumns::new(&d, &[0, 0], &[1.0, 1.0], &[1, 1]).unwrap(),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "contract_id has 1 rows, expected 2 (all columns must have equal length)"
        );
        assert_eq!(book.contracts(), &[] as &[u32]);
        assert_eq!(book.session(1), None);
    }

    #[test]
    fn configuration_is_validated() {
        assert_eq!(BarBook::new(&[], 1).unwrap_err(), BarsError::NoIntervals);
        assert_eq!(
            BarBook::new(&[1000, 1000], 1).unwrap_err(),
            BarsError::DuplicateInterval(1000)
        );
        assert_eq!(
            BarBook::new(&[-1], 1).unwrap_err(),
            BarsError::InvalidInterval(-1)
        );
        assert_eq!(
            BarBook::new(&[1000], 0).unwrap_err(),
            BarsError::InvalidCapacity(0)
        );
        assert_eq!(
            BarBook::new(&[1000], -3).unwrap_err(),
            BarsError::InvalidCapacity(-3)
        );
    }

    #[test]
    fn session_after_each_trade() {
        let mut book = BarBook::new(&[1000], 3).unwrap();
        let (d, m, p, s) = ([1, 1, 1], [0, 10, 5], [2.0, 3.0, 1.0], [1, 2, 3]);
        let mut seen = Vec::new();
        book.update_each(
            &[0, 0, 1],
            &TradeColumns::new(&d, &m, &p, &s).unwrap(),
            |row, s| {
                seen.push((row, s.open, s.close, s.volume, s.count));
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (0, 2.0, 2.0, 1, 1),
                (1, 2.0, 3.0, 3, 2),
                (2, 1.0, 1.0, 3, 1)
            ]
        );
    }
}
