//! `fastfeed._core`: the thin Python binding over `fastfeed-core`.
//!
//! Each submodule wraps one core module and registers its classes and functions; `errors` is the
//! one place where core error values become `fastfeed.errors` exceptions.

use pyo3::prelude::*;

mod bars;
mod envelope;
mod errors;
mod event;
mod hub;
mod json_stream;
mod redis;
mod replay;
mod ws;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    ws::register(m)?;
    envelope::register(m)?;
    event::register(m)?;
    json_stream::register(m)?;
    bars::register(m)?;
    hub::register(m)?;
    replay::register(m)?;
    redis::register(m)?;
    Ok(())
}
