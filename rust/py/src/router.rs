//! Binding of the router and the synthetic market: a source's events become the connected
//! client's frames in one call per batch (`SyntheticMarket.generate`), with the trades applied
//! to a shared `BarBook` on the way.

use fastfeed_core::contract::Symbol;
use fastfeed_core::router::{Event, Router};
use fastfeed_core::synthetic::{Chain, Expiration, MarketSpec, SyntheticMarket, Underlying};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bars::PyBarBook;
use crate::envelope::PyStreamCommand;
use crate::errors::config_error;
use crate::event::{contract_key, contract_tuple, ContractTuple};

/// The connected client's subscriptions and the contract registry; encodes what it wants.
#[pyclass(name = "Router", module = "fastfeed._core")]
pub struct PyRouter {
    inner: Router,
    bars: Py<PyBarBook>,
    out: Vec<u8>,
    rejected: u64,
    first_error: Option<String>,
}

#[pymethods]
impl PyRouter {
    #[new]
    #[pyo3(signature = (bars, *, ohlcvc = true))]
    fn new(bars: Py<PyBarBook>, ohlcvc: bool) -> Self {
        Self {
            inner: Router::new(ohlcvc),
            bars,
            out: Vec::new(),
            rejected: 0,
            first_error: None,
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
            .contract(contract_id)
            .map(contract_tuple)
            .ok_or_else(|| config_error(format!("contract_id: unknown contract id {contract_id}")))
    }

    #[getter]
    fn contract_count(&self) -> usize {
        self.inner.contract_count()
    }

    #[getter]
    fn ohlcvc(&self) -> bool {
        self.inner.ohlcvc()
    }

    #[getter]
    fn bars(&self, py: Python<'_>) -> Py<PyBarBook> {
        self.bars.clone_ref(py)
    }

    /// Replaces every subscription with the given `STREAM` commands (their `add` is ignored).
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts a list argument as an owned Vec
    fn set_subscriptions(&mut self, commands: Vec<PyRef<'_, PyStreamCommand>>) {
        self.inner.set_subscriptions(commands.iter().map(|c| {
            let c = c.command();
            (c.sec_type, c.req_type, c.contract.as_ref())
        }));
    }

    #[getter]
    fn next_id(&self) -> Option<u64> {
        self.inner.next_id()
    }

    #[setter]
    fn set_next_id(&mut self, next: Option<u64>) {
        self.inner.set_next_id(next);
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

impl PyRouter {
    /// Routes `events` and returns the frames and how many data events they hold.
    fn route<'py>(
        &mut self,
        py: Python<'py>,
        events: &[Event],
    ) -> PyResult<(Bound<'py, PyBytes>, u64)> {
        let mut bars = self.bars.bind(py).try_borrow_mut()?;
        self.out.clear();
        let routed = self.inner.route(&mut bars.inner, events, &mut self.out);
        self.rejected += routed.rejected;
        if self.first_error.is_none() {
            self.first_error = routed.first_error;
        }
        Ok((PyBytes::new(py, &self.out), routed.written))
    }
}

/// The built-in synthetic market (see `fastfeed_core::synthetic`).
#[pyclass(name = "SyntheticMarket", module = "fastfeed._core")]
pub struct PySyntheticMarket {
    inner: SyntheticMarket,
    events: Vec<Event>,
}

fn underlying(field: &str, (symbol, price): (String, f64)) -> PyResult<Underlying> {
    let symbol =
        Symbol::new(&symbol).map_err(|e| config_error(format!("{field} {symbol:?}: {e}")))?;
    Ok(Underlying { symbol, price })
}

#[pymethods]
impl PySyntheticMarket {
    /// Registers the market's contracts with `router`.
    #[new]
    #[pyo3(signature = (router, *, seed, stocks, index=None, chain_underlying=None, expirations=vec![], strikes=10))]
    #[allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]
    fn new(
        mut router: PyRefMut<'_, PyRouter>,
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
        let inner = SyntheticMarket::new(&spec, |key| router.inner.add_contract(key))
            .map_err(|e| config_error(e.to_string()))?;
        Ok(Self {
            inner,
            events: Vec::new(),
        })
    }

    /// Ids of the market's contracts, in registration order.
    #[getter]
    fn contracts(&self) -> Vec<u32> {
        self.inner.contracts().collect()
    }

    /// Draws the next `n` events (stamped `date`, spread over `(from_ms, to_ms]`) and routes
    /// them: returns `(frames, count)` for the client and applies every trade to the bars.
    fn generate<'py>(
        &mut self,
        py: Python<'py>,
        mut router: PyRefMut<'py, PyRouter>,
        n: usize,
        date: u32,
        from_ms: u32,
        to_ms: u32,
    ) -> PyResult<(Bound<'py, PyBytes>, u64)> {
        self.events.clear();
        self.inner
            .generate(date, from_ms, to_ms, n, &mut self.events);
        router.route(py, &self.events)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRouter>()?;
    m.add_class::<PySyntheticMarket>()?;
    Ok(())
}
