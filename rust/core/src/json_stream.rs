//! Splitting a chunked byte stream into top-level JSON objects (seed 002).
//!
//! An HTTP streaming body (already de-chunked) is a sequence of JSON objects whose boundaries
//! have nothing to do with the transport chunks: a chunk may hold several objects, part of one,
//! or end inside a string, an escape or a multi-byte UTF-8 character. [`JsonStreamSplitter`] is
//! sans-I/O: feed it chunks, it hands back every complete object as bytes.
//!
//! # What it does and does not check
//!
//! The splitter only finds object boundaries: it tracks strings (with `\` escapes) and counts
//! `{`/`[` against `}`/`]` outside strings as one nesting depth. It does **not** validate JSON;
//! the consumer parses each object. A mismatched pair such as `{"a":[1}` keeps the depth above
//! zero, so the object runs on until its brackets balance or it passes `max_object_size` (then it
//! is reported and skipped). Only ASCII bytes are structural, so UTF-8 needs no decoding.
//!
//! # Between objects
//!
//! Whitespace (space, `\t`, `\r`, `\n`) is skipped. Any other byte (a stray `]`, a comma, the
//! `[` of a top-level array, garbage) is reported once per run as
//! [`SplitErrorKind::UnexpectedByte`] with its stream offset, and the splitter resynchronises at
//! the next `{` byte, so no later object is lost. An object longer than `max_object_size` is
//! reported as [`SplitErrorKind::ObjectTooLarge`] and skipped to its end without being buffered.
//! Memory is bounded by `max_object_size` (the partial object carried between chunks).

use std::fmt;
use std::ops::{ControlFlow, Range};

/// The default bound on one object: 1 MiB.
pub const DEFAULT_MAX_OBJECT_SIZE: usize = 1 << 20;

/// What went wrong in a JSON stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitErrorKind {
    /// A byte other than whitespace or `{` between objects; `byte` is the first of the run.
    UnexpectedByte { byte: u8 },
    /// An object grew past `max` bytes; it was skipped to its end.
    ObjectTooLarge { max: usize },
}

/// An error in a JSON stream, located by its stream byte offset (bytes since the first chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// What went wrong.
    pub kind: SplitErrorKind,
    /// Stream offset of the first unexpected byte, or of the `{` opening the oversized object.
    pub offset: u64,
}

impl SplitError {
    /// The human-readable message (same as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// What went wrong, without the offset (for a caller that reports the offset itself).
    pub fn reason(&self) -> String {
        match self.kind {
            SplitErrorKind::UnexpectedByte { byte } if byte.is_ascii_graphic() => format!(
                "unexpected byte 0x{byte:02x} ('{}') between objects; skipped to the next '{{'",
                char::from(byte)
            ),
            SplitErrorKind::UnexpectedByte { byte } => {
                format!("unexpected byte 0x{byte:02x} between objects; skipped to the next '{{'")
            }
            SplitErrorKind::ObjectTooLarge { max } => {
                format!(
                    "object exceeds max_object_size of {max} bytes; skipped without buffering it"
                )
            }
        }
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SplitErrorKind::UnexpectedByte { byte } => {
                write!(f, "unexpected byte 0x{byte:02x}")?;
                if byte.is_ascii_graphic() {
                    write!(f, " ('{}')", char::from(byte))?;
                }
                write!(
                    f,
                    " between objects at stream offset {}; skipping to the next '{{'",
                    self.offset
                )
            }
            SplitErrorKind::ObjectTooLarge { max } => write!(
                f,
                "object exceeds max_object_size of {max} bytes at stream offset {}",
                self.offset
            ),
        }
    }
}

impl std::error::Error for SplitError {}

/// Where a complete object found by [`JsonStreamSplitter::feed_spans`] lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span<'a> {
    /// The object is `chunk[range]` of the chunk just fed (no copy was made).
    InChunk(Range<usize>),
    /// The object started in an earlier chunk; these are its bytes, joined in the splitter's
    /// buffer (valid until the next call).
    Joined(&'a [u8]),
}

/// Receives what [`JsonStreamSplitter::feed_to`] finds.
pub trait SplitSink {
    /// Offered every object that starts between objects, as the bytes from its `{` on: to the
    /// end of the chunk, or `max_object_size` bytes if fewer, so an object that fits in them
    /// is within the limit. A sink that can take the whole object there (a decoder that parsed
    /// all of it as strict JSON, so it knows where it ends) returns its length, and the
    /// splitter goes on after it without scanning it; `None` (the default) lets the splitter
    /// find the object and report it as usual.
    fn object_start(&mut self, _bytes: &[u8]) -> Option<usize> {
        None
    }

    /// Each complete object the splitter found (see [`Span`]) and each error, in stream order;
    /// [`ControlFlow::Break`] stops the scan right after this item.
    fn item(&mut self, item: Result<Span<'_>, SplitError>) -> ControlFlow<()>;
}

/// A closure as a [`SplitSink`] that takes no object itself.
struct Items<F>(F);

impl<F: FnMut(Result<Span<'_>, SplitError>) -> ControlFlow<()>> SplitSink for Items<F> {
    fn item(&mut self, item: Result<Span<'_>, SplitError>) -> ControlFlow<()> {
        (self.0)(item)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between objects: whitespace, then `{`.
    Between,
    /// After an unexpected byte: everything up to the next `{` is dropped.
    Resync,
    /// Inside an object that is being kept.
    Object,
    /// Inside an object that passed the size limit: scanned to its end, not kept.
    Skip,
}

/// Lexical state inside an object, carried across windows and chunks.
#[derive(Debug, Clone, Copy, Default)]
struct Lexer {
    depth: usize,
    in_string: bool,
    /// The next byte is escaped by an odd run of backslashes.
    escaped: bool,
}

/// Splits a byte stream into complete top-level JSON objects; see the module docs.
#[derive(Debug, Clone)]
pub struct JsonStreamSplitter {
    max_object_size: usize,
    mode: Mode,
    lexer: Lexer,
    /// Bytes of the current object seen in earlier chunks (empty in `Skip` mode).
    partial: Vec<u8>,
    /// Stream offset of the current object's `{`, for the size error.
    object_offset: u64,
    /// Stream bytes consumed before the current chunk.
    offset: u64,
}

impl Default for JsonStreamSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_OBJECT_SIZE)
    }
}

impl JsonStreamSplitter {
    /// A splitter that rejects objects longer than `max_object_size` bytes.
    pub fn new(max_object_size: usize) -> Self {
        Self {
            max_object_size,
            mode: Mode::Between,
            lexer: Lexer::default(),
            partial: Vec::new(),
            object_offset: 0,
            offset: 0,
        }
    }

    /// The size limit given to [`new`](Self::new).
    pub fn max_object_size(&self) -> usize {
        self.max_object_size
    }

    /// Bytes of an incomplete object held until the next chunk (never above `max_object_size`).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Stream bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the splitter is inside an object (kept or being skipped).
    pub fn in_object(&self) -> bool {
        matches!(self.mode, Mode::Object | Mode::Skip)
    }

    /// Forgets any partial object and restarts at stream offset 0 (for a new stream).
    pub fn reset(&mut self) {
        self.mode = Mode::Between;
        self.lexer = Lexer::default();
        self.partial.clear();
        self.object_offset = 0;
        self.offset = 0;
    }

    /// Feeds one chunk; calls `out` with each complete object (borrowed from `chunk` when it
    /// lies inside it) and each error, in stream order.
    pub fn feed(&mut self, chunk: &[u8], mut out: impl FnMut(Result<&[u8], SplitError>)) {
        self.feed_spans(chunk, |item| match item {
            Ok(Span::InChunk(range)) => out(Ok(&chunk[range])),
            Ok(Span::Joined(bytes)) => out(Ok(bytes)),
            Err(e) => out(Err(e)),
        });
    }

    /// Like [`feed`](Self::feed), but reports objects inside the chunk as ranges, so a caller can
    /// keep positions without borrowing (at most one object per call is [`Span::Joined`]).
    pub fn feed_spans(&mut self, chunk: &[u8], mut out: impl FnMut(Result<Span<'_>, SplitError>)) {
        self.feed_spans_until(chunk, |item| {
            out(item);
            ControlFlow::Continue(())
        });
    }

    /// Like [`feed_spans`](Self::feed_spans), but `out` may stop the scan: after an item for
    /// which it returns [`ControlFlow::Break`], the call returns at once. Returns how many bytes
    /// of `chunk` were consumed (all of them unless stopped); the rest is the caller's to feed
    /// again, or to drop (then [`reset`](Self::reset) before the next stream).
    pub fn feed_spans_until(
        &mut self,
        chunk: &[u8],
        out: impl FnMut(Result<Span<'_>, SplitError>) -> ControlFlow<()>,
    ) -> usize {
        self.feed_to(chunk, &mut Items(out))
    }

    /// Like [`feed_spans_until`](Self::feed_spans_until), with a sink that may take whole
    /// objects itself as they start ([`SplitSink::object_start`]): the splitter then skips
    /// their bytes instead of scanning them. Returns how many bytes of `chunk` were consumed.
    pub fn feed_to(&mut self, chunk: &[u8], sink: &mut impl SplitSink) -> usize {
        let consumed = match self.scan_chunk(chunk, sink) {
            ControlFlow::Continue(()) => chunk.len(),
            ControlFlow::Break(pos) => pos,
        };
        self.offset += consumed as u64;
        consumed
    }

    /// The loop of [`feed_spans_until`](Self::feed_spans_until): `Break(pos)` when `out`
    /// stopped it after `chunk[..pos]`.
    fn scan_chunk(&mut self, chunk: &[u8], sink: &mut impl SplitSink) -> ControlFlow<usize> {
        let mut pos = 0;
        while pos < chunk.len() {
            match self.mode {
                Mode::Between => {
                    match chunk[pos..]
                        .iter()
                        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                    {
                        None => pos = chunk.len(),
                        Some(skip) => {
                            pos += skip;
                            if chunk[pos] == b'{' {
                                let limit = chunk.len().min(pos + self.max_object_size);
                                match sink.object_start(&chunk[pos..limit]) {
                                    Some(taken) => pos += taken,
                                    None => pos = self.open_object(chunk, pos, sink)?,
                                }
                            } else {
                                self.mode = Mode::Resync;
                                let error = SplitError {
                                    kind: SplitErrorKind::UnexpectedByte { byte: chunk[pos] },
                                    offset: self.offset + pos as u64,
                                };
                                pos += 1;
                                if sink.item(Err(error)).is_break() {
                                    return ControlFlow::Break(pos);
                                }
                            }
                        }
                    }
                }
                Mode::Resync => match memchr::memchr(b'{', &chunk[pos..]) {
                    None => pos = chunk.len(),
                    Some(skip) => pos = self.open_object(chunk, pos + skip, sink)?,
                },
                Mode::Object | Mode::Skip => {
                    // Only the first object of a chunk can have started in an earlier one.
                    pos = self.continue_object(chunk, pos, 0, sink)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Starts an object at `chunk[start] == b'{'` and scans as far as the chunk allows.
    fn open_object(
        &mut self,
        chunk: &[u8],
        start: usize,
        sink: &mut impl SplitSink,
    ) -> ControlFlow<usize, usize> {
        self.mode = Mode::Object;
        self.lexer = Lexer {
            depth: 1,
            in_string: false,
            escaped: false,
        };
        self.object_offset = self.offset + start as u64;
        self.continue_object(chunk, start + 1, start, sink)
    }

    /// Scans an object from `chunk[pos]`; the object's bytes in this chunk begin at
    /// `chunk[start]`. Continues with the position after the object, or the chunk length;
    /// breaks with that position when `out` stopped the scan.
    fn continue_object(
        &mut self,
        chunk: &[u8],
        pos: usize,
        start: usize,
        sink: &mut impl SplitSink,
    ) -> ControlFlow<usize, usize> {
        let end = scan_object(&mut self.lexer, chunk, pos);
        let too_large = SplitError {
            kind: SplitErrorKind::ObjectTooLarge {
                max: self.max_object_size,
            },
            offset: self.object_offset,
        };
        let (next, flow) = match (end, self.mode) {
            (Some(last), Mode::Skip) => {
                self.mode = Mode::Between;
                (last + 1, ControlFlow::Continue(()))
            }
            (Some(last), _) => {
                self.mode = Mode::Between;
                let tail = &chunk[start..=last];
                let flow = if self.partial.len() + tail.len() > self.max_object_size {
                    self.partial.clear();
                    sink.item(Err(too_large))
                } else if self.partial.is_empty() {
                    sink.item(Ok(Span::InChunk(start..last + 1)))
                } else {
                    self.partial.extend_from_slice(tail);
                    let flow = sink.item(Ok(Span::Joined(&self.partial)));
                    self.partial.clear();
                    flow
                };
                (last + 1, flow)
            }
            (None, Mode::Skip) => (chunk.len(), ControlFlow::Continue(())),
            (None, _) => {
                let tail = &chunk[start..];
                let flow = if self.partial.len() + tail.len() > self.max_object_size {
                    self.partial.clear();
                    self.mode = Mode::Skip;
                    sink.item(Err(too_large))
                } else {
                    self.partial.extend_from_slice(tail);
                    ControlFlow::Continue(())
                };
                (chunk.len(), flow)
            }
        };
        match flow {
            ControlFlow::Continue(()) => ControlFlow::Continue(next),
            ControlFlow::Break(()) => ControlFlow::Break(next),
        }
    }
}

const WINDOW: usize = 64;

/// Scans an object's bytes from `bytes[from]` with `lexer` as the state before it; returns the
/// index of the byte that closes the object, or `None` with `lexer` updated to the end of `bytes`.
///
/// Works on 64-byte windows: one bitmask each for quotes, backslashes, openers and closers, then
/// string interiors by a prefix XOR over the unescaped quotes, so the per-byte work is a few
/// vectorisable compares and only brackets are visited one by one.
fn scan_object(lexer: &mut Lexer, bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    let mut padded: [u8; WINDOW];
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let (block, len) = if let Some(block) = rest.first_chunk::<WINDOW>() {
            (block, WINDOW)
        } else {
            // Zero bytes are not structural, so padding cannot change the result.
            padded = [0u8; WINDOW];
            padded[..rest.len()].copy_from_slice(rest);
            (&padded, rest.len())
        };
        let masks = classify(block);
        if let Some(i) = scan_window(lexer, &masks, len as u32) {
            return Some(pos + i as usize);
        }
        pos += len;
    }
    None
}

/// Bitmasks of one window: bit `i` is set when byte `i` is the class.
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// Classifies a window with SSE2 where the target has it (every `x86_64` target), else with
/// the portable word-at-a-time version, which is about 5× slower (0.7 against 3.9 GB/s here).
#[inline]
fn classify(block: &[u8; WINDOW]) -> Masks {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[allow(unsafe_code)]
    // SAFETY: `classify_sse2` only needs SSE2, which this cfg proves is enabled for the whole
    // compilation; it touches memory only through the safe `block` reference.
    let masks = unsafe { classify_sse2(block) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let masks = classify_swar(block);
    masks
}

/// The 16-byte vectors are built from two little-endian words (the compiler folds this into
/// one load), which keeps the function free of raw pointers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn classify_sse2(block: &[u8; WINDOW]) -> Masks {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    let mut masks = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let case_bit = _mm_set1_epi8(0x20);
    let open = _mm_set1_epi8(b'{' as i8);
    let close = _mm_set1_epi8(b'}' as i8);
    let mut words = [0u64; 8];
    for (word, bytes) in words.iter_mut().zip(block.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        *word = u64::from_le_bytes(le);
    }
    for lane in 0..4 {
        let v = _mm_set_epi64x(words[2 * lane + 1] as i64, words[2 * lane] as i64);
        let shift = lane * 16;
        let bits = |m| u64::from(_mm_movemask_epi8(m) as u16) << shift;
        masks.quote |= bits(_mm_cmpeq_epi8(v, quote));
        masks.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
        // `{`/`[` and `}`/`]` differ only in bit 0x20, so one compare covers each pair.
        let folded = _mm_or_si128(v, case_bit);
        masks.open |= bits(_mm_cmpeq_epi8(folded, open));
        masks.close |= bits(_mm_cmpeq_epi8(folded, close));
    }
    masks
}

/// Portable fallback: the same masks with word-at-a-time (SWAR) compares.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn classify_swar(block: &[u8; WINDOW]) -> Masks {
    let mut masks = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (i, word) in block.chunks_exact(8).enumerate() {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let w = u64::from_le_bytes(le);
        let shift = i * 8;
        masks.quote |= gather(eq_bytes(w, b'"')) << shift;
        masks.backslash |= gather(eq_bytes(w, b'\\')) << shift;
        let folded = w | (LOW * 0x20);
        masks.open |= gather(eq_bytes(folded, b'{')) << shift;
        masks.close |= gather(eq_bytes(folded, b'}')) << shift;
    }
    masks
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const LOW: u64 = 0x0101_0101_0101_0101;
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const HIGH7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `w` that equals `c`, exactly (no false positives from borrows).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn eq_bytes(w: u64, c: u8) -> u64 {
    let x = w ^ (LOW * u64::from(c));
    !(((x & HIGH7) + HIGH7) | x | HIGH7)
}

/// Packs the high bits of the 8 bytes into the low 8 bits, byte 0 first.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn gather(high_bits: u64) -> u64 {
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Advances `lexer` over the first `len` bytes of a window; returns the index of the byte that
/// brings the depth to zero, if any.
#[inline]
fn scan_window(lexer: &mut Lexer, masks: &Masks, len: u32) -> Option<u32> {
    let valid = if len == 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    };
    let escaped = escaped_bytes(masks.backslash & valid, len, &mut lexer.escaped);
    let quotes = masks.quote & valid & !escaped;
    let mut inside = prefix_xor(quotes);
    if lexer.in_string {
        inside = !inside;
    }
    inside &= valid;
    // An escaped byte is never structural (outside strings it is invalid JSON anyway, but
    // treating it alike in every window keeps the result independent of chunking).
    let plain = valid & !inside & !escaped;
    lexer.in_string = (inside >> (len - 1)) & 1 == 1;
    let open = masks.open & plain;
    let close = masks.close & plain;
    let closes = close.count_ones() as usize;
    if closes < lexer.depth {
        // The depth cannot reach zero in this window.
        lexer.depth = lexer.depth + open.count_ones() as usize - closes;
        return None;
    }
    let mut brackets = open | close;
    while brackets != 0 {
        let i = brackets.trailing_zeros();
        if open >> i & 1 == 1 {
            lexer.depth += 1;
        } else {
            lexer.depth -= 1;
            if lexer.depth == 0 {
                lexer.in_string = false;
                lexer.escaped = false;
                return Some(i);
            }
        }
        brackets &= brackets - 1;
    }
    None
}

/// Bits of the bytes escaped by a backslash within the first `len` bytes; `carry` says whether
/// byte 0 is escaped on entry and whether the byte after the window is on exit.
#[inline]
fn escaped_bytes(backslash: u64, len: u32, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    *carry = false;
    let mut pending = backslash & !escaped;
    while pending != 0 {
        let i = pending.trailing_zeros();
        if i + 1 == len {
            *carry = true;
            break;
        }
        let next = 1u64 << (i + 1);
        escaped |= next;
        pending &= !(next | (next - 1));
    }
    escaped
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: set inside a quoted run.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests;
