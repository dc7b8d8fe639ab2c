//! Trade-to-OHLC aggregation (SPEC §6, §3.3): session bars, interval bars in fixed-capacity
//! rings, a streaming [`BarBook`] and the batch [`aggregate_trades`].
//!
//! Conventions shared by every part:
//!
//! * Time is `(date, ms_of_day)`: `date` is `YYYYMMDD` compared as an integer, `ms_of_day` counts
//!   milliseconds since midnight. Both must be `>= 0`. Time is always passed in, never read.
//! * A bar covers `[start_ms, start_ms + interval_ms)` of one `date`, with
//!   `start_ms = ms_of_day - ms_of_day % interval_ms`; a new date always starts a new bar.
//! * Trades of one contract are ordered by `(date, ms_of_day)`, ties by arrival (input) order.
//!   That order defines `open` (first) and `close` (last) among equal timestamps, in the streaming
//!   and the batch path alike, so both produce identical bars from the same trades. A trade that
//!   arrives out of order but within the still-open bucket is placed by its time too.
//! * `vwap = Σ price·size / Σ size`. Trades of size 0 move open/high/low/close and count but
//!   carry no weight; a bar whose volume is 0 has `vwap = NaN`.
//! * Prices must be finite and sizes `>= 0`; volume saturates at `i64::MAX` rather than wrap.

mod batch;
mod book;
mod events;
mod interval;
mod ring;
mod session;

pub use batch::{aggregate_trade_columns, aggregate_trades, BarColumns};
pub use book::{BarBook, MAX_CONTRACT_ID};
pub use interval::{IntervalBuilder, Step};
pub use ring::{BarRing, MAX_CAPACITY};
pub use session::SessionBar;

use std::fmt;

/// Longest accepted bar interval: one day (bars never span dates).
pub const MAX_INTERVAL_MS: i64 = 86_400_000;

/// One closed (or still open) time bar.
///
/// `#[repr(C)]` with no padding (64 bytes): Python reads rings of these in place through the
/// buffer protocol as a numpy structured array whose dtype mirrors this layout field by field.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Trading date, `YYYYMMDD`.
    pub date: i32,
    /// First millisecond of the bar: `[start_ms, start_ms + interval_ms)`.
    pub start_ms: i32,
    /// Price of the first trade (by time, then arrival).
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Price of the last trade (by time, then arrival).
    pub close: f64,
    /// Σ size.
    pub volume: i64,
    /// Number of trades.
    pub count: i64,
    /// `Σ price·size / Σ size`, `NaN` when the volume is 0.
    pub vwap: f64,
}

impl Bar {
    /// Byte offsets of the fields, in declaration order, for checking the numpy dtype.
    pub const FIELD_OFFSETS: [(&'static str, usize); 9] = [
        ("date", std::mem::offset_of!(Bar, date)),
        ("start_ms", std::mem::offset_of!(Bar, start_ms)),
        ("open", std::mem::offset_of!(Bar, open)),
        ("high", std::mem::offset_of!(Bar, high)),
        ("low", std::mem::offset_of!(Bar, low)),
        ("close", std::mem::offset_of!(Bar, close)),
        ("volume", std::mem::offset_of!(Bar, volume)),
        ("count", std::mem::offset_of!(Bar, count)),
        ("vwap", std::mem::offset_of!(Bar, vwap)),
    ];
}

/// One trade print, as the aggregator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// Trading date, `YYYYMMDD`.
    pub date: i32,
    /// Milliseconds since midnight.
    pub ms_of_day: i32,
    /// Trade price (finite).
    pub price: f64,
    /// Trade size (`>= 0`).
    pub size: i64,
}

impl Trade {
    /// `(date, ms_of_day)` packed so that integer order is time order (both are `>= 0`).
    #[inline]
    pub(crate) fn time_key(&self) -> u64 {
        Self::key_of(self.date, self.ms_of_day)
    }

    /// The [`time_key`](Self::time_key) of `(date, ms_of_day)` (both `>= 0`).
    #[inline]
    pub(crate) fn key_of(date: i32, ms_of_day: i32) -> u64 {
        (u64::from(date as u32) << 32) | u64::from(ms_of_day as u32)
    }
}

/// Trades as borrowed columns of equal length, validated once on construction.
#[derive(Debug, Clone, Copy)]
pub struct TradeColumns<'a> {
    date: &'a [i32],
    ms_of_day: &'a [i32],
    price: &'a [f64],
    size: &'a [i64],
}

impl<'a> TradeColumns<'a> {
    /// Checks equal lengths, `date >= 0`, `ms_of_day >= 0`, finite prices and `size >= 0`.
    pub fn new(
        date: &'a [i32],
        ms_of_day: &'a [i32],
        price: &'a [f64],
        size: &'a [i64],
    ) -> Result<Self, BarsError> {
        Self::check_lengths(date, ms_of_day, price, size)?;
        // Cheap branch-free scans first (folds, not `all`, so that they vectorize: an OR of
        // values is negative iff one is); the offending row is searched only on failure.
        let times_ok = date
            .iter()
            .zip(ms_of_day)
            .fold(0, |acc, (&d, &m)| acc | d | m)
            >= 0;
        let prices_ok = price.iter().fold(true, |ok, p| ok & p.is_finite());
        let sizes_ok = size.iter().fold(0, |acc, &s| acc | s) >= 0;
        if !(times_ok && prices_ok && sizes_ok) {
            return Err(first_invalid_row(date, ms_of_day, price, size));
        }
        Ok(Self {
            date,
            ms_of_day,
            price,
            size,
        })
    }

    /// `Ok` when the columns have equal lengths (their values unchecked).
    pub(crate) fn check_lengths(
        date: &[i32],
        ms_of_day: &[i32],
        price: &[f64],
        size: &[i64],
    ) -> Result<(), BarsError> {
        let len = date.len();
        for (column, other) in [
            ("ms_of_day", ms_of_day.len()),
            ("price", price.len()),
            ("size", size.len()),
        ] {
            if other != len {
                return Err(BarsError::LengthMismatch {
                    column,
                    len: other,
                    expected: len,
                });
            }
        }
        Ok(())
    }

    /// Number of trades.
    pub fn len(&self) -> usize {
        self.date.len()
    }

    /// `true` when there are no trades.
    pub fn is_empty(&self) -> bool {
        self.date.is_empty()
    }

    /// The rows in `range` (already validated).
    pub(crate) fn rows(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            date: &self.date[range.clone()],
            ms_of_day: &self.ms_of_day[range.clone()],
            price: &self.price[range.clone()],
            size: &self.size[range],
        }
    }

    /// The trades in row order (no per-row bounds checks).
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = Trade> + 'a {
        self.date
            .iter()
            .zip(self.ms_of_day)
            .zip(self.price)
            .zip(self.size)
            .map(|(((&date, &ms_of_day), &price), &size)| Trade {
                date,
                ms_of_day,
                price,
                size,
            })
    }

    /// The trade at `row` (`row < len()`).
    #[inline]
    pub fn get(&self, row: usize) -> Trade {
        Trade {
            date: self.date[row],
            ms_of_day: self.ms_of_day[row],
            price: self.price[row],
            size: self.size[row],
        }
    }
}

fn first_invalid_row(date: &[i32], ms_of_day: &[i32], price: &[f64], size: &[i64]) -> BarsError {
    for row in 0..date.len() {
        if date[row] < 0 {
            return BarsError::InvalidValue {
                column: "date",
                row,
                reason: "must be >= 0",
            };
        }
        if ms_of_day[row] < 0 {
            return BarsError::InvalidValue {
                column: "ms_of_day",
                row,
                reason: "must be >= 0",
            };
        }
        if !price[row].is_finite() {
            return BarsError::InvalidValue {
                column: "price",
                row,
                reason: "must be finite",
            };
        }
        if size[row] < 0 {
            return BarsError::InvalidValue {
                column: "size",
                row,
                reason: "must be >= 0",
            };
        }
    }
    BarsError::InvalidValue {
        column: "date",
        row: 0,
        reason: "is invalid",
    }
}

/// Validates one interval and returns it as `i32`.
pub(crate) fn check_interval(interval_ms: i64) -> Result<i32, BarsError> {
    if interval_ms <= 0 || interval_ms > MAX_INTERVAL_MS {
        return Err(BarsError::InvalidInterval(interval_ms));
    }
    Ok(interval_ms as i32)
}

/// Why the aggregator rejected its input. Nothing is applied when an error is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarsError {
    /// A column's length differs from the first column's.
    LengthMismatch {
        column: &'static str,
        len: usize,
        expected: usize,
    },
    /// A value that no trade can have (negative time or size, non-finite price).
    InvalidValue {
        column: &'static str,
        row: usize,
        reason: &'static str,
    },
    /// `interval_ms` outside `1..=86_400_000`.
    InvalidInterval(i64),
    /// The same interval configured twice.
    DuplicateInterval(i64),
    /// No intervals configured.
    NoIntervals,
    /// Ring capacity outside `1..=MAX_CAPACITY`.
    InvalidCapacity(i64),
    /// A contract id above [`MAX_CONTRACT_ID`].
    ContractIdTooLarge { row: usize, contract_id: u32 },
    /// An interval the book was not configured with.
    UnknownInterval(i64),
    /// More rows than the batch path can index (`u32::MAX`).
    TooManyRows(usize),
}

impl fmt::Display for BarsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch {
                column,
                len,
                expected,
            } => write!(
                f,
                "{column} has {len} rows, expected {expected} (all columns must have equal length)"
            ),
            Self::InvalidValue {
                column,
                row,
                reason,
            } => write!(f, "{column}[{row}] {reason}"),
            Self::InvalidInterval(ms) => {
                write!(f, "interval_ms must be in 1..={MAX_INTERVAL_MS}, got {ms}")
            }
            Self::DuplicateInterval(ms) => write!(f, "interval_ms {ms} is configured twice"),
            Self::NoIntervals => f.write_str("at least one interval is required"),
            Self::InvalidCapacity(c) => {
                write!(f, "capacity must be in 1..={MAX_CAPACITY}, got {c}")
            }
            Self::ContractIdTooLarge { row, contract_id } => write!(
                f,
                "contract_id[{row}] = {contract_id} exceeds the maximum {MAX_CONTRACT_ID}"
            ),
            Self::UnknownInterval(ms) => write!(f, "interval_ms {ms} is not configured"),
            Self::TooManyRows(n) => write!(f, "{n} rows exceed the batch limit of {}", u32::MAX),
        }
    }
}

impl std::error::Error for BarsError {}
