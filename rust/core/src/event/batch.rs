//! Columnar batches: decoded events appended to one vector per field and per type, contracts
//! interned to dense ids, and everything else (acks, unknown frames, errors, control frames)
//! kept in arrival order.

use std::collections::HashMap;

use crate::contract::ContractKey;
use crate::event::decode::{decode_payload, parse_contract, ContractSpan, Decoded};
use crate::event::types::{Ack, EventBody, EventKind};

/// Dense id of an interned contract, stable for the lifetime of one decoder.
pub type ContractId = u32;

macro_rules! columns {
    ($(#[$doc:meta])* $name:ident (rows = $rows:ident) { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $(pub $field: Vec<$ty>,)*
        }

        impl $name {
            /// Column names, in field order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Number of rows.
            pub fn len(&self) -> usize {
                self.$rows.len()
            }

            /// True when there are no rows.
            pub fn is_empty(&self) -> bool {
                self.$rows.is_empty()
            }

            /// Empty columns with room for `rows` rows.
            fn with_capacity(rows: usize) -> Self {
                Self { $($field: Vec::with_capacity(rows),)* }
            }
        }
    };
}

columns! {
    /// `TRADE` rows: `contract_id`, header `id` (0 when absent), then the body fields.
    TradeColumns (rows = contract_id) {
        contract_id: ContractId,
        id: u64,
        ms_of_day: u32,
        sequence: i64,
        size: u32,
        condition: u32,
        price: f64,
        exchange: u32,
        date: u32,
    }
}

columns! {
    /// `QUOTE` rows: `contract_id`, header `id` (0 when absent), then the body fields.
    QuoteColumns (rows = contract_id) {
        contract_id: ContractId,
        id: u64,
        ms_of_day: u32,
        bid_size: u32,
        bid_exchange: u32,
        bid: f64,
        bid_condition: u32,
        ask_size: u32,
        ask_exchange: u32,
        ask: f64,
        ask_condition: u32,
        date: u32,
    }
}

columns! {
    /// `OHLC` rows: `contract_id`, header `id` (0 when absent), then the body fields.
    OhlcColumns (rows = contract_id) {
        contract_id: ContractId,
        id: u64,
        ms_of_day: u32,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: u64,
        count: u64,
        date: u32,
    }
}

columns! {
    /// `OPEN_INTEREST` rows: `contract_id`, header `id` (0 when absent), then the body fields.
    OpenInterestColumns (rows = contract_id) {
        contract_id: ContractId,
        id: u64,
        ms_of_day: u32,
        open_interest: u64,
        date: u32,
    }
}

columns! {
    /// `STATUS` rows. `sent`/`dropped` are -1 when the frame had no `stats` (the original
    /// terminal's heartbeat); `received` counts the data events this decoder decoded before the
    /// STATUS over its whole lifetime, so `received == sent` proves nothing was lost.
    /// `connected` is 0 when the header said `"status": "DISCONNECTED"` (the server lost its
    /// upstream), else 1; `end_of_snapshot` is 1 when it said
    /// `"stream_status": "EndSnapshot"`.
    StatusColumns (rows = received) {
        sent: i64,
        dropped: i64,
        received: u64,
        connected: u8,
        end_of_snapshot: u8,
    }
}

/// A frame that could not be decoded as an event; decoding went on with the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Position of the frame in the batch (an index into `kinds`).
    pub index: usize,
    /// `trade.price: expected a number at byte 97`, …
    pub message: String,
}

/// A WebSocket control frame received between events (client role: ping, pong, close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFrame {
    /// The frame opcode (0x8 close, 0x9 ping, 0xA pong).
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Everything decoded from one `feed` (or a run of `push_payload` calls).
///
/// `kinds[i]` says what the i-th message was ([`EventKind`] as `u8`); the typed columns, `acks`,
/// `other`, `errors` and `control` each hold their kind's messages in the same relative order,
/// so walking `kinds` with one cursor per kind restores the arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventBatch {
    pub kinds: Vec<u8>,
    pub trades: TradeColumns,
    pub quotes: QuoteColumns,
    pub ohlc: OhlcColumns,
    pub open_interest: OpenInterestColumns,
    pub status: StatusColumns,
    pub acks: Vec<Ack>,
    /// Messages that are not events (unknown `header.type`, no header, binary frames), as received.
    pub other: Vec<Vec<u8>>,
    pub errors: Vec<FrameError>,
    pub control: Vec<ControlFrame>,
    /// Contracts seen for the first time in this batch, in order of first appearance.
    pub new_contracts: Vec<(ContractId, ContractKey)>,
    /// A WebSocket protocol violation that stopped frame decoding: message and close code.
    /// Everything decoded before it is still in the batch.
    pub protocol_error: Option<(String, u16)>,
}

impl EventBatch {
    /// Number of messages (the length of `kinds`).
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True when the batch holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.protocol_error.is_none()
    }

    /// The number of data events (TRADE, QUOTE, OHLC, `OPEN_INTEREST`) when they are all the
    /// batch holds — no other message, no contract seen for the first time, no protocol
    /// error — else `None`. `counts` are [`kind_counts`](Self::kind_counts). A client takes
    /// such a batch, its usual one, without looking at anything else.
    pub fn data_only(&self, counts: &[usize; EventKind::COUNT]) -> Option<usize> {
        let data = EventKind::DATA
            .iter()
            .map(|&k| counts[k as usize])
            .sum::<usize>();
        let plain = data > 0
            && data == counts.iter().sum::<usize>()
            && self.new_contracts.is_empty()
            && self.protocol_error.is_none();
        plain.then_some(data)
    }

    /// Messages per kind, indexed by [`EventKind`] value.
    pub fn kind_counts(&self) -> [usize; EventKind::COUNT] {
        let mut counts = [0; EventKind::COUNT];
        for &kind in &self.kinds {
            if let Some(count) = counts.get_mut(usize::from(kind)) {
                *count += 1;
            }
        }
        counts
    }
}

/// The hasher of the raw-contract caches: foldhash, seeded per process (a hostile peer
/// cannot precompute colliding spellings). The keys are short byte strings hashed once per
/// event, where `SipHash` would cost as much as parsing.
pub(crate) type SpanHash = foldhash::fast::RandomState;

/// Most distinct contract spellings remembered byte-for-byte; beyond it (a server that spells
/// contracts in ever new ways) contracts are parsed every time, still correctly.
const MAX_RAW_SPELLINGS: usize = 1 << 20;

/// Interns contracts: the same [`ContractKey`] always gets the same dense id.
#[derive(Clone)]
struct ContractTable {
    keys: Vec<ContractKey>,
    ids: HashMap<ContractKey, ContractId>,
    /// Exact JSON bytes of a contract value already parsed → its id (parse-free fast path).
    raw: HashMap<Box<[u8]>, ContractId, SpanHash>,
}

impl ContractTable {
    fn new() -> Self {
        ContractTable {
            keys: Vec::new(),
            ids: HashMap::new(),
            raw: HashMap::with_hasher(SpanHash::default()),
        }
    }
}

/// Decodes event payloads (already unframed) into an [`EventBatch`].
///
/// Feed payloads with [`push_payload`](Self::push_payload) (and control frames with
/// [`push_control`](Self::push_control)); [`take_batch`](Self::take_batch) returns what has
/// accumulated and starts a new batch. Contract ids and the `received` count live as long as the
/// decoder.
#[derive(Clone)]
pub struct BatchDecoder {
    contracts: ContractTable,
    received: u64,
    batch: EventBatch,
}

impl Default for BatchDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for BatchDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchDecoder")
            .field("contracts", &self.contracts.keys.len())
            .field("received", &self.received)
            .field("pending", &self.batch.len())
            .finish_non_exhaustive()
    }
}

impl BatchDecoder {
    /// A decoder with no contracts.
    pub fn new() -> Self {
        BatchDecoder {
            contracts: ContractTable::new(),
            received: 0,
            batch: EventBatch::default(),
        }
    }

    /// The contract interned under `id`.
    pub fn contract(&self, id: ContractId) -> Option<&ContractKey> {
        self.contracts.keys.get(id as usize)
    }

    /// All interned contracts, indexed by id.
    pub fn contracts(&self) -> &[ContractKey] {
        &self.contracts.keys
    }

    /// Data events decoded so far (the `received` of the next STATUS row).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Starts counting `received` from zero again (a new connection: the server's `sent`
    /// restarts too). Contract ids are kept.
    pub fn reset_received(&mut self) {
        self.received = 0;
    }

    /// The batch accumulated so far.
    pub fn batch(&self) -> &EventBatch {
        &self.batch
    }

    /// Returns the accumulated batch and starts an empty one, with room for as many rows of
    /// each kind as the one returned (reads of a stream are alike: the columns then grow
    /// without reallocating as they fill).
    pub fn take_batch(&mut self) -> EventBatch {
        let b = &self.batch;
        let next = EventBatch {
            kinds: Vec::with_capacity(b.kinds.len()),
            trades: TradeColumns::with_capacity(b.trades.len()),
            quotes: QuoteColumns::with_capacity(b.quotes.len()),
            ohlc: OhlcColumns::with_capacity(b.ohlc.len()),
            open_interest: OpenInterestColumns::with_capacity(b.open_interest.len()),
            status: StatusColumns::with_capacity(b.status.len()),
            ..EventBatch::default()
        };
        std::mem::replace(&mut self.batch, next)
    }

    /// Counts a data event that its caller took instead of decoding it here
    /// ([`EventDecoder::feed_with`](crate::event::EventDecoder::feed_with)).
    pub fn count_taken(&mut self) {
        self.received += 1;
    }

    /// Records a control frame in arrival order.
    pub fn push_control(&mut self, opcode: u8, payload: &[u8]) {
        self.batch.kinds.push(EventKind::Control as u8);
        self.batch.control.push(ControlFrame {
            opcode,
            payload: payload.to_vec(),
        });
    }

    /// Records a message that is not a text event (a binary frame) as `other`.
    pub fn push_other(&mut self, payload: &[u8]) {
        self.batch.kinds.push(EventKind::Other as u8);
        self.batch.other.push(payload.to_vec());
    }

    /// Records a protocol error that ended frame decoding.
    pub fn set_protocol_error(&mut self, message: String, close_code: u16) {
        self.batch.protocol_error = Some((message, close_code));
    }

    /// Decodes one text message and appends it to the batch. A malformed event becomes an
    /// entry in `errors` (and an [`EventKind::Error`] in `kinds`); it never stops the batch.
    pub fn push_payload(&mut self, payload: &[u8]) {
        let index = self.batch.kinds.len();
        let kind = match self.decode_one(payload) {
            Ok(kind) => kind,
            Err(message) => {
                self.batch.errors.push(FrameError { index, message });
                EventKind::Error
            }
        };
        self.batch.kinds.push(kind as u8);
    }

    fn decode_one(&mut self, payload: &[u8]) -> Result<EventKind, String> {
        let raw = &self.contracts.raw;
        let mut body = EventBody::PLACEHOLDER;
        let decoded = decode_payload(payload, |bytes| raw.get(bytes).copied(), &mut body);
        match decoded.map_err(|e| e.to_string())? {
            Decoded::Data { id, contract } => {
                let contract_id = self.intern(contract, payload).map_err(|e| e.to_string())?;
                self.received += 1;
                let b = &mut self.batch;
                Ok(match body {
                    EventBody::Trade(t) => {
                        let c = &mut b.trades;
                        c.contract_id.push(contract_id);
                        c.id.push(id);
                        c.ms_of_day.push(t.ms_of_day);
                        c.sequence.push(t.sequence);
                        c.size.push(t.size);
                        c.condition.push(t.condition);
                        c.price.push(t.price);
                        c.exchange.push(t.exchange);
                        c.date.push(t.date);
                        EventKind::Trade
                    }
                    EventBody::Quote(q) => {
                        let c = &mut b.quotes;
                        c.contract_id.push(contract_id);
                        c.id.push(id);
                        c.ms_of_day.push(q.ms_of_day);
                        c.bid_size.push(q.bid_size);
                        c.bid_exchange.push(q.bid_exchange);
                        c.bid.push(q.bid);
                        c.bid_condition.push(q.bid_condition);
                        c.ask_size.push(q.ask_size);
                        c.ask_exchange.push(q.ask_exchange);
                        c.ask.push(q.ask);
                        c.ask_condition.push(q.ask_condition);
                        c.date.push(q.date);
                        EventKind::Quote
                    }
                    EventBody::Ohlc(o) => {
                        let c = &mut b.ohlc;
                        c.contract_id.push(contract_id);
                        c.id.push(id);
                        c.ms_of_day.push(o.ms_of_day);
                        c.open.push(o.open);
                        c.high.push(o.high);
                        c.low.push(o.low);
                        c.close.push(o.close);
                        c.volume.push(o.volume);
                        c.count.push(o.count);
                        c.date.push(o.date);
                        EventKind::Ohlc
                    }
                    EventBody::OpenInterest(oi) => {
                        let c = &mut b.open_interest;
                        c.contract_id.push(contract_id);
                        c.id.push(id);
                        c.ms_of_day.push(oi.ms_of_day);
                        c.open_interest.push(oi.open_interest);
                        c.date.push(oi.date);
                        EventKind::OpenInterest
                    }
                })
            }
            Decoded::Status { stats, upstream } => {
                let (sent, dropped) = match stats {
                    // Counts beyond i64::MAX cannot come from a real server; clamp, don't wrap.
                    Some((s, d)) => (
                        i64::try_from(s).unwrap_or(i64::MAX),
                        i64::try_from(d).unwrap_or(i64::MAX),
                    ),
                    None => (-1, -1),
                };
                let c = &mut self.batch.status;
                c.sent.push(sent);
                c.dropped.push(dropped);
                c.received.push(self.received);
                c.connected.push(u8::from(!upstream.disconnected));
                c.end_of_snapshot.push(u8::from(upstream.end_of_snapshot));
                Ok(EventKind::Status)
            }
            Decoded::Ack(ack) => {
                self.batch.acks.push(ack);
                Ok(EventKind::Ack)
            }
            Decoded::Other => {
                self.batch.other.push(payload.to_vec());
                Ok(EventKind::Other)
            }
        }
    }

    fn intern(
        &mut self,
        span: ContractSpan<'_>,
        payload: &[u8],
    ) -> Result<ContractId, crate::event::scan::DecodeError> {
        let table = &mut self.contracts;
        if let Some(id) = span.known {
            return Ok(id);
        }
        let key = parse_contract(span, payload)?;
        let id = if let Some(&id) = table.ids.get(&key) {
            id
        } else {
            let id = table.keys.len() as ContractId;
            table.keys.push(key);
            table.ids.insert(key, id);
            self.batch.new_contracts.push((id, key));
            id
        };
        // Only spellings that end at their first `}` can be recognised before scanning.
        let ends_at_first_brace = memchr::memchr(b'}', span.bytes) == Some(span.bytes.len() - 1);
        if ends_at_first_brace && table.raw.len() < MAX_RAW_SPELLINGS {
            table.raw.insert(span.bytes.into(), id);
        }
        Ok(id)
    }
}
