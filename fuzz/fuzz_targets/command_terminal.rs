//! `/v1/events` commands in the terminal dialect (Python literals, digit strings accepted);
//! an error's acknowledgement must be valid JSON.
#![no_main]
use fastfeed_core::envelope::{parse_command, Dialect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = parse_command(data, Dialect::Terminal) {
        let mut ack = Vec::new();
        error.encode_ack(&mut ack);
        fastfeed_fuzz::assert_json(&ack);
    }
});
