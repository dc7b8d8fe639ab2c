//! The client's batch decoding: the input as WebSocket frames from a server (`EventDecoder`,
//! whole and in chunks, which must agree), and its lines as payloads (`BatchDecoder`, whose
//! contract table persists across payloads). Chunks are 16 to 512 bytes: each `feed` returns a
//! batch, so byte-sized chunks would spend the time on empty batches.
#![no_main]
use fastfeed_core::event::{BatchDecoder, EventDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((config, wire)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let whole = EventDecoder::with_max_message_size(1 << 16).feed(wire);
    let mut chunked = EventDecoder::with_max_message_size(1 << 16);
    let mut kinds = Vec::new();
    let mut protocol_error = None;
    for part in wire.chunks(16 * fastfeed_fuzz::chunk_size(config)) {
        let batch = chunked.feed(part);
        kinds.extend(batch.kinds);
        protocol_error = protocol_error.or(batch.protocol_error);
    }
    assert_eq!(kinds, whole.kinds);
    assert_eq!(protocol_error, whole.protocol_error);

    let mut lines = BatchDecoder::new();
    for line in wire.split(|&b| b == b'\n') {
        lines.push_payload(line);
    }
    let batch = lines.take_batch();
    assert_eq!(batch.kinds.len(), wire.split(|&b| b == b'\n').count());
});
