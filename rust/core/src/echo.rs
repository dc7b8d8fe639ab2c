//! JSON string escaping and bounded echoes of untrusted input in error messages.
//!
//! Every validator (envelopes, contracts, stream names) quotes what it found the same way, so
//! an error message stays one short line whatever the input: strings are quoted, escaped and
//! cut after [`ECHO_LIMIT`] characters.

use std::fmt::Write as _;

/// How many characters of a user-supplied string are echoed back in an error message, so an
/// error can never be much larger than a fixed bound whatever the input.
pub(crate) const ECHO_LIMIT: usize = 64;

/// `s` as a JSON string literal, cut after [`ECHO_LIMIT`] characters; a cut string is followed
/// by `... (N characters)`.
pub(crate) fn quote_bounded(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4 * ECHO_LIMIT) + 2);
    let cut = s.char_indices().nth(ECHO_LIMIT).map(|(i, _)| i);
    out.push('"');
    escape_into(&mut out, cut.map_or(s, |i| &s[..i]));
    out.push('"');
    if cut.is_some() {
        let _ = write!(out, "... ({} characters)", s.chars().count());
    }
    out
}

/// Appends the JSON escape of `s` (without quotes), as [`write_escaped`] does.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut escaped = Vec::with_capacity(s.len());
    write_escaped(&mut escaped, s);
    // Escaping copies every byte >= 0x80 unchanged, so valid UTF-8 in gives valid UTF-8 out
    // and the lossy conversion never replaces anything.
    out.push_str(&String::from_utf8_lossy(&escaped));
}

/// Appends the JSON escape of `s` without quotes: `"` `\` and the control characters below
/// U+0020 are escaped (short forms where JSON has them, `\u00XX` otherwise); every other byte,
/// including the bytes of non-ASCII characters, is copied unchanged.
pub(crate) fn write_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => br#"\""#,
            b'\\' => br"\\",
            b'\n' => br"\n",
            b'\r' => br"\r",
            b'\t' => br"\t",
            0x08 => br"\b",
            0x0c => br"\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[copied..i]);
        copied = i + 1;
        if short.is_empty() {
            out.extend_from_slice(br"\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}
