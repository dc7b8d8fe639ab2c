//! Contract identity shared by the envelope validator, the event codec and the bar aggregator.
//!
//! A [`ContractKey`] is a small `Copy` value (no heap) so it can be hashed and compared on the hot
//! path. Symbols are at most [`Symbol::MAX_LEN`] bytes of `A-Z 0-9 . / ^ -` (SPEC §3.1).
//!
//! # The one contract validator
//!
//! The rules of a contract (SPEC §3.1) live here and nowhere else; the `/v1/events` envelope,
//! the §4 stream names and the Python SDK all call them:
//!
//! * `symbol`: 1–16 characters of `A-Z 0-9 . / ^ -` ([`validate_symbol`]);
//! * `expiration`: YYYYMMDD of a real Gregorian calendar date, years 1900–2999
//!   ([`validate_expiration`]);
//! * `strike`: a positive integer of thousandths of a dollar that fits a `u32`
//!   ([`validate_strike`]);
//! * `right`: `C` or `P` ([`validate_right`]);
//! * `expiration`, `strike` and `right` are required on an OPTION and refused on a STOCK or an
//!   INDEX ([`ContractKey::validate`] checks symbol, expiration, strike, right in that order).
//!
//! A failure is a [`ContractError`]: the [`ContractField`] and the [`ContractReason`]; it
//! displays as `contract.<field>: <reason>` (`contract.expiration: not a calendar date:
//! 20250230`), the same text the envelope answers. What a reason echoes of the input is bounded
//! (strings quoted, escaped and cut after 64 characters).

use std::fmt;

use crate::echo::{quote_bounded, ECHO_LIMIT};

/// Security type of a contract (`sec_type` in commands, `security_type` in events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecType {
    Stock,
    Option,
    Index,
}

impl SecType {
    /// All variants, in wire order.
    pub const ALL: [SecType; 3] = [SecType::Stock, SecType::Option, SecType::Index];

    /// The wire name (`STOCK`, `OPTION`, `INDEX`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SecType::Stock => "STOCK",
            SecType::Option => "OPTION",
            SecType::Index => "INDEX",
        }
    }

    /// Parses the wire name; `None` for anything else (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Kind of stream (`req_type` in commands). `FULL_*` streams are whole-market: they carry no
/// contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReqType {
    Quote,
    Trade,
    Ohlc,
    OpenInterest,
    FullTrades,
    FullOpenInterest,
}

impl ReqType {
    /// All variants, in wire order.
    pub const ALL: [ReqType; 6] = [
        ReqType::Quote,
        ReqType::Trade,
        ReqType::Ohlc,
        ReqType::OpenInterest,
        ReqType::FullTrades,
        ReqType::FullOpenInterest,
    ];

    /// The wire name (`QUOTE`, `TRADE`, `OHLC`, `OPEN_INTEREST`, `FULL_TRADES`,
    /// `FULL_OPEN_INTEREST`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReqType::Quote => "QUOTE",
            ReqType::Trade => "TRADE",
            ReqType::Ohlc => "OHLC",
            ReqType::OpenInterest => "OPEN_INTEREST",
            ReqType::FullTrades => "FULL_TRADES",
            ReqType::FullOpenInterest => "FULL_OPEN_INTEREST",
        }
    }

    /// Parses the wire name; `None` for anything else (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// True for the whole-market streams, which take no contract.
    pub const fn is_full(self) -> bool {
        matches!(self, ReqType::FullTrades | ReqType::FullOpenInterest)
    }
}

/// Option right: call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    Call,
    Put,
}

impl Right {
    /// The wire letter (`C` or `P`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Right::Call => "C",
            Right::Put => "P",
        }
    }

    /// Parses `C` or `P`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "C" => Some(Right::Call),
            "P" => Some(Right::Put),
            _ => None,
        }
    }
}

/// A validated ticker symbol stored inline: 1–16 bytes of `A-Z 0-9 . / ^ -`. Symbols order
/// alphabetically.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Symbol {
    len: u8,
    bytes: [u8; Symbol::MAX_LEN],
}

/// Why a string is not a valid [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolError {
    Empty,
    TooLong(usize),
    BadChar(char),
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolError::Empty => write!(
                f,
                "must be 1-16 characters of A-Z 0-9 . / ^ -, got an empty string"
            ),
            SymbolError::TooLong(n) => {
                write!(
                    f,
                    "must be 1-16 characters of A-Z 0-9 . / ^ -, got {n} characters"
                )
            }
            SymbolError::BadChar(c) => {
                write!(f, "must be 1-16 characters of A-Z 0-9 . / ^ -, got {c:?}")
            }
        }
    }
}

impl Symbol {
    /// Longest symbol accepted.
    pub const MAX_LEN: usize = 16;

    /// Validates and stores a symbol.
    pub fn new(s: &str) -> Result<Self, SymbolError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(SymbolError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !Self::is_symbol_char(*c)) {
            return Err(SymbolError::BadChar(c));
        }
        if b.len() > Self::MAX_LEN {
            return Err(SymbolError::TooLong(s.chars().count()));
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Symbol {
            len: b.len() as u8,
            bytes,
        })
    }

    /// True for the characters a symbol may hold.
    pub const fn is_symbol_char(c: char) -> bool {
        matches!(c, 'A'..='Z' | '0'..='9' | '.' | '/' | '^' | '-')
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `new`), so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A contract as a person types it on a command line (`aapl`, `spy:20250321:570000:c`), in
/// the case the wire requires: ASCII letters upper-cased, surrounding whitespace trimmed.
/// Command lines name contracts case-insensitively (`serve --symbols`, `tail --stock`,
/// `record stock.aapl@trade`); commands on the wire stay exact.
pub fn typed_contract(text: &str) -> String {
    text.trim().to_ascii_uppercase()
}

/// Identity of one contract. For stocks and indices only `symbol` is meaningful and the option
/// fields are zero / `None`; options carry `expiration` (YYYYMMDD), `strike` (thousandths of a
/// dollar) and `right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContractKey {
    pub sec_type: SecType,
    pub symbol: Symbol,
    pub expiration: u32,
    pub strike: u32,
    pub right: Option<Right>,
}

impl ContractKey {
    /// A stock contract.
    pub fn stock(symbol: Symbol) -> Self {
        Self::simple(SecType::Stock, symbol)
    }

    /// An index contract.
    pub fn index(symbol: Symbol) -> Self {
        Self::simple(SecType::Index, symbol)
    }

    /// An option contract.
    pub fn option(symbol: Symbol, expiration: u32, strike: u32, right: Right) -> Self {
        ContractKey {
            sec_type: SecType::Option,
            symbol,
            expiration,
            strike,
            right: Some(right),
        }
    }

    fn simple(sec_type: SecType, symbol: Symbol) -> Self {
        ContractKey {
            sec_type,
            symbol,
            expiration: 0,
            strike: 0,
            right: None,
        }
    }

    /// The Redis channel key of SPEC §7: `AAPL` or `SPY:20250321:570000:C`.
    pub fn channel_key(&self) -> String {
        match self.right {
            Some(r) => format!(
                "{}:{}:{}:{}",
                self.symbol,
                self.expiration,
                self.strike,
                r.as_str()
            ),
            None => self.symbol.as_str().to_owned(),
        }
    }
}

impl SecType {
    /// The `req_type`s this security type supports (SPEC §3.1), in wire order.
    pub const fn supported_req_types(self) -> &'static [ReqType] {
        match self {
            SecType::Stock => &[
                ReqType::Quote,
                ReqType::Trade,
                ReqType::Ohlc,
                ReqType::FullTrades,
            ],
            SecType::Option => &ReqType::ALL,
            SecType::Index => &[ReqType::Trade, ReqType::Ohlc],
        }
    }

    /// True when `req_type` is a valid stream of this security type.
    pub fn supports(self, req_type: ReqType) -> bool {
        self.supported_req_types().contains(&req_type)
    }
}

/// One stream a consumer subscribes to: `req_type` of one contract, or a whole-market
/// `FULL_*` stream of a security type (`contract` is `None` exactly then).
///
/// Both endpoints name the same streams: `/v1/events` as a `STREAM` command, `/v1/stream` as a
/// SPEC §4 name (`stock.AAPL@trade`, `option@full_trades`; [`StreamKey::write_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub sec_type: SecType,
    pub req_type: ReqType,
    pub contract: Option<ContractKey>,
}

impl StreamKey {
    /// The stream of `req_type` on `contract`.
    pub fn of_contract(req_type: ReqType, contract: ContractKey) -> Self {
        StreamKey {
            sec_type: contract.sec_type,
            req_type,
            contract: Some(contract),
        }
    }

    /// The whole-market stream `req_type` (`FULL_TRADES`, `FULL_OPEN_INTEREST`) of `sec_type`.
    pub fn full(sec_type: SecType, req_type: ReqType) -> Self {
        StreamKey {
            sec_type,
            req_type,
            contract: None,
        }
    }

    /// Appends the SPEC §4 name: `<sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>`, or
    /// `<sec>@full_trades` for whole-market streams.
    pub fn write_name(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.sec_type.stream_prefix().as_bytes());
        if let Some(contract) = &self.contract {
            out.push(b'.');
            out.extend_from_slice(contract.symbol.as_str().as_bytes());
            if let Some(right) = contract.right {
                let mut buf = itoa::Buffer::new();
                out.push(b'.');
                out.extend_from_slice(buf.format(contract.expiration).as_bytes());
                out.push(b'.');
                out.extend_from_slice(buf.format(contract.strike).as_bytes());
                out.push(b'.');
                out.extend_from_slice(right.as_str().as_bytes());
            }
        }
        out.push(b'@');
        out.extend_from_slice(self.req_type.stream_suffix().as_bytes());
    }

    /// The SPEC §4 name as a string.
    pub fn name(&self) -> String {
        let mut out = Vec::with_capacity(48);
        self.write_name(&mut out);
        // Only ASCII is ever written (symbols are ASCII by construction).
        String::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl SecType {
    /// The lower-case prefix of SPEC §4 stream names (`stock`, `option`, `index`).
    pub const fn stream_prefix(self) -> &'static str {
        match self {
            SecType::Stock => "stock",
            SecType::Option => "option",
            SecType::Index => "index",
        }
    }
}

impl ReqType {
    /// The kind suffix of SPEC §4 stream names (`trade`, `quote`, …, `full_open_interest`).
    pub const fn stream_suffix(self) -> &'static str {
        match self {
            ReqType::Quote => "quote",
            ReqType::Trade => "trade",
            ReqType::Ohlc => "ohlc",
            ReqType::OpenInterest => "open_interest",
            ReqType::FullTrades => "full_trades",
            ReqType::FullOpenInterest => "full_open_interest",
        }
    }
}

/// A field of a contract, named as in the `contract` object of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractField {
    Symbol,
    Expiration,
    Strike,
    Right,
}

impl ContractField {
    /// The field name (`symbol`, `expiration`, `strike`, `right`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ContractField::Symbol => "symbol",
            ContractField::Expiration => "expiration",
            ContractField::Strike => "strike",
            ContractField::Right => "right",
        }
    }
}

/// Why a contract field is invalid. `got` strings are bounded renderings of the input (a quoted,
/// escaped string cut after 64 characters, or a number as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractReason {
    /// The field is missing (`required`).
    Required,
    /// Not 1–16 characters of `A-Z 0-9 . / ^ -`.
    BadSymbol { got: String },
    /// The expiration is not an integer at all (`must be a YYYYMMDD integer, got …`).
    ExpirationNotAnInteger { got: String },
    /// An integer that is not a YYYYMMDD calendar date (`not a calendar date: 20250230`).
    NotACalendarDate { got: String },
    /// Zero, negative or not an integer (`must be a positive integer (thousandths of a
    /// dollar), got …`).
    StrikeNotPositive { got: String },
    /// A positive integer above `u32::MAX` thousandths.
    StrikeTooLarge { got: String },
    /// Not `C` or `P`.
    BadRight { got: String },
    /// An option field (`expiration`, `strike`, `right`) given for a STOCK or an INDEX.
    OptionFieldOn(SecType),
}

impl fmt::Display for ContractReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContractReason::Required => f.write_str("required"),
            ContractReason::BadSymbol { got } => {
                write!(f, "must be 1-16 characters of A-Z 0-9 . / ^ -, got {got}")
            }
            ContractReason::ExpirationNotAnInteger { got } => {
                write!(f, "must be a YYYYMMDD integer, got {got}")
            }
            ContractReason::NotACalendarDate { got } => write!(f, "not a calendar date: {got}"),
            ContractReason::StrikeNotPositive { got } => write!(
                f,
                "must be a positive integer (thousandths of a dollar), got {got}"
            ),
            ContractReason::StrikeTooLarge { got } => write!(
                f,
                "must be at most {} (thousandths of a dollar), got {got}",
                u32::MAX
            ),
            ContractReason::BadRight { got } => write!(f, "expected one of C, P, got {got}"),
            ContractReason::OptionFieldOn(sec_type) => write!(
                f,
                "not allowed for {} (only an OPTION has expiration, strike, right)",
                sec_type.as_str()
            ),
        }
    }
}

/// A contract that breaks a rule of SPEC §3.1: which field, and why. Displays as
/// `contract.<field>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractError {
    pub field: ContractField,
    pub reason: ContractReason,
}

impl ContractError {
    /// An error of `field`.
    pub fn new(field: ContractField, reason: ContractReason) -> Self {
        ContractError { field, reason }
    }
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "contract.{}: {}", self.field.as_str(), self.reason)
    }
}

impl std::error::Error for ContractError {}

/// The symbol rule: 1–16 characters of `A-Z 0-9 . / ^ -`. A too-long symbol of at most 64
/// characters is echoed with its length (`"ABCDEFGHIJKLMNOPQ" (17 characters)`).
pub fn validate_symbol(s: &str) -> Result<Symbol, ContractReason> {
    Symbol::new(s).map_err(|e| {
        let got = match e {
            SymbolError::TooLong(n) if s.chars().count() <= ECHO_LIMIT => {
                format!("{} ({n} characters)", quote_bounded(s))
            }
            SymbolError::Empty | SymbolError::TooLong(_) | SymbolError::BadChar(_) => {
                quote_bounded(s)
            }
        };
        ContractReason::BadSymbol { got }
    })
}

/// The expiration rule: an integer YYYYMMDD that is a real calendar date (years 1900–2999).
pub fn validate_expiration(yyyymmdd: i128) -> Result<u32, ContractReason> {
    match u64::try_from(yyyymmdd) {
        Ok(n) if is_calendar_date(n) => Ok(n as u32),
        _ => Err(ContractReason::NotACalendarDate {
            got: yyyymmdd.to_string(),
        }),
    }
}

/// The strike rule: a positive integer of thousandths of a dollar, at most `u32::MAX`.
pub fn validate_strike(strike: i128) -> Result<u32, ContractReason> {
    if strike <= 0 {
        return Err(ContractReason::StrikeNotPositive {
            got: strike.to_string(),
        });
    }
    u32::try_from(strike).map_err(|_| ContractReason::StrikeTooLarge {
        got: strike.to_string(),
    })
}

/// The right rule: `C` or `P`.
pub fn validate_right(s: &str) -> Result<Right, ContractReason> {
    Right::parse(s).ok_or_else(|| ContractReason::BadRight {
        got: quote_bounded(s),
    })
}

impl ContractKey {
    /// Validates a contract given as typed values (the Python SDK, SPEC §4 stream names):
    /// `symbol`, then for an OPTION `expiration`, `strike`, `right` (each required), in that
    /// order; a STOCK or INDEX refuses the first option field given. The first broken rule is
    /// the error.
    pub fn validate(
        sec_type: SecType,
        symbol: &str,
        expiration: Option<i128>,
        strike: Option<i128>,
        right: Option<&str>,
    ) -> Result<Self, ContractError> {
        let symbol =
            validate_symbol(symbol).map_err(|r| ContractError::new(ContractField::Symbol, r))?;
        if sec_type != SecType::Option {
            let given = [
                (ContractField::Expiration, expiration.is_some()),
                (ContractField::Strike, strike.is_some()),
                (ContractField::Right, right.is_some()),
            ];
            if let Some((field, _)) = given.into_iter().find(|(_, present)| *present) {
                return Err(ContractError::new(
                    field,
                    ContractReason::OptionFieldOn(sec_type),
                ));
            }
            return Ok(Self::simple(sec_type, symbol));
        }
        let required = |field| ContractError::new(field, ContractReason::Required);
        let expiration =
            validate_expiration(expiration.ok_or_else(|| required(ContractField::Expiration))?)
                .map_err(|r| ContractError::new(ContractField::Expiration, r))?;
        let strike = validate_strike(strike.ok_or_else(|| required(ContractField::Strike))?)
            .map_err(|r| ContractError::new(ContractField::Strike, r))?;
        let right = validate_right(right.ok_or_else(|| required(ContractField::Right))?)
            .map_err(|r| ContractError::new(ContractField::Right, r))?;
        Ok(Self::option(symbol, expiration, strike, right))
    }
}

/// True when `yyyymmdd` is a real calendar date (Gregorian, years 1900–2999).
pub fn is_calendar_date(yyyymmdd: u64) -> bool {
    let year = yyyymmdd / 10_000;
    let month = (yyyymmdd / 100) % 100;
    let day = yyyymmdd % 100;
    if !(1900..=2999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert_eq!(Symbol::new("BRK.B").unwrap().as_str(), "BRK.B");
        assert_eq!(Symbol::new("^SPX").unwrap().as_str(), "^SPX");
        assert_eq!(Symbol::new("ABCDEFGHIJKLMNOP").unwrap().as_str().len(), 16);
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert_eq!(
            Symbol::new("ABCDEFGHIJKLMNOPQ"),
            Err(SymbolError::TooLong(17))
        );
        assert_eq!(Symbol::new("aapl"), Err(SymbolError::BadChar('a')));
        assert_eq!(Symbol::new("A B"), Err(SymbolError::BadChar(' ')));
    }

    #[test]
    fn calendar_dates() {
        assert!(is_calendar_date(20250321));
        assert!(is_calendar_date(20240229));
        assert!(!is_calendar_date(20250229));
        assert!(!is_calendar_date(20250230));
        assert!(!is_calendar_date(20251301));
        assert!(!is_calendar_date(20250100));
        assert!(is_calendar_date(20000229));
        assert!(!is_calendar_date(21000229));
        assert!(!is_calendar_date(2025032));
    }

    #[test]
    fn req_types() {
        for r in ReqType::ALL {
            assert_eq!(ReqType::parse(r.as_str()), Some(r));
        }
        assert_eq!(ReqType::parse("trade"), None);
        assert_eq!(ReqType::parse("TRADES"), None);
        let full: Vec<_> = ReqType::ALL.into_iter().filter(|r| r.is_full()).collect();
        assert_eq!(full, [ReqType::FullTrades, ReqType::FullOpenInterest]);
    }

    #[test]
    fn stream_names() {
        let spy = Symbol::new("SPY").unwrap();
        let call = ContractKey::option(spy, 20250321, 570000, Right::Call);
        assert_eq!(
            StreamKey::of_contract(ReqType::Quote, call).name(),
            "option.SPY.20250321.570000.C@quote"
        );
        assert_eq!(
            StreamKey::of_contract(ReqType::Trade, ContractKey::stock(spy)).name(),
            "stock.SPY@trade"
        );
        assert_eq!(
            StreamKey::full(SecType::Option, ReqType::FullOpenInterest).name(),
            "option@full_open_interest"
        );
    }

    #[test]
    fn the_contract_validator() {
        let spy = Symbol::new("SPY").unwrap();
        assert_eq!(
            ContractKey::validate(
                SecType::Option,
                "SPY",
                Some(20250321),
                Some(570000),
                Some("C")
            ),
            Ok(ContractKey::option(spy, 20250321, 570000, Right::Call))
        );
        assert_eq!(
            ContractKey::validate(SecType::Index, "SPX", None, None, None),
            Ok(ContractKey::index(Symbol::new("SPX").unwrap()))
        );
        let message = |sec, sym, exp, strike, right| {
            ContractKey::validate(sec, sym, exp, strike, right)
                .unwrap_err()
                .to_string()
        };
        let o = SecType::Option;
        assert_eq!(
            message(o, "spy", Some(0), None, None),
            r#"contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "spy""#
        );
        assert_eq!(
            message(o, "SPY", Some(20250230), Some(1), Some("C")),
            "contract.expiration: not a calendar date: 20250230"
        );
        assert_eq!(
            message(o, "SPY", Some(-20250321), Some(1), Some("C")),
            "contract.expiration: not a calendar date: -20250321"
        );
        assert_eq!(
            message(o, "SPY", None, Some(1), Some("C")),
            "contract.expiration: required"
        );
        assert_eq!(
            message(o, "SPY", Some(20250321), Some(-5), Some("C")),
            "contract.strike: must be a positive integer (thousandths of a dollar), got -5"
        );
        assert_eq!(
            message(o, "SPY", Some(20250321), Some(1 << 32), Some("C")),
            "contract.strike: must be at most 4294967295 (thousandths of a dollar), got 4294967296"
        );
        assert_eq!(
            message(o, "SPY", Some(20250321), Some(1), Some("c")),
            r#"contract.right: expected one of C, P, got "c""#
        );
        assert_eq!(
            message(SecType::Stock, "AAPL", None, None, Some("C")),
            "contract.right: not allowed for STOCK (only an OPTION has expiration, strike, right)"
        );
        let e = ContractKey::validate(o, "SPY", Some(20250230), Some(1), Some("C")).unwrap_err();
        assert_eq!(e.field, ContractField::Expiration);
        assert_eq!(
            e.reason,
            ContractReason::NotACalendarDate {
                got: "20250230".to_owned()
            }
        );
    }

    #[test]
    fn channel_keys() {
        let spy = Symbol::new("SPY").unwrap();
        assert_eq!(ContractKey::stock(spy).channel_key(), "SPY");
        assert_eq!(
            ContractKey::option(spy, 20250321, 570000, Right::Call).channel_key(),
            "SPY:20250321:570000:C"
        );
    }
}
