//! `/v1/stream` commands; the error reply must be valid JSON.
#![no_main]
use fastfeed_core::envelope::parse_stream_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = parse_stream_command(data) {
        let mut reply = Vec::new();
        error.encode(&mut reply);
        fastfeed_fuzz::assert_json(&reply);
    }
});
