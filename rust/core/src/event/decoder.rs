//! [`EventDecoder`]: the client side of `/v1/events` as one sans-I/O object — WebSocket frames
//! in (whole socket reads, any chunking), columnar [`EventBatch`]es out.

use crate::event::batch::{BatchDecoder, EventBatch};
use crate::ws::decoder::{FrameDecoder, Message, ProtocolError};
use crate::ws::frame::{Opcode, Role};

/// Largest message the client accepts from a server. Events are a few hundred bytes; the cap
/// only bounds memory against a broken server.
pub const CLIENT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Frame decoder (client role: server frames, unmasked) plus [`BatchDecoder`].
#[derive(Debug)]
pub struct EventDecoder {
    frames: FrameDecoder,
    events: BatchDecoder,
}

impl Default for EventDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventDecoder {
    /// A decoder with the [`CLIENT_MAX_MESSAGE_SIZE`] cap.
    pub fn new() -> Self {
        Self::with_max_message_size(CLIENT_MAX_MESSAGE_SIZE)
    }

    /// A decoder refusing (close 1009) messages above `bytes`.
    pub fn with_max_message_size(bytes: usize) -> Self {
        EventDecoder {
            frames: FrameDecoder::new(Role::Client).with_max_message_size(bytes),
            events: BatchDecoder::new(),
        }
    }

    /// Decodes one socket read and returns everything it completed, in arrival order.
    ///
    /// Text messages become events (or `other`/`errors` entries), binary messages `other`, ping,
    /// pong and close frames `control` entries (a close's payload rebuilt as code + reason). A
    /// protocol violation sets the batch's `protocol_error` and keeps the messages before it;
    /// after it (and after a close) the decoder accepts nothing more.
    pub fn feed(&mut self, data: &[u8]) -> EventBatch {
        self.feed_with(data, |_| false)
    }

    /// [`EventDecoder::feed`] for a source that takes the data events itself (a relay hands
    /// them to its hub with their original bytes): each text message is offered to `take`
    /// first; one it takes is counted in `received` (so STATUS accounting stays exact) and is
    /// not decoded into the batch; the others (STATUS, acknowledgements, malformed events)
    /// are decoded into the batch as by `feed`. Every message is decoded once.
    pub fn feed_with(&mut self, data: &[u8], mut take: impl FnMut(&[u8]) -> bool) -> EventBatch {
        let events = &mut self.events;
        let result = self
            .frames
            .feed(data, |message| -> Result<(), ProtocolError> {
                match message {
                    Message::Text(text) => {
                        if take(text.as_bytes()) {
                            events.count_taken();
                        } else {
                            events.push_payload(text.as_bytes());
                        }
                    }
                    Message::Binary(bytes) => events.push_other(bytes),
                    Message::Ping(p) => events.push_control(Opcode::Ping as u8, p),
                    Message::Pong(p) => events.push_control(Opcode::Pong as u8, p),
                    Message::Close { code, reason } => {
                        let mut payload = Vec::with_capacity(2 + reason.len());
                        if let Some(code) = code {
                            payload.extend_from_slice(&code.to_be_bytes());
                            payload.extend_from_slice(reason.as_bytes());
                        }
                        events.push_control(Opcode::Close as u8, &payload);
                    }
                }
                Ok(())
            });
        if let Err(error) = result {
            events.set_protocol_error(error.reason().to_owned(), error.close_code().code());
        }
        events.take_batch()
    }

    /// Starts a new connection: fresh frame state and `received` count, the same contract
    /// ids (so ids stay stable across reconnects).
    /// Anything pending from the old connection is discarded.
    pub fn new_connection(&mut self) {
        let max = self.frames.max_message_size();
        self.frames = FrameDecoder::new(Role::Client).with_max_message_size(max);
        self.events.take_batch();
        self.events.reset_received();
    }

    /// True once a close frame was received.
    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }

    /// The payload-level decoder: contracts, received count, and `push_payload` for payloads
    /// that arrive without WebSocket framing (Redis messages, JSON Lines).
    pub fn events(&self) -> &BatchDecoder {
        &self.events
    }

    /// Mutable access to the payload-level decoder.
    pub fn events_mut(&mut self) -> &mut BatchDecoder {
        &mut self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::batch::FrameError;
    use crate::event::EventKind;
    use crate::ws::frame::encode_frame;

    const TRADE: &str = r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"trade":{"ms_of_day":1,"sequence":2,"size":3,"condition":0,"price":4.5,"exchange":5,"date":20250321}}"#;

    #[test]
    fn frames_any_chunking_control_and_protocol_error() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut wire, Opcode::Ping, b"hb", None);
        encode_frame(&mut wire, Opcode::Text, b"{\"trade\":", None);
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        for chunk in [1, 3, 7, wire.len()] {
            let mut d = EventDecoder::new();
            let mut kinds = Vec::new();
            let mut prices = Vec::new();
            let mut control = Vec::new();
            let mut errors = Vec::new();
            for part in wire.chunks(chunk) {
                let b = d.feed(part);
                let base = kinds.len();
                kinds.extend(b.kinds);
                prices.extend(b.trades.price);
                control.extend(b.control.into_iter().map(|c| (c.opcode, c.payload)));
                errors.extend(b.errors.into_iter().map(|e| FrameError {
                    index: e.index + base,
                    ..e
                }));
            }
            assert_eq!(kinds, vec![0, 8, 7, 0], "chunk {chunk}");
            assert_eq!(prices, vec![4.5, 4.5]);
            assert_eq!(control, vec![(0x9, b"hb".to_vec())]);
            assert_eq!(errors[0].index, 2);
            assert_eq!(errors[0].message, "json: unexpected end of input at byte 9");
        }
        // A masked frame from a server is a protocol error; the event before it survives.
        let mut bad = Vec::new();
        encode_frame(&mut bad, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut bad, Opcode::Text, TRADE.as_bytes(), Some([1, 2, 3, 4]));
        encode_frame(&mut bad, Opcode::Close, &[0x03, 0xe8], None);
        let mut d = EventDecoder::new();
        let b = d.feed(&bad);
        assert_eq!(b.trades.len(), 1);
        let (message, code) = b.protocol_error.unwrap();
        assert_eq!(code, 1002);
        assert!(!message.is_empty());
    }

    #[test]
    fn kind_counts_follow_kinds() {
        const STATUS: &str =
            r#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":2,"dropped":0}}"#;
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut wire, Opcode::Ping, b"hb", None);
        encode_frame(&mut wire, Opcode::Text, b"{\"trade\":", None);
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut wire, Opcode::Text, STATUS.as_bytes(), None);
        let mut d = EventDecoder::new();
        assert_eq!(d.feed(b"").kind_counts(), [0; EventKind::COUNT]);
        let b = d.feed(&wire);
        assert_eq!(b.kinds, vec![0, 8, 7, 0, 4]);
        assert_eq!(b.kind_counts(), [2, 0, 0, 0, 1, 0, 0, 1, 1]);
        // Every kind is counted at its value; a value out of range counts nowhere.
        let mut all = EventBatch {
            kinds: (0..=EventKind::Control as u8).chain([200]).collect(),
            ..EventBatch::default()
        };
        assert_eq!(all.kind_counts(), [1; EventKind::COUNT]);
        all.kinds.clear();
        assert_eq!(all.kind_counts(), [0; EventKind::COUNT]);
    }

    #[test]
    fn feed_with_takes_data_events_and_counts_them() {
        const STATUS: &str =
            r#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":2,"dropped":0}}"#;
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut wire, Opcode::Text, TRADE.as_bytes(), None);
        encode_frame(&mut wire, Opcode::Text, STATUS.as_bytes(), None);
        let mut d = EventDecoder::new();
        let mut taken = Vec::new();
        let b = d.feed_with(&wire, |json| {
            let data = !json.starts_with(br#"{"header":{"type":"STATUS""#);
            if data {
                taken.push(json.to_vec());
            }
            data
        });
        assert_eq!(taken, vec![TRADE.as_bytes().to_vec(); 2]);
        assert!(b.trades.is_empty());
        assert_eq!(b.kinds, vec![EventKind::Status as u8]);
        // The STATUS row proves nothing was lost: the taken events count as received.
        assert_eq!(b.status.received, vec![2]);
        assert_eq!(b.status.sent, vec![2]);
    }

    #[test]
    fn close_frame_is_surfaced() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Close, b"\x03\xe8replaced", None);
        let mut d = EventDecoder::new();
        let b = d.feed(&wire);
        assert_eq!(b.kinds, vec![8]);
        assert_eq!(b.control[0].opcode, 8);
        assert_eq!(b.control[0].payload, b"\x03\xe8replaced");
        assert!(d.is_closed());
    }
}
