//! SPEC §4 stream names: `stock.AAPL@trade`, `option.SPY.20250321.570000.C@quote`,
//! `option@full_trades`.
//!
//! [`parse_stream_name`] turns a name into a [`StreamKey`] (the inverse of
//! [`StreamKey::write_name`]); [`stream_key`] builds one from separate fields with the same
//! checks.
//!
//! # Grammar
//!
//! ```text
//! name  = sec "." SYMBOL [ "." expiration "." strike "." right ] "@" kind   ; one contract
//!       | sec "@" full_kind                                                 ; whole market
//! sec   = "stock" | "option" | "index"
//! kind  = "trade" | "quote" | "ohlc" | "open_interest"
//! full_kind = "full_trades" | "full_open_interest"
//! ```
//!
//! * The name splits at its first `@` (a symbol never holds one), the part before it at its
//!   first `.`: `sec`, then the contract.
//! * Symbols may contain `.`: `stock.BRK.B@trade` is the stock `BRK.B`. For options the **last
//!   three** dot-separated fields are expiration, strike and right, and everything between
//!   `option.` and them is the symbol: `option.BRK.B.20250321.570000.C@quote` is `BRK.B`.
//! * `expiration` and `strike` are decimal digits written canonically (no sign, no leading
//!   zero), so every stream has exactly one name; the contract rules are those of
//!   [`crate::contract`] (SPEC §3.1), checked in the order symbol, expiration, strike, right.
//! * The `sec` × `kind` combinations are those of SPEC §3.1 ([`SecType::supports`]):
//!   `stock@full_trades`, `option@full_trades`, `option@full_open_interest` are the
//!   whole-market streams.
//!
//! # Order of checks and messages
//!
//! 1. an `@` is present: else `expected <sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>,
//!    got "…"`;
//! 2. `sec`: `sec: expected one of stock, option, index, got "bond"`;
//! 3. `kind`: `kind: expected one of trade, quote, ohlc, open_interest, full_trades,
//!    full_open_interest, got "book"`;
//! 4. the combination: `stock does not support open_interest`;
//! 5. whole-market streams take no contract: `option@full_trades takes no contract, got "…"`;
//!    other streams need one, with three more fields for an option:
//!    `expected option.<SYMBOL>.<expiration>.<strike>.<right>@quote, got "option.SPY@quote"`;
//! 6. the contract: `contract.expiration: not a calendar date: 20250230`,
//!    `contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "aapl"`, ….
//!
//! Messages are one line; what they echo of the input is quoted, escaped and cut after 64
//! characters.

use std::fmt;

use crate::contract::{
    typed_contract, validate_expiration, validate_right, validate_strike, validate_symbol,
    ContractError, ContractField, ContractKey, ContractReason, ReqType, SecType, StreamKey,
};
use crate::echo::quote_bounded;

/// The shape of every stream name, as error messages spell it.
pub const STREAM_NAME_SHAPE: &str = "<sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>";

/// Why a string is not a valid SPEC §4 stream name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamNameError {
    /// The name does not have the expected shape: `expected <expected>, got <got>`.
    Shape { expected: String, got: String },
    /// Unknown security prefix (`got` is quoted).
    Sec { got: String },
    /// Unknown kind after `@` (`got` is quoted).
    Kind { got: String },
    /// The security type does not offer this kind (SPEC §3.1).
    Unsupported {
        sec_type: SecType,
        req_type: ReqType,
    },
    /// A contract given for a whole-market stream (`got` is the quoted name).
    ContractNotAllowed {
        sec_type: SecType,
        req_type: ReqType,
        got: String,
    },
    /// The contract breaks a rule of SPEC §3.1.
    Contract(ContractError),
}

impl fmt::Display for StreamNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamNameError::Shape { expected, got } => write!(f, "expected {expected}, got {got}"),
            StreamNameError::Sec { got } => {
                write!(f, "sec: expected one of stock, option, index, got {got}")
            }
            StreamNameError::Kind { got } => write!(
                f,
                "kind: expected one of trade, quote, ohlc, open_interest, full_trades, \
                 full_open_interest, got {got}"
            ),
            StreamNameError::Unsupported { sec_type, req_type } => write!(
                f,
                "{} does not support {}",
                sec_type.stream_prefix(),
                req_type.stream_suffix()
            ),
            StreamNameError::ContractNotAllowed {
                sec_type,
                req_type,
                got,
            } => write!(
                f,
                "{}@{} takes no contract, got {got}",
                sec_type.stream_prefix(),
                req_type.stream_suffix()
            ),
            StreamNameError::Contract(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StreamNameError {}

impl From<ContractError> for StreamNameError {
    fn from(e: ContractError) -> Self {
        StreamNameError::Contract(e)
    }
}

impl SecType {
    /// Parses the lower-case prefix of a stream name (`stock`, `option`, `index`).
    pub fn from_stream_prefix(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.stream_prefix() == s)
    }
}

impl ReqType {
    /// Parses the kind of a stream name (`trade`, …, `full_open_interest`).
    pub fn from_stream_suffix(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.stream_suffix() == s)
    }
}

/// Parses a SPEC §4 stream name; see the module docs for the grammar and the messages.
pub fn parse_stream_name(name: &str) -> Result<StreamKey, StreamNameError> {
    let Some((target, kind)) = name.split_once('@') else {
        return Err(StreamNameError::Shape {
            expected: STREAM_NAME_SHAPE.to_owned(),
            got: quote_bounded(name),
        });
    };
    let (sec, contract) = match target.split_once('.') {
        Some((sec, contract)) => (sec, Some(contract)),
        None => (target, None),
    };
    let sec_type = SecType::from_stream_prefix(sec).ok_or_else(|| StreamNameError::Sec {
        got: quote_bounded(sec),
    })?;
    let req_type = ReqType::from_stream_suffix(kind).ok_or_else(|| StreamNameError::Kind {
        got: quote_bounded(kind),
    })?;
    check_combination(sec_type, req_type)?;
    if req_type.is_full() {
        return match contract {
            None => Ok(StreamKey::full(sec_type, req_type)),
            Some(_) => Err(StreamNameError::ContractNotAllowed {
                sec_type,
                req_type,
                got: quote_bounded(name),
            }),
        };
    }
    let missing = || StreamNameError::Shape {
        expected: format!(
            "{}.<SYMBOL>{}@{}",
            sec_type.stream_prefix(),
            if sec_type == SecType::Option {
                ".<expiration>.<strike>.<right>"
            } else {
                ""
            },
            req_type.stream_suffix()
        ),
        got: quote_bounded(name),
    };
    let contract = contract.ok_or_else(missing)?;
    let key = if sec_type == SecType::Option {
        let mut fields = contract.rsplitn(4, '.');
        let (Some(right), Some(strike), Some(expiration), Some(symbol)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(missing());
        };
        parse_option(symbol, expiration, strike, right)?
    } else {
        ContractKey::validate(sec_type, contract, None, None, None)?
    };
    Ok(StreamKey::of_contract(req_type, key))
}

/// [`parse_stream_name`] of a name as a person types it on a command line: the contract part
/// (between the first `.` and the `@`) goes through [`typed_contract`], so
/// `stock.aapl@trade` is `stock.AAPL@trade`; the rest is exact.
pub fn parse_typed_stream_name(name: &str) -> Result<StreamKey, StreamNameError> {
    let name = name.trim();
    match (name.find('.'), name.find('@')) {
        (Some(dot), Some(at)) if dot < at => parse_stream_name(&format!(
            "{}{}{}",
            &name[..=dot],
            typed_contract(&name[dot + 1..at]),
            &name[at..]
        )),
        _ => parse_stream_name(name),
    }
}

/// The stream of `req_type` on the contract given by its fields (the Python `stream_name()`):
/// the same checks as [`parse_stream_name`] from step 4. A whole-market stream refuses any
/// contract field; any other stream requires `symbol`.
pub fn stream_key(
    sec_type: SecType,
    req_type: ReqType,
    symbol: Option<&str>,
    expiration: Option<i128>,
    strike: Option<i128>,
    right: Option<&str>,
) -> Result<StreamKey, StreamNameError> {
    check_combination(sec_type, req_type)?;
    let given = symbol.is_some() || expiration.is_some() || strike.is_some() || right.is_some();
    if req_type.is_full() {
        if given {
            return Err(StreamNameError::ContractNotAllowed {
                sec_type,
                req_type,
                got: "a contract".to_owned(),
            });
        }
        return Ok(StreamKey::full(sec_type, req_type));
    }
    let Some(symbol) = symbol else {
        return Err(ContractError::new(ContractField::Symbol, ContractReason::Required).into());
    };
    let contract = ContractKey::validate(sec_type, symbol, expiration, strike, right)?;
    Ok(StreamKey::of_contract(req_type, contract))
}

fn check_combination(sec_type: SecType, req_type: ReqType) -> Result<(), StreamNameError> {
    if sec_type.supports(req_type) {
        Ok(())
    } else {
        Err(StreamNameError::Unsupported { sec_type, req_type })
    }
}

fn parse_option(
    symbol: &str,
    expiration: &str,
    strike: &str,
    right: &str,
) -> Result<ContractKey, ContractError> {
    let symbol =
        validate_symbol(symbol).map_err(|r| ContractError::new(ContractField::Symbol, r))?;
    let expiration = match canonical_integer(expiration) {
        Some(n) => validate_expiration(n),
        None => Err(ContractReason::ExpirationNotAnInteger {
            got: quote_bounded(expiration),
        }),
    }
    .map_err(|r| ContractError::new(ContractField::Expiration, r))?;
    let strike = match canonical_integer(strike) {
        Some(n) => validate_strike(n),
        None => Err(ContractReason::StrikeNotPositive {
            got: quote_bounded(strike),
        }),
    }
    .map_err(|r| ContractError::new(ContractField::Strike, r))?;
    let right = validate_right(right).map_err(|r| ContractError::new(ContractField::Right, r))?;
    Ok(ContractKey::option(symbol, expiration, strike, right))
}

/// The value of a canonical decimal integer (digits, no sign, no leading zero) of at most 30
/// digits; `None` for anything else.
fn canonical_integer(s: &str) -> Option<i128> {
    let canonical = !s.is_empty()
        && s.len() <= 30
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
