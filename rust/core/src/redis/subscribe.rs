//! The edge's side of SPEC §7: what Redis pushes to a subscriber, read a socket read at a time.
//!
//! `message`, `pmessage` and `smessage` pushes carry a publisher's payloads: each goes into the
//! caller's [`SourceBatch`] with its original bytes (forwarded as they are, `"pseq"` included),
//! after a check of its channel's publish sequence: a jump of k + 1 is a gap of k events, and a
//! sequence number already seen is a duplicate (a channel matched by both a channel and a
//! pattern subscription arrives twice) and is skipped. A channel's first message sets its
//! baseline; `pseq` 1 after a later one means the publisher restarted (a new baseline, no gap).
//! Every other reply (subscription confirmations, `PONG`, errors) is handed back as a [`Reply`].

use std::collections::HashMap;
use std::ops::Range;

use memchr::memmem;

use crate::event::batch::SpanHash;
use crate::hub::{Hub, JsonEventDecoder, SourceBatch, SubscriberId};

/// A RESP2 value other than a message push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// A bulk string (`None`: the null bulk string).
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

/// A hole in one channel's publish sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelGap {
    /// The channel.
    pub channel: String,
    /// Events published on it that never arrived.
    pub lost: u64,
    /// The local subscribers that would have received them.
    pub subscribers: Vec<SubscriberId>,
}

/// What one [`PushReader::feed`] found besides the events it appended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pushes {
    pub gaps: Vec<ChannelGap>,
    pub replies: Vec<Reply>,
    /// Payloads that are not valid §3.3 events: `"<channel>: <reason>"`.
    pub bad_payloads: Vec<String>,
    /// Messages skipped as duplicates.
    pub duplicates: u64,
}

/// The bytes are not RESP: the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis protocol: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// A parsed value whose strings are still ranges of the input.
enum Value {
    Simple(usize, usize),
    Error(usize, usize),
    Integer(i64),
    Bulk(Option<(usize, usize)>),
    Array(Vec<Value>),
}

/// Reads a subscriber connection's bytes: see the module documentation.
#[derive(Default)]
pub struct PushReader {
    /// Per connection (a Cluster edge reads one per node): bytes not yet a whole reply.
    pending: Vec<Vec<u8>>,
    last: HashMap<Vec<u8>, u64, SpanHash>,
    restarts: u64,
    /// Decodes the payloads, remembering each contract spelling's id in the hub they go to.
    events: JsonEventDecoder,
}

impl std::fmt::Debug for PushReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushReader")
            .field("channels", &self.last.len())
            .field("restarts", &self.restarts)
            .finish_non_exhaustive()
    }
}

const PSEQ: &[u8] = b"\"pseq\":";
/// The header, and its `pseq`, come first in a payload; no need to look further.
const HEADER_WINDOW: usize = 160;

fn find_pseq(payload: &[u8]) -> Option<u64> {
    let window = &payload[..payload.len().min(HEADER_WINDOW)];
    let at = memmem::find(window, PSEQ)? + PSEQ.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

impl PushReader {
    /// A reader with no channel seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Times a publisher restarted (a channel's `pseq` went back to 1).
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The last sequence number seen on `channel`.
    pub fn last_pseq(&self, channel: &[u8]) -> Option<u64> {
        self.last.get(channel).copied()
    }

    /// Forgets `channel` (unsubscribed: when it is subscribed again, its first message sets a
    /// new baseline).
    pub fn forget(&mut self, channel: &[u8]) {
        self.last.remove(channel);
    }

    /// Forgets every channel that starts with `prefix` (a pattern was unsubscribed).
    pub fn forget_prefix(&mut self, prefix: &[u8]) {
        self.last.retain(|channel, _| !channel.starts_with(prefix));
    }

    /// The payloads of the next feeds go into another hub than before: the contract ids
    /// remembered for the last one are forgotten. Every feed must name the same hub between
    /// two calls of this.
    pub fn new_hub(&mut self) {
        self.events = JsonEventDecoder::new();
    }

    /// A new connection: bytes of the old one that did not make a whole reply are discarded.
    /// Channels keep their sequence numbers, so what was lost meanwhile shows as a gap.
    pub fn reconnected(&mut self) {
        self.pending.clear();
    }

    /// [`PushReader::feed_from`] connection 0.
    pub fn feed(
        &mut self,
        data: &[u8],
        hub: &mut Hub,
        batch: &mut SourceBatch,
    ) -> Result<Pushes, ProtocolError> {
        self.feed_from(0, data, hub, batch)
    }

    /// Reads `data` of connection `connection` (each has its own partial reply; channel
    /// sequences are shared, so a channel that moves to another Cluster node keeps its
    /// accounting): message payloads are appended to `batch` (contracts registered with
    /// `hub`), everything else is returned. A partial reply at the end waits for the next call.
    pub fn feed_from(
        &mut self,
        connection: usize,
        data: &[u8],
        hub: &mut Hub,
        batch: &mut SourceBatch,
    ) -> Result<Pushes, ProtocolError> {
        if self.pending.len() <= connection {
            self.pending.resize_with(connection + 1, Vec::new);
        }
        let mut pending = std::mem::take(&mut self.pending[connection]);
        let mut pushes = Pushes::default();
        // A read that starts a reply (the usual case) is parsed where it is; only a partial
        // reply at its end is kept.
        let result = if pending.is_empty() {
            let (pos, result) = self.read_replies(data, hub, batch, &mut pushes);
            pending.extend_from_slice(&data[pos..]);
            result
        } else {
            pending.extend_from_slice(data);
            let (pos, result) = self.read_replies(&pending, hub, batch, &mut pushes);
            pending.drain(..pos);
            result
        };
        self.pending[connection] = pending;
        result.map(|()| pushes)
    }

    /// Reads the whole replies of `buf`: returns where the first that is not whole starts (or
    /// where the error is).
    fn read_replies(
        &mut self,
        buf: &[u8],
        hub: &mut Hub,
        batch: &mut SourceBatch,
        pushes: &mut Pushes,
    ) -> (usize, Result<(), ProtocolError>) {
        let mut pos = 0;
        loop {
            if let Some((channel, payload, next)) = message_push(buf, pos) {
                self.message(&buf[channel], &buf[payload], hub, batch, pushes);
                pos = next;
                continue;
            }
            match parse(buf, pos) {
                Ok(Some((value, next))) => {
                    self.dispatch(buf, value, hub, batch, pushes);
                    pos = next;
                }
                Ok(None) => return (pos, Ok(())),
                Err(e) => return (pos, Err(e)),
            }
        }
    }

    fn dispatch(
        &mut self,
        buf: &[u8],
        value: Value,
        hub: &mut Hub,
        batch: &mut SourceBatch,
        pushes: &mut Pushes,
    ) {
        if let Value::Array(items) = &value {
            let bulk = |v: &Value| match v {
                Value::Bulk(Some((a, b))) => Some(&buf[*a..*b]),
                _ => None,
            };
            let message = match (items.first().and_then(bulk), items.len()) {
                (Some(b"message" | b"smessage"), 3) => bulk(&items[1]).zip(bulk(&items[2])),
                (Some(b"pmessage"), 4) => bulk(&items[2]).zip(bulk(&items[3])),
                _ => None,
            };
            if let Some((channel, payload)) = message {
                self.message(channel, payload, hub, batch, pushes);
                return;
            }
        }
        pushes.replies.push(to_reply(buf, value));
    }

    fn message(
        &mut self,
        channel: &[u8],
        payload: &[u8],
        hub: &mut Hub,
        batch: &mut SourceBatch,
        pushes: &mut Pushes,
    ) {
        if let Some(prefix) = channel.strip_suffix(b"*") {
            self.market_message(prefix, payload, hub, batch, pushes);
            return;
        }
        let lost = match find_pseq(payload).map(|pseq| self.sequence(channel, pseq)) {
            Some(Sequence::Duplicate) => {
                pushes.duplicates += 1;
                return;
            }
            Some(Sequence::Next { lost }) => lost,
            None => 0,
        };
        match self.events.push(batch, hub, payload) {
            Ok(true) if lost > 0 => {
                let event = batch.events()[batch.len() - 1];
                pushes.gaps.push(ChannelGap {
                    channel: String::from_utf8_lossy(channel).into_owned(),
                    lost,
                    subscribers: hub.subscribers_of_event(&event),
                });
            }
            Ok(_) => {}
            Err(e) => pushes
                .bad_payloads
                .push(format!("{}: {e}", String::from_utf8_lossy(channel))),
        }
    }

    /// A message of a Cluster's whole-market channel (`prefix`: its name without the `*`): the
    /// payload of an event of its own channel, `prefix` + the contract's key, whose `pseq` it
    /// carries. Checked and de-duplicated as that channel's (the edge may hear it on both).
    fn market_message(
        &mut self,
        prefix: &[u8],
        payload: &[u8],
        hub: &mut Hub,
        batch: &mut SourceBatch,
        pushes: &mut Pushes,
    ) {
        let before = batch.len();
        match self.events.push(batch, hub, payload) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let channel = String::from_utf8_lossy(prefix);
                pushes.bad_payloads.push(format!("{channel}*: {e}"));
                return;
            }
        }
        let event = batch.events()[before];
        let Some(contract) = hub.market().contract(event.contract) else {
            return;
        };
        let mut channel = prefix.to_vec();
        channel.extend_from_slice(contract.channel_key().as_bytes());
        match find_pseq(payload).map(|pseq| self.sequence(&channel, pseq)) {
            Some(Sequence::Duplicate) => {
                batch.truncate(before);
                pushes.duplicates += 1;
            }
            Some(Sequence::Next { lost }) if lost > 0 => pushes.gaps.push(ChannelGap {
                channel: String::from_utf8_lossy(&channel).into_owned(),
                lost,
                subscribers: hub.subscribers_of_event(&event),
            }),
            Some(Sequence::Next { .. }) | None => {}
        }
    }

    /// Checks `pseq` against the last one seen on `channel` and records it.
    fn sequence(&mut self, channel: &[u8], pseq: u64) -> Sequence {
        match self.last.get_mut(channel) {
            Some(last) if pseq > *last => {
                let lost = pseq - *last - 1;
                *last = pseq;
                Sequence::Next { lost }
            }
            Some(last) if pseq == 1 && *last > 1 => {
                *last = 1;
                self.restarts += 1;
                Sequence::Next { lost: 0 }
            }
            Some(_) => Sequence::Duplicate,
            None => {
                self.last.insert(channel.to_vec(), pseq);
                Sequence::Next { lost: 0 }
            }
        }
    }
}

/// What a message's `pseq` says.
enum Sequence {
    /// The next one on its channel, after `lost` that never arrived.
    Next { lost: u64 },
    /// Seen already (through another subscription).
    Duplicate,
}

fn to_reply(buf: &[u8], value: Value) -> Reply {
    let text = |a: usize, b: usize| String::from_utf8_lossy(&buf[a..b]).into_owned();
    match value {
        Value::Simple(a, b) => Reply::Simple(text(a, b)),
        Value::Error(a, b) => Reply::Error(text(a, b)),
        Value::Integer(n) => Reply::Integer(n),
        Value::Bulk(range) => Reply::Bulk(range.map(|(a, b)| buf[a..b].to_vec())),
        Value::Array(items) => Reply::Array(items.into_iter().map(|v| to_reply(buf, v)).collect()),
    }
}

/// The line starting at `pos` (without its CRLF) and where the next one starts.
fn line(buf: &[u8], pos: usize) -> Option<(usize, usize, usize)> {
    let end = memchr::memchr(b'\n', &buf[pos..])? + pos;
    if end == pos || buf[end - 1] != b'\r' {
        return Some((pos, pos, usize::MAX));
    }
    Some((pos, end - 1, end + 1))
}

fn number(buf: &[u8], a: usize, b: usize) -> Result<i64, ProtocolError> {
    std::str::from_utf8(&buf[a..b])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "expected a number, got {:?}",
                String::from_utf8_lossy(&buf[a..b])
            ))
        })
}

/// One value at `pos`: `Ok(None)` if the buffer ends before it does.
/// A whole `message`, `smessage` or `pmessage` push at `buf[pos]`, read without building a
/// [`Value`] (the pushes are nearly every reply an edge reads): its channel's and payload's
/// ranges and where the next reply starts. `None` for anything else, a push not whole yet
/// included: [`parse`] reads it, to the same result.
fn message_push(buf: &[u8], pos: usize) -> Option<(Range<usize>, Range<usize>, usize)> {
    let rest = buf.get(pos..)?;
    let (with_pattern, kind) = if rest.starts_with(b"*3\r\n$7\r\nmessage\r\n") {
        (false, 17)
    } else if rest.starts_with(b"*3\r\n$8\r\nsmessage\r\n") {
        (false, 18)
    } else if rest.starts_with(b"*4\r\n$8\r\npmessage\r\n") {
        (true, 18)
    } else {
        return None;
    };
    let mut at = pos + kind;
    if with_pattern {
        at = bulk_string(buf, at)?.1;
    }
    let (channel, at) = bulk_string(buf, at)?;
    let (payload, next) = bulk_string(buf, at)?;
    Some((channel, payload, next))
}

/// A whole bulk string (`$<digits>\r\n<bytes>\r\n`) at `buf[at]`: its bytes and where it
/// ends. `None` for anything else.
#[inline]
fn bulk_string(buf: &[u8], at: usize) -> Option<(Range<usize>, usize)> {
    if *buf.get(at)? != b'$' {
        return None;
    }
    let mut len = 0usize;
    let mut i = at + 1;
    loop {
        let digit = buf.get(i)?.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Ten digits are more than a Redis string may hold.
        if i - at > 10 {
            return None;
        }
        len = len * 10 + usize::from(digit);
        i += 1;
    }
    if i == at + 1 || buf.get(i..i + 2)? != b"\r\n" {
        return None;
    }
    let start = i + 2;
    let end = start + len;
    if buf.get(end..end + 2)? != b"\r\n" {
        return None;
    }
    Some((start..end, end + 2))
}

fn parse(buf: &[u8], pos: usize) -> Result<Option<(Value, usize)>, ProtocolError> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some((start, end, next)) = line(buf, pos) else {
        return Ok(None);
    };
    if next == usize::MAX {
        return Err(ProtocolError("a line does not end in CRLF".into()));
    }
    let (a, b) = (start + 1, end);
    Ok(match buf[start] {
        b'+' => Some((Value::Simple(a, b), next)),
        b'-' => Some((Value::Error(a, b), next)),
        b':' => Some((Value::Integer(number(buf, a, b)?), next)),
        b'$' => {
            let len = number(buf, a, b)?;
            if len < 0 {
                return Ok(Some((Value::Bulk(None), next)));
            }
            let end = next + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("a bulk string does not end in CRLF".into()));
            }
            Some((Value::Bulk(Some((next, end))), end + 2))
        }
        b'*' => {
            let len = number(buf, a, b)?;
            let mut items = Vec::with_capacity(len.clamp(0, 8) as usize);
            let mut at = next;
            for _ in 0..len.max(0) {
                match parse(buf, at)? {
                    Some((item, after)) => {
                        items.push(item);
                        at = after;
                    }
                    None => return Ok(None),
                }
            }
            Some((Value::Array(items), at))
        }
        other => {
            return Err(ProtocolError(format!(
                "unexpected reply type byte {:?}",
                char::from(other)
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads every push (whole or cut anywhere, well-formed or not) as the
    /// general parser does, or leaves it to it.
    #[test]
    fn message_pushes_read_as_the_general_parser_reads_them() {
        let replies: [&[u8]; 9] = [
            b"*3\r\n$7\r\nmessage\r\n$4\r\nff:a\r\n$5\r\nhello\r\n",
            b"*3\r\n$8\r\nsmessage\r\n$4\r\nff:b\r\n$0\r\n\r\n",
            b"*4\r\n$8\r\npmessage\r\n$4\r\nff:*\r\n$4\r\nff:c\r\n$3\r\nxyz\r\n",
            b"*3\r\n$7\r\nmessage\r\n$4\r\nff:a\r\n$-1\r\n",
            b"*3\r\n$7\r\nmessage\r\n$04\r\nff:a\r\n$1\r\nx\r\n",
            b"*3\r\n$7\r\nmessage\r\n$4\r\nff:a\r\n$5\r\nhello\n\n",
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nff:a\r\n:1\r\n",
            b"*3\r\n$7\r\nmessage\r\n$+4\r\nff:a\r\n$1\r\nx\r\n",
            b"+PONG\r\n",
        ];
        let general = |buf: &[u8]| match parse(buf, 0) {
            Ok(Some((Value::Array(items), next))) => {
                let bulk = |v: &Value| match v {
                    Value::Bulk(Some((a, b))) => Some(*a..*b),
                    _ => None,
                };
                let n = items.len();
                let kind = bulk(&items[0]).map(|r| &buf[r]);
                let (c, p) = match (kind, n) {
                    (Some(b"message" | b"smessage"), 3) => (1, 2),
                    (Some(b"pmessage"), 4) => (2, 3),
                    _ => return None,
                };
                Some((bulk(&items[c])?, bulk(&items[p])?, next))
            }
            _ => None,
        };
        for reply in replies {
            for cut in 0..=reply.len() {
                let buf = &reply[..cut];
                if let Some(fast) = message_push(buf, 0) {
                    assert_eq!(
                        Some(fast),
                        general(buf),
                        "{:?}",
                        String::from_utf8_lossy(buf)
                    );
                }
            }
        }
        // The pushes Redis sends take the fast path.
        for reply in &replies[..3] {
            assert!(message_push(reply, 0).is_some());
            assert!(message_push(reply, 0) == general(reply));
        }
    }
    use crate::hub::Wire;
    use crate::redis::write_command;

    fn payload(pseq: u64, price: f64) -> Vec<u8> {
        format!(
            r#"{{"header":{{"type":"TRADE","status":"CONNECTED","pseq":{pseq}}},"contract":{{"security_type":"STOCK","symbol":"AAPL"}},"trade":{{"ms_of_day":1,"sequence":2,"size":3,"condition":0,"price":{price},"exchange":5,"date":20250321}}}}"#
        )
        .into_bytes()
    }

    fn message(channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_command(&mut out, &[b"message", channel, payload]);
        out
    }

    fn pmessage(channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_command(
            &mut out,
            &[b"pmessage", b"ff:STOCK:TRADE:*", channel, payload],
        );
        out
    }

    #[test]
    fn messages_in_any_chunking_make_the_same_batch() {
        let mut stream = b"*3\r\n$9\r\nsubscribe\r\n$19\r\nff:STOCK:TRADE:AAPL\r\n:1\r\n".to_vec();
        for pseq in 1..=3 {
            stream.extend(message(b"ff:STOCK:TRADE:AAPL", &payload(pseq, 1.5)));
        }
        for chunk in [1, 7, 64, stream.len()] {
            let mut hub = Hub::new(true);
            let mut reader = PushReader::new();
            let mut batch = SourceBatch::new();
            let mut replies = Vec::new();
            for part in stream.chunks(chunk) {
                let pushes = reader.feed(part, &mut hub, &mut batch).unwrap();
                assert!(pushes.gaps.is_empty());
                replies.extend(pushes.replies);
            }
            assert_eq!(batch.len(), 3, "chunk {chunk}");
            assert_eq!(
                batch.raw(),
                [payload(1, 1.5), payload(2, 1.5), payload(3, 1.5)].concat()
            );
            assert_eq!(
                replies,
                vec![Reply::Array(vec![
                    Reply::Bulk(Some(b"subscribe".to_vec())),
                    Reply::Bulk(Some(b"ff:STOCK:TRADE:AAPL".to_vec())),
                    Reply::Integer(1),
                ])]
            );
            assert_eq!(reader.last_pseq(b"ff:STOCK:TRADE:AAPL"), Some(3));
        }
    }

    #[test]
    fn gaps_name_the_subscribers_and_duplicates_are_skipped() {
        let mut hub = Hub::new(true);
        let watcher = hub.add_subscriber(Wire::Stream);
        let other = hub.add_subscriber(Wire::Stream);
        let aapl = crate::stream_name::parse_stream_name("stock.AAPL@trade").unwrap();
        let msft = crate::stream_name::parse_stream_name("stock.MSFT@trade").unwrap();
        hub.subscribe(watcher, &[aapl], 10).unwrap();
        hub.subscribe(other, &[msft], 10).unwrap();
        let mut reader = PushReader::new();
        let mut batch = SourceBatch::new();
        let ch = b"ff:STOCK:TRADE:AAPL";
        let mut data = message(ch, &payload(5, 1.0));
        data.extend(pmessage(ch, &payload(5, 1.0)));
        data.extend(message(ch, &payload(9, 1.0)));
        let pushes = reader.feed(&data, &mut hub, &mut batch).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(pushes.duplicates, 1);
        assert_eq!(
            pushes.gaps,
            vec![ChannelGap {
                channel: "ff:STOCK:TRADE:AAPL".into(),
                lost: 3,
                subscribers: vec![watcher],
            }]
        );
        // The publisher restarted: a new baseline, no gap.
        let pushes = reader
            .feed(&message(ch, &payload(1, 1.0)), &mut hub, &mut batch)
            .unwrap();
        assert!(pushes.gaps.is_empty());
        assert_eq!(reader.restarts(), 1);
        reader.forget(ch);
        let pushes = reader
            .feed(&message(ch, &payload(40, 1.0)), &mut hub, &mut batch)
            .unwrap();
        assert!(pushes.gaps.is_empty());
        reader.forget_prefix(b"ff:STOCK:");
        assert_eq!(reader.last_pseq(ch), None);
    }

    fn smessage(channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_command(&mut out, &[b"smessage", channel, payload]);
        out
    }

    #[test]
    fn cluster_market_copies_count_as_their_contract_channel() {
        let mut hub = Hub::new(true);
        let watcher = hub.add_subscriber(Wire::Stream);
        let full = crate::stream_name::parse_stream_name("stock@full_trades").unwrap();
        hub.subscribe(watcher, &[full], 10).unwrap();
        let mut reader = PushReader::new();
        let mut batch = SourceBatch::new();
        let (own, market) = (b"ff:STOCK:TRADE:AAPL", b"ff:STOCK:TRADE:*");
        // Heard on both channels, in either order: each event once.
        let mut data = smessage(own, &payload(1, 1.0));
        data.extend(smessage(market, &payload(1, 1.0)));
        data.extend(smessage(market, &payload(2, 2.0)));
        data.extend(smessage(own, &payload(2, 2.0)));
        // A hole on the market channel is a gap of the contract's channel.
        data.extend(smessage(market, &payload(5, 5.0)));
        let pushes = reader.feed(&data, &mut hub, &mut batch).unwrap();
        assert_eq!(
            batch.raw(),
            [payload(1, 1.0), payload(2, 2.0), payload(5, 5.0)].concat()
        );
        assert_eq!(batch.spans().len(), 3);
        assert_eq!(pushes.duplicates, 2);
        assert_eq!(
            pushes.gaps,
            vec![ChannelGap {
                channel: "ff:STOCK:TRADE:AAPL".into(),
                lost: 2,
                subscribers: vec![watcher],
            }]
        );
        assert_eq!(reader.last_pseq(own), Some(5));
        assert_eq!(reader.last_pseq(market), None);
    }

    #[test]
    fn connections_keep_their_partial_replies_apart() {
        let mut hub = Hub::new(true);
        let mut reader = PushReader::new();
        let mut batch = SourceBatch::new();
        let a = message(b"ff:STOCK:TRADE:AAPL", &payload(2, 1.0));
        let b = message(b"ff:STOCK:TRADE:AAPL", &payload(3, 1.0));
        reader.feed_from(0, &a[..10], &mut hub, &mut batch).unwrap();
        let pushes = reader.feed_from(1, &b, &mut hub, &mut batch).unwrap();
        assert!(pushes.gaps.is_empty());
        let pushes = reader.feed_from(0, &a[10..], &mut hub, &mut batch).unwrap();
        assert_eq!(pushes.duplicates, 1);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn bad_payloads_and_garbage_are_reported() {
        let mut hub = Hub::new(true);
        let mut reader = PushReader::new();
        let mut batch = SourceBatch::new();
        let pushes = reader
            .feed(&message(b"ff:X", b"{\"header\":1}"), &mut hub, &mut batch)
            .unwrap();
        assert_eq!(pushes.bad_payloads.len(), 1);
        assert!(
            pushes.bad_payloads[0].starts_with("ff:X: header"),
            "{:?}",
            pushes.bad_payloads
        );
        let pushes = reader.feed(b"-ERR no\r\n", &mut hub, &mut batch).unwrap();
        assert_eq!(pushes.replies, vec![Reply::Error("ERR no".into())]);
        assert!(reader.feed(b"?what\r\n", &mut hub, &mut batch).is_err());
        assert!(PushReader::new()
            .feed(b"+OK\n", &mut hub, &mut batch)
            .is_err());
    }
}
