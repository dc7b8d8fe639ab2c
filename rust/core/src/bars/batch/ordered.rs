//! The batch path for trades already in time order within each group (the usual tape: one
//! feed's trades, contracts interleaved): no sort, two passes over the rows, each split into
//! parts (ranges of rows) that run on their own threads.
//!
//! Where bars are sparse (fewer than one per [`ONE_PASS_BELOW`] trades on the first rows: minute
//! bars of a busy tape), one pass does both: each part gathers its groups' bars in lists, and
//! they are copied into place afterwards (a small copy, where reading the trades twice was half
//! the time). Where they are dense, two passes:
//!
//! 1. **Count.** Per part and group: the buckets its trades fall in, checking that the group's
//!    times never go back. The parts together give every group's number of bars, so the output
//!    columns are allocated once at their exact size ([`Sink`]) and each element is written
//!    once, in its final (group-major) row.
//! 2. **Aggregate.** Per part, bars straight into their rows. A bucket of a group that straddles
//!    parts (the last of one part, the first of the next) must be summed in row order, as one
//!    builder would (vwap bit for bit): the earlier part keeps its open bar, the later part skips
//!    that bucket's rows, and afterwards those rows are replayed onto the kept bar, boundary by
//!    boundary. Those rows are few (one bucket per group) unless a bucket spans most of a part.
//!
//! Values (times, prices, sizes) are checked chunk by chunk just before they are used, while
//! the chunk is in cache, rather than in a pass of their own.

use std::ops::Range;

use super::super::interval::vwap;
use super::super::Trade;
use super::sink::{Filled, Row, Sink, Window};
use super::BarColumns;

/// Rows checked for invalid values at a time, just before they are aggregated.
const CHUNK: usize = 4096;
/// Fewest rows worth a thread of their own.
const MIN_PART_ROWS: usize = 1 << 17;
/// One pass when the first [`SAMPLE_ROWS`] rows hold fewer bars than one per this many trades.
const ONE_PASS_BELOW: usize = 32;
const SAMPLE_ROWS: usize = 1 << 16;
const UNSEEN: u32 = u32::MAX;

/// Why the ordered path gave up (nothing is returned then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// A group's times go back somewhere: sort first.
    Unordered,
    /// An invalid value (only looked for when the input is not `checked`).
    Invalid,
}

/// The input columns, of equal length; `checked` when their values are known to be valid.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub date: &'a [i32],
    pub ms_of_day: &'a [i32],
    pub price: &'a [f64],
    pub size: &'a [i64],
    pub group: Option<&'a [i64]>,
    pub checked: bool,
}

/// How many parts to split `rows` into, with `threads` available.
pub(super) fn parts_for(rows: usize, threads: usize) -> usize {
    (rows / MIN_PART_ROWS).clamp(1, threads.max(1))
}

/// How the rows are read (the result is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Passes {
    /// Bars gathered per group, then copied into place.
    One,
    /// A count, then each bar written once in place.
    Two,
}

/// Aggregates `input` in `parts` parts (one thread each), or fails without output.
pub(super) fn aggregate(
    input: &Input<'_>,
    interval_ms: i32,
    parts: usize,
) -> Result<BarColumns, Failure> {
    let passes = passes_for(input, u64::from(interval_ms as u32));
    aggregate_with(input, interval_ms, parts, passes)
}

/// One pass if the first rows hold few bars (a failure there is left to the two passes).
fn passes_for(input: &Input<'_>, interval: u64) -> Passes {
    let sample = 0..input.date.len().min(SAMPLE_ROWS);
    match count_part(input, sample.clone(), interval) {
        Ok(counted) => {
            let bars: usize = counted.counts.iter().map(|c| c.buckets as usize).sum();
            if bars * ONE_PASS_BELOW < sample.len() {
                Passes::One
            } else {
                Passes::Two
            }
        }
        Err(_) => Passes::Two,
    }
}

/// [`aggregate`] the way `passes` says.
pub(super) fn aggregate_with(
    input: &Input<'_>,
    interval_ms: i32,
    parts: usize,
    passes: Passes,
) -> Result<BarColumns, Failure> {
    let rows = input.date.len();
    let parts = parts.max(1);
    let interval = u64::from(interval_ms as u32);
    let ranges: Vec<Range<usize>> = (0..parts)
        .map(|p| rows * p / parts..rows * (p + 1) / parts)
        .collect();
    let split = Split {
        input,
        ranges: &ranges,
        interval,
    };
    if passes == Passes::One {
        return aggregate_in_one_pass(&split);
    }
    let counted = run_each(ranges.clone(), |range| count_part(input, range, interval))?;
    let plan = Plan::new(&counted)?;
    let mut sink = Sink::new(plan.rows, input.group.is_some());
    let mut windows = sink.windows(&plan.lengths).into_iter();
    // Each part gets a window per group; each bucket continued across parts a one-row window.
    let mut outs: Vec<Vec<Option<Out<'_>>>> = counted.iter().map(|c| empty(c.slots())).collect();
    let mut merges: Vec<Vec<Option<Window<'_>>>> =
        counted.iter().map(|c| empty(c.slots())).collect();
    for segment in &plan.segments {
        let window = windows.next().expect("one window per segment");
        let (p, s) = (segment.part, segment.slot);
        if segment.merge {
            merges[p][s] = Some(window);
        } else {
            outs[p][s] = Some(Out {
                window,
                group: counted[p].value(s),
                skip: true,
                keep: plan.kept[p][s],
            });
        }
    }
    let jobs: Vec<_> = ranges
        .iter()
        .cloned()
        .zip(&counted)
        .zip(outs)
        .enumerate()
        .map(|(p, ((range, counted), outs))| {
            let outs: Vec<Out<'_>> = outs.into_iter().map(|o| o.expect("a window")).collect();
            (p, range, counted, outs)
        })
        .collect();
    let done = run_each(jobs, |(p, range, counted, outs)| {
        aggregate_part(input, range, counted, &plan.continued[p], outs, interval)
    })?;
    let mut kept = Vec::with_capacity(parts);
    let mut filled = Vec::new();
    for (part_kept, part_filled) in done {
        kept.push(part_kept);
        filled.extend(part_filled);
    }
    split.replay_boundaries(&counted, &plan, kept, merges, &mut filled);
    Ok(sink.finish(&filled))
}

/// What both paths work on: the input, its parts (ranges of rows, one thread each) and the
/// bar interval.
struct Split<'s, 'a> {
    input: &'s Input<'a>,
    ranges: &'s [Range<usize>],
    interval: u64,
}

impl Split<'_, '_> {
    /// Finishes the buckets continued across parts, boundary by boundary in order (see
    /// [`Boundary::replay`]), with the bars kept open and the merge windows, which end here
    /// (the windows borrow the sink, which can finish once they are gone).
    fn replay_boundaries(
        &self,
        counted: &[Counted],
        plan: &Plan,
        mut kept: Vec<Vec<Option<Acc>>>,
        mut merges: Vec<Vec<Option<Window<'_>>>>,
        filled: &mut Vec<Filled>,
    ) {
        for t in 1..self.ranges.len() {
            let boundary = Boundary {
                part: t,
                rows: self.ranges[t].clone(),
                counted: &counted[t],
                plan,
                interval: self.interval,
            };
            boundary.replay(self.input, &mut kept, &mut merges[t], filled);
        }
    }
}

fn empty<T>(n: usize) -> Vec<Option<T>> {
    (0..n).map(|_| None).collect()
}

/// Runs `f` on every job, the first on this thread and the others on threads of their own.
fn run_each<J: Send, T: Send>(
    jobs: Vec<J>,
    f: impl Fn(J) -> Result<T, Failure> + Sync,
) -> Result<Vec<T>, Failure> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Ok(Vec::new());
    };
    let f = &f;
    std::thread::scope(|s| {
        let others: Vec<_> = jobs.map(|job| s.spawn(move || f(job))).collect();
        let mut results = vec![f(first)];
        for handle in others {
            results.push(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        results.into_iter().collect()
    })
}

/// How one part's group values map to indices of its per-group tables.
enum Index {
    /// No groups: one series.
    One,
    /// Values span a range not much larger than the part: index = value - min.
    Dense { min: i64, span: usize },
    /// Sparse values: index = position among the sorted distinct values.
    Sparse { distinct: Vec<i64> },
}

impl Index {
    fn of(values: Option<&[i64]>) -> Self {
        let Some(values) = values else {
            return Index::One;
        };
        let (min, max) = values
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if values.is_empty() {
            return Index::Dense { min: 0, span: 0 };
        }
        let span = i128::from(max) - i128::from(min) + 1;
        if span <= (values.len() as i128 + 4096).min(i128::from(UNSEEN)) {
            return Index::Dense {
                min,
                span: span as usize,
            };
        }
        let mut distinct = values.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        Index::Sparse { distinct }
    }

    fn len(&self) -> usize {
        match self {
            Index::One => 1,
            Index::Dense { span, .. } => *span,
            Index::Sparse { distinct } => distinct.len(),
        }
    }

    fn value(&self, index: u32) -> i64 {
        match self {
            Index::One => 0,
            Index::Dense { min, .. } => min.wrapping_add(i64::from(index)),
            Index::Sparse { distinct } => distinct[index as usize],
        }
    }
}

/// The index of row `i` of a chunk (`groups` is the chunk's group values, empty without groups).
trait Rank: Sync {
    fn rank(&self, groups: &[i64], i: usize) -> usize;
}

struct OneRank;
struct DenseRank(i64);
struct SparseRank<'a>(&'a [i64]);

impl Rank for OneRank {
    #[inline]
    fn rank(&self, _: &[i64], _: usize) -> usize {
        0
    }
}

impl Rank for DenseRank {
    #[inline]
    fn rank(&self, groups: &[i64], i: usize) -> usize {
        groups[i].wrapping_sub(self.0) as usize
    }
}

impl Rank for SparseRank<'_> {
    #[inline]
    fn rank(&self, groups: &[i64], i: usize) -> usize {
        self.0.partition_point(|&v| v < groups[i])
    }
}

/// Runs `$body` with `$r` bound to the [`Rank`] of `$index` (monomorphised per kind).
macro_rules! with_rank {
    ($index:expr, $r:ident => $body:expr) => {
        match $index {
            Index::One => {
                let $r = OneRank;
                $body
            }
            Index::Dense { min, .. } => {
                let $r = DenseRank(*min);
                $body
            }
            Index::Sparse { distinct } => {
                let $r = SparseRank(distinct);
                $body
            }
        }
    };
}

/// One chunk of rows of the input.
struct Chunk<'a> {
    start: usize,
    date: &'a [i32],
    ms_of_day: &'a [i32],
    price: &'a [f64],
    size: &'a [i64],
    groups: &'a [i64],
}

impl<'a> Chunk<'a> {
    /// The chunks of `rows`, in order.
    fn all(input: &Input<'a>, rows: Range<usize>) -> impl Iterator<Item = Chunk<'a>> {
        let input = *input;
        (rows.start..rows.end).step_by(CHUNK).map(move |start| {
            let end = (start + CHUNK).min(rows.end);
            Chunk {
                start,
                date: &input.date[start..end],
                ms_of_day: &input.ms_of_day[start..end],
                price: &input.price[start..end],
                size: &input.size[start..end],
                groups: input.group.map_or(&[][..], |g| &g[start..end]),
            }
        })
    }

    /// `false` when a time is negative. Branch-free so that it vectorises: an OR of values is
    /// negative iff one of them is.
    fn times_valid(&self) -> bool {
        self.date
            .iter()
            .zip(self.ms_of_day)
            .fold(0, |acc, (&d, &m)| acc | d | m)
            >= 0
    }

    /// `false` when a value is invalid (see the two checks above and below).
    fn valid(&self) -> bool {
        self.times_valid() && self.prices_and_sizes_valid()
    }

    /// `false` when a price is not finite or a size is negative.
    fn prices_and_sizes_valid(&self) -> bool {
        self.price.iter().fold(true, |ok, p| ok & p.is_finite())
            && self.size.iter().fold(0, |acc, &s| acc | s) >= 0
    }
}

/// What the count pass learns about one group in one part.
#[derive(Debug, Clone, Copy)]
struct Count {
    first_key: u64,
    last_key: u64,
    /// End (exclusive) of the first bucket, as a time key.
    head_end: u64,
    /// End (exclusive) of the latest bucket.
    end: u64,
    /// Row of the group's first trade after its first bucket (the part's end if none).
    head_rows_end: usize,
    buckets: u32,
}

impl Count {
    fn new(part_end: usize) -> Self {
        Self {
            first_key: 0,
            last_key: 0,
            head_end: 0,
            end: 0,
            head_rows_end: part_end,
            buckets: 0,
        }
    }

    #[inline(never)]
    fn open_bucket(&mut self, key: u64, row: usize, interval: u64) {
        let end = bucket_start(key, interval) + interval;
        match self.buckets {
            0 => {
                self.first_key = key;
                self.head_end = end;
            }
            1 => self.head_rows_end = row,
            _ => {}
        }
        self.buckets += 1;
        self.end = end;
    }
}

/// The time key of the start of the bucket holding `key`.
#[inline]
fn bucket_start(key: u64, interval: u64) -> u64 {
    // The low 32 bits are `ms_of_day` (>= 0): u32 division is the cheapest.
    key - u64::from(key as u32 % interval as u32)
}

/// One part after the count pass: its groups ("slots", in order of appearance) and counts.
struct Counted {
    index: Index,
    slot_of: Vec<u32>,
    index_of_slot: Vec<u32>,
    counts: Vec<Count>,
}

impl Counted {
    fn slots(&self) -> usize {
        self.counts.len()
    }

    fn value(&self, slot: usize) -> i64 {
        self.index.value(self.index_of_slot[slot])
    }
}

fn count_part(input: &Input<'_>, rows: Range<usize>, interval: u64) -> Result<Counted, Failure> {
    let index = Index::of(input.group.map(|g| &g[rows.clone()]));
    let mut slot_of = vec![UNSEEN; index.len()];
    let mut index_of_slot = Vec::new();
    let mut counts = Vec::new();
    let end = rows.end;
    with_rank!(&index, r => {
        for chunk in Chunk::all(input, rows) {
            if !input.checked && !chunk.times_valid() {
                return Err(Failure::Invalid);
            }
            let ms_of_day = &chunk.ms_of_day[..chunk.date.len()];
            for (i, (&date, &ms)) in chunk.date.iter().zip(ms_of_day).enumerate() {
                let key = Trade::key_of(date, ms);
                let rank = r.rank(chunk.groups, i);
                let mut slot = slot_of[rank];
                if slot == UNSEEN {
                    slot = counts.len() as u32;
                    slot_of[rank] = slot;
                    index_of_slot.push(rank as u32);
                    counts.push(Count::new(end));
                }
                let count = &mut counts[slot as usize];
                if key < count.last_key {
                    return Err(Failure::Unordered);
                }
                count.last_key = key;
                if key >= count.end {
                    count.open_bucket(key, chunk.start + i, interval);
                }
            }
        }
    });
    Ok(Counted {
        index,
        slot_of,
        index_of_slot,
        counts,
    })
}

/// Which rows of the output each part writes, and which buckets continue across parts.
struct Plan {
    rows: usize,
    /// Window lengths, in row order, and who writes each.
    lengths: Vec<usize>,
    segments: Vec<Segment>,
    /// `[part][slot]`: the group's first bucket in the part continues its last bucket in the
    /// previous part that has the group, which is `previous[part][slot]` (part, slot).
    continued: Vec<Vec<bool>>,
    previous: Vec<Vec<(usize, usize)>>,
    /// `[part][slot]`: the group's last bucket in the part continues in the next.
    kept: Vec<Vec<bool>>,
}

struct Segment {
    part: usize,
    slot: usize,
    /// The one bar of a bucket continued across parts (written after the replay), or the
    /// part's own bars of the group.
    merge: bool,
}

impl Plan {
    fn new(counted: &[Counted]) -> Result<Self, Failure> {
        let mut entries: Vec<(i64, usize, usize)> = counted
            .iter()
            .enumerate()
            .flat_map(|(p, c)| (0..c.slots()).map(move |s| (c.value(s), p, s)))
            .collect();
        entries.sort_unstable();
        let per_part =
            |fill| -> Vec<Vec<bool>> { counted.iter().map(|c| vec![fill; c.slots()]).collect() };
        let mut plan = Plan {
            rows: 0,
            lengths: Vec::with_capacity(entries.len()),
            segments: Vec::with_capacity(entries.len()),
            continued: per_part(false),
            previous: counted.iter().map(|c| vec![(0, 0); c.slots()]).collect(),
            kept: per_part(false),
        };
        let count = |&(_, p, s): &(i64, usize, usize)| &counted[p].counts[s];
        for run in entries.chunk_by(|a, b| a.0 == b.0) {
            for (i, entry) in run.iter().enumerate() {
                let (_, p, s) = *entry;
                let c = count(entry);
                let continued = match i.checked_sub(1).map(|j| &run[j]) {
                    Some(prev) => {
                        if c.first_key < count(prev).last_key {
                            return Err(Failure::Unordered);
                        }
                        plan.previous[p][s] = (prev.1, prev.2);
                        c.head_end == count(prev).end
                    }
                    None => false,
                };
                let kept = run
                    .get(i + 1)
                    .is_some_and(|next| count(next).head_end == c.end);
                plan.continued[p][s] = continued;
                plan.kept[p][s] = kept;
                if continued && (c.buckets > 1 || !kept) {
                    plan.push(p, s, true, 1);
                }
                let own =
                    (c.buckets as usize).saturating_sub(usize::from(continued) + usize::from(kept));
                plan.push(p, s, false, own);
            }
        }
        Ok(plan)
    }

    fn push(&mut self, part: usize, slot: usize, merge: bool, len: usize) {
        self.lengths.push(len);
        self.segments.push(Segment { part, slot, merge });
        self.rows += len;
    }
}

/// The open bar of one group in the aggregate pass (one cache line).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Acc {
    /// End (exclusive) of the bucket, as a time key.
    end: u64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: i64,
    count: i64,
    /// Σ price·size.
    notional: f64,
}

impl Acc {
    /// No bar; a trade at or after `end` opens one.
    fn until(end: u64) -> Self {
        Self {
            end,
            open: 0.0,
            high: 0.0,
            low: 0.0,
            close: 0.0,
            volume: 0,
            count: 0,
            notional: 0.0,
        }
    }

    /// Adds a trade of the bucket: the same operations in the same order as
    /// `IntervalBuilder::apply` on time-ordered trades, so the sums agree bit for bit.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn apply(&mut self, price: f64, size: i64) {
        self.high = if price > self.high { price } else { self.high };
        self.low = if price < self.low { price } else { self.low };
        self.close = price;
        self.volume = self.volume.saturating_add(size);
        self.count += 1;
        self.notional += price * size as f64;
    }

    fn open(&mut self, key: u64, price: f64, size: i64, interval: u64) {
        *self = Self {
            end: bucket_start(key, interval) + interval,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: size,
            count: 1,
            notional: price * size as f64,
        };
    }

    fn row(&self, group: i64, interval: u64) -> Row {
        let start = self.end - interval;
        Row {
            group,
            date: (start >> 32) as i32,
            start_ms: start as u32 as i32,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            count: self.count,
            vwap: vwap(self.notional, self.volume),
        }
    }
}

/// Where one part writes one group's bars.
struct Out<'s> {
    window: Window<'s>,
    group: i64,
    /// The open bar is not to be written: it is the first bucket, when that continues the
    /// previous part's (replayed later), or no bar yet.
    skip: bool,
    /// The last bar continues in the next part: kept open for the replay.
    keep: bool,
}

/// A trade of a bucket after the open one (or the first trade): writes the open bar, opens one.
#[inline(never)]
fn next_bucket(acc: &mut Acc, out: &mut Out<'_>, key: u64, price: f64, size: i64, interval: u64) {
    if out.skip {
        out.skip = false;
    } else {
        out.window.push(&acc.row(out.group, interval));
    }
    acc.open(key, price, size, interval);
}

/// The aggregate pass over one part: its bars, and its kept open bars (by slot).
fn aggregate_part(
    input: &Input<'_>,
    rows: Range<usize>,
    counted: &Counted,
    continued: &[bool],
    mut outs: Vec<Out<'_>>,
    interval: u64,
) -> Result<(Vec<Option<Acc>>, Vec<Filled>), Failure> {
    // A continued first bucket is summed here too (harmless), but never written.
    let mut accs: Vec<Acc> = (0..counted.slots())
        .map(|s| {
            Acc::until(if continued[s] {
                counted.counts[s].head_end
            } else {
                0
            })
        })
        .collect();
    with_rank!(&counted.index, r => {
        for chunk in Chunk::all(input, rows) {
            if !input.checked && !chunk.prices_and_sizes_valid() {
                return Err(Failure::Invalid);
            }
            let n = chunk.date.len();
            let (ms_of_day, price, size) = (&chunk.ms_of_day[..n], &chunk.price[..n], &chunk.size[..n]);
            for i in 0..n {
                let key = Trade::key_of(chunk.date[i], ms_of_day[i]);
                let slot = counted.slot_of[r.rank(chunk.groups, i)] as usize;
                let acc = &mut accs[slot];
                if key < acc.end {
                    acc.apply(price[i], size[i]);
                } else {
                    next_bucket(acc, &mut outs[slot], key, price[i], size[i], interval);
                }
            }
        }
    });
    let mut kept = Vec::with_capacity(outs.len());
    let mut filled = Vec::with_capacity(outs.len());
    for (acc, mut out) in accs.iter().zip(outs) {
        if out.skip {
            kept.push(None); // all of the part's trades were in the continued bucket
        } else if out.keep {
            kept.push(Some(*acc));
        } else {
            out.window.push(&acc.row(out.group, interval));
            kept.push(None);
        }
        filled.push(out.window.filled());
    }
    Ok((kept, filled))
}

/// Where part `part` begins: its continued buckets are finished here.
struct Boundary<'a> {
    part: usize,
    rows: Range<usize>,
    counted: &'a Counted,
    plan: &'a Plan,
    interval: u64,
}

impl Boundary<'_> {
    /// Replays the part's rows of its continued buckets onto the bars kept open before it, in
    /// row order; then writes each bar that ends here, or keeps it for the next boundary.
    fn replay(
        &self,
        input: &Input<'_>,
        kept: &mut [Vec<Option<Acc>>],
        merges: &mut [Option<Window<'_>>],
        filled: &mut Vec<Filled>,
    ) {
        let (t, c) = (self.part, self.counted);
        let mut carried: Vec<Option<Acc>> = vec![None; c.slots()];
        let mut until = self.rows.start;
        for (s, carry) in carried.iter_mut().enumerate() {
            if self.plan.continued[t][s] {
                let (q, sq) = self.plan.previous[t][s];
                *carry = Some(kept[q][sq].take().expect("a bar kept open"));
                until = until.max(c.counts[s].head_rows_end);
            }
        }
        if until == self.rows.start {
            return;
        }
        with_rank!(&c.index, r => {
            for chunk in Chunk::all(input, self.rows.start..until) {
                for i in 0..chunk.date.len() {
                    let slot = c.slot_of[r.rank(chunk.groups, i)] as usize;
                    if let Some(acc) = &mut carried[slot] {
                        if chunk.start + i < c.counts[slot].head_rows_end {
                            acc.apply(chunk.price[i], chunk.size[i]);
                        }
                    }
                }
            }
        });
        for (s, carry) in carried.into_iter().enumerate() {
            let Some(acc) = carry else { continue };
            if c.counts[s].buckets == 1 && self.plan.kept[t][s] {
                kept[t][s] = Some(acc);
            } else {
                let mut window = merges[s].take().expect("a window for the continued bar");
                window.push(&acc.row(c.value(s), self.interval));
                filled.push(window.filled());
            }
        }
    }
}

/// The one-pass path: see the module documentation.
fn aggregate_in_one_pass(split: &Split<'_, '_>) -> Result<BarColumns, Failure> {
    let Split {
        input,
        ranges,
        interval,
    } = *split;
    let gathered = run_each(ranges.to_vec(), |range| gather_part(input, range, interval))?;
    let (counted, gathered): (Vec<Counted>, Vec<Bars>) = gathered.into_iter().unzip();
    let plan = Plan::new(&counted)?;
    let mut sink = Sink::new(plan.rows, input.group.is_some());
    let mut windows = sink.windows(&plan.lengths).into_iter();
    let mut merges: Vec<Vec<Option<Window<'_>>>> =
        counted.iter().map(|c| empty(c.slots())).collect();
    let mut kept: Vec<Vec<Option<Acc>>> = counted.iter().map(|c| empty(c.slots())).collect();
    let mut filled = Vec::new();
    for segment in &plan.segments {
        let mut window = windows.next().expect("one window per segment");
        let (p, s) = (segment.part, segment.slot);
        if segment.merge {
            merges[p][s] = Some(window);
            continue;
        }
        let (closed, open) = (&gathered[p].closed[s], &gathered[p].open[s]);
        // The first bucket, when it continues the previous part's, is replayed at the
        // boundary; the last, when it continues in the next part, is kept for that replay.
        let continued = plan.continued[p][s];
        for row in &closed[usize::from(continued).min(closed.len())..] {
            window.push(row);
        }
        let open_continues = continued && closed.is_empty();
        if plan.kept[p][s] {
            if !open_continues {
                kept[p][s] = Some(*open);
            }
        } else if !open_continues {
            window.push(&open.row(counted[p].value(s), interval));
        }
        filled.push(window.filled());
    }
    split.replay_boundaries(&counted, &plan, kept, merges, &mut filled);
    Ok(sink.finish(&filled))
}

/// One part's bars in the one-pass path, by slot: the closed bars in order, and the open one.
struct Bars {
    closed: Vec<Vec<Row>>,
    open: Vec<Acc>,
}

/// The one pass over one part: what [`count_part`] learns, and the bars.
fn gather_part(
    input: &Input<'_>,
    rows: Range<usize>,
    interval: u64,
) -> Result<(Counted, Bars), Failure> {
    let index = Index::of(input.group.map(|g| &g[rows.clone()]));
    let mut slot_of = vec![UNSEEN; index.len()];
    let mut index_of_slot = Vec::new();
    let mut counts = Vec::new();
    let mut values = Vec::new();
    // Each slot's latest time (apart from its `Count`: one word per slot, read every row).
    let mut last = Vec::new();
    let mut bars = Bars {
        closed: Vec::new(),
        open: Vec::new(),
    };
    let end = rows.end;
    with_rank!(&index, r => {
        for chunk in Chunk::all(input, rows) {
            if !input.checked && !chunk.valid() {
                return Err(Failure::Invalid);
            }
            let n = chunk.date.len();
            let (ms_of_day, price, size) = (&chunk.ms_of_day[..n], &chunk.price[..n], &chunk.size[..n]);
            for i in 0..n {
                let key = Trade::key_of(chunk.date[i], ms_of_day[i]);
                let rank = r.rank(chunk.groups, i);
                let mut slot = slot_of[rank];
                if slot == UNSEEN {
                    slot = counts.len() as u32;
                    slot_of[rank] = slot;
                    index_of_slot.push(rank as u32);
                    values.push(index.value(rank as u32));
                    counts.push(Count::new(end));
                    last.push(0);
                    bars.closed.push(Vec::new());
                    bars.open.push(Acc::until(0));
                }
                let s = slot as usize;
                if key < last[s] {
                    return Err(Failure::Unordered);
                }
                last[s] = key;
                let acc = &mut bars.open[s];
                if key < acc.end {
                    acc.apply(price[i], size[i]);
                } else {
                    let (closed, count) = (&mut bars.closed[s], &mut counts[s]);
                    gathered_bucket(acc, closed, count, values[s], chunk.start + i, key, price[i], size[i], interval);
                }
            }
        }
    });
    for (count, last) in counts.iter_mut().zip(last) {
        count.last_key = last;
    }
    let counted = Counted {
        index,
        slot_of,
        index_of_slot,
        counts,
    };
    Ok((counted, bars))
}

/// A trade of a new bucket in the one-pass path: closes the open bar (if any), opens one.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn gathered_bucket(
    acc: &mut Acc,
    closed: &mut Vec<Row>,
    count: &mut Count,
    group: i64,
    row: usize,
    key: u64,
    price: f64,
    size: i64,
    interval: u64,
) {
    if count.buckets > 0 {
        closed.push(acc.row(group, interval));
    }
    count.open_bucket(key, row, interval);
    acc.open(key, price, size, interval);
}
