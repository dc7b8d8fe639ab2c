//! The batch aggregator for backtests and research: columns of trades in, columns of bars out.

mod ordered;
mod sink;

use super::{check_interval, Bar, BarsError, IntervalBuilder, Step, TradeColumns};
use ordered::{Failure, Input};

/// Bars as columns, one row per non-empty `(group, date, bucket)`, sorted by group, then time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarColumns {
    /// The group of each bar; `None` when the input had no groups.
    pub group: Option<Vec<i64>>,
    pub date: Vec<i32>,
    pub start_ms: Vec<i32>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<i64>,
    pub count: Vec<i64>,
    pub vwap: Vec<f64>,
}

impl BarColumns {
    fn with_capacity(rows: usize, grouped: bool) -> Self {
        Self {
            group: grouped.then(|| Vec::with_capacity(rows)),
            date: Vec::with_capacity(rows),
            start_ms: Vec::with_capacity(rows),
            open: Vec::with_capacity(rows),
            high: Vec::with_capacity(rows),
            low: Vec::with_capacity(rows),
            close: Vec::with_capacity(rows),
            volume: Vec::with_capacity(rows),
            count: Vec::with_capacity(rows),
            vwap: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, group: i64, bar: &Bar) {
        if let Some(g) = &mut self.group {
            g.push(group);
        }
        self.date.push(bar.date);
        self.start_ms.push(bar.start_ms);
        self.open.push(bar.open);
        self.high.push(bar.high);
        self.low.push(bar.low);
        self.close.push(bar.close);
        self.volume.push(bar.volume);
        self.count.push(bar.count);
        self.vwap.push(bar.vwap);
    }

    /// Number of bars.
    pub fn len(&self) -> usize {
        self.date.len()
    }

    /// `true` when there are no bars.
    pub fn is_empty(&self) -> bool {
        self.date.is_empty()
    }

    /// Bar `row` (`row < len()`).
    pub fn bar(&self, row: usize) -> Bar {
        Bar {
            date: self.date[row],
            start_ms: self.start_ms[row],
            open: self.open[row],
            high: self.high[row],
            low: self.low[row],
            close: self.close[row],
            volume: self.volume[row],
            count: self.count[row],
            vwap: self.vwap[row],
        }
    }
}

/// Aggregates trades into bars of `interval_ms`, per group (`group[row]`, any `i64`) or as one
/// series when `group` is `None`.
///
/// The result is what the streaming [`BarBook`](super::BarBook) produces (then flushed) when fed
/// the trades stably sorted by `(group, date, ms_of_day)`: ties keep input order, which defines
/// open and close among equal timestamps. Input need not be sorted; when every group's trades
/// are already in time order (e.g. one tape in time order, contracts interleaved) no sort is
/// done at all, and large inputs are split across the available cores; otherwise row indices
/// are sorted. The result never depends on the number of cores.
pub fn aggregate_trades(
    trades: &TradeColumns<'_>,
    group: Option<&[i64]>,
    interval_ms: i64,
) -> Result<BarColumns, BarsError> {
    let input = Input {
        date: trades.date,
        ms_of_day: trades.ms_of_day,
        price: trades.price,
        size: trades.size,
        group,
        checked: true,
    };
    aggregate(&input, interval_ms, available_threads())
}

/// [`aggregate_trades`] over columns not yet validated: the values are checked on the way,
/// chunk by chunk, instead of in a pass of their own ([`TradeColumns::new`]); the errors are
/// the same, with the same precedence (lengths, then values, then the interval and `group`).
pub fn aggregate_trade_columns(
    date: &[i32],
    ms_of_day: &[i32],
    price: &[f64],
    size: &[i64],
    group: Option<&[i64]>,
    interval_ms: i64,
) -> Result<BarColumns, BarsError> {
    TradeColumns::check_lengths(date, ms_of_day, price, size)?;
    let input = Input {
        date,
        ms_of_day,
        price,
        size,
        group,
        checked: false,
    };
    aggregate(&input, interval_ms, available_threads())
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The columns of `input` as validated [`TradeColumns`], or the first invalid value.
fn validated<'a>(input: &Input<'a>) -> Result<TradeColumns<'a>, BarsError> {
    TradeColumns::new(input.date, input.ms_of_day, input.price, input.size)
}

/// [`aggregate_trades`] with at most `threads` threads (of equal result whatever the count).
fn aggregate(input: &Input<'_>, interval_ms: i64, threads: usize) -> Result<BarColumns, BarsError> {
    let rows = input.date.len();
    let checks = check_interval(interval_ms).and_then(|interval| {
        if rows > u32::MAX as usize {
            return Err(BarsError::TooManyRows(rows));
        }
        match input.group {
            Some(group) if group.len() != rows => Err(BarsError::LengthMismatch {
                column: "group",
                len: group.len(),
                expected: rows,
            }),
            _ => Ok(interval),
        }
    });
    let interval_ms = match checks {
        Ok(interval) => interval,
        Err(e) => {
            // Invalid values take precedence, as when the columns are validated first.
            if !input.checked {
                validated(input)?;
            }
            return Err(e);
        }
    };
    let parts = ordered::parts_for(rows, threads);
    match ordered::aggregate(input, interval_ms, parts) {
        Ok(bars) => Ok(bars),
        Err(Failure::Invalid) => {
            Err(validated(input).expect_err("the ordered path saw an invalid value"))
        }
        Err(Failure::Unordered) => {
            let trades = validated(input)?;
            Ok(sorted(&trades, &Groups::new(input.group), interval_ms))
        }
    }
}

/// Maps group values to ranks `0..count` in value order.
enum Groups<'a> {
    One,
    /// Values span a range not much larger than the row count: rank = value - min.
    Dense {
        values: &'a [i64],
        min: i64,
        span: usize,
    },
    /// Sparse values: rank = position among the sorted distinct values.
    Sparse {
        values: &'a [i64],
        distinct: Vec<i64>,
    },
}

impl<'a> Groups<'a> {
    fn new(values: Option<&'a [i64]>) -> Self {
        let Some(values) = values else {
            return Groups::One;
        };
        let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
            // No rows, but still grouped output (an empty `group` column).
            return Groups::Sparse {
                values,
                distinct: Vec::new(),
            };
        };
        let span = i128::from(max) - i128::from(min) + 1;
        let dense_limit = (values.len() as i128 + 4096).min(i128::from(u32::MAX));
        if span <= dense_limit {
            return Groups::Dense {
                values,
                min,
                span: span as usize,
            };
        }
        let mut distinct = values.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        Groups::Sparse { values, distinct }
    }

    fn count(&self) -> usize {
        match self {
            Groups::One => 1,
            Groups::Dense { span, .. } => *span,
            Groups::Sparse { distinct, .. } => distinct.len(),
        }
    }

    #[inline]
    fn rank(&self, row: usize) -> usize {
        match self {
            Groups::One => 0,
            Groups::Dense { values, min, .. } => values[row].wrapping_sub(*min) as usize,
            Groups::Sparse { values, distinct } => distinct.partition_point(|&v| v < values[row]),
        }
    }

    fn value(&self, rank: usize) -> i64 {
        match self {
            Groups::One => 0,
            Groups::Dense { min, .. } => min.wrapping_add(rank as i64),
            Groups::Sparse { distinct, .. } => distinct[rank],
        }
    }

    fn grouped(&self) -> bool {
        !matches!(self, Groups::One)
    }
}

/// Row order for the general case: stable counting sort by group rank, then each group's rows
/// sorted by time unless already in order; ties keep input order.
fn sorted_rows(trades: &TradeColumns<'_>, groups: &Groups<'_>) -> Vec<u32> {
    let mut start = vec![0_usize; groups.count() + 1];
    for row in 0..trades.len() {
        start[groups.rank(row) + 1] += 1;
    }
    for rank in 0..groups.count() {
        start[rank + 1] += start[rank];
    }
    let mut next = start.clone();
    let mut order = vec![0_u32; trades.len()];
    for row in 0..trades.len() {
        let rank = groups.rank(row);
        order[next[rank]] = row as u32;
        next[rank] += 1;
    }
    let mut keys: Vec<u128> = Vec::new();
    for segment in start.windows(2) {
        let rows = &mut order[segment[0]..segment[1]];
        let in_order = rows
            .windows(2)
            .all(|w| trades.get(w[0] as usize).time_key() <= trades.get(w[1] as usize).time_key());
        if in_order {
            continue;
        }
        // Time then row: unique keys, so the unstable sort yields the stable order.
        keys.clear();
        keys.extend(
            rows.iter().map(|&row| {
                (u128::from(trades.get(row as usize).time_key()) << 32) | u128::from(row)
            }),
        );
        keys.sort_unstable();
        for (slot, key) in rows.iter_mut().zip(&keys) {
            *slot = *key as u32;
        }
    }
    order
}

/// Aggregates the rows in (group rank, time, row) order.
fn sorted(trades: &TradeColumns<'_>, groups: &Groups<'_>, interval_ms: i32) -> BarColumns {
    let order = sorted_rows(trades, groups);
    let mut out = BarColumns::with_capacity(order.len() / 4, groups.grouped());
    let mut current: Option<(usize, IntervalBuilder)> = None;
    for row in order {
        let row = row as usize;
        let rank = groups.rank(row);
        if current.as_ref().is_none_or(|(r, _)| *r != rank) {
            if let Some((r, mut builder)) = current.take() {
                if let Some(bar) = builder.finish() {
                    out.push(groups.value(r), &bar);
                }
            }
            let builder = IntervalBuilder::new(i64::from(interval_ms)).expect("checked");
            current = Some((rank, builder));
        }
        if let Some((r, builder)) = &mut current {
            if let Step::Closed(bar) = builder.on_trade(&trades.get(row)) {
                out.push(groups.value(*r), &bar);
            }
        }
    }
    if let Some((r, mut builder)) = current {
        if let Some(bar) = builder.finish() {
            out.push(groups.value(r), &bar);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unreadable_literal)] // YYYYMMDD dates read best without separators
mod tests {
    use super::super::{BarBook, Trade};
    use super::*;
    use ordered::Passes;

    struct Rows {
        group: Vec<i64>,
        date: Vec<i32>,
        ms: Vec<i32>,
        price: Vec<f64>,
        size: Vec<i64>,
    }

    fn rows(data: &[(i64, i32, i32, f64, i64)]) -> Rows {
        Rows {
            group: data.iter().map(|r| r.0).collect(),
            date: data.iter().map(|r| r.1).collect(),
            ms: data.iter().map(|r| r.2).collect(),
            price: data.iter().map(|r| r.3).collect(),
            size: data.iter().map(|r| r.4).collect(),
        }
    }

    fn run(r: &Rows, grouped: bool, interval_ms: i64) -> BarColumns {
        let trades = TradeColumns::new(&r.date, &r.ms, &r.price, &r.size).unwrap();
        aggregate_trades(&trades, grouped.then_some(&r.group[..]), interval_ms).unwrap()
    }

    /// Bars as comparable tuples (vwap as bits, NaN included).
    fn tuples(b: &BarColumns) -> Vec<(i64, i32, i32, [u64; 5], i64, i64)> {
        (0..b.len())
            .map(|i| {
                let bar = b.bar(i);
                let g = b.group.as_ref().map_or(0, |g| g[i]);
                let prices = [bar.open, bar.high, bar.low, bar.close, bar.vwap].map(f64::to_bits);
                (g, bar.date, bar.start_ms, prices, bar.volume, bar.count)
            })
            .collect()
    }

    #[test]
    fn one_series_with_ties_and_date_change() {
        let r = rows(&[
            (0, 1, 1000, 10.0, 1),
            (0, 1, 1000, 11.0, 1), // tie: later arrival is the close
            (0, 1, 3500, 12.0, 2),
            (0, 2, 0, 13.0, 0),
        ]);
        let b = run(&r, false, 1000);
        assert_eq!(b.group, None);
        assert_eq!(b.date, [1, 1, 2]);
        assert_eq!(b.start_ms, [1000, 3000, 0]);
        assert_eq!(b.open, [10.0, 12.0, 13.0]);
        assert_eq!(b.close, [11.0, 12.0, 13.0]);
        assert_eq!(b.volume, [2, 2, 0]);
        assert_eq!(b.count, [2, 1, 1]);
        assert_eq!(b.vwap[..2], [10.5, 12.0]);
        assert!(b.vwap[2].is_nan());
    }

    #[test]
    fn unsorted_input_is_sorted_stably() {
        let sorted_rows = rows(&[
            (-5, 1, 100, 1.0, 1),
            (-5, 1, 100, 2.0, 1),
            (-5, 1, 2100, 3.0, 1),
            (7, 1, 50, 4.0, 1),
            (7, 1, 60, 5.0, 1),
        ]);
        let shuffled = rows(&[
            (7, 1, 60, 5.0, 1),
            (-5, 1, 2100, 3.0, 1),
            (-5, 1, 100, 1.0, 1),
            (7, 1, 50, 4.0, 1),
            (-5, 1, 100, 2.0, 1),
        ]);
        let expected = run(&sorted_rows, true, 1000);
        assert_eq!(expected.group, Some(vec![-5, -5, 7]));
        assert_eq!(expected.open, [1.0, 3.0, 4.0]);
        assert_eq!(expected.close, [2.0, 3.0, 5.0]);
        assert_eq!(tuples(&run(&shuffled, true, 1000)), tuples(&expected));
    }

    #[test]
    fn sparse_groups() {
        let r = rows(&[
            (i64::MAX, 1, 0, 1.0, 1),
            (i64::MIN, 1, 0, 2.0, 1),
            (0, 1, 0, 3.0, 1),
            (i64::MAX, 1, 0, 4.0, 1),
        ]);
        let b = run(&r, true, 1000);
        assert_eq!(b.group, Some(vec![i64::MIN, 0, i64::MAX]));
        assert_eq!(b.close, [2.0, 3.0, 4.0]);
        assert_eq!(b.count, [1, 1, 2]);
    }

    #[test]
    fn empty_and_invalid_input() {
        let r = rows(&[]);
        assert_eq!(run(&r, true, 1000).group, Some(vec![]));
        assert!(run(&r, true, 1000).is_empty());
        assert_eq!(run(&r, false, 1000).group, None);
        let trades = TradeColumns::new(&r.date, &r.ms, &r.price, &r.size).unwrap();
        assert_eq!(
            aggregate_trades(&trades, None, 0).unwrap_err(),
            BarsError::InvalidInterval(0)
        );
        assert_eq!(
            aggregate_trades(&trades, Some(&[1]), 1000)
                .unwrap_err()
                .to_string(),
            "group has 1 rows, expected 0 (all columns must have equal length)"
        );
    }

    /// A small deterministic generator (no clock, no external crate needed here).
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    }

    #[test]
    fn batch_equals_streaming_fed_in_time_order() {
        let mut seed = 42;
        let mut data = Vec::new();
        for _ in 0..3000 {
            let date = 20250321 + (lcg(&mut seed) % 2) as i32;
            let ms = (lcg(&mut seed) % 20_000) as i32;
            let price = (lcg(&mut seed) % 1000) as f64 / 100.0;
            data.push((
                (lcg(&mut seed) % 5) as i64,
                date,
                ms,
                price,
                (lcg(&mut seed) % 4) as i64,
            ));
        }
        let r = rows(&data);
        for interval_ms in [1, 250, 1000, 60_000] {
            let batch = run(&r, true, interval_ms);
            // Stream in global time order (stable), then flush everything.
            let mut order: Vec<usize> = (0..data.len()).collect();
            order.sort_by_key(|&i| (data[i].1, data[i].2));
            let mut book = BarBook::new(&[interval_ms], 4096).unwrap();
            for &i in &order {
                let (g, date, ms_of_day, price, size) = data[i];
                book.update_trade(
                    g as u32,
                    Trade {
                        date,
                        ms_of_day,
                        price,
                        size,
                    },
                )
                .unwrap();
            }
            assert_eq!(book.late_trades(), &[0]);
            book.flush(i32::MAX, 0);
            let mut streamed = BarColumns::with_capacity(0, true);
            for g in 0..5 {
                for bar in book.ring(g, interval_ms).unwrap().unwrap().as_slice() {
                    streamed.push(i64::from(g), bar);
                }
            }
            assert_eq!(tuples(&streamed), tuples(&batch), "interval {interval_ms}");
            // The unsorted input took the sorting path; the sorted one must agree too.
            let sorted_rows = rows(&order.iter().map(|&i| data[i]).collect::<Vec<_>>());
            assert_eq!(
                tuples(&run(&sorted_rows, true, interval_ms)),
                tuples(&batch)
            );
        }
    }

    /// Time-ordered trades of `groups` groups, laid out as `layout` says, with ties, gaps of
    /// several buckets, a date change and zero sizes.
    fn ordered_tape(seed: u64, rows: usize, groups: i64, group_major: bool) -> Rows {
        let mut seed = seed;
        let mut data: Vec<(i64, i32, i32, f64, i64)> = Vec::with_capacity(rows);
        let mut clock = vec![(20250321, 0_i32); groups as usize];
        for n in 0..rows {
            let g = if group_major {
                (n * groups as usize / rows.max(1)) as i64
            } else {
                (lcg(&mut seed) % groups as u64) as i64
            };
            let (date, ms) = &mut clock[g as usize];
            match lcg(&mut seed) % 8 {
                0 => {} // a tie
                1 => *ms += (lcg(&mut seed) % 5000) as i32,
                2 if lcg(&mut seed) % 50 == 0 => {
                    *date += 1;
                    *ms = (lcg(&mut seed) % 3) as i32;
                }
                _ => *ms += (lcg(&mut seed) % 40) as i32,
            }
            let price = (lcg(&mut seed) % 1000) as f64 / 8.0 - 20.0;
            data.push((g * 1000 - 7, *date, *ms, price, (lcg(&mut seed) % 4) as i64));
        }
        rows_of(&data)
    }

    fn rows_of(data: &[(i64, i32, i32, f64, i64)]) -> Rows {
        rows(data)
    }

    fn input(r: &Rows, grouped: bool, checked: bool) -> Input<'_> {
        Input {
            date: &r.date,
            ms_of_day: &r.ms,
            price: &r.price,
            size: &r.size,
            group: grouped.then_some(&r.group[..]),
            checked,
        }
    }

    #[test]
    fn any_split_into_parts_gives_the_sorting_paths_bars() {
        for (seed, rows, groups, group_major) in [
            (1, 5000, 7, false),
            (2, 3000, 1, false),
            (3, 4000, 40, true),
            (4, 60, 3, false),
            (5, 3, 2, false),
            (6, 0, 1, false),
        ] {
            let r = ordered_tape(seed, rows, groups, group_major);
            // As one series, only a one-group tape is in time order.
            for grouped in [true, groups > 1] {
                let trades = TradeColumns::new(&r.date, &r.ms, &r.price, &r.size).unwrap();
                let group = grouped.then_some(&r.group[..]);
                for interval_ms in [1, 7, 1000, 60_000, 86_400_000] {
                    let expected = sorted(&trades, &Groups::new(group), interval_ms);
                    for parts in [1, 2, 3, 5, 16] {
                        for (checked, passes) in [true, false]
                            .into_iter()
                            .flat_map(|c| [(c, Passes::One), (c, Passes::Two)])
                        {
                            let bars = ordered::aggregate_with(
                                &input(&r, grouped, checked),
                                interval_ms,
                                parts,
                                passes,
                            )
                            .unwrap();
                            assert_eq!(
                                tuples(&bars),
                                tuples(&expected),
                                "seed {seed}, grouped {grouped}, interval {interval_ms}, {parts} parts, {passes:?}"
                            );
                            assert_eq!(bars.group.is_some(), grouped);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_step_back_in_any_part_or_across_parts_falls_back_to_sorting() {
        let r = ordered_tape(9, 2000, 5, false);
        for at in [1, 700, 1000, 1001, 1999] {
            let mut shuffled = rows_of(
                &(0..r.date.len())
                    .map(|i| (r.group[i], r.date[i], r.ms[i], r.price[i], r.size[i]))
                    .collect::<Vec<_>>(),
            );
            // Move a row of the group of row `at` to before its earlier rows.
            let g = shuffled.group[at];
            let earlier = (0..at).rev().find(|&i| {
                shuffled.group[i] == g
                    && (shuffled.date[i], shuffled.ms[i]) < (shuffled.date[at], shuffled.ms[at])
            });
            let Some(earlier) = earlier else { continue };
            shuffled.ms.swap(earlier, at);
            shuffled.date.swap(earlier, at);
            for parts in [1, 2, 3] {
                for passes in [Passes::One, Passes::Two] {
                    let failure =
                        ordered::aggregate_with(&input(&shuffled, true, true), 1000, parts, passes);
                    assert_eq!(
                        failure.unwrap_err(),
                        Failure::Unordered,
                        "row {at}, {parts} parts, {passes:?}"
                    );
                }
            }
            let expected = run(&shuffled, true, 1000);
            let trades = TradeColumns::new(
                &shuffled.date,
                &shuffled.ms,
                &shuffled.price,
                &shuffled.size,
            )
            .unwrap();
            assert_eq!(
                tuples(&sorted(&trades, &Groups::new(Some(&shuffled.group)), 1000)),
                tuples(&expected)
            );
        }
    }

    #[test]
    fn unchecked_columns_give_the_first_invalid_value() {
        let r = ordered_tape(11, 3000, 4, false);
        let cases: [(&str, usize); 6] = [
            ("price", 2999),
            ("size", 1500),
            ("ms_of_day", 2000),
            ("date", 10),
            ("price", 0),
            ("size", 1499),
        ];
        for (column, row) in cases {
            let mut bad = rows_of(
                &(0..r.date.len())
                    .map(|i| (r.group[i], r.date[i], r.ms[i], r.price[i], r.size[i]))
                    .collect::<Vec<_>>(),
            );
            match column {
                "price" => bad.price[row] = f64::NAN,
                "size" => bad.size[row] = -1,
                "ms_of_day" => bad.ms[row] = -5,
                _ => bad.date[row] = -1,
            }
            let expected =
                TradeColumns::new(&bad.date, &bad.ms, &bad.price, &bad.size).unwrap_err();
            for parts in [1, 2, 3] {
                let input = input(&bad, true, false);
                for passes in [Passes::One, Passes::Two] {
                    assert_eq!(
                        ordered::aggregate_with(&input, 1000, parts, passes).unwrap_err(),
                        Failure::Invalid
                    );
                }
                assert_eq!(aggregate(&input, 1000, parts).unwrap_err(), expected);
            }
            assert_eq!(
                aggregate_trade_columns(
                    &bad.date,
                    &bad.ms,
                    &bad.price,
                    &bad.size,
                    Some(&bad.group),
                    1000
                )
                .unwrap_err(),
                expected
            );
            // Values first, then the interval and the group column.
            assert_eq!(
                aggregate_trade_columns(&bad.date, &bad.ms, &bad.price, &bad.size, None, 0)
                    .unwrap_err(),
                expected
            );
            assert_eq!(
                aggregate_trade_columns(
                    &bad.date,
                    &bad.ms,
                    &bad.price,
                    &bad.size,
                    Some(&[1]),
                    1000
                )
                .unwrap_err(),
                expected
            );
        }
        assert_eq!(
            aggregate_trade_columns(&[1], &[2, 3], &[1.0], &[1], None, 1000).unwrap_err(),
            BarsError::LengthMismatch {
                column: "ms_of_day",
                len: 2,
                expected: 1
            }
        );
        assert_eq!(
            aggregate_trade_columns(&[1], &[2], &[1.0], &[1], Some(&[]), 1000).unwrap_err(),
            BarsError::LengthMismatch {
                column: "group",
                len: 0,
                expected: 1
            }
        );
    }
}
