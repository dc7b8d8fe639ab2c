//! JSON Lines of SPEC §3.3 events (what `record` writes): one event per line, decoded by the
//! event decoder ([`EventLineDecoder`]: `decode_event`, remembering contract spellings); each
//! data event keeps its line, to be forwarded as it is.

use std::ops::Range;

use super::error::LineProblem;
use super::lines::LineReader;
use super::{Contracts, Row};
use crate::event::{EventBody, EventLineDecoder};

/// The rows of one JSON Lines stream.
pub(crate) struct JsonlRows {
    lines: LineReader,
    decoder: EventLineDecoder,
    /// The reader's contract index of each spelling the decoder remembers.
    spellings: Vec<u32>,
    /// The current event's JSON (the line without surrounding whitespace) in the buffer.
    raw: Range<usize>,
}

impl JsonlRows {
    pub(crate) fn new(lines: LineReader) -> Self {
        Self {
            lines,
            decoder: EventLineDecoder::new(),
            spellings: Vec::new(),
            raw: 0..0,
        }
    }

    /// The next data event or bad line; blank lines and lines that are not data events
    /// (STATUS, acknowledgements, objects of unknown type) are passed over.
    pub(crate) fn next_row(&mut self, contracts: &mut Contracts) -> std::io::Result<Option<Row>> {
        loop {
            let Some((number, line)) = self.lines.next_content_line("json")? else {
                return Ok(None);
            };
            let range = match line {
                Ok(range) => range,
                Err(problem) => return Ok(Some(Row::Bad(number, problem))),
            };
            let bytes = &self.lines.buffer()[range.clone()];
            // The line goes out as a WebSocket text frame: it must be UTF-8.
            if let Err(e) = simdutf8::compat::from_utf8(bytes) {
                let offset = e.valid_up_to();
                return Ok(Some(Row::Bad(number, LineProblem::Utf8 { offset })));
            }
            let mut body = EventBody::PLACEHOLDER;
            match self.decoder.decode_spelled(bytes, &mut body) {
                Ok(Some((contract, spelling))) => {
                    let known = spelling.and_then(|s| self.spellings.get(s as usize));
                    let index = if let Some(&index) = known {
                        index
                    } else {
                        let index = contracts.intern(contract);
                        // A new spelling is numbered next.
                        if spelling.is_some() {
                            self.spellings.push(index);
                        }
                        index
                    };
                    self.raw = trim(bytes, range);
                    return Ok(Some(Row::Event { index, body }));
                }
                Ok(None) => {}
                Err(e) => return Ok(Some(Row::Bad(number, LineProblem::Decode(e)))),
            }
        }
    }

    /// The JSON of the event last returned by [`JsonlRows::next_row`].
    pub(crate) fn raw(&self) -> &[u8] {
        &self.lines.buffer()[self.raw.clone()]
    }
}

/// `range` of `bytes` (the bytes at `range`) without leading and trailing ASCII whitespace.
fn trim(bytes: &[u8], range: Range<usize>) -> Range<usize> {
    let lead = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let trail = bytes
        .iter()
        .rev()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    range.start + lead..range.end - trail
}
