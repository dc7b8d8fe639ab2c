//! The client's reading of the server's handshake response, fed in chunks.
#![no_main]
use fastfeed_core::ws::{ClientHandshake, HandshakeStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((config, response)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let mut handshake = ClientHandshake::new(
        "127.0.0.1",
        25520,
        "/v1/events",
        [0; 16],
        &[("Sec-WebSocket-Protocol", "chat, superchat")],
    )
    .expect("a valid request");
    let mut fed = 0;
    for part in response.chunks(fastfeed_fuzz::chunk_size(config)) {
        match handshake.feed(part) {
            Ok(HandshakeStatus::Pending) => fed += part.len(),
            Ok(HandshakeStatus::Complete { leftover }) => {
                assert!(handshake.is_complete());
                let head = fed + part.len() - leftover.len();
                assert!(response[..head].ends_with(b"\r\n\r\n"));
                assert_eq!(leftover, &part[part.len() - leftover.len()..]);
                return;
            }
            Err(error) => {
                assert_eq!(handshake.feed(b"").unwrap_err().message(), error.message());
                return;
            }
        }
    }
});
