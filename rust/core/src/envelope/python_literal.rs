//! Reads a command written as a Python literal dict, the form the original terminal's own
//! documentation sends (`websocket.send(req.__str__())` on a `dict`):
//!
//! ```text
//! {'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, 'id': 0,
//!  'contract': {'root': 'AAPL'}}
//! ```
//!
//! The grammar is JSON's with Python's spelling of the literals, exactly what `repr` of a dict
//! of strings, numbers, booleans, `None`, lists and dicts produces: strings in single or double
//! quotes with Python's escapes (`\\ \' \" \n \r \t \xhh \uhhhh \Uhhhhhhhh`), `True`, `False`,
//! `None`, numbers as in JSON. Nothing else of Python is accepted (no trailing commas, tuples,
//! comments, string concatenation or expressions), and JSON's `true`/`false`/`null` are not
//! Python. The result is the same [`Json`] tree as the JSON reader gives, so every later check and
//! message is the same; syntax errors carry the byte offset into what the client sent.

use super::json::Json;

/// A name other than `True`, `False` and `None` (JSON's `true`, `false` and `null` included).
const NOT_A_LITERAL: &str = "expected value (the Python literals are True, False and None)";

/// How deep containers may nest: `serde_json` refuses the 128th level, and so does this reader.
const MAX_DEPTH: usize = 127;

/// Why a frame is not a Python literal, and the 0-based byte offset of the offending byte (the
/// frame's length when it ended early).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiteralError {
    pub what: &'static str,
    pub offset: usize,
    /// The input ended before the value did.
    pub eof: bool,
}

/// Parses `text` as one Python literal value, surrounded by optional whitespace.
pub(crate) fn parse_python_literal(text: &str) -> Result<Json, LiteralError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        at: 0,
        depth: 0,
    };
    let value = reader.value()?;
    reader.skip_whitespace();
    if reader.at < reader.bytes.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    depth: usize,
}

impl Reader<'_> {
    fn error(&self, what: &'static str) -> LiteralError {
        LiteralError {
            what,
            offset: self.at,
            eof: false,
        }
    }

    fn eof(&self, what: &'static str) -> LiteralError {
        LiteralError {
            what,
            offset: self.bytes.len(),
            eof: true,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Json, LiteralError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.eof("EOF while parsing a value")),
            Some(b'{') => self.container(b'}', "EOF while parsing an object"),
            Some(b'[') => self.container(b']', "EOF while parsing a list"),
            Some(quote @ (b'\'' | b'"')) => self.string(quote).map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'_') => self.name(),
            Some(_) => Err(self.error("expected value")),
        }
    }

    /// `True`, `False` or `None`; any other name (JSON's `true` included) is not a literal.
    fn name(&mut self) -> Result<Json, LiteralError> {
        let start = self.at;
        while let Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_') = self.peek() {
            self.at += 1;
        }
        match &self.bytes[start..self.at] {
            b"True" => Ok(Json::Bool(true)),
            b"False" => Ok(Json::Bool(false)),
            b"None" => Ok(Json::Null),
            _ => {
                self.at = start;
                Err(self.error(NOT_A_LITERAL))
            }
        }
    }

    /// A dict (`close` = `}`) or a list (`close` = `]`), the opening byte at `self.at`.
    fn container(&mut self, close: u8, eof: &'static str) -> Result<Json, LiteralError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        let mut members = Vec::new();
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if close == b'}' {
                    let key = match self.peek() {
                        None => return Err(self.eof(eof)),
                        Some(quote @ (b'\'' | b'"')) => self.string(quote)?,
                        Some(_) => return Err(self.error("key must be a string")),
                    };
                    self.skip_whitespace();
                    match self.peek() {
                        None => return Err(self.eof(eof)),
                        Some(b':') => self.at += 1,
                        Some(_) => return Err(self.error("expected `:`")),
                    }
                    let value = self.value()?;
                    members.push((key, value));
                } else {
                    items.push(self.value()?);
                }
                self.skip_whitespace();
                match self.peek() {
                    None => return Err(self.eof(eof)),
                    Some(b',') => {
                        self.at += 1;
                        self.skip_whitespace();
                        if self.peek() == Some(close) {
                            return Err(self.error("trailing comma"));
                        }
                    }
                    Some(b) if b == close => {
                        self.at += 1;
                        break;
                    }
                    Some(_) if close == b'}' => return Err(self.error("expected `,` or `}`")),
                    Some(_) => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
        self.depth -= 1;
        Ok(if close == b'}' {
            Json::Object(members)
        } else {
            Json::Array(items)
        })
    }

    /// A string in `quote`s, the opening quote at `self.at`.
    fn string(&mut self, quote: u8) -> Result<String, LiteralError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let run = self.at;
            while let Some(b) = self.peek() {
                if b == quote || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // `run..at` ends before an ASCII byte or at the end, so it is whole characters.
            out.push_str(&self.text[run..self.at]);
            match self.peek() {
                None => return Err(self.eof("EOF while parsing a string")),
                Some(b) if b == quote => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error("control character found while parsing a string")),
            }
        }
    }

    /// One escape sequence, the backslash at `self.at`.
    fn escape(&mut self) -> Result<char, LiteralError> {
        let start = self.at;
        self.at += 1;
        let Some(kind) = self.peek() else {
            return Err(self.eof("EOF while parsing a string"));
        };
        self.at += 1;
        let simple = match kind {
            b'\\' => Some('\\'),
            b'\'' => Some('\''),
            b'"' => Some('"'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            _ => None,
        };
        if let Some(c) = simple {
            return Ok(c);
        }
        let digits = match kind {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => {
                self.at = start;
                return Err(self.error("invalid escape"));
            }
        };
        let Some(hex) = self.bytes.get(self.at..self.at + digits) else {
            return Err(self.eof("EOF while parsing a string"));
        };
        let code = std::str::from_utf8(hex)
            .ok()
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        let Some(code) = code else {
            self.at = start;
            return Err(self.error("invalid escape"));
        };
        let Some(c) = char::from_u32(code) else {
            self.at = start;
            return Err(self.error("escape is not a Unicode scalar value"));
        };
        self.at += digits;
        Ok(c)
    }

    /// A number with JSON's grammar; integers that fit `u64`/`i64` stay integers, everything
    /// else is a float, as the JSON reader gives them.
    fn number(&mut self) -> Result<Json, LiteralError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            None => return Err(self.eof("EOF while parsing a value")),
            Some(_) => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        let text = &self.text[start..self.at];
        if integer {
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Json::UInt(n));
            }
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Json::NegInt(n));
            }
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Json::Float(x)),
            _ => {
                self.at = start;
                Err(self.error("number out of range"))
            }
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json {
        parse_python_literal(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    #[track_caller]
    fn err(text: &str, what: &str, offset: usize) {
        let e = parse_python_literal(text).expect_err(text);
        assert_eq!((e.what, e.offset), (what, offset), "{text}");
    }

    fn s(v: &str) -> Json {
        Json::Str(v.to_owned())
    }

    #[test]
    fn repr_of_the_documentation_sample_reads_as_its_json() {
        let repr = "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, \
                    'id': 0, 'contract': {'root': 'AAPL'}}";
        let json = r#"{"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADE", "add": true,
                       "id": 0, "contract": {"root": "AAPL"}}"#;
        let expected: Json = serde_json::from_str(json).unwrap();
        assert_eq!(ok(repr), expected);
    }

    #[test]
    fn literals_strings_and_numbers() {
        assert_eq!(ok("True"), Json::Bool(true));
        assert_eq!(ok(" False "), Json::Bool(false));
        assert_eq!(ok("None"), Json::Null);
        assert_eq!(ok("0"), Json::UInt(0));
        assert_eq!(ok("-5"), Json::NegInt(-5));
        assert_eq!(ok("18446744073709551615"), Json::UInt(u64::MAX));
        assert_eq!(
            ok("18446744073709551616"),
            Json::Float(18446744073709551616.0)
        );
        assert_eq!(ok("4.8"), Json::Float(4.8));
        assert_eq!(ok("1e+20"), Json::Float(1e20));
        assert_eq!(
            ok("[1, 'a', [], {}]"),
            Json::Array(vec![
                Json::UInt(1),
                s("a"),
                Json::Array(vec![]),
                Json::Object(vec![]),
            ])
        );
        // repr switches to double quotes when the string holds a single quote.
        assert_eq!(ok(r#""it's""#), s("it's"));
        assert_eq!(ok(r"'it\'s'"), s("it's"));
        assert_eq!(
            ok(r#"'\\ \n \r \t \x41 \u00e9 \U0001F600 \"'"#),
            s("\\ \n \r \t A é 😀 \"")
        );
        assert_eq!(ok("'é'"), s("é"));
        // Keys keep document order and duplicates, as the JSON reader does.
        assert_eq!(
            ok("{'a': 1, 'a': 2}"),
            Json::Object(vec![
                ("a".into(), Json::UInt(1)),
                ("a".into(), Json::UInt(2))
            ])
        );
    }

    #[test]
    fn only_the_literal_subset_is_accepted_with_the_offending_byte() {
        err("true", NOT_A_LITERAL, 0);
        err("{'add': null}", NOT_A_LITERAL, 8);
        err("{'a': 1,}", "trailing comma", 8);
        err("[1,]", "trailing comma", 3);
        err("(1, 2)", "expected value", 0);
        err("{'a' 1}", "expected `:`", 5);
        err("{'a': 1 'b': 2}", "expected `,` or `}`", 8);
        err("[1 2]", "expected `,` or `]`", 3);
        err("{1: 2}", "key must be a string", 1);
        err("{'a': 1} x", "trailing characters", 9);
        err("'a' 'b'", "trailing characters", 4);
        err(r"'\q'", "invalid escape", 1);
        err(r"'\x4g'", "invalid escape", 1);
        err(r"'\ud800'", "escape is not a Unicode scalar value", 1);
        err(
            "'a\nb'",
            "control character found while parsing a string",
            2,
        );
        err("007", "invalid number", 1);
        err("1.", "invalid number", 2);
        err("-", "EOF while parsing a value", 1);
        err("1e999", "number out of range", 0);
        err("{'a': 1", "EOF while parsing an object", 7);
        err("{'a'", "EOF while parsing an object", 4);
        err("'abc", "EOF while parsing a string", 4);
        err("", "EOF while parsing a value", 0);
        let deep = "[".repeat(200);
        err(&deep, "recursion limit exceeded", 127);
    }

    #[test]
    fn eof_is_flagged() {
        assert!(parse_python_literal("{'a': 1").unwrap_err().eof);
        assert!(!parse_python_literal("{'a': 1,}").unwrap_err().eof);
    }
}
