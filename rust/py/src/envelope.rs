//! Binding of `fastfeed_core::envelope`: `parse_command` and `encode_ack`.
//!
//! Commands are small frozen, hashable value classes whose attributes are plain Python values
//! (wire names as `str`, ids as `int`), so server code can compare and log them directly.

use fastfeed_core::contract::{ContractKey, Right};
use fastfeed_core::envelope::{self, AckResponse, Command};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::errors::envelope_error;

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
    #[getter]
    fn id(&self) -> u64 {
        self.0.id
    }

    fn __repr__(&self) -> String {
        format!("StopCommand(id={})", self.0.id)
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
/// Raises `fastfeed.EnvelopeError` with the message, field path and `req_id`.
#[pyfunction]
fn parse_command(py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let parsed = if let Ok(bytes) = frame.cast::<PyBytes>() {
        envelope::parse_command(bytes.as_bytes())
    } else if let Ok(text) = frame.cast::<PyString>() {
        // A str holding lone surrogates has no UTF-8 encoding: the same answer as bad bytes.
        let Ok(text) = text.to_str() else {
            return Err(envelope_error(
                "json: invalid UTF-8 (lone surrogate in str)",
                "json",
                None,
            ));
        };
        envelope::parse_command(text.as_bytes())
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "parse_command() expects bytes or str, got {}",
            frame.get_type().name()?
        )));
    };
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStreamCommand>()?;
    m.add_class::<PyStopCommand>()?;
    m.add_class::<PyEventAck>()?;
    m.add_function(wrap_pyfunction!(parse_command, m)?)?;
    m.add_function(wrap_pyfunction!(encode_ack, m)?)?;
    Ok(())
}
