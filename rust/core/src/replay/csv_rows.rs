//! CSV with a header row (SPEC §5): trades, or quotes when the header has `bid`/`ask` columns.
//!
//! Columns may come in any order; a column the format does not know is refused (a typo must
//! not silently become a default). Every field is trimmed of surrounding whitespace; an empty
//! optional field takes its default. Prices are dollars, read as JSON numbers, exactly as the
//! event decoder reads them (`4.15`, `1e2`; not `.5`, `+1`, `nan`); the strike is in
//! thousandths (as on the wire); integers are decimal digits (`5.0` is not one). Contracts go
//! through the one contract validator, so its rules and reasons apply, under the column's name
//! (`expiration: not a calendar date: 20250230`).
//!
//! A row is one line (a quoted field cannot hold a line break). The header, and any row with a
//! `"`, are read by the `csv` crate; other rows are split at every `,`. Two paths read a row,
//! with one result: [`Layout::parse_plain_at`] parses each field in place in the reader's
//! buffer by its column's type in one pass, line end included, for plain rows whose contract
//! spelling was met before; anything else (quotes, spaces around a field, an empty required
//! field, a value that does not parse, a new contract, a line cut by the buffer's end) goes
//! line by line through the field-by-field [`Layout::parse`], which validates and names what
//! is wrong.
//! A contract spelling is validated once per file and remembered byte for byte.

use std::collections::HashMap;
use std::path::Path;

use csv::ByteRecord;

use super::error::{CsvHeaderProblem, FieldReason, LineProblem, ReplayError};
use super::format::Stream;
use super::lines::{is_blank, Line, LineReader, MAX_LINE, SLACK};
use super::{Contracts, Row};
use crate::contract::{ContractError, ContractKey, ContractReason, SecType};
use crate::echo::quote_bounded;
use crate::event::batch::SpanHash;
use crate::event::scan::{exact_f64, Cursor};
use crate::event::{EventBody, Quote, Trade};

/// A column of either layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Date,
    MsOfDay,
    Symbol,
    SecType,
    Expiration,
    Strike,
    Right,
    Price,
    Size,
    Sequence,
    Condition,
    Exchange,
    Bid,
    Ask,
    BidSize,
    AskSize,
    BidExchange,
    AskExchange,
    BidCondition,
    AskCondition,
}

const COLUMNS: usize = 20;
/// The contract columns: `symbol`, `sec_type`, `expiration`, `strike`, `right`.
const CONTRACT_COLUMNS: usize = 5;

impl Col {
    const fn name(self) -> &'static str {
        match self {
            Col::Date => "date",
            Col::MsOfDay => "ms_of_day",
            Col::Symbol => "symbol",
            Col::SecType => "sec_type",
            Col::Expiration => "expiration",
            Col::Strike => "strike",
            Col::Right => "right",
            Col::Price => "price",
            Col::Size => "size",
            Col::Sequence => "sequence",
            Col::Condition => "condition",
            Col::Exchange => "exchange",
            Col::Bid => "bid",
            Col::Ask => "ask",
            Col::BidSize => "bid_size",
            Col::AskSize => "ask_size",
            Col::BidExchange => "bid_exchange",
            Col::AskExchange => "ask_exchange",
            Col::BidCondition => "bid_condition",
            Col::AskCondition => "ask_condition",
        }
    }
}

/// How the fast path reads a column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    U32,
    I64,
    Price,
    /// A contract field, kept as bytes for the memo.
    Text,
}

impl Col {
    const fn kind(self) -> Kind {
        match self {
            Col::Sequence => Kind::I64,
            Col::Price | Col::Bid | Col::Ask => Kind::Price,
            Col::Symbol | Col::SecType | Col::Expiration | Col::Strike | Col::Right => Kind::Text,
            _ => Kind::U32,
        }
    }
}

/// Trades: required columns, then optional ones.
const TRADE_REQUIRED: [Col; 5] = [Col::Date, Col::MsOfDay, Col::Symbol, Col::Price, Col::Size];
const TRADE_OPTIONAL: [Col; 7] = [
    Col::SecType,
    Col::Expiration,
    Col::Strike,
    Col::Right,
    Col::Sequence,
    Col::Condition,
    Col::Exchange,
];
/// Quotes: required columns, then optional ones.
const QUOTE_REQUIRED: [Col; 5] = [Col::Date, Col::MsOfDay, Col::Symbol, Col::Bid, Col::Ask];
const QUOTE_OPTIONAL: [Col; 10] = [
    Col::SecType,
    Col::Expiration,
    Col::Strike,
    Col::Right,
    Col::BidSize,
    Col::AskSize,
    Col::BidExchange,
    Col::AskExchange,
    Col::BidCondition,
    Col::AskCondition,
];

/// Where each column is in a file's rows, and whether the rows are quotes.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    quotes: bool,
    index: [Option<usize>; COLUMNS],
    fields: usize,
    /// The contract columns the file has, in its order (the memo's key).
    contract_columns: Vec<Col>,
    /// Whether the contract columns stand side by side in every row: a plain row's memo key
    /// is then the bytes from the first to the last, commas included, as they are.
    contract_run: bool,
    /// The column at each position (the fast path's program).
    by_position: Vec<Col>,
}

impl Layout {
    /// Reads a header row (names trimmed; a UTF-8 byte order mark before the first is
    /// dropped): quotes when it has `bid` or `ask`, trades otherwise. Checks, in order:
    /// repeated names, required columns, unknown columns.
    pub(crate) fn from_header(path: &Path, header: &ByteRecord) -> Result<Self, ReplayError> {
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = if i == 0 {
                    name.strip_prefix(b"\xef\xbb\xbf").unwrap_or(name)
                } else {
                    name
                };
                String::from_utf8_lossy(name.trim_ascii()).into_owned()
            })
            .collect();
        let problem = |problem| ReplayError::CsvHeader {
            path: path.to_path_buf(),
            problem,
        };
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(problem(CsvHeaderProblem::Repeated {
                    column: name.clone(),
                }));
            }
        }
        let has = |col: Col| names.iter().any(|n| n == col.name());
        let quotes = has(Col::Bid) || has(Col::Ask);
        let (required, optional): (&[Col], &[Col]) = if quotes {
            (&QUOTE_REQUIRED, &QUOTE_OPTIONAL)
        } else {
            (&TRADE_REQUIRED, &TRADE_OPTIONAL)
        };
        let missing: Vec<&'static str> = required
            .iter()
            .filter(|c| !has(**c))
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            return Err(problem(CsvHeaderProblem::Missing {
                missing,
                has: names,
            }));
        }
        let known = || required.iter().chain(optional);
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !known().any(|c| c.name() == n.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(problem(CsvHeaderProblem::Unknown {
                unknown,
                known: known().map(|c| c.name()).collect(),
            }));
        }
        let mut index = [None; COLUMNS];
        for col in known() {
            index[*col as usize] = names.iter().position(|n| n == col.name());
        }
        let by_position: Vec<Col> = names
            .iter()
            .map(|n| known().copied().find(|c| c.name() == n.as_str()))
            .collect::<Option<Vec<Col>>>()
            .unwrap_or_default();
        // In the file's order.
        let contract_columns: Vec<Col> = by_position
            .iter()
            .copied()
            .filter(|c| c.kind() == Kind::Text)
            .collect();
        let contract_run = contract_run(&by_position, &contract_columns);
        Ok(Self {
            quotes,
            index,
            fields: names.len(),
            contract_columns,
            contract_run,
            by_position,
        })
    }

    /// The event of the plain row starting at `buf[start]`, and where the line after it
    /// starts; `None` when the row needs the line-by-line path ([`Layout::parse`] after
    /// splitting): a row that does not end with `\n` (or `\r\n`) before `end`, a quote,
    /// whitespace around a field, an empty required field, anything that does not parse, or a
    /// contract spelling not met before. What it accepts, it reads exactly as
    /// [`Layout::parse`] does (a property test checks it); it never reports an error itself.
    ///
    /// `buf` holds at least [`SLACK`] bytes past `end` (their values do not matter), so a
    /// field is read eight bytes at a time wherever it lies: a read that passes `end` only
    /// ever makes the row end past `end`, which is refused.
    #[inline]
    fn parse_plain_at(
        &self,
        buf: &[u8],
        start: usize,
        end: usize,
        memo: &mut ContractMemo,
    ) -> Option<(u32, EventBody, usize)> {
        debug_assert!(buf.len() >= end + SLACK);
        let mut values = [0u64; COLUMNS];
        // Where each contract field lies, in `contract_columns` order.
        let mut texts = [(0usize, 0usize); CONTRACT_COLUMNS];
        let mut text = 0;
        let mut pos = start;
        for (i, &col) in self.by_position.iter().enumerate() {
            if i > 0 {
                if *buf.get(pos)? != b',' {
                    return None;
                }
                pos += 1;
            }
            match col.kind() {
                Kind::U32 => {
                    let first = pos;
                    let value;
                    (value, pos) = plain_digits(buf, pos, 10)?;
                    let required = matches!(col, Col::Date | Col::MsOfDay | Col::Size);
                    if (pos == first && required) || value > u64::from(u32::MAX) {
                        return None;
                    }
                    values[col as usize] = value;
                }
                Kind::I64 => {
                    let negative = buf.get(pos) == Some(&b'-');
                    let first = pos + usize::from(negative);
                    // At most 19 digits: below 2^64.
                    let value;
                    (value, pos) = plain_digits(buf, first, 19)?;
                    if negative && pos == first {
                        return None;
                    }
                    let value = if negative {
                        0i64.checked_sub_unsigned(value)?
                    } else {
                        i64::try_from(value).ok()?
                    };
                    values[col as usize] = value as u64;
                }
                Kind::Price => {
                    let value;
                    (value, pos) = if let Some(read) = plain_price(buf, pos) {
                        read
                    } else {
                        let mut cursor = Cursor::new(buf, pos);
                        (cursor.f64("price").ok()?, cursor.pos)
                    };
                    values[col as usize] = value.to_bits();
                }
                Kind::Text => {
                    let first = pos;
                    pos = text_end(buf, pos)?;
                    texts[text] = (first, pos);
                    text += 1;
                }
            }
        }
        let next = match buf.get(pos..pos + 2)? {
            [b'\n', _] => pos + 1,
            [b'\r', b'\n'] => pos + 2,
            _ => return None,
        };
        if next > end {
            return None;
        }
        let index = if self.contract_run {
            memo.get_at(buf, texts[0].0, texts[text - 1].1)
        } else {
            memo.known(&texts[..text], |(from, to)| &buf[*from..*to])
        }?;
        let u32_of = |col: Col| values[col as usize] as u32;
        let price = |col: Col| f64::from_bits(values[col as usize]);
        let body = if self.quotes {
            EventBody::Quote(Quote {
                ms_of_day: u32_of(Col::MsOfDay),
                bid_size: u32_of(Col::BidSize),
                bid_exchange: u32_of(Col::BidExchange),
                bid: price(Col::Bid),
                bid_condition: u32_of(Col::BidCondition),
                ask_size: u32_of(Col::AskSize),
                ask_exchange: u32_of(Col::AskExchange),
                ask: price(Col::Ask),
                ask_condition: u32_of(Col::AskCondition),
                date: u32_of(Col::Date),
            })
        } else {
            EventBody::Trade(Trade {
                ms_of_day: u32_of(Col::MsOfDay),
                sequence: values[Col::Sequence as usize] as i64,
                size: u32_of(Col::Size),
                condition: u32_of(Col::Condition),
                price: price(Col::Price),
                exchange: u32_of(Col::Exchange),
                date: u32_of(Col::Date),
            })
        };
        Some((index, body, next))
    }

    /// The event of a row (`fields`: where each field lies in `row`), or what is wrong with
    /// it. The first broken rule is reported, in this order: field count, `date`, `ms_of_day`,
    /// the contract (`sec_type`, `symbol` present, `expiration` and `strike` integers, then
    /// the contract validator's order: symbol, expiration, strike, right), the body's fields
    /// in SPEC §3.3 order.
    fn parse(
        &self,
        row: &[u8],
        fields: &[(usize, usize)],
        contracts: &mut Contracts,
        memo: &mut ContractMemo,
    ) -> Result<(u32, EventBody), LineProblem> {
        if fields.len() != self.fields {
            return Err(LineProblem::FieldCount {
                expected: self.fields,
                got: fields.len(),
            });
        }
        let f = Fields {
            layout: self,
            row,
            ranges: fields,
        };
        let date = f.required(Col::Date, parse_u32, U32)?;
        let ms_of_day = f.required(Col::MsOfDay, parse_u32, U32)?;
        let index = memo.contract(self, &f, contracts)?;
        let body = if self.quotes {
            EventBody::Quote(Quote {
                ms_of_day,
                bid_size: f.optional(Col::BidSize, parse_u32, U32)?,
                bid_exchange: f.optional(Col::BidExchange, parse_u32, U32)?,
                bid: f.required(Col::Bid, parse_price, NUMBER)?,
                bid_condition: f.optional(Col::BidCondition, parse_u32, U32)?,
                ask_size: f.optional(Col::AskSize, parse_u32, U32)?,
                ask_exchange: f.optional(Col::AskExchange, parse_u32, U32)?,
                ask: f.required(Col::Ask, parse_price, NUMBER)?,
                ask_condition: f.optional(Col::AskCondition, parse_u32, U32)?,
                date,
            })
        } else {
            EventBody::Trade(Trade {
                ms_of_day,
                sequence: f.optional(Col::Sequence, parse_i64, I64)?,
                size: f.required(Col::Size, parse_u32, U32)?,
                condition: f.optional(Col::Condition, parse_u32, U32)?,
                price: f.required(Col::Price, parse_price, NUMBER)?,
                exchange: f.optional(Col::Exchange, parse_u32, U32)?,
                date,
            })
        };
        Ok((index, body))
    }
}

/// One row seen through its layout.
struct Fields<'a> {
    layout: &'a Layout,
    row: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl Fields<'_> {
    /// The trimmed field of `col`; empty when the file has no such column.
    #[inline]
    fn get(&self, col: Col) -> &[u8] {
        match self.layout.index[col as usize] {
            Some(i) => {
                let (from, to) = self.ranges[i];
                self.row[from..to].trim_ascii()
            }
            None => &[],
        }
    }

    /// A required field: empty is `required`; `parse` failing is `expected` with the field.
    #[inline]
    fn required<T>(
        &self,
        col: Col,
        parse: impl Fn(&[u8]) -> Option<T>,
        expected: fn(String) -> FieldReason,
    ) -> Result<T, LineProblem> {
        let field = self.get(col);
        if field.is_empty() {
            return Err(field_error(col, FieldReason::Required));
        }
        parse(field).ok_or_else(|| field_error(col, expected(echo(field))))
    }

    /// An optional field: empty is the default.
    #[inline]
    fn optional<T: Default>(
        &self,
        col: Col,
        parse: impl Fn(&[u8]) -> Option<T>,
        expected: fn(String) -> FieldReason,
    ) -> Result<T, LineProblem> {
        let field = self.get(col);
        if field.is_empty() {
            return Ok(T::default());
        }
        parse(field).ok_or_else(|| field_error(col, expected(echo(field))))
    }

    /// Validates the contract columns.
    fn contract(&self) -> Result<ContractKey, LineProblem> {
        let sec_type = match self.get(Col::SecType) {
            b"" => SecType::Stock,
            text => std::str::from_utf8(text)
                .ok()
                .and_then(SecType::parse)
                .ok_or_else(|| {
                    field_error(Col::SecType, FieldReason::SecType { got: echo(text) })
                })?,
        };
        let symbol = self.get(Col::Symbol);
        if symbol.is_empty() {
            return Err(field_error(Col::Symbol, FieldReason::Required));
        }
        let symbol = std::str::from_utf8(symbol).map_err(|_| {
            field_error(
                Col::Symbol,
                FieldReason::Contract(ContractReason::BadSymbol { got: echo(symbol) }),
            )
        })?;
        let integer = |col: Col, not_an_integer: fn(String) -> ContractReason| {
            let text = self.get(col);
            if text.is_empty() {
                return Ok(None);
            }
            parse_integer(text)
                .map(Some)
                .ok_or_else(|| field_error(col, FieldReason::Contract(not_an_integer(echo(text)))))
        };
        let expiration = integer(Col::Expiration, |got| {
            ContractReason::ExpirationNotAnInteger { got }
        })?;
        let strike = integer(Col::Strike, |got| ContractReason::StrikeNotPositive { got })?;
        let right = match self.get(Col::Right) {
            b"" => None,
            text => Some(std::str::from_utf8(text).map_err(|_| {
                field_error(
                    Col::Right,
                    FieldReason::Contract(ContractReason::BadRight { got: echo(text) }),
                )
            })?),
        };
        ContractKey::validate(sec_type, symbol, expiration, strike, right).map_err(
            |ContractError { field, reason }| LineProblem::Field {
                column: field.as_str(),
                reason: FieldReason::Contract(reason),
            },
        )
    }
}

/// The contract columns of rows already validated, byte for byte, with their contract: a
/// row that spells a contract as an earlier row did is not validated again.
struct ContractMemo {
    /// Each spelling's contract index in [`Contracts`].
    known: HashMap<Box<[u8]>, u32, SpanHash>,
    /// Spellings of up to [`CACHED_LEN`] bytes met lately, in front of `known`.
    cache: SpellingCache,
    scratch: Vec<u8>,
}

/// Most contract spellings remembered per file; beyond, rows are validated every time.
const MAX_SPELLINGS: usize = 1 << 16;

impl ContractMemo {
    fn new() -> Self {
        Self {
            known: HashMap::with_hasher(SpanHash::default()),
            cache: SpellingCache::new(),
            scratch: Vec::with_capacity(64),
        }
    }

    /// Builds the memo key of a row from its contract fields (in the file's order): the
    /// fields joined by `,`, as a plain row spells them; `false` when a (quoted) field holds a
    /// `,` itself, which would make the key ambiguous (such a row is validated every time).
    fn key<'a>(&mut self, fields: impl Iterator<Item = &'a [u8]>) -> bool {
        self.scratch.clear();
        for (i, field) in fields.enumerate() {
            if memchr::memchr(b',', field).is_some() {
                return false;
            }
            if i > 0 {
                self.scratch.push(b',');
            }
            self.scratch.extend_from_slice(field);
        }
        true
    }

    /// The contract of the memo key `buf[start..end]`, if met before. `buf` holds at least
    /// [`SLACK`] bytes past `end`.
    #[inline]
    fn get_at(&mut self, buf: &[u8], start: usize, end: usize) -> Option<u32> {
        let cached = Spelling::at(buf, start, end);
        if let Some(spelling) = &cached {
            if let Some(index) = self.cache.get(spelling) {
                return Some(index);
            }
        }
        let index = self.known.get(&buf[start..end]).copied()?;
        if let Some(spelling) = cached {
            self.cache.put(spelling, index);
        }
        Some(index)
    }

    /// The contract of fields spelled as an earlier row's (`None`: not met before).
    #[inline]
    fn known<'a, T>(&mut self, fields: &'a [T], field: impl Fn(&'a T) -> &'a [u8]) -> Option<u32> {
        if !self.key(fields.iter().map(field)) {
            return None;
        }
        self.known.get(self.scratch.as_slice()).copied()
    }

    /// The contract of a row: remembered, or validated (and remembered).
    fn contract(
        &mut self,
        layout: &Layout,
        f: &Fields<'_>,
        contracts: &mut Contracts,
    ) -> Result<u32, LineProblem> {
        if !self.key(layout.contract_columns.iter().map(|&col| f.get(col))) {
            return Ok(contracts.intern(f.contract()?));
        }
        if let Some(&known) = self.known.get(self.scratch.as_slice()) {
            return Ok(known);
        }
        let index = contracts.intern(f.contract()?);
        if self.known.len() < MAX_SPELLINGS {
            self.known.insert(self.scratch.as_slice().into(), index);
        }
        Ok(index)
    }
}

/// The longest spelling [`SpellingCache`] holds (four words).
const CACHED_LEN: usize = 32;

/// A short spelling as whole words, zero past its end: compared and hashed a word at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Spelling {
    words: [u64; CACHED_LEN / 8],
    len: usize,
}

impl Spelling {
    /// The spelling `buf[start..end]` (with at least [`SLACK`] bytes in `buf` past `end`);
    /// `None` when empty or longer than [`CACHED_LEN`].
    #[inline]
    fn at(buf: &[u8], start: usize, end: usize) -> Option<Self> {
        let len = end - start;
        if len == 0 || len > CACHED_LEN {
            return None;
        }
        let bytes = buf.get(start..start + CACHED_LEN)?;
        let mut words = [0u64; CACHED_LEN / 8];
        for (k, (word, chunk)) in words.iter_mut().zip(bytes.chunks_exact(8)).enumerate() {
            let kept = len.saturating_sub(8 * k).min(8);
            if kept > 0 {
                let mut le = [0u8; 8];
                le.copy_from_slice(chunk);
                *word = u64::from_le_bytes(le) & (u64::MAX >> (64 - 8 * kept));
            }
        }
        Some(Self { words, len })
    }

    /// The slot of a cache of `1 << bits` slots.
    #[inline]
    fn slot(&self, bits: u32) -> usize {
        let [a, b, c, d] = self.words;
        let mixed = a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48) ^ self.len as u64;
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }
}

/// A direct-mapped cache of spellings and their contracts: one slot per spelling, the latest
/// comer kept. A row costs a few word compares where a hash map costs a hash of the bytes and
/// a `memcmp`.
struct SpellingCache {
    slots: Box<[(Spelling, u32)]>,
}

/// The cache's slots: 4096 of 40 bytes.
const CACHE_BITS: u32 = 12;

impl SpellingCache {
    fn new() -> Self {
        let vacant = Spelling {
            words: [0; CACHED_LEN / 8],
            len: 0,
        };
        Self {
            slots: vec![(vacant, 0); 1 << CACHE_BITS].into_boxed_slice(),
        }
    }

    #[inline]
    fn get(&self, spelling: &Spelling) -> Option<u32> {
        let (held, index) = &self.slots[spelling.slot(CACHE_BITS)];
        // Word by word, the length and first word first: a wide compare of the words just
        // stored would wait for them to reach memory.
        let same =
            held.len == spelling.len && held.words.iter().zip(&spelling.words).all(|(a, b)| a == b);
        same.then_some(*index)
    }

    fn put(&mut self, spelling: Spelling, index: u32) {
        self.slots[spelling.slot(CACHE_BITS)] = (spelling, index);
    }
}

fn field_error(col: Col, reason: FieldReason) -> LineProblem {
    LineProblem::Field {
        column: col.name(),
        reason,
    }
}

/// A bounded, quoted rendering of a field (invalid UTF-8 shown with replacement characters).
fn echo(field: &[u8]) -> String {
    quote_bounded(&String::from_utf8_lossy(field))
}

/// An optional `-` and decimal digits, as an `i128` (`None` for anything else, or more than
/// 38 digits).
fn parse_integer(text: &[u8]) -> Option<i128> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 38 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i128, |v, d| v * 10 + i128::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Up to 19 decimal digits as a `u64` (no sign).
#[inline]
fn digits_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    for &d in text {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    Some(value)
}

#[inline]
fn parse_u32(text: &[u8]) -> Option<u32> {
    digits_u64(text).and_then(|v| u32::try_from(v).ok())
}

#[inline]
fn parse_i64(text: &[u8]) -> Option<i64> {
    match text.split_first() {
        Some((b'-', digits)) => digits_u64(digits).and_then(|v| 0i64.checked_sub_unsigned(v)),
        _ => digits_u64(text).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A finite number in JSON's grammar (`4.15`, `-0.5`, `1e2`; not `.5`, `+1`, `nan`), read
/// exactly as the event decoder reads prices.
#[inline]
fn parse_price(text: &[u8]) -> Option<f64> {
    let mut cursor = Cursor::new(text, 0);
    match cursor.f64("price") {
        Ok(v) if cursor.pos == text.len() => Some(v),
        _ => None,
    }
}

/// What a field that does not parse was expected to be.
const U32: fn(String) -> FieldReason = |got| FieldReason::Integer {
    min: 0,
    max: u64::from(u32::MAX),
    got,
};
const I64: fn(String) -> FieldReason = |got| FieldReason::Integer {
    min: i64::MIN,
    max: i64::MAX as u64,
    got,
};
const NUMBER: fn(String) -> FieldReason = |got| FieldReason::Number { got };

/// The rows of one CSV stream: one row per line (a quoted field cannot hold a line break).
/// Lines without a `"` are split at every `,` directly; the others go through the `csv`
/// crate, as the header does.
pub(crate) struct CsvRows {
    lines: LineReader,
    layout: Layout,
    fields: Vec<(usize, usize)>,
    /// A quoted row's unquoted fields, back to back.
    unquoted: Vec<u8>,
    memo: ContractMemo,
}

/// What reading a CSV header found.
pub(crate) enum Header {
    /// The layout and the rows after the header.
    Rows(Box<CsvRows>),
    /// Nothing but blank lines.
    Empty,
}

impl CsvRows {
    /// Reads the header (the first non-blank line) and checks it.
    pub(crate) fn open(
        path: &Path,
        mut lines: LineReader,
        gzip: bool,
    ) -> Result<Header, ReplayError> {
        loop {
            let Some((_, line)) = lines
                .next_line()
                .map_err(|e| ReplayError::read(path, gzip, &e))?
            else {
                return Ok(Header::Empty);
            };
            let line = match line {
                Line::Text(range) => &lines.buffer()[range],
                Line::TooLong => {
                    return Err(ReplayError::CsvHeader {
                        path: path.to_path_buf(),
                        problem: CsvHeaderProblem::TooLong { limit: MAX_LINE },
                    })
                }
            };
            if is_blank(line) {
                continue;
            }
            let layout = Layout::from_header(path, &csv_record(line))?;
            return Ok(Header::Rows(Box::new(Self {
                lines,
                fields: Vec::with_capacity(layout.fields),
                layout,
                unquoted: Vec::new(),
                memo: ContractMemo::new(),
            })));
        }
    }

    /// The header's layout.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The lines read so far (the header's, just after [`CsvRows::open`]).
    pub(crate) fn lines(&self) -> &LineReader {
        &self.lines
    }

    /// Rows of `layout` on `lines` (no header: a part of a file after its header).
    pub(crate) fn headless(layout: Layout, lines: LineReader) -> Self {
        Self {
            lines,
            fields: Vec::with_capacity(layout.fields),
            layout,
            unquoted: Vec::new(),
            memo: ContractMemo::new(),
        }
    }

    /// Goes on with the rows of another stream (from its start, lines numbered from 1),
    /// keeping what the memo learned.
    pub(crate) fn restart(&mut self, stream: Stream) {
        self.lines.restart(stream);
    }

    /// The next event or bad row; blank lines are passed over.
    pub(crate) fn next_row(&mut self, contracts: &mut Contracts) -> std::io::Result<Option<Row>> {
        let (buf, start, end) = self.lines.window();
        if let Some((index, body, next)) =
            self.layout.parse_plain_at(buf, start, end, &mut self.memo)
        {
            self.lines.took_line(next);
            return Ok(Some(Row::Event { index, body }));
        }
        let Some((number, line)) = self.lines.next_content_line("csv")? else {
            return Ok(None);
        };
        let range = match line {
            Ok(range) => range,
            Err(problem) => return Ok(Some(Row::Bad(number, problem))),
        };
        let mut line = &self.lines.buffer()[range];
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        let row = if split_fields(line, &mut self.fields) {
            line
        } else {
            self.fields.clear();
            self.unquoted.clear();
            for field in &csv_record(line) {
                let from = self.unquoted.len();
                self.unquoted.extend_from_slice(field);
                self.fields.push((from, self.unquoted.len()));
            }
            &self.unquoted[..]
        };
        let parsed = self
            .layout
            .parse(row, &self.fields, contracts, &mut self.memo);
        Ok(Some(match parsed {
            Ok((index, body)) => Row::Event { index, body },
            Err(problem) => Row::Bad(number, problem),
        }))
    }
}

/// Splits `line` at every `,` into `fields` (ranges); `false` (fields unspecified) when the
/// line holds a `"`, which needs the `csv` crate. Eight bytes at a time: rows are short, and a
/// search call per comma would cost more than the row's parsing.
fn split_fields(line: &[u8], fields: &mut Vec<(usize, usize)>) -> bool {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    /// 0x80 in every byte of `word` that is zero, nothing elsewhere (exact, no carries).
    #[inline]
    fn zero_bytes(word: u64) -> u64 {
        !(((word & LOW) + LOW) | word | LOW)
    }
    fields.clear();
    let mut from = 0;
    let mut chunks = line.chunks_exact(8);
    let mut base = 0;
    let mut scan = |word: u64, base: usize, fields: &mut Vec<(usize, usize)>| -> bool {
        if zero_bytes(word ^ (ONES * u64::from(b'"'))) != 0 {
            return false;
        }
        let mut commas = zero_bytes(word ^ (ONES * u64::from(b',')));
        while commas != 0 {
            let at = base + (commas.trailing_zeros() / 8) as usize;
            fields.push((from, at));
            from = at + 1;
            commas &= commas - 1;
        }
        true
    };
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if !scan(u64::from_le_bytes(word), base, fields) {
            return false;
        }
        base += 8;
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    // Zero padding matches neither `,` nor `"`.
    if !scan(u64::from_le_bytes(word), base, fields) {
        return false;
    }
    fields.push((from, line.len()));
    true
}

/// Where the contract field at `pos` ends (at a `,` or the line's end), or `None` when it
/// holds a `"` (or the buffer ends).
#[inline]
fn text_end(buf: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        match *buf.get(pos)? {
            b',' | b'\n' | b'\r' => return Some(pos),
            b'"' => return None,
            _ => pos += 1,
        }
    }
}

/// One line read as a CSV record by the `csv` crate (quotes and escaped quotes undone).
pub(crate) fn csv_record(line: &[u8]) -> ByteRecord {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    let mut record = ByteRecord::new();
    // Reading from a slice cannot fail; a non-blank line is at least one record.
    let _ = reader.read_byte_record(&mut record);
    record
}

/// Whether `contract` (columns in the file's order) stand side by side in `by_position`.
fn contract_run(by_position: &[Col], contract: &[Col]) -> bool {
    let Some(&first) = contract.first() else {
        return false;
    };
    let start = by_position.iter().position(|&c| c == first);
    start.and_then(|start| by_position.get(start..start + contract.len())) == Some(contract)
}

/// The decimal digits of `line` from `pos` on, as `(value, end)`; `None` past `max` digits
/// (the full path then reports the field). The first eight bytes are looked at at once
/// (SWAR) where the line has them: most fields are one run of at most eight digits.
#[inline]
fn plain_digits(line: &[u8], mut pos: usize, max: usize) -> Option<(u64, usize)> {
    let start = pos;
    let mut value = 0u64;
    if let Some(&word) = line.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(word);
        let n = leading_digits(word);
        if n > max {
            return None;
        }
        if n < 8 {
            return Some(match n {
                0 => (0, pos),
                _ => (eight_digits(word << (8 * (8 - n))), pos + n),
            });
        }
        value = eight_digits(word);
        pos += 8;
    }
    while let Some(&b) = line.get(pos) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        if pos - start == max {
            return None;
        }
        value = value * 10 + u64::from(digit);
        pos += 1;
    }
    Some((value, pos))
}

/// How many of the bytes of `word` (first byte lowest) are ASCII digits before the first that
/// is not: 0 to 8.
#[inline]
fn leading_digits(word: u64) -> usize {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const SEVEN_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // A digit is 0x30..=0x39: after `^ 0x30` its high nibble is 0 and its low nibble + 6 stays
    // below 0x10. Each byte below is non-zero exactly where a byte is not a digit (no carries
    // cross bytes: the sums stay below 0x16).
    let x = word ^ 0x3030_3030_3030_3030;
    let not_digit =
        (x & !LOW_NIBBLES) | (((x & LOW_NIBBLES) + 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010);
    // 0x80 in every non-zero byte (exact, no carries).
    let marks = (((not_digit & SEVEN_BITS) + SEVEN_BITS) | not_digit) & !SEVEN_BITS;
    (marks.trailing_zeros() / 8) as usize
}

/// The number written by eight ASCII digits (first byte lowest; zero bytes before the first
/// digit count as leading zeros), in three multiplications.
#[inline]
fn eight_digits(word: u64) -> u64 {
    let pairs = (word & 0x0f0f_0f0f_0f0f_0f0f).wrapping_mul(2561) >> 8;
    let quads = (pairs & 0x00ff_00ff_00ff_00ff).wrapping_mul(6_553_601) >> 16;
    (quads & 0x0000_ffff_0000_ffff).wrapping_mul(42_949_672_960_001) >> 32
}

/// `TENS[k]` is 10^k.
const TENS: [u64; 20] = {
    let mut tens = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        tens[k] = tens[k - 1] * 10;
        k += 1;
    }
    tens
};

/// A price as nearly every file writes it (`-?digits(.digits)?`, no exponent, no leading zero,
/// at most 19 digits, exactly representable by Clinger's fast path) at `pos`: its value, as
/// the event decoder reads it, and where it ends; `None` for anything else (the caller reads
/// it with the full number grammar).
#[inline]
fn plain_price(line: &[u8], pos: usize) -> Option<(f64, usize)> {
    let negative = line.get(pos) == Some(&b'-');
    let start = pos + usize::from(negative);
    let (int, mut end) = plain_digits(line, start, 19)?;
    let int_len = end - start;
    if int_len == 0 || (int_len > 1 && line[start] == b'0') {
        return None;
    }
    let mut mantissa = int;
    let mut frac_len = 0;
    if line.get(end) == Some(&b'.') {
        let frac;
        let frac_end;
        (frac, frac_end) = plain_digits(line, end + 1, 19 - int_len)?;
        frac_len = frac_end - (end + 1);
        if frac_len == 0 {
            return None;
        }
        // At most 19 digits in all: below 10^19 < 2^64.
        mantissa = int * TENS[frac_len] + frac;
        end = frac_end;
    }
    if matches!(line.get(end), Some(b'e' | b'E')) {
        return None;
    }
    let value = exact_f64(mantissa, -(frac_len as i32))?;
    Some((if negative { -value } else { value }, end))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn layout(header: &str) -> Layout {
        Layout::from_header(Path::new("x.csv"), &csv_record(header.as_bytes())).unwrap()
    }

    impl Layout {
        /// The fast path on one line (without its `\n`), as the reader's window holds it:
        /// the line, `\n`, then slack of digits (what lies past the data must not matter).
        fn parse_plain(&self, line: &[u8], memo: &mut ContractMemo) -> Option<(u32, EventBody)> {
            let mut buf = line.to_vec();
            buf.push(b'\n');
            let end = buf.len();
            buf.resize(end + SLACK, b'7');
            let (index, body, next) = self.parse_plain_at(&buf, 0, end, memo)?;
            assert_eq!(next, end);
            Some((index, body))
        }
    }

    /// The full path: split (or the `csv` crate for quotes), then [`Layout::parse`].
    fn slow(
        layout: &Layout,
        line: &[u8],
        memo: &mut ContractMemo,
        contracts: &mut Contracts,
    ) -> Result<(u32, EventBody), LineProblem> {
        let mut fields = Vec::new();
        let mut unquoted = Vec::new();
        let row = if split_fields(line, &mut fields) {
            line
        } else {
            fields.clear();
            for field in &csv_record(line) {
                let from = unquoted.len();
                unquoted.extend_from_slice(field);
                fields.push((from, unquoted.len()));
            }
            &unquoted[..]
        };
        layout.parse(row, &fields, contracts, memo)
    }

    const TRADES: &str = "symbol,date,ms_of_day,price,size,sec_type,expiration,strike,right,sequence,condition,exchange";
    const QUOTES: &str = "date,ms_of_day,symbol,bid,ask,bid_size,ask_size,bid_exchange,ask_exchange,bid_condition,ask_condition,sec_type,expiration,strike,right";
    /// Contract columns side by side (the memo key is then the row's bytes as they are).
    const TRADES_RUN: &str = "date,ms_of_day,symbol,sec_type,expiration,strike,right,price,size,sequence,condition,exchange";
    const STOCKS: &str = "date,ms_of_day,symbol,price,size";

    /// Field values, valid and not, for a column.
    fn values(col: &str) -> Vec<&'static str> {
        let mut v = match col {
            "symbol" => vec!["AAPL", "SPY", "aapl", "", " SPY", "\"SPY\"", "BRK.B"],
            "sec_type" => vec!["", "STOCK", "OPTION", "INDEX", "FUT", "OPTION "],
            "expiration" => vec!["", "20250321", "20250230", "2025-03-21", "-1"],
            "strike" => vec!["", "570000", "0", "570.5", "99999999999"],
            "right" => vec!["", "C", "P", "X", "c"],
            "price" | "bid" | "ask" => {
                vec![
                    "4.15",
                    "0",
                    "-0.5",
                    "1e2",
                    "",
                    "nan",
                    ".5",
                    "+1",
                    "5.",
                    "01",
                    "1e400",
                    " 4.15",
                    "0.30000000000000004",
                    "123456789012345678901234",
                ]
            }
            "sequence" => vec![
                "",
                "0",
                "-1",
                "-",
                "9223372036854775807",
                "-9223372036854775808",
                "123456789012345678",
                "99999999999999999999",
                "1.0",
            ],
            _ => vec![
                "",
                "0",
                "7",
                "007",
                "4294967295",
                "4294967296",
                "-1",
                "5.0",
                "x",
                "12345678901",
            ],
        };
        v.push("1");
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// Whatever the row, the fast path either declines it or reads what the full path
        /// reads; on canonical rows it does not decline (once their contract is known).
        #[test]
        fn fast_path_agrees_with_the_full_path(
            header in prop::sample::select(vec![TRADES, QUOTES, TRADES_RUN, STOCKS]),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 15),
            extra in prop_oneof![Just(""), Just(","), Just(" "), Just("\"")],
        ) {
            let layout = layout(header);
            let row: Vec<&str> = header
                .split(',')
                .zip(&picks)
                .map(|(col, pick)| *pick.get(&values(col)))
                .collect();
            let line = format!("{}{extra}", row.join(","));
            let mut memo = ContractMemo::new();
            let mut contracts = Contracts::new();
            let full = slow(&layout, line.as_bytes(), &mut memo, &mut contracts);
            let fast = layout.parse_plain(line.as_bytes(), &mut memo);
            if let Some(fast) = fast {
                prop_assert_eq!(Ok(fast), full.clone());
            }
            let canonical = !line.contains([' ', '"']) && extra.is_empty();
            if full.is_ok() && canonical {
                prop_assert!(layout.parse_plain(line.as_bytes(), &mut memo).is_some(), "{}", line);
            }
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"-12"), Some(-12));
        assert_eq!(parse_integer(b"007"), Some(7));
        assert_eq!(parse_integer(b""), None);
        assert_eq!(parse_integer(b"-"), None);
        assert_eq!(parse_integer(b"+1"), None);
        assert_eq!(parse_integer(b"5.0"), None);
        assert_eq!(parse_integer(&[b'9'; 39]), None);
        assert!(parse_u32(b"4294967296").is_none());
        assert!(parse_u32(b"-1").is_none());
        assert!(parse_u32(b"99999999999999999999").is_none());
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"007"), Some(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert!(parse_i64(b"9223372036854775808").is_none());
        assert!(parse_i64(b"-9223372036854775809").is_none());
        assert!(parse_i64(b"-").is_none());
    }

    /// What [`plain_digits`] must find: the run of digits at `pos`, by the byte.
    fn digit_run(line: &[u8], pos: usize, max: usize) -> Option<(u64, usize)> {
        let run = line[pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = std::str::from_utf8(&line[pos..pos + run]).unwrap();
        (run <= max).then(|| (text.parse().unwrap_or(0), pos + run))
    }

    proptest! {
        #[test]
        fn plain_digits_reads_runs_as_the_byte_loop(
            line in "[0-9]{0,22}([,.a-z/:]{0,3}[0-9]{0,10}){0,2}",
            pos in 0usize..4,
            max in prop::sample::select(vec![0usize, 1, 7, 8, 9, 10, 19]),
        ) {
            let line = line.as_bytes();
            let pos = pos.min(line.len());
            prop_assert_eq!(plain_digits(line, pos, max), digit_run(line, pos, max));
        }

        /// Two cached spellings are equal exactly when their bytes are, whatever follows
        /// them in the buffer; the cache answers only for what it was given.
        #[test]
        fn spellings_compare_as_their_bytes(
            a in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'B'), Just(0u8)], 0..40),
            change in 0usize..4,
            at in any::<usize>(),
            after_a in proptest::collection::vec(any::<u8>(), SLACK),
            after_b in proptest::collection::vec(any::<u8>(), SLACK),
        ) {
            // `b`: `a` itself, one byte changed, one byte shorter or one byte longer.
            let mut b = a.clone();
            match change {
                1 if !b.is_empty() => { let i = at % b.len(); b[i] ^= 1; }
                2 => { b.pop(); }
                3 => b.push(0),
                _ => {}
            }
            let buf_a = [&a[..], &after_a].concat();
            let buf_b = [&b[..], &after_b].concat();
            let (sa, sb) = (Spelling::at(&buf_a, 0, a.len()), Spelling::at(&buf_b, 0, b.len()));
            prop_assert_eq!(sa.is_some(), !a.is_empty() && a.len() <= CACHED_LEN);
            if let (Some(sa), Some(sb)) = (sa, sb) {
                prop_assert_eq!(sa == sb, a == b);
                let mut cache = SpellingCache::new();
                cache.put(sa, 7);
                prop_assert_eq!(cache.get(&sb), (a == b).then_some(7));
            }
        }

        #[test]
        fn plain_price_reads_as_the_event_decoder(
            line in "-?[0-9]{1,21}(\\.[0-9]{0,21})?([eE][-+]?[0-9]{1,3})?(,[0-9.]{0,9})?",
        ) {
            let line = line.as_bytes();
            if let Some((value, end)) = plain_price(line, 0) {
                let mut cursor = Cursor::new(line, 0);
                let expected = cursor.f64("price").expect("plain_price accepted it");
                prop_assert_eq!(value.to_bits(), expected.to_bits());
                prop_assert_eq!(end, cursor.pos);
            }
        }
    }

    #[test]
    fn swar_digits() {
        for (text, n, value) in [
            (&b"12345678"[..], 8, 12_345_678),
            (b"1234567,", 7, 1_234_567),
            (b"0,000000", 1, 0),
            (b"/9876543", 0, 0),
            (b"9:876543", 1, 9),
            (b"99999999", 8, 99_999_999),
            (b"00000001", 8, 1),
        ] {
            let word = u64::from_le_bytes(*text.first_chunk::<8>().unwrap());
            assert_eq!(leading_digits(word), n, "{text:?}");
            if n > 0 {
                assert_eq!(eight_digits(word << (8 * (8 - n))), value, "{text:?}");
            }
        }
        assert_eq!(plain_price(b"21.22,", 0), Some((21.22, 5)));
        assert_eq!(plain_price(b"-0.5", 0), Some((-0.5, 4)));
        assert_eq!(
            plain_price(b"12345678.12345", 0),
            Some((12_345_678.123_45, 14))
        );
        // Beyond 2^53 the full grammar reads it.
        for other in [
            &b"123456789012.34567"[..],
            b"01.5",
            b"1e2",
            b".5",
            b"5.",
            b"1.5E3",
            b"12345678901234567890",
        ] {
            assert_eq!(plain_price(other, 0), None, "{other:?}");
        }
    }

    #[test]
    fn fast_path_reads_canonical_rows_at_their_limits() {
        let layout = layout(TRADES);
        let mut memo = ContractMemo::new();
        let mut contracts = Contracts::new();
        for line in [
            "SPY,20250321,1,4.15,4294967295,OPTION,20250321,570000,C,9223372036854775807,0,0",
            "SPY,20250321,1,4.15,1,OPTION,20250321,570000,C,-9223372036854775808,,",
            "SPY,20250321,86399999,0.30000000000000004,0,OPTION,20250321,570000,C,,4294967295,7",
        ] {
            let full = slow(&layout, line.as_bytes(), &mut memo, &mut contracts);
            assert!(full.is_ok(), "{line}");
            assert_eq!(
                layout.parse_plain(line.as_bytes(), &mut memo),
                full.ok(),
                "{line}"
            );
        }
    }

    #[test]
    fn split_matches_a_plain_split() {
        let mut fields = Vec::new();
        for line in [
            &b""[..],
            b",",
            b"a",
            b"a,b",
            b",,,",
            b"20250321,34200019,S036,26.0,64,0,32,57",
            b"1234567,12345678,123456789,",
            b"\xff,\x80\x2c,\x00",
        ] {
            assert!(split_fields(line, &mut fields));
            let got: Vec<&[u8]> = fields.iter().map(|&(a, b)| &line[a..b]).collect();
            let want: Vec<&[u8]> = line.split(|&b| b == b',').collect();
            assert_eq!(got, want, "{line:?}");
        }
        assert!(!split_fields(b"a,\"b,c\"", &mut fields));
        assert!(!split_fields(b"1234567\"", &mut fields));
    }

    #[test]
    fn prices() {
        assert_eq!(parse_price(b"4.15"), Some(4.15));
        assert_eq!(parse_price(b"1e2"), Some(100.0));
        assert_eq!(parse_price(b"-0.5"), Some(-0.5));
        assert_eq!(
            parse_price(b"0.30000000000000004"),
            Some(0.300_000_000_000_000_04)
        );
        for bad in [
            &b"nan"[..],
            b"inf",
            b"1e400",
            b"1,5",
            b"$4",
            b"infinity",
            b".5",
            b"+1",
            b"5.",
            b"01",
        ] {
            assert!(parse_price(bad).is_none(), "{bad:?}");
        }
    }
}
