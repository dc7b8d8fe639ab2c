//! A small JSON scanner specialised for event frames: it walks one object in place, compares
//! keys as bytes, parses numbers straight into integers or `f64`, and skips what it does not
//! need without building any tree.
//!
//! Values that are skipped (unknown fields, `header.status`) are checked for balanced nesting and
//! well-formed strings and literals, not for the full JSON grammar; every value that is read is
//! checked strictly.

use std::borrow::Cow;
use std::fmt;

use crate::contract::SymbolError;

/// What is wrong with a field (or with the JSON around it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The input ended inside the object.
    UnexpectedEnd,
    /// A JSON syntax error; the text says what was expected (`',' or '}'`, …).
    Syntax(&'static str),
    /// Bytes after the top-level object.
    TrailingCharacters,
    /// A bad escape sequence, a lone surrogate or invalid UTF-8 in a string that is read.
    InvalidString,
    ExpectedObject,
    ExpectedString,
    ExpectedNumber,
    /// A number that a `f64` cannot hold (`1e400`).
    NumberOutOfRange,
    /// Not an integer, or outside `min..=max`.
    ExpectedInteger {
        min: i64,
        max: u64,
    },
    /// Not an unsigned 64-bit integer nor `null`.
    ExpectedIntegerOrNull,
    /// A required field is absent.
    MissingField,
    /// The body (or the contract) an event of this type needs is absent.
    MissingObject,
    BadSecType,
    BadRight,
    BadSymbol(SymbolError),
    /// `contract.expiration` is not a real YYYYMMDD date.
    BadDate,
    /// An option field on a stock or index contract.
    NotAllowedFor(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnexpectedEnd => f.write_str("unexpected end of input"),
            Problem::Syntax(expected) => write!(f, "expected {expected}"),
            Problem::TrailingCharacters => f.write_str("trailing characters after the object"),
            Problem::InvalidString => f.write_str("invalid string"),
            Problem::ExpectedObject => f.write_str("expected an object"),
            Problem::ExpectedString => f.write_str("expected a string"),
            Problem::ExpectedNumber => f.write_str("expected a number"),
            Problem::NumberOutOfRange => f.write_str("number out of the range of a 64-bit float"),
            Problem::ExpectedInteger { min, max } => {
                write!(f, "expected an integer in {min}..={max}")
            }
            Problem::ExpectedIntegerOrNull => {
                write!(f, "expected an integer in 0..={} or null", u64::MAX)
            }
            Problem::MissingField => f.write_str("required field is missing"),
            Problem::MissingObject => f.write_str("required object is missing"),
            Problem::BadSecType => f.write_str("expected \"STOCK\", \"OPTION\" or \"INDEX\""),
            Problem::BadRight => f.write_str("expected \"C\" or \"P\""),
            Problem::BadSymbol(e) => e.fmt(f),
            Problem::BadDate => f.write_str("expected a calendar date YYYYMMDD"),
            Problem::NotAllowedFor(sec) => write!(f, "not allowed for a {sec} contract"),
        }
    }
}

/// Why one event frame could not be decoded: the field path (`trade.price`, `contract.symbol`,
/// `json` for syntax errors), the problem, and the byte offset in the frame payload when there is
/// one. Displays as `trade.price: expected a number at byte 97`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: &'static str,
    pub problem: Problem,
    pub offset: Option<usize>,
}

impl DecodeError {
    pub(crate) fn at(path: &'static str, problem: Problem, offset: usize) -> Self {
        DecodeError {
            path,
            problem,
            offset: Some(offset),
        }
    }

    pub(crate) fn missing(path: &'static str, problem: Problem) -> Self {
        DecodeError {
            path,
            problem,
            offset: None,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)?;
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

pub(crate) type ScanResult<T> = Result<T, DecodeError>;

/// Exact powers of ten representable in an `f64` (the Clinger fast path).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `mantissa × 10^exponent` correctly rounded, when Clinger's fast path applies: an integer
/// up to 2^53 and a power of ten up to 1e22 are both exact, and one IEEE division or
/// multiplication rounds correctly. `None` otherwise (the caller parses the text in full).
#[inline]
pub(crate) fn exact_f64(mantissa: u64, exponent: i32) -> Option<f64> {
    if mantissa > MAX_EXACT_MANTISSA || !(-22..=22).contains(&exponent) {
        return None;
    }
    let m = mantissa as f64;
    Some(if exponent < 0 {
        m / POW10[exponent.unsigned_abs() as usize]
    } else {
        m * POW10[exponent as usize]
    })
}

/// A position in one payload. Offsets in errors are absolute within the payload.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    /// Whether a nested value was skipped by balancing brackets, without checking its JSON
    /// (see [`Cursor::skip_value`]): what was read is then not known to be valid JSON.
    pub(crate) skipped_nested: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos,
            skipped_nested: false,
        }
    }

    /// The whole payload the cursor walks.
    #[inline]
    pub(crate) fn buf(&self) -> &'a [u8] {
        self.buf
    }

    fn syntax(&self, expected: &'static str) -> DecodeError {
        if self.pos >= self.buf.len() {
            DecodeError::at("json", Problem::UnexpectedEnd, self.buf.len())
        } else {
            DecodeError::at("json", Problem::Syntax(expected), self.pos)
        }
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(&c) = self.buf.get(self.pos) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The byte `offset` bytes after the cursor.
    #[inline]
    pub(crate) fn peek_at(&self, offset: usize) -> Option<u8> {
        self.buf.get(self.pos + offset).copied()
    }

    /// After whitespace, requires the end of input.
    pub(crate) fn finish(&mut self) -> ScanResult<()> {
        self.skip_ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::at(
                "json",
                Problem::TrailingCharacters,
                self.pos,
            ))
        }
    }

    /// Enters an object at the cursor (after whitespace). Returns `false` for `{}`.
    /// `path` names the value for a non-object error.
    #[inline]
    pub(crate) fn object_start(&mut self, path: &'static str) -> ScanResult<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
            None => Err(self.syntax("'{'")),
            Some(_) if path == "json" => Err(self.syntax("'{'")),
            Some(_) => Err(DecodeError::at(path, Problem::ExpectedObject, self.pos)),
        }
    }

    /// Reads `"key":` and leaves the cursor on the value (whitespace skipped).
    #[inline]
    pub(crate) fn key(&mut self) -> ScanResult<Cow<'a, [u8]>> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.syntax("'\"'"));
        }
        let key = self.string_raw()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.syntax("':'"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(key)
    }

    /// After a member's value: `true` at `,` (another member follows), `false` at `}`.
    #[inline]
    pub(crate) fn object_next(&mut self) -> ScanResult<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.syntax("',' or '}'")),
        }
    }

    /// Reads a string at the cursor (which is on the opening quote). Borrowed unless it holds
    /// escapes, which are decoded.
    #[inline]
    pub(crate) fn string_raw(&mut self) -> ScanResult<Cow<'a, [u8]>> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = find_quote_or_backslash(self.buf, i);
            match self.buf.get(i) {
                Some(b'"') => break,
                Some(_) => {
                    escaped = true;
                    i += 2;
                }
                None => {
                    self.pos = self.buf.len();
                    return Err(self.syntax("'\"'"));
                }
            }
        }
        let raw = &self.buf[start..i];
        self.pos = i + 1;
        if escaped {
            unescape(raw)
                .map(Cow::Owned)
                .ok_or_else(|| DecodeError::at("json", Problem::InvalidString, start - 1))
        } else {
            Ok(Cow::Borrowed(raw))
        }
    }

    /// Consumes `literal` if the input continues with exactly it (no whitespace skipped).
    #[inline]
    pub(crate) fn try_literal(&mut self, literal: &[u8]) -> bool {
        match self.buf.get(self.pos..self.pos + literal.len()) {
            Some(candidate) if short_eq(candidate, literal) => {
                self.pos += literal.len();
                true
            }
            _ => false,
        }
    }

    /// If the cursor (after whitespace) is on exactly `quoted` (a key with its quotes, no
    /// escapes) followed by `:`, moves onto the value and returns `true`; otherwise stays put.
    /// Lets the decoder match the expected next key with one comparison instead of a scan.
    #[inline]
    pub(crate) fn try_key(&mut self, quoted: &[u8]) -> bool {
        let mut i = self.pos;
        while let Some(c) = self.buf.get(i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            i += 1;
        }
        let Some(candidate) = self.buf.get(i..i + quoted.len()) else {
            return false;
        };
        if !short_eq(candidate, quoted) {
            return false;
        }
        i += quoted.len();
        while let Some(&c) = self.buf.get(i) {
            match c {
                b' ' | b'\n' | b'\r' | b'\t' => i += 1,
                b':' => {
                    self.pos = i + 1;
                    self.skip_ws();
                    return true;
                }
                _ => return false,
            }
        }
        false
    }

    /// Reads a string value for field `path`.
    pub(crate) fn string(&mut self, path: &'static str) -> ScanResult<Cow<'a, [u8]>> {
        if self.peek() == Some(b'"') {
            self.string_raw()
        } else {
            Err(self.value_error(path, Problem::ExpectedString))
        }
    }

    /// A field error at the cursor, or a syntax error if the input ended.
    fn value_error(&self, path: &'static str, problem: Problem) -> DecodeError {
        if self.pos >= self.buf.len() {
            self.syntax("a value")
        } else {
            DecodeError::at(path, problem, self.pos)
        }
    }

    /// Scans the JSON number grammar from the cursor: the value is
    /// `(-1)^negative * mantissa * 10^exponent`, where `exact` says every digit fit in the
    /// mantissa (always for integers up to `u64::MAX`). `None`, without moving, when there is no
    /// number here.
    #[inline]
    fn number(&mut self) -> Option<NumberParts> {
        let b = self.buf;
        let len = b.len();
        let start = self.pos;
        let mut i = start;
        let negative = i < len && b[i] == b'-';
        if negative {
            i += 1;
        }
        // One pass accumulates the digits (wrapping); more than 19 digits may not fit and are
        // re-read with overflow checks (rare: only huge integers and long decimals).
        let int_start = i;
        let mut mantissa: u64 = 0;
        while i < len && b[i].is_ascii_digit() {
            mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(b[i] - b'0'));
            i += 1;
        }
        if i == int_start {
            return None;
        }
        if b[int_start] == b'0' {
            // JSON allows no leading zeros: "01" is the number 0 followed by garbage.
            i = int_start + 1;
            mantissa = 0;
        }
        let int_end = i;
        let mut frac_len = 0usize;
        let mut integer = true;
        if i < len && b[i] == b'.' {
            integer = false;
            i += 1;
            let frac_start = i;
            while i < len && b[i].is_ascii_digit() {
                mantissa = mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(b[i] - b'0'));
                i += 1;
            }
            frac_len = i - frac_start;
            if frac_len == 0 {
                return None;
            }
        }
        let digits_end = i;
        let mut exponent: i32 = 0;
        if i < len && (b[i] == b'e' || b[i] == b'E') {
            integer = false;
            i += 1;
            let exp_negative = i < len && b[i] == b'-';
            if i < len && (b[i] == b'-' || b[i] == b'+') {
                i += 1;
            }
            let exp_start = i;
            while i < len && b[i].is_ascii_digit() {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i32::from(b[i] - b'0'));
                i += 1;
            }
            if i == exp_start {
                return None;
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        let mut exact = true;
        if (int_end - int_start) + frac_len > 19 {
            mantissa = 0;
            for &d in b[int_start..digits_end]
                .iter()
                .filter(|d| d.is_ascii_digit())
            {
                if let Some(m) = mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(d - b'0')))
                {
                    mantissa = m;
                } else {
                    exact = false;
                    break;
                }
            }
        }
        exponent = exponent.saturating_sub(frac_len as i32);
        self.pos = i;
        Some(NumberParts {
            start,
            negative,
            mantissa,
            exponent,
            exact,
            integer,
        })
    }

    /// Reads a number as an `f64`, exactly (correctly rounded, like `str::parse`).
    #[inline]
    pub(crate) fn f64(&mut self, path: &'static str) -> ScanResult<f64> {
        let Some(n) = self.number() else {
            return Err(self.value_error(path, Problem::ExpectedNumber));
        };
        if n.exact {
            if let Some(v) = exact_f64(n.mantissa, n.exponent) {
                return Ok(if n.negative { -v } else { v });
            }
        }
        let text = std::str::from_utf8(&self.buf[n.start..self.pos]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(DecodeError::at(path, Problem::NumberOutOfRange, n.start)),
            Err(_) => Err(DecodeError::at(path, Problem::ExpectedNumber, n.start)),
        }
    }

    /// Reads an integer in `min..=max` (no fraction, no exponent).
    #[inline]
    pub(crate) fn int(&mut self, path: &'static str, min: i64, max: u64) -> ScanResult<i128> {
        let start = self.pos;
        // Nearly every integer on the wire is a plain run of digits: read it without the
        // general number grammar; anything else (sign, fraction, range error) goes the long way.
        if let Some(v) = self.plain_digits() {
            if v <= max && (min <= 0 || v >= min as u64) {
                return Ok(i128::from(v));
            }
            self.pos = start;
        }
        let bad = |pos| DecodeError::at(path, Problem::ExpectedInteger { min, max }, pos);
        let Some(n) = self.number() else {
            return Err(self.value_error(path, Problem::ExpectedInteger { min, max }));
        };
        if !n.integer || !n.exact {
            return Err(bad(start));
        }
        let v = if n.negative {
            -i128::from(n.mantissa)
        } else {
            i128::from(n.mantissa)
        };
        if v < i128::from(min) || v > i128::from(max) {
            return Err(bad(start));
        }
        Ok(v)
    }

    /// A non-negative integer of 1 to 19 digits without leading zeros, fraction or exponent,
    /// consumed; `None` (nothing consumed) for anything else.
    #[inline]
    fn plain_digits(&mut self) -> Option<u64> {
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        let mut value: u64 = 0;
        while let Some(&d) = b.get(i) {
            let digit = d.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 19 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos = i;
        Some(value)
    }

    /// Reads an unsigned 32-bit integer.
    #[inline]
    pub(crate) fn u32(&mut self, path: &'static str) -> ScanResult<u32> {
        self.int(path, 0, u64::from(u32::MAX)).map(|v| v as u32)
    }

    /// Reads an unsigned 64-bit integer.
    #[inline]
    pub(crate) fn u64(&mut self, path: &'static str) -> ScanResult<u64> {
        self.int(path, 0, u64::MAX).map(|v| v as u64)
    }

    /// Reads a signed 64-bit integer.
    #[inline]
    pub(crate) fn i64(&mut self, path: &'static str) -> ScanResult<i64> {
        self.int(path, i64::MIN, i64::MAX as u64).map(|v| v as i64)
    }

    /// Reads an unsigned 64-bit integer or `null`.
    pub(crate) fn u64_or_null(&mut self, path: &'static str) -> ScanResult<Option<u64>> {
        if self.buf[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return Ok(None);
        }
        let start = self.pos;
        self.u64(path)
            .map(Some)
            .map_err(|_| DecodeError::at(path, Problem::ExpectedIntegerOrNull, start))
    }

    /// Skips one value of any type.
    pub(crate) fn skip_value(&mut self) -> ScanResult<()> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string_raw().map(|_| ()),
            Some(b'{' | b'[') => self.skip_nested(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => match self.number() {
                Some(_) => Ok(()),
                None => Err(self.syntax("a value")),
            },
            _ => Err(self.syntax("a value")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> ScanResult<()> {
        if self.buf[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax("a value"))
        }
    }

    /// Skips an object or array by balancing brackets outside strings.
    fn skip_nested(&mut self) -> ScanResult<()> {
        self.skipped_nested = true;
        let b = self.buf;
        let mut depth: usize = 0;
        let mut i = self.pos;
        loop {
            while i < b.len() && !NESTING_BYTES[b[i] as usize] {
                i += 1;
            }
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i;
                    self.string_raw()?;
                    i = self.pos;
                    continue;
                }
                Some(b'{' | b'[') => depth += 1,
                Some(_) => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = i + 1;
                        return Ok(());
                    }
                }
                None => {
                    self.pos = i;
                    return Err(self.syntax("'}'"));
                }
            }
            i += 1;
        }
    }
}

/// `a == b`, without a `memcmp` call for keys of 4–16 bytes (two overlapping word compares).
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[at..at + 8]);
            u64::from_le_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    if (4..8).contains(&n) {
        let word = |s: &[u8], at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&s[at..at + 4]);
            u32::from_le_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4);
    }
    a == b
}

/// Index of the first `"` or `\\` at or after `from` (or `buf.len()`), eight bytes at a time.
#[inline]
fn find_quote_or_backslash(buf: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = buf.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let q = w ^ (ONES * u64::from(b'"'));
        let b = w ^ (ONES * u64::from(b'\\'));
        // A zero byte in q or b marks a match; the lowest flagged byte is always a true match
        // (the borrow trick can only flag bytes above a real zero).
        let hits = ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGHS;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = buf.get(i) {
        if c == b'"' || c == b'\\' {
            return i;
        }
        i += 1;
    }
    buf.len()
}

struct NumberParts {
    start: usize,
    negative: bool,
    mantissa: u64,
    exponent: i32,
    exact: bool,
    integer: bool,
}

/// Largest integer an `f64` holds exactly with all smaller ones (2^53).
const MAX_EXACT_MANTISSA: u64 = 1 << 53;

/// Bytes that matter when skipping a nested value.
static NESTING_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Decodes the escapes of a JSON string body; `None` if one is invalid or the result is not
/// UTF-8.
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if raw.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(raw.get(i + 2..i + 6)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(code)?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(simple);
    }
    std::str::from_utf8(&out).ok()?;
    Some(out)
}

fn hex4(digits: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + char::from(d).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_f64(text: &str) -> Result<f64, String> {
        let mut c = Cursor::new(text.as_bytes(), 0);
        let v = c.f64("x").map_err(|e| e.to_string())?;
        assert_eq!(c.pos, text.len(), "{text}");
        Ok(v)
    }

    #[test]
    fn floats_match_std() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "4.15",
            "0.1",
            "123456.789",
            "1e-7",
            "1.2345e20",
            "9007199254740993",
            "0.30000000000000004",
            "5e-324",
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "12345678901234567890.123",
            "0.000001234",
            "1E5",
            "1e+5",
            "99999999999999999999e-3",
            "123456789012345.6",
            "1e22",
            "1e23",
            "4.0",
        ] {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(
                parse_f64(text).unwrap().to_bits(),
                expected.to_bits(),
                "{text}"
            );
        }
    }

    #[test]
    fn float_errors() {
        assert_eq!(
            parse_f64("1e400").unwrap_err(),
            "x: number out of the range of a 64-bit float at byte 0"
        );
        assert_eq!(
            parse_f64("x").unwrap_err(),
            "x: expected a number at byte 0"
        );
        assert_eq!(
            parse_f64("1.").unwrap_err(),
            "x: expected a number at byte 0"
        );
        assert_eq!(
            parse_f64("").unwrap_err(),
            "json: unexpected end of input at byte 0"
        );
    }

    #[test]
    fn integers() {
        let int = |text: &str| {
            let mut c = Cursor::new(text.as_bytes(), 0);
            c.u32("n").map_err(|e| e.to_string())
        };
        assert_eq!(int("0"), Ok(0));
        assert_eq!(int("4294967295"), Ok(u32::MAX));
        let err = Err("n: expected an integer in 0..=4294967295 at byte 0".to_owned());
        for bad in [
            "4294967296",
            "-1",
            "3.0",
            "3e2",
            "\"3\"",
            "99999999999999999999999",
        ] {
            assert_eq!(int(bad), err, "{bad}");
        }
        let mut c = Cursor::new(b"-9223372036854775808", 0);
        assert_eq!(c.i64("n"), Ok(i64::MIN));
        let mut c = Cursor::new(b"18446744073709551615", 0);
        assert_eq!(c.u64("n"), Ok(u64::MAX));
    }

    #[test]
    fn strings_and_skipping() {
        let mut c = Cursor::new(br#""a\"b\u00e9\ud83d\ude00" "#, 0);
        assert_eq!(c.string_raw().unwrap().as_ref(), "a\"bé😀".as_bytes());
        let mut c = Cursor::new(br#""\x""#, 0);
        assert_eq!(
            c.string_raw().unwrap_err().to_string(),
            "json: invalid string at byte 0"
        );
        let mut c = Cursor::new(br#"{"a":[1,{"b":"}"}],"c":null} x"#, 0);
        c.skip_value().unwrap();
        assert_eq!(c.pos, 28);
        let mut c = Cursor::new(br#"{"a":[1"#, 0);
        assert_eq!(
            c.skip_value().unwrap_err().to_string(),
            "json: unexpected end of input at byte 7"
        );
    }
}
