//! The pre-scan: one pass over a file before it is served, to refuse what cannot be replayed
//! (missing, empty, a bad CSV header, broken gzip) and count its lines for a progress total.
//!
//! Lines are counted, not decoded: a line is counted when it holds anything but whitespace
//! (for CSV, after the header). What `record` writes has one data event per line, so there the
//! count is the number of events; a STATUS line or a bad line is counted too. Only the lines up
//! to the first data event are decoded (to tell a file of STATUS lines from one with events);
//! the rest are only counted ([`LineReader::count_content_lines`]).
//!
//! A gzip file is counted to its end before it is served: only reading it all tells a
//! truncated or corrupt stream. A plain file has nothing left to check after its first data
//! event: the rest of its count is handed back ([`Scanned::Counting`]) for the reader to finish
//! beside the replay, once someone asks for the total.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::csv_rows::{csv_record, Layout};
use super::error::{CsvHeaderProblem, ReplayError};
use super::format::{open, Format};
use super::lines::{is_blank, Line, LineReader, MAX_LINE};
use crate::event::decode_event;

/// The pre-scan's read buffer.
const SCAN_BUFFER: usize = 1 << 20;

/// What the pre-scan of a file found: its count, or the count so far and the lines left to
/// count.
pub(crate) enum Scanned {
    Counted(u64),
    Counting { counted: u64, rest: LineReader },
}

impl Scanned {
    /// Finishes the count (`None`: `stop` was set, or an I/O error, which the reading of the
    /// file reports itself).
    pub(crate) fn finish(self, stop: &AtomicBool) -> Option<u64> {
        match self {
            Scanned::Counted(n) => Some(n),
            Scanned::Counting { counted, mut rest } => rest
                .count_content_lines(stop)
                .ok()
                .flatten()
                .map(|n| counted + n),
        }
    }
}

/// Checks `path` and counts its non-blank lines (after the header, for CSV), or the lines up
/// to its first data event and what is left to count.
pub(crate) fn scan(path: &Path) -> Result<Scanned, ReplayError> {
    let opened = open(path)?;
    let gzip = opened.gzip;
    let mut lines = LineReader::new(opened.stream, SCAN_BUFFER);
    let format = Format::of_path(path);
    let mut header = format == Format::Csv;
    let mut count = 0u64;
    while let Some((_, line)) = lines
        .next_line()
        .map_err(|e| ReplayError::read(path, gzip, &e))?
    {
        let line = match line {
            Line::Text(range) => Some(&lines.buffer()[range]),
            Line::TooLong if header => {
                return Err(ReplayError::CsvHeader {
                    path: path.into(),
                    problem: CsvHeaderProblem::TooLong { limit: MAX_LINE },
                })
            }
            // A bad line: counted, and content.
            Line::TooLong => None,
        };
        // Whether the line is a data event or a bad line (not blank, STATUS or an
        // acknowledgement).
        let content = match line {
            Some(line) if is_blank(line) => continue,
            Some(line) if header => {
                check_csv_header(path, line)?;
                header = false;
                continue;
            }
            Some(line) => format == Format::Csv || !matches!(decode_event(line), Ok(None)),
            None => true,
        };
        count += 1;
        if !content {
            continue;
        }
        if !gzip {
            return Ok(Scanned::Counting {
                counted: count,
                rest: lines,
            });
        }
        let rest = lines
            .count_content_lines(&AtomicBool::new(false))
            .map_err(|e| ReplayError::read(path, gzip, &e))?;
        return Ok(Scanned::Counted(count + rest.unwrap_or(0)));
    }
    Err(ReplayError::Empty { path: path.into() })
}

/// Reads `line` as a CSV header row and checks it.
fn check_csv_header(path: &Path, line: &[u8]) -> Result<(), ReplayError> {
    Layout::from_header(path, &csv_record(line)).map(|_| ())
}
