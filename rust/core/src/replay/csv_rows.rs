//! CSV with a header row (SPEC §5): trades, or quotes when the header has `bid`/`ask` columns.
//!
//! Columns may come in any order; a column the format does not know is refused (a typo must
//! not silently become a default). Every field is trimmed of surrounding whitespace; an empty
//! optional field takes its default. Prices are dollars, the strike is in thousandths (as on
//! the wire); integers are plain integers (`5.0` is not one, as in the event decoder).
//! Contracts go through the one contract validator, so its rules and reasons apply, under the
//! column's name (`expiration: not a calendar date: 20250230`).

use std::path::Path;

use csv::ByteRecord;

use super::error::{CsvHeaderProblem, FieldReason, LineProblem, ReplayError};
use super::format::Stream;
use super::Row;
use crate::contract::{ContractError, ContractKey, ContractReason, SecType};
use crate::echo::quote_bounded;
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
        Ok(Self {
            quotes,
            index,
            fields: names.len(),
        })
    }

    /// The event of a row, or what is wrong with it. The first broken rule is reported, in
    /// this order: field count, `date`, `ms_of_day`, the contract (`sec_type`, `symbol`
    /// present, `expiration` and `strike` integers, then the contract validator's order:
    /// symbol, expiration, strike, right), the body's fields in SPEC §3.3 order.
    pub(crate) fn parse(&self, row: &ByteRecord) -> Result<(ContractKey, EventBody), LineProblem> {
        if row.len() != self.fields {
            return Err(LineProblem::FieldCount {
                expected: self.fields,
                got: row.len(),
            });
        }
        let f = Fields { layout: self, row };
        let date = f.required(Col::Date, parse_u32)?;
        let ms_of_day = f.required(Col::MsOfDay, parse_u32)?;
        let contract = f.contract()?;
        let body = if self.quotes {
            EventBody::Quote(Quote {
                ms_of_day,
                bid_size: f.optional(Col::BidSize, parse_u32)?,
                bid_exchange: f.optional(Col::BidExchange, parse_u32)?,
                bid: f.required(Col::Bid, parse_price)?,
                bid_condition: f.optional(Col::BidCondition, parse_u32)?,
                ask_size: f.optional(Col::AskSize, parse_u32)?,
                ask_exchange: f.optional(Col::AskExchange, parse_u32)?,
                ask: f.required(Col::Ask, parse_price)?,
                ask_condition: f.optional(Col::AskCondition, parse_u32)?,
                date,
            })
        } else {
            EventBody::Trade(Trade {
                ms_of_day,
                sequence: f.optional(Col::Sequence, parse_i64)?,
                size: f.required(Col::Size, parse_u32)?,
                condition: f.optional(Col::Condition, parse_u32)?,
                price: f.required(Col::Price, parse_price)?,
                exchange: f.optional(Col::Exchange, parse_u32)?,
                date,
            })
        };
        Ok((contract, body))
    }
}

/// One row seen through its layout.
struct Fields<'a> {
    layout: &'a Layout,
    row: &'a ByteRecord,
}

impl Fields<'_> {
    /// The trimmed field of `col`; empty when the file has no such column.
    fn get(&self, col: Col) -> &[u8] {
        self.layout.index[col as usize]
            .and_then(|i| self.row.get(i))
            .map_or(&[][..], <[u8]>::trim_ascii)
    }

    fn required<T>(
        &self,
        col: Col,
        parse: fn(&[u8]) -> Result<T, FieldReason>,
    ) -> Result<T, LineProblem> {
        let field = self.get(col);
        if field.is_empty() {
            return Err(field_error(col, FieldReason::Required));
        }
        parse(field).map_err(|reason| field_error(col, reason))
    }

    fn optional<T: Default>(
        &self,
        col: Col,
        parse: fn(&[u8]) -> Result<T, FieldReason>,
    ) -> Result<T, LineProblem> {
        let field = self.get(col);
        if field.is_empty() {
            return Ok(T::default());
        }
        parse(field).map_err(|reason| field_error(col, reason))
    }

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

fn parse_u32(text: &[u8]) -> Result<u32, FieldReason> {
    parse_integer(text)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| FieldReason::Integer {
            min: 0,
            max: u64::from(u32::MAX),
            got: echo(text),
        })
}

fn parse_i64(text: &[u8]) -> Result<i64, FieldReason> {
    parse_integer(text)
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| FieldReason::Integer {
            min: i64::MIN,
            max: i64::MAX as u64,
            got: echo(text),
        })
}

/// A finite decimal number (`4.15`, `-0.5`, `1e2`); `nan` and `inf` are refused.
fn parse_price(text: &[u8]) -> Result<f64, FieldReason> {
    std::str::from_utf8(text)
        .ok()
        .filter(|s| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        })
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or_else(|| FieldReason::Number { got: echo(text) })
}

/// The rows of one CSV stream.
pub(crate) struct CsvRows {
    reader: csv::Reader<Stream>,
    layout: Layout,
    row: ByteRecord,
}

/// What reading a CSV header found.
pub(crate) enum Header {
    /// The layout and the rows after the header.
    Rows(Box<CsvRows>),
    /// Nothing but blank lines.
    Empty,
}

impl CsvRows {
    /// Reads the header (the first non-blank record) and checks it.
    pub(crate) fn open(path: &Path, stream: Stream, capacity: usize) -> Result<Header, CsvError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(capacity)
            .from_reader(stream);
        let mut header = ByteRecord::new();
        loop {
            if !reader
                .read_byte_record(&mut header)
                .map_err(CsvError::Read)?
            {
                return Ok(Header::Empty);
            }
            if !is_blank_record(&header) {
                break;
            }
        }
        let layout = Layout::from_header(path, &header).map_err(CsvError::Header)?;
        Ok(Header::Rows(Box::new(Self {
            reader,
            layout,
            row: ByteRecord::new(),
        })))
    }

    /// The next event or bad row; blank rows are passed over.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>, std::io::Error> {
        loop {
            if !self
                .reader
                .read_byte_record(&mut self.row)
                .map_err(into_io)?
            {
                return Ok(None);
            }
            if is_blank_record(&self.row) {
                continue;
            }
            let line = self.row.position().map_or(0, csv::Position::line);
            return Ok(Some(match self.layout.parse(&self.row) {
                Ok((contract, body)) => Row::Event { contract, body },
                Err(problem) => Row::Bad(line, problem),
            }));
        }
    }
}

/// A CSV file that cannot be read: its bytes (I/O, gzip) or its header.
pub(crate) enum CsvError {
    Read(csv::Error),
    Header(ReplayError),
}

impl CsvError {
    pub(crate) fn into_replay(self, path: &Path, gzip: bool) -> ReplayError {
        match self {
            CsvError::Read(e) => ReplayError::read(path, gzip, &into_io(e)),
            CsvError::Header(e) => e,
        }
    }
}

/// With byte records and flexible rows, the only errors the `csv` crate returns are I/O.
fn into_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// A record of one field that is blank (a line of spaces).
fn is_blank_record(record: &ByteRecord) -> bool {
    record.len() <= 1 && record.iter().all(|f| f.trim_ascii().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_u32(b"4294967296").is_err());
        assert_eq!(parse_u32(b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
    }

    #[test]
    fn prices() {
        assert_eq!(parse_price(b"4.15"), Ok(4.15));
        assert_eq!(parse_price(b"1e2"), Ok(100.0));
        assert_eq!(parse_price(b"-0.5"), Ok(-0.5));
        for bad in [&b"nan"[..], b"inf", b"1e400", b"1,5", b"$4", b"infinity"] {
            assert!(parse_price(bad).is_err(), "{bad:?}");
        }
    }
}
