//! A source's batch of events on its way into the [`Hub`]: the events, and for those that came
//! as JSON their original bytes, forwarded as they are rather than encoded again.

use crate::event::{decode_event, ContractId, DecodeError, EventBody, EventLineDecoder};
use crate::event_stream::EventSink;

use super::{Event, Hub, RawSpan};

/// Events of one source read, in order, with the original JSON of those that came as JSON.
#[derive(Debug, Default, Clone)]
pub struct SourceBatch {
    events: Vec<Event>,
    /// Each event's original JSON in `raw`, if it came as JSON (empty: none did).
    spans: Vec<RawSpan>,
    raw: Vec<u8>,
}

impl SourceBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch of events that carry no JSON of their own (encoded when published).
    pub fn of_events(events: Vec<Event>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// Room for `events` more events and `raw_bytes` more bytes of original JSON.
    pub fn reserve(&mut self, events: usize, raw_bytes: usize) {
        self.events.reserve(events);
        self.raw.reserve(raw_bytes);
    }

    /// Empties the batch, keeping its memory for the next events (a source that publishes one
    /// batch per read reuses it rather than allocating, and faulting in, a new one each time).
    pub fn clear(&mut self) {
        self.events.clear();
        self.spans.clear();
        self.raw.clear();
    }

    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Where each event's original JSON lies in [`SourceBatch::raw`] (empty: none has one).
    pub fn spans(&self) -> &[RawSpan] {
        &self.spans
    }

    /// The original JSON of the events that came as JSON, back to back.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Keeps the first `len` events (and their JSON), dropping the rest.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.events.len() {
            return;
        }
        self.events.truncate(len);
        if self.spans.len() > len {
            self.spans.truncate(len);
            let end = self
                .spans
                .iter()
                .rev()
                .find_map(|span| span.map(|(_, end)| end));
            self.raw.truncate(end.unwrap_or(0));
        }
    }

    /// Appends an event to be encoded when published.
    pub fn push(&mut self, event: Event) {
        if !self.spans.is_empty() {
            self.spans.push(None);
        }
        self.events.push(event);
    }

    /// Appends an event that came as JSON: `json` is kept and forwarded as it is.
    pub fn push_json(&mut self, event: Event, json: &[u8]) {
        let at = self.raw.len();
        self.raw.extend_from_slice(json);
        self.spans.resize(self.events.len(), None);
        self.spans.push(Some((at, self.raw.len())));
        self.events.push(event);
    }

    /// Decodes one SPEC §3.3 event, registers its contract with `hub` and appends it with its
    /// JSON. Returns whether it was a data event: STATUS, acknowledgements and unknown types
    /// are not appended (`Ok(false)`); a payload that is not a valid event is an error and
    /// nothing is appended.
    pub fn push_json_event(&mut self, hub: &mut Hub, json: &[u8]) -> Result<bool, DecodeError> {
        match decode_event(json)? {
            Some((key, body)) => {
                let contract = hub.add_contract(key);
                self.push_json(Event { contract, body }, json);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Appends rows `0..n` given by `row`, all of them or none: at the first error the batch
    /// is as it was and the error is returned.
    pub fn extend_rows<E>(
        &mut self,
        n: usize,
        mut row: impl FnMut(usize) -> Result<(u32, EventBody), E>,
    ) -> Result<(), E> {
        let before = self.events.len();
        self.events.reserve(n);
        for i in 0..n {
            match row(i) {
                Ok((contract, body)) => self.push(Event { contract, body }),
                Err(e) => {
                    self.events.truncate(before);
                    self.spans.truncate(before.min(self.spans.len()));
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// [`SourceBatch::push_json_event`] for the many events of one source into one hub: each
/// contract spelling is remembered with its hub id ([`EventLineDecoder`]), so an event that
/// spells its contract as an earlier one did costs neither a contract parse nor a registry
/// lookup. The results are those of `push_json_event`.
#[derive(Clone, Default)]
pub struct JsonEventDecoder {
    decoder: EventLineDecoder,
    /// The hub id of each remembered spelling, by spelling number.
    ids: Vec<ContractId>,
}

impl JsonEventDecoder {
    /// A decoder that knows no contract yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one event into `batch`, as [`SourceBatch::push_json_event`] does. `hub` must be
    /// the same hub at every call (the remembered ids are its own).
    pub fn push(
        &mut self,
        batch: &mut SourceBatch,
        hub: &mut Hub,
        json: &[u8],
    ) -> Result<bool, DecodeError> {
        let mut body = EventBody::PLACEHOLDER;
        let Some((key, spelling)) = self.decoder.decode_spelled(json, &mut body)? else {
            return Ok(false);
        };
        let known = spelling.and_then(|s| self.ids.get(s as usize));
        let contract = if let Some(&id) = known {
            id
        } else {
            let id = hub.add_contract(key);
            // A new spelling is numbered next.
            if spelling.is_some() {
                self.ids.push(id);
            }
            id
        };
        batch.push_json(Event { contract, body }, json);
        Ok(true)
    }

    /// The fast path of a stream: appends the data event at the start of `bytes` (UTF-8, and
    /// which may go on after the event) and returns its length, when
    /// [`EventLineDecoder::decode_spelled_prefix`] takes it. `None`, with nothing appended, for
    /// anything else: the caller splits the object off and calls [`JsonEventDecoder::push`],
    /// whose result for it is the same.
    #[inline]
    pub fn push_prefix(&mut self, batch: &mut SourceBatch, bytes: &[u8]) -> Option<usize> {
        let mut body = EventBody::PLACEHOLDER;
        let (spelling, len) = self.decoder.decode_spelled_prefix(bytes, &mut body)?;
        // Every remembered spelling got its hub id in `push` when it was first seen.
        let contract = *self.ids.get(spelling as usize)?;
        batch.push_json(Event { contract, body }, &bytes[..len]);
        Some(len)
    }
}

/// A [`JsonEventDecoder`] appending to one batch for one hub: the [`EventSink`] of a
/// [`JsonEventStream`](crate::event_stream::JsonEventStream), with the fast path
/// ([`JsonEventDecoder::push_prefix`]).
pub struct JsonEventSink<'a> {
    pub decoder: &'a mut JsonEventDecoder,
    pub batch: &'a mut SourceBatch,
    pub hub: &'a mut Hub,
}

impl EventSink for JsonEventSink<'_> {
    type Error = DecodeError;

    fn event(&mut self, json: &[u8]) -> Result<bool, DecodeError> {
        self.decoder.push(self.batch, self.hub, json)
    }

    fn event_at_start(&mut self, bytes: &[u8]) -> Option<usize> {
        self.decoder.push_prefix(self.batch, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventBody, OpenInterest};

    const TRADE: &[u8] = br#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"trade":{"ms_of_day":1,"sequence":2,"size":3,"condition":0,"price":4.5,"exchange":5,"date":20250321}}"#;
    const STATUS: &[u8] =
        br#"{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}"#;

    fn open_interest(contract: u32) -> Event {
        Event {
            contract,
            body: EventBody::OpenInterest(OpenInterest {
                ms_of_day: 1,
                open_interest: 2,
                date: 20250321,
            }),
        }
    }

    #[test]
    fn json_events_keep_their_bytes_and_register_their_contract() {
        let mut hub = Hub::new(true);
        let mut batch = SourceBatch::new();
        batch.push(open_interest(0));
        assert_eq!(batch.push_json_event(&mut hub, TRADE), Ok(true));
        assert_eq!(batch.push_json_event(&mut hub, STATUS), Ok(false));
        let err = batch
            .push_json_event(&mut hub, b"{\"header\":1}")
            .unwrap_err();
        assert!(err.to_string().starts_with("header"), "{err}");
        batch.push(open_interest(0));
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.spans(), &[None, Some((0, TRADE.len())), None]);
        assert_eq!(batch.raw(), TRADE);
        assert_eq!(hub.market().contract_count(), 1);
    }

    #[test]
    fn the_caching_decoder_gives_what_push_json_event_gives() {
        let option = br#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"OPTION","symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"},"trade":{"ms_of_day":1,"sequence":2,"size":3,"condition":0,"price":4.5,"exchange":5,"date":20250321}}"#;
        let payloads: [&[u8]; 5] = [TRADE, option, STATUS, TRADE, option];
        let (mut hub_a, mut hub_b) = (Hub::new(true), Hub::new(true));
        let (mut plain, mut cached) = (SourceBatch::new(), SourceBatch::new());
        let mut decoder = JsonEventDecoder::new();
        for json in payloads {
            assert_eq!(
                plain.push_json_event(&mut hub_a, json),
                decoder.push(&mut cached, &mut hub_b, json)
            );
        }
        assert_eq!(plain.events(), cached.events());
        assert_eq!(plain.spans(), cached.spans());
        assert_eq!(plain.raw(), cached.raw());
        assert_eq!(hub_b.market().contract_count(), 2);
    }

    #[test]
    fn rows_are_appended_all_or_none() {
        let mut batch = SourceBatch::new();
        let ok: Result<(), ()> = batch.extend_rows(2, |_| Ok((0, open_interest(0).body)));
        assert_eq!(ok, Ok(()));
        let failed = batch.extend_rows(3, |i| {
            if i < 2 {
                Ok((0, open_interest(0).body))
            } else {
                Err(i)
            }
        });
        assert_eq!(failed, Err(2));
        assert_eq!(batch.len(), 2);
    }
}
