//! One §3.3 event payload: `decode_event`, and `EventLineDecoder` (which remembers contract
//! spellings) must return the same, the first time and the second.
#![no_main]
use fastfeed_core::event::{decode_event, EventLineDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = format!("{:?}", decode_event(data));
    let mut memo = EventLineDecoder::new();
    assert_eq!(format!("{:?}", memo.decode(data)), plain, "first");
    assert_eq!(format!("{:?}", memo.decode(data)), plain, "memoised");
});
