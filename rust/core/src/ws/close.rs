//! Close frame payloads (RFC 6455 §5.5.1, §7.4).

/// Longest close reason that fits a control frame (125 bytes minus the 2-byte code).
pub const MAX_CLOSE_REASON: usize = 123;

/// True for the codes a peer may put on the wire: 1000–1003, 1007–1014 and 3000–4999.
///
/// 1004–1006 and 1015 are reserved for local use (never sent), everything below 1000 and
/// 1016–2999 is unassigned, and 5000 and above is out of range.
pub const fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Appends a close payload: the code in network byte order, then `reason`.
///
/// A reason longer than [`MAX_CLOSE_REASON`] bytes is cut at the last character boundary that
/// fits, so the frame stays a legal control frame and the reason stays valid UTF-8. The caller
/// passes a code for which [`is_valid_close_code`] holds; this function does not check it.
pub fn write_close_payload(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..cut]);
}

/// A close payload as a new vector; see [`write_close_payload`].
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + reason.len().min(MAX_CLOSE_REASON));
    write_close_payload(&mut out, code, reason);
    out
}

/// Why a received close payload is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePayloadError {
    /// A 1-byte payload: too short for a code (→ 1002).
    Truncated,
    /// A code that may not be sent on the wire (→ 1002).
    InvalidCode(u16),
    /// The reason is not UTF-8 (→ 1007).
    InvalidReason,
}

/// Splits a received close payload into its code (`None` for an empty payload, which means
/// "no status", 1005) and its reason.
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<u16>, &str), ClosePayloadError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(ClosePayloadError::Truncated),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(ClosePayloadError::InvalidCode(code));
            }
            let reason =
                std::str::from_utf8(reason).map_err(|_| ClosePayloadError::InvalidReason)?;
            Ok((Some(code), reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        let valid: Vec<u16> = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).collect();
        let expected: Vec<u16> = (1000..=1003)
            .chain(1007..=1014)
            .chain(3000..=4999)
            .collect();
        assert_eq!(valid, expected);
    }

    #[test]
    fn payload_round_trip() {
        let payload = close_payload(1000, "bye");
        assert_eq!(payload, [0x03, 0xe8, b'b', b'y', b'e']);
        assert_eq!(parse_close_payload(&payload), Ok((Some(1000), "bye")));
        assert_eq!(parse_close_payload(&[]), Ok((None, "")));
    }

    #[test]
    fn long_reason_is_cut_on_a_char_boundary() {
        // 61 two-byte characters = 122 bytes, then one more would reach 124 > 123.
        let reason = "é".repeat(62);
        let payload = close_payload(4000, &reason);
        assert_eq!(payload.len(), 2 + 122);
        assert_eq!(
            parse_close_payload(&payload),
            Ok((Some(4000), "é".repeat(61).as_str()))
        );
        let ascii = "x".repeat(200);
        assert_eq!(close_payload(1000, &ascii).len(), 125);
    }

    #[test]
    fn bad_payloads() {
        assert_eq!(
            parse_close_payload(&[0x03]),
            Err(ClosePayloadError::Truncated)
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000, u16::MAX] {
            assert_eq!(
                parse_close_payload(&code.to_be_bytes()),
                Err(ClosePayloadError::InvalidCode(code)),
                "{code}"
            );
        }
        assert_eq!(
            parse_close_payload(&[0x03, 0xe8, 0xff]),
            Err(ClosePayloadError::InvalidReason)
        );
    }
}
