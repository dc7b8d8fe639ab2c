//! The server side of the opening handshake (RFC 6455 §4.2): the client's HTTP Upgrade request,
//! fed as it arrives, read by `httparse` and checked, and the `101 Switching Protocols`
//! response.
//!
//! What is checked here is what makes a request a WebSocket opening handshake at all: its size,
//! the HTTP syntax, `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection: Upgrade` and a
//! `Sec-WebSocket-Key` of 16 bytes. What a server decides about a well-formed one (its path,
//! `Sec-WebSocket-Version`, `Host`, `Origin`, credentials) is the caller's. A refusal carries
//! the HTTP status to answer with, so the client is told why rather than reset.

use base64::Engine as _;

use super::handshake::accept_key;

/// Largest request head (request line, headers and the blank line) read; beyond it the
/// request is refused with 431.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Most header fields read; more is refused with 431.
const MAX_HEADERS: usize = 64;

/// A request refused: the HTTP status to answer with, a one-line reason (the response body)
/// and the headers the status calls for (`Allow` for 405).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }
}

/// A WebSocket opening handshake, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target as sent (path and query).
    pub target: Vec<u8>,
    /// Every header field in order, names as sent, values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The `Sec-WebSocket-Key`, for [`switching_protocols`].
    pub key: String,
}

/// What [`read_upgrade_request`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHead {
    /// Not complete yet: read more (the caller keeps the bytes and calls again with all).
    Partial,
    /// The request, and how many bytes of the input it took (what follows is WebSocket data).
    Complete(UpgradeRequest, usize),
}

/// Reads the request head at the start of `input` (everything received so far).
pub fn read_upgrade_request(input: &[u8]) -> Result<RequestHead, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let too_large = || {
        Refusal::new(
            431,
            format!("request header fields too large (the limit is {MAX_REQUEST_HEAD} bytes)"),
        )
    };
    let consumed = match request.parse(input) {
        Ok(httparse::Status::Partial) if input.len() > MAX_REQUEST_HEAD => return Err(too_large()),
        Ok(httparse::Status::Partial) => return Ok(RequestHead::Partial),
        Ok(httparse::Status::Complete(n)) if n > MAX_REQUEST_HEAD => return Err(too_large()),
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                431,
                format!("too many header fields (the limit is {MAX_HEADERS})"),
            ))
        }
        Err(error) => {
            return Err(Refusal::new(
                400,
                format!("malformed HTTP request: {error}"),
            ))
        }
    };
    if request.method != Some("GET") {
        let mut refusal = Refusal::new(405, "a WebSocket handshake is a GET request");
        refusal.headers.push(("Allow", "GET"));
        return Err(refusal);
    }
    if request.version != Some(1) {
        return Err(Refusal::new(400, "a WebSocket handshake needs HTTP/1.1"));
    }
    let headers: &[httparse::Header<'_>] = request.headers;
    let has_token = |name: &str, token: &str| {
        values(headers, name).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("Upgrade", "websocket") {
        let mut refusal = Refusal::new(426, "this is a WebSocket server: Upgrade: websocket");
        refusal.headers.push(("Upgrade", "websocket"));
        refusal.headers.push(("Connection", "Upgrade"));
        return Err(refusal);
    }
    if !has_token("Connection", "upgrade") {
        return Err(Refusal::new(
            400,
            "a WebSocket handshake needs Connection: Upgrade",
        ));
    }
    let keys: Vec<String> = values(headers, "Sec-WebSocket-Key").collect();
    let key = match keys.as_slice() {
        [key] => key.trim().to_owned(),
        [] => return Err(Refusal::new(400, "missing Sec-WebSocket-Key")),
        _ => return Err(Refusal::new(400, "more than one Sec-WebSocket-Key")),
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(&key);
    if decoded.map_or(true, |k| k.len() != 16) {
        return Err(Refusal::new(
            400,
            "Sec-WebSocket-Key is not 16 bytes in base64",
        ));
    }
    let upgrade = UpgradeRequest {
        target: request.path.unwrap_or("/").as_bytes().to_vec(),
        headers: headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_owned(), value)
            })
            .collect(),
        key,
    };
    Ok(RequestHead::Complete(upgrade, consumed))
}

/// The values of the header fields named `name` (any case), as (lossy) text.
fn values<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = String> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
}

/// The `101 Switching Protocols` response accepting a request with `key`.
pub fn switching_protocols(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(lines: &[&str]) -> Vec<u8> {
        let mut text = lines.join("\r\n");
        text.push_str("\r\n\r\n");
        text.into_bytes()
    }

    fn valid() -> Vec<u8> {
        request(&[
            "GET /v1/events?x=1 HTTP/1.1",
            "Host: 127.0.0.1:25520",
            "Upgrade: WebSocket",
            "Connection: keep-alive, Upgrade",
            &format!("Sec-WebSocket-Key: {KEY}"),
            "Sec-WebSocket-Version: 13",
        ])
    }

    #[test]
    fn a_valid_request_in_any_chunking() {
        let mut bytes = valid();
        let head = bytes.len();
        bytes.extend_from_slice(b"\x81\x80frame");
        for cut in 0..head {
            assert_eq!(
                read_upgrade_request(&bytes[..cut]),
                Ok(RequestHead::Partial)
            );
        }
        let Ok(RequestHead::Complete(upgrade, consumed)) = read_upgrade_request(&bytes) else {
            panic!("not complete");
        };
        assert_eq!(consumed, head);
        assert_eq!(upgrade.target, b"/v1/events?x=1");
        assert_eq!(upgrade.key, KEY);
        assert_eq!(upgrade.headers.len(), 5);
        assert_eq!(
            upgrade.headers[4],
            ("Sec-WebSocket-Version".into(), "13".into())
        );
        let response = String::from_utf8(switching_protocols(&upgrade.key)).unwrap();
        // RFC 6455 §1.3's example.
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(response.ends_with("\r\n\r\n"));
    }

    fn refused(bytes: &[u8]) -> (u16, String) {
        match read_upgrade_request(bytes) {
            Err(refusal) => (refusal.status, refusal.reason),
            Ok(other) => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn refusals_say_why() {
        let replace = |from: &str, to: &str| {
            String::from_utf8(valid())
                .unwrap()
                .replace(from, to)
                .into_bytes()
        };
        assert_eq!(refused(&replace("GET", "POST")).0, 405);
        assert_eq!(
            refused(&replace("HTTP/1.1", "HTTP/1.0")),
            (400, "a WebSocket handshake needs HTTP/1.1".into())
        );
        assert_eq!(
            refused(&replace("Upgrade: WebSocket", "Upgrade: h2c")).0,
            426
        );
        assert_eq!(
            refused(&replace("keep-alive, Upgrade", "keep-alive")),
            (
                400,
                "a WebSocket handshake needs Connection: Upgrade".into()
            )
        );
        assert_eq!(
            refused(&replace(KEY, "c2hvcnQ=")),
            (400, "Sec-WebSocket-Key is not 16 bytes in base64".into())
        );
        assert_eq!(
            refused(&replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "")),
            (400, "missing Sec-WebSocket-Key".into())
        );
        assert_eq!(refused(b"GET / HTTP/1.1\r\nHost\r\n\r\n").0, 400);
        assert_eq!(refused(b"\x16\x03\x01\x02\x00\x01\x00").0, 400);
    }

    #[test]
    fn a_large_head_is_refused_with_431_before_it_ends() {
        let mut bytes = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        bytes.resize(MAX_REQUEST_HEAD, b'a');
        assert_eq!(read_upgrade_request(&bytes), Ok(RequestHead::Partial));
        bytes.push(b'a');
        assert_eq!(refused(&bytes).0, 431);
        let many: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y")).collect();
        let mut lines = vec!["GET / HTTP/1.1"];
        lines.extend(many.iter().map(String::as_str));
        assert_eq!(refused(&request(&lines)).0, 431);
    }
}
