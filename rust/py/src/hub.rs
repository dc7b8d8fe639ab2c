//! Binding of the hub and the synthetic market: a source's batch goes through the market once
//! and comes back as each subscriber's frames (`Hub.publish`), one call per batch.

use fastfeed_core::contract::{StreamKey, Symbol};
use fastfeed_core::event::EventBody;
use fastfeed_core::hub::{
    Event, Hub, InterestChange, Rejections, SourceBatch, SubscriberId, Universe, Wire,
};
use fastfeed_core::redis::Publisher;
use fastfeed_core::stream_name::parse_stream_name;
use fastfeed_core::synthetic::{Chain, Expiration, MarketSpec, SyntheticMarket, Underlying};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::bars::PyBarBook;
use crate::envelope::{PyStreamCommand, PyStreamRequest};
use crate::errors::{config_error, fanout_error, stream_name_error, subscribe_error};
use crate::event::{
    contract_key, contract_tuple, ohlc_rows, open_interest_rows, quote_rows, trade_rows,
    ContractTuple,
};

/// Streams that gained their first / lost their last subscriber, as SPEC §4 names.
type Interest = (Vec<String>, Vec<String>);

fn interest(change: &InterestChange) -> Interest {
    let names = |keys: &[StreamKey]| keys.iter().map(StreamKey::name).collect();
    (names(&change.gained), names(&change.lost))
}

/// Subscribers that receive the same frames, the frames, and how many events they hold.
type Delivery<'py> = (Vec<SubscriberId>, Bound<'py, PyBytes>, u64);

/// A batch of a source's events, held in Rust: drawn by a Rust market, read from JSON, or
/// built from numpy columns (`add_trades`, …: contract ids of the hub they are published to).
#[pyclass(name = "SourceBatch", module = "fastfeed._core")]
pub struct PySourceBatch {
    pub(crate) inner: SourceBatch,
}

impl PySourceBatch {
    pub(crate) fn of_events(events: Vec<Event>) -> Self {
        Self {
            inner: SourceBatch::of_events(events),
        }
    }

    /// Appends the rows a column reader gives, all of them or none.
    fn extend(
        &mut self,
        n: usize,
        row: &dyn Fn(usize) -> PyResult<(u32, EventBody)>,
    ) -> PyResult<()> {
        self.inner.extend_rows(n, row)
    }
}

#[pymethods]
impl PySourceBatch {
    #[new]
    fn new() -> Self {
        Self::of_events(Vec::new())
    }

    /// Appends the data events of `data`, JSON Lines of SPEC §3.3 events (what `record`
    /// writes), registering their contracts with `hub`. Each event keeps its line, which is
    /// forwarded as it is rather than encoded again. Blank lines and lines that are not data
    /// events (STATUS) are skipped; lines that are not valid events are skipped and returned
    /// as `(line index in data, message)`.
    fn add_json_lines(
        &mut self,
        mut hub: PyRefMut<'_, PyHub>,
        data: &[u8],
    ) -> Vec<(usize, String)> {
        let mut errors = Vec::new();
        for (index, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = self.inner.push_json_event(&mut hub.inner, line) {
                errors.push((index, e.to_string()));
            }
        }
        errors
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Empties the batch, keeping its memory: a source publishing one batch per read reuses
    /// one batch instead of allocating a new one each time.
    fn clear(&mut self) {
        self.inner.clear();
    }

    /// Appends TRADE events from columns (arrays of one length, or scalars).
    #[allow(clippy::too_many_arguments)]
    fn add_trades(
        &mut self,
        contract_id: &Bound<'_, PyAny>,
        ms_of_day: &Bound<'_, PyAny>,
        sequence: &Bound<'_, PyAny>,
        size: &Bound<'_, PyAny>,
        condition: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        exchange: &Bound<'_, PyAny>,
        date: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        trade_rows(
            contract_id,
            ms_of_day,
            sequence,
            size,
            condition,
            price,
            exchange,
            date,
            &[],
            |n, row| self.extend(n, row),
        )
    }

    /// Appends QUOTE events from columns.
    #[allow(clippy::too_many_arguments)]
    fn add_quotes(
        &mut self,
        contract_id: &Bound<'_, PyAny>,
        ms_of_day: &Bound<'_, PyAny>,
        bid_size: &Bound<'_, PyAny>,
        bid_exchange: &Bound<'_, PyAny>,
        bid: &Bound<'_, PyAny>,
        bid_condition: &Bound<'_, PyAny>,
        ask_size: &Bound<'_, PyAny>,
        ask_exchange: &Bound<'_, PyAny>,
        ask: &Bound<'_, PyAny>,
        ask_condition: &Bound<'_, PyAny>,
        date: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        quote_rows(
            contract_id,
            ms_of_day,
            bid_size,
            bid_exchange,
            bid,
            bid_condition,
            ask_size,
            ask_exchange,
            ask,
            ask_condition,
            date,
            &[],
            |n, row| self.extend(n, row),
        )
    }

    /// Appends OHLC events from columns (a source's own bars: they match `<c>@ohlc` only).
    #[allow(clippy::too_many_arguments)]
    fn add_ohlc(
        &mut self,
        contract_id: &Bound<'_, PyAny>,
        ms_of_day: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        count: &Bound<'_, PyAny>,
        date: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        ohlc_rows(
            contract_id,
            ms_of_day,
            open,
            high,
            low,
            close,
            volume,
            count,
            date,
            &[],
            |n, row| self.extend(n, row),
        )
    }

    /// Appends `OPEN_INTEREST` events from columns.
    fn add_open_interest(
        &mut self,
        contract_id: &Bound<'_, PyAny>,
        ms_of_day: &Bound<'_, PyAny>,
        open_interest: &Bound<'_, PyAny>,
        date: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        open_interest_rows(
            contract_id,
            ms_of_day,
            open_interest,
            date,
            &[],
            |n, row| self.extend(n, row),
        )
    }
}

/// One market, many consumers: the contract registry, the server's bars, subscribers and
/// their streams. See `fastfeed_core::hub`.
#[pyclass(name = "Hub", module = "fastfeed._core")]
pub struct PyHub {
    pub(crate) inner: Hub,
    bars: Py<PyBarBook>,
    rejected: u64,
    first_error: Option<String>,
    /// Events of the batches published so far (counted per batch).
    published: u64,
}

/// The stream keys of `streams`: a `/v1/stream` `StreamRequest`, a `StreamCommand` or a list
/// of them, or a list of SPEC §4 stream names.
fn stream_keys(streams: &Bound<'_, PyAny>) -> PyResult<Vec<StreamKey>> {
    if let Ok(request) = streams.cast::<PyStreamRequest>() {
        return Ok(request.borrow().streams().to_vec());
    }
    let key = |c: &PyStreamCommand| {
        let c = c.command();
        StreamKey {
            sec_type: c.sec_type,
            req_type: c.req_type,
            contract: c.contract,
        }
    };
    if let Ok(command) = streams.cast::<PyStreamCommand>() {
        return Ok(vec![key(&command.borrow())]);
    }
    let list = streams.cast::<PyList>()?;
    list.iter()
        .map(|item| {
            if let Ok(name) = item.extract::<&str>() {
                return parse_stream_name(name).map_err(|e| stream_name_error(e.to_string()));
            }
            Ok(key(&item.cast::<PyStreamCommand>()?.borrow()))
        })
        .collect()
}

#[pymethods]
impl PyHub {
    #[new]
    #[pyo3(signature = (bars, *, ohlcvc = true))]
    fn new(bars: Py<PyBarBook>, ohlcvc: bool) -> Self {
        Self {
            inner: Hub::new(ohlcvc),
            bars,
            rejected: 0,
            first_error: None,
            published: 0,
        }
    }

    #[pyo3(signature = (sec_type, symbol, expiration=None, strike=None, right=None))]
    fn add_contract(
        &mut self,
        sec_type: &str,
        symbol: &str,
        expiration: Option<u32>,
        strike: Option<u32>,
        right: Option<&str>,
    ) -> PyResult<u32> {
        let key = contract_key(sec_type, symbol, expiration, strike, right)?;
        Ok(self.inner.add_contract(key))
    }

    fn contract(&self, contract_id: u32) -> PyResult<ContractTuple> {
        self.inner
            .market()
            .contract(contract_id)
            .map(contract_tuple)
            .ok_or_else(|| config_error(format!("contract_id: unknown contract id {contract_id}")))
    }

    #[getter]
    fn contract_count(&self) -> usize {
        self.inner.market().contract_count()
    }

    #[getter]
    fn ohlcvc(&self) -> bool {
        self.inner.market().ohlcvc()
    }

    #[getter]
    fn bars(&self, py: Python<'_>) -> Py<PyBarBook> {
        self.bars.clone_ref(py)
    }

    /// The source's universe in one line, if it declared one.
    #[getter]
    fn universe(&self) -> Option<String> {
        self.inner.universe().map(Universe::describe)
    }

    /// Adds a subscriber receiving `wire` (`"events"`: §3.3 frames; `"stream"`: §4 frames).
    fn add_subscriber(&mut self, wire: &str) -> PyResult<SubscriberId> {
        let wire = match wire {
            "events" => Wire::Events,
            "stream" => Wire::Stream,
            other => {
                return Err(config_error(format!(
                    "wire: expected \"events\" or \"stream\", got {other:?}"
                )))
            }
        };
        Ok(self.inner.add_subscriber(wire))
    }

    /// Removes a subscriber and its streams; returns the union's change.
    fn remove_subscriber(&mut self, subscriber: SubscriberId) -> PyResult<Interest> {
        let change = self
            .inner
            .remove_subscriber(subscriber)
            .map_err(fanout_error)?;
        Ok(interest(&change))
    }

    /// Subscribes to `streams` (a `StreamCommand` or a list of them), all or none; returns
    /// the union's change. Raises `SubscribeError`.
    fn subscribe(
        &mut self,
        subscriber: SubscriberId,
        streams: &Bound<'_, PyAny>,
        limit: usize,
    ) -> PyResult<Interest> {
        let keys = stream_keys(streams)?;
        let change = self
            .inner
            .subscribe(subscriber, &keys, limit)
            .map_err(|e| subscribe_error(&e))?;
        Ok(interest(&change))
    }

    /// Unsubscribes from `streams` (those not subscribed are ignored).
    fn unsubscribe(
        &mut self,
        subscriber: SubscriberId,
        streams: &Bound<'_, PyAny>,
    ) -> PyResult<Interest> {
        let keys = stream_keys(streams)?;
        let change = self
            .inner
            .unsubscribe(subscriber, &keys)
            .map_err(fanout_error)?;
        Ok(interest(&change))
    }

    /// Unsubscribes from every stream.
    fn clear(&mut self, subscriber: SubscriberId) -> PyResult<Interest> {
        let change = self.inner.clear(subscriber).map_err(fanout_error)?;
        Ok(interest(&change))
    }

    /// The subscriber's streams as SPEC §4 names, in subscription order.
    fn subscriptions(&self, subscriber: SubscriberId) -> PyResult<Vec<String>> {
        let streams = self
            .inner
            .fanout()
            .subscriptions(subscriber)
            .map_err(fanout_error)?;
        Ok(streams.iter().map(StreamKey::name).collect())
    }

    /// Every stream somebody subscribed to (§4 names) and its number of subscribers.
    #[getter]
    fn union(&self) -> Vec<(String, u32)> {
        let mut union: Vec<(String, u32)> = self
            .inner
            .fanout()
            .union()
            .map(|(k, n)| (k.name(), n))
            .collect();
        union.sort();
        union
    }

    #[getter]
    fn subscriber_count(&self) -> usize {
        self.inner.fanout().subscriber_count()
    }

    /// `(streams, subscriptions)`: streams somebody subscribed to (the union), and
    /// subscriptions summed over subscribers.
    #[getter]
    fn subscription_counts(&self) -> (usize, u64) {
        self.inner
            .fanout()
            .union()
            .fold((0, 0), |(streams, total), (_, n)| {
                (streams + 1, total + u64::from(n))
            })
    }

    /// Events of the batches published so far (refused ones included).
    #[getter]
    fn published(&self) -> u64 {
        self.published
    }

    /// Publishes a source's batch: trades into the bars, session OHLC events, and each event
    /// to its subscribers. Returns `[(subscribers, frames, count)]`: subscribers that receive
    /// the same frames share one `bytes`. With lock-step, only what the window allows goes out
    /// now; the rest waits in the backlog for [`Hub.drain`].
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts the batch as an owned PyRef
    fn publish<'py>(
        &mut self,
        py: Python<'py>,
        batch: PyRef<'_, PySourceBatch>,
    ) -> PyResult<Vec<Delivery<'py>>> {
        let mut bars = self.bars.bind(py).try_borrow_mut()?;
        let rejections = self.inner.publish_batch(&mut bars.inner, &batch.inner);
        self.published += batch.inner.len() as u64;
        self.note(rejections);
        self.take_deliveries(py)
    }

    /// Turns on lock-step delivery (`--pace ack`): the `/v1/events` subscriber's events carry
    /// header ids and at most `window` are outstanding. Call before adding subscribers.
    fn enable_lock_step(&mut self, window: usize) -> PyResult<()> {
        if window == 0 {
            return Err(config_error("ack-window: must be at least 1, got 0"));
        }
        self.inner.enable_lock_step(window);
        Ok(())
    }

    /// Sends what the lock-step window allows now (after an acknowledgement, a new client or
    /// a subscription); `[]` without lock-step. Same result as `publish`.
    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Delivery<'py>>> {
        let rejections = self.inner.drain();
        self.note(rejections);
        self.take_deliveries(py)
    }

    /// Applies an `event_ack` of `subscriber`; returns `(acknowledged, unknown)`: ids that
    /// were outstanding, and ids that were not (ignored).
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts a Python sequence as a Vec
    fn acknowledge(&mut self, subscriber: SubscriberId, ids: Vec<u64>) -> (usize, usize) {
        let result = self.inner.acknowledge(subscriber, &ids);
        (result.acked, result.unknown)
    }

    /// Lock-step state: `(paced subscriber or None, outstanding, backlog)`; `None` without
    /// lock-step.
    #[getter]
    fn lock_step(&self) -> Option<(Option<SubscriberId>, usize, usize)> {
        self.inner
            .lock_step()
            .map(|l| (l.paced(), l.outstanding(), l.backlog()))
    }

    /// Whether the source's own OHLC events are the session OHLC events (a recording, an
    /// upstream server): then the hub makes none after trades.
    #[getter]
    fn source_session_ohlc(&self) -> bool {
        self.inner.market().source_session_ohlc()
    }

    #[setter]
    fn set_source_session_ohlc(&mut self, yes: bool) {
        self.inner.set_source_session_ohlc(yes);
    }

    /// From now on every published batch is also encoded for Redis (`serve --publish`, SPEC
    /// §7): one `PUBLISH` command per event (`SPUBLISH` when `sharded`), with its channel's
    /// next `pseq`; take them with `take_redis`.
    fn enable_redis_publish(&mut self, sharded: bool) {
        self.inner.set_publisher(Some(Publisher::new(sharded)));
    }

    /// Routes each of the 16384 hash slots to a node index (a Redis Cluster's topology).
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts a Python sequence as a Vec
    fn set_redis_slot_nodes(&mut self, slot_nodes: Vec<u16>) -> PyResult<()> {
        let publisher = self
            .inner
            .publisher_mut()
            .ok_or_else(|| config_error("publish: enable_redis_publish first"))?;
        publisher.set_slot_nodes(slot_nodes);
        Ok(())
    }

    /// Starts or stops repeating events on a Cluster's whole-market channel (one of
    /// `redis_market_channels()`) while an edge listens there; `ConfigError` for another name.
    fn set_redis_market_wanted(&mut self, channel: &str, wanted: bool) -> PyResult<()> {
        let publisher = self
            .inner
            .publisher_mut()
            .ok_or_else(|| config_error("publish: enable_redis_publish first"))?;
        if publisher.set_market_wanted(channel, wanted) {
            Ok(())
        } else {
            Err(config_error(format!(
                "{channel}: not a whole-market channel"
            )))
        }
    }

    /// The publish commands since the last call: `[(node, commands, count)]` (node 0 without a
    /// cluster topology).
    fn take_redis<'py>(&mut self, py: Python<'py>) -> Vec<(usize, Bound<'py, PyBytes>, u64)> {
        let mut out = Vec::new();
        if let Some(publisher) = self.inner.publisher_mut() {
            publisher.take(|node, bytes, count| out.push((node, PyBytes::new(py, bytes), count)));
        }
        out
    }

    /// Commands encoded for Redis so far: events, and their whole-market copies on a Cluster
    /// (`None`: not publishing).
    #[getter]
    fn redis_published(&mut self) -> Option<u64> {
        self.inner.publisher_mut().map(|p| p.published())
    }

    /// Events refused so far (not encodable or not aggregatable).
    #[getter]
    fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Why the first refused event was refused.
    #[getter]
    fn first_error(&self) -> Option<String> {
        self.first_error.clone()
    }
}

impl PyHub {
    fn note(&mut self, rejections: Rejections) {
        self.rejected += rejections.count;
        if self.first_error.is_none() {
            self.first_error = rejections.first.map(|e| e.to_string());
        }
    }

    /// The gathered output as `[(subscribers, frames, count)]`.
    fn take_deliveries<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Delivery<'py>>> {
        let mut out = Vec::new();
        let mut failed = None;
        self.inner.take_output(|ids, output| {
            // Gathered straight into the new bytes object: no intermediate buffer.
            match PyBytes::new_with(py, output.len(), |buf| {
                output.write_to(buf);
                Ok(())
            }) {
                Ok(frames) => out.push((ids.to_vec(), frames, output.count())),
                Err(e) => failed = Some(e),
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// The built-in synthetic market (see `fastfeed_core::synthetic`).
#[pyclass(name = "SyntheticMarket", module = "fastfeed._core")]
pub struct PySyntheticMarket {
    inner: SyntheticMarket,
}

fn underlying(field: &str, (symbol, price): (String, f64)) -> PyResult<Underlying> {
    let symbol =
        Symbol::new(&symbol).map_err(|e| config_error(format!("{field} {symbol:?}: {e}")))?;
    Ok(Underlying { symbol, price })
}

#[pymethods]
impl PySyntheticMarket {
    /// Registers the market's contracts with `hub` and declares them its universe.
    #[new]
    #[pyo3(signature = (hub, *, seed, stocks, index=None, chain_underlying=None, expirations=vec![], strikes=10))]
    #[allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]
    fn new(
        mut hub: PyRefMut<'_, PyHub>,
        seed: u64,
        stocks: Vec<(String, f64)>,
        index: Option<(String, f64)>,
        chain_underlying: Option<usize>,
        expirations: Vec<(u32, f64)>,
        strikes: usize,
    ) -> PyResult<Self> {
        let spec = MarketSpec {
            seed,
            stocks: stocks
                .into_iter()
                .map(|s| underlying("symbols", s))
                .collect::<PyResult<_>>()?,
            index: index.map(|i| underlying("index", i)).transpose()?,
            chain: chain_underlying.map(|underlying| Chain {
                underlying,
                expirations: expirations
                    .iter()
                    .map(|&(date, years)| Expiration { date, years })
                    .collect(),
                strikes,
            }),
        };
        let mut universe = Universe::new();
        let inner = SyntheticMarket::new(&spec, |key| {
            universe.insert(&key);
            hub.inner.add_contract(key)
        })
        .map_err(|e| config_error(e.to_string()))?;
        hub.inner.set_universe(universe);
        Ok(Self { inner })
    }

    /// Ids of the market's contracts, in registration order.
    #[getter]
    fn contracts(&self) -> Vec<u32> {
        self.inner.contracts().collect()
    }

    /// Draws the next `n` events, stamped `date` and spread over `(from_ms, to_ms]`.
    fn draw(&mut self, n: usize, date: u32, from_ms: u32, to_ms: u32) -> PySourceBatch {
        let mut events = Vec::with_capacity(n);
        self.inner.generate(date, from_ms, to_ms, n, &mut events);
        PySourceBatch::of_events(events)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHub>()?;
    m.add_class::<PySourceBatch>()?;
    m.add_class::<PySyntheticMarket>()?;
    Ok(())
}
