//! Reading recorded files for `serve --source replay:PATH` (SPEC §5): JSON Lines of §3.3 events
//! (what `record` writes) or CSV with a header row, plain or gzip, several files merged in
//! market-time order. Pacing, lock-step and the server are not here: this is the file reader a
//! replay source is built on.
//!
//! * [`format`](mod@format): which files ([`expand`] a glob), JSON Lines or CSV (by name), gzip (by magic).
//! * `lines`: chunked reading and `memchr` line splitting in one fixed buffer per file.
//! * `jsonl`: lines decoded as [`crate::event::decode_event`] decodes them (with
//!   [`crate::event::EventLineDecoder`], which parses each contract spelling once), each event
//!   keeping its line.
//! * `csv_rows`: CSV trades and quotes, checked column by column.
//! * `csv_parallel`: a large plain CSV file parsed by one thread per core, in order.
//! * `prescan`: the checks run before serving, and the line count (finished beside the
//!   replay for a plain file).
//! * `merge`: the k-way merge by head.
//! * [`error`]: [`ReplayError`] and [`BadLine`], as values.
//!
//! # Decisions
//!
//! * **Streaming**: each file is read in chunks of up to 1 MiB into one fixed buffer (less per
//!   file when many files are merged: 32 MiB in all, at least 128 KiB each); memory does not
//!   grow with file size. A line over [`MAX_LINE`] bytes is a bad line, skipped without being
//!   buffered. Contracts are remembered per distinct contract (as the hub does), not per line.
//! * **Order**: files are merged by market time ([`market_time`]); ties go to the earlier file
//!   (in the order given: a glob sorts by path); a file keeps its own order (it is not sorted,
//!   only merged by its head).
//! * **Pre-scan** ([`ReplayReader::open`]): every file is opened and checked: missing, empty
//!   (no data event), a CSV header that lacks or does not know a column, and a truncated or
//!   corrupt gzip stream (a gzip file is read through) are refused before anything is served.
//!   The total ([`ReplayReader::total`]) counts non-blank *lines* (CSV: after the header), not
//!   decoded events, at the speed of reading; for what `record` writes (one data event per
//!   line) it is the number of events. A plain file needs reading only to its first data event
//!   to be checked: the rest of its lines are counted on a thread of its own while the replay
//!   goes on (the total is known a moment later, [`ReplayReader::wait_total`]), so a large
//!   file starts at once and its reading is not delayed by a second pass. That count starts
//!   when the total is first asked for: a reader whose total nobody wants does not count.
//! * **Bad lines**: a JSON line that the event decoder refuses (or that is not UTF-8, or too
//!   long), or a CSV row that breaks a column's rule, is a [`BadLine`]
//!   (`PATH:LINE: <field path>: <reason>`, 1-based lines, the column name as the field path for
//!   CSV). Under [`BadLinePolicy::Stop`] the read that reaches it hands out the events before
//!   it, and the next read returns it (as every read after, until [`ReplayReader::rewind`]).
//!   Under [`BadLinePolicy::Skip`] it is counted and kept among the latest
//!   [`merge::KEPT_SKIPPED`] messages. Blank lines and JSON lines that are not data events
//!   (STATUS, acknowledgements) are passed over silently.
//! * An I/O or gzip error while reading is raised the same way as a bad line under `stop`,
//!   whatever the policy. A read never both hands out events and returns an error.
//! * **Contract indexes**: each event carries its contract's dense index in the reader
//!   ([`ReplayEvent::contract_index`]), so a consumer maps it to its own ids with a `Vec`
//!   (the binding registers each contract with the hub once, not once per event).

pub mod error;
pub mod format;

mod csv_parallel;
mod csv_rows;
mod jsonl;
mod lines;
pub mod merge;
mod prescan;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use error::{BadLine, CsvHeaderProblem, FieldReason, LineProblem, ReplayError};
pub use format::{expand, Format};
pub use lines::MAX_LINE;

use crate::contract::ContractKey;
use crate::event::batch::SpanHash;
use crate::event::EventBody;
use merge::{Merge, Next, SkipLog};
use prescan::Scanned;

/// What to do with a line that is not a valid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadLinePolicy {
    /// Stop: the read returns the line's error (default).
    #[default]
    Stop,
    /// Skip the line, count it and keep its message.
    Skip,
}

/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;

/// The market time of `(date, ms_of_day)` in milliseconds: days since 1970-01-01 (of the
/// proleptic Gregorian calendar) × 86,400,000 + `ms_of_day`. It orders events as
/// `(date, ms_of_day)` does and differences are real elapsed market time within a day and
/// across days (it is New York wall-clock time, not a UTC epoch: a DST change is not seen).
/// Defined for any `u32` date (a non-calendar date gives a number, never a panic).
pub fn market_time(date: u32, ms_of_day: u32) -> i64 {
    let year = i64::from(date / 10_000);
    let month = i64::from(date / 100 % 100);
    let day = i64::from(date % 100);
    days_from_civil(year, month, day) * DAY_MS + i64::from(ms_of_day)
}

/// Days from 1970-01-01 to `year-month-day` (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The market time of an event body.
pub fn body_time(body: &EventBody) -> i64 {
    let (date, ms) = match body {
        EventBody::Trade(t) => (t.date, t.ms_of_day),
        EventBody::Quote(q) => (q.date, q.ms_of_day),
        EventBody::Ohlc(o) => (o.date, o.ms_of_day),
        EventBody::OpenInterest(i) => (i.date, i.ms_of_day),
    };
    market_time(date, ms)
}

/// One row of a file: a data event (with its contract's index in [`Contracts`]) or a bad
/// line (its number and problem).
pub(crate) enum Row {
    Event { index: u32, body: EventBody },
    Bad(u64, LineProblem),
}

/// Every contract a reader has met, numbered 0, 1, 2, … in order of first sight, for as long
/// as the reader lives (rewinds included). File readers remember which of their spellings is
/// which index, so an event costs no lookup here once its spelling is known.
/// Rows and heads carry only the index: a contract is copied out once, when handed over.
#[derive(Debug, Clone)]
pub(crate) struct Contracts {
    ids: HashMap<ContractKey, u32, SpanHash>,
    keys: Vec<ContractKey>,
}

impl Contracts {
    pub(crate) fn new() -> Self {
        Self {
            ids: HashMap::with_hasher(SpanHash::default()),
            keys: Vec::new(),
        }
    }

    /// The index of `key`, given it a new one if it is new.
    pub(crate) fn intern(&mut self, key: ContractKey) -> u32 {
        let next = self.keys.len() as u32;
        let index = *self.ids.entry(key).or_insert(next);
        if index == next {
            self.keys.push(key);
        }
        index
    }

    /// How many contracts were met.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The contract of an index [`Contracts::intern`] gave.
    pub(crate) fn key(&self, index: u32) -> &ContractKey {
        &self.keys[index as usize]
    }
}

/// One event handed out by [`ReplayReader::read`].
#[derive(Debug, Clone, Copy)]
pub struct ReplayEvent<'a> {
    /// Its market time ([`market_time`]).
    pub time: i64,
    pub contract: &'a ContractKey,
    /// The contract's index in this reader: 0, 1, 2, … in order of first sight, the same for
    /// the same contract for the reader's whole life (rewinds included), so a consumer can keep
    /// per-contract data (its own contract ids) in a `Vec`.
    pub contract_index: u32,
    pub body: EventBody,
    /// The event's original JSON (a JSON Lines file's line without surrounding whitespace), to
    /// be forwarded as it is; `None` for CSV. Valid only during the callback.
    pub raw: Option<&'a [u8]>,
}

/// The pre-scan's total, finished on a thread of its own when a plain file has lines left to
/// count (see the module docs). The thread starts when the total is first asked for: a reader
/// whose total nobody wants does not count.
struct Total {
    count: Mutex<Count>,
    /// Set when the reader is dropped: the count stops at its next buffer.
    stop: Arc<AtomicBool>,
}

/// Where the total is.
enum Count {
    /// Known (`None`: it could not be counted).
    Known(Option<u64>),
    /// Lines are left to count; nobody asked for the total yet.
    NotAsked(Vec<Scanned>),
    Counting(JoinHandle<Option<u64>>),
}

impl Total {
    fn new(scanned: Vec<Scanned>) -> Self {
        Self {
            count: Mutex::new(Count::NotAsked(scanned)),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The total, if known (`wait`: once counted). The first call starts the count.
    fn get(&self, wait: bool) -> Option<u64> {
        let mut count = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Count::NotAsked(scanned) = &mut *count {
            let scanned = std::mem::take(scanned);
            // Counted already (gzip files, short ones): no thread.
            let counted = scanned.iter().all(|s| matches!(s, Scanned::Counted(_)));
            let stop = self.stop.clone();
            let finish =
                move || -> Option<u64> { scanned.into_iter().map(|s| s.finish(&stop)).sum() };
            *count = if counted {
                Count::Known(finish())
            } else {
                let thread = std::thread::Builder::new().name("replay-count".into());
                // No thread to be had: the total stays unknown.
                thread
                    .spawn(finish)
                    .map_or(Count::Known(None), Count::Counting)
            };
        }
        let total = match std::mem::replace(&mut *count, Count::Known(None)) {
            Count::Known(total) => total,
            Count::Counting(handle) if wait || handle.is_finished() => handle.join().ok().flatten(),
            still => {
                *count = still;
                return None;
            }
        };
        *count = Count::Known(total);
        total
    }
}

impl Drop for Total {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Replay files read as one stream of events in market-time order. See the module docs.
pub struct ReplayReader {
    paths: Vec<Arc<Path>>,
    policy: BadLinePolicy,
    total: Total,
    merge: Merge,
    contracts: Contracts,
    read_count: u64,
    skipped: SkipLog,
    failed: Option<ReplayError>,
}

impl ReplayReader {
    /// Pre-scans every file (in order; the first failure is returned), then opens them.
    pub fn open(paths: Vec<PathBuf>, policy: BadLinePolicy) -> Result<Self, ReplayError> {
        if paths.is_empty() {
            return Err(ReplayError::NoFiles);
        }
        let paths: Vec<Arc<Path>> = paths.into_iter().map(Arc::from).collect();
        let scanned = paths
            .iter()
            .map(|path| prescan::scan(path))
            .collect::<Result<Vec<_>, _>>()?;
        let total = Total::new(scanned);
        let mut skipped = SkipLog::default();
        let mut contracts = Contracts::new();
        let merge = Merge::open(&paths, policy, &mut contracts, &mut skipped)?;
        Ok(Self {
            paths,
            policy,
            total,
            merge,
            contracts,
            read_count: 0,
            skipped,
            failed: None,
        })
    }

    /// The files, in merge order (ties go to the earlier).
    pub fn files(&self) -> &[Arc<Path>] {
        &self.paths
    }

    /// Non-blank lines of every file, from the pre-scan (see the module docs); `None` while
    /// they are still being counted (the first call starts the count).
    pub fn total(&self) -> Option<u64> {
        self.total.get(false)
    }

    /// [`ReplayReader::total`], waiting for the count to end; `None` only when it could not
    /// be finished (a file that cannot be read to its end, which its reading reports).
    pub fn wait_total(&self) -> Option<u64> {
        self.total.get(true)
    }

    /// Data events handed out since the start or the last rewind.
    pub fn read_count(&self) -> u64 {
        self.read_count
    }

    /// Bad lines skipped since the start or the last rewind (`skip` policy).
    pub fn skipped(&self) -> u64 {
        self.skipped.count
    }

    /// The skipped lines not taken yet (at most the latest [`merge::KEPT_SKIPPED`]).
    pub fn take_skipped(&mut self) -> Vec<BadLine> {
        self.skipped.take()
    }

    /// The market time of the next event; `None` at the end, or when the next read returns
    /// an error.
    pub fn next_time(&self) -> Option<i64> {
        match (&self.failed, self.merge.peek()) {
            (None, Next::At(time)) => Some(time),
            _ => None,
        }
    }

    /// True when every event has been handed out (and no error is pending).
    pub fn exhausted(&self) -> bool {
        self.failed.is_none() && self.merge.peek() == Next::End
    }

    /// Hands the next events in merged order to `sink`: at most `max_events`, and only those
    /// whose market time is at most `until` (when given). Returns how many. A failure (a bad
    /// line under `stop`, an I/O error) ends the batch before it; the read after returns it,
    /// and so does every read until [`ReplayReader::rewind`].
    pub fn read(
        &mut self,
        max_events: usize,
        until: Option<i64>,
        mut sink: impl FnMut(ReplayEvent<'_>),
    ) -> Result<usize, ReplayError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut n = 0;
        while n < max_events {
            match self.merge.peek() {
                Next::End => break,
                Next::At(time) if until.is_some_and(|u| time > u) => break,
                Next::Failure if n > 0 => break,
                Next::At(_) | Next::Failure => {}
            }
            let run = self.merge.take_run(
                max_events - n,
                until.unwrap_or(i64::MAX),
                &mut self.contracts,
                &mut self.skipped,
                &mut sink,
            );
            match run {
                Ok(0) => break,
                Ok(taken) => n += taken,
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        self.read_count += n as u64;
        Ok(n)
    }

    /// Starts again from the beginning of every file (`--loop`): the counts restart; skipped
    /// messages not taken yet are kept. The files are opened again but not pre-scanned again.
    pub fn rewind(&mut self) -> Result<(), ReplayError> {
        self.read_count = 0;
        self.skipped.count = 0;
        match Merge::open(
            &self.paths,
            self.policy,
            &mut self.contracts,
            &mut self.skipped,
        ) {
            Ok(merge) => {
                self.merge = merge;
                self.failed = None;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }
}
