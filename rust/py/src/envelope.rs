//! Binding of `fastfeed_core::envelope` and `fastfeed_core::stream_name`: `/v1/events`
//! commands (`parse_command`, `encode_ack`), `/v1/stream` commands (`parse_stream_command`,
//! `encode_stream_result`, `encode_stream_error`), SPEC §4 stream names (`parse_stream_name`,
//! `stream_name`) and the contract validator (`check_contract`).
//!
//! Commands are small frozen, hashable value classes whose attributes are plain Python values
//! (wire names as `str`, ids as `int`), so server code can compare and log them directly.

use fastfeed_core::contract::{
    ContractError, ContractField, ContractKey, ContractReason, ReqType, Right, SecType, StreamKey,
};
use fastfeed_core::envelope::{
    self, AckResponse, Command, Dialect, StreamErrorCode, StreamRequest,
};
use fastfeed_core::stream_name::{self as names, StreamNameError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use crate::errors::{contract_error, envelope_error, stream_command_error, stream_name_error};

/// A validated `STREAM` command. The contract is flattened: `symbol` is `None` exactly for the
/// `FULL_*` streams, and `expiration`/`strike`/`right` are set only for options.
#[pyclass(name = "StreamCommand", module = "fastfeed._core", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyStreamCommand(envelope::StreamCommand);

impl PyStreamCommand {
    /// The validated command.
    pub(crate) fn command(&self) -> &envelope::StreamCommand {
        &self.0
    }
}

#[pymethods]
impl PyStreamCommand {
    #[getter]
    fn sec_type(&self) -> &'static str {
        self.0.sec_type.as_str()
    }

    #[getter]
    fn req_type(&self) -> &'static str {
        self.0.req_type.as_str()
    }

    #[getter]
    fn add(&self) -> bool {
        self.0.add
    }

    #[getter]
    fn id(&self) -> u64 {
        self.0.id
    }

    #[getter]
    fn symbol(&self) -> Option<&str> {
        self.0.contract.as_ref().map(|c| c.symbol.as_str())
    }

    #[getter]
    fn expiration(&self) -> Option<u32> {
        self.option_field(|c| c.expiration)
    }

    #[getter]
    fn strike(&self) -> Option<u32> {
        self.option_field(|c| c.strike)
    }

    #[getter]
    fn right(&self) -> Option<&'static str> {
        self.0.contract.and_then(|c| c.right).map(Right::as_str)
    }

    /// `AAPL` or `SPY:20250321:570000:C` (the SPEC §7 channel key); `None` for `FULL_*`.
    #[getter]
    fn contract_key(&self) -> Option<String> {
        self.0.contract.map(|c| c.channel_key())
    }

    fn __repr__(&self) -> String {
        let c = &self.0;
        let contract = match c.contract {
            None => String::new(),
            Some(k) => format!(", contract_key='{}'", k.channel_key()),
        };
        format!(
            "StreamCommand(sec_type='{}', req_type='{}', add={}, id={}{contract})",
            c.sec_type.as_str(),
            c.req_type.as_str(),
            if c.add { "True" } else { "False" },
            c.id,
        )
    }
}

impl PyStreamCommand {
    fn option_field(&self, field: impl Fn(&ContractKey) -> u32) -> Option<u32> {
        self.0
            .contract
            .as_ref()
            .filter(|c| c.right.is_some())
            .map(field)
    }
}

/// A validated `STOP` command: end every subscription of the connection.
#[pyclass(name = "StopCommand", module = "fastfeed._core", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyStopCommand(envelope::StopCommand);

#[pymethods]
impl PyStopCommand {
    /// The request id; `None` for the original terminal's `{"msg_type": "STOP"}`.
    #[getter]
    fn id(&self) -> Option<u64> {
        self.0.id
    }

    fn __repr__(&self) -> String {
        match self.0.id {
            Some(id) => format!("StopCommand(id={id})"),
            None => "StopCommand(id=None)".to_owned(),
        }
    }
}

/// A validated seed-004 `event_ack`.
#[pyclass(name = "EventAck", module = "fastfeed._core", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyEventAck(envelope::EventAck);

#[pymethods]
impl PyEventAck {
    #[getter]
    fn correlation_id(&self) -> &str {
        &self.0.correlation_id
    }

    /// The acknowledged event ids, as a tuple.
    #[getter]
    fn events_processed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        pyo3::types::PyTuple::new(py, &self.0.events_processed)
    }

    #[getter]
    fn timestamp(&self) -> i64 {
        self.0.timestamp
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let correlation_id = PyString::new(py, &self.0.correlation_id).repr()?;
        let ids = &self.0.events_processed;
        let joined = ids
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let trailing_comma = if ids.len() == 1 { "," } else { "" };
        Ok(format!(
            "EventAck(correlation_id={correlation_id}, events_processed=({joined}{trailing_comma}), timestamp={})",
            self.0.timestamp
        ))
    }
}

/// Validates one command frame (`bytes`, or `str` which is taken as its UTF-8 encoding).
/// `strict=True` refuses the original terminal's documented lenient forms (`serve --strict`).
/// Raises `fastfeed.EnvelopeError` with the message, field path and `req_id`.
#[pyfunction]
#[pyo3(signature = (frame, *, strict = false))]
fn parse_command(py: Python<'_>, frame: &Bound<'_, PyAny>, strict: bool) -> PyResult<Py<PyAny>> {
    let Some(bytes) = frame_bytes(frame, "parse_command")? else {
        return Err(envelope_error(
            "json: invalid UTF-8 (lone surrogate in str)",
            "json",
            None,
        ));
    };
    let dialect = if strict {
        Dialect::Strict
    } else {
        Dialect::Terminal
    };
    let parsed = envelope::parse_command(bytes, dialect);
    match parsed {
        Ok(Command::Stream(c)) => Ok(Py::new(py, PyStreamCommand(c))?.into_any()),
        Ok(Command::Stop(c)) => Ok(Py::new(py, PyStopCommand(c))?.into_any()),
        Ok(Command::EventAck(a)) => Ok(Py::new(py, PyEventAck(a))?.into_any()),
        Err(e) => Err(envelope_error(e.message, e.path, e.req_id)),
    }
}

/// Encodes a SPEC §3.2 acknowledgement. `message` is required for `ERROR` and refused otherwise.
#[pyfunction]
#[pyo3(signature = (req_id, response, message = None))]
fn encode_ack<'py>(
    py: Python<'py>,
    req_id: Option<u64>,
    response: &str,
    message: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let response = match (response, message) {
        ("OK", None) => AckResponse::Ok,
        ("MAX_STREAMS_REACHED", None) => AckResponse::MaxStreamsReached,
        ("ERROR", Some(message)) => AckResponse::Error(message),
        ("ERROR", None) => {
            return Err(PyValueError::new_err(
                "encode_ack(): response ERROR requires a message",
            ))
        }
        ("OK" | "MAX_STREAMS_REACHED", Some(_)) => {
            return Err(PyValueError::new_err(format!(
                "encode_ack(): only ERROR carries a message, got response {response:?}"
            )))
        }
        (other, _) => {
            return Err(PyValueError::new_err(format!(
            "encode_ack(): response must be one of OK, ERROR, MAX_STREAMS_REACHED, got {other:?}"
        )))
        }
    };
    let mut out = Vec::with_capacity(128);
    envelope::encode_ack(&mut out, req_id, response);
    Ok(PyBytes::new(py, &out))
}

/// The bytes of a frame given as `bytes`, or as `str` (taken as its UTF-8 encoding); `None`
/// for a `str` holding lone surrogates, which has no UTF-8 encoding.
fn frame_bytes<'a>(frame: &'a Bound<'_, PyAny>, function: &str) -> PyResult<Option<&'a [u8]>> {
    if let Ok(bytes) = frame.cast::<PyBytes>() {
        Ok(Some(bytes.as_bytes()))
    } else if let Ok(text) = frame.cast::<PyString>() {
        Ok(text.to_str().ok().map(str::as_bytes))
    } else {
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{function}() expects bytes or str, got {}",
            frame.get_type().name()?
        )))
    }
}

// --- SPEC §4 stream names and the contract validator ------------------------------------------

/// A valid SPEC §4 stream, e.g. `stock.AAPL@trade`: `sec_type`/`req_type` as wire names
/// (`STOCK`, `TRADE`), the contract flattened (`symbol` is `None` exactly for the whole-market
/// streams; `expiration`/`strike`/`right` only for options).
#[pyclass(name = "StreamSpec", module = "fastfeed._core", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyStreamSpec(pub StreamKey);

impl PyStreamSpec {
    /// The validated stream.
    pub fn key(&self) -> &StreamKey {
        &self.0
    }
}

#[pymethods]
impl PyStreamSpec {
    /// The canonical SPEC §4 name.
    #[getter]
    fn name(&self) -> String {
        self.0.name()
    }

    #[getter]
    fn sec_type(&self) -> &'static str {
        self.0.sec_type.as_str()
    }

    #[getter]
    fn req_type(&self) -> &'static str {
        self.0.req_type.as_str()
    }

    #[getter]
    fn symbol(&self) -> Option<&str> {
        self.0.contract.as_ref().map(|c| c.symbol.as_str())
    }

    #[getter]
    fn expiration(&self) -> Option<u32> {
        self.option_contract().map(|c| c.expiration)
    }

    #[getter]
    fn strike(&self) -> Option<u32> {
        self.option_contract().map(|c| c.strike)
    }

    #[getter]
    fn right(&self) -> Option<&'static str> {
        self.0.contract.and_then(|c| c.right).map(Right::as_str)
    }

    fn __str__(&self) -> String {
        self.0.name()
    }

    fn __repr__(&self) -> String {
        format!("StreamSpec('{}')", self.0.name())
    }
}

impl PyStreamSpec {
    fn option_contract(&self) -> Option<&ContractKey> {
        self.0.contract.as_ref().filter(|c| c.right.is_some())
    }
}

/// Parses a SPEC §4 stream name; raises `fastfeed.StreamNameError` with a one-line reason.
/// With `typed`, the name is as a person typed it on a command line: its contract in any case.
#[pyfunction]
#[pyo3(signature = (name, *, typed = false))]
fn parse_stream_name(name: &str, typed: bool) -> PyResult<PyStreamSpec> {
    let parsed = if typed {
        names::parse_typed_stream_name(name)
    } else {
        names::parse_stream_name(name)
    };
    parsed
        .map(PyStreamSpec)
        .map_err(|e| stream_name_error(e.to_string()))
}

/// A contract as typed on a command line (`aapl`, `spy:20250321:570000:c`) in the wire's case.
#[pyfunction]
fn typed_contract(text: &str) -> String {
    fastfeed_core::contract::typed_contract(text)
}

/// The SPEC §4 name of a stream given by its fields, validated like `parse_stream_name`.
#[pyfunction]
#[pyo3(signature = (sec_type, req_type, symbol = None, expiration = None, strike = None, right = None))]
fn stream_name(
    sec_type: &str,
    req_type: &str,
    symbol: Option<&str>,
    expiration: Option<&Bound<'_, PyAny>>,
    strike: Option<&Bound<'_, PyAny>>,
    right: Option<&str>,
) -> PyResult<String> {
    let sec = parse_sec_type(sec_type).map_err(stream_name_error)?;
    let req = ReqType::parse(req_type).ok_or_else(|| {
        stream_name_error(format!(
            "req_type: expected one of {}, got {req_type:?}",
            ReqType::ALL.map(ReqType::as_str).join(", ")
        ))
    })?;
    let expiration = int_arg(expiration, ContractField::Expiration)
        .map_err(|e| stream_name_error(StreamNameError::from(e).to_string()))?;
    let strike = int_arg(strike, ContractField::Strike)
        .map_err(|e| stream_name_error(StreamNameError::from(e).to_string()))?;
    names::stream_key(sec, req, symbol, expiration, strike, right)
        .map(|k| k.name())
        .map_err(|e| stream_name_error(e.to_string()))
}

/// Checks a contract against the rules of SPEC §3.1 (the validator the server uses); raises
/// `fastfeed.ContractError` (a `ValueError`) with `contract.<field>: <reason>`.
#[pyfunction]
#[pyo3(signature = (sec_type, symbol, expiration = None, strike = None, right = None))]
fn check_contract(
    sec_type: &str,
    symbol: &str,
    expiration: Option<&Bound<'_, PyAny>>,
    strike: Option<&Bound<'_, PyAny>>,
    right: Option<&str>,
) -> PyResult<()> {
    let sec = parse_sec_type(sec_type).map_err(contract_error)?;
    let checked = int_arg(expiration, ContractField::Expiration)
        .and_then(|exp| Ok((exp, int_arg(strike, ContractField::Strike)?)))
        .and_then(|(exp, strike)| ContractKey::validate(sec, symbol, exp, strike, right));
    checked
        .map(|_| ())
        .map_err(|e| contract_error(e.to_string()))
}

fn parse_sec_type(sec_type: &str) -> Result<SecType, String> {
    SecType::parse(sec_type)
        .ok_or_else(|| format!("sec_type: expected one of STOCK, OPTION, INDEX, got {sec_type:?}"))
}

/// An integer argument (`None` when absent); a bool or a non-integer is the field's error.
fn int_arg(
    value: Option<&Bound<'_, PyAny>>,
    field: ContractField,
) -> Result<Option<i128>, ContractError> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if !value.is_instance_of::<PyBool>() {
        if let Ok(n) = value.extract::<i128>() {
            return Ok(Some(n));
        }
    }
    let mut got = value
        .repr()
        .map_or_else(|_| "?".to_owned(), |r| r.to_string());
    if let Some((cut, _)) = got.char_indices().nth(64) {
        got.truncate(cut);
        got.push_str("...");
    }
    let reason = match field {
        ContractField::Expiration => ContractReason::ExpirationNotAnInteger { got },
        _ => ContractReason::StrikeNotPositive { got },
    };
    Err(ContractError::new(field, reason))
}

// --- /v1/stream commands ------------------------------------------------------------------------

/// A validated `/v1/stream` command. Other binding modules (the hub) take a
/// `PyRef<PyStreamRequest>` and read [`PyStreamRequest::streams`] without Python conversions.
#[pyclass(name = "StreamRequest", module = "fastfeed._core", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyStreamRequest(pub StreamRequest);

impl PyStreamRequest {
    /// The validated command.
    pub fn request(&self) -> &StreamRequest {
        &self.0
    }

    /// The streams of a `SUBSCRIBE`/`UNSUBSCRIBE` in command order, duplicates collapsed;
    /// empty for `LIST_SUBSCRIPTIONS`.
    pub fn streams(&self) -> &[StreamKey] {
        self.0.streams()
    }
}

#[pymethods]
impl PyStreamRequest {
    #[getter]
    fn id(&self) -> u64 {
        self.0.id
    }

    #[getter]
    fn method(&self) -> &'static str {
        self.0.method.as_str()
    }

    /// The stream names (canonical spelling), in command order without duplicates.
    #[getter(streams)]
    fn py_streams(&self) -> Vec<String> {
        self.0.streams().iter().map(StreamKey::name).collect()
    }

    fn __repr__(&self) -> String {
        let names: Vec<String> = self
            .0
            .streams()
            .iter()
            .map(|k| format!("'{}'", k.name()))
            .collect();
        format!(
            "StreamRequest(id={}, method='{}', streams=[{}])",
            self.0.id,
            self.0.method.as_str(),
            names.join(", ")
        )
    }
}

/// Validates one `/v1/stream` frame (`bytes`, or `str` taken as its UTF-8 encoding). Raises
/// `fastfeed.StreamCommandError` with `code`, `id` and the message.
#[pyfunction]
fn parse_stream_command(frame: &Bound<'_, PyAny>) -> PyResult<PyStreamRequest> {
    let Some(bytes) = frame_bytes(frame, "parse_stream_command")? else {
        return Err(stream_command_error(
            "json: invalid UTF-8 (lone surrogate in str)",
            StreamErrorCode::InvalidJson.as_str(),
            None,
        ));
    };
    envelope::parse_stream_command(bytes)
        .map(PyStreamRequest)
        .map_err(|e| stream_command_error(e.message, e.code.as_str(), e.id))
}

/// Encodes a `/v1/stream` success reply: `{"result":null,"id":N}`, or with `streams` (names,
/// validated) `{"result":[…],"id":N}`.
#[pyfunction]
#[pyo3(signature = (id, streams = None))]
fn encode_stream_result(
    py: Python<'_>,
    id: u64,
    streams: Option<Vec<String>>,
) -> PyResult<Bound<'_, PyBytes>> {
    let keys = streams
        .map(|names| {
            names
                .iter()
                .map(|n| names::parse_stream_name(n))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| stream_name_error(e.to_string()))?;
    let mut out = Vec::with_capacity(64);
    envelope::encode_stream_result(&mut out, id, keys.as_deref());
    Ok(PyBytes::new(py, &out))
}

/// Encodes a `/v1/stream` error reply; `code` is one of `INVALID_JSON`, `INVALID_METHOD`,
/// `INVALID_PARAM`, `TOO_MANY_STREAMS`.
#[pyfunction]
fn encode_stream_error<'py>(
    py: Python<'py>,
    id: Option<u64>,
    code: &str,
    msg: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let code = StreamErrorCode::parse(code).ok_or_else(|| {
        PyValueError::new_err(format!(
            "encode_stream_error(): code must be one of INVALID_JSON, INVALID_METHOD, \
             INVALID_PARAM, TOO_MANY_STREAMS, got {code:?}"
        ))
    })?;
    let mut out = Vec::with_capacity(64 + msg.len());
    envelope::encode_stream_error(&mut out, id, code, msg);
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStreamCommand>()?;
    m.add_class::<PyStopCommand>()?;
    m.add_class::<PyEventAck>()?;
    m.add_class::<PyStreamSpec>()?;
    m.add_class::<PyStreamRequest>()?;
    m.add_function(wrap_pyfunction!(parse_command, m)?)?;
    m.add_function(wrap_pyfunction!(encode_ack, m)?)?;
    m.add_function(wrap_pyfunction!(parse_stream_name, m)?)?;
    m.add_function(wrap_pyfunction!(typed_contract, m)?)?;
    m.add_function(wrap_pyfunction!(stream_name, m)?)?;
    m.add_function(wrap_pyfunction!(check_contract, m)?)?;
    m.add_function(wrap_pyfunction!(parse_stream_command, m)?)?;
    m.add_function(wrap_pyfunction!(encode_stream_result, m)?)?;
    m.add_function(wrap_pyfunction!(encode_stream_error, m)?)?;
    Ok(())
}
