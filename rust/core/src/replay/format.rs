//! Which files, and how each is read: glob expansion, format detection (JSON Lines or CSV, by
//! name) and compression detection (gzip, by its magic bytes `1f 8b`, whatever the name).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::error::ReplayError;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines of SPEC §3.3 events (what `record` writes).
    Jsonl,
    /// CSV with a header row: trades, or quotes when the header has `bid`/`ask`.
    Csv,
}

impl Format {
    /// CSV when the name ends in `.csv` or `.csv.gz` (any case), JSON Lines otherwise.
    pub fn of_path(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(std::ffi::OsStr::as_encoded_bytes)
            .unwrap_or_default();
        let ends_with = |suffix: &[u8]| {
            name.len() >= suffix.len()
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        };
        if ends_with(b".csv") || ends_with(b".csv.gz") {
            Format::Csv
        } else {
            Format::Jsonl
        }
    }
}

/// The paths a replay specification names: a glob pattern (it holds `*`, `?` or `[`) expands
/// to the files it matches, sorted by path (directories are left out; a pattern that matches
/// nothing is an error, unless it is itself the name of a file); anything else is one path.
pub fn expand(spec: &str) -> Result<Vec<PathBuf>, ReplayError> {
    if !spec.contains(['*', '?', '[']) {
        return Ok(vec![PathBuf::from(spec)]);
    }
    let entries = glob::glob(spec).map_err(|e| ReplayError::BadPattern {
        pattern: spec.to_owned(),
        detail: e.msg.to_owned(),
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(path) if path.is_dir() => {}
            Ok(path) => paths.push(path),
            Err(e) => return Err(ReplayError::open(e.path(), e.error())),
        }
    }
    if paths.is_empty() {
        if Path::new(spec).is_file() {
            return Ok(vec![PathBuf::from(spec)]);
        }
        return Err(ReplayError::NoMatch {
            pattern: spec.to_owned(),
        });
    }
    paths.sort();
    Ok(paths)
}

/// A file's decompressed bytes.
pub(crate) type Stream = Box<dyn Read + Send + Sync>;

/// An opened replay file: its bytes (decompressed) and whether they come through gzip.
pub(crate) struct Opened {
    pub(crate) stream: Stream,
    pub(crate) gzip: bool,
}

/// Size of the read buffer in front of the gzip decoder.
const GZIP_INPUT_BUFFER: usize = 128 << 10;

/// Opens `path`, looking at its first two bytes for the gzip magic (a multi-member gzip file,
/// as written one member per flush, reads as one stream). The two bytes are read, not sought
/// back, so a named pipe works too.
pub(crate) fn open(path: &Path) -> Result<Opened, ReplayError> {
    let mut file = File::open(path).map_err(|e| ReplayError::open(path, &e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ReplayError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let mut magic = [0u8; 2];
    let mut n = 0;
    while n < magic.len() {
        match file.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReplayError::open(path, &e)),
        }
    }
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let input = io::Cursor::new(magic).take(n as u64).chain(file);
    let stream: Stream = if gzip {
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            GZIP_INPUT_BUFFER,
            input,
        )))
    } else {
        Box::new(input)
    };
    Ok(Opened { stream, gzip })
}
