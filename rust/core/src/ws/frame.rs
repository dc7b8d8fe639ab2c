//! Frame-level vocabulary of RFC 6455 and frame encoding.

/// Which end of the connection we are. Clients mask every frame they send; servers never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// A frame opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl Opcode {
    /// Decodes the low nibble of the first header byte; `None` for reserved opcodes.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// True for close, ping and pong.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Close status codes fastfeed sends (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CloseCode {
    Normal = 1000,
    GoingAway = 1001,
    ProtocolError = 1002,
    UnsupportedData = 1003,
    InvalidPayload = 1007,
    PolicyViolation = 1008,
    MessageTooBig = 1009,
    InternalError = 1011,
}

impl CloseCode {
    /// The numeric code.
    pub const fn code(self) -> u16 {
        self as u16
    }
}

/// Largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Payload-length value announcing a 16-bit extended length.
pub const LEN16_MARKER: u8 = 0x7E;

/// Payload-length value announcing a 64-bit extended length.
pub const LEN64_MARKER: u8 = 0x7F;

/// Most bytes a frame header can take (2 + 8 extended length + 4 mask).
pub const MAX_HEADER_LEN: usize = 14;

/// Appends one complete, final (FIN set) frame to `out`.
///
/// With `mask = Some(key)` (client role) the payload is masked with `key` while it is copied;
/// with `None` (server role) it is copied as is.
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    out.reserve(MAX_HEADER_LEN + payload.len());
    write_header(out, true, opcode, payload.len(), mask);
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key, 0);
        }
    }
}

/// Appends one complete frame per payload to `out`, all with `opcode`, in one call.
///
/// This is how a server batches many events into one socket write. With `mask = Some(key)`
/// every frame is masked with the same caller-supplied key (the core never draws randomness;
/// a client should pass a fresh random key per call).
pub fn encode_frames<'a>(
    out: &mut Vec<u8>,
    opcode: Opcode,
    payloads: impl IntoIterator<Item = &'a [u8]>,
    mask: Option<[u8; 4]>,
) {
    for payload in payloads {
        encode_frame(out, opcode, payload, mask);
    }
}

/// Appends a frame header for a payload of `len` bytes.
pub fn write_header(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    let b0 = (u8::from(fin) << 7) | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    if len < LEN16_MARKER as usize {
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | LEN16_MARKER);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | LEN64_MARKER);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// XORs `data` with the masking key, as if `data` started at byte `offset` of the payload.
/// Masking is its own inverse, so this both masks and unmasks.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let rot = offset % 4;
    let key = [
        key[rot],
        key[(rot + 1) % 4],
        key[(rot + 2) % 4],
        key[(rot + 3) % 4],
    ];
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            encode_frame(&mut out, Opcode::Binary, &vec![7u8; len], None);
            assert_eq!(out.len(), header_len + len, "len {len}");
        }
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7: unmasked and masked "Hello".
        let mut out = Vec::new();
        encode_frame(&mut out, Opcode::Text, b"Hello", None);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode_frame(
            &mut out,
            Opcode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn many_frames_in_one_buffer() {
        let mut out = Vec::new();
        encode_frames(&mut out, Opcode::Text, [&b"a"[..], b"", b"bc"], None);
        assert_eq!(out, [0x81, 1, b'a', 0x81, 0, 0x81, 2, b'b', b'c']);
        out.clear();
        encode_frames(
            &mut out,
            Opcode::Binary,
            [&b"ab"[..], b"ab"],
            Some([1, 2, 3, 4]),
        );
        assert_eq!(
            out,
            [
                0x82,
                0x82,
                1,
                2,
                3,
                4,
                b'a' ^ 1,
                b'b' ^ 2,
                0x82,
                0x82,
                1,
                2,
                3,
                4,
                b'a' ^ 1,
                b'b' ^ 2
            ]
        );
    }

    #[test]
    fn mask_offsets_compose() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..37).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(11);
        apply_mask(a, key, 0);
        apply_mask(b, key, 11);
        assert_eq!(whole, parts);
    }
}
