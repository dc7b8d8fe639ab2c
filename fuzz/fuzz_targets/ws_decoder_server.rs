//! The WebSocket frame decoder in the server role (client frames: masked).
#![no_main]
use fastfeed_core::ws::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fastfeed_fuzz::frame_decoder(Role::Server, data));
