//! Python wrappers of the WebSocket codec (`fastfeed_core::ws`).
//!
//! One `feed` call decodes a whole socket read and returns every message as one list, so
//! Python pays one call per read, not per frame; `count` decodes the same way and returns how
//! many text messages came, for readers that only count.

use fastfeed_core::ws::frame::{encode_frame, MAX_CONTROL_PAYLOAD};
use fastfeed_core::ws::{
    accept_key, close_payload, is_valid_close_code, parse_close_payload, read_upgrade_request,
    switching_protocols, ClientHandshake, FrameDecoder, HandshakeStatus, Message, MessageAssembler,
    Opcode, ProtocolError, RequestHead, Role, DEFAULT_MAX_MESSAGE_SIZE,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::errors::{handshake_error, handshake_refusal, protocol_error, protocol_error_after};

// The `WSFrameDecoder` signature spells the default as a literal so Python can show it.
const _: () = assert!(DEFAULT_MAX_MESSAGE_SIZE == 4096);

fn to_py_protocol_error(error: &ProtocolError) -> PyErr {
    protocol_error(error.reason(), error.close_code().code())
}

/// Incremental RFC 6455 decoder for one connection direction.
#[pyclass(name = "WSFrameDecoder", module = "fastfeed._core")]
pub struct PyFrameDecoder {
    inner: FrameDecoder,
}

#[pymethods]
impl PyFrameDecoder {
    #[new]
    #[pyo3(signature = (role, max_message_size = 4096, reject_binary = false))]
    fn new(role: &str, max_message_size: usize, reject_binary: bool) -> PyResult<Self> {
        let role = match role {
            "server" => Role::Server,
            "client" => Role::Client,
            other => {
                return Err(PyValueError::new_err(format!(
                    "role must be \"server\" or \"client\", got {other:?}"
                )))
            }
        };
        Ok(Self {
            inner: FrameDecoder::new(role)
                .with_max_message_size(max_message_size)
                .with_reject_binary(reject_binary),
        })
    }

    /// Decodes `data`; returns `(opcode, payload)` for each complete message and control frame.
    /// A protocol violation raises `ProtocolError` whose `messages` are those decoded before
    /// it in `data`.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let mut messages: Vec<Bound<'py, PyTuple>> = Vec::new();
        let mut conversion_error = None;
        let result = self.inner.feed(data, |message| {
            let payload = message_payload(py, message);
            match message_tuple(py, message.opcode(), payload) {
                Ok(tuple) => messages.push(tuple),
                Err(error) => conversion_error = Some(error),
            }
            Ok::<(), ProtocolError>(())
        });
        if let Some(error) = conversion_error {
            return Err(error);
        }
        let messages = PyList::new(py, messages)?;
        match result {
            Ok(()) => Ok(messages),
            Err(error) => Err(protocol_error_after(
                error.reason(),
                error.close_code().code(),
                messages.into_any().unbind(),
            )),
        }
    }

    /// Decodes `data` as `feed` does, but only counts the text messages of at least
    /// `min_size` payload bytes: returns that count and `(opcode, payload)` for every other
    /// message and control frame. No Python object is made per counted message.
    #[pyo3(signature = (data, min_size = 0))]
    fn count<'py>(
        &mut self,
        py: Python<'py>,
        data: &[u8],
        min_size: usize,
    ) -> PyResult<(usize, Bound<'py, PyList>)> {
        let mut others: Vec<Bound<'py, PyTuple>> = Vec::new();
        let mut conversion_error = None;
        let result = self.inner.count(data, min_size, |message| {
            let payload = message_payload(py, message);
            match message_tuple(py, message.opcode(), payload) {
                Ok(tuple) => others.push(tuple),
                Err(error) => conversion_error = Some(error),
            }
        });
        if let Some(error) = conversion_error {
            return Err(error);
        }
        let counted = result.map_err(|error| to_py_protocol_error(&error))?;
        Ok((counted, PyList::new(py, others)?))
    }

    /// `"server"` or `"client"`: the role of the side that receives.
    #[getter]
    fn role(&self) -> &'static str {
        match self.inner.role() {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    #[getter]
    fn max_message_size(&self) -> usize {
        self.inner.max_message_size()
    }

    #[getter]
    fn reject_binary(&self) -> bool {
        self.inner.rejects_binary()
    }

    /// True once a Close frame was decoded; later input is ignored.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Joins frames already split by another parser (picows) into messages, enforcing RSV bits,
/// fragment sequencing, the message size cap, UTF-8 of text and the binary policy.
#[pyclass(name = "WSMessageAssembler", module = "fastfeed._core")]
pub struct PyMessageAssembler {
    inner: MessageAssembler,
}

#[pymethods]
impl PyMessageAssembler {
    #[new]
    #[pyo3(signature = (max_message_size = 4096, reject_binary = true))]
    fn new(max_message_size: usize, reject_binary: bool) -> Self {
        Self {
            inner: MessageAssembler::new()
                .with_max_message_size(max_message_size)
                .with_reject_binary(reject_binary),
        }
    }

    /// Takes one unmasked frame; returns `(opcode, payload)` when it completes a message or
    /// is a control frame, else `None`. `rsv` packs RSV1..3 as bits 4, 2, 1.
    fn feed_frame<'py>(
        &mut self,
        py: Python<'py>,
        fin: bool,
        rsv: u8,
        opcode: u8,
        payload: &[u8],
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let message = self
            .inner
            .feed_frame(fin, rsv, opcode, payload)
            .map_err(|error| to_py_protocol_error(&error))?;
        message
            .map(|message| message_tuple(py, message.opcode(), message_payload(py, message)))
            .transpose()
    }

    #[getter]
    fn max_message_size(&self) -> usize {
        self.inner.max_message_size()
    }

    #[getter]
    fn reject_binary(&self) -> bool {
        self.inner.rejects_binary()
    }

    /// True while a fragmented message is open.
    #[getter]
    fn fragmented(&self) -> bool {
        self.inner.is_fragmented()
    }
}

fn message_payload<'py>(py: Python<'py>, message: Message<'_>) -> Bound<'py, PyBytes> {
    match message {
        Message::Text(text) => PyBytes::new(py, text.as_bytes()),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => {
            PyBytes::new(py, bytes)
        }
        Message::Close { code: None, .. } => PyBytes::new(py, b""),
        Message::Close {
            code: Some(code),
            reason,
        } => PyBytes::new(py, &close_payload(code, reason)),
    }
}

fn message_tuple<'py>(
    py: Python<'py>,
    opcode: Opcode,
    payload: Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyTuple>> {
    let opcode = (opcode as u8).into_pyobject(py)?.into_any();
    PyTuple::new(py, [opcode, payload.into_any()])
}

fn data_or_control_opcode(opcode: u8) -> PyResult<Opcode> {
    match Opcode::from_u8(opcode) {
        Some(Opcode::Continuation) | None => Err(PyValueError::new_err(format!(
            "opcode must be 1, 2, 8, 9 or 10, got {opcode}"
        ))),
        Some(opcode) => Ok(opcode),
    }
}

fn mask_from(mask_key: Option<&[u8]>) -> PyResult<Option<[u8; 4]>> {
    mask_key
        .map(|key| {
            <[u8; 4]>::try_from(key).map_err(|_| {
                PyValueError::new_err(format!("mask_key must be 4 bytes, got {}", key.len()))
            })
        })
        .transpose()
}

/// Encodes one final frame per payload, all with `opcode`, into one buffer.
#[pyfunction]
#[pyo3(signature = (opcode, payloads, mask_key = None))]
fn ws_encode_frames<'py>(
    py: Python<'py>,
    opcode: u8,
    payloads: &Bound<'py, PyAny>,
    mask_key: Option<&[u8]>,
) -> PyResult<Bound<'py, PyBytes>> {
    let opcode = data_or_control_opcode(opcode)?;
    let mask = mask_from(mask_key)?;
    let mut out = Vec::new();
    for payload in payloads.try_iter()? {
        let payload = payload?;
        let bytes = payload.cast::<PyBytes>()?.as_bytes();
        if opcode.is_control() && bytes.len() > MAX_CONTROL_PAYLOAD {
            return Err(PyValueError::new_err(format!(
                "control frame payload of {} bytes exceeds 125",
                bytes.len()
            )));
        }
        encode_frame(&mut out, opcode, bytes, mask);
    }
    Ok(PyBytes::new(py, &out))
}

/// A close payload: the code in network byte order, then the reason cut to fit 123 bytes.
#[pyfunction]
#[pyo3(signature = (code, reason = ""))]
fn ws_close_payload<'py>(
    py: Python<'py>,
    code: u16,
    reason: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    if !is_valid_close_code(code) {
        return Err(PyValueError::new_err(format!(
            "close code {code} may not be sent (valid: 1000-1003, 1007-1014, 3000-4999)"
        )));
    }
    Ok(PyBytes::new(py, &close_payload(code, reason)))
}

/// Splits a received close payload into `(code or None, reason)`.
#[pyfunction]
fn ws_parse_close_payload(payload: &[u8]) -> PyResult<(Option<u16>, String)> {
    parse_close_payload(payload)
        .map(|(code, reason)| (code, reason.to_owned()))
        .map_err(|error| to_py_protocol_error(&ProtocolError::from(error)))
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
#[pyfunction]
fn ws_accept_key(key: &str) -> String {
    accept_key(key)
}

/// What a server reads of a WebSocket opening handshake at the start of `data` (everything
/// received so far): `None` while incomplete, else `(target, headers, key, consumed)`.
/// Raises `HandshakeError` (with the HTTP `status` and `headers` to answer with) when refused.
#[pyfunction]
#[allow(clippy::type_complexity)] // the Python tuple the stub names
fn ws_read_upgrade_request<'py>(
    py: Python<'py>,
    data: &[u8],
) -> PyResult<Option<(Bound<'py, PyBytes>, Vec<(String, String)>, String, usize)>> {
    match read_upgrade_request(data) {
        Ok(RequestHead::Partial) => Ok(None),
        Ok(RequestHead::Complete(request, consumed)) => Ok(Some((
            PyBytes::new(py, &request.target),
            request.headers,
            request.key,
            consumed,
        ))),
        Err(refusal) => Err(handshake_refusal(
            refusal.reason,
            refusal.status,
            refusal.headers,
        )),
    }
}

/// The `101 Switching Protocols` response to a handshake with `key`.
#[pyfunction]
fn ws_switching_protocols<'py>(py: Python<'py>, key: &str) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &switching_protocols(key))
}

/// The client side of the opening handshake.
#[pyclass(name = "WSClientHandshake", module = "fastfeed._core")]
pub struct PyClientHandshake {
    inner: ClientHandshake,
}

#[pymethods]
impl PyClientHandshake {
    // PyO3 extracts a sequence argument as an owned Vec; a borrowed slice is not extractable.
    #[allow(clippy::needless_pass_by_value)]
    #[new]
    #[pyo3(signature = (host, port, path, key, headers = Vec::new()))]
    fn new(
        host: &str,
        port: u16,
        path: &str,
        key: &[u8],
        headers: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let key = <[u8; 16]>::try_from(key).map_err(|_| {
            PyValueError::new_err(format!("key must be 16 bytes, got {}", key.len()))
        })?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        ClientHandshake::new(host, port, path, key, &headers)
            .map(|inner| Self { inner })
            .map_err(|error| handshake_error(error.message()))
    }

    /// The request bytes to send.
    #[getter]
    fn request<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.request())
    }

    /// The `Sec-WebSocket-Key` sent.
    #[getter]
    fn key(&self) -> &str {
        self.inner.key()
    }

    /// The `Sec-WebSocket-Accept` the server must answer with.
    #[getter]
    fn expected_accept(&self) -> &str {
        self.inner.expected_accept()
    }

    /// True once a valid response was read.
    #[getter]
    fn done(&self) -> bool {
        self.inner.is_complete()
    }

    /// Feeds response bytes: `None` while incomplete, then the bytes after the response.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.inner.feed(data) {
            Ok(HandshakeStatus::Pending) => Ok(None),
            Ok(HandshakeStatus::Complete { leftover }) => Ok(Some(PyBytes::new(py, leftover))),
            Err(error) => Err(handshake_error(error.message())),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFrameDecoder>()?;
    m.add_class::<PyMessageAssembler>()?;
    m.add_class::<PyClientHandshake>()?;
    m.add_function(wrap_pyfunction!(ws_encode_frames, m)?)?;
    m.add_function(wrap_pyfunction!(ws_close_payload, m)?)?;
    m.add_function(wrap_pyfunction!(ws_parse_close_payload, m)?)?;
    m.add_function(wrap_pyfunction!(ws_accept_key, m)?)?;
    m.add_function(wrap_pyfunction!(ws_read_upgrade_request, m)?)?;
    m.add_function(wrap_pyfunction!(ws_switching_protocols, m)?)?;
    Ok(())
}
