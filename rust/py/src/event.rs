//! Binding of the event codec: `EventEncoder` (numpy columns → ready frames), `EventDecoder`
//! (payloads or socket reads → `EventBatch`), `EventBatch` (columns as numpy arrays, moved out of
//! Rust vectors without copying, or copied when they hold a few rows).

use fastfeed_core::contract::{is_calendar_date, ContractKey, Right, SecType, Symbol};
use fastfeed_core::event::{
    EventBatch, EventBody, EventDecoder, EventEncoder, EventHeader, EventKind, Ohlc, OpenInterest,
    Quote, Stats, Trade,
};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyTuple};

use crate::bars::PyBarBook;
use crate::errors::event_encode_error;
use crate::hub::{PyHub, PySourceBatch};
use fastfeed_core::hub::JsonEventDecoder;

/// `(sec_type, symbol, expiration, strike, right)`, option fields `None` for stocks and indices.
pub(crate) type ContractTuple = (
    &'static str,
    String,
    Option<u32>,
    Option<u32>,
    Option<&'static str>,
);

pub(crate) fn contract_tuple(key: &ContractKey) -> ContractTuple {
    let option = key.right.is_some();
    (
        key.sec_type.as_str(),
        key.symbol.as_str().to_owned(),
        option.then_some(key.expiration),
        option.then_some(key.strike),
        key.right.map(Right::as_str),
    )
}

// ------------------------------------------------------------------------------------------
// Encoding

static ASCONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One input column: a 1-d array or a scalar broadcast to every row.
enum Column<'py, T: numpy::Element> {
    Array(PyReadonlyArray1<'py, T>),
    Scalar(T),
}

/// An integer column, kept in the signedness it came with so no value is reinterpreted.
enum IntColumn<'py> {
    Signed(Column<'py, i64>),
    Unsigned(Column<'py, u64>),
}

impl<T: numpy::Element + Copy> Column<'_, T> {
    fn len(&self) -> Option<usize> {
        match self {
            Column::Array(a) => Some(a.len()),
            Column::Scalar(_) => None,
        }
    }

    fn slice(&self) -> &[T] {
        match self {
            // Arrays are made C-contiguous in `convert`, so this cannot fail.
            Column::Array(a) => a.as_slice().unwrap_or(&[]),
            Column::Scalar(v) => std::slice::from_ref(v),
        }
    }
}

/// Converts `obj` to a contiguous 1-d array of `dtype` (`obj` already checked to be of a kind
/// that converts without loss of meaning).
fn convert<'py, T: numpy::Element + Copy>(
    arr: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Column<'py, T>> {
    let py = arr.py();
    let f = ASCONTIGUOUS.import(py, "numpy", "ascontiguousarray")?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let converted = f.call1((arr, dtype))?;
    if ndim == 0 {
        let flat = converted.call_method1("reshape", (1,))?;
        let a: PyReadonlyArray1<'py, T> = flat.extract()?;
        let v = *a
            .as_slice()?
            .first()
            .ok_or_else(|| event_encode_error("empty scalar"))?;
        return Ok(Column::Scalar(v));
    }
    Ok(Column::Array(converted.extract()?))
}

/// `obj` as it is, when it is a C-contiguous 1-d array of `T` (what `convert` would make of it
/// anyway).
fn contiguous<'py, T: numpy::Element + Copy>(obj: &Bound<'py, PyAny>) -> Option<Column<'py, T>> {
    let array = obj.cast::<PyArray1<T>>().ok()?;
    if !array.is_c_contiguous() {
        return None;
    }
    array.try_readonly().ok().map(Column::Array)
}

static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn as_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<(Bound<'py, PyAny>, String)> {
    let arr = ASARRAY
        .import(obj.py(), "numpy", "asarray")?
        .call1((obj,))?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim > 1 {
        return Err(event_encode_error(format!(
            "{name}: expected a 1-d array or a scalar, got {ndim} dimensions"
        )));
    }
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    Ok((arr, kind))
}

fn int_column<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<IntColumn<'py>> {
    // The cheap cases first: a Python int (not a bool), an int64 or uint64 array as numpy
    // would convert it (one event, or columns built as the core reads them, cost no numpy
    // call); anything else goes through numpy.asarray.
    if obj.is_exact_instance_of::<PyInt>() {
        if let Ok(v) = obj.extract::<i64>() {
            return Ok(IntColumn::Signed(Column::Scalar(v)));
        }
        if let Ok(v) = obj.extract::<u64>() {
            return Ok(IntColumn::Unsigned(Column::Scalar(v)));
        }
    }
    if let Some(column) = contiguous::<i64>(obj) {
        return Ok(IntColumn::Signed(column));
    }
    if let Some(column) = contiguous::<u64>(obj) {
        return Ok(IntColumn::Unsigned(column));
    }
    let (arr, kind) = as_array(obj, name)?;
    match kind.as_str() {
        "i" => Ok(IntColumn::Signed(convert(&arr, "int64")?)),
        "u" => Ok(IntColumn::Unsigned(convert(&arr, "uint64")?)),
        _ => match python_int_column(obj)? {
            Some(column) => Ok(column),
            None => Err(event_encode_error(format!(
                "{name}: expected integers, got dtype {}",
                arr.getattr("dtype")?.str()?
            ))),
        },
    }
}

/// Whether `obj` is a list or tuple of Python ints (not bools).
fn python_ints(obj: &Bound<'_, PyAny>) -> bool {
    if let Ok(list) = obj.cast::<PyList>() {
        list.iter().all(|v| v.is_exact_instance_of::<PyInt>())
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().all(|v| v.is_exact_instance_of::<PyInt>())
    } else {
        false
    }
}

/// A list or tuple of Python ints that numpy made floats of (it does when they do not all fit
/// int64, e.g. `[0, 2**63]`), as uint64 or int64 when they fit one of them, so that it is
/// checked value by value as an array of them would be; `None` for anything else.
fn python_int_column<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<IntColumn<'py>>> {
    if !python_ints(obj) {
        return Ok(None);
    }
    let asarray = ASARRAY.import(obj.py(), "numpy", "asarray")?;
    if let Ok(arr) = asarray.call1((obj, "uint64")) {
        return Ok(Some(IntColumn::Unsigned(convert(&arr, "uint64")?)));
    }
    if let Ok(arr) = asarray.call1((obj, "int64")) {
        return Ok(Some(IntColumn::Signed(convert(&arr, "int64")?)));
    }
    Ok(None)
}

fn float_column<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Column<'py, f64>> {
    if obj.is_exact_instance_of::<PyFloat>() {
        return Ok(Column::Scalar(obj.extract::<f64>()?));
    }
    if let Some(column) = contiguous::<f64>(obj) {
        return Ok(column);
    }
    let (arr, kind) = as_array(obj, name)?;
    match kind.as_str() {
        "f" | "i" | "u" => convert(&arr, "float64"),
        _ => Err(event_encode_error(format!(
            "{name}: expected numbers, got dtype {}",
            arr.getattr("dtype")?.str()?
        ))),
    }
}

/// Reads row `i` of an integer column as a value of the target type, with a range check.
struct IntReader<'a> {
    name: &'static str,
    signed: &'a [i64],
    unsigned: &'a [u64],
}

impl<'a> IntReader<'a> {
    fn new(name: &'static str, col: &'a IntColumn<'_>) -> Self {
        match col {
            IntColumn::Signed(c) => IntReader {
                name,
                signed: c.slice(),
                unsigned: &[],
            },
            IntColumn::Unsigned(c) => IntReader {
                name,
                signed: &[],
                unsigned: c.slice(),
            },
        }
    }

    #[inline]
    fn get<T: TryFrom<i128> + Into<i128> + Bounded>(&self, i: usize) -> PyResult<T> {
        let v = if self.signed.is_empty() {
            i128::from(self.unsigned[if self.unsigned.len() == 1 { 0 } else { i }])
        } else {
            i128::from(self.signed[if self.signed.len() == 1 { 0 } else { i }])
        };
        T::try_from(v).map_err(|_| {
            event_encode_error(format!(
                "{}[{i}]: {v} is out of range {}..={}",
                self.name,
                T::MIN_VALUE.into(),
                T::MAX_VALUE.into()
            ))
        })
    }
}

trait Bounded: Sized {
    const MIN_VALUE: Self;
    const MAX_VALUE: Self;
}
macro_rules! bounded {
    ($($t:ty),*) => { $(impl Bounded for $t { const MIN_VALUE: Self = <$t>::MIN; const MAX_VALUE: Self = <$t>::MAX; })* };
}
bounded!(u32, u64, i64);

fn float_at(col: &[f64], i: usize) -> f64 {
    col[if col.len() == 1 { 0 } else { i }]
}

/// Number of rows: the common length of the array columns (1 if all are scalars).
fn row_count(lengths: &[(&'static str, Option<usize>)]) -> PyResult<usize> {
    let mut n: Option<(&str, usize)> = None;
    for &(name, len) in lengths {
        if let Some(len) = len {
            match n {
                None => n = Some((name, len)),
                Some((first, m)) if m != len => {
                    return Err(event_encode_error(format!(
                        "columns have different lengths: {first} has {m}, {name} has {len}"
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(n.map_or(1, |(_, len)| len))
}

fn int_len(c: &IntColumn<'_>) -> Option<usize> {
    match c {
        IntColumn::Signed(c) => c.len(),
        IntColumn::Unsigned(c) => c.len(),
    }
}

/// Optional `ids` / `pseqs` header columns.
struct HeaderColumns<'py> {
    ids: Option<IntColumn<'py>>,
    pseqs: Option<IntColumn<'py>>,
}

impl<'py> HeaderColumns<'py> {
    fn new(ids: Option<&Bound<'py, PyAny>>, pseqs: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
        Ok(HeaderColumns {
            ids: ids.map(|c| int_column(c, "ids")).transpose()?,
            pseqs: pseqs.map(|c| int_column(c, "pseqs")).transpose()?,
        })
    }

    fn lengths(&self) -> [(&'static str, Option<usize>); 2] {
        [
            ("ids", self.ids.as_ref().and_then(int_len)),
            ("pseqs", self.pseqs.as_ref().and_then(int_len)),
        ]
    }
}

/// Output framing of the `encode_*` methods.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    WebSocket,
    JsonLines,
}

fn framing(name: &str) -> PyResult<Framing> {
    match name {
        "websocket" => Ok(Framing::WebSocket),
        "jsonl" => Ok(Framing::JsonLines),
        _ => Err(event_encode_error(format!(
            "framing: expected \"websocket\" or \"jsonl\", got {name:?}"
        ))),
    }
}

/// Encodes events from numpy columns into ready server frames (FIN, text, unmasked), all in
/// one `bytes` for one socket write.
#[pyclass(name = "EventEncoder", module = "fastfeed._core")]
pub struct PyEventEncoder {
    inner: EventEncoder,
    out: Vec<u8>,
}

#[pymethods]
impl PyEventEncoder {
    #[new]
    fn new() -> Self {
        PyEventEncoder {
            inner: EventEncoder::new(),
            out: Vec::new(),
        }
    }

    /// Registers a contract and returns its id (the same contract always gets the same id).
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

    /// The contract registered under `contract_id`.
    fn contract(&self, contract_id: u32) -> PyResult<ContractTuple> {
        self.inner
            .contract(contract_id)
            .map(contract_tuple)
            .ok_or_else(|| {
                event_encode_error(format!("contract_id: unknown contract id {contract_id}"))
            })
    }

    /// Number of registered contracts.
    #[getter]
    fn contract_count(&self) -> usize {
        self.inner.contract_count()
    }

    /// TRADE events from columns (arrays of one length, or scalars).
    #[pyo3(signature = (contract_id, ms_of_day, sequence, size, condition, price, exchange, date, *, ids=None, pseqs=None, framing="websocket"))]
    #[allow(clippy::too_many_arguments)]
    fn encode_trades<'py>(
        &mut self,
        py: Python<'py>,
        contract_id: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        sequence: &Bound<'py, PyAny>,
        size: &Bound<'py, PyAny>,
        condition: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        exchange: &Bound<'py, PyAny>,
        date: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        pseqs: Option<&Bound<'py, PyAny>>,
        framing: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let framing = self::framing(framing)?;
        let header = HeaderColumns::new(ids, pseqs)?;
        trade_rows(
            contract_id,
            ms_of_day,
            sequence,
            size,
            condition,
            price,
            exchange,
            date,
            &header.lengths(),
            |n, row| self.encode_rows(py, n, &header, framing, row),
        )
    }

    /// QUOTE events from columns (arrays of one length, or scalars).
    #[pyo3(signature = (contract_id, ms_of_day, bid_size, bid_exchange, bid, bid_condition, ask_size, ask_exchange, ask, ask_condition, date, *, ids=None, pseqs=None, framing="websocket"))]
    #[allow(clippy::too_many_arguments)]
    fn encode_quotes<'py>(
        &mut self,
        py: Python<'py>,
        contract_id: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        bid_size: &Bound<'py, PyAny>,
        bid_exchange: &Bound<'py, PyAny>,
        bid: &Bound<'py, PyAny>,
        bid_condition: &Bound<'py, PyAny>,
        ask_size: &Bound<'py, PyAny>,
        ask_exchange: &Bound<'py, PyAny>,
        ask: &Bound<'py, PyAny>,
        ask_condition: &Bound<'py, PyAny>,
        date: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        pseqs: Option<&Bound<'py, PyAny>>,
        framing: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let framing = self::framing(framing)?;
        let header = HeaderColumns::new(ids, pseqs)?;
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
            &header.lengths(),
            |n, row| self.encode_rows(py, n, &header, framing, row),
        )
    }

    /// OHLC events from columns (arrays of one length, or scalars).
    #[pyo3(signature = (contract_id, ms_of_day, open, high, low, close, volume, count, date, *, ids=None, pseqs=None, framing="websocket"))]
    #[allow(clippy::too_many_arguments)]
    fn encode_ohlc<'py>(
        &mut self,
        py: Python<'py>,
        contract_id: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        open: &Bound<'py, PyAny>,
        high: &Bound<'py, PyAny>,
        low: &Bound<'py, PyAny>,
        close: &Bound<'py, PyAny>,
        volume: &Bound<'py, PyAny>,
        count: &Bound<'py, PyAny>,
        date: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        pseqs: Option<&Bound<'py, PyAny>>,
        framing: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let framing = self::framing(framing)?;
        let header = HeaderColumns::new(ids, pseqs)?;
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
            &header.lengths(),
            |n, row| self.encode_rows(py, n, &header, framing, row),
        )
    }

    /// `OPEN_INTEREST` events from columns (arrays of one length, or scalars).
    #[pyo3(signature = (contract_id, ms_of_day, open_interest, date, *, ids=None, pseqs=None, framing="websocket"))]
    #[allow(clippy::too_many_arguments)]
    fn encode_open_interest<'py>(
        &mut self,
        py: Python<'py>,
        contract_id: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        open_interest: &Bound<'py, PyAny>,
        date: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        pseqs: Option<&Bound<'py, PyAny>>,
        framing: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let framing = self::framing(framing)?;
        let header = HeaderColumns::new(ids, pseqs)?;
        open_interest_rows(
            contract_id,
            ms_of_day,
            open_interest,
            date,
            &header.lengths(),
            |n, row| self.encode_rows(py, n, &header, framing, row),
        )
    }

    /// One STATUS event.
    #[pyo3(signature = (sent, dropped, *, id=None, pseq=None, framing="websocket"))]
    fn encode_status<'py>(
        &mut self,
        py: Python<'py>,
        sent: u64,
        dropped: u64,
        id: Option<u64>,
        pseq: Option<u64>,
        framing: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let framing = self::framing(framing)?;
        let header = EventHeader { id, pseq };
        let stats = Stats { sent, dropped };
        self.out.clear();
        if framing == Framing::WebSocket {
            self.inner.write_status_frame(&mut self.out, header, stats);
        } else {
            fastfeed_core::event::write_status_json(&mut self.out, header, stats);
            self.out.push(b'\n');
        }
        Ok(PyBytes::new(py, &self.out))
    }
}

impl PyEventEncoder {
    fn encode_rows<'py>(
        &mut self,
        py: Python<'py>,
        n: usize,
        header: &HeaderColumns<'_>,
        framing: Framing,
        mut row: impl FnMut(usize) -> PyResult<(u32, EventBody)>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = header.ids.as_ref().map(|c| IntReader::new("ids", c));
        let pseqs = header.pseqs.as_ref().map(|c| IntReader::new("pseqs", c));
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let result = (|| {
            for i in 0..n {
                let (contract, body) = row(i)?;
                let header = EventHeader {
                    id: ids.as_ref().map(|r| r.get::<u64>(i)).transpose()?,
                    pseq: pseqs.as_ref().map(|r| r.get::<u64>(i)).transpose()?,
                };
                let written = match framing {
                    Framing::WebSocket => self.inner.write_frame(&mut out, contract, header, &body),
                    Framing::JsonLines => self
                        .inner
                        .write_json(&mut out, contract, header, &body)
                        .map(|()| out.push(b'\n')),
                };
                written.map_err(|e| event_encode_error(format!("row {i}: {e}")))?;
            }
            Ok(())
        })();
        let bytes = result.map(|()| PyBytes::new(py, &out));
        self.out = out;
        bytes
    }
}

pub(crate) fn contract_key(
    sec_type: &str,
    symbol: &str,
    expiration: Option<u32>,
    strike: Option<u32>,
    right: Option<&str>,
) -> PyResult<ContractKey> {
    let sec = SecType::parse(sec_type).ok_or_else(|| {
        event_encode_error(format!(
            "sec_type: expected \"STOCK\", \"OPTION\" or \"INDEX\", got {sec_type:?}"
        ))
    })?;
    let symbol = Symbol::new(symbol).map_err(|e| event_encode_error(format!("symbol: {e}")))?;
    if sec != SecType::Option {
        if expiration.is_some() || strike.is_some() || right.is_some() {
            return Err(event_encode_error(format!(
                "expiration, strike and right are only for OPTION contracts, not {sec_type}"
            )));
        }
        return Ok(if sec == SecType::Index {
            ContractKey::index(symbol)
        } else {
            ContractKey::stock(symbol)
        });
    }
    let expiration = expiration
        .filter(|e| is_calendar_date(u64::from(*e)))
        .ok_or_else(|| event_encode_error("expiration: expected a calendar date YYYYMMDD"))?;
    let strike = strike.filter(|s| *s > 0).ok_or_else(|| {
        event_encode_error("strike: expected a positive integer (thousandths of a dollar)")
    })?;
    let right = right
        .and_then(Right::parse)
        .ok_or_else(|| event_encode_error("right: expected \"C\" or \"P\""))?;
    Ok(ContractKey::option(symbol, expiration, strike, right))
}

// ------------------------------------------------------------------------------------------
// Decoding

/// Decodes event frames (server → client WebSocket frames, any chunking) into `EventBatch`es;
/// contract ids and the received count live as long as the decoder.
#[pyclass(name = "EventDecoder", module = "fastfeed._core")]
pub struct PyEventDecoder {
    inner: EventDecoder,
    bars_skipped: u64,
    /// `feed_source`'s contract spellings and their ids in its hub.
    source: JsonEventDecoder,
}

/// Socket reads at least this large are decoded with the GIL released.
const DETACH_THRESHOLD: usize = 16 * 1024;

#[pymethods]
impl PyEventDecoder {
    #[new]
    #[pyo3(
        signature = (*, max_message_size=fastfeed_core::event::CLIENT_MAX_MESSAGE_SIZE),
        text_signature = "(*, max_message_size=1048576)"
    )]
    fn new(max_message_size: usize) -> Self {
        PyEventDecoder {
            inner: EventDecoder::with_max_message_size(max_message_size),
            bars_skipped: 0,
            source: JsonEventDecoder::new(),
        }
    }

    /// Decodes one socket read (any chunking) and returns what it completed. With `bars`,
    /// the batch's trades are applied to that `BarBook` in the same call (contract ids are
    /// this decoder's); the GIL is held while the rings change.
    #[pyo3(signature = (data, bars=None))]
    fn feed(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        bars: Option<&Bound<'_, PyBarBook>>,
    ) -> PyResult<PyEventBatch> {
        let batch = if data.len() >= DETACH_THRESHOLD {
            let inner = &mut self.inner;
            py.detach(|| inner.feed(data))
        } else {
            self.inner.feed(data)
        };
        if let Some(bars) = bars {
            let t = &batch.trades;
            self.bars_skipped += bars.try_borrow_mut()?.inner.update_decoded(
                &t.contract_id,
                &t.date,
                &t.ms_of_day,
                &t.price,
                &t.size,
            );
        }
        Ok(PyEventBatch::new(batch))
    }

    /// Decodes one socket read of an upstream server for a relay: each data event goes, with
    /// its original bytes, into `batch` (its contract registered with `hub`, the hub's ids;
    /// always the same hub); everything else (STATUS, acknowledgements, control frames,
    /// malformed events) comes back in the returned batch, as from `feed`. `received` counts
    /// the data events taken.
    fn feed_source(
        &mut self,
        data: &[u8],
        mut hub: PyRefMut<'_, PyHub>,
        mut batch: PyRefMut<'_, PySourceBatch>,
    ) -> PyEventBatch {
        let hub = &mut hub.inner;
        let source = &mut self.source;
        let out = self.inner.feed_with(data, |json| {
            source.push(&mut batch.inner, hub, json).unwrap_or(false)
        });
        PyEventBatch::new(out)
    }

    /// Starts a new connection: fresh frame state, `received` from zero, the same contract
    /// ids (stable across reconnects); anything pending is discarded.
    fn new_connection(&mut self) {
        self.inner.new_connection();
    }

    /// Trades `feed(..., bars=)` could not apply (a time beyond 2^31 or a contract id beyond
    /// the book's limit).
    #[getter]
    fn bars_skipped(&self) -> u64 {
        self.bars_skipped
    }

    /// Decodes one unframed event payload (a Redis message, a JSON Lines record) into the
    /// pending batch returned by `take_batch`.
    fn push_payload(&mut self, payload: &[u8]) {
        self.inner.events_mut().push_payload(payload);
    }

    /// Returns the batch accumulated by `push_payload` and starts a new one.
    fn take_batch(&mut self) -> PyEventBatch {
        PyEventBatch::new(self.inner.events_mut().take_batch())
    }

    /// True once a close frame was received.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Data events decoded so far.
    #[getter]
    fn received(&self) -> u64 {
        self.inner.events().received()
    }

    /// Every interned contract, indexed by contract id.
    #[getter]
    fn contracts(&self) -> Vec<ContractTuple> {
        self.inner
            .events()
            .contracts()
            .iter()
            .map(contract_tuple)
            .collect()
    }

    /// The contract with id `contract_id`; `KeyError` if there is none.
    fn contract(&self, contract_id: u32) -> PyResult<ContractTuple> {
        self.inner
            .events()
            .contract(contract_id)
            .map(contract_tuple)
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(contract_id))
    }
}

/// Columns not yet handed to Python (moved into numpy arrays on first access).
#[derive(Default)]
struct Pending {
    batch: EventBatch,
    trades: Option<Py<PyDict>>,
    quotes: Option<Py<PyDict>>,
    ohlc: Option<Py<PyDict>>,
    open_interest: Option<Py<PyDict>>,
    status: Option<Py<PyDict>>,
    kinds: Option<Py<PyAny>>,
}

/// What one `feed`/`take_batch` produced: per-type columns as numpy arrays plus everything else
/// in arrival order (see `kinds`).
#[pyclass(name = "EventBatch", module = "fastfeed._core")]
pub struct PyEventBatch {
    pending: Pending,
    /// Message count, kept because `kinds` moves out on first access.
    len: usize,
    /// Messages per kind, counted at decode time (before `kinds` moves out).
    counts: [usize; EventKind::COUNT],
}

/// Columns up to this many rows are copied into numpy's own memory: for a few rows, a copy
/// costs less than the Python object that keeps a moved `Vec` alive.
const COPY_ROWS: usize = 64;

/// A column as a numpy array: copied when short, else moved (no copy).
fn column_array<T: numpy::Element>(py: Python<'_>, column: Vec<T>) -> Bound<'_, PyArray1<T>> {
    if column.len() <= COPY_ROWS {
        PyArray1::from_slice(py, &column)
    } else {
        PyArray1::from_vec(py, column)
    }
}

macro_rules! column_dict {
    ($py:expr, $cols:expr, [$($field:ident),*]) => {{
        let d = PyDict::new($py);
        let cols = std::mem::take(&mut $cols);
        $(d.set_item(pyo3::intern!($py, stringify!($field)), column_array($py, cols.$field))?;)*
        d.unbind()
    }};
}

#[pymethods]
impl PyEventBatch {
    /// Number of messages (control frames, acks and errors included).
    fn __len__(&self) -> usize {
        self.len
    }

    fn __repr__(&self) -> String {
        let b = &self.pending.batch;
        format!(
            "EventBatch(messages={}, errors={}, new_contracts={})",
            self.len,
            b.errors.len(),
            b.new_contracts.len()
        )
    }

    /// Message kinds in arrival order (`uint8`, values of `fastfeed.events.EventKind`).
    #[getter]
    fn kinds(&mut self, py: Python<'_>) -> Py<PyAny> {
        let p = &mut self.pending;
        p.kinds
            .get_or_insert_with(|| {
                PyArray1::from_vec(py, std::mem::take(&mut p.batch.kinds))
                    .into_any()
                    .unbind()
            })
            .clone_ref(py)
    }

    /// Messages per kind: a tuple indexed by `fastfeed.events.EventKind` value (the counts
    /// of `kinds`).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.counts)
    }

    /// The number of data events when they are all the batch holds (no STATUS, ack, control
    /// frame, unknown message, error, new contract or protocol error), else `None`.
    #[getter]
    fn data_only(&self) -> Option<usize> {
        self.pending.batch.data_only(&self.counts)
    }

    /// TRADE columns.
    #[getter]
    fn trades(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let p = &mut self.pending;
        cached(py, &mut p.trades, || {
            Ok(column_dict!(
                py,
                p.batch.trades,
                [
                    contract_id,
                    id,
                    ms_of_day,
                    sequence,
                    size,
                    condition,
                    price,
                    exchange,
                    date
                ]
            ))
        })
    }

    /// QUOTE columns.
    #[getter]
    fn quotes(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let p = &mut self.pending;
        cached(py, &mut p.quotes, || {
            Ok(column_dict!(
                py,
                p.batch.quotes,
                [
                    contract_id,
                    id,
                    ms_of_day,
                    bid_size,
                    bid_exchange,
                    bid,
                    bid_condition,
                    ask_size,
                    ask_exchange,
                    ask,
                    ask_condition,
                    date
                ]
            ))
        })
    }

    /// OHLC columns.
    #[getter]
    fn ohlc(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let p = &mut self.pending;
        cached(py, &mut p.ohlc, || {
            Ok(column_dict!(
                py,
                p.batch.ohlc,
                [
                    contract_id,
                    id,
                    ms_of_day,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    count,
                    date
                ]
            ))
        })
    }

    /// `OPEN_INTEREST` columns.
    #[getter]
    fn open_interest(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let p = &mut self.pending;
        cached(py, &mut p.open_interest, || {
            Ok(column_dict!(
                py,
                p.batch.open_interest,
                [contract_id, id, ms_of_day, open_interest, date]
            ))
        })
    }

    /// STATUS columns (`sent`, `dropped` (-1 when absent), `received`, `connected` (0 when
    /// the server lost its upstream), `end_of_snapshot`).
    #[getter]
    fn status(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let p = &mut self.pending;
        cached(py, &mut p.status, || {
            Ok(column_dict!(
                py,
                p.batch.status,
                [sent, dropped, received, connected, end_of_snapshot]
            ))
        })
    }

    /// Answers to commands: `(req_id, response, message, result)`. §3.2 `REQ_RESPONSE`s
    /// have `result` `None`; a §4 reply has `response` `OK` or its error code, and a non-null
    /// `result` as raw JSON text.
    #[getter]
    fn acks(&self) -> Vec<AckTuple> {
        self.pending
            .batch
            .acks
            .iter()
            .map(|a| {
                (
                    a.req_id,
                    a.response.clone(),
                    a.message.clone(),
                    a.result.clone(),
                )
            })
            .collect()
    }

    /// Messages that are not events, as received.
    #[getter]
    fn other<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.pending.batch.other.iter().map(|o| PyBytes::new(py, o)),
        )
    }

    /// Malformed events: `(index in kinds, message)`.
    #[getter]
    fn errors(&self) -> Vec<(usize, String)> {
        self.pending
            .batch
            .errors
            .iter()
            .map(|e| (e.index, e.message.clone()))
            .collect()
    }

    /// Contracts first seen in this batch: `(contract_id, sec_type, symbol, expiration, strike, right)`.
    #[getter]
    fn new_contracts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .pending
            .batch
            .new_contracts
            .iter()
            .map(|(id, key)| {
                let (s, sym, e, k, r) = contract_tuple(key);
                (*id, s, sym, e, k, r).into_pyobject(py)
            })
            .collect::<PyResult<Vec<Bound<'py, PyTuple>>>>()?;
        PyList::new(py, items)
    }

    /// Control frames: `(opcode, payload)`.
    #[getter]
    fn control<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .pending
            .batch
            .control
            .iter()
            .map(|c| (c.opcode, PyBytes::new(py, &c.payload)).into_pyobject(py))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The protocol error that stopped frame decoding: `(message, close_code)`, or `None`.
    #[getter]
    fn protocol_error(&self) -> Option<(String, u16)> {
        self.pending.batch.protocol_error.clone()
    }
}

/// An ack as Python sees it: `(req_id, response, message, result)`.
type AckTuple = (Option<u64>, String, Option<String>, Option<String>);

/// Returns the dict in `slot`, building it on first use.
fn cached(
    py: Python<'_>,
    slot: &mut Option<Py<PyDict>>,
    build: impl FnOnce() -> PyResult<Py<PyDict>>,
) -> PyResult<Py<PyDict>> {
    if let Some(d) = slot {
        return Ok(d.clone_ref(py));
    }
    let d = build()?;
    *slot = Some(d.clone_ref(py));
    Ok(d)
}

impl PyEventBatch {
    fn new(batch: EventBatch) -> Self {
        PyEventBatch {
            len: batch.len(),
            counts: batch.kind_counts(),
            pending: Pending {
                batch,
                ..Pending::default()
            },
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventEncoder>()?;
    m.add_class::<PyEventDecoder>()?;
    m.add_class::<PyEventBatch>()?;
    Ok(())
}

/// TRADE rows from columns (arrays of one length, or scalars): checks the columns (and the
/// `extra` lengths) and hands `consume` the row count and a reader of row `i`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn trade_rows<'py, R>(
    contract_id: &Bound<'py, PyAny>,
    ms_of_day: &Bound<'py, PyAny>,
    sequence: &Bound<'py, PyAny>,
    size: &Bound<'py, PyAny>,
    condition: &Bound<'py, PyAny>,
    price: &Bound<'py, PyAny>,
    exchange: &Bound<'py, PyAny>,
    date: &Bound<'py, PyAny>,
    extra: &[(&'static str, Option<usize>)],
    consume: impl FnOnce(usize, &dyn Fn(usize) -> PyResult<(u32, EventBody)>) -> PyResult<R>,
) -> PyResult<R> {
    let cols = [
        int_column(contract_id, "contract_id")?,
        int_column(ms_of_day, "ms_of_day")?,
        int_column(sequence, "sequence")?,
        int_column(size, "size")?,
        int_column(condition, "condition")?,
        int_column(exchange, "exchange")?,
        int_column(date, "date")?,
    ];
    let price = float_column(price, "price")?;
    let names = [
        "contract_id",
        "ms_of_day",
        "sequence",
        "size",
        "condition",
        "exchange",
        "date",
    ];
    let mut lengths: Vec<_> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| (*n, int_len(c)))
        .collect();
    lengths.push(("price", price.len()));
    lengths.extend_from_slice(extra);
    let n = row_count(&lengths)?;
    let r: Vec<IntReader<'_>> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| IntReader::new(n, c))
        .collect();
    let price = price.slice();
    consume(n, &|i| {
        Ok((
            r[0].get(i)?,
            EventBody::Trade(Trade {
                ms_of_day: r[1].get(i)?,
                sequence: r[2].get(i)?,
                size: r[3].get(i)?,
                condition: r[4].get(i)?,
                price: float_at(price, i),
                exchange: r[5].get(i)?,
                date: r[6].get(i)?,
            }),
        ))
    })
}

/// QUOTE rows from columns (arrays of one length, or scalars): checks the columns (and the
/// `extra` lengths) and hands `consume` the row count and a reader of row `i`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quote_rows<'py, R>(
    contract_id: &Bound<'py, PyAny>,
    ms_of_day: &Bound<'py, PyAny>,
    bid_size: &Bound<'py, PyAny>,
    bid_exchange: &Bound<'py, PyAny>,
    bid: &Bound<'py, PyAny>,
    bid_condition: &Bound<'py, PyAny>,
    ask_size: &Bound<'py, PyAny>,
    ask_exchange: &Bound<'py, PyAny>,
    ask: &Bound<'py, PyAny>,
    ask_condition: &Bound<'py, PyAny>,
    date: &Bound<'py, PyAny>,
    extra: &[(&'static str, Option<usize>)],
    consume: impl FnOnce(usize, &dyn Fn(usize) -> PyResult<(u32, EventBody)>) -> PyResult<R>,
) -> PyResult<R> {
    let names = [
        "contract_id",
        "ms_of_day",
        "bid_size",
        "bid_exchange",
        "bid_condition",
        "ask_size",
        "ask_exchange",
        "ask_condition",
        "date",
    ];
    let objs = [
        contract_id,
        ms_of_day,
        bid_size,
        bid_exchange,
        bid_condition,
        ask_size,
        ask_exchange,
        ask_condition,
        date,
    ];
    let cols = names
        .iter()
        .zip(objs)
        .map(|(n, o)| int_column(o, n))
        .collect::<PyResult<Vec<_>>>()?;
    let bid = float_column(bid, "bid")?;
    let ask = float_column(ask, "ask")?;
    let mut lengths: Vec<_> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| (*n, int_len(c)))
        .collect();
    lengths.push(("bid", bid.len()));
    lengths.push(("ask", ask.len()));
    lengths.extend_from_slice(extra);
    let n = row_count(&lengths)?;
    let r: Vec<IntReader<'_>> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| IntReader::new(n, c))
        .collect();
    let (bid, ask) = (bid.slice(), ask.slice());
    consume(n, &|i| {
        Ok((
            r[0].get(i)?,
            EventBody::Quote(Quote {
                ms_of_day: r[1].get(i)?,
                bid_size: r[2].get(i)?,
                bid_exchange: r[3].get(i)?,
                bid: float_at(bid, i),
                bid_condition: r[4].get(i)?,
                ask_size: r[5].get(i)?,
                ask_exchange: r[6].get(i)?,
                ask: float_at(ask, i),
                ask_condition: r[7].get(i)?,
                date: r[8].get(i)?,
            }),
        ))
    })
}

/// OHLC rows from columns (arrays of one length, or scalars): checks the columns (and the
/// `extra` lengths) and hands `consume` the row count and a reader of row `i`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ohlc_rows<'py, R>(
    contract_id: &Bound<'py, PyAny>,
    ms_of_day: &Bound<'py, PyAny>,
    open: &Bound<'py, PyAny>,
    high: &Bound<'py, PyAny>,
    low: &Bound<'py, PyAny>,
    close: &Bound<'py, PyAny>,
    volume: &Bound<'py, PyAny>,
    count: &Bound<'py, PyAny>,
    date: &Bound<'py, PyAny>,
    extra: &[(&'static str, Option<usize>)],
    consume: impl FnOnce(usize, &dyn Fn(usize) -> PyResult<(u32, EventBody)>) -> PyResult<R>,
) -> PyResult<R> {
    let names = ["contract_id", "ms_of_day", "volume", "count", "date"];
    let objs = [contract_id, ms_of_day, volume, count, date];
    let cols = names
        .iter()
        .zip(objs)
        .map(|(n, o)| int_column(o, n))
        .collect::<PyResult<Vec<_>>>()?;
    let fnames = ["open", "high", "low", "close"];
    let fcols = fnames
        .iter()
        .zip([open, high, low, close])
        .map(|(n, o)| float_column(o, n))
        .collect::<PyResult<Vec<_>>>()?;
    let mut lengths: Vec<_> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| (*n, int_len(c)))
        .collect();
    lengths.extend(fnames.iter().zip(&fcols).map(|(n, c)| (*n, c.len())));
    lengths.extend_from_slice(extra);
    let n = row_count(&lengths)?;
    let r: Vec<IntReader<'_>> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| IntReader::new(n, c))
        .collect();
    let f: Vec<&[f64]> = fcols.iter().map(Column::slice).collect();
    consume(n, &|i| {
        Ok((
            r[0].get(i)?,
            EventBody::Ohlc(Ohlc {
                ms_of_day: r[1].get(i)?,
                open: float_at(f[0], i),
                high: float_at(f[1], i),
                low: float_at(f[2], i),
                close: float_at(f[3], i),
                volume: r[2].get(i)?,
                count: r[3].get(i)?,
                date: r[4].get(i)?,
            }),
        ))
    })
}

/// `OPEN_INTEREST` rows from columns (arrays of one length, or scalars): checks the columns (and the
/// `extra` lengths) and hands `consume` the row count and a reader of row `i`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_interest_rows<'py, R>(
    contract_id: &Bound<'py, PyAny>,
    ms_of_day: &Bound<'py, PyAny>,
    open_interest: &Bound<'py, PyAny>,
    date: &Bound<'py, PyAny>,
    extra: &[(&'static str, Option<usize>)],
    consume: impl FnOnce(usize, &dyn Fn(usize) -> PyResult<(u32, EventBody)>) -> PyResult<R>,
) -> PyResult<R> {
    let names = ["contract_id", "ms_of_day", "open_interest", "date"];
    let objs = [contract_id, ms_of_day, open_interest, date];
    let cols = names
        .iter()
        .zip(objs)
        .map(|(n, o)| int_column(o, n))
        .collect::<PyResult<Vec<_>>>()?;
    let mut lengths: Vec<_> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| (*n, int_len(c)))
        .collect();
    lengths.extend_from_slice(extra);
    let n = row_count(&lengths)?;
    let r: Vec<IntReader<'_>> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| IntReader::new(n, c))
        .collect();
    consume(n, &|i| {
        Ok((
            r[0].get(i)?,
            EventBody::OpenInterest(OpenInterest {
                ms_of_day: r[1].get(i)?,
                open_interest: r[2].get(i)?,
                date: r[3].get(i)?,
            }),
        ))
    })
}
