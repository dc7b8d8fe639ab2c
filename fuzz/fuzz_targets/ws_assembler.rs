//! The message assembler the server's picows path uses: whole frames (fin, rsv, opcode,
//! payload) as picows hands them over. Input: a cap byte, then frames as
//! `[fin<<7 | rsv<<4 | opcode] [len] payload…`.
#![no_main]
use fastfeed_core::ws::MessageAssembler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((config, mut rest)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let cap = [125, 4096, 1 << 20][usize::from(config % 3)];
    let mut assembler = MessageAssembler::new()
        .with_max_message_size(cap)
        .with_reject_binary(config & 0x80 != 0);
    while let [head, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let result = assembler
            .feed_frame(head & 0x80 != 0, (head >> 4) & 7, head & 0xF, payload)
            .map(|m| m.map(fastfeed_fuzz::Owned::from));
        match result {
            Ok(_) => assert!(assembler.buffered() <= cap),
            Err(error) => {
                let again = assembler.feed_frame(true, 0, 1, b"").unwrap_err();
                assert_eq!(again.reason(), error.reason(), "the error is sticky");
                return;
            }
        }
    }
});
