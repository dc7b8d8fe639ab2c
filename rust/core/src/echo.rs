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

/// Appends the JSON escape of `s` (without quotes) for an echo of untrusted input: what
/// [`write_escaped`] escapes, and every character that is not printable as `\uXXXX` (a
/// surrogate pair above U+FFFF), so an echo cannot break, rewrite or disguise a log line or a
/// terminal: DEL and the C1 controls (U+0080–U+009F, e.g. U+0085 NEXT LINE, U+009B CSI), the
/// line and paragraph separators U+2028/U+2029, and the invisible format characters
/// (see [`is_unprintable`]).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut escaped = Vec::with_capacity(s.len());
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        if !is_unprintable(c) {
            continue;
        }
        write_escaped(&mut escaped, &s[plain..i]);
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            escaped.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
        }
        plain = i + c.len_utf8();
    }
    write_escaped(&mut escaped, &s[plain..]);
    // Escaping copies every other byte >= 0x80 unchanged, so valid UTF-8 in gives valid UTF-8
    // out and the lossy conversion never replaces anything.
    out.push_str(&String::from_utf8_lossy(&escaped));
}

/// Characters an echo escapes beyond JSON's own rules: DEL and C1 controls, and the
/// invisible ones of Unicode's Cf/Zl/Zp categories that can hide or reorder text (soft hyphen,
/// Arabic letter mark, Mongolian vowel separator, zero-width and bidirectional marks and
/// overrides, line/paragraph separators, word joiner and invisible operators, isolates, BOM,
/// interlinear annotation, tags). The C0 controls are escaped by [`write_escaped`].
pub(crate) fn is_unprintable(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_escape_every_unprintable_character() {
        let input = "a\u{85}b\u{9b}[31mc\u{7f}d\u{2028}e\u{2029}f\u{202e}g\u{200b}h\u{feff}i\u{e0041}\t\"é€😀";
        assert_eq!(
            quote_bounded(input),
            r#""a\u0085b\u009b[31mc\u007fd\u2028e\u2029f\u202eg\u200bh\ufeffi\udb40\udc41\t\"é€😀""#
        );
        // What remains is printable, and the echo is still one JSON string.
        let echo = quote_bounded(input);
        assert!(echo.chars().all(|c| !c.is_control() && !is_unprintable(c)));
        let parsed: String = serde_json::from_str(&echo).unwrap();
        assert_eq!(parsed, input);
    }

    #[test]
    fn long_echoes_are_cut_after_the_limit() {
        let echo = quote_bounded(&"\u{85}".repeat(100));
        assert_eq!(
            echo,
            format!("\"{}\"... (100 characters)", r"\u0085".repeat(ECHO_LIMIT))
        );
    }
}
