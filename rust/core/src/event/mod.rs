//! Event codec (SPEC §3.3): typed events, encoding into server frames, and decoding into
//! columnar batches.
//!
//! * [`types`]: the event structs, header options and [`EventKind`].
//! * [`encode`]: compact JSON in the exact field order, straight into WebSocket frames.
//! * [`scan`]: the small JSON scanner the decoder is built on, and [`DecodeError`].
//! * [`batch`]: [`BatchDecoder`] turns payloads into an [`EventBatch`] of per-type columns.
//! * [`decoder`]: [`EventDecoder`] adds the client-side WebSocket frame decoder in front.

pub mod batch;
mod decode;
pub mod decoder;
pub mod encode;
pub mod scan;
pub mod types;

pub use batch::{
    BatchDecoder, ContractId, ControlFrame, EventBatch, FrameError, OhlcColumns,
    OpenInterestColumns, QuoteColumns, StatusColumns, TradeColumns,
};
pub use decode::{decode_event, EventLineDecoder};
pub use decoder::{EventDecoder, CLIENT_MAX_MESSAGE_SIZE};
pub use encode::{
    write_contract_json, write_event_json, write_status_json, EncodeError, EventEncoder,
};
pub use scan::{DecodeError, Problem};
pub use types::{Ack, EventBody, EventHeader, EventKind, Ohlc, OpenInterest, Quote, Stats, Trade};

#[cfg(test)]
mod tests;
