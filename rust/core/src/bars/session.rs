//! The session-to-date bar of one contract (OHLCVC), the body of the server's OHLC events.

use super::Trade;

/// Session-to-date OHLCVC of one contract for one `date` (SPEC §3.3).
///
/// Open is the earliest trade of the date and close the latest (ties by arrival), so trades that
/// arrive out of order within the date are still counted; a trade of an earlier date than the
/// session's is ignored, a later date starts a new session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionBar {
    /// Session date, `YYYYMMDD`.
    pub date: i32,
    /// `ms_of_day` of the open trade.
    pub open_ms: i32,
    /// `ms_of_day` of the close trade: the latest trade time of the session.
    pub close_ms: i32,
    /// First price of the date.
    pub open: f64,
    /// Highest price of the date.
    pub high: f64,
    /// Lowest price of the date.
    pub low: f64,
    /// Latest price of the date.
    pub close: f64,
    /// Σ size.
    pub volume: i64,
    /// Number of trades.
    pub count: i64,
}

impl SessionBar {
    /// A session opened by `trade`.
    #[inline]
    pub fn new(trade: &Trade) -> Self {
        Self {
            date: trade.date,
            open_ms: trade.ms_of_day,
            close_ms: trade.ms_of_day,
            open: trade.price,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            volume: trade.size,
            count: 1,
        }
    }

    /// Applies `trade` to `session`, starting a new session on a later date. Returns `false`
    /// (and changes nothing) for a trade of an earlier date.
    pub fn apply(session: &mut Option<SessionBar>, trade: &Trade) -> bool {
        if let Some(s) = session {
            s.apply_trade(trade)
        } else {
            *session = Some(SessionBar::new(trade));
            true
        }
    }

    /// A session before any trade: its date (`-1`) is before every trade's (dates are `>= 0`),
    /// so the first trade starts the real session. Lets the book keep sessions without an
    /// `Option`.
    pub(crate) const BEFORE_FIRST_TRADE: SessionBar = SessionBar {
        date: -1,
        open_ms: 0,
        close_ms: 0,
        open: 0.0,
        high: 0.0,
        low: 0.0,
        close: 0.0,
        volume: 0,
        count: 0,
    };

    /// [`apply`](Self::apply) on a session that exists (or is
    /// [`BEFORE_FIRST_TRADE`](Self::BEFORE_FIRST_TRADE)).
    #[inline]
    pub(crate) fn apply_trade(&mut self, trade: &Trade) -> bool {
        if trade.date != self.date {
            if trade.date < self.date {
                return false;
            }
            *self = SessionBar::new(trade);
            return true;
        }
        let (price, ms) = (trade.price, trade.ms_of_day);
        // Prices are finite (validated), so plain compares are `max`/`min` without NaN cases.
        // Selects, not conditional stores: they compile to `maxsd`/`minsd`, where a branch would
        // be mispredicted about every other trade of a young bar.
        self.high = if price > self.high { price } else { self.high };
        self.volume = self.volume.saturating_add(trade.size);
        self.count += 1;
        // Strict `<` keeps the first arrival among equal times as open, `>=` makes the last
        // arrival the close: the same tie rule as the interval bars.
        if ms < self.open_ms {
            self.open = price;
            self.open_ms = ms;
        }
        // After the branch on purpose (see `IntervalBuilder::apply`).
        self.low = if price < self.low { price } else { self.low };
        if ms >= self.close_ms {
            self.close = price;
            self.close_ms = ms;
        }
        true
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

    #[test]
    fn accumulates_and_resets_on_a_new_date() {
        let mut s = None;
        assert!(SessionBar::apply(&mut s, &trade(20250321, 1000, 10.0, 5)));
        assert!(SessionBar::apply(&mut s, &trade(20250321, 2000, 12.0, 1)));
        assert!(SessionBar::apply(&mut s, &trade(20250321, 3000, 9.0, 2)));
        assert_eq!(
            s,
            Some(SessionBar {
                date: 20250321,
                open_ms: 1000,
                close_ms: 3000,
                open: 10.0,
                high: 12.0,
                low: 9.0,
                close: 9.0,
                volume: 8,
                count: 3,
            })
        );
        assert!(SessionBar::apply(&mut s, &trade(20250324, 500, 11.0, 4)));
        assert_eq!(s, Some(SessionBar::new(&trade(20250324, 500, 11.0, 4))));
    }

    #[test]
    fn earlier_date_is_ignored() {
        let mut s = None;
        SessionBar::apply(&mut s, &trade(20250324, 500, 11.0, 4));
        assert!(!SessionBar::apply(&mut s, &trade(20250321, 600, 99.0, 4)));
        assert_eq!(s, Some(SessionBar::new(&trade(20250324, 500, 11.0, 4))));
    }

    #[test]
    fn out_of_order_trades_keep_open_earliest_and_close_latest() {
        let mut s = None;
        SessionBar::apply(&mut s, &trade(1, 5000, 10.0, 1));
        SessionBar::apply(&mut s, &trade(1, 4000, 8.0, 1)); // earlier: new open
        SessionBar::apply(&mut s, &trade(1, 4000, 7.0, 1)); // tie with open: stays 8.0
        SessionBar::apply(&mut s, &trade(1, 4500, 9.0, 1)); // between: neither
        SessionBar::apply(&mut s, &trade(1, 5000, 11.0, 0)); // tie with close: becomes close
        let s = s.unwrap();
        assert_eq!((s.open, s.open_ms), (8.0, 4000));
        assert_eq!((s.close, s.close_ms), (11.0, 5000));
        assert_eq!((s.high, s.low, s.volume, s.count), (11.0, 7.0, 4, 5));
    }
}
