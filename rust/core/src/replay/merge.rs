//! The k-way merge: each file is read by its head (never sorted), and the file whose head has
//! the earliest market time goes next; ties go to the earlier file. A file whose next line
//! failed (a bad line under the `stop` policy, an I/O or gzip error) has priority over every
//! event: the failure is raised as soon as the events before it in its file are out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use super::csv_parallel::{self, ParallelCsvRows};
use super::csv_rows::{CsvRows, Header};
use super::error::{BadLine, ReplayError};
use super::format::{open, Format};
use super::jsonl::JsonlRows;
use super::lines::LineReader;
use super::{market_time, BadLinePolicy, Contracts, ReplayEvent, Row};
use crate::event::EventBody;

/// The heap key of a failed head: before every event.
const FAILED: i64 = i64::MIN;

/// How many skipped-line messages are kept between two takes
/// ([`super::ReplayReader::take_skipped`]).
pub const KEPT_SKIPPED: usize = 100;

/// Lines skipped under the `skip` policy: how many, and the latest few.
#[derive(Debug, Default)]
pub(crate) struct SkipLog {
    pub(crate) count: u64,
    recent: VecDeque<BadLine>,
}

impl SkipLog {
    fn record(&mut self, bad: BadLine) {
        self.count += 1;
        if self.recent.len() == KEPT_SKIPPED {
            self.recent.pop_front();
        }
        self.recent.push_back(bad);
    }

    pub(crate) fn take(&mut self) -> Vec<BadLine> {
        self.recent.drain(..).collect()
    }
}

/// One file's rows.
enum Rows {
    Jsonl(JsonlRows),
    Csv(Box<CsvRows>),
    /// A large plain CSV file, read by threads.
    ParallelCsv(Box<ParallelCsvRows>),
    /// A CSV file with nothing in it (it was emptied after the pre-scan).
    None,
}

/// One open file.
struct Source {
    path: Arc<Path>,
    gzip: bool,
    rows: Rows,
}

impl Source {
    fn open(path: &Arc<Path>, capacity: usize) -> Result<Self, ReplayError> {
        let opened = open(path)?;
        let lines = LineReader::new(opened.stream, capacity);
        let rows = match Format::of_path(path) {
            Format::Jsonl => Rows::Jsonl(JsonlRows::new(lines)),
            Format::Csv => match CsvRows::open(path, lines, opened.gzip)? {
                Header::Rows(rows) => match parallel_length(path, opened.gzip) {
                    Some(len) => Rows::ParallelCsv(Box::new(ParallelCsvRows::start(
                        path,
                        &rows,
                        len,
                        csv_parallel::workers(),
                        (csv_parallel::CHUNK, csv_parallel::PART_ROWS),
                    ))),
                    None => Rows::Csv(rows),
                },
                Header::Empty => Rows::None,
            },
        };
        Ok(Self {
            path: path.clone(),
            gzip: opened.gzip,
            rows,
        })
    }

    fn next_row(&mut self, contracts: &mut Contracts) -> Result<Option<Row>, ReplayError> {
        let row = match &mut self.rows {
            Rows::Jsonl(rows) => rows.next_row(contracts),
            Rows::Csv(rows) => rows.next_row(contracts),
            Rows::ParallelCsv(rows) => rows.next_row(contracts),
            Rows::None => Ok(None),
        };
        row.map_err(|e| ReplayError::read(&self.path, self.gzip, &e))
    }

    /// The original JSON of the event last read, for JSON Lines.
    fn raw(&self) -> Option<&[u8]> {
        match &self.rows {
            Rows::Jsonl(rows) => Some(rows.raw()),
            Rows::Csv(_) | Rows::ParallelCsv(_) | Rows::None => None,
        }
    }
}

/// The length of a CSV file to be read by threads: a regular file (not gzip, not a pipe) of
/// at least [`csv_parallel::PARALLEL_FROM`] bytes, on a machine with more than one core.
fn parallel_length(path: &Path, gzip: bool) -> Option<u64> {
    let len = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)?
        .len();
    (!gzip && len >= csv_parallel::PARALLEL_FROM && csv_parallel::workers() > 1).then_some(len)
}

/// What a file offers next.
enum Head {
    Event {
        time: i64,
        index: u32,
        body: EventBody,
    },
    Failed(ReplayError),
    Done,
}

/// An event's `date` and `ms_of_day`.
fn date_and_ms(body: &EventBody) -> (u32, u32) {
    match body {
        EventBody::Trade(t) => (t.date, t.ms_of_day),
        EventBody::Quote(q) => (q.date, q.ms_of_day),
        EventBody::Ohlc(o) => (o.date, o.ms_of_day),
        EventBody::OpenInterest(i) => (i.date, i.ms_of_day),
    }
}

/// What the merge offers next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// An event at this market time.
    At(i64),
    /// A failure (raised by the next read).
    Failure,
    /// Nothing: every file is done.
    End,
}

/// The merged files.
pub(crate) struct Merge {
    sources: Vec<Source>,
    heads: Vec<Head>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    policy: BadLinePolicy,
    /// The last date seen and its market time at midnight (dates rarely change).
    day: (u32, i64),
}

impl Merge {
    /// Opens every file and reads its first row; bad lines before a file's first event are
    /// skipped into `skipped` under the `skip` policy.
    pub(crate) fn open(
        paths: &[Arc<Path>],
        policy: BadLinePolicy,
        contracts: &mut Contracts,
        skipped: &mut SkipLog,
    ) -> Result<Self, ReplayError> {
        // 1 MiB per file, less when there are many (memory is the sum of the buffers).
        let capacity = ((32usize << 20) / paths.len().max(1)).clamp(128 << 10, 1 << 20);
        let sources = paths
            .iter()
            .map(|p| Source::open(p, capacity))
            .collect::<Result<Vec<_>, _>>()?;
        let mut merge = Self {
            heads: sources.iter().map(|_| Head::Done).collect(),
            sources,
            heap: BinaryHeap::with_capacity(paths.len()),
            policy,
            day: (0, market_time(0, 0)),
        };
        for file in 0..merge.sources.len() {
            merge.advance(file, contracts, skipped);
        }
        Ok(merge)
    }

    /// Reads file `file`'s next head and queues it.
    fn advance(&mut self, file: usize, contracts: &mut Contracts, skipped: &mut SkipLog) {
        let head = self.next_head(file, contracts, skipped);
        self.queue(file, head);
    }

    /// File `file`'s next event or failure, skipping bad lines under the `skip` policy.
    #[inline]
    fn next_head(&mut self, file: usize, contracts: &mut Contracts, skipped: &mut SkipLog) -> Head {
        let source = &mut self.sources[file];
        loop {
            match source.next_row(contracts) {
                Ok(Some(Row::Event { index, body })) => {
                    let (date, ms_of_day) = date_and_ms(&body);
                    if date != self.day.0 {
                        self.day = (date, market_time(date, 0));
                    }
                    return Head::Event {
                        time: self.day.1 + i64::from(ms_of_day),
                        index,
                        body,
                    };
                }
                Ok(Some(Row::Bad(line, problem))) => {
                    let bad = BadLine {
                        path: source.path.clone(),
                        line,
                        problem,
                    };
                    match self.policy {
                        BadLinePolicy::Skip => skipped.record(bad),
                        BadLinePolicy::Stop => return Head::Failed(ReplayError::BadLine(bad)),
                    }
                }
                Ok(None) => return Head::Done,
                Err(e) => return Head::Failed(e),
            }
        }
    }

    /// Makes `head` file `file`'s head, in the heap unless the file is done.
    fn queue(&mut self, file: usize, head: Head) {
        match &head {
            Head::Event { time, .. } => self.heap.push(Reverse((*time, file))),
            Head::Failed(_) => self.heap.push(Reverse((FAILED, file))),
            Head::Done => {}
        }
        self.heads[file] = head;
    }

    /// What comes next.
    pub(crate) fn peek(&self) -> Next {
        match self.heap.peek() {
            Some(Reverse((FAILED, _))) => Next::Failure,
            Some(Reverse((time, _))) => Next::At(*time),
            None => Next::End,
        }
    }

    /// Hands the next events to `sink` in merged order, all from the file that comes next
    /// (the run ends where another file's head comes first): at least one, at most `max`
    /// (which is at least 1), none later than `until`. The next head must be an event at most
    /// `until` or a failure (see [`Merge::peek`]), which is returned.
    ///
    /// Within a run, a row goes from its file to `sink` without passing through the heap.
    pub(crate) fn take_run(
        &mut self,
        max: usize,
        until: i64,
        contracts: &mut Contracts,
        skipped: &mut SkipLog,
        sink: &mut impl FnMut(ReplayEvent<'_>),
    ) -> Result<usize, ReplayError> {
        let Some(Reverse((_, file))) = self.heap.pop() else {
            return Ok(0);
        };
        let (mut time, mut index, mut body) =
            match std::mem::replace(&mut self.heads[file], Head::Done) {
                Head::Event { time, index, body } => (time, index, body),
                Head::Failed(e) => return Err(e),
                Head::Done => return Ok(0),
            };
        // This file's events go on while they come before every other file's head.
        let other = self.heap.peek().map_or((i64::MAX, usize::MAX), |r| r.0);
        let mut n = 0;
        loop {
            sink(ReplayEvent {
                time,
                contract: contracts.key(index),
                contract_index: index,
                body,
                raw: self.sources[file].raw(),
            });
            n += 1;
            match self.next_head(file, contracts, skipped) {
                Head::Event {
                    time: t,
                    index: i,
                    body: b,
                } if n < max && t <= until && (t, file) < other => (time, index, body) = (t, i, b),
                head => {
                    self.queue(file, head);
                    return Ok(n);
                }
            }
        }
    }
}
