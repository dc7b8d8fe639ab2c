//! One market, many consumers (SPEC §4): a source's events go through the [`Market`] once
//! (contract registry, bars, session OHLC) and through the [`Fanout`] once (encoded once per
//! wire format, gathered per subscriber). [`Hub`] ties them together with the source's
//! [`Universe`], when it has one.
//!
//! * [`market`]: once per event.
//! * [`fanout`]: subscribers, the reference-counted union, per-subscriber output.
//! * [`universe`]: the contracts a source can serve, for refusing the others with a message.
//! * [`lock_step`]: seed 004's `--pace ack` delivery to the `/v1/events` client.
//! * [`source_batch`]: a source's events on their way in, with their original JSON.

pub mod fanout;
pub mod lock_step;
pub mod market;
pub mod source_batch;
pub mod universe;

use std::fmt;

pub use fanout::{Fanout, FanoutError, GroupOutput, InterestChange, SubscriberId, Wire};
pub use lock_step::{Acknowledged, LockStep};
pub use market::{Event, Market, Outgoing, RawSpan, RejectedEvent, Rejections, Route};
pub use source_batch::{JsonEventDecoder, JsonEventSink, SourceBatch};
pub use universe::{Universe, UniverseError};

use crate::bars::BarBook;
use crate::contract::{ContractKey, StreamKey};
use crate::event::ContractId;
use crate::redis::Publisher;

/// Why a subscription command was refused; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The subscriber would have more than `limit` streams.
    TooManyStreams { limit: usize },
    /// The stream at `index` of the command names a contract the source does not have.
    NotInUniverse { index: usize, error: UniverseError },
    /// No subscriber has this id.
    UnknownSubscriber(SubscriberId),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::TooManyStreams { limit } => {
                write!(f, "more than {limit} streams on one connection")
            }
            SubscribeError::NotInUniverse { error, .. } => write!(f, "{error}"),
            SubscribeError::UnknownSubscriber(id) => write!(f, "unknown subscriber {id}"),
        }
    }
}

impl std::error::Error for SubscribeError {}

impl From<FanoutError> for SubscribeError {
    fn from(e: FanoutError) -> Self {
        match e {
            FanoutError::TooManyStreams { limit } => SubscribeError::TooManyStreams { limit },
            FanoutError::UnknownSubscriber(id) => SubscribeError::UnknownSubscriber(id),
        }
    }
}

/// The market, the fan-out and the source's universe.
#[derive(Debug)]
pub struct Hub {
    market: Market,
    fanout: Fanout,
    universe: Option<Universe>,
    outgoing: Vec<Outgoing>,
    lock_step: Option<LockStep>,
    publisher: Option<Publisher>,
}

impl Hub {
    /// A hub with no contracts and no subscribers; `ohlcvc` as in [`Market::new`].
    pub fn new(ohlcvc: bool) -> Self {
        Self {
            market: Market::new(ohlcvc),
            fanout: Fanout::new(),
            universe: None,
            outgoing: Vec::new(),
            lock_step: None,
            publisher: None,
        }
    }

    /// See [`Market::set_source_session_ohlc`].
    pub fn set_source_session_ohlc(&mut self, yes: bool) {
        self.market.set_source_session_ohlc(yes);
    }

    /// Turns on lock-step delivery (`--pace ack`) with at most `window` outstanding events:
    /// from now on the `/v1/events` subscriber is paced (see [`lock_step`]), starting with the
    /// one already attached, if any (the highest id while a takeover is under way).
    pub fn enable_lock_step(&mut self, window: usize) {
        let mut lock_step = LockStep::new(window);
        if let Some(&newest) = self.fanout.subscribers_of(Wire::Events).last() {
            lock_step.attach(&mut self.fanout, newest);
        }
        self.lock_step = Some(lock_step);
    }

    /// The lock-step state, when enabled.
    pub fn lock_step(&self) -> Option<&LockStep> {
        self.lock_step.as_ref()
    }

    /// Fans out what the lock-step window now allows (after an acknowledgement, a new client
    /// or a subscription); nothing without lock-step.
    pub fn drain(&mut self) -> Rejections {
        match &mut self.lock_step {
            Some(lock_step) => lock_step.drain(&self.market, &mut self.fanout),
            None => Rejections::default(),
        }
    }

    /// Applies an `event_ack` of `subscriber` (nothing is outstanding without lock-step).
    pub fn acknowledge(&mut self, subscriber: SubscriberId, ids: &[u64]) -> Acknowledged {
        match &mut self.lock_step {
            Some(lock_step) => lock_step.acknowledge(subscriber, ids),
            None => Acknowledged {
                acked: 0,
                unknown: ids.len(),
            },
        }
    }

    /// Publishes every event to Redis too (`serve --publish`, SPEC §7): from now on each batch
    /// also goes through `publisher` (take its commands with [`Hub::publisher_mut`]).
    pub fn set_publisher(&mut self, publisher: Option<Publisher>) {
        self.publisher = publisher;
    }

    /// The Redis publisher, when set.
    pub fn publisher_mut(&mut self) -> Option<&mut Publisher> {
        self.publisher.as_mut()
    }

    /// The subscribers a source's `event` reaches (whom it would have reached, had it not been
    /// lost).
    pub fn subscribers_of_event(&self, event: &Event) -> Vec<SubscriberId> {
        match self.market.contract(event.contract) {
            Some(contract) => self
                .fanout
                .subscribers_of_route(contract, self.market.route_of(&event.body)),
            None => Vec::new(),
        }
    }

    /// The contract registry.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Registers a contract (see [`Market::add_contract`]).
    pub fn add_contract(&mut self, contract: ContractKey) -> ContractId {
        self.market.add_contract(contract)
    }

    /// Declares the source's universe: from now on, a subscription to a contract outside it is
    /// refused. A source that declares nothing accepts every valid contract.
    pub fn set_universe(&mut self, universe: Universe) {
        self.universe = Some(universe);
    }

    /// The declared universe.
    pub fn universe(&self) -> Option<&Universe> {
        self.universe.as_ref()
    }

    /// The subscribers.
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }

    /// Adds a subscriber receiving `wire`; with lock-step, a `/v1/events` subscriber becomes
    /// the paced one.
    pub fn add_subscriber(&mut self, wire: Wire) -> SubscriberId {
        let id = self.fanout.add_subscriber(wire);
        if let (Some(lock_step), Wire::Events) = (&mut self.lock_step, wire) {
            lock_step.attach(&mut self.fanout, id);
        }
        id
    }

    /// Removes a subscriber and its streams.
    pub fn remove_subscriber(&mut self, id: SubscriberId) -> Result<InterestChange, FanoutError> {
        let change = self.fanout.remove_subscriber(id)?;
        if let Some(lock_step) = &mut self.lock_step {
            lock_step.detach(id);
        }
        Ok(change)
    }

    /// Subscribes `id` to `streams`, all or none (see [`Fanout::subscribe`]); contracts
    /// outside the universe are refused, naming the first such stream.
    pub fn subscribe(
        &mut self,
        id: SubscriberId,
        streams: &[StreamKey],
        limit: usize,
    ) -> Result<InterestChange, SubscribeError> {
        if let Some(universe) = &self.universe {
            for (index, stream) in streams.iter().enumerate() {
                if let Some(contract) = &stream.contract {
                    universe
                        .check(contract)
                        .map_err(|error| SubscribeError::NotInUniverse { index, error })?;
                }
            }
        }
        let market = &mut self.market;
        Ok(self
            .fanout
            .subscribe(id, streams, limit, |c| market.add_contract(*c))?)
    }

    /// Unsubscribes `id` from `streams` (streams it does not have are ignored).
    pub fn unsubscribe(
        &mut self,
        id: SubscriberId,
        streams: &[StreamKey],
    ) -> Result<InterestChange, FanoutError> {
        self.fanout.unsubscribe(id, streams)
    }

    /// Unsubscribes `id` from everything.
    pub fn clear(&mut self, id: SubscriberId) -> Result<InterestChange, FanoutError> {
        self.fanout.clear(id)
    }

    /// Publishes a source's batch: every trade into `bars`, the session OHLC after each trade,
    /// each event encoded once and gathered for its subscribers (collect with
    /// [`Hub::take_output`]). Refused events are skipped and reported.
    pub fn publish(&mut self, bars: &mut BarBook, events: &[Event]) -> Rejections {
        self.publish_raw(bars, events, &[], &[])
    }

    /// [`Hub::publish`] for events that come with their original JSON: `raw[i]` locates event
    /// `i`'s in `bytes`; those are forwarded as they are (framed, or wrapped for `/v1/stream`)
    /// instead of being encoded again. With lock-step the batch joins the backlog and goes out
    /// as the window allows (encoded, not forwarded: the paced frames carry ids).
    pub fn publish_raw(
        &mut self,
        bars: &mut BarBook,
        events: &[Event],
        raw: &[RawSpan],
        bytes: &[u8],
    ) -> Rejections {
        let mut outgoing = std::mem::take(&mut self.outgoing);
        outgoing.clear();
        let mut rejections = self.market.process(bars, events, raw, &mut outgoing);
        if let Some(publisher) = &mut self.publisher {
            publisher.add(&self.market, &outgoing);
        }
        let encode = match &mut self.lock_step {
            Some(lock_step) => {
                lock_step.queue(&outgoing);
                lock_step.drain(&self.market, &mut self.fanout)
            }
            None => self.fanout.publish(&self.market, &outgoing, bytes),
        };
        rejections.count += encode.count;
        if rejections.first.is_none() {
            rejections.first = encode.first;
        }
        self.outgoing = outgoing;
        rejections
    }

    /// [`Hub::publish_raw`] of a [`SourceBatch`].
    pub fn publish_batch(&mut self, bars: &mut BarBook, batch: &SourceBatch) -> Rejections {
        self.publish_raw(bars, batch.events(), batch.spans(), batch.raw())
    }

    /// See [`Fanout::take_output`].
    pub fn take_output(&mut self, deliver: impl FnMut(&[SubscriberId], &GroupOutput<'_>)) {
        self.fanout.take_output(deliver);
    }
}

#[cfg(test)]
mod tests;
