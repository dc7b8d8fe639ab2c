//! fastfeed-core: the pure-Rust hot paths of fastfeed.
//!
//! Nothing here depends on Python or reads the clock: time is always an argument, bad input is
//! always an error value, never a panic. The binding crate `fastfeed-py` is a thin layer on top.
//!
//! | module | concern |
//! |---|---|
//! | [`contract`] | contract identity shared by every other module; the one contract validator |
//! | [`stream_name`] | SPEC §4 stream names (`stock.AAPL@trade`) ↔ [`contract::StreamKey`] |
//! | [`ws`] | RFC 6455 WebSocket codec (frames, decoder, client handshake) |
//! | [`envelope`] | `/v1/events` and `/v1/stream` commands and their replies (SPEC §3.1–3.2, §4) |
//! | [`event`] | event encode/decode and columnar batches (SPEC §3.3) |
//! | [`json_stream`] | splitting a chunked byte stream into top-level JSON objects (seed 002) |
//! | [`event_stream`] | an HTTP streaming body of events and control objects (seed 002) |
//! | [`bars`] | trade-to-OHLC aggregation into fixed-capacity rings (SPEC §6) |
//! | [`hub`] | one market, many consumers: bars and session OHLC once, fan-out per subscriber (SPEC §4) |
//! | [`synthetic`] | the built-in deterministic market (SPEC §5) |
//! | [`replay`] | reading recorded JSON Lines / CSV files, merged in market-time order (SPEC §5) |

pub mod bars;
pub mod contract;
mod echo;
pub mod envelope;
pub mod event;
pub mod event_stream;
pub mod hub;
pub mod json_stream;
pub mod redis;
pub mod replay;
pub mod stream_name;
pub mod synthetic;
pub mod ws;
