//! Incremental RFC 6455 frame and message decoder, fed arbitrary byte chunks.
//!
//! [`FrameDecoder::feed`] takes whatever a socket read returned — one byte, or hundreds of
//! frames — and calls a visitor once per complete message or control frame, in arrival order.
//!
//! # Borrowing rule
//!
//! The [`Message`] handed to the visitor borrows either the input slice or the decoder's own
//! buffer, and is valid only for the duration of that visitor call; copy what must outlive it.
//! An unmasked, unfragmented frame that lies whole inside the input (the common case for a
//! client reading a server's stream) is borrowed straight from the input with no copy and no
//! allocation. Only partial tails, fragmented messages and masked payloads (the server role)
//! go through the decoder's reusable buffer, which after warm-up does not allocate either.
//!
//! # Failure
//!
//! Every violation is a [`ProtocolError`] naming the close code to send. Once failed, the
//! decoder stays failed: every later [`feed`](FrameDecoder::feed) returns the same error.
//! After a valid Close frame the decoder is closed: later bytes are ignored.

use std::fmt;

use super::assembler::{control_message, data_message, MessageAssembler};
use super::close::ClosePayloadError;
use super::frame::{apply_mask, CloseCode, Opcode, Role, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};

/// Inbound message size cap of the `/v1/events` server (SPEC §3.4).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4096;

/// A protocol violation by the peer: close the connection with [`close_code`](Self::close_code).
///
/// The reason is short enough (≤ 123 bytes) to be sent as the close frame's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    close_code: CloseCode,
    reason: String,
}

impl ProtocolError {
    pub(crate) fn new(close_code: CloseCode, reason: impl Into<String>) -> Self {
        Self {
            close_code,
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::new(CloseCode::ProtocolError, reason)
    }

    pub(crate) fn invalid_text() -> Self {
        Self::new(CloseCode::InvalidPayload, "invalid UTF-8 in text message")
    }

    /// The close code to send: 1002, 1003, 1007 or 1009.
    pub fn close_code(&self) -> CloseCode {
        self.close_code
    }

    /// A readable reason, usable as the close reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<ClosePayloadError> for ProtocolError {
    fn from(error: ClosePayloadError) -> Self {
        match error {
            ClosePayloadError::Truncated => Self::protocol("close payload of 1 byte"),
            ClosePayloadError::InvalidCode(code) => {
                Self::protocol(format!("invalid close code {code}"))
            }
            ClosePayloadError::InvalidReason => {
                Self::new(CloseCode::InvalidPayload, "invalid UTF-8 in close reason")
            }
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.close_code.code())
    }
}

impl std::error::Error for ProtocolError {}

/// A complete message or control frame. Borrowed: see the module's borrowing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (all fragments joined), validated UTF-8.
    Text(&'a str),
    /// A binary message (all fragments joined).
    Binary(&'a [u8]),
    /// A ping; the caller answers with a pong carrying the same payload.
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// A close frame; `code` is `None` for an empty payload ("no status", 1005 locally).
    Close {
        code: Option<u16>,
        reason: &'a str,
    },
}

impl Message<'_> {
    /// The opcode this message arrived with (the first fragment's for a fragmented message).
    pub fn opcode(&self) -> Opcode {
        match self {
            Message::Text(_) => Opcode::Text,
            Message::Binary(_) => Opcode::Binary,
            Message::Ping(_) => Opcode::Ping,
            Message::Pong(_) => Opcode::Pong,
            Message::Close { .. } => Opcode::Close,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Between frames, or with `header_len` bytes of a header buffered.
    Header,
    /// Inside the payload of a frame whose header is accepted; `received` bytes buffered.
    Payload {
        header: FrameHeader,
        received: usize,
    },
}

/// Why a step stopped: a peer violation, or the caller's visitor said stop.
enum Fault<E> {
    Protocol(ProtocolError),
    Visitor(E),
}

impl<E> From<ProtocolError> for Fault<E> {
    fn from(error: ProtocolError) -> Self {
        Fault::Protocol(error)
    }
}

/// The sans-I/O decoder of one connection direction. See the module documentation.
#[derive(Debug)]
pub struct FrameDecoder {
    role: Role,
    /// Fragment joining, size cap, UTF-8 and opcode rules; this type only parses the wire.
    assembler: MessageAssembler,
    stage: Stage,
    header_buf: [u8; MAX_HEADER_LEN],
    header_len: usize,
    control: [u8; MAX_CONTROL_PAYLOAD],
    /// Input left over when a visitor stopped early, decoded first by the next `feed`.
    stash: Vec<u8>,
    failed: Option<ProtocolError>,
    closed: bool,
}

impl FrameDecoder {
    /// A decoder for frames received by `role` (a `Server` decodes client frames, which must be
    /// masked; a `Client` decodes server frames, which must not be), with the default
    /// 4096-byte message cap and binary messages allowed.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            assembler: MessageAssembler::new(),
            stage: Stage::Header,
            header_buf: [0; MAX_HEADER_LEN],
            header_len: 0,
            control: [0; MAX_CONTROL_PAYLOAD],
            stash: Vec::new(),
            failed: None,
            closed: false,
        }
    }

    /// Caps a data message's payload (a fragmented message's total) at `bytes`; more → 1009.
    #[must_use]
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.assembler = self.assembler.with_max_message_size(bytes);
        self
    }

    /// With `true`, a binary message is refused with 1003 as soon as its header arrives
    /// (what the `/v1/events` server needs, SPEC §3.4); with `false` it is delivered.
    #[must_use]
    pub fn with_reject_binary(mut self, reject: bool) -> Self {
        self.assembler = self.assembler.with_reject_binary(reject);
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn max_message_size(&self) -> usize {
        self.assembler.max_message_size()
    }

    pub fn rejects_binary(&self) -> bool {
        self.assembler.rejects_binary()
    }

    /// True once a Close frame was decoded; later input is ignored.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The violation that failed this decoder, if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// Decodes `data`, calling `visit` for each complete message and control frame in order.
    ///
    /// Returns the decoder's [`ProtocolError`] (converted into `E`) on a violation; messages
    /// before the violation have been visited. If `visit` returns an error, decoding stops
    /// right after that message and the error is returned; the undecoded rest of `data` is
    /// kept and decoded first by the next call (which may pass an empty `data`).
    pub fn feed<E, F>(&mut self, data: &[u8], mut visit: F) -> Result<(), E>
    where
        E: From<ProtocolError>,
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        if let Some(error) = &self.failed {
            return Err(error.clone().into());
        }
        if !self.stash.is_empty() {
            let stash = std::mem::take(&mut self.stash);
            if let Err((error, consumed)) = self.run(&stash, &mut visit) {
                if self.failed.is_none() && !self.closed {
                    self.stash.extend_from_slice(&stash[consumed..]);
                    self.stash.extend_from_slice(data);
                }
                return Err(error);
            }
        }
        self.run(data, &mut visit).map_err(|(error, consumed)| {
            if self.failed.is_none() && !self.closed {
                self.stash.extend_from_slice(&data[consumed..]);
            }
            error
        })
    }

    /// Decodes `data` exactly as [`feed`](Self::feed) does (same framing, masking, size cap
    /// and UTF-8 checks, same errors), but only counts the complete text messages of at least
    /// `min_size` payload bytes; every other message and control frame goes to `other`, in
    /// arrival order. For a reader that needs how many messages came, not what they said.
    ///
    /// On a violation the messages before it have been counted or passed to `other`, and the
    /// count is lost: the decoder's [`ProtocolError`] is returned, as `feed` returns it.
    pub fn count<F>(
        &mut self,
        data: &[u8],
        min_size: usize,
        mut other: F,
    ) -> Result<usize, ProtocolError>
    where
        F: FnMut(Message<'_>),
    {
        let mut counted = 0;
        self.feed(data, |message| {
            match message {
                Message::Text(text) if text.len() >= min_size => counted += 1,
                message => other(message),
            }
            Ok::<(), ProtocolError>(())
        })?;
        Ok(counted)
    }

    /// Decodes `data`; on a stop returns the error and how much of `data` was consumed.
    fn run<E, F>(&mut self, data: &[u8], visit: &mut F) -> Result<(), (E, usize)>
    where
        E: From<ProtocolError>,
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        let mut pos = 0;
        while pos < data.len() && !self.closed {
            let step = match self.stage {
                Stage::Payload { header, received } => {
                    let take = (header.len - received).min(data.len() - pos);
                    let chunk = &data[pos..pos + take];
                    pos += take;
                    self.continue_payload(header, received, chunk, visit)
                }
                Stage::Header if self.header_len > 0 => {
                    let old = self.header_len;
                    let take = (MAX_HEADER_LEN - old).min(data.len() - pos);
                    self.header_buf[old..old + take].copy_from_slice(&data[pos..pos + take]);
                    match self.parse_header(&self.header_buf[..old + take]) {
                        Err(error) => Err(Fault::Protocol(error)),
                        Ok(None) => {
                            self.header_len = old + take;
                            pos += take;
                            Ok(())
                        }
                        Ok(Some((header, header_len))) => {
                            self.header_len = 0;
                            pos += header_len - old;
                            self.start_frame(header, data, &mut pos, visit)
                        }
                    }
                }
                Stage::Header => match self.parse_header(&data[pos..]) {
                    Err(error) => Err(Fault::Protocol(error)),
                    Ok(None) => {
                        // An incomplete header is shorter than MAX_HEADER_LEN.
                        let rest = &data[pos..];
                        self.header_buf[..rest.len()].copy_from_slice(rest);
                        self.header_len = rest.len();
                        pos = data.len();
                        Ok(())
                    }
                    Ok(Some((header, header_len))) => {
                        pos += header_len;
                        self.start_frame(header, data, &mut pos, visit)
                    }
                },
            };
            match step {
                Ok(()) => {}
                Err(Fault::Visitor(error)) => return Err((error, pos)),
                Err(Fault::Protocol(error)) => {
                    self.failed = Some(error.clone());
                    return Err((error.into(), pos));
                }
            }
        }
        Ok(())
    }

    /// Validates as much of a frame header as `buf` holds; `Ok(None)` when more bytes are
    /// needed. Every check runs as soon as the bytes it needs are present, so a bad header is
    /// refused before the rest of it (let alone its payload) arrives.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = self
            .assembler
            .check_frame_start(fin, (b0 >> 4) & 0x7, b0 & 0x0F)?;
        let control = opcode.is_control();
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => {
                return Err(ProtocolError::protocol("client frame is not masked"));
            }
            (Role::Client, true) => return Err(ProtocolError::protocol("server frame is masked")),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if control {
            // Refused before any extended length bytes arrive.
            self.assembler.check_length(opcode, u64::from(len7))?;
        }
        let (len, mut header_len) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(bytes) => {
                    let len = u64::from_be_bytes(bytes);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::protocol(
                            "64-bit payload length has its most significant bit set",
                        ));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let len = self.assembler.check_length(opcode, len)?;
        let mask = if masked {
            match buf.get(header_len..header_len + 4) {
                Some(&[k0, k1, k2, k3]) => {
                    header_len += 4;
                    Some([k0, k1, k2, k3])
                }
                _ => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                opcode,
                mask,
                len,
            },
            header_len,
        )))
    }

    /// Handles an accepted header whose payload starts at `data[*pos]`.
    fn start_frame<E, F>(
        &mut self,
        header: FrameHeader,
        data: &[u8],
        pos: &mut usize,
        visit: &mut F,
    ) -> Result<(), Fault<E>>
    where
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        let available = data.len() - *pos;
        if available >= header.len {
            let payload = &data[*pos..*pos + header.len];
            *pos += header.len;
            return self.whole_frame(header, payload, visit);
        }
        let chunk = &data[*pos..];
        *pos = data.len();
        if !header.opcode.is_control() {
            self.begin_data_frame(header);
        }
        self.continue_payload(header, 0, chunk, visit)
    }

    /// A frame whose payload lies whole in the input: borrowed, not copied, when possible.
    fn whole_frame<E, F>(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        visit: &mut F,
    ) -> Result<(), Fault<E>>
    where
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        if header.opcode.is_control() {
            let len = payload.len();
            if let Some(key) = header.mask {
                let mut unmasked = [0u8; MAX_CONTROL_PAYLOAD];
                unmasked[..len].copy_from_slice(payload);
                apply_mask(&mut unmasked[..len], key, 0);
                return self.control_frame(header.opcode, &unmasked[..len], visit);
            }
            return self.control_frame(header.opcode, payload, visit);
        }
        if header.fin && !self.assembler.is_fragmented() {
            let message = match header.mask {
                None => data_message(header.opcode, payload)?,
                Some(key) => self.assembler.unmask_whole(header.opcode, payload, key)?,
            };
            return visit(message).map_err(Fault::Visitor);
        }
        self.begin_data_frame(header);
        self.assembler.append(payload, header.mask, 0)?;
        if header.fin {
            return self.finish_message(visit);
        }
        Ok(())
    }

    fn begin_data_frame(&mut self, header: FrameHeader) {
        self.assembler.begin_data_frame(header.opcode, header.fin);
    }

    /// Buffers the next `chunk` of a frame whose first `received` payload bytes are buffered.
    fn continue_payload<E, F>(
        &mut self,
        header: FrameHeader,
        received: usize,
        chunk: &[u8],
        visit: &mut F,
    ) -> Result<(), Fault<E>>
    where
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        let received_now = received + chunk.len();
        if header.opcode.is_control() {
            let part = &mut self.control[received..received_now];
            part.copy_from_slice(chunk);
            if let Some(key) = header.mask {
                apply_mask(part, key, received);
            }
        } else {
            self.assembler.append(chunk, header.mask, received)?;
        }
        if received_now < header.len {
            self.stage = Stage::Payload {
                header,
                received: received_now,
            };
            return Ok(());
        }
        self.stage = Stage::Header;
        if header.opcode.is_control() {
            let control = self.control;
            return self.control_frame(header.opcode, &control[..header.len], visit);
        }
        if header.fin {
            return self.finish_message(visit);
        }
        Ok(())
    }

    fn finish_message<E, F>(&mut self, visit: &mut F) -> Result<(), Fault<E>>
    where
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        let message = self.assembler.finish()?;
        visit(message).map_err(Fault::Visitor)
    }

    fn control_frame<E, F>(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        visit: &mut F,
    ) -> Result<(), Fault<E>>
    where
        F: FnMut(Message<'_>) -> Result<(), E>,
    {
        let message = control_message(opcode, payload)?;
        if opcode == Opcode::Close {
            self.closed = true;
        }
        visit(message).map_err(Fault::Visitor)
    }
}
