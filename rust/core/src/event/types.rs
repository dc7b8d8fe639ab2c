//! The event vocabulary of SPEC §3.3: one plain struct per body, in wire field order.

use std::fmt;

/// Body of a `TRADE` event (`"trade"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub ms_of_day: u32,
    pub sequence: i64,
    pub size: u32,
    pub condition: u32,
    pub price: f64,
    pub exchange: u32,
    pub date: u32,
}

/// Body of a `QUOTE` event (`"quote"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    pub ms_of_day: u32,
    pub bid_size: u32,
    pub bid_exchange: u32,
    pub bid: f64,
    pub bid_condition: u32,
    pub ask_size: u32,
    pub ask_exchange: u32,
    pub ask: f64,
    pub ask_condition: u32,
    pub date: u32,
}

/// Body of an `OHLC` event (`"ohlc"`): the contract's session-to-date bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlc {
    pub ms_of_day: u32,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    pub count: u64,
    pub date: u32,
}

/// Body of an `OPEN_INTEREST` event (`"open_interest"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterest {
    pub ms_of_day: u32,
    pub open_interest: u64,
    pub date: u32,
}

/// Body of a `STATUS` heartbeat (`"stats"`): data events written to the connection so far and
/// those discarded by the slow-consumer policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub dropped: u64,
}

/// The body of one data event (everything except `STATUS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventBody {
    Trade(Trade),
    Quote(Quote),
    Ohlc(Ohlc),
    OpenInterest(OpenInterest),
}

impl EventBody {
    /// A placeholder for a slot that a decoder writes a body into (an all-zero open interest).
    pub const PLACEHOLDER: EventBody = EventBody::OpenInterest(OpenInterest {
        ms_of_day: 0,
        open_interest: 0,
        date: 0,
    });

    /// Which kind of event this body belongs to.
    pub const fn kind(&self) -> EventKind {
        match self {
            EventBody::Trade(_) => EventKind::Trade,
            EventBody::Quote(_) => EventKind::Quote,
            EventBody::Ohlc(_) => EventKind::Ohlc,
            EventBody::OpenInterest(_) => EventKind::OpenInterest,
        }
    }
}

/// Optional header fields after `type` and `status`.
///
/// `id` numbers data events per connection in `--pace ack` mode (SPEC §3.3); `pseq` is the
/// per-channel publish sequence added for Redis Pub/Sub (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventHeader {
    pub id: Option<u64>,
    pub pseq: Option<u64>,
}

/// What one received message was, in the order given by a batch's `kinds` array.
///
/// The numeric values are part of the Python API (`EventBatch.kinds` is a `uint8` array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    Trade = 0,
    Quote = 1,
    Ohlc = 2,
    OpenInterest = 3,
    Status = 4,
    /// A `REQ_RESPONSE` acknowledgement.
    Ack = 5,
    /// A message that is not a known event (kept as raw bytes).
    Other = 6,
    /// A malformed event (its message is in the batch's error list).
    Error = 7,
    /// A WebSocket control frame (ping, pong, close).
    Control = 8,
}

impl EventKind {
    /// Number of kinds (values are `0..COUNT`).
    pub const COUNT: usize = EventKind::Control as usize + 1;

    /// The kinds of market-data events.
    pub const DATA: [EventKind; 4] = [
        EventKind::Trade,
        EventKind::Quote,
        EventKind::Ohlc,
        EventKind::OpenInterest,
    ];

    /// The header `type` (`TRADE`, …) for event kinds; the upper-case kind name otherwise.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Trade => "TRADE",
            EventKind::Quote => "QUOTE",
            EventKind::Ohlc => "OHLC",
            EventKind::OpenInterest => "OPEN_INTEREST",
            EventKind::Status => "STATUS",
            EventKind::Ack => "REQ_RESPONSE",
            EventKind::Other => "OTHER",
            EventKind::Error => "ERROR",
            EventKind::Control => "CONTROL",
        }
    }

    /// The body key of a data or status event (`trade`, `quote`, `ohlc`, `open_interest`, `stats`).
    pub const fn body_key(self) -> Option<&'static str> {
        match self {
            EventKind::Trade => Some("trade"),
            EventKind::Quote => Some("quote"),
            EventKind::Ohlc => Some("ohlc"),
            EventKind::OpenInterest => Some("open_interest"),
            EventKind::Status => Some("stats"),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded answer to a command: a `/v1/events` `REQ_RESPONSE` (SPEC §3.2) or a `/v1/stream`
/// reply (SPEC §4: `{"result":…,"id":N}` or `{"error":{"code":…,"msg":…},"id":N}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The command's id (`req_id` or `id`); `None` when the server answered `null` (or sent
    /// none).
    pub req_id: Option<u64>,
    /// `OK`, `ERROR`, `MAX_STREAMS_REACHED` (§3.2); `OK` or the error `code` (`INVALID_PARAM`,
    /// `TOO_MANY_STREAMS`, …) of a §4 reply.
    pub response: String,
    /// The error message (`message`, or a §4 error's `msg`), when the server sent one.
    pub message: Option<String>,
    /// A §4 reply's `result` as its raw JSON text when it is not `null` (the stream names of
    /// `LIST_SUBSCRIPTIONS`); always `None` for §3.2 acknowledgements.
    pub result: Option<String>,
}
