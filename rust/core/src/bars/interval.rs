//! The state machine that turns one contract's trades into bars of one interval.

use super::{check_interval, Bar, BarsError, Trade};

/// What [`IntervalBuilder::on_trade`] did with a trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Added to the open bar.
    Applied,
    /// Opened a new bar; no bar was open.
    Opened,
    /// Closed the open bar (returned) and opened a new one with the trade.
    Closed(Bar),
    /// The trade's bucket is before the open bar or not after the last closed bar: not applied.
    Late,
}

/// `start_key` of a builder with no bar open: `key - NO_BAR` wraps to at least `2^63` for every
/// valid trade key (`< 2^63`), so no trade is ever "in" it.
const NO_BAR: u64 = 1 << 63;

/// Start of the bucket holding `ms_of_day` (which is `>= 0`).
#[inline]
fn bucket_start(ms_of_day: i32, interval_ms: i32) -> i32 {
    // Unsigned: both are >= 0, and `u32` division needs no sign fix-up.
    let ms = ms_of_day as u32;
    (ms - ms % interval_ms as u32) as i32
}

/// Builds the bars of one interval for one contract, closing each bar when a trade of a later
/// bucket arrives or when [`flush`](Self::flush) passes its end.
///
/// The open bar is kept inline (no `Option`): `start_key` is the [`Trade::time_key`] of its
/// first millisecond, or `NO_BAR`. A trade belongs to the open bar exactly when
/// `key - start_key < interval` in wrapping `u64` arithmetic (same date, since dates sit in the
/// high 32 bits, and `start_ms <= ms_of_day < start_ms + interval_ms`), so the common case, a
/// trade of the open bucket, is one subtraction, one compare and the accumulator updates.
#[derive(Debug, Clone)]
pub struct IntervalBuilder {
    start_key: u64,
    interval: u64,
    /// The open bar when `start_key != NO_BAR`; its `vwap` is filled in on close.
    bar: Bar,
    /// Times of the open and close trades: a trade that arrives out of order within the open
    /// bucket still lands where its time puts it (ties by arrival), as in the session bar.
    open_ms: i32,
    close_ms: i32,
    /// Σ price·size.
    notional: f64,
    interval_ms: i32,
    /// `(date, start_ms)` of the last bar closed by a flush; later trades must be after it.
    /// (A bar closed by a trade leaves a later bar open, which already bounds lateness.)
    flushed: Option<(i32, i32)>,
}

impl IntervalBuilder {
    /// A builder with no bar; `interval_ms` must be in `1..=MAX_INTERVAL_MS`.
    pub fn new(interval_ms: i64) -> Result<Self, BarsError> {
        let interval_ms = check_interval(interval_ms)?;
        Ok(Self {
            start_key: NO_BAR,
            interval: u64::from(interval_ms as u32),
            bar: Bar {
                date: 0,
                start_ms: 0,
                open: 0.0,
                high: 0.0,
                low: 0.0,
                close: 0.0,
                volume: 0,
                count: 0,
                vwap: f64::NAN,
            },
            open_ms: 0,
            close_ms: 0,
            notional: 0.0,
            interval_ms,
            flushed: None,
        })
    }

    /// The bar interval in milliseconds.
    pub fn interval_ms(&self) -> i32 {
        self.interval_ms
    }

    fn is_open(&self) -> bool {
        self.start_key != NO_BAR
    }

    /// Applies one validated trade.
    #[inline]
    pub fn on_trade(&mut self, trade: &Trade) -> Step {
        let was_open = self.is_open();
        let mut closed = None;
        if !self.on_trade_with(trade, |bar| closed = Some(*bar)) {
            return Step::Late;
        }
        match closed {
            Some(bar) => Step::Closed(bar),
            None if was_open => Step::Applied,
            None => Step::Opened,
        }
    }

    /// Applies one validated trade, handing a bar it closes to `on_close` (by reference, so the
    /// caller copies it straight to its destination). Returns `false` for a late trade, which
    /// changes nothing. The hot path of [`BarBook`](super::BarBook).
    // Forced, like the fast path `apply`: the book's row loop otherwise calls it (measured with
    // callgrind: about 10% more instructions per trade).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn on_trade_with(&mut self, trade: &Trade, on_close: impl FnOnce(&Bar)) -> bool {
        if trade.time_key().wrapping_sub(self.start_key) < self.interval {
            self.apply(trade);
            true
        } else {
            self.on_other_bucket(trade, on_close)
        }
    }

    /// Adds a trade of the open bucket to the open bar.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn apply(&mut self, trade: &Trade) {
        let bar = &mut self.bar;
        let (price, ms) = (trade.price, trade.ms_of_day);
        // Prices are finite (validated), so plain compares are `max`/`min` without NaN cases.
        // Selects, not conditional stores: they compile to `maxsd`/`minsd`, where a branch would
        // be mispredicted about every other trade of a young bar.
        bar.high = if price > bar.high { price } else { bar.high };
        if ms < self.open_ms {
            bar.open = price;
            self.open_ms = ms;
        }
        // After the branch above on purpose: in another basic block the two selects are not
        // merged into one packed compare-and-blend (twice the instructions of `maxsd`+`minsd`).
        bar.low = if price < bar.low { price } else { bar.low };
        if ms >= self.close_ms {
            bar.close = price;
            self.close_ms = ms;
        }
        bar.volume = bar.volume.saturating_add(trade.size);
        bar.count += 1;
        self.notional += price * trade.size as f64;
    }

    /// A trade outside the open bar (or with no bar open): close, open or reject. Kept out of
    /// line so that the per-trade loop stays compact.
    #[inline(never)]
    fn on_other_bucket(&mut self, trade: &Trade, on_close: impl FnOnce(&Bar)) -> bool {
        let start_ms = bucket_start(trade.ms_of_day, self.interval_ms);
        let start_key = Trade::key_of(trade.date, start_ms);
        if self.is_open() {
            if start_key < self.start_key {
                return false;
            }
            self.close_into(on_close);
        } else if self
            .flushed
            .is_some_and(|(date, ms)| start_key <= Trade::key_of(date, ms))
        {
            return false;
        }
        self.open_with(trade, start_ms, start_key);
        true
    }

    /// Fills in the open bar's vwap and hands it to `on_close` (the bar stays "open" until
    /// the caller replaces or clears it).
    #[inline]
    fn close_into(&mut self, on_close: impl FnOnce(&Bar)) {
        self.bar.vwap = vwap(self.notional, self.bar.volume);
        on_close(&self.bar);
    }

    #[inline]
    fn open_with(&mut self, trade: &Trade, start_ms: i32, start_key: u64) {
        self.start_key = start_key;
        // Field by field (`vwap` is only written on close): no temporary `Bar`.
        let bar = &mut self.bar;
        bar.date = trade.date;
        bar.start_ms = start_ms;
        bar.open = trade.price;
        bar.high = trade.price;
        bar.low = trade.price;
        bar.close = trade.price;
        bar.volume = trade.size;
        bar.count = 1;
        self.open_ms = trade.ms_of_day;
        self.close_ms = trade.ms_of_day;
        self.notional = trade.price * trade.size as f64;
    }

    /// End of the open bar (exclusive), in `i64`: it may exceed `i32::MAX`.
    fn end_ms(&self) -> i64 {
        i64::from(self.bar.start_ms) + i64::from(self.interval_ms)
    }

    /// Closes and returns the open bar if the clock `(date, ms_of_day)` is at or past its end.
    pub fn flush(&mut self, date: i32, ms_of_day: i32) -> Option<Bar> {
        if !self.is_open() {
            return None;
        }
        let due = date > self.bar.date
            || (date == self.bar.date && i64::from(ms_of_day) >= self.end_ms());
        if !due {
            return None;
        }
        self.finish()
    }

    /// Closes and returns the open bar whatever the time (end of a batch).
    pub fn finish(&mut self) -> Option<Bar> {
        if !self.is_open() {
            return None;
        }
        self.flushed = Some((self.bar.date, self.bar.start_ms));
        self.start_key = NO_BAR;
        Some(self.snapshot())
    }

    fn snapshot(&self) -> Bar {
        Bar {
            vwap: vwap(self.notional, self.bar.volume),
            ..self.bar
        }
    }

    /// The bar still open, with its `vwap` so far.
    pub fn open_bar(&self) -> Option<Bar> {
        self.is_open().then(|| self.snapshot())
    }
}

/// `notional / volume`, `NaN` for a bar of zero volume.
#[inline]
pub(super) fn vwap(notional: f64, volume: i64) -> f64 {
    if volume > 0 {
        notional / volume as f64
    } else {
        f64::NAN
    }
}

#[cfg(test)]
#[allow(clippy::unreadable_literal)] // YYYYMMDD dates read best without separators
mod tests {
    use super::*;

    fn trade(date: i32, ms_of_day: i32, price: f64, size: i64) -> Trade {
        Trade {
            date,
            ms_of_day,
            price,
            size,
        }
    }

    fn bar(date: i32, start_ms: i32, ohlc: [f64; 4], volume: i64, count: i64, vwap: f64) -> Bar {
        Bar {
            date,
            start_ms,
            open: ohlc[0],
            high: ohlc[1],
            low: ohlc[2],
            close: ohlc[3],
            volume,
            count,
            vwap,
        }
    }

    #[test]
    fn closes_on_a_later_bucket_and_skips_empty_intervals() {
        let mut b = IntervalBuilder::new(1000).unwrap();
        assert_eq!(b.on_trade(&trade(7, 1500, 10.0, 1)), Step::Opened);
        assert_eq!(b.on_trade(&trade(7, 1999, 12.0, 3)), Step::Applied);
        // Out of order within the bucket: earliest, so it becomes the open, not the close.
        assert_eq!(b.on_trade(&trade(7, 1000, 9.0, 0)), Step::Applied);
        assert_eq!(b.on_trade(&trade(7, 1000, 8.0, 0)), Step::Applied); // tie: not the open
        assert_eq!(b.on_trade(&trade(7, 1999, 13.0, 0)), Step::Applied); // tie: the close
        assert_eq!(
            b.on_trade(&trade(7, 5000, 11.0, 2)),
            Step::Closed(bar(7, 1000, [9.0, 13.0, 8.0, 13.0], 4, 5, 46.0 / 4.0))
        );
        assert_eq!(b.open_bar(), Some(bar(7, 5000, [11.0; 4], 2, 1, 11.0)));
    }

    #[test]
    fn earlier_bucket_is_late_and_not_applied() {
        let mut b = IntervalBuilder::new(1000).unwrap();
        b.on_trade(&trade(7, 5000, 11.0, 2));
        assert_eq!(b.on_trade(&trade(7, 4999, 1.0, 1)), Step::Late);
        assert_eq!(b.on_trade(&trade(6, 5000, 1.0, 1)), Step::Late);
        assert_eq!(b.open_bar(), Some(bar(7, 5000, [11.0; 4], 2, 1, 11.0)));
    }

    #[test]
    fn new_date_closes_the_bar_even_at_an_earlier_time() {
        let mut b = IntervalBuilder::new(60_000).unwrap();
        b.on_trade(&trade(20250321, 57_600_000, 5.0, 1));
        assert_eq!(
            b.on_trade(&trade(20250324, 34_200_000, 6.0, 1)),
            Step::Closed(bar(20250321, 57_600_000, [5.0; 4], 1, 1, 5.0))
        );
    }

    #[test]
    fn flush_closes_at_the_end_and_makes_the_bucket_late() {
        let mut b = IntervalBuilder::new(1000).unwrap();
        b.on_trade(&trade(7, 1500, 10.0, 1));
        assert_eq!(b.flush(7, 1999), None);
        assert_eq!(b.flush(6, 9999), None);
        assert_eq!(b.flush(7, 2000), Some(bar(7, 1000, [10.0; 4], 1, 1, 10.0)));
        assert_eq!(b.open_bar(), None);
        assert_eq!(b.on_trade(&trade(7, 1700, 10.0, 1)), Step::Late);
        assert_eq!(b.on_trade(&trade(7, 500, 10.0, 1)), Step::Late);
        assert_eq!(b.on_trade(&trade(7, 2000, 10.0, 1)), Step::Opened);
        // A later date closes regardless of the time of day.
        assert!(b.flush(8, 0).is_some());
    }

    #[test]
    fn open_bucket_test_on_the_packed_key() {
        // No bar open: even the smallest key (date 0, ms 0) opens one rather than applying.
        let mut b = IntervalBuilder::new(86_400_000).unwrap();
        assert_eq!(b.on_trade(&trade(0, 0, 1.0, 1)), Step::Opened);
        assert_eq!(b.on_trade(&trade(0, 86_399_999, 2.0, 1)), Step::Applied);
        // The same time of day on the next date is a new bar, the largest key too.
        assert!(matches!(b.on_trade(&trade(1, 0, 3.0, 1)), Step::Closed(_)));
        assert!(matches!(
            b.on_trade(&trade(i32::MAX, 5, 4.0, 1)),
            Step::Closed(_)
        ));
        assert_eq!(
            b.on_trade(&trade(i32::MAX, 86_399_999, 5.0, 1)),
            Step::Applied
        );
        assert_eq!(b.on_trade(&trade(i32::MAX - 1, 5, 6.0, 1)), Step::Late);
        let mut b = IntervalBuilder::new(1000).unwrap();
        b.on_trade(&trade(7, 1000, 1.0, 1));
        assert_eq!(b.on_trade(&trade(7, 999, 1.0, 1)), Step::Late);
        assert_eq!(b.on_trade(&trade(7, 1999, 1.0, 1)), Step::Applied);
        assert!(matches!(
            b.on_trade(&trade(7, 2000, 1.0, 1)),
            Step::Closed(_)
        ));
    }

    #[test]
    fn zero_volume_bar_has_nan_vwap() {
        let mut b = IntervalBuilder::new(1000).unwrap();
        b.on_trade(&trade(7, 0, 10.0, 0));
        let closed = b.finish().unwrap();
        assert_eq!((closed.volume, closed.count), (0, 1));
        assert!(closed.vwap.is_nan());
        assert_eq!(b.finish(), None);
    }

    #[test]
    fn interval_is_validated() {
        assert_eq!(
            IntervalBuilder::new(0).unwrap_err(),
            BarsError::InvalidInterval(0)
        );
        assert_eq!(
            IntervalBuilder::new(86_400_001).unwrap_err(),
            BarsError::InvalidInterval(86_400_001)
        );
        assert!(IntervalBuilder::new(86_400_000).is_ok());
    }

    #[test]
    fn bar_end_beyond_i32_does_not_overflow() {
        let mut b = IntervalBuilder::new(86_400_000).unwrap();
        assert_eq!(b.on_trade(&trade(7, i32::MAX, 1.0, 1)), Step::Opened);
        assert_eq!(b.on_trade(&trade(7, i32::MAX - 5, 2.0, 1)), Step::Applied);
        assert_eq!(b.flush(7, i32::MAX), None);
    }
}
