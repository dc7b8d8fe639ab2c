//! Seed 004's lock-step delivery (`serve --pace ack`, SPEC §3.1, §5): the `/v1/events`
//! client's data events carry header ids (1, 2, 3, … per connection), at most `window` of
//! them are outstanding, and the next goes out only after the client's `event_ack` listed
//! the earlier ones — so a backtest is deterministic however slow the strategy is.
//!
//! The market processes a source batch at once (bars, session OHLC), but its events go out one
//! by one from a backlog, each only while the paced client has room in its window; other
//! subscribers (`/v1/stream`) receive them at the same pace. Events the paced client was sent
//! but did not acknowledge are kept: when it disconnects, the next `/v1/events` client gets
//! them again first (with its own ids), so nothing is skipped.

use std::collections::VecDeque;

use super::fanout::{Fanout, SubscriberId};
use super::market::{Market, Outgoing, Rejections};

/// What [`LockStep::acknowledge`] made of an `event_ack`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acknowledged {
    /// Ids that were outstanding and are now acknowledged.
    pub acked: usize,
    /// Ids that were not outstanding (never sent, already acknowledged, or sent to an earlier
    /// connection): ignored.
    pub unknown: usize,
}

/// The lock-step state of a hub.
#[derive(Debug)]
pub struct LockStep {
    window: usize,
    /// The paced `/v1/events` subscriber, while one is attached.
    paced: Option<SubscriberId>,
    /// Sent to the paced subscriber and not acknowledged, with their header ids, oldest first.
    unacked: VecDeque<(u64, Outgoing)>,
    /// Processed by the market, not yet fanned out; `true` marks an event to send again to the
    /// paced subscriber only (the others already have it).
    backlog: VecDeque<(Outgoing, bool)>,
}

impl LockStep {
    /// Lock-step with at most `window` (≥ 1) outstanding events.
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            paced: None,
            unacked: VecDeque::new(),
            backlog: VecDeque::new(),
        }
    }

    /// The most events outstanding at once.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The paced subscriber, if one is attached.
    pub fn paced(&self) -> Option<SubscriberId> {
        self.paced
    }

    /// Events sent to the paced subscriber and not acknowledged.
    pub fn outstanding(&self) -> usize {
        self.unacked.len()
    }

    /// Events processed and not yet fanned out.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// A new `/v1/events` subscriber becomes the paced one: what its predecessor did not
    /// acknowledge goes to it first (its ids start at 1).
    pub fn attach(&mut self, fanout: &mut Fanout, subscriber: SubscriberId) {
        for (_, event) in self.unacked.drain(..).rev() {
            self.backlog.push_front((event, true));
        }
        self.paced = Some(subscriber);
        fanout.set_stamped(Some(subscriber));
    }

    /// A subscriber left; if it was the paced one, delivery waits for the next.
    pub fn detach(&mut self, subscriber: SubscriberId) {
        if self.paced == Some(subscriber) {
            self.paced = None;
        }
    }

    /// Queues a processed batch behind the backlog (its original JSON is not kept: the paced
    /// client's frames are encoded with their ids anyway).
    pub fn queue(&mut self, events: &[Outgoing]) {
        self.backlog
            .extend(events.iter().map(|e| (Outgoing { raw: None, ..*e }, false)));
    }

    /// Fans out backlog events while the paced subscriber (attached, with at least one stream)
    /// has room in its window. Returns what the fan-out refused.
    pub fn drain(&mut self, market: &Market, fanout: &mut Fanout) -> Rejections {
        let mut rejections = Rejections::default();
        let Some(paced) = self.paced else {
            return rejections;
        };
        if !fanout.has_streams(paced) {
            return rejections;
        }
        while self.unacked.len() < self.window {
            let Some((event, resend)) = self.backlog.pop_front() else {
                break;
            };
            let only = resend.then_some(paced);
            match fanout.publish_event(market, &event, &[], only) {
                Ok(Some(id)) => self.unacked.push_back((id, event)),
                Ok(None) => {}
                Err(reason) => {
                    rejections.count += 1;
                    rejections.first.get_or_insert(reason);
                }
            }
        }
        rejections
    }

    /// Applies an `event_ack` from `subscriber` listing `ids`.
    pub fn acknowledge(&mut self, subscriber: SubscriberId, ids: &[u64]) -> Acknowledged {
        let mut result = Acknowledged::default();
        for id in ids {
            let found = (self.paced == Some(subscriber))
                .then(|| self.unacked.iter().position(|(sent, _)| sent == id))
                .flatten();
            match found {
                Some(at) => {
                    self.unacked.remove(at);
                    result.acked += 1;
                }
                None => result.unknown += 1,
            }
        }
        result
    }
}
