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

use crate::json_stream::{JsonStreamSplitter, Span};

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
        mut event: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Fed {
        let base = self.splitter.offset();
        let held = self.splitter.buffered() as u64;
        let mut events = 0usize;
        let mut control = None;
        let mut skips = 0u64;
        let mut latest = None;
        let consumed = self.splitter.feed_spans_until(chunk, |item| {
            let (json, offset) = match item {
                Ok(Span::InChunk(range)) => (&chunk[range.clone()], base + range.start as u64),
                Ok(Span::Joined(bytes)) => (bytes, base - held),
                Err(e) => {
                    skips += 1;
                    latest = Some(Skip {
                        offset: e.offset,
                        reason: e.reason(),
                    });
                    return ControlFlow::Continue(());
                }
            };
            match classify(json, &mut event) {
                Ok(None) => events += 1,
                Ok(Some(found)) => {
                    control = Some(found);
                    return ControlFlow::Break(());
                }
                Err(reason) => {
                    skips += 1;
                    latest = Some(Skip { offset, reason });
                }
            }
            ControlFlow::Continue(())
        });
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

/// `Ok(None)`: a data event the decoder kept; `Ok(Some)`: a control object; `Err`: skipped.
fn classify<E: fmt::Display>(
    json: &[u8],
    event: &mut impl FnMut(&[u8]) -> Result<bool, E>,
) -> Result<Option<Control>, String> {
    // Events go out as WebSocket text frames, so they must be UTF-8.
    if let Err(e) = simdutf8::compat::from_utf8(json) {
        return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
    }
    match event(json) {
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
