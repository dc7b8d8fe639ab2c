//! An HTTP streaming body of SPEC §3.3 events and seed 002's control objects, sans-I/O.
//!
//! [`JsonEventStream`] puts each body read through the [`JsonStreamSplitter`] (any chunking:
//! several objects per read, one across many reads) and hands each complete object to the
//! caller's event decoder. What is not a data event is classified here:
//!
//! * `{"StreamStatus": "EndSnapshot"}`, `{"StreamStatus": "GoAway"}` (or another status), and
//!   `{"Error": …, "Message": …}` are [`Control`] objects: the feed stops right after one, so
//!   the caller acts on it in stream order (publish what came before, then the notice) and
//!   feeds the rest of the read again, or ends the request.
//! * Anything else — not JSON, not UTF-8, a field the decoder refuses, an object of another
//!   kind, stray bytes between objects, an object over the splitter's size limit (skipped
//!   without being buffered) — is *skipped*: counted, and its message kept for a rate-limited
//!   log line. The stream goes on.
//!
//! Control objects are rare, so they are parsed with `serde_json`, and only once the event
//! decoder has said the object is not a data event: a data event costs the decoder alone.

use std::fmt;
use std::ops::ControlFlow;

use crate::json_stream::{JsonStreamSplitter, Span, SplitError, SplitSink};

/// Longest text kept from a server's `Error`/`Message` or from an unknown status, in bytes;
/// a longer one is cut (at a character boundary) and marked with `…`.
pub const MAX_TEXT: usize = 300;

/// A control object of the stream (seed 002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `{"StreamStatus": "EndSnapshot"}`: the initial snapshot is complete.
    EndSnapshot,
    /// `{"StreamStatus": "GoAway"}`: the server is about to end the stream; request again now.
    GoAway,
    /// Another `StreamStatus` value, as sent.
    Status(String),
    /// `{"Error": …}` with an optional `"Message"`: end the request, wait, request again.
    /// `error` is the value as text (a string as it is, anything else as compact JSON).
    Error {
        error: String,
        message: Option<String>,
    },
}

impl Control {
    /// Whether the request ends with this object (`GoAway`, `Error`).
    pub fn ends_request(&self) -> bool {
        matches!(self, Control::GoAway | Control::Error { .. })
    }
}

/// What one [`JsonEventStream::feed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the read consumed: all of them, or those up to and including `control`.
    pub consumed: usize,
    /// Data events the decoder accepted.
    pub events: usize,
    /// The control object the feed stopped after, if any.
    pub control: Option<Control>,
}

/// Why an object was skipped, for the log: where it started and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Stream offset of the object's `{` (or of the stray byte).
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at stream offset {}: {}", self.offset, self.reason)
    }
}

/// Splits an HTTP streaming body into events and control objects; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct JsonEventStream {
    splitter: JsonStreamSplitter,
    events: u64,
    skipped: u64,
    latest_skip: Option<Skip>,
}

impl JsonEventStream {
    /// A stream whose objects may be at most `max_object_size` bytes (larger ones are skipped
    /// without being buffered).
    pub fn new(max_object_size: usize) -> Self {
        Self {
            splitter: JsonStreamSplitter::new(max_object_size),
            ..Self::default()
        }
    }

    /// The splitter's size limit.
    pub fn max_object_size(&self) -> usize {
        self.splitter.max_object_size()
    }

    /// Bytes of an incomplete object held until the next read (at most `max_object_size`).
    pub fn buffered(&self) -> usize {
        self.splitter.buffered()
    }

    /// Bytes consumed since the stream (request) began.
    pub fn offset(&self) -> u64 {
        self.splitter.offset()
    }

    /// Data events accepted so far (over every request).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Objects (and runs of stray bytes) skipped so far (over every request).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The latest skip since the last call, for a log line.
    pub fn take_latest_skip(&mut self) -> Option<Skip> {
        self.latest_skip.take()
    }

    /// A new request: forgets any partial object; the counters go on.
    pub fn reset(&mut self) {
        self.splitter.reset();
    }

    /// Feeds one body read. `event(json)` decodes one object: `Ok(true)` when it was a data
    /// event (the caller kept it), `Ok(false)` when it is valid JSON but not a data event,
    /// `Err` when it is not a valid event. Stops after the first [`Control`] object.
    pub fn feed<E: fmt::Display>(
        &mut self,
        chunk: &[u8],
        event: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Fed {
        self.feed_to(chunk, &mut WholeObjects(event))
    }

    /// [`JsonEventStream::feed`] with an [`EventSink`], which may also take data events as
    /// they start ([`EventSink::event_at_start`]), sparing the splitter's scan of them.
    pub fn feed_to(&mut self, chunk: &[u8], sink: &mut impl EventSink) -> Fed {
        let mut objects = Objects {
            sink,
            chunk,
            // The fast path is offered UTF-8 only: an object with a bad byte is not complete
            // before it, so it goes the whole way and is reported there.
            utf8_end: utf8_end(chunk),
            base: self.splitter.offset(),
            held: self.splitter.buffered() as u64,
            events: 0,
            control: None,
            skips: 0,
            latest: None,
        };
        let consumed = self.splitter.feed_to(chunk, &mut objects);
        let Objects {
            events,
            control,
            skips,
            latest,
            ..
        } = objects;
        self.events += events as u64;
        self.skipped += skips;
        if latest.is_some() {
            self.latest_skip = latest;
        }
        Fed {
            consumed,
            events,
            control,
        }
    }
}

/// The event decoder that a [`JsonEventStream`] hands the objects of a stream to.
pub trait EventSink {
    /// Why an object is not a valid event.
    type Error: fmt::Display;

    /// Decodes one whole object (UTF-8 already checked): `Ok(true)` when it was a data event
    /// (the sink kept it), `Ok(false)` when it is valid JSON but not a data event, `Err` when
    /// it is not a valid event.
    fn event(&mut self, json: &[u8]) -> Result<bool, Self::Error>;

    /// The fast path: may keep the data event at the start of `bytes` (from the object's `{`:
    /// UTF-8, and no longer than the size limit allows) and return its length, when it parsed
    /// the whole object as strict JSON and so knows where it ends: exactly what
    /// [`EventSink::event`] would have kept for it. `None` (the default), keeping nothing,
    /// lets the splitter find the object and hand it to [`EventSink::event`].
    fn event_at_start(&mut self, _bytes: &[u8]) -> Option<usize> {
        None
    }
}

/// A closure decoding whole objects, as an [`EventSink`] without a fast path.
struct WholeObjects<F>(F);

impl<E: fmt::Display, F: FnMut(&[u8]) -> Result<bool, E>> EventSink for WholeObjects<F> {
    type Error = E;

    fn event(&mut self, json: &[u8]) -> Result<bool, E> {
        (self.0)(json)
    }
}

/// One feed's objects on their way from the splitter to the sink, and what became of them.
struct Objects<'s, 'c, S> {
    sink: &'s mut S,
    chunk: &'c [u8],
    /// Where the chunk stops being UTF-8 (its length when it is all UTF-8).
    utf8_end: usize,
    /// Stream offset of the chunk, and bytes of an object held from earlier chunks.
    base: u64,
    held: u64,
    events: usize,
    control: Option<Control>,
    skips: u64,
    latest: Option<Skip>,
}

impl<S: EventSink> SplitSink for Objects<'_, '_, S> {
    fn object_start(&mut self, bytes: &[u8]) -> Option<usize> {
        // `bytes` is a piece of this chunk: where it starts in it.
        let start = bytes.as_ptr() as usize - self.chunk.as_ptr() as usize;
        let utf8 = &bytes[..bytes.len().min(self.utf8_end.saturating_sub(start))];
        let taken = self.sink.event_at_start(utf8)?;
        self.events += 1;
        Some(taken)
    }

    fn item(&mut self, item: Result<Span<'_>, SplitError>) -> ControlFlow<()> {
        let (json, offset) = match item {
            Ok(Span::InChunk(range)) => {
                let offset = self.base + range.start as u64;
                (&self.chunk[range], offset)
            }
            Ok(Span::Joined(bytes)) => (bytes, self.base - self.held),
            Err(e) => {
                self.skips += 1;
                self.latest = Some(Skip {
                    offset: e.offset,
                    reason: e.reason(),
                });
                return ControlFlow::Continue(());
            }
        };
        match classify(json, self.sink) {
            Ok(None) => self.events += 1,
            Ok(Some(found)) => {
                self.control = Some(found);
                return ControlFlow::Break(());
            }
            Err(reason) => {
                self.skips += 1;
                self.latest = Some(Skip { offset, reason });
            }
        }
        ControlFlow::Continue(())
    }
}

/// Where `bytes` stop being UTF-8 (their length when they are all UTF-8); the fast check first.
fn utf8_end(bytes: &[u8]) -> usize {
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return bytes.len();
    }
    simdutf8::compat::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), str::len)
}

/// `Ok(None)`: a data event the decoder kept; `Ok(Some)`: a control object; `Err`: skipped.
fn classify(json: &[u8], sink: &mut impl EventSink) -> Result<Option<Control>, String> {
    // Events go out as WebSocket text frames, so they must be UTF-8.
    if let Err(e) = simdutf8::compat::from_utf8(json) {
        return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
    }
    match sink.event(json) {
        Ok(true) => return Ok(None),
        Ok(false) => {}
        Err(e) => return Err(e.to_string()),
    }
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("json: {e}"))?;
    let object = value.as_object();
    let member = |key: &str| object.and_then(|o| o.get(key));
    if let Some(status) = member("StreamStatus") {
        return Ok(Some(match status.as_str() {
            Some("EndSnapshot") => Control::EndSnapshot,
            Some("GoAway") => Control::GoAway,
            _ => Control::Status(text(status)),
        }));
    }
    if let Some(error) = member("Error") {
        return Ok(Some(Control::Error {
            error: text(error),
            message: member("Message").map(text),
        }));
    }
    Err(match member("header").and_then(|h| h.get("type")) {
        Some(kind) => format!(
            "header.type: {} is not a data event",
            clip(kind.to_string())
        ),
        None => "not an event: no header, StreamStatus or Error".to_owned(),
    })
}

/// A JSON value as log text: a string as it is, anything else as compact JSON; clipped.
fn text(value: &serde_json::Value) -> String {
    clip(match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// `s` cut to at most [`MAX_TEXT`] bytes (at a character boundary), marked with `…`.
fn clip(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests;
