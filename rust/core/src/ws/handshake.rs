//! Client side of the opening handshake (implemented by the codec work).
