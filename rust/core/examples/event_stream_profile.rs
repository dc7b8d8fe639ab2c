//! Feeds 200,000 JSON Lines option TRADE events through [`JsonEventStream`] into a hub's
//! [`SourceBatch`] in 64 KiB reads, repeatedly, and prints the rate of each stage (splitter
//! alone, decode alone, the whole feed): a driver for profilers.
//!
//!     cargo run --release -p fastfeed-core --example event_stream_profile [ROUNDS]

use std::io::Write;
use std::time::Instant;

use fastfeed_core::event::decode_event;
use fastfeed_core::event_stream::JsonEventStream;
use fastfeed_core::hub::{Hub, JsonEventDecoder, JsonEventSink, SourceBatch};
use fastfeed_core::json_stream::JsonStreamSplitter;

fn best_of(rounds: usize, run: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        run();
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(10, |r| r.parse().unwrap());
    // Option trades as `record` writes them: 20 contracts, compact JSON, one per line.
    let mut body = Vec::new();
    let mut lines = Vec::new();
    let n = 200_000_u32;
    for i in 0..n {
        let r = i.wrapping_mul(2_654_435_761) >> 7;
        let (strike, right) = (
            550_000 + 5_000 * (r % 10),
            if r % 2 == 0 { 'C' } else { 'P' },
        );
        let start = body.len();
        write!(
            body,
            "{{\"header\":{{\"type\":\"TRADE\",\"status\":\"CONNECTED\"}},\"contract\":\
             {{\"security_type\":\"OPTION\",\"symbol\":\"SPY\",\"expiration\":20250321,\
             \"strike\":{strike},\"right\":\"{right}\"}},\"trade\":{{\"ms_of_day\":{},\
             \"sequence\":{i},\"size\":{},\"condition\":{},\"price\":{}.{:02},\"exchange\":{},\
             \"date\":20250321}}}}",
            34_200_000 + i,
            1 + r % 500,
            r % 130,
            5 + r % 600,
            r % 100,
            1 + r % 69,
        )
        .unwrap();
        lines.push(start..body.len());
        body.push(b'\n');
    }
    // STAGE=name runs that stage only (for `perf stat`, whose counts the shared machine's load
    // does not skew as it does times).
    let only = std::env::var("STAGE").ok();
    let best_of = |what: &str, rounds: usize, run: &mut dyn FnMut()| {
        if only.as_deref().is_some_and(|o| o != what) {
            return f64::NAN;
        }
        best_of(rounds, run)
    };
    let report = |what: &str, seconds: f64| {
        if seconds.is_nan() {
            return;
        }
        println!(
            "{what:<28} {:>6.0} ns/event {:>6.2} GB/s",
            seconds * 1e9 / f64::from(n),
            body.len() as f64 / seconds / 1e9
        );
    };
    report(
        "splitter",
        best_of("splitter", rounds, &mut || {
            let mut splitter = JsonStreamSplitter::default();
            let mut count = 0;
            for chunk in body.chunks(64 << 10) {
                splitter.feed_spans(chunk, |_| count += 1);
            }
            assert_eq!(count, n);
        }),
    );
    report(
        "utf-8 check",
        best_of("utf-8 check", rounds, &mut || {
            assert!(simdutf8_check(&body));
        }),
    );
    report(
        "decode_event",
        best_of("decode_event", rounds, &mut || {
            for line in &lines {
                assert!(decode_event(&body[line.clone()]).unwrap().is_some());
            }
        }),
    );
    report(
        "EventLineDecoder (cached)",
        best_of("EventLineDecoder (cached)", rounds, &mut || {
            let mut decoder = fastfeed_core::event::EventLineDecoder::new();
            for line in &lines {
                let mut event = fastfeed_core::event::EventBody::PLACEHOLDER;
                assert!(decoder
                    .decode_spelled(&body[line.clone()], &mut event)
                    .unwrap()
                    .is_some());
            }
        }),
    );
    report(
        "decode_event + add_contract",
        best_of("decode_event + add_contract", rounds, &mut || {
            let mut hub = Hub::new(true);
            for line in &lines {
                let (key, _) = decode_event(&body[line.clone()]).unwrap().unwrap();
                hub.add_contract(key);
            }
        }),
    );
    report(
        "push_json_event",
        best_of("push_json_event", rounds, &mut || {
            let mut hub = Hub::new(true);
            let mut batch = SourceBatch::new();
            for line in &lines {
                assert!(batch
                    .push_json_event(&mut hub, &body[line.clone()])
                    .unwrap());
            }
        }),
    );
    report(
        "JsonEventDecoder::push",
        best_of("JsonEventDecoder::push", rounds, &mut || {
            let mut hub = Hub::new(true);
            let mut batch = SourceBatch::new();
            let mut decoder = JsonEventDecoder::new();
            for line in &lines {
                assert!(decoder
                    .push(&mut batch, &mut hub, &body[line.clone()])
                    .unwrap());
            }
        }),
    );
    report(
        "JsonEventStream::feed",
        best_of("JsonEventStream::feed", rounds, &mut || {
            // As the binding does it: the caching decoder, one batch cleared after each read.
            let mut hub = Hub::new(true);
            let mut stream = JsonEventStream::default();
            let mut decoder = JsonEventDecoder::new();
            let mut batch = SourceBatch::new();
            let mut events = 0;
            for chunk in body.chunks(64 << 10) {
                let mut sink = JsonEventSink {
                    decoder: &mut decoder,
                    batch: &mut batch,
                    hub: &mut hub,
                };
                events += stream.feed_to(chunk, &mut sink).events;
                batch.clear();
            }
            assert_eq!(events, n as usize);
        }),
    );
}

fn simdutf8_check(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}
