//! Codec tests: golden frames, malformed frames, chunking invariance, handshake.

use proptest::prelude::*;

use super::frame::write_header;
use super::*;

/// An owned copy of a visited message: opcode and payload (a close as code + reason bytes).
type Owned = (Opcode, Vec<u8>);

fn owned(message: Message<'_>) -> Owned {
    let payload = match message {
        Message::Text(text) => text.as_bytes().to_vec(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.to_vec(),
        Message::Close { code: None, .. } => Vec::new(),
        Message::Close {
            code: Some(code),
            reason,
        } => close_payload(code, reason),
    };
    (message.opcode(), payload)
}

/// Feeds `chunks` in order; returns every message and the first error.
fn decode_chunks<'a>(
    decoder: &mut FrameDecoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Owned>, Option<ProtocolError>) {
    let mut out = Vec::new();
    for chunk in chunks {
        let result = decoder.feed(chunk, |message| {
            out.push(owned(message));
            Ok::<(), ProtocolError>(())
        });
        if let Err(error) = result {
            return (out, Some(error));
        }
    }
    (out, None)
}

fn decode(role: Role, max: usize, bytes: &[u8]) -> (Vec<Owned>, Option<ProtocolError>) {
    let mut decoder = FrameDecoder::new(role).with_max_message_size(max);
    decode_chunks(&mut decoder, [bytes])
}

/// A raw frame built independently of `encode_frame`, so tests can also build illegal ones.
fn raw_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 0x7E);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 0x7F);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    out
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn m(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

// ---------------------------------------------------------------------------------------------
// Golden frames

/// Name, role that receives it, wire bytes, messages, and (when the wire is one frame) the
/// mask `encode_frame` must be given to reproduce it.
type GoldenRow = (
    &'static str,
    Role,
    Vec<u8>,
    Vec<Owned>,
    Option<Option<[u8; 4]>>,
);

#[test]
fn golden_frames() {
    let bin256: Vec<u8> = (0..=255u8).collect();
    let bin64k: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let mut bin256_frame = vec![0x82, 0x7E, 0x01, 0x00];
    bin256_frame.extend_from_slice(&bin256);
    let mut bin64k_frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    bin64k_frame.extend_from_slice(&bin64k);
    let masked_200: Vec<u8> = {
        let payload = [b'x'; 200];
        let mut frame = vec![0x81, 0xFE, 0x00, 0xC8, 0x37, 0xfa, 0x21, 0x3d];
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        frame
    };
    let rows: Vec<GoldenRow> = vec![
        (
            "RFC 5.7 unmasked text",
            Role::Client,
            vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            vec![(Opcode::Text, b"Hello".to_vec())],
            Some(None),
        ),
        (
            "RFC 5.7 masked text",
            Role::Server,
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            vec![(Opcode::Text, b"Hello".to_vec())],
            Some(Some(KEY)),
        ),
        (
            "RFC 5.7 fragmented unmasked text",
            Role::Client,
            vec![0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
            vec![(Opcode::Text, b"Hello".to_vec())],
            None,
        ),
        (
            "RFC 5.7 unmasked ping",
            Role::Client,
            vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            vec![(Opcode::Ping, b"Hello".to_vec())],
            Some(None),
        ),
        (
            "RFC 5.7 masked pong",
            Role::Server,
            vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            vec![(Opcode::Pong, b"Hello".to_vec())],
            Some(Some(KEY)),
        ),
        (
            "RFC 5.7 256-byte binary, 16-bit length",
            Role::Client,
            bin256_frame,
            vec![(Opcode::Binary, bin256.clone())],
            Some(None),
        ),
        (
            "RFC 5.7 64 KiB binary, 64-bit length",
            Role::Client,
            bin64k_frame,
            vec![(Opcode::Binary, bin64k.clone())],
            Some(None),
        ),
        (
            "masked 200-byte text, 16-bit length",
            Role::Server,
            masked_200,
            vec![(Opcode::Text, vec![b'x'; 200])],
            Some(Some(KEY)),
        ),
        (
            "empty text",
            Role::Client,
            vec![0x81, 0x00],
            vec![(Opcode::Text, Vec::new())],
            Some(None),
        ),
        (
            "close 1000 bye",
            Role::Client,
            vec![0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'],
            vec![(Opcode::Close, close_payload(1000, "bye"))],
            Some(None),
        ),
        (
            "empty close",
            Role::Server,
            vec![0x88, 0x80, 1, 2, 3, 4],
            vec![(Opcode::Close, Vec::new())],
            Some(Some([1, 2, 3, 4])),
        ),
        (
            "fragmented text with an interleaved ping",
            Role::Client,
            vec![
                0x01, 0x03, b'H', b'e', b'l', 0x89, 0x00, 0x80, 0x02, b'l', b'o',
            ],
            vec![
                (Opcode::Ping, Vec::new()),
                (Opcode::Text, b"Hello".to_vec()),
            ],
            None,
        ),
        (
            "masked fragmented binary, three fragments, interleaved pong",
            Role::Server,
            m(&[
                raw_frame(0x02, b"ab", Some(KEY)),
                raw_frame(0x00, b"", Some([9, 9, 9, 9])),
                raw_frame(0x8A, b"p", Some([5, 6, 7, 8])),
                raw_frame(0x80, b"cd", Some([1, 2, 3, 4])),
            ]),
            vec![
                (Opcode::Pong, b"p".to_vec()),
                (Opcode::Binary, b"abcd".to_vec()),
            ],
            None,
        ),
    ];
    for (name, role, wire, expected, encodable) in rows {
        let (messages, error) = decode(role, 1 << 20, &wire);
        assert_eq!(error, None, "{name}");
        assert_eq!(messages, expected, "{name}");
        if let Some(mask) = encodable {
            let (opcode, payload) = &expected[0];
            let mut out = Vec::new();
            encode_frame(&mut out, *opcode, payload, mask);
            assert_eq!(out, wire, "{name}: encoding");
        }
        // One byte at a time decodes the same.
        let mut decoder = FrameDecoder::new(role).with_max_message_size(1 << 20);
        let (messages, error) = decode_chunks(&mut decoder, wire.chunks(1));
        assert_eq!((messages, error), (expected, None), "{name}: byte by byte");
    }
}

#[test]
fn fragmented_encoding_with_write_header() {
    let mut out = Vec::new();
    write_header(&mut out, false, Opcode::Text, 3, None);
    out.extend_from_slice(b"Hel");
    write_header(&mut out, true, Opcode::Continuation, 2, None);
    out.extend_from_slice(b"lo");
    assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
}

#[test]
fn encode_frames_round_trip_both_roles() {
    let payloads: Vec<Vec<u8>> = (0..300)
        .map(|i| vec![b'a' + (i % 26) as u8; i * 7])
        .collect();
    for (role, mask) in [
        (Role::Client, None),
        (Role::Server, Some([0xde, 0xad, 0xbe, 0xef])),
    ] {
        let mut wire = Vec::new();
        encode_frames(
            &mut wire,
            Opcode::Text,
            payloads.iter().map(Vec::as_slice),
            mask,
        );
        let (messages, error) = decode(role, 4096, &wire);
        assert_eq!(error, None);
        let expected: Vec<Owned> = payloads.iter().map(|p| (Opcode::Text, p.clone())).collect();
        assert_eq!(messages, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed frames

fn long_header(b0: u8, len: u64) -> Vec<u8> {
    let mut out = vec![b0, 127];
    out.extend_from_slice(&len.to_be_bytes());
    out
}

#[test]
fn malformed_frames() {
    let text = |p: &[u8]| raw_frame(0x81, p, None);
    let masked = |b0: u8, p: &[u8]| raw_frame(b0, p, Some(KEY));
    let close = |p: &[u8]| raw_frame(0x88, p, None);
    let rows: Vec<(&str, Role, Vec<u8>, u16, &str)> = vec![
        (
            "2^63-1 length",
            Role::Client,
            long_header(0x82, (1 << 63) - 1),
            1009,
            "message of 9223372036854775807 bytes exceeds the 4096-byte limit",
        ),
        (
            "64-bit length with the high bit set",
            Role::Client,
            long_header(0x82, 1 << 63),
            1002,
            "64-bit payload length has its most significant bit set",
        ),
        (
            "unmasked client frame",
            Role::Server,
            text(b"hi"),
            1002,
            "client frame is not masked",
        ),
        (
            "masked server frame",
            Role::Client,
            masked(0x81, b"hi"),
            1002,
            "server frame is masked",
        ),
        (
            "RSV1",
            Role::Client,
            raw_frame(0xC1, b"hi", None),
            1002,
            "reserved bits set (RSV 0b100) without a negotiated extension",
        ),
        (
            "RSV2",
            Role::Client,
            raw_frame(0xA1, b"hi", None),
            1002,
            "reserved bits set (RSV 0b010) without a negotiated extension",
        ),
        (
            "RSV3",
            Role::Client,
            raw_frame(0x91, b"hi", None),
            1002,
            "reserved bits set (RSV 0b001) without a negotiated extension",
        ),
        (
            "unknown data opcode",
            Role::Client,
            raw_frame(0x83, b"", None),
            1002,
            "unknown opcode 0x3",
        ),
        (
            "unknown control opcode",
            Role::Client,
            raw_frame(0x8B, b"", None),
            1002,
            "unknown opcode 0xb",
        ),
        (
            "close code 999",
            Role::Client,
            close(&999u16.to_be_bytes()),
            1002,
            "invalid close code 999",
        ),
        (
            "close code 1004",
            Role::Client,
            close(&1004u16.to_be_bytes()),
            1002,
            "invalid close code 1004",
        ),
        (
            "close code 1005",
            Role::Client,
            close(&1005u16.to_be_bytes()),
            1002,
            "invalid close code 1005",
        ),
        (
            "close code 1006",
            Role::Client,
            close(&1006u16.to_be_bytes()),
            1002,
            "invalid close code 1006",
        ),
        (
            "close code 1015",
            Role::Client,
            close(&1015u16.to_be_bytes()),
            1002,
            "invalid close code 1015",
        ),
        (
            "close code 2999",
            Role::Client,
            close(&2999u16.to_be_bytes()),
            1002,
            "invalid close code 2999",
        ),
        (
            "close code 5000",
            Role::Client,
            close(&5000u16.to_be_bytes()),
            1002,
            "invalid close code 5000",
        ),
        (
            "1-byte close payload",
            Role::Client,
            close(&[0x03]),
            1002,
            "close payload of 1 byte",
        ),
        (
            "invalid UTF-8 in close reason",
            Role::Client,
            close(&[
                0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed,
                0xa0, 0x80,
            ]),
            1007,
            "invalid UTF-8 in close reason",
        ),
        (
            "invalid UTF-8 in single text frame",
            Role::Client,
            text(b"caf\xc3\x28"),
            1007,
            "invalid UTF-8 in text message",
        ),
        (
            "invalid UTF-8 across fragments",
            Role::Client,
            m(&[
                raw_frame(0x01, b"ab\xf0\x9f", None),
                raw_frame(0x80, b"\x41", None),
            ]),
            1007,
            "invalid UTF-8 in text message",
        ),
        (
            "text message ending inside a character",
            Role::Client,
            m(&[
                raw_frame(0x01, b"ab", None),
                raw_frame(0x80, b"\xe2\x82", None),
            ]),
            1007,
            "invalid UTF-8 in text message",
        ),
        (
            "control frame with 126 bytes",
            Role::Client,
            raw_frame(0x89, &[0u8; 126], None),
            1002,
            "control frame payload longer than 125 bytes",
        ),
        (
            "fragmented ping",
            Role::Client,
            raw_frame(0x09, b"x", None),
            1002,
            "fragmented control frame",
        ),
        (
            "continuation without start",
            Role::Client,
            raw_frame(0x80, b"x", None),
            1002,
            "continuation frame without a message to continue",
        ),
        (
            "new text while fragmented message open",
            Role::Client,
            m(&[raw_frame(0x01, b"a", None), text(b"b")]),
            1002,
            "new data frame while a fragmented message is open",
        ),
        (
            "oversized single frame",
            Role::Client,
            text(&[b'a'; 4097]),
            1009,
            "message of 4097 bytes exceeds the 4096-byte limit",
        ),
        (
            "oversized fragmented total",
            Role::Client,
            m(&[
                raw_frame(0x01, &[b'a'; 2000], None),
                raw_frame(0x00, &[b'a'; 2000], None),
                raw_frame(0x80, &[b'a'; 97], None),
            ]),
            1009,
            "message of 4097 bytes exceeds the 4096-byte limit",
        ),
        (
            "oversized masked frame to a server",
            Role::Server,
            masked(0x81, &[b'a'; 5000]),
            1009,
            "message of 5000 bytes exceeds the 4096-byte limit",
        ),
    ];
    for (name, role, wire, code, reason) in rows {
        for chunk_size in [wire.len().max(1), 1, 3] {
            let mut decoder = FrameDecoder::new(role);
            let (messages, error) = decode_chunks(&mut decoder, wire.chunks(chunk_size));
            let error = error.unwrap_or_else(|| panic!("{name}: no error, got {messages:?}"));
            assert_eq!(error.close_code().code(), code, "{name}");
            assert_eq!(error.reason(), reason, "{name}");
            // The decoder stays failed.
            let again = decoder.feed(&[0x81, 0x00], |_| Ok::<(), ProtocolError>(()));
            assert_eq!(again, Err(error.clone()), "{name}: sticky");
            // Counting fails with the same error, and stays failed too.
            let mut counter = FrameDecoder::new(role);
            let (_, _, counted) = count_chunks(&mut counter, wire.chunks(chunk_size), 0);
            assert_eq!(counted.as_ref(), Some(&error), "{name}: count");
            assert_eq!(
                counter.count(&[0x81, 0x00], 0, |_| {}),
                Err(error),
                "{name}"
            );
        }
    }
}

#[test]
fn binary_rejected_on_request() {
    let wire = raw_frame(0x82, b"bin", Some(KEY));
    let mut decoder = FrameDecoder::new(Role::Server).with_reject_binary(true);
    // Refused at the first header byte, before the payload arrives.
    let (messages, error) = decode_chunks(&mut decoder, [&wire[..1]]);
    assert!(messages.is_empty());
    let error = error.expect("binary refused");
    assert_eq!(error.close_code(), CloseCode::UnsupportedData);
    assert_eq!(error.reason(), "binary messages are not accepted");
    // Without the flag, binary is delivered.
    assert_eq!(
        decode(Role::Server, 4096, &wire),
        (vec![(Opcode::Binary, b"bin".to_vec())], None)
    );
}

#[test]
fn huge_length_refused_as_soon_as_the_length_is_readable() {
    let header = long_header(0x81, (1 << 63) - 1);
    let mut decoder = FrameDecoder::new(Role::Client);
    let (_, error) = decode_chunks(&mut decoder, [&header[..9]]);
    assert_eq!(error, None, "length not complete yet");
    let (_, error) = decode_chunks(&mut decoder, [&header[9..]]);
    assert_eq!(
        error.map(|e| e.close_code()),
        Some(CloseCode::MessageTooBig)
    );
    // Server role: refused before the 4-byte mask key arrives.
    let mut decoder = FrameDecoder::new(Role::Server);
    let mut header = header;
    header[1] |= 0x80;
    let (_, error) = decode_chunks(&mut decoder, [&header[..]]);
    assert_eq!(
        error.map(|e| e.close_code()),
        Some(CloseCode::MessageTooBig)
    );
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    // The first fragment already holds an impossible byte: fail on it, not at the end.
    let mut decoder = FrameDecoder::new(Role::Client);
    let (_, error) = decode_chunks(&mut decoder, [&raw_frame(0x01, b"ok\xff", None)[..]]);
    assert_eq!(
        error.map(|e| e.close_code()),
        Some(CloseCode::InvalidPayload)
    );
    // Inside a single frame still arriving: fail on the partial payload.
    let frame = raw_frame(0x81, b"abc\xc0\xafmore bytes to come", None);
    let mut decoder = FrameDecoder::new(Role::Client);
    let (_, error) = decode_chunks(&mut decoder, [&frame[..7]]);
    assert_eq!(
        error.map(|e| e.close_code()),
        Some(CloseCode::InvalidPayload)
    );
}

#[test]
fn multibyte_character_split_across_fragments_is_valid() {
    let snowman = "☃€𝄞".as_bytes(); // 3 + 3 + 4 bytes
    for cut1 in 0..=snowman.len() {
        for cut2 in cut1..=snowman.len() {
            let wire = m(&[
                raw_frame(0x01, &snowman[..cut1], None),
                raw_frame(0x89, b"", None),
                raw_frame(0x00, &snowman[cut1..cut2], None),
                raw_frame(0x80, &snowman[cut2..], None),
            ]);
            let (messages, error) = decode(Role::Client, 4096, &wire);
            assert_eq!(error, None, "{cut1} {cut2}");
            assert_eq!(
                messages,
                vec![(Opcode::Ping, vec![]), (Opcode::Text, snowman.to_vec())]
            );
        }
    }
}

#[test]
fn bytes_after_close_are_ignored() {
    let wire = m(&[
        raw_frame(0x88, &close_payload(1001, "away"), None),
        vec![0xFF, 0xFF],
    ]);
    let mut decoder = FrameDecoder::new(Role::Client);
    let (messages, error) = decode_chunks(&mut decoder, [&wire[..]]);
    assert_eq!(error, None);
    assert_eq!(messages, vec![(Opcode::Close, close_payload(1001, "away"))]);
    assert!(decoder.is_closed());
    assert_eq!(
        decode_chunks(&mut decoder, [&[0x81u8, 0][..]]),
        (vec![], None)
    );
}

#[test]
fn visitor_stop_keeps_the_rest() {
    #[derive(Debug, PartialEq)]
    enum Stop {
        Ws(ProtocolError),
        Enough,
    }
    impl From<ProtocolError> for Stop {
        fn from(e: ProtocolError) -> Self {
            Stop::Ws(e)
        }
    }
    let mut wire = Vec::new();
    for word in ["a", "b", "c", "d"] {
        encode_frame(&mut wire, Opcode::Text, word.as_bytes(), None);
    }
    let mut decoder = FrameDecoder::new(Role::Client);
    let mut seen = Vec::new();
    let mut visit = |message: Message<'_>| {
        if let Message::Text(text) = message {
            seen.push(text.to_owned());
        }
        if seen.len() % 2 == 1 {
            Err(Stop::Enough)
        } else {
            Ok(())
        }
    };
    assert_eq!(decoder.feed(&wire[..5], &mut visit), Err(Stop::Enough));
    assert_eq!(decoder.feed(&wire[5..], &mut visit), Err(Stop::Enough));
    assert_eq!(decoder.feed(&[], &mut visit), Ok(()));
    assert_eq!(seen, ["a", "b", "c", "d"]);
}

#[test]
fn unfragmented_frames_are_borrowed_from_the_input() {
    let mut wire = Vec::new();
    encode_frames(&mut wire, Opcode::Text, [&b"one"[..], b"two"], None);
    let range = wire.as_ptr_range();
    let mut decoder = FrameDecoder::new(Role::Client);
    let mut borrowed = 0;
    decoder
        .feed(&wire, |message| {
            if let Message::Text(text) = message {
                assert!(range.contains(&text.as_ptr()));
                borrowed += 1;
            }
            Ok::<(), ProtocolError>(())
        })
        .unwrap();
    assert_eq!(borrowed, 2);
}

// ---------------------------------------------------------------------------------------------
// Chunking invariance

/// A deterministic mixed stream: texts (some multibyte), binaries, pings, pongs, fragmented
/// messages with interleaved control frames, all lengths classes; ends with a close.
fn mixed_stream(role_of_sender: Role, frames: usize, seed: u64) -> (Vec<u8>, Vec<Owned>) {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut key_counter = 0u8;
    let mut mask = || {
        if role_of_sender == Role::Client {
            key_counter = key_counter.wrapping_add(1);
            Some([key_counter, 0x5a, key_counter ^ 0xff, 0x11])
        } else {
            None
        }
    };
    let text = "price€☃𝄞 ";
    for i in 0..frames {
        let len = match next() % 10 {
            0 => 0,
            1 => 126 + next() % 300,
            2 => 1000 + next() % 3000,
            _ => next() % 120,
        };
        match next() % 6 {
            0 | 1 => {
                let payload: String = text.chars().cycle().skip(i % 9).take(len / 2).collect();
                encode_frame(&mut wire, Opcode::Text, payload.as_bytes(), mask());
                expected.push((Opcode::Text, payload.into_bytes()));
            }
            2 => {
                let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                encode_frame(&mut wire, Opcode::Binary, &payload, mask());
                expected.push((Opcode::Binary, payload));
            }
            3 => {
                let payload: Vec<u8> = (0..len.min(125)).map(|j| j as u8).collect();
                let opcode = if next() % 2 == 0 {
                    Opcode::Ping
                } else {
                    Opcode::Pong
                };
                encode_frame(&mut wire, opcode, &payload, mask());
                expected.push((opcode, payload));
            }
            _ => {
                // A fragmented text message cut at arbitrary byte offsets (splitting characters).
                let payload: String = text.chars().cycle().skip(i % 5).take(len / 3 + 1).collect();
                let bytes = payload.as_bytes();
                let pieces = 1 + next() % 4;
                let mut cuts: Vec<usize> = (0..pieces - 1)
                    .map(|_| next() % (bytes.len() + 1))
                    .collect();
                cuts.sort_unstable();
                cuts.insert(0, 0);
                cuts.push(bytes.len());
                for (k, window) in cuts.windows(2).enumerate() {
                    let opcode = if k == 0 {
                        Opcode::Text
                    } else {
                        Opcode::Continuation
                    };
                    let fin = k == cuts.len() - 2;
                    let piece = &bytes[window[0]..window[1]];
                    let key = mask();
                    write_header(&mut wire, fin, opcode, piece.len(), key);
                    let start = wire.len();
                    wire.extend_from_slice(piece);
                    if let Some(key) = key {
                        frame::apply_mask(&mut wire[start..], key, 0);
                    }
                    if !fin && next() % 2 == 0 {
                        encode_frame(&mut wire, Opcode::Ping, b"hb", mask());
                        expected.push((Opcode::Ping, b"hb".to_vec()));
                    }
                }
                expected.push((Opcode::Text, bytes.to_vec()));
            }
        }
    }
    let close = close_payload(1000, "done");
    encode_frame(&mut wire, Opcode::Close, &close, mask());
    expected.push((Opcode::Close, close));
    (wire, expected)
}

#[test]
fn byte_at_a_time_equals_one_shot() {
    for (receiver, sender) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let (wire, expected) = mixed_stream(sender, 3000, 7);
        let mut one_shot = FrameDecoder::new(receiver);
        let (messages, error) = decode_chunks(&mut one_shot, [&wire[..]]);
        assert_eq!(error, None);
        assert_eq!(messages.len(), expected.len());
        assert_eq!(messages, expected);
        let mut bytewise = FrameDecoder::new(receiver);
        let (messages, error) = decode_chunks(&mut bytewise, wire.chunks(1));
        assert_eq!(error, None);
        assert_eq!(messages, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_decodes_the_same(
        seed in any::<u64>(),
        client_sends in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
    ) {
        let (sender, receiver) = if client_sends {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let (wire, expected) = mixed_stream(sender, 200, seed);
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        offsets.push(0);
        offsets.push(wire.len());
        offsets.sort_unstable();
        let chunks = offsets.windows(2).map(|w| &wire[w[0]..w[1]]);
        let mut decoder = FrameDecoder::new(receiver);
        let (messages, error) = decode_chunks(&mut decoder, chunks);
        prop_assert_eq!(error, None);
        prop_assert_eq!(messages, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), server in any::<bool>()) {
        let role = if server { Role::Server } else { Role::Client };
        let mut one_shot = FrameDecoder::new(role);
        let whole = decode_chunks(&mut one_shot, [&bytes[..]]);
        let mut bytewise = FrameDecoder::new(role);
        let split = decode_chunks(&mut bytewise, bytes.chunks(1));
        // Same messages and same verdict whatever the chunking.
        prop_assert_eq!(whole, split);
    }
}

// ---------------------------------------------------------------------------------------------
// Counting

/// Counts `chunks` in order: the text messages of at least `min_size` bytes, every other
/// message, and the first error. Like Python, a failing chunk's messages are dropped.
fn count_chunks<'a>(
    decoder: &mut FrameDecoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    min_size: usize,
) -> (usize, Vec<Owned>, Option<ProtocolError>) {
    let mut counted = 0;
    let mut others = Vec::new();
    for chunk in chunks {
        let mut chunk_others = Vec::new();
        match decoder.count(chunk, min_size, |message| chunk_others.push(owned(message))) {
            Ok(n) => {
                counted += n;
                others.append(&mut chunk_others);
            }
            Err(error) => return (counted, others, Some(error)),
        }
    }
    (counted, others, None)
}

/// What counting must give for `messages` decoded by `feed`.
fn split_counted(messages: Vec<Owned>, min_size: usize) -> (usize, Vec<Owned>) {
    let (texts, others): (Vec<Owned>, Vec<Owned>) = messages
        .into_iter()
        .partition(|(opcode, payload)| *opcode == Opcode::Text && payload.len() >= min_size);
    (texts.len(), others)
}

/// `feed` per chunk, dropping a failing chunk's messages (the Python binding's contract).
fn feed_chunks_whole<'a>(
    decoder: &mut FrameDecoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Owned>, Option<ProtocolError>) {
    let mut out = Vec::new();
    for chunk in chunks {
        let (mut messages, error) = decode_chunks(decoder, [chunk]);
        if error.is_some() {
            return (out, error);
        }
        out.append(&mut messages);
    }
    (out, None)
}

#[test]
fn counting_a_mixed_stream() {
    for (receiver, sender) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let (wire, expected) = mixed_stream(sender, 3000, 11);
        for min_size in [0, 1, 60, 200, 1000, usize::MAX] {
            let (texts, others) = split_counted(expected.clone(), min_size);
            for chunk in [wire.len(), 1, 7, 4096] {
                let mut decoder = FrameDecoder::new(receiver);
                let got = count_chunks(&mut decoder, wire.chunks(chunk), min_size);
                assert_eq!(got, (texts, others.clone(), None), "{min_size} {chunk}");
                assert!(decoder.is_closed());
            }
        }
    }
}

#[test]
fn counting_and_feeding_share_one_decoder() {
    // A text message split across a `feed` and a `count` call is counted by the call that
    // finishes it, and a caller may switch between the two at any byte.
    let mut wire = Vec::new();
    encode_frames(
        &mut wire,
        Opcode::Text,
        [&[b'a'; 300][..], &[b'b'; 300]],
        None,
    );
    let mut decoder = FrameDecoder::new(Role::Client);
    let (messages, error) = decode_chunks(&mut decoder, [&wire[..100]]);
    assert_eq!((messages, error), (vec![], None));
    assert_eq!(decoder.count(&wire[100..400], 300, |_| {}), Ok(1));
    let (messages, error) = decode_chunks(&mut decoder, [&wire[400..]]);
    assert_eq!(
        (messages, error),
        (vec![(Opcode::Text, vec![b'b'; 300])], None)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn counting_agrees_with_feed_under_any_chunking(
        seed in any::<u64>(),
        client_sends in any::<bool>(),
        min_size in 0usize..700,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
        feeds in proptest::collection::vec(any::<bool>(), 61),
    ) {
        let (sender, receiver) = if client_sends {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let (wire, expected) = mixed_stream(sender, 200, seed);
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        offsets.push(0);
        offsets.push(wire.len());
        offsets.sort_unstable();
        let chunks: Vec<&[u8]> = offsets.windows(2).map(|w| &wire[w[0]..w[1]]).collect();
        let (texts, others) = split_counted(expected.clone(), min_size);
        let mut decoder = FrameDecoder::new(receiver);
        prop_assert_eq!(
            count_chunks(&mut decoder, chunks.iter().copied(), min_size),
            (texts, others, None)
        );
        // Switching between `feed` and `count` from chunk to chunk changes nothing.
        let mut decoder = FrameDecoder::new(receiver);
        let mut counted = 0;
        let mut rest = Vec::new();
        for (chunk, feed) in chunks.iter().zip(&feeds) {
            if *feed {
                let (messages, error) = decode_chunks(&mut decoder, [*chunk]);
                prop_assert_eq!(error, None);
                let (n, mut others) = split_counted(messages, min_size);
                counted += n;
                rest.append(&mut others);
            } else {
                let (n, mut others, error) = count_chunks(&mut decoder, [*chunk], min_size);
                prop_assert_eq!(error, None);
                counted += n;
                rest.append(&mut others);
            }
        }
        prop_assert_eq!((counted, rest), split_counted(expected, min_size));
    }

    #[test]
    fn counting_arbitrary_bytes_fails_as_feed_does(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        server in any::<bool>(),
        max in 0usize..200,
        min_size in 0usize..64,
        chunk in 1usize..40,
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut fed = FrameDecoder::new(role).with_max_message_size(max);
        let (messages, feed_error) = feed_chunks_whole(&mut fed, bytes.chunks(chunk));
        let (n, others) = split_counted(messages, min_size);
        let mut counter = FrameDecoder::new(role).with_max_message_size(max);
        // Same counts, same other messages, same error (or none), same state after.
        prop_assert_eq!(
            count_chunks(&mut counter, bytes.chunks(chunk), min_size),
            (n, others, feed_error)
        );
        prop_assert_eq!(counter.error(), fed.error());
        prop_assert_eq!(counter.is_closed(), fed.is_closed());
    }
}

/// Decode throughput on small frames; run with
/// `cargo test -p fastfeed-core --release -- --ignored --nocapture throughput`.
#[test]
#[ignore = "benchmark"]
fn throughput() {
    let payload = br#"{"header":{"type":"TRADE","status":"CONNECTED"},"trade":{"price":4.15}}"#;
    let mut wire = Vec::new();
    for _ in 0..100_000 {
        encode_frame(&mut wire, Opcode::Text, payload, None);
    }
    for (name, chunk) in [("64 KiB reads", 65536usize), ("whole buffer", wire.len())] {
        let mut decoder = FrameDecoder::new(Role::Client);
        let start = std::time::Instant::now();
        let mut total = 0usize;
        for _ in 0..20 {
            for part in wire.chunks(chunk) {
                decoder
                    .feed(part, |message| {
                        if let Message::Text(text) = message {
                            total += text.len();
                        }
                        Ok::<(), ProtocolError>(())
                    })
                    .unwrap();
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(total, 20 * 100_000 * payload.len());
        println!(
            "{name}: {:.0} MB/s, {:.1} M frames/s",
            20.0 * wire.len() as f64 / seconds / 1e6,
            2e6 / seconds / 1e6
        );
        let mut decoder = FrameDecoder::new(Role::Client);
        let start = std::time::Instant::now();
        let mut counted = 0usize;
        for _ in 0..20 {
            for part in wire.chunks(chunk) {
                counted += decoder.count(part, 1, |_| {}).unwrap();
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(counted, 20 * 100_000);
        println!(
            "{name}, count: {:.0} MB/s, {:.1} M frames/s",
            20.0 * wire.len() as f64 / seconds / 1e6,
            2e6 / seconds / 1e6
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake

const RFC_KEY: [u8; 16] = *b"the sample nonce";

fn response(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

#[test]
fn rfc_accept_key() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn request_shape() {
    let handshake = ClientHandshake::new(
        "127.0.0.1",
        25520,
        "/v1/events?token=t",
        RFC_KEY,
        &[
            ("Origin", "http://localhost"),
            ("Authorization", "Bearer T"),
        ],
    )
    .unwrap();
    assert_eq!(handshake.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(handshake.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        std::str::from_utf8(handshake.request()).unwrap(),
        "GET /v1/events?token=t HTTP/1.1\r\nHost: 127.0.0.1:25520\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\nAuthorization: Bearer T\r\n\r\n"
    );
    let v6 = ClientHandshake::new("::1", 80, "/", RFC_KEY, &[]).unwrap();
    let needle = b"\r\nHost: [::1]:80\r\n";
    assert!(v6.request().windows(needle.len()).any(|w| w == needle));
}

#[test]
fn bad_request_arguments() {
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: [Case; 5] = [
        ("", "/", &[], "invalid host \"\""),
        ("h", "x", &[], "invalid path \"x\": must start with '/' and contain no spaces or control characters"),
        ("h", "/a b", &[], "invalid path \"/a b\": must start with '/' and contain no spaces or control characters"),
        ("h", "/", &[("Origin", "a\r\nX: y")], "header Origin has a value with CR, LF or NUL"),
        ("h", "/", &[("host", "x")], "header host is set by the handshake itself"),
    ];
    for (host, path, headers, message) in cases {
        let error = ClientHandshake::new(host, 80, path, RFC_KEY, headers).unwrap_err();
        assert_eq!(error.message(), message);
    }
}

#[test]
fn response_byte_by_byte_with_leftover() {
    let mut handshake = ClientHandshake::new("localhost", 80, "/", RFC_KEY, &[]).unwrap();
    let mut wire = response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").into_bytes();
    let head_len = wire.len();
    wire.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    for (i, byte) in wire[..head_len - 1].chunks(1).enumerate() {
        assert_eq!(
            handshake.feed(byte),
            Ok(HandshakeStatus::Pending),
            "byte {i}"
        );
    }
    assert_eq!(
        handshake.feed(&wire[head_len - 1..]),
        Ok(HandshakeStatus::Complete {
            leftover: &[0x81, 0x02, b'h', b'i']
        })
    );
    assert!(handshake.is_complete());
    assert!(handshake.feed(b"x").is_err());
}

#[test]
fn bad_responses() {
    let good_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let cases: Vec<(String, String)> = vec![
        (
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".into(),
            "server answered \"HTTP/1.1 403 Forbidden\", expected HTTP/1.1 101 Switching Protocols".into(),
        ),
        ("garbage\r\n\r\n".into(), "malformed status line \"garbage\"".into()),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".into(),
            "missing Sec-WebSocket-Accept header".into(),
        ),
        (
            response("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            format!("Sec-WebSocket-Accept is \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\", expected \"{good_accept}\""),
        ),
        (
            format!("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {good_accept}\r\n\r\n"),
            "missing Upgrade header".into(),
        ),
        (
            format!("HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {good_accept}\r\n\r\n"),
            "Upgrade header is \"h2c\", expected \"websocket\"".into(),
        ),
        (
            format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: {good_accept}\r\n\r\n"),
            "missing \"upgrade\" token in Connection header".into(),
        ),
        (
            format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {good_accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
            "server selected extensions \"permessage-deflate\" that were not offered".into(),
        ),
    ];
    for (wire, message) in cases {
        let mut handshake = ClientHandshake::new("localhost", 80, "/", RFC_KEY, &[]).unwrap();
        let error = handshake.feed(wire.as_bytes()).unwrap_err();
        assert_eq!(error.message(), message);
        assert_eq!(handshake.feed(b"more"), Err(error), "sticky");
    }
    // Header names and the Connection token list are case-insensitive.
    let mut handshake = ClientHandshake::new("localhost", 80, "/", RFC_KEY, &[]).unwrap();
    let wire = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, upgrade\r\n\
         sec-websocket-accept: {good_accept}\r\n\r\n"
    );
    assert_eq!(
        handshake.feed(wire.as_bytes()),
        Ok(HandshakeStatus::Complete { leftover: &[] })
    );
}

#[test]
fn oversized_response_head() {
    let mut handshake = ClientHandshake::new("localhost", 80, "/", RFC_KEY, &[]).unwrap();
    let mut wire = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    while wire.len() < 20_000 {
        wire.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut result = Ok(HandshakeStatus::Pending);
    for chunk in wire.chunks(1000) {
        result = handshake.feed(chunk);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result.unwrap_err().message(),
        "response head exceeds 16384 bytes"
    );
}

#[test]
fn subprotocol_must_be_offered() {
    let good_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let wire = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {good_accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    let mut plain = ClientHandshake::new("localhost", 80, "/", RFC_KEY, &[]).unwrap();
    assert_eq!(
        plain.feed(wire.as_bytes()).unwrap_err().message(),
        "server selected subprotocol \"chat\" that was not offered"
    );
    let mut offered = ClientHandshake::new(
        "localhost",
        80,
        "/",
        RFC_KEY,
        &[("Sec-WebSocket-Protocol", "superchat, chat")],
    )
    .unwrap();
    assert!(offered.feed(wire.as_bytes()).is_ok());
}

// --- MessageAssembler fed already-parsed frames ---------------------------------------------

fn assemble(
    assembler: &mut MessageAssembler,
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
) -> Result<Option<Owned>, ProtocolError> {
    assembler
        .feed_frame(fin, rsv, opcode, payload)
        .map(|message| message.map(owned))
}

/// `(fin, rsv, opcode, payload)` of a frame as another parser hands it over.
type RawFrame = (bool, u8, u8, Vec<u8>);

fn code_and_reason(error: &ProtocolError) -> (u16, &str) {
    (error.close_code().code(), error.reason())
}

#[test]
fn assembler_passes_unfragmented_messages_through() {
    let mut assembler = MessageAssembler::new().with_reject_binary(true);
    let payload = br#"{"msg_type":"STOP","id":1}"#;
    match assembler.feed_frame(true, 0, 1, payload) {
        Ok(Some(Message::Text(text))) => {
            assert_eq!(text.as_bytes(), payload);
            assert_eq!(text.as_ptr(), payload.as_ptr(), "borrowed, not copied");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        assemble(&mut assembler, true, 0, 9, b"hi").unwrap(),
        Some(owned(Message::Ping(b"hi")))
    );
    assert_eq!(
        assemble(&mut assembler, true, 0, 8, &close_payload(1000, "bye")).unwrap(),
        Some(owned(Message::Close {
            code: Some(1000),
            reason: "bye"
        }))
    );
}

#[test]
fn assembler_joins_fragments_with_a_character_split_across_them() {
    let mut assembler = MessageAssembler::new();
    let text = "prix: 4€ ok".as_bytes();
    let euro = text.iter().position(|&b| b == 0xE2).unwrap();
    assert_eq!(
        assemble(&mut assembler, false, 0, 1, &text[..=euro]).unwrap(),
        None
    );
    assert!(assembler.is_fragmented());
    assert_eq!(assembler.buffered(), euro + 1);
    // A ping may arrive between fragments.
    assert_eq!(
        assemble(&mut assembler, true, 0, 9, b"").unwrap(),
        Some(owned(Message::Ping(b"")))
    );
    assert_eq!(
        assemble(&mut assembler, false, 0, 0, &text[euro + 1..euro + 2]).unwrap(),
        None
    );
    assert_eq!(
        assemble(&mut assembler, true, 0, 0, &text[euro + 2..]).unwrap(),
        Some(owned(Message::Text("prix: 4€ ok")))
    );
    assert!(!assembler.is_fragmented());
    assert_eq!(assembler.buffered(), 0);
    // The next message starts clean.
    assert_eq!(
        assemble(&mut assembler, true, 0, 2, b"\xff").unwrap(),
        Some(owned(Message::Binary(b"\xff")))
    );
}

#[test]
fn assembler_violations_and_their_close_codes() {
    let cases: Vec<(Vec<RawFrame>, u16, &str)> = vec![
        (
            vec![(true, 4, 1, b"x".to_vec())],
            1002,
            "reserved bits set (RSV 0b100) without a negotiated extension",
        ),
        (
            vec![(true, 1, 1, b"x".to_vec())],
            1002,
            "reserved bits set (RSV 0b001) without a negotiated extension",
        ),
        (
            vec![(true, 0, 3, b"x".to_vec())],
            1002,
            "unknown opcode 0x3",
        ),
        (
            vec![(false, 0, 9, b"x".to_vec())],
            1002,
            "fragmented control frame",
        ),
        (
            vec![(true, 0, 0, b"x".to_vec())],
            1002,
            "continuation frame without a message to continue",
        ),
        (
            vec![(false, 0, 1, b"x".to_vec()), (true, 0, 1, b"y".to_vec())],
            1002,
            "new data frame while a fragmented message is open",
        ),
        (
            vec![(true, 0, 2, b"x".to_vec())],
            1003,
            "binary messages are not accepted",
        ),
        (
            vec![(false, 0, 2, b"x".to_vec())],
            1003,
            "binary messages are not accepted",
        ),
        (
            vec![(true, 0, 1, b"a\xffb".to_vec())],
            1007,
            "invalid UTF-8 in text message",
        ),
        // Rejected at the first fragment, before the message ends.
        (
            vec![(false, 0, 1, b"a\xc0".to_vec())],
            1007,
            "invalid UTF-8 in text message",
        ),
        // A fragment ending inside a character, then the message ending there.
        (
            vec![
                (false, 0, 1, b"a\xe2\x82".to_vec()),
                (true, 0, 0, Vec::new()),
            ],
            1007,
            "invalid UTF-8 in text message",
        ),
        (
            vec![(true, 0, 1, vec![b'a'; 4097])],
            1009,
            "message of 4097 bytes exceeds the 4096-byte limit",
        ),
        (
            vec![
                (false, 0, 1, vec![b'a'; 4000]),
                (false, 0, 0, vec![b'a'; 96]),
                (true, 0, 0, vec![b'a'; 1]),
            ],
            1009,
            "message of 4097 bytes exceeds the 4096-byte limit",
        ),
        (
            vec![(true, 0, 10, vec![0; 126])],
            1002,
            "control frame payload longer than 125 bytes",
        ),
        (
            vec![(true, 0, 8, vec![0x03])],
            1002,
            "close payload of 1 byte",
        ),
        (
            vec![(true, 0, 8, vec![0x03, 0xEE])],
            1002,
            "invalid close code 1006",
        ),
    ];
    for (frames, code, reason) in cases {
        let mut assembler = MessageAssembler::new().with_reject_binary(true);
        let (last, earlier) = frames.split_last().unwrap();
        for (fin, rsv, opcode, payload) in earlier {
            assert_eq!(
                assemble(&mut assembler, *fin, *rsv, *opcode, payload),
                Ok(None),
                "{reason}"
            );
        }
        let error = assemble(&mut assembler, last.0, last.1, last.2, &last.3).unwrap_err();
        assert_eq!(code_and_reason(&error), (code, reason));
        // Sticky: a valid frame afterwards gets the same error.
        assert_eq!(
            assemble(&mut assembler, true, 0, 9, b""),
            Err(error.clone())
        );
        assert_eq!(assembler.error(), Some(&error));
    }
}

#[test]
fn assembler_accepts_exactly_the_cap() {
    let mut assembler = MessageAssembler::new().with_max_message_size(10);
    assert_eq!(
        assemble(&mut assembler, false, 0, 1, b"01234").unwrap(),
        None
    );
    assert_eq!(
        assemble(&mut assembler, true, 0, 0, b"56789").unwrap(),
        Some(owned(Message::Text("0123456789")))
    );
    assert_eq!(
        assemble(&mut assembler, true, 0, 1, b"0123456789").unwrap(),
        Some(owned(Message::Text("0123456789")))
    );
}

#[test]
fn assembler_agrees_with_the_frame_decoder_on_a_mixed_stream() {
    // The decoder's own messages, re-fed frame by frame through a bare assembler.
    let (bytes, expected) = mixed_stream(Role::Server, 300, 11);
    let mut parsed = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let b0 = bytes[pos];
        let mut len = usize::from(bytes[pos + 1] & 0x7F);
        let mut header = 2;
        if len == 126 {
            len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
            header = 4;
        } else if len == 127 {
            len = usize::try_from(u64::from_be_bytes(
                bytes[pos + 2..pos + 10].try_into().unwrap(),
            ))
            .unwrap();
            header = 10;
        }
        let payload = &bytes[pos + header..pos + header + len];
        parsed.push((b0 & 0x80 != 0, (b0 >> 4) & 7, b0 & 0x0F, payload));
        pos += header + len;
    }
    let mut assembler = MessageAssembler::new().with_max_message_size(usize::MAX);
    let mut got = Vec::new();
    for (fin, rsv, opcode, payload) in parsed {
        if let Some(message) = assembler.feed_frame(fin, rsv, opcode, payload).unwrap() {
            got.push(owned(message));
        }
    }
    assert_eq!(got, expected);
}
