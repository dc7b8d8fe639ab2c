//! The work done per consumer: who subscribed to what, the reference-counted union of every
//! stream anybody wants, and the gathering of each event's frames into each subscriber's
//! output buffer (SPEC §4, "one market, many consumers").
//!
//! An event is encoded once as §3.3 JSON, framed once for `/v1/events` and once per matching
//! §4 stream name for `/v1/stream` (at most three names can match one event); per subscriber
//! only a copy of ready bytes remains. Which subscribers get an event of a contract, and under
//! which name, is kept per (contract, route) and recomputed only after a subscription touching
//! that contract (or that security type's whole-market stream) changed, so subscribing costs
//! the same at 10 streams as at 10,000.
//!
//! One `/v1/events` subscriber may be *stamped* (`--pace ack`, see
//! [`crate::hub::lock_step`]): its frames carry header ids (`"id": 1, 2, …`), so they are
//! encoded for it alone.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

use crate::contract::{ContractKey, ReqType, SecType, StreamKey};
use crate::event::{ContractId, EncodeError, EventHeader};
use crate::hub::market::{Market, Outgoing, RejectedEvent, Rejections, Route};
use crate::ws::frame::{write_header, Opcode};

/// The §4 wrapper around an event: `{"stream":"` name `","data":` event `}`.
const STREAM_PREFIX: &[u8] = b"{\"stream\":\"";
const DATA_KEY: &[u8] = b"\",\"data\":";

/// A subscriber's handle, handed out by [`Fanout::add_subscriber`]. Ids of removed subscribers
/// are reused.
pub type SubscriberId = u32;

/// The wire format a subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// `/v1/events`: each event as its §3.3 frame.
    Events,
    /// `/v1/stream`: `{"stream":"<name>","data":<§3.3 event>}` under the first matching stream
    /// of the subscriber's subscription order.
    Stream,
}

/// Why a subscription command was refused; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutError {
    /// The command would leave the subscriber with more than `limit` streams.
    TooManyStreams { limit: usize },
    /// No subscriber has this id.
    UnknownSubscriber(SubscriberId),
}

impl fmt::Display for FanoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FanoutError::TooManyStreams { limit } => {
                write!(f, "more than {limit} streams on one connection")
            }
            FanoutError::UnknownSubscriber(id) => write!(f, "unknown subscriber {id}"),
        }
    }
}

impl std::error::Error for FanoutError {}

/// Streams of the union that gained their first or lost their last subscriber.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterestChange {
    pub gained: Vec<StreamKey>,
    pub lost: Vec<StreamKey>,
}

impl InterestChange {
    /// True when the union did not change.
    pub fn is_empty(&self) -> bool {
        self.gained.is_empty() && self.lost.is_empty()
    }
}

#[derive(Debug)]
struct Subscriber {
    wire: Wire,
    /// Each stream, its place in the subscription order (a counter: a stream subscribed again
    /// after being unsubscribed moves to the end) and its contract's id.
    streams: HashMap<StreamKey, (u64, Option<ContractId>)>,
    /// How many of `streams` name each contract.
    per_contract: HashMap<ContractId, u32>,
    /// The frames (ids into the batch's arena) this subscriber gets from the current batch.
    pending: Vec<u32>,
}

/// Which subscribers get the events of one (contract, route), and as which frame.
#[derive(Debug, Default)]
struct RouteTable {
    /// The generations it was computed at: (contract's, its security type's whole-market).
    computed_at: Option<(u64, u64)>,
    /// `(subscriber, frame)`: frame 0 is the §3.3 frame, `k > 0` the §4 wrapper named
    /// `names[k - 1]`.
    targets: Vec<(SubscriberId, u8)>,
    names: Vec<Vec<u8>>,
}

/// Subscribers, their streams, the union, and per-subscriber output.
#[derive(Debug, Default)]
pub struct Fanout {
    subscribers: Vec<Option<Subscriber>>,
    free: Vec<SubscriberId>,
    next_order: u64,
    union: HashMap<StreamKey, u32>,
    /// By contract id: subscribers with at least one stream on the contract.
    contract_subscribers: Vec<Vec<SubscriberId>>,
    /// By security type: subscribers of its `FULL_TRADES` and `FULL_OPEN_INTEREST` streams.
    full_subscribers: [[Vec<SubscriberId>; 2]; 3],
    contract_generation: Vec<u64>,
    full_generation: [u64; 3],
    routes: Vec<[RouteTable; Route::COUNT]>,
    /// Subscribers with output since the last [`Fanout::take_output`].
    with_output: Vec<SubscriberId>,
    seen: Vec<u64>,
    stamp: u64,
    /// Every frame of the current batch, back to back; `spans` locates each by id.
    arena: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Scratch of [`Fanout::take_output`]: subscribers grouped by identical output.
    groups: HashMap<u64, Vec<Group>>,
    /// The subscriber whose frames carry header ids, and the next id.
    stamped: Option<Stamped>,
}

/// A subscriber whose `/v1/events` frames carry header ids, counted from 1.
#[derive(Debug, Clone, Copy)]
struct Stamped {
    subscriber: SubscriberId,
    next_id: u64,
}

/// The frames one group of subscribers gets from the published batches: scattered in the
/// batch's arena, gathered by [`GroupOutput::write_to`] (straight into the caller's buffer).
#[derive(Debug)]
pub struct GroupOutput<'a> {
    frames: &'a [u32],
    spans: &'a [(usize, usize)],
    arena: &'a [u8],
}

impl GroupOutput<'_> {
    /// Number of events (frames).
    pub fn count(&self) -> u64 {
        self.frames.len() as u64
    }

    /// Total bytes of the frames.
    pub fn len(&self) -> usize {
        self.runs().map(|(start, end)| end - start).sum()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Contiguous runs of the arena, in order (adjacent frames copied as one).
    fn runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut frames = self
            .frames
            .iter()
            .map(|&f| self.spans[f as usize])
            .peekable();
        std::iter::from_fn(move || {
            let (start, mut end) = frames.next()?;
            while let Some(&(next_start, next_end)) = frames.peek() {
                if next_start != end {
                    break;
                }
                end = next_end;
                frames.next();
            }
            Some((start, end))
        })
    }

    /// Writes the frames into `out`, which must be exactly [`GroupOutput::len`] bytes.
    pub fn write_to(&self, out: &mut [u8]) {
        let mut at = 0;
        for (start, end) in self.runs() {
            out[at..at + end - start].copy_from_slice(&self.arena[start..end]);
            at += end - start;
        }
    }

    /// The frames as one new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        self.write_to(&mut out);
        out
    }
}

/// An event's §3.3 frame in the arena: its frame id and the range of its JSON payload.
#[derive(Debug, Clone, Copy)]
struct PlainFrame {
    id: u32,
    payload: (usize, usize),
}

/// Subscribers that get byte-identical output from one batch.
#[derive(Debug)]
struct Group {
    members: Vec<SubscriberId>,
}

/// A fast hash of a frame-id sequence (FNV-1a over the ids), to find equal sequences.
fn frames_hash(frames: &[u32]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ frames.len() as u64;
    for &f in frames {
        hash = (hash ^ u64::from(f)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn sec_index(sec_type: SecType) -> usize {
    match sec_type {
        SecType::Stock => 0,
        SecType::Option => 1,
        SecType::Index => 2,
    }
}

fn full_index(req_type: ReqType) -> Option<usize> {
    match req_type {
        ReqType::FullTrades => Some(0),
        ReqType::FullOpenInterest => Some(1),
        _ => None,
    }
}

/// The streams an event of `route` on `contract` matches, in the order of SPEC §4's rules.
fn candidates(route: Route, contract: &ContractKey) -> ([Option<StreamKey>; 3], usize) {
    let own = |req| Some(StreamKey::of_contract(req, *contract));
    let full = |req| Some(StreamKey::full(contract.sec_type, req));
    match route {
        Route::Trade => ([own(ReqType::Trade), full(ReqType::FullTrades), None], 2),
        Route::SessionOhlc => (
            [
                own(ReqType::Trade),
                full(ReqType::FullTrades),
                own(ReqType::Ohlc),
            ],
            3,
        ),
        Route::SourceOhlc => ([own(ReqType::Ohlc), None, None], 1),
        Route::Quote => ([own(ReqType::Quote), None, None], 1),
        Route::OpenInterest => (
            [
                own(ReqType::OpenInterest),
                full(ReqType::FullOpenInterest),
                None,
            ],
            2,
        ),
    }
}

impl Fanout {
    /// A fan-out with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber with no streams.
    pub fn add_subscriber(&mut self, wire: Wire) -> SubscriberId {
        let subscriber = Subscriber {
            wire,
            streams: HashMap::new(),
            per_contract: HashMap::new(),
            pending: Vec::new(),
        };
        if let Some(id) = self.free.pop() {
            self.subscribers[id as usize] = Some(subscriber);
            id
        } else {
            self.subscribers.push(Some(subscriber));
            self.seen.push(0);
            (self.subscribers.len() - 1) as SubscriberId
        }
    }

    /// Removes a subscriber and all its streams; output not yet taken is discarded.
    pub fn remove_subscriber(&mut self, id: SubscriberId) -> Result<InterestChange, FanoutError> {
        let change = self.clear(id)?;
        self.subscribers[id as usize] = None;
        if self.stamped.is_some_and(|s| s.subscriber == id) {
            self.stamped = None;
        }
        self.with_output.retain(|&s| s != id);
        self.free.push(id);
        Ok(change)
    }

    /// Makes `subscriber`'s frames carry header ids from 1 on (`None`: nobody's). Only a
    /// `/v1/events` subscriber's frames are stamped.
    pub fn set_stamped(&mut self, subscriber: Option<SubscriberId>) {
        self.stamped = subscriber.map(|subscriber| Stamped {
            subscriber,
            next_id: 1,
        });
    }

    /// The live subscribers receiving `wire`, lowest id first.
    pub fn subscribers_of(&self, wire: Wire) -> Vec<SubscriberId> {
        self.subscribers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|s| s.wire == wire))
            .map(|(id, _)| id as SubscriberId)
            .collect()
    }

    /// Whether the subscriber has at least one stream.
    pub fn has_streams(&self, id: SubscriberId) -> bool {
        self.subscriber(id).is_ok_and(|s| !s.streams.is_empty())
    }

    /// Number of subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len() - self.free.len()
    }

    fn subscriber(&self, id: SubscriberId) -> Result<&Subscriber, FanoutError> {
        self.subscribers
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or(FanoutError::UnknownSubscriber(id))
    }

    fn subscriber_mut(&mut self, id: SubscriberId) -> Result<&mut Subscriber, FanoutError> {
        self.subscribers
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or(FanoutError::UnknownSubscriber(id))
    }

    /// The subscriber's streams in subscription order.
    pub fn subscriptions(&self, id: SubscriberId) -> Result<Vec<StreamKey>, FanoutError> {
        let subscriber = self.subscriber(id)?;
        let mut streams: Vec<(u64, StreamKey)> = subscriber
            .streams
            .iter()
            .map(|(k, &(o, _))| (o, *k))
            .collect();
        streams.sort_unstable();
        Ok(streams.into_iter().map(|(_, k)| k).collect())
    }

    /// Every stream somebody subscribed to, with its number of subscribers.
    pub fn union(&self) -> impl Iterator<Item = (&StreamKey, u32)> + '_ {
        self.union.iter().map(|(k, &n)| (k, n))
    }

    /// Subscribes `id` to `streams` (already subscribed ones keep their place), all or none:
    /// refused when the subscriber would have more than `limit` streams. `contract_of` gives
    /// the id of a stream's contract (registering it).
    pub fn subscribe(
        &mut self,
        id: SubscriberId,
        streams: &[StreamKey],
        limit: usize,
        mut contract_of: impl FnMut(&ContractKey) -> ContractId,
    ) -> Result<InterestChange, FanoutError> {
        let subscriber = self.subscriber(id)?;
        let mut new = 0;
        for (i, stream) in streams.iter().enumerate() {
            if !subscriber.streams.contains_key(stream) && !streams[..i].contains(stream) {
                new += 1;
            }
        }
        if subscriber.streams.len() + new > limit {
            return Err(FanoutError::TooManyStreams { limit });
        }
        let mut change = InterestChange::default();
        for stream in streams {
            let order = self.next_order;
            let subscriber = self.subscriber_mut(id)?;
            if subscriber.streams.contains_key(stream) {
                continue;
            }
            let contract = stream.contract.as_ref().map(&mut contract_of);
            self.subscriber_mut(id)?
                .streams
                .insert(*stream, (order, contract));
            self.next_order += 1;
            self.attach(id, stream, contract);
            let holders = self.union.entry(*stream).or_insert(0);
            *holders += 1;
            if *holders == 1 {
                change.gained.push(*stream);
            }
        }
        Ok(change)
    }

    /// Unsubscribes `id` from `streams`; streams it does not have are ignored.
    pub fn unsubscribe(
        &mut self,
        id: SubscriberId,
        streams: &[StreamKey],
    ) -> Result<InterestChange, FanoutError> {
        self.subscriber(id)?;
        let mut change = InterestChange::default();
        for stream in streams {
            let Some((_, contract)) = self.subscriber_mut(id)?.streams.remove(stream) else {
                continue;
            };
            self.detach(id, stream, contract);
            if let Entry::Occupied(mut holders) = self.union.entry(*stream) {
                *holders.get_mut() -= 1;
                if *holders.get() == 0 {
                    holders.remove();
                    change.lost.push(*stream);
                }
            }
        }
        Ok(change)
    }

    /// Unsubscribes `id` from every stream (`STOP`, or a closed connection).
    pub fn clear(&mut self, id: SubscriberId) -> Result<InterestChange, FanoutError> {
        let streams = self.subscriptions(id)?;
        self.unsubscribe(id, &streams)
    }

    fn attach(&mut self, id: SubscriberId, stream: &StreamKey, contract: Option<ContractId>) {
        let sec = sec_index(stream.sec_type);
        if let Some(contract) = contract {
            self.grow(contract);
            let subscriber = self.subscribers[id as usize].as_mut().expect("checked");
            let n = subscriber.per_contract.entry(contract).or_insert(0);
            *n += 1;
            if *n == 1 {
                self.contract_subscribers[contract as usize].push(id);
            }
            self.contract_generation[contract as usize] += 1;
        } else if let Some(full) = full_index(stream.req_type) {
            self.full_subscribers[sec][full].push(id);
            self.full_generation[sec] += 1;
        }
    }

    fn detach(&mut self, id: SubscriberId, stream: &StreamKey, contract: Option<ContractId>) {
        let sec = sec_index(stream.sec_type);
        if let Some(contract) = contract {
            let subscriber = self.subscribers[id as usize].as_mut().expect("checked");
            if let Entry::Occupied(mut n) = subscriber.per_contract.entry(contract) {
                *n.get_mut() -= 1;
                if *n.get() == 0 {
                    n.remove();
                    let list = &mut self.contract_subscribers[contract as usize];
                    if let Some(at) = list.iter().position(|&s| s == id) {
                        list.swap_remove(at);
                    }
                }
            }
            self.contract_generation[contract as usize] += 1;
        } else if let Some(full) = full_index(stream.req_type) {
            let list = &mut self.full_subscribers[sec][full];
            if let Some(at) = list.iter().position(|&s| s == id) {
                list.swap_remove(at);
            }
            self.full_generation[sec] += 1;
        }
    }

    fn grow(&mut self, contract: ContractId) {
        let needed = contract as usize + 1;
        if self.contract_subscribers.len() < needed {
            self.contract_subscribers.resize_with(needed, Vec::new);
            self.contract_generation.resize(needed, 0);
            self.routes.resize_with(needed, Default::default);
        }
    }

    /// The subscribers with a stream that events of `route` on `contract` match (whom a
    /// lost event would have reached).
    pub fn subscribers_of_route(&self, contract: &ContractKey, route: Route) -> Vec<SubscriberId> {
        let (keys, n) = candidates(route, contract);
        let keys = &keys[..n];
        self.subscribers
            .iter()
            .enumerate()
            .filter_map(|(id, s)| {
                let s = s.as_ref()?;
                keys.iter()
                    .flatten()
                    .any(|k| s.streams.contains_key(k))
                    .then_some(id as SubscriberId)
            })
            .collect()
    }

    /// Gathers every event of `events` into the output of each subscriber that wants it.
    /// Events that cannot be encoded are refused (counted; nobody receives them).
    /// `raw` holds the original JSON the events' [`Outgoing::raw`] spans point into.
    pub fn publish(&mut self, market: &Market, events: &[Outgoing], raw: &[u8]) -> Rejections {
        let mut rejections = Rejections::default();
        for event in events {
            if let Err(reason) = self.publish_event(market, event, raw, None) {
                rejections.count += 1;
                rejections.first.get_or_insert(reason);
            }
        }
        rejections
    }

    /// Gathers one event for its subscribers — for `only` that one, if it wants it. Returns
    /// the header id it got if the stamped subscriber receives it.
    pub fn publish_event(
        &mut self,
        market: &Market,
        event: &Outgoing,
        raw: &[u8],
        only: Option<SubscriberId>,
    ) -> Result<Option<u64>, RejectedEvent> {
        let Some(contract) = market.contract(event.contract) else {
            return Err(RejectedEvent::UnknownContract(event.contract));
        };
        let id = event.contract as usize;
        if id >= self.routes.len() {
            self.grow(event.contract);
        }
        let route = event.route as usize;
        let current = (
            self.contract_generation[id],
            self.full_generation[sec_index(contract.sec_type)],
        );
        if self.routes[id][route].computed_at != Some(current) {
            self.compute_route(event.contract, contract, event.route, current);
        }
        if self.routes[id][route].targets.is_empty() {
            return Ok(None);
        }
        let plain = self
            .encode_frame(market, event, raw, EventHeader::default())
            .map_err(RejectedEvent::Encode)?;
        self.deliver(market, event, plain, only)
    }

    /// Writes the event's §3.3 frame straight into the arena — its original JSON if it has one
    /// and `header` is the default, else encoded after room for the usual 4-byte header, which
    /// is then filled in; returns its frame id and where its payload lies. On error the arena
    /// is left as it was.
    fn encode_frame(
        &mut self,
        market: &Market,
        event: &Outgoing,
        raw: &[u8],
        header: EventHeader,
    ) -> Result<PlainFrame, EncodeError> {
        let start = self.arena.len();
        self.arena.extend_from_slice(&[0; 4]);
        match event.raw {
            Some((from, to)) if header == EventHeader::default() => {
                self.arena.extend_from_slice(&raw[from..to]);
            }
            _ => {
                if let Err(e) = market.encoder().write_json(
                    &mut self.arena,
                    event.contract,
                    header,
                    &event.body,
                ) {
                    self.arena.truncate(start);
                    return Err(e);
                }
            }
        }
        let len = self.arena.len() - start - 4;
        let mut frame_header = Vec::with_capacity(10);
        write_header(&mut frame_header, true, Opcode::Text, len, None);
        if frame_header.len() == 4 {
            self.arena[start..start + 4].copy_from_slice(&frame_header);
        } else {
            // Shorter than 126 or longer than 65535 bytes: move the payload to fit the header.
            let payload = self.arena.split_off(start + 4);
            self.arena.truncate(start);
            self.arena.extend_from_slice(&frame_header);
            self.arena.extend_from_slice(&payload);
        }
        let id = self.spans.len() as u32;
        self.spans.push((start, self.arena.len()));
        Ok(PlainFrame {
            id,
            payload: (start + frame_header.len(), self.arena.len()),
        })
    }

    fn deliver(
        &mut self,
        market: &Market,
        event: &Outgoing,
        plain: PlainFrame,
        only: Option<SubscriberId>,
    ) -> Result<Option<u64>, RejectedEvent> {
        let contract = event.contract as usize;
        let route = event.route as usize;
        let mut ids: [Option<u32>; 4] = [Some(plain.id), None, None, None];
        let (payload_start, payload_end) = plain.payload;
        let mut stamped_id = None;
        let targets = std::mem::take(&mut self.routes[contract][route].targets);
        for &(subscriber, frame) in &targets {
            if only.is_some_and(|o| o != subscriber) {
                continue;
            }
            let f = frame as usize;
            let id = match (self.stamped, ids[f]) {
                (Some(stamp), _) if stamp.subscriber == subscriber && f == 0 => {
                    let header = EventHeader {
                        id: Some(stamp.next_id),
                        pseq: None,
                    };
                    let framed = self.encode_frame(market, event, &[], header);
                    let Ok(framed) = framed else {
                        self.routes[contract][route].targets = targets;
                        return framed.map(|_| None).map_err(RejectedEvent::Encode);
                    };
                    stamped_id = Some(stamp.next_id);
                    self.stamped = Some(Stamped {
                        next_id: stamp.next_id + 1,
                        ..stamp
                    });
                    framed.id
                }
                (_, Some(id)) => id,
                (_, None) => {
                    // `{"stream":"<name>","data":<payload>}`, framed without a scratch copy.
                    let start = self.arena.len();
                    let name = &self.routes[contract][route].names[f - 1];
                    let len = STREAM_PREFIX.len()
                        + name.len()
                        + DATA_KEY.len()
                        + (payload_end - payload_start)
                        + 1;
                    self.arena.reserve(len + 10);
                    write_header(&mut self.arena, true, Opcode::Text, len, None);
                    self.arena.extend_from_slice(STREAM_PREFIX);
                    self.arena.extend_from_slice(name);
                    self.arena.extend_from_slice(DATA_KEY);
                    self.arena.extend_from_within(payload_start..payload_end);
                    self.arena.push(b'}');
                    let id = self.spans.len() as u32;
                    self.spans.push((start, self.arena.len()));
                    ids[f] = Some(id);
                    id
                }
            };
            let s = self.subscribers[subscriber as usize]
                .as_mut()
                .expect("routes only name live subscribers");
            if s.pending.is_empty() {
                self.with_output.push(subscriber);
            }
            s.pending.push(id);
        }
        self.routes[contract][route].targets = targets;
        Ok(stamped_id)
    }

    fn compute_route(
        &mut self,
        id: ContractId,
        contract: &ContractKey,
        route: Route,
        generation: (u64, u64),
    ) {
        let (keys, n) = candidates(route, contract);
        let keys = &keys[..n];
        let sec = sec_index(contract.sec_type);
        self.stamp += 1;
        let stamp = self.stamp;
        let mut table = std::mem::take(&mut self.routes[id as usize][route as usize]);
        table.targets.clear();
        table.names.clear();
        for key in keys.iter().flatten() {
            let mut name = Vec::new();
            key.write_name(&mut name);
            table.names.push(name);
        }
        let fulls: Vec<usize> = keys
            .iter()
            .flatten()
            .filter_map(|k| {
                if k.contract.is_none() {
                    full_index(k.req_type)
                } else {
                    None
                }
            })
            .collect();
        let candidates = self.contract_subscribers[id as usize].iter().chain(
            fulls
                .iter()
                .flat_map(|&f| self.full_subscribers[sec][f].iter()),
        );
        for &subscriber in candidates {
            if self.seen[subscriber as usize] == stamp {
                continue;
            }
            self.seen[subscriber as usize] = stamp;
            let s = self.subscribers[subscriber as usize]
                .as_ref()
                .expect("lists only name live subscribers");
            let first = keys
                .iter()
                .enumerate()
                .filter_map(|(k, key)| {
                    key.and_then(|key| s.streams.get(&key).map(|&(o, _)| (o, k)))
                })
                .min();
            if let Some((_, k)) = first {
                let frame = match s.wire {
                    Wire::Events => 0,
                    Wire::Stream => k as u8 + 1,
                };
                table.targets.push((subscriber, frame));
            }
        }
        table.computed_at = Some(generation);
        self.routes[id as usize][route as usize] = table;
    }

    /// Hands the gathered output of the published batches to `deliver`: subscribers that get
    /// byte-identical output (the same frames in the same order) are grouped, so their frames
    /// are gathered once; `deliver(subscribers, output)` is called once per group, in the order
    /// the groups first received something. Then the output is emptied.
    pub fn take_output(&mut self, mut deliver: impl FnMut(&[SubscriberId], &GroupOutput<'_>)) {
        let mut order: Vec<(u64, usize)> = Vec::new();
        for &id in &self.with_output {
            let Some(s) = self.subscribers[id as usize].as_ref() else {
                continue;
            };
            let hash = frames_hash(&s.pending);
            let groups = self.groups.entry(hash).or_default();
            let subscribers = &self.subscribers;
            let same = groups.iter_mut().find(|g| {
                let first = subscribers[g.members[0] as usize]
                    .as_ref()
                    .expect("grouped subscribers are live");
                first.pending == s.pending
            });
            if let Some(group) = same {
                group.members.push(id);
            } else {
                order.push((hash, groups.len()));
                groups.push(Group { members: vec![id] });
            }
        }
        for (hash, index) in order {
            let group = &self.groups[&hash][index];
            let first = self.subscribers[group.members[0] as usize]
                .as_ref()
                .expect("grouped subscribers are live");
            let output = GroupOutput {
                frames: &first.pending,
                spans: &self.spans,
                arena: &self.arena,
            };
            deliver(&group.members, &output);
        }
        self.groups.clear();
        for id in std::mem::take(&mut self.with_output) {
            if let Some(s) = self.subscribers[id as usize].as_mut() {
                s.pending.clear();
            }
        }
        self.arena.clear();
        self.spans.clear();
    }
}
