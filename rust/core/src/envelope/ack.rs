//! Acknowledgements (SPEC §3.2), encoded compactly with a fixed key order:
//!
//! ```text
//! {"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":1}}
//! {"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":null,"message":"json: expected value at byte 0"}}
//! {"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"MAX_STREAMS_REACHED","req_id":7}}
//! ```

use crate::echo::write_escaped;

/// The answer to one command. Only `Error` carries a message, so an `OK` with a message cannot
/// be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResponse<'a> {
    /// The command was applied.
    Ok,
    /// The command was rejected; the message starts with the offending field's path.
    Error(&'a str),
    /// A subscription was refused because the connection holds the maximum number of streams.
    MaxStreamsReached,
}

impl AckResponse<'_> {
    /// The wire value of `response`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AckResponse::Ok => "OK",
            AckResponse::Error(_) => "ERROR",
            AckResponse::MaxStreamsReached => "MAX_STREAMS_REACHED",
        }
    }
}

/// Appends the acknowledgement for `req_id` (`null` when the command's id could not be read)
/// to `out`, ready to be framed.
pub fn encode_ack(out: &mut Vec<u8>, req_id: Option<u64>, response: AckResponse<'_>) {
    out.extend_from_slice(br#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":""#);
    out.extend_from_slice(response.as_str().as_bytes());
    out.extend_from_slice(br#"","req_id":"#);
    match req_id {
        Some(id) => out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    if let AckResponse::Error(message) = response {
        out.extend_from_slice(br#","message":"#);
        write_json_string(out, message);
    }
    out.extend_from_slice(b"}}");
}

/// Appends `s` as a JSON string literal (quoted and escaped).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(req_id: Option<u64>, response: AckResponse<'_>) -> String {
        let mut out = Vec::new();
        encode_ack(&mut out, req_id, response);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ok_ack_is_byte_exact() {
        assert_eq!(
            ack(Some(1), AckResponse::Ok),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":1}}"#
        );
        assert_eq!(
            ack(Some(u64::MAX >> 1), AckResponse::Ok),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":9223372036854775807}}"#
        );
    }

    #[test]
    fn error_ack_carries_the_message() {
        assert_eq!(
            ack(
                Some(1),
                AckResponse::Error(
                    "contract.strike: must be a positive integer (thousandths of a dollar), got -5"
                )
            ),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":1,"message":"contract.strike: must be a positive integer (thousandths of a dollar), got -5"}}"#
        );
        assert_eq!(
            ack(None, AckResponse::Error("json: expected value at byte 0")),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":null,"message":"json: expected value at byte 0"}}"#
        );
    }

    #[test]
    fn max_streams_ack() {
        assert_eq!(
            ack(Some(0), AckResponse::MaxStreamsReached),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"MAX_STREAMS_REACHED","req_id":0}}"#
        );
        assert_eq!(
            ack(None, AckResponse::Ok),
            r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":null}}"#
        );
    }

    #[test]
    fn appends_without_clearing() {
        let mut out = b"prefix".to_vec();
        encode_ack(&mut out, Some(2), AckResponse::Ok);
        assert!(out.starts_with(b"prefix{\"header\""));
    }

    #[test]
    fn messages_are_escaped() {
        let mut out = Vec::new();
        write_json_string(
            &mut out,
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{0}i\u{1f}j\u{7f}é€😀",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\"b\\c\nd\re\tf\bg\fh\u0000i\u001fj"#.to_owned() + "\u{7f}é€😀\""
        );
    }

    #[test]
    fn escaped_messages_round_trip_through_a_json_parser() {
        let message = "x: got \"\\\u{1}\u{2028}ünï\u{10ffff}\"";
        let mut out = Vec::new();
        encode_ack(&mut out, Some(3), AckResponse::Error(message));
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["header"]["message"], message);
        assert_eq!(parsed["header"]["req_id"], 3);
    }
}
