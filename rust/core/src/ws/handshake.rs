//! The client side of the opening handshake (RFC 6455 §4.1), and the accept-key computation
//! both sides need (§4.2.2).
//!
//! [`ClientHandshake`] builds the HTTP Upgrade request from a caller-supplied 16-byte nonce and
//! validates the server's `101 Switching Protocols` response, fed in chunks of any size. The
//! bytes that follow the response in the last chunk are the first WebSocket frames; they are
//! handed back so the caller can feed them to a [`FrameDecoder`](super::FrameDecoder).

use std::fmt;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest response head (status line + headers + blank line) accepted.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (as sent, base64):
/// base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// A failed handshake, or a request that cannot be built from the given arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    message: String,
}

impl HandshakeError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {}

/// Progress of [`ClientHandshake::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStatus<'a> {
    /// The response head is not complete yet: feed more bytes.
    Pending,
    /// The server accepted; `leftover` (borrowed from the last input) are the first frame bytes.
    Complete { leftover: &'a [u8] },
}

#[derive(Debug, Clone)]
enum State {
    Reading,
    Complete,
    Failed(HandshakeError),
}

/// Headers the handshake writes itself; callers may not pass them again.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
];

/// A client opening handshake: the request to send and the validator of the response.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    request: Vec<u8>,
    key: String,
    expected_accept: String,
    /// Subprotocols offered in a caller-supplied `Sec-WebSocket-Protocol` header.
    offered_protocols: Vec<String>,
    head: Vec<u8>,
    state: State,
}

impl ClientHandshake {
    /// Builds the Upgrade request for `ws://host:port/path`.
    ///
    /// `key` is the 16-byte random nonce (the core draws no randomness). `extra_headers` are
    /// written after the handshake's own, e.g. `Origin`, `Authorization`,
    /// `Sec-WebSocket-Protocol`. An IPv6 `host` is bracketed in the `Host` header.
    pub fn new(
        host: &str,
        port: u16,
        path: &str,
        key: [u8; 16],
        extra_headers: &[(&str, &str)],
    ) -> Result<Self, HandshakeError> {
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7F || b == b'/') {
            return Err(HandshakeError::new(format!("invalid host {host:?}")));
        }
        if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7F) {
            return Err(HandshakeError::new(format!(
                "invalid path {path:?}: must start with '/' and contain no spaces or control characters"
            )));
        }
        let mut offered_protocols = Vec::new();
        for &(name, value) in extra_headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(HandshakeError::new(format!("invalid header name {name:?}")));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(HandshakeError::new(format!(
                    "header {name} has a value with CR, LF or NUL"
                )));
            }
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(HandshakeError::new(format!(
                    "header {name} is set by the handshake itself"
                )));
            }
            if lower == "sec-websocket-protocol" {
                offered_protocols.extend(comma_tokens(value).map(str::to_owned));
            }
        }
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let host_header = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in extra_headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        Ok(Self {
            request: request.into_bytes(),
            expected_accept: accept_key(&key),
            key,
            offered_protocols,
            head: Vec::new(),
            state: State::Reading,
        })
    }

    /// The request bytes to send.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent (base64 of the nonce).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    pub fn expected_accept(&self) -> &str {
        &self.expected_accept
    }

    /// True once a valid response was read.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Feeds response bytes. Once failed, every call returns the same error; feeding after
    /// completion is an error (the bytes belong to the frame decoder).
    pub fn feed<'a>(&mut self, data: &'a [u8]) -> Result<HandshakeStatus<'a>, HandshakeError> {
        match &self.state {
            State::Reading => {}
            State::Complete => {
                return Err(HandshakeError::new(
                    "handshake already complete; frames go to the frame decoder",
                ))
            }
            State::Failed(error) => return Err(error.clone()),
        }
        let old = self.head.len();
        let take = data.len().min(MAX_RESPONSE_HEAD - old);
        self.head.extend_from_slice(&data[..take]);
        let search_from = old.saturating_sub(3);
        let Some(at) = memchr::memmem::find(&self.head[search_from..], b"\r\n\r\n") else {
            if self.head.len() >= MAX_RESPONSE_HEAD {
                return Err(self.fail(HandshakeError::new(format!(
                    "response head exceeds {MAX_RESPONSE_HEAD} bytes"
                ))));
            }
            return Ok(HandshakeStatus::Pending);
        };
        let end = search_from + at + 4;
        self.head.truncate(end);
        match self.validate() {
            Ok(()) => {
                self.state = State::Complete;
                self.head = Vec::new();
                Ok(HandshakeStatus::Complete {
                    leftover: &data[end - old..],
                })
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.state = State::Failed(error.clone());
        error
    }

    /// Checks the complete response head in `self.head` (ending with the blank line).
    fn validate(&self) -> Result<(), HandshakeError> {
        let head = &self.head[..self.head.len() - 4];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix(b"HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .filter(|code| code.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| {
                HandshakeError::new(format!(
                    "malformed status line {:?}",
                    printable(status_line)
                ))
            })?;
        if status != b"101" {
            return Err(HandshakeError::new(format!(
                "server answered {:?}, expected HTTP/1.1 101 Switching Protocols",
                printable(status_line)
            )));
        }
        let mut upgrade = None;
        let mut connection_upgrade = false;
        let mut accept = None;
        let mut protocol = None;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(HandshakeError::new(format!(
                    "malformed header line {:?}",
                    printable(line)
                )));
            };
            let name = &line[..colon];
            let value = line[colon + 1..].trim_ascii();
            if name.is_empty() || !name.iter().copied().all(is_token_byte) {
                return Err(HandshakeError::new(format!(
                    "malformed header line {:?}",
                    printable(line)
                )));
            }
            if name.eq_ignore_ascii_case(b"upgrade") {
                set_once(&mut upgrade, value, "Upgrade")?;
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection_upgrade |= value
                    .split(|&b| b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
            } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
                set_once(&mut accept, value, "Sec-WebSocket-Accept")?;
            } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                set_once(&mut protocol, value, "Sec-WebSocket-Protocol")?;
            } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") && !value.is_empty() {
                return Err(HandshakeError::new(format!(
                    "server selected extensions {:?} that were not offered",
                    printable(value)
                )));
            }
        }
        match upgrade {
            None => return Err(HandshakeError::new("missing Upgrade header")),
            Some(value) if !value.eq_ignore_ascii_case(b"websocket") => {
                return Err(HandshakeError::new(format!(
                    "Upgrade header is {:?}, expected \"websocket\"",
                    printable(value)
                )));
            }
            Some(_) => {}
        }
        if !connection_upgrade {
            return Err(HandshakeError::new(
                "missing \"upgrade\" token in Connection header",
            ));
        }
        match accept {
            None => return Err(HandshakeError::new("missing Sec-WebSocket-Accept header")),
            Some(value) if value != self.expected_accept.as_bytes() => {
                return Err(HandshakeError::new(format!(
                    "Sec-WebSocket-Accept is {:?}, expected {:?}",
                    printable(value),
                    self.expected_accept
                )));
            }
            Some(_) => {}
        }
        if let Some(value) = protocol {
            if !self.offered_protocols.iter().any(|p| p.as_bytes() == value) {
                return Err(HandshakeError::new(format!(
                    "server selected subprotocol {:?} that was not offered",
                    printable(value)
                )));
            }
        }
        Ok(())
    }
}

fn set_once<'a>(
    slot: &mut Option<&'a [u8]>,
    value: &'a [u8],
    name: &str,
) -> Result<(), HandshakeError> {
    if slot.is_some() {
        return Err(HandshakeError::new(format!("duplicate {name} header")));
    }
    *slot = Some(value);
    Ok(())
}

/// An HTTP token character (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn comma_tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// A peer-supplied byte string for an error message: lossy UTF-8, at most 100 characters.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(100).collect()
}
