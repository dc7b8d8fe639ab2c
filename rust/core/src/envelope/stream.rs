//! `/v1/stream` commands and replies (SPEC §4).
//!
//! [`parse_stream_command`] turns one inbound text frame into a typed [`StreamRequest`] or a
//! [`StreamCommandError`]; [`encode_stream_result`] and [`encode_stream_error`] write the
//! replies, compact, straight into an output buffer:
//!
//! ```text
//! {"result":null,"id":1}
//! {"result":["stock.AAPL@trade","option@full_trades"],"id":3}
//! {"error":{"code":"INVALID_PARAM","msg":"params[1]: contract.expiration: not a calendar date: 20250230"},"id":1}
//! {"error":{"code":"INVALID_JSON","msg":"json: expected value at byte 0"},"id":null}
//! ```
//!
//! # Commands
//!
//! ```text
//! {"method": "SUBSCRIBE",   "params": ["stock.AAPL@trade", …], "id": 1}
//! {"method": "UNSUBSCRIBE", "params": ["stock.AAPL@trade", …], "id": 2}
//! {"method": "LIST_SUBSCRIPTIONS", "id": 3}
//! ```
//!
//! # Order of checks
//!
//! A frame with several problems always reports the first of this list:
//!
//! 1. `INVALID_JSON`, `"id": null`: the frame is UTF-8, JSON (`json: … at byte N`, the same
//!    exact offsets as `/v1/events`) and an object.
//! 2. `INVALID_JSON`, `"id": null`: `id` is not repeated, present, and an integer
//!    `0 <= id < 2^63` (`id: required`, `id: must be an integer 0 <= id < 2^63, got "7"`). An
//!    answer that cannot name its command is answered like a frame that is not JSON. From here
//!    on every error carries the id.
//! 3. duplicate members, first in document order (`<key>: duplicate field`): `INVALID_METHOD`
//!    for `method`, `INVALID_PARAM` for any other key.
//! 4. `INVALID_METHOD`: `method` present (`method: required`) and one of `SUBSCRIBE`,
//!    `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS` (`method: expected one of …, got "SUB"`).
//! 5. `INVALID_PARAM`: unknown members, first in document order (`<key>: unknown field
//!    (expected method, params, id)`).
//! 6. `INVALID_PARAM`: `params`. `SUBSCRIBE`/`UNSUBSCRIBE`: present (`params: required`), a
//!    non-empty array (`params: must be a non-empty array of stream names, got …`), then each
//!    element in order a string (`params[2]: must be a stream name string, got 5`) that is a valid
//!    §4 name (`params[1]: <the stream-name error>`, see [`crate::stream_name`]).
//!    `LIST_SUBSCRIPTIONS`: `params` absent or `[]` (`params: must be absent or empty for
//!    LIST_SUBSCRIPTIONS, got …`).
//!
//! A name given twice in one command counts once, at its first position. `TOO_MANY_STREAMS`
//! is not a parse error: the hub answers it when a `SUBSCRIBE` would take a connection past
//! `--max-subscriptions` (the command is then not applied at all).
//!
//! Keys in paths and echoed values are bounded and escaped as in `/v1/events`.

use std::fmt;

use super::json::{key_segment, Json};
use super::{parse_json, Dialect, Members, MAX_ID};
use crate::contract::StreamKey;
use crate::echo::write_escaped;
use crate::stream_name::parse_stream_name;

/// The `code` of a `/v1/stream` error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamErrorCode {
    /// Not UTF-8, not JSON, not an object, or no valid `id` (answered with `"id": null`).
    InvalidJson,
    /// `method` missing, repeated or unknown.
    InvalidMethod,
    /// Anything else about the command: unknown or repeated fields, `params`, stream names.
    InvalidParam,
    /// A `SUBSCRIBE` would exceed `--max-subscriptions` for the connection (raised by the hub).
    TooManyStreams,
}

impl StreamErrorCode {
    /// All variants, in wire order.
    pub const ALL: [StreamErrorCode; 4] = [
        StreamErrorCode::InvalidJson,
        StreamErrorCode::InvalidMethod,
        StreamErrorCode::InvalidParam,
        StreamErrorCode::TooManyStreams,
    ];

    /// The wire name (`INVALID_JSON`, `INVALID_METHOD`, `INVALID_PARAM`, `TOO_MANY_STREAMS`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamErrorCode::InvalidJson => "INVALID_JSON",
            StreamErrorCode::InvalidMethod => "INVALID_METHOD",
            StreamErrorCode::InvalidParam => "INVALID_PARAM",
            StreamErrorCode::TooManyStreams => "TOO_MANY_STREAMS",
        }
    }

    /// Parses the wire name; `None` for anything else (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a valid `/v1/stream` command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamMethod {
    /// Add the streams (in this order, duplicates collapsed).
    Subscribe(Vec<StreamKey>),
    /// Remove the streams (duplicates collapsed); a stream not subscribed is fine.
    Unsubscribe(Vec<StreamKey>),
    /// Answer the connection's streams in subscription order.
    ListSubscriptions,
}

impl StreamMethod {
    /// The wire name (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            StreamMethod::Subscribe(_) => "SUBSCRIBE",
            StreamMethod::Unsubscribe(_) => "UNSUBSCRIBE",
            StreamMethod::ListSubscriptions => "LIST_SUBSCRIPTIONS",
        }
    }
}

/// One validated `/v1/stream` command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamRequest {
    /// The request id, `0 <= id < 2^63`, echoed in the reply.
    pub id: u64,
    pub method: StreamMethod,
}

impl StreamRequest {
    /// The streams of a `SUBSCRIBE`/`UNSUBSCRIBE`, in command order without duplicates; empty
    /// for `LIST_SUBSCRIPTIONS`.
    pub fn streams(&self) -> &[StreamKey] {
        match &self.method {
            StreamMethod::Subscribe(keys) | StreamMethod::Unsubscribe(keys) => keys,
            StreamMethod::ListSubscriptions => &[],
        }
    }
}

/// Why a `/v1/stream` command is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCommandError {
    pub code: StreamErrorCode,
    /// One line starting with the offending field's path (`params[1]: …`).
    pub message: String,
    /// The command's id once it could be read, else `None` (answered as `"id": null`).
    pub id: Option<u64>,
}

impl StreamCommandError {
    /// An error the hub raises itself (e.g. [`StreamErrorCode::TooManyStreams`]).
    pub fn new(code: StreamErrorCode, message: impl Into<String>, id: Option<u64>) -> Self {
        StreamCommandError {
            code,
            message: message.into(),
            id,
        }
    }

    /// Appends this error's reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_stream_error(out, self.id, self.code, &self.message);
    }
}

impl fmt::Display for StreamCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StreamCommandError {}

const FIELDS: [&str; 3] = ["method", "params", "id"];

/// Validates one `/v1/stream` frame; see the module docs for the order of checks.
pub fn parse_stream_command(frame: &[u8]) -> Result<StreamRequest, StreamCommandError> {
    use StreamErrorCode::{InvalidJson, InvalidMethod, InvalidParam};
    let err = |code, id, path: &str, detail: fmt::Arguments<'_>| StreamCommandError {
        code,
        message: format!("{path}: {detail}"),
        id,
    };
    let root = parse_json(frame, Dialect::Strict, "")
        .map_err(|e| StreamCommandError::new(InvalidJson, e.message, None))?;
    let Json::Object(members) = root else {
        return Err(err(
            InvalidJson,
            None,
            "json",
            format_args!("expected an object, got {}", root.describe()),
        ));
    };
    let members = Members(&members);
    if members.count("id") > 1 {
        return Err(err(
            InvalidJson,
            None,
            "id",
            format_args!("duplicate field"),
        ));
    }
    let req_id = match members.get("id") {
        None => return Err(err(InvalidJson, None, "id", format_args!("required"))),
        Some(Json::UInt(n)) if *n <= MAX_ID => *n,
        Some(other) => {
            return Err(err(
                InvalidJson,
                None,
                "id",
                format_args!(
                    "must be an integer 0 <= id < 2^63, got {}",
                    other.describe()
                ),
            ))
        }
    };
    let id = Some(req_id);
    if let Some(key) = members.first_duplicate() {
        let code = if key == "method" {
            InvalidMethod
        } else {
            InvalidParam
        };
        return Err(err(
            code,
            id,
            &key_segment(key),
            format_args!("duplicate field"),
        ));
    }
    let method = match members.get("method") {
        None => return Err(err(InvalidMethod, id, "method", format_args!("required"))),
        Some(Json::Str(s)) if s == "SUBSCRIBE" || s == "UNSUBSCRIBE" => s.as_str(),
        Some(Json::Str(s)) if s == "LIST_SUBSCRIPTIONS" => s.as_str(),
        Some(other) => {
            return Err(err(
                InvalidMethod,
                id,
                "method",
                format_args!(
                    "expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, got {}",
                    other.describe()
                ),
            ))
        }
    };
    if let Some(key) = members.first_unknown(&FIELDS) {
        return Err(err(
            InvalidParam,
            id,
            &key_segment(key),
            format_args!("unknown field (expected method, params, id)"),
        ));
    }
    let params = members.get("params");
    let method = if method == "LIST_SUBSCRIPTIONS" {
        match params {
            None => {}
            Some(Json::Array(items)) if items.is_empty() => {}
            Some(other) => {
                return Err(err(
                    InvalidParam,
                    id,
                    "params",
                    format_args!(
                        "must be absent or empty for LIST_SUBSCRIPTIONS, got {}",
                        describe_params(other)
                    ),
                ))
            }
        }
        StreamMethod::ListSubscriptions
    } else {
        let items = match params {
            None => return Err(err(InvalidParam, id, "params", format_args!("required"))),
            Some(Json::Array(items)) if !items.is_empty() => items,
            Some(other) => {
                return Err(err(
                    InvalidParam,
                    id,
                    "params",
                    format_args!(
                        "must be a non-empty array of stream names, got {}",
                        describe_params(other)
                    ),
                ))
            }
        };
        let mut keys: Vec<StreamKey> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = match item {
                Json::Str(name) => parse_stream_name(name).map_err(|e| {
                    err(
                        InvalidParam,
                        id,
                        &format!("params[{i}]"),
                        format_args!("{e}"),
                    )
                })?,
                other => {
                    return Err(err(
                        InvalidParam,
                        id,
                        &format!("params[{i}]"),
                        format_args!("must be a stream name string, got {}", other.describe()),
                    ))
                }
            };
            // Commands are small (4 KiB frames), so a linear scan beats hashing here.
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if method == "SUBSCRIBE" {
            StreamMethod::Subscribe(keys)
        } else {
            StreamMethod::Unsubscribe(keys)
        }
    };
    Ok(StreamRequest { id: req_id, method })
}

fn describe_params(value: &Json) -> String {
    match value {
        Json::Array(items) if items.is_empty() => "an empty array".to_owned(),
        Json::Array(items) if items.len() == 1 => "an array of 1 element".to_owned(),
        Json::Array(items) => format!("an array of {} elements", items.len()),
        other => other.describe(),
    }
}

/// Appends a success reply: `{"result":null,"id":N}`, or with `streams` (the answer to
/// `LIST_SUBSCRIPTIONS`) `{"result":["stock.AAPL@trade",…],"id":N}`.
pub fn encode_stream_result(out: &mut Vec<u8>, id: u64, streams: Option<&[StreamKey]>) {
    out.extend_from_slice(br#"{"result":"#);
    match streams {
        None => out.extend_from_slice(b"null"),
        Some(keys) => {
            out.push(b'[');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Stream names are ASCII letters, digits and `. / ^ - @ _`: nothing to escape.
                out.push(b'"');
                key.write_name(out);
                out.push(b'"');
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    out.push(b'}');
}

/// Appends an error reply: `{"error":{"code":"INVALID_PARAM","msg":"…"},"id":N}` (`"id":null`
/// when `id` is `None`).
pub fn encode_stream_error(out: &mut Vec<u8>, id: Option<u64>, code: StreamErrorCode, msg: &str) {
    out.extend_from_slice(br#"{"error":{"code":""#);
    out.extend_from_slice(code.as_str().as_bytes());
    out.extend_from_slice(br#"","msg":""#);
    write_escaped(out, msg);
    out.extend_from_slice(br#""},"id":"#);
    match id {
        Some(id) => out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests;
