//! Binding of `fastfeed_core::bars`: the streaming `BarBook`, its ring views and the batch
//! `aggregate_trades`. Columns arrive as numpy arrays of exact dtypes (the Python wrapper in
//! `fastfeed/bars.py` casts); bars leave as numpy arrays that own Rust-allocated memory, or, for
//! rings, as read-only buffers over the ring storage itself.

use std::ffi::{c_int, c_void};

use fastfeed_core::bars::{self as core, Bar, SessionBar, TradeColumns};
use numpy::{Element, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{ffi, IntoPyObjectExt};

use crate::errors::bars_error;

fn map_err(e: &core::BarsError) -> PyErr {
    bars_error(e.to_string())
}

/// Borrows `obj` as a 1-D numpy array of `T`, or raises `BarsError` naming the column.
fn column<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    dtype: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    let array = obj
        .cast::<PyArray1<T>>()
        .map_err(|_| bars_error(format!("{name} must be a 1-D numpy array of {dtype}")))?;
    array
        .try_readonly()
        .map_err(|_| bars_error(format!("{name} is being written elsewhere")))
}

fn slice<'a, T: Element>(array: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| bars_error(format!("{name} must be C-contiguous")))
}

/// `(date, ms_of_day, price, size)` as slices, not yet validated.
type TradeSlices<'a> = (&'a [i32], &'a [i32], &'a [f64], &'a [i64]);

/// The four trade columns, borrowed for the duration of one call.
struct TradeArrays<'py> {
    date: PyReadonlyArray1<'py, i32>,
    ms_of_day: PyReadonlyArray1<'py, i32>,
    price: PyReadonlyArray1<'py, f64>,
    size: PyReadonlyArray1<'py, i64>,
}

impl<'py> TradeArrays<'py> {
    fn new(
        date: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        size: &Bound<'py, PyAny>,
    ) -> PyResult<Self> {
        Ok(Self {
            date: column(date, "date", "int32")?,
            ms_of_day: column(ms_of_day, "ms_of_day", "int32")?,
            price: column(price, "price", "float64")?,
            size: column(size, "size", "int64")?,
        })
    }

    fn slices(&self) -> PyResult<TradeSlices<'_>> {
        Ok((
            slice(&self.date, "date")?,
            slice(&self.ms_of_day, "ms_of_day")?,
            slice(&self.price, "price")?,
            slice(&self.size, "size")?,
        ))
    }
}

fn bar_tuple(bar: &Bar) -> (i32, i32, f64, f64, f64, f64, i64, i64, f64) {
    (
        bar.date,
        bar.start_ms,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.count,
        bar.vwap,
    )
}

type SessionTuple = (i32, i32, f64, f64, f64, f64, i64, i64);

fn session_tuple(s: &SessionBar) -> SessionTuple {
    (
        s.date, s.close_ms, s.open, s.high, s.low, s.close, s.volume, s.count,
    )
}

/// Streaming bars for many contracts (see `fastfeed_core::bars::BarBook`).
#[pyclass(module = "fastfeed._core", name = "BarBook")]
pub struct PyBarBook {
    pub(crate) inner: core::BarBook,
}

#[pymethods]
impl PyBarBook {
    #[new]
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts a list argument as an owned Vec
    #[pyo3(signature = (intervals_ms = vec![1000, 60_000], capacity = 4096))]
    fn new(intervals_ms: Vec<i64>, capacity: i64) -> PyResult<Self> {
        core::BarBook::new(&intervals_ms, capacity)
            .map(|inner| Self { inner })
            .map_err(|e| map_err(&e))
    }

    #[getter]
    fn intervals_ms(&self) -> Vec<i32> {
        self.inner.intervals_ms().to_vec()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Contract ids that have traded, in first-trade order.
    #[getter]
    fn contracts(&self) -> Vec<u32> {
        self.inner.contracts().to_vec()
    }

    /// Late trades per interval, in `intervals_ms` order.
    #[getter]
    fn late_trades(&self) -> Vec<u64> {
        self.inner.late_trades().to_vec()
    }

    /// Applies a batch of trades. The GIL stays held: ring views must never observe a write in
    /// progress (see `BarRingBuffer`).
    fn update(
        &mut self,
        contract_id: &Bound<'_, PyAny>,
        date: &Bound<'_, PyAny>,
        ms_of_day: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        size: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ids = column::<u32>(contract_id, "contract_id", "uint32")?;
        let arrays = TradeArrays::new(date, ms_of_day, price, size)?;
        let (d, m, p, s) = arrays.slices()?;
        let trades = TradeColumns::new(d, m, p, s).map_err(|e| map_err(&e))?;
        self.inner
            .update(slice(&ids, "contract_id")?, &trades)
            .map_err(|e| map_err(&e))
    }

    /// Like `update`, returning the contract's session bar after each row as columns.
    fn update_with_session<'py>(
        &mut self,
        py: Python<'py>,
        contract_id: &Bound<'py, PyAny>,
        date: &Bound<'py, PyAny>,
        ms_of_day: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        size: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ids = column::<u32>(contract_id, "contract_id", "uint32")?;
        let arrays = TradeArrays::new(date, ms_of_day, price, size)?;
        let (d, m, p, s) = arrays.slices()?;
        let trades = TradeColumns::new(d, m, p, s).map_err(|e| map_err(&e))?;
        let rows = trades.len();
        // Filled chunk by chunk in row order (see `update_sessions`): no zeroing pass.
        let mut out_date = Vec::with_capacity(rows);
        let mut out_ms = Vec::with_capacity(rows);
        let mut open = Vec::with_capacity(rows);
        let mut high = Vec::with_capacity(rows);
        let mut low = Vec::with_capacity(rows);
        let mut close = Vec::with_capacity(rows);
        let mut volume = Vec::with_capacity(rows);
        let mut count = Vec::with_capacity(rows);
        self.inner
            .update_sessions(slice(&ids, "contract_id")?, &trades, |chunk| {
                out_date.extend(chunk.iter().map(|s| s.date));
                out_ms.extend(chunk.iter().map(|s| s.close_ms));
                open.extend(chunk.iter().map(|s| s.open));
                high.extend(chunk.iter().map(|s| s.high));
                low.extend(chunk.iter().map(|s| s.low));
                close.extend(chunk.iter().map(|s| s.close));
                volume.extend(chunk.iter().map(|s| s.volume));
                count.extend(chunk.iter().map(|s| s.count));
            })
            .map_err(|e| map_err(&e))?;
        debug_assert_eq!(out_date.len(), rows);
        let dict = PyDict::new(py);
        dict.set_item("date", PyArray1::from_vec(py, out_date))?;
        dict.set_item("ms_of_day", PyArray1::from_vec(py, out_ms))?;
        dict.set_item("open", PyArray1::from_vec(py, open))?;
        dict.set_item("high", PyArray1::from_vec(py, high))?;
        dict.set_item("low", PyArray1::from_vec(py, low))?;
        dict.set_item("close", PyArray1::from_vec(py, close))?;
        dict.set_item("volume", PyArray1::from_vec(py, volume))?;
        dict.set_item("count", PyArray1::from_vec(py, count))?;
        Ok(dict)
    }

    /// Closes every open bar whose end is at or before `(date, ms_of_day)`; returns the count.
    fn flush(&mut self, date: i32, ms_of_day: i32) -> usize {
        self.inner.flush(date, ms_of_day)
    }

    /// A read-only buffer over the ring's bars, oldest → newest (64-byte `Bar` records).
    fn ring(slf: Bound<'_, Self>, contract_id: u32, interval_ms: i64) -> PyResult<BarRingBuffer> {
        let interval_index = slf
            .borrow()
            .inner
            .interval_index(interval_ms)
            .map_err(|e| map_err(&e))?;
        Ok(BarRingBuffer {
            book: slf.unbind(),
            contract_id,
            interval_index,
        })
    }

    /// Bars ever closed into the ring (including those overwritten since).
    fn closed_count(&self, contract_id: u32, interval_ms: i64) -> PyResult<u64> {
        let ring = self
            .inner
            .ring(contract_id, interval_ms)
            .map_err(|e| map_err(&e))?;
        Ok(ring.map_or(0, core::BarRing::pushed))
    }

    /// The bar still open, as a tuple in `Bar` field order, or `None`.
    #[allow(clippy::type_complexity)]
    fn open_bar(
        &self,
        contract_id: u32,
        interval_ms: i64,
    ) -> PyResult<Option<(i32, i32, f64, f64, f64, f64, i64, i64, f64)>> {
        let bar = self
            .inner
            .open_bar(contract_id, interval_ms)
            .map_err(|e| map_err(&e))?;
        Ok(bar.as_ref().map(bar_tuple))
    }

    /// `(date, ms_of_day, open, high, low, close, volume, count)` of the session, or `None`.
    fn session(&self, contract_id: u32) -> Option<SessionTuple> {
        self.inner.session(contract_id).as_ref().map(session_tuple)
    }
}

impl PyBarBook {
    fn window(&self, contract_id: u32, interval_index: usize) -> &[Bar] {
        let interval_ms = i64::from(self.inner.intervals_ms()[interval_index]);
        match self.inner.ring(contract_id, interval_ms) {
            Ok(Some(ring)) => ring.as_slice(),
            _ => &[],
        }
    }
}

/// Exports one ring's bars (oldest → newest) through the buffer protocol, read-only.
///
/// Holds a strong reference to its `BarBook`, so the ring storage outlives every buffer (and
/// thus every numpy view) taken from this object.
#[pyclass(module = "fastfeed._core", name = "BarRingBuffer", frozen)]
pub struct BarRingBuffer {
    book: Py<PyBarBook>,
    contract_id: u32,
    interval_index: usize,
}

#[pymethods]
impl BarRingBuffer {
    /// Fills `view` with the ring's current window.
    ///
    /// # Safety
    /// Called by the interpreter with a valid `Py_buffer` to fill, holding the GIL.
    #[allow(unsafe_code)]
    #[allow(clippy::needless_pass_by_value)] // the signature PyO3 requires for this slot
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let py = slf.py();
        let book = slf.get().book.bind(py).try_borrow()?;
        let window = book.window(slf.get().contract_id, slf.get().interval_index);
        let len = isize::try_from(std::mem::size_of_val(window))
            .map_err(|_| bars_error("ring too large to export"))?;
        // SAFETY: soundness of sharing the ring memory with Python readers:
        // * Lifetime: `PyBuffer_FillInfo` stores a new reference to `slf` in `view.obj`; `slf`
        //   holds the `BarBook`, whose rings are created once per contract and never dropped
        //   while it lives (a `BarRing` value may move inside the book's arrays, its storage
        //   never does). The storage is a `Vec` reserved once at its final capacity and only
        //   ever grown within it (`BarRing::push`), so the pointed-to bytes stay allocated and
        //   in place for as long as any view exists.
        // * Aliasing: the buffer is exported read-only (`readonly = 1`; a writable request
        //   fails with `BufferError`), so foreign code never writes to memory Rust owns.
        // * No data race: Rust writes the rings only inside `BarBook` methods taking `&mut self`
        //   that hold the GIL for their whole duration (they never release it or call back into
        //   Python), and Python-side readers of the buffer also hold the GIL, so reads and
        //   writes are serialised. A `&mut` borrow of the book never outlives the method call,
        //   so no Rust reference is live while foreign code reads. A view taken before an update
        //   shows the newer contents after it (documented as a live view, not a snapshot).
        // * `view` is a valid pointer supplied by CPython for this call.
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                window.as_ptr().cast::<c_void>().cast_mut(),
                len,
                1,
                flags,
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(PyErr::fetch(py))
        }
    }

    /// Number of bars in the ring now.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let book = self.book.bind(py).try_borrow()?;
        Ok(book.window(self.contract_id, self.interval_index).len())
    }
}

/// Aggregates trade columns into bar columns (see `fastfeed_core::bars::aggregate_trades`),
/// with the GIL released while it runs; the values are validated on the way. The columns come
/// back as numpy arrays over the `Vec`s the core filled (no copy).
#[pyfunction]
#[pyo3(signature = (date, ms_of_day, price, size, interval_ms, group = None))]
fn aggregate_trades<'py>(
    py: Python<'py>,
    date: &Bound<'py, PyAny>,
    ms_of_day: &Bound<'py, PyAny>,
    price: &Bound<'py, PyAny>,
    size: &Bound<'py, PyAny>,
    interval_ms: i64,
    group: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let arrays = TradeArrays::new(date, ms_of_day, price, size)?;
    let (d, m, p, s) = arrays.slices()?;
    let group_array = group
        .map(|g| column::<i64>(g, "group", "int64"))
        .transpose()?;
    let group_slice = group_array
        .as_ref()
        .map(|g| slice(g, "group"))
        .transpose()?;
    let bars = py
        .detach(|| core::aggregate_trade_columns(d, m, p, s, group_slice, interval_ms))
        .map_err(|e| map_err(&e))?;
    let dict = PyDict::new(py);
    if let Some(g) = bars.group {
        dict.set_item("group", PyArray1::from_vec(py, g))?;
    }
    dict.set_item("date", PyArray1::from_vec(py, bars.date))?;
    dict.set_item("start_ms", PyArray1::from_vec(py, bars.start_ms))?;
    dict.set_item("open", PyArray1::from_vec(py, bars.open))?;
    dict.set_item("high", PyArray1::from_vec(py, bars.high))?;
    dict.set_item("low", PyArray1::from_vec(py, bars.low))?;
    dict.set_item("close", PyArray1::from_vec(py, bars.close))?;
    dict.set_item("volume", PyArray1::from_vec(py, bars.volume))?;
    dict.set_item("count", PyArray1::from_vec(py, bars.count))?;
    dict.set_item("vwap", PyArray1::from_vec(py, bars.vwap))?;
    Ok(dict)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBarBook>()?;
    m.add_class::<BarRingBuffer>()?;
    m.add_function(wrap_pyfunction!(aggregate_trades, m)?)?;
    let fields: Vec<(&str, usize)> = Bar::FIELD_OFFSETS.to_vec();
    m.add("BAR_FIELD_OFFSETS", fields.into_py_any(m.py())?)?;
    m.add("BAR_ITEMSIZE", std::mem::size_of::<Bar>())?;
    m.add("MAX_CONTRACT_ID", core::MAX_CONTRACT_ID)?;
    m.add("MAX_RING_CAPACITY", core::MAX_CAPACITY)?;
    Ok(())
}
