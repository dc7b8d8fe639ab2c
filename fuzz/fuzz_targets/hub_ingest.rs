//! Upstream events into the hub (a relay's, Redis', an HTTP stream's JSON): each line through
//! `SourceBatch::push_json_event`, then published (bars, session OHLC, fan-out to a
//! `/v1/events` and a `/v1/stream` subscriber of every whole-market stream); a batch per
//! NUL-separated part.
#![no_main]
use fastfeed_core::bars::BarBook;
use fastfeed_core::contract::{ReqType, SecType, StreamKey};
use fastfeed_core::hub::{Hub, SourceBatch, Wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut hub = Hub::new(true);
    let mut bars = BarBook::new(&[1000, 60_000], 16).expect("valid intervals");
    let streams = [
        StreamKey::full(SecType::Stock, ReqType::FullTrades),
        StreamKey::full(SecType::Index, ReqType::FullTrades),
        StreamKey::full(SecType::Option, ReqType::FullTrades),
        StreamKey::full(SecType::Option, ReqType::FullOpenInterest),
    ];
    for wire in [Wire::Events, Wire::Stream] {
        let id = hub.add_subscriber(wire);
        hub.subscribe(id, &streams, 16)
            .expect("whole-market streams");
    }
    for batch_lines in data.split(|&b| b == 0) {
        let mut batch = SourceBatch::new();
        for line in batch_lines.split(|&b| b == b'\n') {
            let _ = batch.push_json_event(&mut hub, line);
        }
        hub.publish_batch(&mut bars, &batch);
        hub.take_output(|subscribers, _| assert!(!subscribers.is_empty()));
    }
});
