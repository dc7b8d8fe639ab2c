//! Binding of the Redis scale-out core (SPEC §7): the edge's push reader and the helpers the
//! Python connections need. The publisher lives in the hub (`Hub.enable_redis_publish`).

use fastfeed_core::hub::Hub;
use fastfeed_core::redis::{
    key_slot, market_channels, subscriptions_of_stream, write_command, PushReader, Reply,
    Subscription,
};
use fastfeed_core::stream_name::parse_stream_name;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::{config_error, RedisError};
use crate::hub::{PyHub, PySourceBatch};

/// A lost stretch of one channel: `(channel, events lost, subscriber ids it would have reached)`.
type Gap = (String, u64, Vec<u32>);

fn reply_to_py(py: Python<'_>, reply: Reply) -> PyResult<Py<PyAny>> {
    Ok(match reply {
        Reply::Simple(s) => s.into_pyobject(py)?.into_any().unbind(),
        Reply::Error(e) => RedisError::new_err(e).into_value(py).into_any(),
        Reply::Integer(n) => n.into_pyobject(py)?.into_any().unbind(),
        Reply::Bulk(None) => py.None(),
        Reply::Bulk(Some(b)) => PyBytes::new(py, &b).into_any().unbind(),
        Reply::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(reply_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
    })
}

/// Reads what Redis sends a subscriber connection (see `fastfeed_core::redis::subscribe`).
#[pyclass(name = "RedisReader", module = "fastfeed._core")]
#[derive(Default)]
pub struct PyRedisReader {
    inner: PushReader,
    /// The hub of the last feed (the reader remembers contract ids in it).
    hub: Option<Py<PyHub>>,
}

#[pymethods]
impl PyRedisReader {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Reads one socket read of connection `connection` (a Cluster edge has one per node):
    /// returns `(batch, gaps, replies, bad_payloads, duplicates)`.
    /// Without `hub` (replies only, e.g. a handshake), payloads go into a throwaway market.
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (hub, data, connection = 0))]
    fn feed(
        &mut self,
        py: Python<'_>,
        hub: Option<&Bound<'_, PyHub>>,
        data: &[u8],
        connection: usize,
    ) -> PyResult<(PySourceBatch, Vec<Gap>, Vec<Py<PyAny>>, Vec<String>, u64)> {
        let mut batch = PySourceBatch::of_events(Vec::new());
        let same_hub = match (&self.hub, hub) {
            (Some(last), Some(hub)) => last.bind(py).is(hub),
            _ => false,
        };
        if !same_hub {
            self.inner.new_hub();
            self.hub = hub.map(|h| h.clone().unbind());
        }
        let mut scratch;
        let hub = match hub {
            Some(hub) => {
                scratch = hub.try_borrow_mut()?;
                &mut scratch.inner
            }
            None => &mut Hub::new(false),
        };
        let pushes = self
            .inner
            .feed_from(connection, data, hub, &mut batch.inner)
            .map_err(|e| RedisError::new_err(e.to_string()))?;
        let gaps = pushes
            .gaps
            .into_iter()
            .map(|g| (g.channel, g.lost, g.subscribers))
            .collect();
        let replies = pushes
            .replies
            .into_iter()
            .map(|r| reply_to_py(py, r))
            .collect::<PyResult<_>>()?;
        Ok((batch, gaps, replies, pushes.bad_payloads, pushes.duplicates))
    }

    /// Forgets a channel's sequence (it was unsubscribed).
    fn forget(&mut self, channel: &[u8]) {
        self.inner.forget(channel);
    }

    /// Forgets every channel starting with `prefix` (a pattern was unsubscribed).
    fn forget_prefix(&mut self, prefix: &[u8]) {
        self.inner.forget_prefix(prefix);
    }

    /// A new connection: partial replies of the old one are discarded; sequences are kept.
    fn reconnected(&mut self) {
        self.inner.reconnected();
    }

    /// The last sequence number seen on `channel`.
    fn last_pseq(&self, channel: &[u8]) -> Option<u64> {
        self.inner.last_pseq(channel)
    }

    /// Times a publisher restarted (a channel's `pseq` went back to 1).
    #[getter]
    fn restarts(&self) -> u64 {
        self.inner.restarts()
    }
}

/// What an edge subscribes on Redis for a SPEC §4 stream: `[(is_pattern, name)]`.
#[pyfunction]
fn redis_subscriptions(stream: &str) -> PyResult<Vec<(bool, String)>> {
    let key = parse_stream_name(stream).map_err(|e| config_error(format!("{stream}: {e}")))?;
    Ok(subscriptions_of_stream(&key)
        .into_iter()
        .map(|s| match s {
            Subscription::Channel(c) => (false, c),
            Subscription::Pattern(p) => (true, p),
        })
        .collect())
}

/// Every whole-market channel of a Redis Cluster (`ff:OPTION:TRADE:*`, …): where a Cluster
/// edge listens for whole-market streams, and the publisher repeats their events meanwhile.
#[pyfunction]
fn redis_market_channels() -> Vec<String> {
    market_channels()
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

/// One RESP command (an array of bulk strings).
#[pyfunction]
#[pyo3(signature = (*args))]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts varargs as an owned Vec
fn redis_command(py: Python<'_>, args: Vec<Vec<u8>>) -> Bound<'_, PyBytes> {
    let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    write_command(&mut out, &parts);
    PyBytes::new(py, &out)
}

/// The Redis Cluster hash slot of `key`.
#[pyfunction]
fn redis_key_slot(key: &[u8]) -> u16 {
    key_slot(key)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRedisReader>()?;
    m.add_function(wrap_pyfunction!(redis_subscriptions, m)?)?;
    m.add_function(wrap_pyfunction!(redis_command, m)?)?;
    m.add_function(wrap_pyfunction!(redis_key_slot, m)?)?;
    m.add_function(wrap_pyfunction!(redis_market_channels, m)?)?;
    Ok(())
}
