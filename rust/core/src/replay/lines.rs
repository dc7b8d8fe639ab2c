//! Lines of a byte stream, read in large chunks into one fixed buffer and split with `memchr`:
//! memory is the buffer, whatever the file's size.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::LineProblem;
use super::format::Stream;

/// The longest line kept (in bytes, without its `\n`); a longer one is reported as too long
/// and skipped without being buffered whole. An event line is a few hundred bytes.
pub const MAX_LINE: usize = 64 << 10;

/// Bytes kept after the buffer's data, never filled: a parser may read a word at any position
/// of the data (see [`LineReader::window`]).
pub(crate) const SLACK: usize = 32;

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
    /// Bytes read from the stream so far.
    read: u64,
}

impl LineReader {
    /// A reader with a buffer of `capacity` bytes (at least twice [`MAX_LINE`]).
    pub(crate) fn new(stream: Stream, capacity: usize) -> Self {
        Self {
            stream,
            buf: vec![0; capacity.max(2 * MAX_LINE) + SLACK].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            line: 0,
            read: 0,
        }
    }

    /// Starts over on another stream, keeping the buffer.
    pub(crate) fn restart(&mut self, stream: Stream) {
        self.stream = stream;
        (self.pos, self.end, self.eof, self.line, self.read) = (0, 0, false, 0, 0);
    }

    /// The number of the last line returned or taken (1-based; 0 before the first).
    pub(crate) fn line_number(&self) -> u64 {
        self.line
    }

    /// How far into the stream the next line starts (in bytes).
    pub(crate) fn offset(&self) -> u64 {
        self.read - (self.end - self.pos) as u64
    }

    /// The buffer the ranges of [`Line::Text`] point into.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer with its [`SLACK`], where the next line starts in it and where the data
    /// read so far ends: a parser may take the lines there itself, telling
    /// [`LineReader::took_line`] where each ends.
    pub(crate) fn window(&self) -> (&[u8], usize, usize) {
        (&self.buf, self.pos, self.end)
    }

    /// One line was taken from [`LineReader::window`]: the next starts at `next` (just past
    /// the line's `\n`, at most the window's end).
    pub(crate) fn took_line(&mut self, next: usize) {
        debug_assert!(next > self.pos && next <= self.end && self.buf[next - 1] == b'\n');
        self.pos = next;
        self.line += 1;
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

    /// Counts the lines from here to the end that [`LineReader::next_content_line`] would
    /// return (not blank, or too long), without returning them. The pre-scan's count, at the
    /// speed of reading: the whole lines of each buffer are counted 64 bytes at a time
    /// ([`count_content_in`]). `None` when `stop` was found set (it is looked at once per
    /// buffer).
    pub(crate) fn count_content_lines(&mut self, stop: &AtomicBool) -> io::Result<Option<u64>> {
        let mut count = 0u64;
        // The current line's length so far (in earlier buffers) and whether it held anything
        // but whitespace there.
        let mut carried = 0usize;
        let mut content = false;
        loop {
            let window = &self.buf[self.pos..self.end];
            let mut from = 0;
            if carried > 0 {
                // The line begun in an earlier buffer ends at this one's first break.
                if let Some(at) = memchr::memchr(b'\n', window) {
                    let line = &window[..at];
                    if content || !is_blank(line) || carried + line.len() > MAX_LINE {
                        count += 1;
                    }
                    self.line += 1;
                    (carried, content, from) = (0, false, at + 1);
                }
            }
            if carried == 0 {
                if let Some(last) = memchr::memrchr(b'\n', &window[from..]) {
                    let whole = &window[from..=from + last];
                    let (lines, with_content) = count_content_in(whole);
                    count += with_content;
                    self.line += lines;
                    from += last + 1;
                }
            }
            let rest = &window[from..];
            content |= !is_blank(rest);
            carried += rest.len();
            self.pos = self.end;
            if self.eof {
                if carried > 0 {
                    self.line += 1;
                    count += u64::from(content || carried > MAX_LINE);
                }
                return Ok(Some(count));
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Moves the partial line to the front and reads more after it.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        loop {
            let room = self.buf.len() - SLACK;
            match self.stream.read(&mut self.buf[self.end..room]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.read += n as u64;
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

/// The lines of `whole` (which starts at a line's start and ends with `\n`) and how many of
/// them [`LineReader::next_content_line`] would return: all but the blank ones no longer than
/// [`MAX_LINE`]. Line breaks are counted 64 bytes at a time; only a line whose last byte is
/// at most 0x20 (as every whitespace byte is) can be blank, and only such a line is looked at
/// byte by byte, from its end.
fn count_content_in(whole: &[u8]) -> (u64, u64) {
    let mut lines = 0u64;
    let mut blank = 0u64;
    // Whether the byte before the current block is at most 0x20; the one before `whole` is a
    // line break.
    let mut low_before = 1u64;
    for (i, block) in whole.chunks(WINDOW).enumerate() {
        let (breaks, low) = if let Some(block) = block.first_chunk::<WINDOW>() {
            line_masks(block)
        } else {
            // `a` is neither a break nor low, so the padding changes nothing.
            let mut padded = [b'a'; WINDOW];
            padded[..block.len()].copy_from_slice(block);
            line_masks(&padded)
        };
        lines += u64::from(breaks.count_ones());
        let mut maybe_blank = breaks & ((low << 1) | low_before);
        low_before = low >> 63;
        while maybe_blank != 0 {
            let end = i * WINDOW + maybe_blank.trailing_zeros() as usize;
            let line = &whole[..end];
            let start = line
                .iter()
                .rposition(|&b| b == b'\n' || !b.is_ascii_whitespace())
                .map_or(0, |at| at + 1);
            if (start == 0 || whole[start - 1] == b'\n') && end - start <= MAX_LINE {
                blank += 1;
            }
            maybe_blank &= maybe_blank - 1;
        }
    }
    (lines, lines - blank)
}

/// The block size of [`line_masks`].
const WINDOW: usize = 64;

/// Two bitmasks of a block (bit `i` for byte `i`): its line breaks, and its bytes at most 0x20.
/// With SSE2 where the target has it (every `x86_64` target), else byte by byte.
#[inline]
fn line_masks(block: &[u8; WINDOW]) -> (u64, u64) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[allow(unsafe_code)]
    // SAFETY: `line_masks_sse2` only needs SSE2, which this cfg proves is enabled for the
    // whole compilation; it touches memory only through the safe `block` reference.
    let masks = unsafe { line_masks_sse2(block) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let masks = line_masks_bytes(block);
    masks
}

/// [`line_masks`] with 16-byte compares; the vectors are built from little-endian words (one
/// load once compiled), which keeps the function free of raw pointers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn line_masks_sse2(block: &[u8; WINDOW]) -> (u64, u64) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x,
    };
    let newline = _mm_set1_epi8(b'\n' as i8);
    let space = _mm_set1_epi8(b' ' as i8);
    let (mut breaks, mut low) = (0u64, 0u64);
    for (lane, bytes) in block.chunks_exact(16).enumerate() {
        let word = |k: usize| {
            let mut le = [0u8; 8];
            le.copy_from_slice(&bytes[8 * k..8 * k + 8]);
            u64::from_le_bytes(le) as i64
        };
        let v = _mm_set_epi64x(word(1), word(0));
        let bits = |m| u64::from(_mm_movemask_epi8(m) as u16) << (16 * lane);
        breaks |= bits(_mm_cmpeq_epi8(v, newline));
        // Unsigned `v <= 0x20`: the smaller of the two is `v` itself.
        low |= bits(_mm_cmpeq_epi8(_mm_min_epu8(v, space), v));
    }
    (breaks, low)
}

/// Portable fallback of [`line_masks`].
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn line_masks_bytes(block: &[u8; WINDOW]) -> (u64, u64) {
    block
        .iter()
        .enumerate()
        .fold((0, 0), |(breaks, low), (i, &b)| {
            (
                breaks | u64::from(b == b'\n') << i,
                low | u64::from(b <= b' ') << i,
            )
        })
}

/// True when `line` holds nothing but ASCII whitespace. Looked at from the end: a line of
/// content usually ends in it (`\r\n` endings included), so one or two bytes decide.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().rev().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    /// A stream that hands out its bytes in the given read sizes (cycled).
    struct Chunked {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            let n = size.min(out.len()).min(self.bytes.len() - self.at);
            out[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn reader(bytes: &[u8], sizes: &[usize]) -> LineReader {
        let stream = Chunked {
            bytes: bytes.to_vec(),
            at: 0,
            sizes: sizes.to_vec(),
            turn: 0,
        };
        LineReader::new(Box::new(stream), 0)
    }

    /// A line: content, blank (spaces, tabs, `\r`), either around the length limit.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let blank = prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r')];
        // 0x0b, 0 and 0xa0 are not whitespace, but the count looks at them as it may.
        let byte = prop_oneof![
            Just(b'x'),
            Just(b' '),
            Just(b'\r'),
            Just(b','),
            Just(0x0b),
            Just(0),
            Just(0xa0),
        ];
        let length = prop_oneof![0usize..6, 60usize..70, MAX_LINE - 2..MAX_LINE + 3];
        prop_oneof![
            (blank, length.clone()).prop_map(|(b, n)| vec![b; n]),
            (byte, length, any::<usize>()).prop_map(|(b, n, at)| {
                let mut line = vec![b' '; n];
                if n > 0 {
                    line[at % n] = b;
                }
                line
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The pre-scan's count is the number of lines `next_content_line` returns, from
        /// wherever the count starts, however the stream's reads fall.
        #[test]
        fn counting_agrees_with_reading_line_by_line(
            lines in proptest::collection::vec(line(), 0..12),
            last_newline in any::<bool>(),
            sizes in proptest::collection::vec(1usize..200_000, 1..4),
            read_first in 0usize..4,
        ) {
            let mut bytes = lines.join(&b'\n');
            if last_newline && !lines.is_empty() {
                bytes.push(b'\n');
            }
            let mut expected = reader(&bytes, &sizes);
            let mut line_by_line = 0u64;
            while expected.next_content_line("csv").unwrap().is_some() {
                line_by_line += 1;
            }
            let mut counted = reader(&bytes, &sizes);
            let mut first = 0u64;
            for _ in 0..read_first {
                first += u64::from(counted.next_content_line("csv").unwrap().is_some());
            }
            let rest = counted.count_content_lines(&AtomicBool::new(false)).unwrap().unwrap();
            prop_assert_eq!(first + rest, line_by_line);
            prop_assert_eq!(counted.line, expected.line);
        }

        #[test]
        fn line_masks_agree_with_the_bytes(block in proptest::array::uniform32(any::<u8>()),
                                          rest in proptest::array::uniform32(any::<u8>())) {
            let mut whole = [0u8; WINDOW];
            whole[..32].copy_from_slice(&block);
            whole[32..].copy_from_slice(&rest);
            prop_assert_eq!(line_masks(&whole), line_masks_bytes(&whole));
        }
    }
}
