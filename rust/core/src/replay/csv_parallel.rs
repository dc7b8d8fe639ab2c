//! A large plain CSV file read by several threads at once, chunk by chunk, its rows handed out
//! in the file's order: what [`CsvRows`] reads alone, as fast as the machine's cores allow.
//!
//! * **Chunks.** The file (after its header) is cut at every [`CHUNK`] bytes; chunk `k` holds
//!   the lines that *start* in `[k·CHUNK, (k+1)·CHUNK)` (the last chunk: every line after), so
//!   a line belongs to exactly one chunk wherever the cuts fall, found by each thread on its
//!   own ([`ChunkStream`]). A line cannot hold a line break (see `csv_rows`), so no state
//!   carries from one chunk to the next.
//! * **Threads.** Chunk `k` goes to worker `k mod W`; each worker reads its chunks with its
//!   own [`CsvRows`] (the same plain and line-by-line paths, its contract memo kept across its
//!   chunks) and sends each chunk's rows back in parts of at most [`PART_ROWS`]. At most two
//!   chunks per worker are asked for ahead of the reader and at most [`PARTS_AHEAD`] parts
//!   wait per worker, so memory is bounded (a few MiB per worker) whatever the file holds.
//! * **Order.** The reader takes the chunks in order: rows come out exactly as [`CsvRows`]
//!   gives them. Line numbers are made whole by adding the lines of the chunks before (workers
//!   number lines within their chunk); contract indexes are made the reader's when a row is
//!   taken, so they are given in order of first sight in the file, as reading alone does.
//! * **Errors.** An I/O error ends its chunk's rows and is raised after the rows before it; a
//!   worker that cannot run (no thread) or ends early is an I/O error at its chunk.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use super::csv_rows::{CsvRows, Layout};
use super::lines::LineReader;
use super::{Contracts, Row};
use crate::contract::ContractKey;

/// The bytes of file per chunk.
pub(crate) const CHUNK: u64 = 1 << 20;

/// Plain CSV files at least this long are read by several threads (smaller ones take less
/// time to read than to start the threads).
pub(crate) const PARALLEL_FROM: u64 = 4 * CHUNK;

/// Chunks asked for ahead per worker.
const AHEAD: u64 = 2;

/// No reader index yet for a worker's contract.
const NONE: u32 = u32::MAX;

/// The threads to read with: the machine's cores, at most four.
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Where a file's rows are and how it is cut.
#[derive(Clone)]
struct Plan {
    path: Arc<Path>,
    /// Where the first row can start: just after the header line.
    first: u64,
    /// Chunk size.
    chunk: u64,
    /// The number of chunks (the last reads to the end, however long the file has grown).
    chunks: u64,
    /// Rows per part ([`PART_ROWS`]).
    part_rows: usize,
}

impl Plan {
    /// The lines of chunk `k`.
    fn open(&self, k: u64) -> io::Result<ChunkStream> {
        let from = (k * self.chunk).max(self.first);
        let to = (k + 1 < self.chunks).then(|| (k + 1) * self.chunk);
        ChunkStream::open(&self.path, from, to, self.first)
    }
}

/// The bytes of the lines that start in `[from, to)` (`to`: `None` for the rest of the file),
/// where a line starts at `first` or just after a `\n`.
struct ChunkStream {
    file: File,
    /// The file offset of the next byte to read.
    pos: u64,
    to: Option<u64>,
    done: bool,
}

impl ChunkStream {
    fn open(path: &Path, from: u64, to: Option<u64>, first: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let start = if from <= first {
            first
        } else {
            // The first line start at or after `from`: just after the first `\n` at or after
            // `from - 1` (or the end of the file).
            file.seek(SeekFrom::Start(from - 1))?;
            let mut at = from - 1;
            let mut buf = [0u8; 4096];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    break at;
                }
                if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                    break at + i as u64 + 1;
                }
                at += n as u64;
            }
        };
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            file,
            pos: start,
            to,
            done: to.is_some_and(|to| start >= to),
        })
    }
}

impl Read for ChunkStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let mut n = self.file.read(out)?;
        if n == 0 {
            self.done = true;
        }
        if let Some(to) = self.to {
            // The chunk's last line ends at the first `\n` at or after `to - 1`.
            let last = (to - 1).saturating_sub(self.pos);
            if let Some(i) = out[..n]
                .get(last as usize..)
                .and_then(|rest| memchr::memchr(b'\n', rest))
            {
                n = last as usize + i + 1;
                self.done = true;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Rows per part ([`ParallelCsvRows::start`]): a worker sends a chunk's rows in parts of at most this many, and at most
/// [`PARTS_AHEAD`] parts wait per worker, so memory is bounded by rows, not by bytes of file
/// (a MiB of short bad lines is a great many rows).
pub(crate) const PART_ROWS: usize = 16 << 10;

/// Parts a worker may have sent and the reader not taken yet.
const PARTS_AHEAD: usize = 2;

/// Rows of a chunk, in order, as a worker read them.
struct Part {
    /// Taken from the front; sent back empty to be filled again (no allocation per part).
    rows: VecDeque<Row>,
    /// The worker's contracts first seen since its last part, in the worker's index order.
    new_contracts: Vec<ContractKey>,
    /// What ended the chunk early.
    error: Option<io::Error>,
    /// In the chunk's last part: its number of lines (bad lines' numbers count from the
    /// chunk's first line).
    end: Option<u64>,
}

/// A worker: reads the chunks it is sent, sends back their rows in parts (in the row queues
/// it is given back, when there are).
fn work(
    plan: &Plan,
    layout: &Layout,
    jobs: &Receiver<u64>,
    results: &SyncSender<Part>,
    spare: &Receiver<VecDeque<Row>>,
) {
    let mut contracts = Contracts::new();
    let mut sent_contracts = 0;
    let mut part = |contracts: &Contracts, rows, error, end| {
        let new_contracts = (sent_contracts..contracts.len())
            .map(|i| *contracts.key(i as u32))
            .collect();
        sent_contracts = contracts.len();
        let part = Part {
            rows,
            new_contracts,
            error,
            end,
        };
        results.send(part).is_ok()
    };
    let mut reader: Option<CsvRows> = None;
    for k in jobs {
        let mut rows = spare.try_recv().unwrap_or_default();
        let stream = match plan.open(k) {
            Ok(stream) => Box::new(stream),
            Err(e) => {
                if part(&contracts, rows, Some(e), Some(0)) {
                    continue;
                }
                return;
            }
        };
        let reader = match &mut reader {
            Some(reader) => {
                reader.restart(stream);
                reader
            }
            None => reader.insert(CsvRows::headless(
                layout.clone(),
                LineReader::new(stream, plan.chunk as usize),
            )),
        };
        let error = loop {
            match reader.next_row(&mut contracts) {
                Ok(Some(row)) => {
                    rows.push_back(row);
                    if rows.len() == plan.part_rows {
                        let full =
                            std::mem::replace(&mut rows, spare.try_recv().unwrap_or_default());
                        if !part(&contracts, full, None, None) {
                            return;
                        }
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let lines = reader.lines().line_number();
        if !part(&contracts, rows, error, Some(lines)) {
            return;
        }
    }
}

/// A worker as the reader sees it.
struct Worker {
    jobs: Option<Sender<u64>>,
    /// Emptied row queues, back to the worker.
    spare: Sender<VecDeque<Row>>,
    /// In a mutex only for the reader to be `Sync` (it is taken once per part, uncontended).
    results: Mutex<Receiver<Part>>,
    /// The reader's index of each of the worker's contracts ([`NONE`]: not taken yet).
    indexes: Vec<u32>,
    contracts: Vec<ContractKey>,
}

/// The rows of a plain CSV file, read by worker threads (see the module docs).
pub(crate) struct ParallelCsvRows {
    workers: Vec<Worker>,
    chunks: u64,
    /// The next chunk to ask for, and the chunks taken whole.
    asked: u64,
    taken: u64,
    /// Whether a chunk's parts are being taken (its last not yet), and its worker.
    in_chunk: bool,
    worker: usize,
    /// The part being handed out, and what ended it.
    rows: VecDeque<Row>,
    error: Option<io::Error>,
    /// The lines before the current chunk, and the lines of the last chunk taken whole.
    lines_before: u64,
    lines: u64,
}

impl ParallelCsvRows {
    /// Starts reading `path` (a regular file of `len` bytes whose header, read by `header`,
    /// ends at its current offset) with `workers` threads, chunks of `chunk` bytes and parts
    /// of `part_rows` rows.
    pub(crate) fn start(
        path: &Arc<Path>,
        header: &CsvRows,
        len: u64,
        workers: usize,
        (chunk, part_rows): (u64, usize),
    ) -> Self {
        let plan = Plan {
            path: path.clone(),
            first: header.lines().offset(),
            chunk,
            chunks: len.div_ceil(chunk).max(1),
            part_rows: part_rows.max(1),
        };
        let workers = (0..workers.max(1))
            .map(|_| {
                let (jobs, job_queue) = channel();
                let (result_queue, results) = sync_channel(PARTS_AHEAD);
                let (spare, spares) = channel();
                let (plan, layout) = (plan.clone(), header.layout().clone());
                let spawned = std::thread::Builder::new()
                    .name("replay-csv".into())
                    .spawn(move || work(&plan, &layout, &job_queue, &result_queue, &spares));
                Worker {
                    // No thread: its chunks fail (`jobs` dropped, `results` closed).
                    jobs: spawned.ok().map(|_| jobs),
                    spare,
                    results: Mutex::new(results),
                    indexes: Vec::new(),
                    contracts: Vec::new(),
                }
            })
            .collect();
        let mut rows = Self {
            workers,
            chunks: plan.chunks,
            asked: 0,
            taken: 0,
            in_chunk: false,
            worker: 0,
            rows: VecDeque::new(),
            error: None,
            lines_before: header.lines().line_number(),
            lines: 0,
        };
        let ahead = AHEAD * rows.workers.len() as u64;
        while rows.asked < rows.chunks.min(ahead) {
            rows.ask();
        }
        rows
    }

    /// Asks the next chunk of its worker.
    fn ask(&mut self) {
        let k = self.asked;
        self.asked += 1;
        let count = self.workers.len() as u64;
        let worker = &mut self.workers[(k % count) as usize];
        if let Some(jobs) = &worker.jobs {
            if jobs.send(k).is_err() {
                worker.jobs = None;
            }
        }
    }

    /// The next event or bad row, as [`CsvRows::next_row`] gives them.
    pub(crate) fn next_row(&mut self, contracts: &mut Contracts) -> io::Result<Option<Row>> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Ok(Some(match row {
                    Row::Event { index, body } => Row::Event {
                        index: self.index(index, contracts),
                        body,
                    },
                    Row::Bad(line, problem) => Row::Bad(self.lines_before + line, problem),
                }));
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            if !self.in_chunk {
                if self.taken == self.chunks {
                    return Ok(None);
                }
                self.in_chunk = true;
                self.worker = (self.taken % self.workers.len() as u64) as usize;
                self.lines_before += self.lines;
                if self.asked < self.chunks {
                    self.ask();
                }
            }
            self.take()?;
        }
    }

    /// Takes the current chunk's next part (waiting for it).
    fn take(&mut self) -> io::Result<()> {
        let worker = &mut self.workers[self.worker];
        let results = worker
            .results
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let part = results.recv().map_err(|_| {
            io::Error::other(format!(
                "replay: the thread reading chunk {} ended",
                self.taken
            ))
        })?;
        let done = std::mem::replace(&mut self.rows, part.rows);
        if done.capacity() > 0 {
            // To be filled again, by any worker (one that has ended drops it).
            let _ = worker.spare.send(done);
        }
        worker
            .indexes
            .extend(std::iter::repeat_n(NONE, part.new_contracts.len()));
        worker.contracts.extend(part.new_contracts);
        self.error = part.error;
        if let Some(lines) = part.end {
            self.in_chunk = false;
            self.taken += 1;
            self.lines = lines;
        }
        Ok(())
    }

    /// The reader's index of the current worker's contract `index`.
    #[inline]
    fn index(&mut self, index: u32, contracts: &mut Contracts) -> u32 {
        let worker = &mut self.workers[self.worker];
        let slot = &mut worker.indexes[index as usize];
        if *slot == NONE {
            *slot = contracts.intern(worker.contracts[index as usize]);
        }
        *slot
    }
}

impl Drop for ParallelCsvRows {
    fn drop(&mut self) {
        // Workers end when their job queue closes (or when a result cannot be sent).
        for worker in &mut self.workers {
            worker.jobs = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::replay::csv_rows::Header;
    use crate::replay::format::open;

    type NextRow = Box<dyn FnMut(&mut Contracts) -> io::Result<Option<Row>>>;

    /// Every row of `path`: read alone, or by `workers` threads in chunks of `chunk` bytes and
    /// parts of `part_rows` rows;
    /// events as (contract, body), bad rows as (line, message), and how the reading ended.
    fn rows(path: &Arc<Path>, parallel: Option<(usize, u64, usize)>) -> Vec<String> {
        let lines = LineReader::new(open(path).unwrap().stream, 1 << 17);
        let Header::Rows(mut alone) = CsvRows::open(path, lines, false).unwrap() else {
            return vec!["empty".into()];
        };
        let mut contracts = Contracts::new();
        let mut out = Vec::new();
        let mut next: NextRow = match parallel {
            None => Box::new(move |c| alone.next_row(c)),
            Some((workers, chunk, part_rows)) => {
                let len = std::fs::metadata(path).unwrap().len();
                let sizes = (chunk, part_rows);
                let mut rows = ParallelCsvRows::start(path, &alone, len, workers, sizes);
                Box::new(move |c| rows.next_row(c))
            }
        };
        loop {
            match next(&mut contracts) {
                // Indexes are the reader's own: dense and stable, but a contract met only in
                // a bad row is numbered by reading alone and not by threads.
                Ok(Some(Row::Event { index, body })) => {
                    out.push(format!("{:?} {body:?}", contracts.key(index)));
                }
                Ok(Some(Row::Bad(line, problem))) => out.push(format!("{line}: {problem}")),
                Ok(None) => return out,
                Err(e) => {
                    out.push(format!("error {e}"));
                    return out;
                }
            }
        }
    }

    /// A row: valid (one of a few contracts), bad in some column, blank, quoted, with `\r`,
    /// or long.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (0u32..5, 0u32..100_000, 1u32..9999).prop_map(|(s, ms, price)| {
                format!("20250321,{ms},S{s},{}.{:02},{s},7", price / 100, price % 100)
            }),
            1 => Just("20250321,1,AAPL,x,1,2".to_string()),
            1 => Just(String::new()),
            1 => Just("  ".to_string()),
            1 => Just("20250321,2,\"BRK.B\",1.5,1,3\r".to_string()),
            1 => (0usize..300).prop_map(|n| format!("20250321,3,{},1,1,1", "Z".repeat(n))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the cuts and parts, threads give the rows, line numbers, contracts and
        /// errors that reading alone gives.
        #[test]
        fn threads_read_what_one_reader_reads(
            lines in proptest::collection::vec(line(), 0..400),
            last_newline in any::<bool>(),
            workers in 1usize..4,
            chunk in 1u64..700,
            part_rows in 1usize..40,
            blank_before_header in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut text = String::new();
            if blank_before_header {
                text.push_str("\n \n");
            }
            text.push_str("date,ms_of_day,symbol,price,size,exchange\n");
            text.push_str(&lines.join("\n"));
            if last_newline {
                text.push('\n');
            }
            let path: Arc<Path> = Arc::from(dir.path().join("x.csv"));
            std::fs::write(&path, &text).unwrap();
            let alone = rows(&path, None);
            let threads = rows(&path, Some((workers, chunk, part_rows)));
            let first = alone.iter().zip(&threads).position(|(a, t)| a != t);
            let at = first.unwrap_or(alone.len().min(threads.len()));
            prop_assert!(
                first.is_none() && alone.len() == threads.len(),
                "row {} of {} / {}: alone {:?}, threads {:?}",
                at, alone.len(), threads.len(), alone.get(at), threads.get(at)
            );
        }
    }

    #[test]
    fn chunk_streams_split_lines_where_they_start() {
        let dir = tempfile::tempdir().unwrap();
        let path: Arc<Path> = Arc::from(dir.path().join("x.csv"));
        std::fs::write(&path, "h\naa\nbbbb\n\ncc").unwrap();
        let plan = |chunk: u64| Plan {
            path: path.clone(),
            first: 2,
            chunk,
            chunks: 13u64.div_ceil(chunk),
            part_rows: PART_ROWS,
        };
        let read = |plan: &Plan| -> Vec<String> {
            (0..plan.chunks)
                .map(|k| {
                    let mut s = String::new();
                    plan.open(k).unwrap().read_to_string(&mut s).unwrap();
                    s
                })
                .collect()
        };
        // Lines start at 2 (aa), 5 (bbbb), 10 (blank), 11 (cc, to the end: 13).
        assert_eq!(read(&plan(5)), ["aa\n", "bbbb\n", "\ncc"]);
        assert_eq!(read(&plan(3)), ["aa\n", "bbbb\n", "", "\ncc", ""]);
        assert_eq!(read(&plan(11)), ["aa\nbbbb\n\n", "cc"]);
        assert_eq!(read(&plan(100)), ["aa\nbbbb\n\ncc"]);
    }
}
