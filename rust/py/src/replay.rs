//! Binding of the replay file reader (`fastfeed_core::replay`): files in, [`PySourceBatch`]es
//! for the hub out, one call per batch.

use std::path::PathBuf;

use fastfeed_core::hub::{Event, SourceBatch};
use fastfeed_core::replay::{expand, BadLinePolicy, ReplayReader};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{config_error, replay_error};
use crate::hub::{PyHub, PySourceBatch};

/// Replay files (JSON Lines of SPEC §3.3 events or CSV, plain or gzip) read as one stream of
/// events in market-time order. See `fastfeed_core::replay`.
#[pyclass(name = "ReplayReader", module = "fastfeed._core")]
pub struct PyReplayReader {
    inner: ReplayReader,
    /// The hub the contract ids below belong to (kept alive, so it cannot be another hub at
    /// the same address), and each reader contract index's id in it (`NO_ID`: not registered
    /// yet): an event costs an index, not a hub lookup.
    hub: Option<Py<PyHub>>,
    hub_ids: Vec<u32>,
    /// Bytes of original JSON per event in the last batch, to size the next one's buffer.
    raw_per_event: usize,
}

const NO_ID: u32 = u32::MAX;

#[pymethods]
impl PyReplayReader {
    /// `paths`: a path or a glob pattern (a `str`: expanded, sorted by path), an `os.PathLike`
    /// (one path), or a list of paths (in the order given). Runs the pre-scan (without the
    /// GIL); raises `ReplayError`.
    #[new]
    #[pyo3(signature = (paths, *, on_bad_line = "stop"))]
    fn new(py: Python<'_>, paths: &Bound<'_, PyAny>, on_bad_line: &str) -> PyResult<Self> {
        let policy = match on_bad_line {
            "stop" => BadLinePolicy::Stop,
            "skip" => BadLinePolicy::Skip,
            other => {
                return Err(config_error(format!(
                    "on_bad_line: expected \"stop\" or \"skip\", got {other:?}"
                )))
            }
        };
        let paths: Vec<PathBuf> = if let Ok(spec) = paths.cast::<PyString>() {
            expand(spec.to_str()?).map_err(|e| replay_error(&e))?
        } else if let Ok(path) = paths.extract::<PathBuf>() {
            vec![path] // an os.PathLike: a path, never a pattern
        } else {
            paths.extract()?
        };
        let inner = py
            .detach(|| ReplayReader::open(paths, policy))
            .map_err(|e| replay_error(&e))?;
        Ok(Self {
            inner,
            hub: None,
            hub_ids: Vec::new(),
            raw_per_event: 0,
        })
    }

    /// The files, in merge order (ties go to the earlier).
    #[getter]
    fn files(&self) -> Vec<String> {
        self.inner
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    /// Non-blank lines of every file (CSV: after the header), counted by the pre-scan;
    /// `None` while a plain file's lines are still being counted beside the replay (the first
    /// look starts that count).
    #[getter]
    fn total(&self) -> Option<u64> {
        self.inner.total()
    }

    /// `total`, waiting (without the GIL) for the count to end; `None` only when a file could
    /// not be read to its end (its reading reports why).
    fn wait_total(&self, py: Python<'_>) -> Option<u64> {
        let reader = &self.inner;
        py.detach(|| reader.wait_total())
    }

    /// Data events handed out since the start or the last rewind.
    #[getter]
    fn read_count(&self) -> u64 {
        self.inner.read_count()
    }

    /// Bad lines skipped since the start or the last rewind (`on_bad_line="skip"`).
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.skipped()
    }

    /// Messages of the lines skipped since the last call (the latest 100 at most).
    fn take_skipped_messages(&mut self) -> Vec<String> {
        self.inner
            .take_skipped()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Market time (ms) of the next event; `None` at the end or when the next read raises.
    #[getter]
    fn next_time(&self) -> Option<i64> {
        self.inner.next_time()
    }

    /// True when every event has been handed out.
    #[getter]
    fn exhausted(&self) -> bool {
        self.inner.exhausted()
    }

    /// The next events in merged order (at most `max_events`, market time at most `until`),
    /// their contracts registered with `hub`. Raises `ReplayError` for a bad line (under
    /// "stop") or a read error, after handing out every event before it.
    #[pyo3(signature = (hub, max_events, until = None))]
    fn read(
        &mut self,
        py: Python<'_>,
        hub: &Bound<'_, PyHub>,
        max_events: usize,
        until: Option<i64>,
    ) -> PyResult<PySourceBatch> {
        if self.hub.as_ref().is_none_or(|h| !h.bind(py).is(hub)) {
            self.hub = Some(hub.clone().unbind());
            self.hub_ids.clear();
        }
        let mut hub = hub.try_borrow_mut()?;
        let hub = &mut hub.inner;
        let expected = max_events.min(1 << 16);
        let mut batch = SourceBatch::new();
        batch.reserve(expected, expected * self.raw_per_event);
        let (reader, ids) = (&mut self.inner, &mut self.hub_ids);
        let n = py
            .detach(|| {
                reader.read(max_events, until, |e| {
                    let index = e.contract_index as usize;
                    if index >= ids.len() {
                        ids.resize(index + 1, NO_ID);
                    }
                    if ids[index] == NO_ID {
                        ids[index] = hub.add_contract(*e.contract);
                    }
                    let event = Event {
                        contract: ids[index],
                        body: e.body,
                    };
                    match e.raw {
                        Some(json) => batch.push_json(event, json),
                        None => batch.push(event),
                    }
                })
            })
            .map_err(|e| replay_error(&e))?;
        if n > 0 {
            self.raw_per_event = batch.raw().len().div_ceil(n);
        }
        Ok(PySourceBatch { inner: batch })
    }

    /// Starts again from the beginning (for `--loop`); raises `ReplayError` if a file can no
    /// longer be opened.
    fn rewind(&mut self, py: Python<'_>) -> PyResult<()> {
        let reader = &mut self.inner;
        py.detach(|| reader.rewind()).map_err(|e| replay_error(&e))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyReplayReader>()?;
    Ok(())
}
