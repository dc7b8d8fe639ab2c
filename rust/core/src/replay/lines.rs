//! Lines of a byte stream, read in large chunks into one fixed buffer and split with `memchr`:
//! memory is the buffer, whatever the file's size.

use std::io::{self, Read};
use std::ops::Range;

use super::error::LineProblem;
use super::format::Stream;

/// The longest line kept (in bytes, without its `\n`); a longer one is reported as too long
/// and skipped without being buffered whole. An event line is a few hundred bytes.
pub const MAX_LINE: usize = 64 << 10;

/// One line: where it lies in [`LineReader::buffer`] (without its `\n`), or the fact that it
/// was longer than [`MAX_LINE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Text(Range<usize>),
    TooLong,
}

/// Splits a stream into lines. A line's bytes stay valid until the next call.
pub(crate) struct LineReader {
    stream: Stream,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    /// The number of the last line returned (1-based).
    line: u64,
}

impl LineReader {
    /// A reader with a buffer of `capacity` bytes (at least twice [`MAX_LINE`]).
    pub(crate) fn new(stream: Stream, capacity: usize) -> Self {
        Self {
            stream,
            buf: vec![0; capacity.max(2 * MAX_LINE)].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            line: 0,
        }
    }

    /// The buffer the ranges of [`Line::Text`] point into.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The next line and its number, or `None` at the end. A last line without `\n` counts.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, Line)>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                let start = self.pos;
                self.pos += i + 1;
                self.line += 1;
                if i > MAX_LINE {
                    return Ok(Some((self.line, Line::TooLong)));
                }
                return Ok(Some((self.line, Line::Text(start..start + i))));
            }
            if self.end - self.pos > MAX_LINE {
                self.skip_rest_of_line()?;
                self.line += 1;
                return Ok(Some((self.line, Line::TooLong)));
            }
            if self.eof {
                if self.pos == self.end {
                    return Ok(None);
                }
                // Shorter than MAX_LINE: checked above.
                let start = self.pos;
                self.pos = self.end;
                self.line += 1;
                return Ok(Some((self.line, Line::Text(start..self.end))));
            }
            self.fill()?;
        }
    }

    /// The next line that is not blank, as [`LineReader::next_line`]; a line over
    /// [`MAX_LINE`] comes as the problem of a bad line of `format` (`"json"`, `"csv"`).
    pub(crate) fn next_content_line(
        &mut self,
        format: &'static str,
    ) -> io::Result<Option<ContentLine>> {
        while let Some((number, line)) = self.next_line()? {
            match line {
                Line::Text(range) if is_blank(&self.buf[range.clone()]) => {}
                Line::Text(range) => return Ok(Some((number, Ok(range)))),
                Line::TooLong => {
                    let problem = LineProblem::TooLong {
                        format,
                        limit: MAX_LINE,
                    };
                    return Ok(Some((number, Err(problem))));
                }
            }
        }
        Ok(None)
    }

    /// Moves the partial line to the front and reads more after it.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Discards bytes up to and including the next `\n` (or the end).
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                self.pos += i + 1;
                return Ok(());
            }
            self.pos = self.end;
            if self.eof {
                return Ok(());
            }
            self.fill()?;
        }
    }
}

/// A line's number, and its range in [`LineReader::buffer`] or why it cannot be read.
pub(crate) type ContentLine = (u64, Result<Range<usize>, LineProblem>);

/// True when `line` holds nothing but ASCII whitespace.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}
