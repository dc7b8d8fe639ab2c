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

/// The bar being built: a [`Bar`] whose `vwap` is filled in on close, plus its accumulators.
#[derive(Debug, Clone, Copy)]
struct OpenBar {
    bar: Bar,
    /// Times of the open and close trades: a trade that arrives out of order within the open
    /// bucket still lands where its time puts it (ties by arrival), as in the session bar.
    open_ms: i32,
    close_ms: i32,
    /// Exclusive end, `start_ms + interval_ms` (in `i64`: may exceed `i32::MAX`).
    end_ms: i64,
    /// Σ price·size.
    notional: f64,
}

impl OpenBar {
    fn new(trade: &Trade, start_ms: i32, interval_ms: i32) -> Self {
        Self {
            bar: Bar {
                date: trade.date,
                start_ms,
                open: trade.price,
                high: trade.price,
                low: trade.price,
                close: trade.price,
                volume: trade.size,
                count: 1,
                vwap: f64::NAN,
            },
            open_ms: trade.ms_of_day,
            close_ms: trade.ms_of_day,
            end_ms: i64::from(start_ms) + i64::from(interval_ms),
            notional: trade.price * trade.size as f64,
        }
    }

    #[inline]
    fn apply(&mut self, trade: &Trade) {
        let bar = &mut self.bar;
        bar.high = bar.high.max(trade.price);
        bar.low = bar.low.min(trade.price);
        if trade.ms_of_day < self.open_ms {
            bar.open = trade.price;
            self.open_ms = trade.ms_of_day;
        }
        if trade.ms_of_day >= self.close_ms {
            bar.close = trade.price;
            self.close_ms = trade.ms_of_day;
        }
        bar.volume = bar.volume.saturating_add(trade.size);
        bar.count += 1;
        self.notional += trade.price * trade.size as f64;
    }

    fn snapshot(&self) -> Bar {
        let mut bar = self.bar;
        bar.vwap = if bar.volume > 0 {
            self.notional / bar.volume as f64
        } else {
            f64::NAN
        };
        bar
    }

    #[inline]
    fn contains(&self, trade: &Trade) -> bool {
        trade.date == self.bar.date
            && trade.ms_of_day >= self.bar.start_ms
            && i64::from(trade.ms_of_day) < self.end_ms
    }

    fn key(&self) -> (i32, i32) {
        (self.bar.date, self.bar.start_ms)
    }
}

/// Start of the bucket holding `ms_of_day` (which is `>= 0`).
#[inline]
fn bucket_start(ms_of_day: i32, interval_ms: i32) -> i32 {
    ms_of_day - ms_of_day % interval_ms
}

/// Builds the bars of one interval for one contract, closing each bar when a trade of a later
/// bucket arrives or when [`flush`](Self::flush) passes its end.
#[derive(Debug, Clone)]
pub struct IntervalBuilder {
    interval_ms: i32,
    open: Option<OpenBar>,
    /// `(date, start_ms)` of the last bar closed by a flush; later trades must be after it.
    /// (A bar closed by a trade leaves a later bar open, which already bounds lateness.)
    flushed: Option<(i32, i32)>,
}

impl IntervalBuilder {
    /// A builder with no bar; `interval_ms` must be in `1..=MAX_INTERVAL_MS`.
    pub fn new(interval_ms: i64) -> Result<Self, BarsError> {
        Ok(Self {
            interval_ms: check_interval(interval_ms)?,
            open: None,
            flushed: None,
        })
    }

    /// The bar interval in milliseconds.
    pub fn interval_ms(&self) -> i32 {
        self.interval_ms
    }

    /// Applies one validated trade.
    #[inline]
    pub fn on_trade(&mut self, trade: &Trade) -> Step {
        if let Some(open) = &mut self.open {
            if open.contains(trade) {
                open.apply(trade);
                return Step::Applied;
            }
        }
        self.on_other_bucket(trade)
    }

    /// A trade outside the open bar (or with no bar open): close, open or reject.
    fn on_other_bucket(&mut self, trade: &Trade) -> Step {
        let start_ms = bucket_start(trade.ms_of_day, self.interval_ms);
        if let Some(open) = &mut self.open {
            if (trade.date, start_ms) < open.key() {
                return Step::Late;
            }
            let closed = open.snapshot();
            *open = OpenBar::new(trade, start_ms, self.interval_ms);
            return Step::Closed(closed);
        }
        if self
            .flushed
            .is_some_and(|last| (trade.date, start_ms) <= last)
        {
            return Step::Late;
        }
        self.open = Some(OpenBar::new(trade, start_ms, self.interval_ms));
        Step::Opened
    }

    /// Closes and returns the open bar if the clock `(date, ms_of_day)` is at or past its end.
    pub fn flush(&mut self, date: i32, ms_of_day: i32) -> Option<Bar> {
        let open = self.open?;
        let due =
            date > open.bar.date || (date == open.bar.date && i64::from(ms_of_day) >= open.end_ms);
        if !due {
            return None;
        }
        self.flushed = Some(open.key());
        self.open = None;
        Some(open.snapshot())
    }

    /// Closes and returns the open bar whatever the time (end of a batch).
    pub fn finish(&mut self) -> Option<Bar> {
        let open = self.open.take()?;
        self.flushed = Some(open.key());
        Some(open.snapshot())
    }

    /// The bar still open, with its `vwap` so far.
    pub fn open_bar(&self) -> Option<Bar> {
        self.open.as_ref().map(OpenBar::snapshot)
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
