//! RFC 6455 WebSocket codec, sans-I/O, for both roles.
//!
//! * [`frame`]: opcodes, close codes and frame encoding (one or many frames into one buffer).
//! * [`decoder`]: incremental frame/message decoder fed arbitrary byte chunks.
//! * [`assembler`]: message rules above framing (fragments, size cap, UTF-8, opcodes), also
//!   usable on frames split by another parser.
//! * [`close`]: building and parsing close payloads, close-code validity.
//! * [`handshake`]: the client side of the opening handshake, and the accept-key computation.
//! * [`server_handshake`]: the server side: the client's Upgrade request read and checked, and
//!   the `101` response.
//!
//! Nothing here touches a socket, a clock or a random source: callers feed bytes in, take
//! bytes out, and pass masking keys and handshake nonces as arguments.

pub mod assembler;
pub mod close;
pub mod decoder;
pub mod frame;
pub mod handshake;
pub mod server_handshake;

#[cfg(test)]
mod tests;

pub use assembler::MessageAssembler;
pub use close::{close_payload, is_valid_close_code, parse_close_payload};
pub use decoder::{FrameDecoder, Message, ProtocolError, DEFAULT_MAX_MESSAGE_SIZE};
pub use frame::{encode_frame, encode_frames, CloseCode, Opcode, Role};
pub use handshake::{accept_key, ClientHandshake, HandshakeError, HandshakeStatus};
pub use server_handshake::{
    read_upgrade_request, switching_protocols, Refusal, RequestHead, UpgradeRequest,
    MAX_REQUEST_HEAD,
};
