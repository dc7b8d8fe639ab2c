//! An HTTP streaming body into a hub's batch: the decoder's fast path (events taken as they
//! start, the splitter skipping their bytes) keeps exactly what the whole-object path keeps —
//! the same events with the same JSON, controls, skip counts and reasons — in any chunking.
#![no_main]
use fastfeed_core::event_stream::{Control, JsonEventStream, Skip};
use fastfeed_core::hub::{Event, Hub, JsonEventDecoder, JsonEventSink, SourceBatch};
use libfuzzer_sys::fuzz_target;

type Read = (Vec<(Event, Vec<u8>)>, Option<Control>, u64, Option<Skip>);

/// Feeds `stream` in chunks of `chunk` bytes (the rest again after a control object).
fn run(stream: &[u8], chunk: usize, max: usize, fast: bool) -> Vec<Read> {
    let mut events = JsonEventStream::new(max);
    let mut hub = Hub::new(true);
    let mut decoder = JsonEventDecoder::new();
    let mut batch = SourceBatch::new();
    let mut out = Vec::new();
    for part in stream.chunks(chunk) {
        let mut rest = part;
        loop {
            let fed = if fast {
                let mut sink = JsonEventSink {
                    decoder: &mut decoder,
                    batch: &mut batch,
                    hub: &mut hub,
                };
                events.feed_to(rest, &mut sink)
            } else {
                events.feed(rest, |json| decoder.push(&mut batch, &mut hub, json))
            };
            assert_eq!(fed.events, batch.len());
            assert!(events.buffered() <= max);
            let kept = batch
                .events()
                .iter()
                .zip(batch.spans())
                .map(|(event, span)| {
                    let (from, to) = span.expect("an event from JSON keeps it");
                    (*event, batch.raw()[from..to].to_vec())
                })
                .collect();
            batch.clear();
            out.push((
                kept,
                fed.control.clone(),
                events.skipped(),
                events.take_latest_skip(),
            ));
            rest = &rest[fed.consumed..];
            if fed.control.is_none() {
                break;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((config, stream)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let max = [256, 1 << 20][usize::from(config & 1)];
    let chunk = if config & 2 == 0 {
        stream.len().max(1)
    } else {
        fastfeed_fuzz::chunk_size(config)
    };
    assert_eq!(
        run(stream, chunk, max, true),
        run(stream, chunk, max, false)
    );
});
