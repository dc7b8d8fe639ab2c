//! RFC 6455 WebSocket codec, sans-I/O, for both roles.
//!
//! * [`frame`]: opcodes, close codes and frame encoding (one or many frames into one buffer).
//! * [`decoder`]: incremental frame/message decoder fed arbitrary byte chunks.
//! * [`handshake`]: the client side of the opening handshake.

pub mod decoder;
pub mod frame;
pub mod handshake;

pub use frame::{CloseCode, Opcode, Role};
