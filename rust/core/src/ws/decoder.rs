//! Incremental frame decoder (implemented by the codec work).
