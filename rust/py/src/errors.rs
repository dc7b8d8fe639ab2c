//! The one place where core error values become Python exceptions.
//!
//! The exception classes are plain Python classes defined in `fastfeed/errors.py` (so they can
//! inherit from both `FastfeedError` and `ValueError` and carry typed attributes); this module
//! imports them and builds instances. Every wrapper returns `PyResult` and maps core errors
//! through the functions below, so no core error escapes any other way.

#![allow(dead_code)]

use pyo3::prelude::*;

pyo3::import_exception!(fastfeed.errors, FastfeedError);
pyo3::import_exception!(fastfeed.errors, ProtocolError);
pyo3::import_exception!(fastfeed.errors, HandshakeError);
pyo3::import_exception!(fastfeed.errors, EnvelopeError);
pyo3::import_exception!(fastfeed.errors, EventDecodeError);
pyo3::import_exception!(fastfeed.errors, EventEncodeError);
pyo3::import_exception!(fastfeed.errors, JsonStreamError);
pyo3::import_exception!(fastfeed.errors, BarsError);
pyo3::import_exception!(fastfeed.errors, ConfigError);
pyo3::import_exception!(fastfeed.errors, SubscribeError);
pyo3::import_exception!(fastfeed.errors, ContractError);
pyo3::import_exception!(fastfeed.errors, StreamNameError);
pyo3::import_exception!(fastfeed.errors, StreamCommandError);
pyo3::import_exception!(fastfeed.errors, ReplayError);
pyo3::import_exception!(fastfeed.errors, RedisError);

/// A WebSocket protocol violation: `close_code` is the code to close the connection with.
pub fn protocol_error(message: impl Into<String>, close_code: u16) -> PyErr {
    ProtocolError::new_err((message.into(), close_code))
}

/// [`protocol_error`] raised by a decoder that had already decoded `messages` from the same
/// input: they travel on the error (`ProtocolError.messages`), so nothing received before the
/// first bad byte is lost.
pub fn protocol_error_after(
    message: impl Into<String>,
    close_code: u16,
    messages: Py<PyAny>,
) -> PyErr {
    ProtocolError::new_err((message.into(), close_code, messages))
}

/// A failed opening handshake.
pub fn handshake_error(message: impl Into<String>) -> PyErr {
    HandshakeError::new_err(message.into())
}

/// An opening handshake a server refuses: the HTTP `status` and `headers` to answer with.
pub fn handshake_refusal(
    reason: impl Into<String>,
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
) -> PyErr {
    HandshakeError::new_err((reason.into(), status, headers))
}

/// An invalid command; `message` starts with the offending field path; `req_id` is the
/// command's id when it could be read.
pub fn envelope_error(
    message: impl Into<String>,
    path: impl Into<String>,
    req_id: Option<u64>,
) -> PyErr {
    EnvelopeError::new_err((message.into(), path.into(), req_id))
}

/// An event frame that is not a valid SPEC §3.3 event.
pub fn event_decode_error(message: impl Into<String>) -> PyErr {
    EventDecodeError::new_err(message.into())
}

/// Bad bytes or an oversized object in a JSON stream; `objects` holds the complete objects that
/// the same call did find, so nothing valid is lost.
pub fn json_stream_error(message: impl Into<String>, objects: Py<PyAny>) -> PyErr {
    JsonStreamError::new_err((message.into(), objects))
}

/// Bad arguments to the bar aggregator.
pub fn bars_error(message: impl Into<String>) -> PyErr {
    BarsError::new_err(message.into())
}

/// Event fields that cannot be encoded (non-finite price, out-of-range integer, bad contract).
pub fn event_encode_error(message: impl Into<String>) -> PyErr {
    EventEncodeError::new_err(message.into())
}

/// An invalid setting (e.g. a synthetic market specification).
pub fn config_error(message: impl Into<String>) -> PyErr {
    ConfigError::new_err(message.into())
}

/// A subscription the hub refused: `reason` is `too_many_streams` or `not_in_universe`;
/// `index` is the position of the refused stream in the command.
pub fn subscribe_error(error: &fastfeed_core::hub::SubscribeError) -> PyErr {
    use fastfeed_core::hub::SubscribeError as E;
    let message = error.to_string();
    match error {
        E::TooManyStreams { .. } => {
            SubscribeError::new_err((message, "too_many_streams", None::<usize>))
        }
        E::NotInUniverse { index, .. } => {
            SubscribeError::new_err((message, "not_in_universe", Some(*index)))
        }
        E::UnknownSubscriber(_) => config_error(message),
    }
}

/// A fan-out call on a subscriber that does not exist (a bug of the caller).
pub fn fanout_error(error: fastfeed_core::hub::FanoutError) -> PyErr {
    use fastfeed_core::hub::FanoutError as E;
    match error {
        E::TooManyStreams { .. } => {
            subscribe_error(&fastfeed_core::hub::SubscribeError::from(error))
        }
        E::UnknownSubscriber(_) => config_error(error.to_string()),
    }
}

/// A contract that breaks a rule of SPEC §3.1 (`contract.<field>: <reason>`).
pub fn contract_error(message: impl Into<String>) -> PyErr {
    ContractError::new_err(message.into())
}

/// A string that is not a valid SPEC §4 stream name (or fields that make none).
pub fn stream_name_error(message: impl Into<String>) -> PyErr {
    StreamNameError::new_err(message.into())
}

/// An invalid `/v1/stream` command: `code` is its wire error code, `id` the command's id when
/// it could be read.
pub fn stream_command_error(message: impl Into<String>, code: &str, id: Option<u64>) -> PyErr {
    StreamCommandError::new_err((message.into(), code.to_owned(), id))
}

/// A replay that cannot start (pre-scan) or go on (a bad line under "stop", a read error):
/// the core error's one-line message.
pub fn replay_error(error: &fastfeed_core::replay::ReplayError) -> PyErr {
    ReplayError::new_err(error.to_string())
}
