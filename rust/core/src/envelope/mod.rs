//! `/v1/events` command validation and acknowledgements (SPEC §3.1–3.2); the `/v1/stream`
//! commands and replies (SPEC §4) are in [`stream`] ([`parse_stream_command`]), re-exported
//! here.
//!
//! [`parse_command`] turns one inbound text frame into a typed [`Command`] or an
//! [`EnvelopeError`]; [`encode_ack`] writes the §3.2 answer straight into an output buffer.
//!
//! # Dialects
//!
//! [`Dialect::Terminal`] (the default) also reads the forms the original terminal's own
//! documentation sends, so code written for it runs unchanged: a command written as a Python
//! literal dict (`{'msg_type': 'STREAM', …, 'add': True}`, see [`python_literal`]), `expiration`
//! and `strike` as strings of decimal digits (`"20240315"`, `"4800000"`), and
//! `{"msg_type": "STREAM_BULK", "req_type": "TRADE" | "OPEN_INTEREST", …}` for `FULL_TRADES` /
//! `FULL_OPEN_INTEREST`. Each is read as exactly its strict equivalent, so it is acknowledged
//! the same way (the `req_id` is the integer id; nothing else is echoed). Every other rule is
//! the same in both dialects. [`Dialect::Strict`] (`serve --strict`) refuses these forms with a
//! message naming the strict form.
//!
//! # Classification
//!
//! A frame is a JSON object. If it has a `msg_type` member it is a command (`STREAM`/`STOP`);
//! otherwise, if it has a `type` member, it is seed 004's `event_ack`; otherwise it is treated
//! as a command, so `{}` answers `id: required`. A `type` member next to `msg_type` is an
//! unknown field of the command.
//!
//! # Order of checks
//!
//! A frame with several problems always reports the first of this list, so the answer is
//! deterministic:
//!
//! 1. `json`: the frame is valid UTF-8 (`json: invalid UTF-8 at byte N`), then valid JSON
//!    (`json: <what serde_json found> at byte N`, `N` = 0-based byte offset of the byte
//!    `serde_json` points at, converted exactly from its line/column; the frame length when the
//!    input ended early), then an object
//!    (`json: expected an object, got an array`). A frame that is only part of an object (the
//!    lines of a pretty-printed command sent one frame per line, as `websocat` does) is
//!    `json: incomplete object — send each command as one message`. In the terminal dialect a
//!    frame that is not JSON is read as a Python literal; when it is neither, the error of the
//!    reader that got further is reported, with its offset into the frame as sent.
//! 2. Commands:
//!    1. `id`: not repeated, present, an integer `0 <= id < 2^63`. Only after this point do
//!       errors carry `req_id`.
//!    2. duplicate members: the first key, in document order, that already occurred.
//!    3. `msg_type`: present, `STREAM` or `STOP` (or `STREAM_BULK` in the terminal dialect).
//!    4. unknown members, first in document order (`STOP` takes only `msg_type` and `id`).
//!    5. `STREAM` only: `sec_type`, `req_type`, the `sec_type` × `req_type` combination, `add`,
//!       then `contract`: absent for `FULL_*`, otherwise present and an object, without duplicate
//!       or unknown members (a STOCK/INDEX contract takes only `symbol`, so option fields on it
//!       are unknown), `root` not given together with `symbol`, then `symbol` (or `root`),
//!       `expiration`, `strike`, `right` in that order.
//! 3. `event_ack`: duplicate members, `type` (must be `"event_ack"`), unknown members,
//!    `correlation_id`, `events_processed` (then each element), `timestamp`. These errors never
//!    carry a `req_id`: an ack has no `id`.
//!
//! # Messages
//!
//! Every message is `<path>: <what was expected>, got <what was found>` (or a fixed phrase such
//! as `required`, `duplicate field`, `must be absent for FULL_TRADES`, `not a calendar date: N`).
//! Paths are `id`, `req_type`, `contract.strike`, `events_processed[2]`, …; a key that is not a
//! plain name (`A-Z a-z 0-9 _`, at most 64 characters) appears as a quoted JSON string, so
//! a key cannot forge a path or smuggle control characters. Echoed strings are quoted, escaped
//! and cut after 64 characters (`"AAAA…"... (500 characters)`); arrays and objects are echoed
//! only by kind (`got an array`), so an error message stays small whatever the input.

mod ack;
mod json;
mod python_literal;
pub mod stream;

use std::fmt;

use crate::contract::{
    validate_expiration, validate_right, validate_strike, validate_symbol, ContractKey,
    ContractReason, ReqType, SecType,
};

pub use ack::{encode_ack, write_json_string, AckResponse};
use json::{key_segment, Json};
use python_literal::parse_python_literal;
pub use stream::{
    encode_stream_error, encode_stream_result, parse_stream_command, StreamCommandError,
    StreamErrorCode, StreamMethod, StreamRequest,
};

#[cfg(test)]
use crate::contract::{Right, Symbol};

/// Which command forms [`parse_command`] accepts (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// SPEC §3.1 plus the original terminal's documented forms.
    #[default]
    Terminal,
    /// SPEC §3.1 only (`serve --strict`).
    Strict,
}

/// How a strict server names itself in the message refusing a lenient form.
const STRICT_HINT: &str = "this server runs with --strict";
const STRICT_NOTE: &str = " (this server runs with --strict)";

/// The message for a frame that is only part of a JSON object.
const INCOMPLETE_OBJECT: &str = "incomplete object — send each command as one message";

/// One validated inbound frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `msg_type: STREAM`: subscribe (`add: true`) or unsubscribe one stream.
    Stream(StreamCommand),
    /// `msg_type: STOP`: end every subscription of the connection.
    Stop(StopCommand),
    /// Seed 004's lock-step acknowledgement of processed events (`--pace ack`).
    EventAck(EventAck),
}

impl Command {
    /// The id to echo as `req_id`; `None` for an `event_ack`, which has no id and gets no answer.
    pub fn req_id(&self) -> Option<u64> {
        match self {
            Command::Stream(c) => Some(c.id),
            Command::Stop(c) => c.id,
            Command::EventAck(_) => None,
        }
    }
}

/// A `STREAM` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamCommand {
    pub sec_type: SecType,
    pub req_type: ReqType,
    /// True subscribes, false unsubscribes.
    pub add: bool,
    /// The request id, `0 <= id < 2^63`.
    pub id: u64,
    /// The contract; `None` exactly for the `FULL_*` whole-market streams.
    pub contract: Option<ContractKey>,
}

/// A `STOP` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StopCommand {
    /// The request id, `0 <= id < 2^63`; `None` for the original terminal's `{"msg_type":
    /// "STOP"}` (terminal dialect only), answered with `req_id: null`.
    pub id: Option<u64>,
}

/// Seed 004's `{"type": "event_ack", "correlation_id": …, "events_processed": […],
/// "timestamp": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventAck {
    /// Opaque client-chosen id of this acknowledgement.
    pub correlation_id: String,
    /// The header `id`s of the events processed, each `0 <= n < 2^63`; may be empty.
    pub events_processed: Vec<u64>,
    /// Client time in milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// Why a frame is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    /// Path of the offending field (`json` for frames that are not a JSON object).
    pub path: String,
    /// The full message, starting with `path` and `": "`.
    pub message: String,
    /// The command's id when it could be read, else `None` (answered as `req_id: null`).
    pub req_id: Option<u64>,
}

impl EnvelopeError {
    fn new(path: impl Into<String>, detail: fmt::Arguments<'_>, req_id: Option<u64>) -> Self {
        let path = path.into();
        let message = format!("{path}: {detail}");
        EnvelopeError {
            path,
            message,
            req_id,
        }
    }

    /// Appends the `ERROR` acknowledgement of this error to `out`.
    pub fn encode_ack(&self, out: &mut Vec<u8>) {
        encode_ack(out, self.req_id, AckResponse::Error(&self.message));
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EnvelopeError {}

/// The `req_type`s a `sec_type` supports (SPEC §3.1), in wire order.
pub const fn supported_req_types(sec_type: SecType) -> &'static [ReqType] {
    sec_type.supported_req_types()
}

/// Validates one inbound frame; see the module docs for the order of checks and the messages.
pub fn parse_command(frame: &[u8], dialect: Dialect) -> Result<Command, EnvelopeError> {
    let root = parse_json(frame, dialect, STRICT_NOTE)?;
    let Json::Object(members) = root else {
        return Err(EnvelopeError::new(
            "json",
            format_args!("expected an object, got {}", root.describe()),
            None,
        ));
    };
    let members = Members(&members);
    if members.get("msg_type").is_none() && members.get("type").is_some() {
        parse_event_ack(members).map(Command::EventAck)
    } else {
        parse_stream_or_stop(members, dialect)
    }
}

/// Reads a frame as JSON, or in the terminal dialect as a Python literal. A strict reader
/// refuses a Python literal with a message naming the JSON form, followed by `strict_note`.
fn parse_json(frame: &[u8], dialect: Dialect, strict_note: &str) -> Result<Json, EnvelopeError> {
    let text = std::str::from_utf8(frame).map_err(|e| {
        EnvelopeError::new(
            "json",
            format_args!("invalid UTF-8 at byte {}", e.valid_up_to()),
            None,
        )
    })?;
    let json_error = match serde_json::from_slice(frame) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let offset = json_error_offset(frame, &json_error);
    let mut syntax = SyntaxError {
        what: serde_message(&json_error),
        offset,
        eof: json_error.classify() == serde_json::error::Category::Eof,
    };
    match (parse_python_literal(text), dialect) {
        (Ok(value), Dialect::Terminal) => return Ok(value),
        (Ok(_), Dialect::Strict) => {
            return Err(EnvelopeError::new(
                "json",
                format_args!(
                    "a Python literal, not JSON: write strings in double quotes and true, \
                     false, null{strict_note}"
                ),
                None,
            ))
        }
        (Err(literal), Dialect::Terminal) if literal.offset > syntax.offset => {
            syntax = SyntaxError {
                what: literal.what.to_owned(),
                offset: literal.offset,
                eof: literal.eof,
            };
        }
        (Err(_), _) => {}
    }
    let starts_object = text.trim_start().starts_with('{');
    if (syntax.eof && starts_object) || is_object_fragment(text) {
        return Err(EnvelopeError::new(
            "json",
            format_args!("{INCOMPLETE_OBJECT}"),
            None,
        ));
    }
    Err(EnvelopeError::new(
        "json",
        format_args!("{} at byte {}", syntax.what, syntax.offset),
        None,
    ))
}

/// A frame's syntax error, from whichever reader reported it.
struct SyntaxError {
    what: String,
    offset: usize,
    eof: bool,
}

/// `serde_json`'s message without its line/column suffix.
fn serde_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&position).unwrap_or(&full).to_owned()
}

/// Whether `text` starts like the inside or the end of an object rather than a whole value:
/// a closing `}`/`]`, or a string followed by `:` (a member, as in `"add": true,`).
fn is_object_fragment(text: &str) -> bool {
    let bytes = text.trim_start().as_bytes();
    match bytes.first() {
        Some(b'}' | b']') => true,
        Some(&quote @ (b'"' | b'\'')) => {
            let mut i = 1;
            while i < bytes.len() && bytes[i] != quote {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i < bytes.len() && text.trim_start()[i + 1..].trim_start().starts_with(':')
        }
        _ => false,
    }
}

/// The 0-based byte offset of a `serde_json` error. `serde_json` reports the 1-based line and the
/// column as "bytes since the line start, counting the offending byte", so the offending byte is
/// at `line_start + column - 1`; an input that ends early is reported at its length.
fn json_error_offset(frame: &[u8], e: &serde_json::Error) -> usize {
    if e.classify() == serde_json::error::Category::Eof || e.line() == 0 {
        return frame.len();
    }
    let line_start = if e.line() == 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', frame)
            .nth(e.line() - 2)
            .map_or(frame.len(), |newline| newline + 1)
    };
    (line_start + e.column()).saturating_sub(1).min(frame.len())
}

/// The members of one object, in document order.
#[derive(Clone, Copy)]
struct Members<'a>(&'a [(String, Json)]);

impl<'a> Members<'a> {
    fn get(self, name: &str) -> Option<&'a Json> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn count(self, name: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == name).count()
    }

    /// The first key, in document order, that already occurred earlier in the object.
    fn first_duplicate(self) -> Option<&'a str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(earlier, _)| earlier == k))
            .map(|(_, (k, _))| k.as_str())
    }

    /// The first key, in document order, that is not in `allowed`.
    fn first_unknown(self, allowed: &[&str]) -> Option<&'a str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !allowed.contains(k))
    }
}

/// Builds error values for one frame, stamping every error with the `req_id` once it is known.
struct Errors {
    req_id: Option<u64>,
    /// Path prefix for the object being checked (`""` or `"contract."`).
    prefix: &'static str,
}

impl Errors {
    fn at(&self, field: &str, detail: fmt::Arguments<'_>) -> EnvelopeError {
        EnvelopeError::new(format!("{}{field}", self.prefix), detail, self.req_id)
    }

    fn required(&self, field: &str) -> EnvelopeError {
        self.at(field, format_args!("required"))
    }

    /// Rejects repeated and unknown keys, in that order.
    fn check_keys(
        &self,
        members: Members<'_>,
        allowed: &[&str],
        expected: &str,
    ) -> Result<(), EnvelopeError> {
        if let Some(key) = members.first_duplicate() {
            return Err(self.at(&key_segment(key), format_args!("duplicate field")));
        }
        self.check_unknown(members, allowed, expected)
    }

    fn check_unknown(
        &self,
        members: Members<'_>,
        allowed: &[&str],
        expected: &str,
    ) -> Result<(), EnvelopeError> {
        match members.first_unknown(allowed) {
            Some(key) => Err(self.at(
                &key_segment(key),
                format_args!("unknown field (expected {expected})"),
            )),
            None => Ok(()),
        }
    }
}

const STREAM_FIELDS: [&str; 6] = ["msg_type", "sec_type", "req_type", "add", "id", "contract"];
const STOP_FIELDS: [&str; 2] = ["msg_type", "id"];
/// `STREAM_BULK` takes a `contract` only to say it must be absent.
const BULK_FIELDS: [&str; 6] = STREAM_FIELDS;
const OPTION_CONTRACT_FIELDS: [&str; 5] = ["symbol", "root", "expiration", "strike", "right"];
const SIMPLE_CONTRACT_FIELDS: [&str; 2] = ["symbol", "root"];
const EVENT_ACK_FIELDS: [&str; 4] = ["type", "correlation_id", "events_processed", "timestamp"];

/// `u64` ids must stay below 2^63 so they also fit an `i64` everywhere they travel.
const MAX_ID: u64 = i64::MAX as u64;

fn parse_stream_or_stop(members: Members<'_>, dialect: Dialect) -> Result<Command, EnvelopeError> {
    let mut errors = Errors {
        req_id: None,
        prefix: "",
    };
    if members.count("id") > 1 {
        return Err(errors.at("id", format_args!("duplicate field")));
    }
    let id = match members.get("id") {
        None if dialect == Dialect::Terminal && is_bare_stop(members) => {
            return Ok(Command::Stop(StopCommand { id: None }))
        }
        None => return Err(errors.required("id")),
        Some(Json::UInt(n)) if *n <= MAX_ID => *n,
        Some(other) => {
            return Err(errors.at(
                "id",
                format_args!(
                    "must be an integer 0 <= id < 2^63, got {}",
                    other.describe()
                ),
            ))
        }
    };
    errors.req_id = Some(id);
    if let Some(key) = members.first_duplicate() {
        return Err(errors.at(&key_segment(key), format_args!("duplicate field")));
    }
    let msg_type = members
        .get("msg_type")
        .ok_or_else(|| errors.required("msg_type"))?;
    match (msg_type, dialect) {
        (Json::Str(s), _) if s == "STREAM" => {
            errors.check_unknown(
                members,
                &STREAM_FIELDS,
                "msg_type, sec_type, req_type, add, id, contract",
            )?;
            parse_stream(members, id, StreamForm::Stream, dialect, &errors).map(Command::Stream)
        }
        (Json::Str(s), Dialect::Terminal) if s == "STREAM_BULK" => {
            errors.check_unknown(
                members,
                &BULK_FIELDS,
                "msg_type, sec_type, req_type, add, id",
            )?;
            parse_stream(members, id, StreamForm::Bulk, dialect, &errors).map(Command::Stream)
        }
        (Json::Str(s), Dialect::Strict) if s == "STREAM_BULK" => {
            let full = match members
                .get("req_type")
                .and_then(|v| enum_value(v, bulk_req_type))
            {
                Some(full) => full.as_str(),
                None => "FULL_TRADES or FULL_OPEN_INTEREST",
            };
            Err(errors.at(
                "msg_type",
                format_args!(
                    "STREAM_BULK is the original terminal's older form ({STRICT_HINT}): send \
                     \"msg_type\": \"STREAM\" with \"req_type\": \"{full}\""
                ),
            ))
        }
        (Json::Str(s), _) if s == "STOP" => {
            errors.check_unknown(members, &STOP_FIELDS, "msg_type, id")?;
            Ok(Command::Stop(StopCommand { id: Some(id) }))
        }
        // STREAM_BULK is an alias kept for old code, not advertised.
        (other, _) => Err(errors.at(
            "msg_type",
            format_args!("expected one of STREAM, STOP, got {}", other.describe()),
        )),
    }
}

/// The original terminal's `{"msg_type": "STOP"}`: nothing but the `msg_type`.
fn is_bare_stop(members: Members<'_>) -> bool {
    matches!(members.0, [(key, Json::Str(value))] if key == "msg_type" && value == "STOP")
}

/// How a `STREAM` command was spelled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamForm {
    /// `msg_type: STREAM` (SPEC §3.1).
    Stream,
    /// The original terminal's `msg_type: STREAM_BULK` with `req_type` `TRADE` or
    /// `OPEN_INTEREST`, meaning `FULL_TRADES` or `FULL_OPEN_INTEREST`.
    Bulk,
}

/// The whole-market stream a `STREAM_BULK` `req_type` names.
fn bulk_req_type(name: &str) -> Option<ReqType> {
    match name {
        "TRADE" => Some(ReqType::FullTrades),
        "OPEN_INTEREST" => Some(ReqType::FullOpenInterest),
        _ => None,
    }
}

fn parse_stream(
    members: Members<'_>,
    id: u64,
    form: StreamForm,
    dialect: Dialect,
    errors: &Errors,
) -> Result<StreamCommand, EnvelopeError> {
    let sec_type = match members.get("sec_type") {
        None => return Err(errors.required("sec_type")),
        Some(v) => enum_value(v, SecType::parse).ok_or_else(|| {
            errors.at(
                "sec_type",
                format_args!("expected one of STOCK, OPTION, INDEX, got {}", v.describe()),
            )
        })?,
    };
    let req_type = match (members.get("req_type"), form) {
        (None, _) => return Err(errors.required("req_type")),
        (Some(v), StreamForm::Stream) => enum_value(v, ReqType::parse).ok_or_else(|| {
            errors.at(
                "req_type",
                format_args!(
                    "expected one of {}, got {}",
                    join_req_types(&ReqType::ALL),
                    v.describe()
                ),
            )
        })?,
        (Some(v), StreamForm::Bulk) => enum_value(v, bulk_req_type).ok_or_else(|| {
            errors.at(
                "req_type",
                format_args!(
                    "STREAM_BULK takes TRADE or OPEN_INTEREST, got {}",
                    v.describe()
                ),
            )
        })?,
    };
    let supported = supported_req_types(sec_type);
    if !supported.contains(&req_type) {
        let bulk_name = match req_type {
            ReqType::FullOpenInterest => " (STREAM_BULK OPEN_INTEREST)",
            _ => " (STREAM_BULK TRADE)",
        };
        return Err(errors.at(
            "req_type",
            format_args!(
                "{}{} is not available for {} ({} supports {})",
                req_type.as_str(),
                if form == StreamForm::Bulk {
                    bulk_name
                } else {
                    ""
                },
                sec_type.as_str(),
                sec_type.as_str(),
                join_req_types(supported)
            ),
        ));
    }
    let add = match members.get("add") {
        None => return Err(errors.required("add")),
        Some(Json::Bool(b)) => *b,
        Some(other) => {
            return Err(errors.at(
                "add",
                format_args!("must be a boolean, got {}", other.describe()),
            ))
        }
    };
    let contract = match (members.get("contract"), req_type.is_full()) {
        (None, true) => None,
        (Some(_), true) => {
            let name = match form {
                StreamForm::Stream => req_type.as_str(),
                StreamForm::Bulk => "STREAM_BULK",
            };
            return Err(errors.at("contract", format_args!("must be absent for {name}")));
        }
        (None, false) => return Err(errors.required("contract")),
        (Some(Json::Object(fields)), false) => Some(parse_contract(
            Members(fields),
            sec_type,
            dialect,
            &Errors {
                req_id: errors.req_id,
                prefix: "contract.",
            },
        )?),
        (Some(other), false) => {
            return Err(errors.at(
                "contract",
                format_args!("must be an object, got {}", other.describe()),
            ))
        }
    };
    Ok(StreamCommand {
        sec_type,
        req_type,
        add,
        id,
        contract,
    })
}

fn parse_contract(
    fields: Members<'_>,
    sec_type: SecType,
    dialect: Dialect,
    errors: &Errors,
) -> Result<ContractKey, EnvelopeError> {
    if sec_type == SecType::Option {
        errors.check_keys(
            fields,
            &OPTION_CONTRACT_FIELDS,
            "symbol, expiration, strike, right",
        )?;
    } else {
        errors.check_keys(fields, &SIMPLE_CONTRACT_FIELDS, "symbol")?;
    }
    let (symbol_field, symbol_value) = match (fields.get("symbol"), fields.get("root")) {
        (Some(_), Some(_)) => {
            return Err(errors.at(
                "root",
                format_args!("not allowed together with symbol (root is an alias of symbol)"),
            ))
        }
        (Some(v), None) => ("symbol", v),
        (None, Some(v)) => ("root", v),
        (None, None) => return Err(errors.required("symbol")),
    };
    let domain = |field: &str, reason: ContractReason| errors.at(field, format_args!("{reason}"));
    let symbol = match symbol_value {
        Json::Str(s) => validate_symbol(s),
        other => Err(ContractReason::BadSymbol {
            got: other.describe(),
        }),
    }
    .map_err(|r| domain(symbol_field, r))?;
    if sec_type != SecType::Option {
        return Ok(ContractKey {
            sec_type,
            symbol,
            expiration: 0,
            strike: 0,
            right: None,
        });
    }
    // The JSON type checks are the envelope's; the domain rules are `contract`'s.
    let expiration = match fields.get("expiration") {
        None => Err(ContractReason::Required),
        Some(Json::UInt(n)) => validate_expiration(i128::from(*n)),
        Some(Json::NegInt(n)) => validate_expiration(i128::from(*n)),
        Some(Json::Str(s)) if dialect == Dialect::Terminal && decimal(s).is_some() => {
            validate_expiration(decimal(s).unwrap_or_default())
        }
        Some(other) => Err(ContractReason::ExpirationNotAnInteger {
            got: other.describe(),
        }),
    }
    .map_err(|r| domain("expiration", r))
    .map_err(|e| strict_digits_hint(e, fields.get("expiration"), dialect))?;
    let strike = match fields.get("strike") {
        None => Err(ContractReason::Required),
        Some(Json::UInt(n)) => validate_strike(i128::from(*n)),
        Some(Json::NegInt(n)) => validate_strike(i128::from(*n)),
        Some(Json::Str(s)) if dialect == Dialect::Terminal && decimal(s).is_some() => {
            validate_strike(decimal(s).unwrap_or_default())
        }
        Some(other) => Err(ContractReason::StrikeNotPositive {
            got: other.describe(),
        }),
    }
    .map_err(|r| domain("strike", r))
    .map_err(|e| strict_digits_hint(e, fields.get("strike"), dialect))?;
    let right = match fields.get("right") {
        None => Err(ContractReason::Required),
        Some(Json::Str(s)) => validate_right(s),
        Some(other) => Err(ContractReason::BadRight {
            got: other.describe(),
        }),
    }
    .map_err(|r| domain("right", r))?;
    Ok(ContractKey::option(symbol, expiration, strike, right))
}

/// The value of a string of 1–30 decimal digits (the original terminal's documentation sends
/// `expiration` and `strike` so); `None` for anything else, which keeps its strict message.
fn decimal(s: &str) -> Option<i128> {
    if s.is_empty() || s.len() > 30 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// On a strict server, says how to write a digit string that the terminal dialect would read.
fn strict_digits_hint(
    mut error: EnvelopeError,
    value: Option<&Json>,
    dialect: Dialect,
) -> EnvelopeError {
    if let (Dialect::Strict, Some(Json::Str(s))) = (dialect, value) {
        if decimal(s).is_some() {
            error.message = format!("{} ({STRICT_HINT}: send {s} without quotes)", error.message);
        }
    }
    error
}

fn parse_event_ack(members: Members<'_>) -> Result<EventAck, EnvelopeError> {
    let errors = Errors {
        req_id: None,
        prefix: "",
    };
    if let Some(key) = members.first_duplicate() {
        return Err(errors.at(&key_segment(key), format_args!("duplicate field")));
    }
    match members.get("type") {
        Some(Json::Str(s)) if s == "event_ack" => {}
        Some(other) => {
            return Err(errors.at(
                "type",
                format_args!("expected \"event_ack\", got {}", other.describe()),
            ))
        }
        None => return Err(errors.required("type")),
    }
    errors.check_unknown(
        members,
        &EVENT_ACK_FIELDS,
        "type, correlation_id, events_processed, timestamp",
    )?;
    let correlation_id = match members.get("correlation_id") {
        None => return Err(errors.required("correlation_id")),
        Some(Json::Str(s)) => s.clone(),
        Some(other) => {
            return Err(errors.at(
                "correlation_id",
                format_args!("must be a string, got {}", other.describe()),
            ))
        }
    };
    let events_processed = match members.get("events_processed") {
        None => return Err(errors.required("events_processed")),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::UInt(n) if *n <= MAX_ID => Ok(*n),
                other => Err(errors.at(
                    &format!("events_processed[{i}]"),
                    format_args!("must be an integer 0 <= n < 2^63, got {}", other.describe()),
                )),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        Some(other) => {
            return Err(errors.at(
                "events_processed",
                format_args!("must be an array of event ids, got {}", other.describe()),
            ))
        }
    };
    let timestamp = match members.get("timestamp") {
        None => return Err(errors.required("timestamp")),
        Some(Json::UInt(n)) if *n <= MAX_ID => *n as i64,
        Some(Json::NegInt(n)) => *n,
        Some(other) => {
            return Err(errors.at(
                "timestamp",
                format_args!(
                    "must be an integer (milliseconds since the epoch), got {}",
                    other.describe()
                ),
            ))
        }
    };
    Ok(EventAck {
        correlation_id,
        events_processed,
        timestamp,
    })
}

/// Parses a wire-name string with `parse`; `None` for non-strings and unknown names.
fn enum_value<T>(value: &Json, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    match value {
        Json::Str(s) => parse(s),
        _ => None,
    }
}

fn join_req_types(req_types: &[ReqType]) -> String {
    req_types
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod terminal_tests;
