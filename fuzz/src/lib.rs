//! What the fuzz targets share: the first input byte chooses a configuration (a cap, a chunk
//! size), the rest is the untrusted input. Beyond "no panic, no hang, bounded memory", every
//! target checks an invariant the parser documents: any chunking decodes the same, a reply we
//! send is valid JSON, the strict dialect accepts a subset of the terminal one.

use std::path::PathBuf;

use fastfeed_core::ws::{FrameDecoder, Message, ProtocolError, Role};

/// A decoded message, owned so that runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl From<Message<'_>> for Owned {
    fn from(message: Message<'_>) -> Self {
        match message {
            Message::Text(t) => Owned::Text(t.to_owned()),
            Message::Binary(b) => Owned::Binary(b.to_vec()),
            Message::Ping(p) => Owned::Ping(p.to_vec()),
            Message::Pong(p) => Owned::Pong(p.to_vec()),
            Message::Close { code, reason } => Owned::Close(code, reason.to_owned()),
        }
    }
}

/// The messages a decoder delivered and the violation that ended it, if any.
pub type Outcome = (Vec<Owned>, Option<(u16, String)>);

/// The caps tried: a control frame's size, the server's 4096, Autobahn's 16 MiB, no cap (a
/// header announcing 2^63 bytes must not make the decoder reserve them).
const CAPS: [usize; 4] = [125, 4096, 16 << 20, usize::MAX];

/// Splits `data` into its configuration byte and the input.
pub fn split_config(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(&config, rest)| (config, rest))
}

/// The chunk size a configuration byte asks for: 1 to 32 bytes.
pub fn chunk_size(config: u8) -> usize {
    usize::from(config >> 3) + 1
}

fn decoder(role: Role, config: u8) -> FrameDecoder {
    FrameDecoder::new(role)
        .with_max_message_size(CAPS[usize::from(config & 3)])
        .with_reject_binary(config & 4 != 0)
}

fn fault(error: &ProtocolError) -> (u16, String) {
    (error.close_code().code(), error.reason().to_owned())
}

/// Decodes `wire` fed in chunks of `chunk` bytes.
fn decode_chunked(role: Role, config: u8, wire: &[u8], chunk: usize) -> Outcome {
    let mut d = decoder(role, config);
    let mut messages = Vec::new();
    for part in wire.chunks(chunk.max(1)) {
        let fed = d.feed(part, |m| {
            messages.push(Owned::from(m));
            Ok::<(), ProtocolError>(())
        });
        if let Err(error) = fed {
            return (messages, Some(fault(&error)));
        }
    }
    (messages, None)
}

/// Why [`decode_stepwise`]'s visitor stopped.
enum Stop {
    Protocol(ProtocolError),
    Visitor,
}

impl From<ProtocolError> for Stop {
    fn from(error: ProtocolError) -> Self {
        Stop::Protocol(error)
    }
}

/// Decodes `wire` in one call whose visitor stops after every message, then resumes with
/// empty input: the decoder's stash must give back exactly the rest.
fn decode_stepwise(role: Role, config: u8, wire: &[u8]) -> Outcome {
    let mut d = decoder(role, config);
    let mut messages = Vec::new();
    let mut input = wire;
    // Each round delivers one message or ends, so this is bounded by the input's length.
    for _ in 0..=wire.len() + 1 {
        let fed = d.feed(input, |m| {
            messages.push(Owned::from(m));
            Err(Stop::Visitor)
        });
        input = &[];
        match fed {
            Ok(()) => return (messages, None),
            Err(Stop::Protocol(error)) => return (messages, Some(fault(&error))),
            Err(Stop::Visitor) => {}
        }
    }
    panic!("the decoder kept stopping without delivering a message");
}

/// The frame-decoder target of either role: one call, chunked and stepwise must agree.
pub fn frame_decoder(role: Role, data: &[u8]) {
    let Some((config, wire)) = split_config(data) else {
        return;
    };
    let whole = decode_chunked(role, config, wire, wire.len());
    let chunked = decode_chunked(role, config, wire, chunk_size(config));
    assert_eq!(whole, chunked, "chunks of {}", chunk_size(config));
    let stepwise = decode_stepwise(role, config, wire);
    assert_eq!(whole, stepwise, "stepwise");
}

/// Asserts that `reply` (what the server would send) is one valid JSON value.
pub fn assert_json(reply: &[u8]) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(reply) {
        panic!(
            "reply is not JSON ({e}): {}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// A file in this process's own temporary folder, for the replay reader (which reads paths).
pub fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fastfeed-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write the input file");
    path
}

/// Reads `contents` as a replay file called `name` (its suffix picks the format) under both
/// bad-line policies; a rewind must read the same events again, and no more events come out
/// than the pre-scan counted lines.
pub fn replay(name: &str, contents: &[u8]) {
    use fastfeed_core::replay::{BadLinePolicy, ReplayReader};
    let path = scratch_file(name, contents);
    for policy in [BadLinePolicy::Stop, BadLinePolicy::Skip] {
        let Ok(mut reader) = ReplayReader::open(vec![path.clone()], policy) else {
            continue;
        };
        let read_all = |reader: &mut ReplayReader| {
            let mut times = Vec::new();
            while let Ok(n) = reader.read(256, None, |event| times.push(event.time)) {
                if n == 0 {
                    break;
                }
            }
            times
        };
        let first = read_all(&mut reader);
        // The file is there to be counted: only a file that cannot be read has no total.
        let total = reader.wait_total().expect("a readable file is counted");
        assert!(first.len() as u64 <= total, "more events than lines");
        if reader.rewind().is_ok() {
            assert_eq!(read_all(&mut reader), first, "after a rewind");
        }
    }
}
