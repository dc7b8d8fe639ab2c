//! (in progress)

use pyo3::prelude::*;

#[allow(clippy::unnecessary_wraps)] // placeholder until the module lands
pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
