//! A JSON tree that keeps object members in document order, duplicates included.
//!
//! `serde_json::Value` silently keeps the last of two equal keys, which would let
//! `{"add": true, "add": false}` mean something the sender may not have intended. Parsing into
//! this tree instead lets the validator reject duplicates explicitly and report the first
//! unknown field in document order, so errors are deterministic.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

pub(crate) use crate::echo::{quote_bounded, ECHO_LIMIT};

/// One parsed JSON value. Non-negative integers are `UInt`, negative ones `NegInt`; anything
/// with a fraction or exponent (or beyond `u64`) is `Float`, as `serde_json` reports them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    UInt(u64),
    NegInt(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::UInt(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(u64::try_from(v).map_or(Json::NegInt(v), Json::UInt))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

impl Json {
    /// A short, bounded rendering of the value for "got …" in error messages: scalars as JSON
    /// (strings quoted and escaped, cut after [`ECHO_LIMIT`] characters), containers by kind.
    pub(crate) fn describe(&self) -> String {
        match self {
            Json::Null => "null".to_owned(),
            Json::Bool(b) => b.to_string(),
            Json::UInt(n) => n.to_string(),
            Json::NegInt(n) => n.to_string(),
            Json::Float(x) => ryu::Buffer::new().format(*x).to_owned(),
            Json::Str(s) => quote_bounded(s),
            Json::Array(_) => "an array".to_owned(),
            Json::Object(_) => "an object".to_owned(),
        }
    }
}

/// An object key as a path segment: bare when it is a plain name (`A-Z a-z 0-9 _`, at most
/// [`ECHO_LIMIT`] characters), otherwise quoted like [`quote_bounded`], so a key holding dots,
/// quotes or control characters can neither forge a nested path nor inject lines into a log.
pub(crate) fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= ECHO_LIMIT
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        key.to_owned()
    } else {
        quote_bounded(key)
    }
}
