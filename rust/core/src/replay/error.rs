//! What can go wrong reading replay files, as values: [`ReplayError`] (a file cannot be
//! replayed, or a read failed) and [`BadLine`] (one line is not a valid event). They become
//! text only when displayed, at the edge.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::contract::ContractReason;
use crate::event::DecodeError;

/// Why a replay cannot start or go on. Every variant displays as one line; all but
/// [`ReplayError::BadLine`] start with `replay: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// An empty list of files.
    NoFiles,
    /// A glob pattern that matches no file.
    NoMatch { pattern: String },
    /// A glob pattern that is not valid.
    BadPattern { pattern: String, detail: String },
    /// The file does not exist.
    NotFound { path: PathBuf },
    /// The path is a directory.
    IsDirectory { path: PathBuf },
    /// The file exists but cannot be opened (permissions, …).
    Open { path: PathBuf, detail: String },
    /// Reading a plain file failed.
    Read { path: PathBuf, detail: String },
    /// A gzip file ends early (`truncated`) or holds invalid compressed data.
    Gzip {
        path: PathBuf,
        truncated: bool,
        detail: String,
    },
    /// The file holds no data event (nothing, blank lines, STATUS lines; a CSV header only).
    Empty { path: PathBuf },
    /// The CSV header row cannot be read as trades or quotes.
    CsvHeader {
        path: PathBuf,
        problem: CsvHeaderProblem,
    },
    /// A line that is not a valid event (`--on-bad-line stop`).
    BadLine(BadLine),
}

/// What is wrong with a CSV header row. Column lists are in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvHeaderProblem {
    /// Required columns are absent; `has` is the header as read.
    Missing {
        missing: Vec<&'static str>,
        has: Vec<String>,
    },
    /// Columns that are not part of the format (a typo must not become a default).
    Unknown {
        unknown: Vec<String>,
        known: Vec<&'static str>,
    },
    /// A column named twice.
    Repeated { column: String },
    /// A header line longer than the line limit.
    TooLong { limit: usize },
}

impl ReplayError {
    /// The error of a failed read from `path` (`gzip`: through the gzip decoder).
    pub(crate) fn read(path: &Path, gzip: bool, error: &io::Error) -> Self {
        let path = path.to_path_buf();
        let detail = error.to_string();
        if gzip
            && matches!(
                error.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
            )
        {
            ReplayError::Gzip {
                path,
                truncated: error.kind() == io::ErrorKind::UnexpectedEof,
                detail,
            }
        } else {
            ReplayError::Read { path, detail }
        }
    }

    /// The error of a failed open of `path`.
    pub(crate) fn open(path: &Path, error: &io::Error) -> Self {
        let path = path.to_path_buf();
        match error.kind() {
            io::ErrorKind::NotFound => ReplayError::NotFound { path },
            io::ErrorKind::IsADirectory => ReplayError::IsDirectory { path },
            _ => ReplayError::Open {
                path,
                detail: error.to_string(),
            },
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::NoFiles => f.write_str("replay: no files given"),
            ReplayError::NoMatch { pattern } => write!(f, "replay: no file matches {pattern}"),
            ReplayError::BadPattern { pattern, detail } => {
                write!(f, "replay: bad glob pattern {pattern}: {detail}")
            }
            ReplayError::NotFound { path } => {
                write!(f, "replay: no such file: {}", path.display())
            }
            ReplayError::IsDirectory { path } => {
                write!(f, "replay: {} is a directory, not a file", path.display())
            }
            ReplayError::Open { path, detail } => {
                write!(f, "replay: cannot open {}: {detail}", path.display())
            }
            ReplayError::Read { path, detail } => {
                write!(f, "replay: cannot read {}: {detail}", path.display())
            }
            ReplayError::Gzip {
                path,
                truncated,
                detail,
            } => {
                let what = if *truncated { "truncated" } else { "invalid" };
                write!(f, "replay: {}: {what} gzip ({detail})", path.display())
            }
            ReplayError::Empty { path } => {
                write!(f, "replay: {} is empty (no events)", path.display())
            }
            ReplayError::CsvHeader { path, problem } => {
                write!(f, "replay: {}: CSV header {problem}", path.display())
            }
            ReplayError::BadLine(bad) => bad.fmt(f),
        }
    }
}

impl fmt::Display for CsvHeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvHeaderProblem::Missing { missing, has } => {
                write!(f, "lacks {} (has {})", missing.join(", "), has.join(", "))
            }
            CsvHeaderProblem::Unknown { unknown, known } => {
                let s = if unknown.len() == 1 { "" } else { "s" };
                write!(
                    f,
                    "has unknown column{s} {} (known: {})",
                    unknown.join(", "),
                    known.join(", ")
                )
            }
            CsvHeaderProblem::Repeated { column } => write!(f, "repeats column {column}"),
            CsvHeaderProblem::TooLong { limit } => write!(f, "is longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// One line that is not a valid event: the file, its 1-based line number and what is wrong.
/// Displays as `PATH:LINE: <field path>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub path: Arc<Path>,
    pub line: u64,
    pub problem: LineProblem,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.problem)
    }
}

/// What is wrong with one line; displays as `<field path>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// The event decoder's error (`trade.price: expected a number at byte 228`).
    Decode(DecodeError),
    /// A JSON line that is not UTF-8 (`json: invalid UTF-8 at byte N`).
    Utf8 { offset: usize },
    /// A line longer than the reader's limit (`json: line longer than N bytes`; `csv: …`).
    TooLong { format: &'static str, limit: usize },
    /// A CSV row with another number of fields than the header.
    FieldCount { expected: usize, got: usize },
    /// A CSV field (named by its column) that breaks a rule.
    Field {
        column: &'static str,
        reason: FieldReason,
    },
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::Decode(e) => e.fmt(f),
            LineProblem::Utf8 { offset } => write!(f, "json: invalid UTF-8 at byte {offset}"),
            LineProblem::TooLong { format, limit } => {
                write!(f, "{format}: line longer than {limit} bytes")
            }
            LineProblem::FieldCount { expected, got } => {
                write!(
                    f,
                    "csv: expected {expected} fields (as the header), got {got}"
                )
            }
            LineProblem::Field { column, reason } => write!(f, "{column}: {reason}"),
        }
    }
}

/// Why a CSV field is invalid. `got` is a bounded, quoted echo of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldReason {
    /// A required field is empty.
    Required,
    /// Not an integer in `min..=max`.
    Integer { min: i64, max: u64, got: String },
    /// Not a finite decimal number.
    Number { got: String },
    /// Not `STOCK`, `OPTION` or `INDEX`.
    SecType { got: String },
    /// A rule of the contract validator (SPEC §3.1).
    Contract(ContractReason),
}

impl fmt::Display for FieldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldReason::Required => f.write_str("required"),
            FieldReason::Integer { min, max, got } => {
                write!(f, "expected an integer in {min}..={max}, got {got}")
            }
            FieldReason::Number { got } => write!(f, "expected a finite number, got {got}"),
            FieldReason::SecType { got } => {
                write!(f, "expected \"STOCK\", \"OPTION\" or \"INDEX\", got {got}")
            }
            FieldReason::Contract(reason) => reason.fmt(f),
        }
    }
}
