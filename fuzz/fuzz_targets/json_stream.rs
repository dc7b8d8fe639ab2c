//! The JSON stream splitter: any chunking yields the same objects and errors as one chunk,
//! and no object above the cap is handed out.
#![no_main]
use fastfeed_core::json_stream::{JsonStreamSplitter, SplitError};
use libfuzzer_sys::fuzz_target;

fn split(stream: &[u8], max: usize, chunk: usize) -> Vec<Result<Vec<u8>, SplitError>> {
    let mut splitter = JsonStreamSplitter::new(max);
    let mut items = Vec::new();
    for part in stream.chunks(chunk.max(1)) {
        splitter.feed(part, |item| items.push(item.map(<[u8]>::to_vec)));
        assert!(splitter.buffered() <= max);
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let Some((config, stream)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let max = [4, 64, 1 << 20][usize::from(config % 3)];
    let whole = split(stream, max, stream.len());
    for item in whole.iter().flatten() {
        assert!(item.len() <= max && item.first() == Some(&b'{'));
    }
    assert_eq!(split(stream, max, fastfeed_fuzz::chunk_size(config)), whole);
});
