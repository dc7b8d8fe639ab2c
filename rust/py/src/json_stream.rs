//! `JsonStreamSplitter`: the seed-002 JSON stream splitter for Python; `JsonEventStream`: an
//! HTTP streaming body of events into a hub's `SourceBatch`, one call per read.

use std::ops::Range;

use fastfeed_core::event_stream::{Control, JsonEventStream};
use fastfeed_core::hub::{JsonEventDecoder, JsonEventSink};
use fastfeed_core::json_stream::{JsonStreamSplitter, Span, SplitError, DEFAULT_MAX_OBJECT_SIZE};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::json_stream_error;
use crate::hub::{PyHub, PySourceBatch};

/// Chunks at least this long are scanned with the GIL released (below it, the hand-off costs
/// more than the scan).
const DETACH_THRESHOLD: usize = 16 * 1024;

/// Where one object of a fed chunk is.
enum Found {
    InChunk(Range<usize>),
    Joined(Vec<u8>),
}

impl Found {
    fn bytes<'a>(&'a self, chunk: &'a [u8]) -> &'a [u8] {
        match self {
            Found::InChunk(range) => &chunk[range.clone()],
            Found::Joined(bytes) => bytes,
        }
    }
}

/// Splits an HTTP streaming body into complete top-level JSON objects (see the core docs).
#[pyclass(module = "fastfeed._core", name = "JsonStreamSplitter")]
pub struct PyJsonStreamSplitter {
    inner: JsonStreamSplitter,
}

impl PyJsonStreamSplitter {
    fn scan(&mut self, py: Python<'_>, chunk: &[u8]) -> (Vec<Found>, Vec<SplitError>) {
        let inner = &mut self.inner;
        let mut run = move || {
            let mut found = Vec::new();
            let mut errors = Vec::new();
            inner.feed_spans(chunk, |item| match item {
                Ok(Span::InChunk(range)) => found.push(Found::InChunk(range)),
                Ok(Span::Joined(bytes)) => found.push(Found::Joined(bytes.to_vec())),
                Err(e) => errors.push(e),
            });
            (found, errors)
        };
        if chunk.len() >= DETACH_THRESHOLD {
            py.detach(run)
        } else {
            run()
        }
    }
}

/// The first error's message, plus how many more the same chunk had.
fn error_message(errors: &[SplitError]) -> Option<String> {
    let first = errors.first()?;
    let message = first.message();
    Some(match errors.len() {
        1 => message,
        2 => format!("{message} (and 1 more error in this chunk)"),
        n => format!("{message} (and {} more errors in this chunk)", n - 1),
    })
}

#[pymethods]
impl PyJsonStreamSplitter {
    #[new]
    #[pyo3(signature = (max_object_size = DEFAULT_MAX_OBJECT_SIZE), text_signature = "(max_object_size=1048576)")]
    fn new(max_object_size: usize) -> Self {
        Self {
            inner: JsonStreamSplitter::new(max_object_size),
        }
    }

    /// Feeds one chunk; returns the complete objects it finished, as bytes.
    ///
    /// Raises `JsonStreamError` after the whole chunk was processed if it held stray bytes or
    /// an oversized object; the exception's `objects` are this call's objects.
    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let (found, errors) = self.scan(py, chunk);
        let objects = PyList::new(py, found.iter().map(|f| PyBytes::new(py, f.bytes(chunk))))?;
        match error_message(&errors) {
            None => Ok(objects),
            Some(message) => Err(json_stream_error(message, objects.into_any().unbind())),
        }
    }

    /// Like `feed`, but returns all objects in one bytes buffer with an int64 array of
    /// `len + 1` boundaries: object `i` is `data[offsets[i]:offsets[i + 1]]`.
    fn feed_packed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyArray1<i64>>)> {
        let (found, errors) = self.scan(py, chunk);
        let mut offsets = Vec::with_capacity(found.len() + 1);
        offsets.push(0i64);
        let mut total = 0usize;
        for f in &found {
            total += f.bytes(chunk).len();
            offsets.push(total as i64);
        }
        let data = PyBytes::new_with(py, total, |buf| {
            let mut at = 0;
            for f in &found {
                let bytes = f.bytes(chunk);
                buf[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            }
            Ok(())
        })?;
        match error_message(&errors) {
            None => Ok((data, PyArray1::from_vec(py, offsets))),
            Some(message) => {
                let objects =
                    PyList::new(py, found.iter().map(|f| PyBytes::new(py, f.bytes(chunk))))?;
                Err(json_stream_error(message, objects.into_any().unbind()))
            }
        }
    }

    /// Forgets any partial object and restarts at stream offset 0 (for a new stream).
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The size limit in bytes.
    #[getter]
    fn max_object_size(&self) -> usize {
        self.inner.max_object_size()
    }

    /// Bytes of an incomplete object held until the next chunk.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Stream bytes consumed so far.
    #[getter]
    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    /// Whether the stream currently stands inside an object.
    #[getter]
    fn in_object(&self) -> bool {
        self.inner.in_object()
    }

    fn __repr__(&self) -> String {
        format!(
            "JsonStreamSplitter(max_object_size={}, offset={}, buffered={})",
            self.inner.max_object_size(),
            self.inner.offset(),
            self.inner.buffered()
        )
    }
}

/// A control object as Python sees it: `(kind, text, message)`.
type ControlTuple = (&'static str, Option<String>, Option<String>);

fn control_tuple(control: Control) -> ControlTuple {
    match control {
        Control::EndSnapshot => ("EndSnapshot", None, None),
        Control::GoAway => ("GoAway", None, None),
        Control::Status(status) => ("StreamStatus", Some(status), None),
        Control::Error { error, message } => ("Error", Some(error), message),
    }
}

/// An HTTP streaming body (seed 002) of SPEC §3.3 events and control objects (see the core
/// docs): each read is split, its events decoded into a `SourceBatch` for the hub.
#[pyclass(module = "fastfeed._core", name = "JsonEventStream")]
pub struct PyJsonEventStream {
    inner: JsonEventStream,
    decoder: JsonEventDecoder,
    /// The hub the decoder's remembered contract ids belong to (kept alive, so it cannot be
    /// another hub at the same address); another hub starts a fresh decoder.
    hub: Option<Py<PyHub>>,
}

/// Objects are rarely shorter than this: a read of `n` bytes reserves room for `n / 64`
/// events, so a batch does not grow (and copy) while it is filled.
const MIN_OBJECT_BYTES: usize = 64;

#[pymethods]
impl PyJsonEventStream {
    #[new]
    #[pyo3(signature = (max_object_size = DEFAULT_MAX_OBJECT_SIZE), text_signature = "(max_object_size=1048576)")]
    fn new(max_object_size: usize) -> Self {
        Self {
            inner: JsonEventStream::new(max_object_size),
            decoder: JsonEventDecoder::new(),
            hub: None,
        }
    }

    /// Feeds one body read: each data event is decoded, its contract registered with `hub`,
    /// and appended to `batch` with its original JSON. Stops after the first control object.
    /// Returns `(consumed, events, control)`: bytes of `chunk` consumed (all unless a control
    /// object stopped the feed), events appended, and the control object as
    /// `(kind, text, message)` or `None`.
    fn feed(
        &mut self,
        hub: &Bound<'_, PyHub>,
        mut batch: PyRefMut<'_, PySourceBatch>,
        chunk: &[u8],
    ) -> PyResult<(usize, usize, Option<ControlTuple>)> {
        if self.hub.as_ref().is_none_or(|known| !known.is(hub)) {
            self.decoder = JsonEventDecoder::new();
            self.hub = Some(hub.clone().unbind());
        }
        let mut hub = hub.try_borrow_mut()?;
        let hub = &mut hub.inner;
        let batch = &mut batch.inner;
        batch.reserve(
            chunk.len() / MIN_OBJECT_BYTES,
            chunk.len() + self.inner.buffered(),
        );
        let mut sink = JsonEventSink {
            decoder: &mut self.decoder,
            batch,
            hub,
        };
        let fed = self.inner.feed_to(chunk, &mut sink);
        Ok((fed.consumed, fed.events, fed.control.map(control_tuple)))
    }

    /// A new request: forgets any partial object (the counters go on).
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Data events accepted so far.
    #[getter]
    fn events(&self) -> u64 {
        self.inner.events()
    }

    /// Objects (and runs of stray bytes) skipped so far: invalid, not data events, or over
    /// `max_object_size`.
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.skipped()
    }

    /// The latest skip since the last call, as `at stream offset N: reason`.
    fn take_latest_skip(&mut self) -> Option<String> {
        self.inner.take_latest_skip().map(|s| s.to_string())
    }

    /// Bytes of an incomplete object held until the next read.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Bytes consumed since the request began.
    #[getter]
    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    fn __repr__(&self) -> String {
        format!(
            "JsonEventStream(max_object_size={}, offset={}, events={}, skipped={})",
            self.inner.max_object_size(),
            self.inner.offset(),
            self.inner.events(),
            self.inner.skipped()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyJsonStreamSplitter>()?;
    m.add_class::<PyJsonEventStream>()
}
