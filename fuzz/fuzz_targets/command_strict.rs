//! `/v1/events` commands under `serve --strict`: what strict accepts, the terminal dialect
//! accepts as the same command; an error's acknowledgement must be valid JSON.
#![no_main]
use fastfeed_core::envelope::{parse_command, Dialect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| match parse_command(data, Dialect::Strict) {
    Ok(command) => assert_eq!(parse_command(data, Dialect::Terminal), Ok(command)),
    Err(error) => {
        let mut ack = Vec::new();
        error.encode_ack(&mut ack);
        fastfeed_fuzz::assert_json(&ack);
    }
});
