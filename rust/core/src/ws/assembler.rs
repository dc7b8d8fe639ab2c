//! Message assembly: the RFC 6455 rules that sit above frame parsing.
//!
//! [`MessageAssembler`] owns everything about a connection's inbound messages that does not
//! depend on the wire layout of a frame header: reserved bits, opcode and continuation rules,
//! the binary-message policy, the message size cap (a fragmented message's total counts), and
//! incremental UTF-8 validation of text. [`FrameDecoder`](super::FrameDecoder) uses it for
//! the frames it parses itself; [`MessageAssembler::feed_frame`] takes frames another parser
//! already split (picows, on the server) so both paths enforce exactly the same rules.

use super::close::parse_close_payload;
use super::decoder::{Message, ProtocolError, DEFAULT_MAX_MESSAGE_SIZE};
use super::frame::{apply_mask, CloseCode, Opcode, MAX_CONTROL_PAYLOAD};

/// Incremental UTF-8 check over a message that arrives in pieces. Carries the bytes of a
/// character split across pieces, and rejects an invalid sequence as soon as it is seen.
#[derive(Debug, Default, Clone, Copy)]
struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Stream {
    fn push(&mut self, mut bytes: &[u8]) -> bool {
        if self.carry_len > 0 {
            let have = self.carry_len;
            let need: usize = match self.carry[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = need.saturating_sub(have).min(bytes.len());
            let mut char_bytes = self.carry;
            char_bytes[have..have + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&char_bytes[..have + take]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix and the input is used up.
                    self.carry = char_bytes;
                    self.carry_len = have + take;
                    return true;
                }
                Err(_) => return false,
            }
            bytes = &bytes[take..];
        }
        if simdutf8::basic::from_utf8(bytes).is_ok() {
            return true;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                if tail.len() > 3 {
                    return false;
                }
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                true
            }
            Err(_) => false,
        }
    }

    fn is_complete(&self) -> bool {
        self.carry_len == 0
    }
}

/// Joins data frames into messages and enforces the per-message rules of RFC 6455.
///
/// Frames are given already unmasked. A complete message borrows either the frame's payload
/// (unfragmented: no copy) or the assembler's buffer (fragmented), and is valid until the next
/// call. After a [`ProtocolError`] from [`feed_frame`](Self::feed_frame) the assembler stays
/// failed and returns the same error for every later frame.
#[derive(Debug)]
pub struct MessageAssembler {
    max_message_size: usize,
    reject_binary: bool,
    /// A non-final data frame was accepted and the final continuation has not arrived.
    fragmented: bool,
    /// Opcode (Text/Binary) of the message being assembled in `message`.
    message_opcode: Option<Opcode>,
    /// The message being assembled; also scratch space for unmasking a whole frame.
    message: Vec<u8>,
    utf8: Utf8Stream,
    failed: Option<ProtocolError>,
}

impl Default for MessageAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageAssembler {
    /// An assembler with the default 4096-byte message cap and binary messages allowed.
    pub fn new() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            reject_binary: false,
            fragmented: false,
            message_opcode: None,
            message: Vec::new(),
            utf8: Utf8Stream::default(),
            failed: None,
        }
    }

    /// Caps a data message's payload (a fragmented message's total) at `bytes`; more → 1009.
    #[must_use]
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// With `true`, a binary message is refused with 1003 at its first frame.
    #[must_use]
    pub fn with_reject_binary(mut self, reject: bool) -> Self {
        self.reject_binary = reject;
        self
    }

    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    pub fn rejects_binary(&self) -> bool {
        self.reject_binary
    }

    /// True while a fragmented message is open (its final frame has not arrived).
    pub fn is_fragmented(&self) -> bool {
        self.fragmented
    }

    /// The violation that failed [`feed_frame`](Self::feed_frame), if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// Checks a frame's first header byte: `rsv` holds the three reserved bits (RSV1 = 4,
    /// RSV2 = 2, RSV3 = 1), `opcode` the raw 4-bit opcode. Returns the opcode on success.
    ///
    /// # Errors
    ///
    /// 1002 for reserved bits (no extension is ever negotiated), an unknown opcode, a
    /// fragmented control frame, or a broken fragment sequence; 1003 for a binary message
    /// when binary is rejected.
    pub fn check_frame_start(
        &self,
        fin: bool,
        rsv: u8,
        opcode: u8,
    ) -> Result<Opcode, ProtocolError> {
        if rsv & 0x7 != 0 {
            return Err(ProtocolError::protocol(format!(
                "reserved bits set (RSV {:#05b}) without a negotiated extension",
                rsv & 0x7
            )));
        }
        let Some(opcode) = Opcode::from_u8(opcode) else {
            return Err(ProtocolError::protocol(format!(
                "unknown opcode {opcode:#x}"
            )));
        };
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::protocol("fragmented control frame"));
            }
            return Ok(opcode);
        }
        match opcode {
            Opcode::Continuation if !self.fragmented => Err(ProtocolError::protocol(
                "continuation frame without a message to continue",
            )),
            Opcode::Text | Opcode::Binary if self.fragmented => Err(ProtocolError::protocol(
                "new data frame while a fragmented message is open",
            )),
            Opcode::Binary if self.reject_binary => Err(ProtocolError::new(
                CloseCode::UnsupportedData,
                "binary messages are not accepted",
            )),
            _ => Ok(opcode),
        }
    }

    /// Checks a frame's payload length: ≤ 125 for control frames, and for data frames the
    /// message total (earlier fragments included) within the cap. Returns the length as usize.
    ///
    /// # Errors
    ///
    /// 1002 for an oversized control frame, 1009 for a message above the cap.
    pub fn check_length(&self, opcode: Opcode, len: u64) -> Result<usize, ProtocolError> {
        if opcode.is_control() {
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::protocol(
                    "control frame payload longer than 125 bytes",
                ));
            }
        } else {
            let prior = self.buffered() as u64;
            let limit = self.max_message_size as u64;
            if len > limit.saturating_sub(prior) {
                return Err(ProtocolError::new(
                    CloseCode::MessageTooBig,
                    format!(
                        "message of {} bytes exceeds the {limit}-byte limit",
                        prior.saturating_add(len)
                    ),
                ));
            }
        }
        usize::try_from(len).map_err(|_| {
            ProtocolError::new(CloseCode::MessageTooBig, "frame length exceeds memory")
        })
    }

    /// Bytes of the open fragmented message so far; zero between messages.
    pub fn buffered(&self) -> usize {
        if self.fragmented {
            self.message.len()
        } else {
            0
        }
    }

    /// Takes one whole, already-unmasked frame; returns the message it completes, if any
    /// (a control frame is always complete).
    ///
    /// # Errors
    ///
    /// Every violation listed on [`check_frame_start`](Self::check_frame_start) and
    /// [`check_length`](Self::check_length), 1007 for invalid UTF-8 in a text message, and
    /// 1002/1007 for a bad close payload. The error is sticky.
    pub fn feed_frame<'a>(
        &'a mut self,
        fin: bool,
        rsv: u8,
        opcode: u8,
        payload: &'a [u8],
    ) -> Result<Option<Message<'a>>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let opcode = match self.check_frame_start(fin, rsv, opcode) {
            Ok(opcode) => opcode,
            Err(error) => return Err(self.fail(error)),
        };
        if let Err(error) = self.check_length(opcode, payload.len() as u64) {
            return Err(self.fail(error));
        }
        let unfragmented = if opcode.is_control() {
            Some(control_message(opcode, payload))
        } else if fin && !self.fragmented {
            Some(data_message(opcode, payload))
        } else {
            None
        };
        if let Some(result) = unfragmented {
            return result.map(Some).map_err(|error| self.fail(error));
        }
        self.begin_data_frame(opcode, fin);
        if let Err(error) = self.append(payload, None, 0) {
            return Err(self.fail(error));
        }
        if !fin {
            return Ok(None);
        }
        let opcode = match self.finish_opcode() {
            Ok(opcode) => opcode,
            Err(error) => return Err(self.fail(error)),
        };
        // Borrows only `message`, so a failure can still be recorded in `failed`.
        match data_message(opcode, &self.message) {
            Ok(message) => Ok(Some(message)),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.failed = Some(error.clone());
        error
    }

    /// Starts a data frame whose header passed both checks (streaming use).
    pub(crate) fn begin_data_frame(&mut self, opcode: Opcode, fin: bool) {
        if opcode != Opcode::Continuation {
            self.message_opcode = Some(opcode);
            self.message.clear();
            self.utf8 = Utf8Stream::default();
        }
        self.fragmented = !fin;
    }

    /// Appends payload bytes of the current data frame, unmasking them with `mask` from
    /// payload offset `offset`, and checks text as it arrives.
    pub(crate) fn append(
        &mut self,
        chunk: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Result<(), ProtocolError> {
        let start = self.message.len();
        self.message.extend_from_slice(chunk);
        let appended = &mut self.message[start..];
        if let Some(key) = mask {
            apply_mask(appended, key, offset);
        }
        if self.message_opcode == Some(Opcode::Text) && !self.utf8.push(appended) {
            return Err(ProtocolError::invalid_text());
        }
        Ok(())
    }

    /// Completes the message whose final frame was appended; it borrows the buffer, which the
    /// next message's first frame clears.
    pub(crate) fn finish(&mut self) -> Result<Message<'_>, ProtocolError> {
        let opcode = self.finish_opcode()?;
        data_message(opcode, &self.message)
    }

    fn finish_opcode(&mut self) -> Result<Opcode, ProtocolError> {
        let opcode = self.message_opcode.take().unwrap_or(Opcode::Binary);
        self.fragmented = false;
        if opcode == Opcode::Text && !self.utf8.is_complete() {
            return Err(ProtocolError::invalid_text());
        }
        Ok(opcode)
    }

    /// Unmasks a whole unfragmented masked data frame into the (idle) buffer and returns it.
    pub(crate) fn unmask_whole(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        key: [u8; 4],
    ) -> Result<Message<'_>, ProtocolError> {
        self.message.clear();
        self.message.extend_from_slice(payload);
        apply_mask(&mut self.message, key, 0);
        data_message(opcode, &self.message)
    }
}

/// A complete data message, checking UTF-8 for text.
pub(crate) fn data_message(opcode: Opcode, payload: &[u8]) -> Result<Message<'_>, ProtocolError> {
    if opcode == Opcode::Text {
        // simdutf8's validation is several times faster than std's on mostly-ASCII text (the
        // whole of a JSON feed), with the same result; it only loses the error position.
        simdutf8::basic::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| ProtocolError::invalid_text())
    } else {
        Ok(Message::Binary(payload))
    }
}

/// A control frame's message; a close payload is validated.
pub(crate) fn control_message(
    opcode: Opcode,
    payload: &[u8],
) -> Result<Message<'_>, ProtocolError> {
    match opcode {
        Opcode::Ping => Ok(Message::Ping(payload)),
        Opcode::Pong => Ok(Message::Pong(payload)),
        _ => {
            let (code, reason) = parse_close_payload(payload)?;
            Ok(Message::Close { code, reason })
        }
    }
}
