//! The pre-scan: one pass over a file before it is served, to refuse what cannot be replayed
//! (missing, empty, a bad CSV header, broken gzip) and count its lines for a progress total.
//!
//! Lines are counted, not decoded: a line is counted when it holds anything but whitespace
//! (for CSV, after the header). What `record` writes has one data event per line, so there the
//! count is the number of events; a STATUS line or a bad line is counted too. Only the lines up
//! to the first data event are decoded (to tell a file of STATUS lines from one with events);
//! the rest are only counted ([`LineReader::count_content_lines`]).

use std::path::Path;

use super::csv_rows::{csv_record, Layout};
use super::error::{CsvHeaderProblem, ReplayError};
use super::format::{open, Format};
use super::lines::{is_blank, Line, LineReader, MAX_LINE};
use crate::event::decode_event;

/// The pre-scan's read buffer.
const SCAN_BUFFER: usize = 1 << 20;

/// Checks `path` and returns its number of non-blank lines (after the header, for CSV).
pub(crate) fn scan(path: &Path) -> Result<u64, ReplayError> {
    let opened = open(path)?;
    let gzip = opened.gzip;
    let mut lines = LineReader::new(opened.stream, SCAN_BUFFER);
    let format = Format::of_path(path);
    let mut header = format == Format::Csv;
    let mut count = 0u64;
    // Whether a line that is not blank, STATUS or an acknowledgement was seen (JSON Lines).
    let mut content = false;
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
        match line {
            Some(line) if is_blank(line) => continue,
            Some(line) if header => {
                check_csv_header(path, line)?;
                header = false;
                continue;
            }
            Some(line) => {
                content = format == Format::Csv || !matches!(decode_event(line), Ok(None));
            }
            None => content = true,
        }
        count += 1;
        if content {
            count += lines
                .count_content_lines()
                .map_err(|e| ReplayError::read(path, gzip, &e))?;
            break;
        }
    }
    if !content {
        return Err(ReplayError::Empty { path: path.into() });
    }
    Ok(count)
}

/// Reads `line` as a CSV header row and checks it.
fn check_csv_header(path: &Path, line: &[u8]) -> Result<(), ReplayError> {
    Layout::from_header(path, &csv_record(line)).map(|_| ())
}
