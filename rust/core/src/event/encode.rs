//! Event encoding: compact JSON in the exact field order of SPEC §3.3, written straight into
//! server WebSocket frames, many events per buffer.
//!
//! Integers go through `itoa`, prices through `ryu` (shortest decimal that parses back to the
//! same `f64`, so a decoder recovers every price bit for bit). Non-finite prices have no JSON
//! spelling and are rejected with an [`EncodeError`].

use std::collections::HashMap;
use std::fmt;

use crate::contract::ContractKey;
use crate::event::types::{
    EventBody, EventHeader, EventKind, Ohlc, OpenInterest, Quote, Stats, Trade,
};
use crate::ws::frame::{encode_frame, Opcode};

/// Why an event could not be encoded. Nothing is written for the failing event.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodeError {
    /// A price field (`trade.price`, `quote.bid`, …) is NaN or infinite.
    NonFinitePrice { field: &'static str, value: f64 },
    /// A contract id that was never returned by [`EventEncoder::add_contract`].
    UnknownContract(u32),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NonFinitePrice { field, value } => {
                write!(f, "{field}: must be a finite number, got {value}")
            }
            EncodeError::UnknownContract(id) => write!(f, "contract_id: unknown contract id {id}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends the `"contract":{…}` member (without the leading comma).
pub fn write_contract_json(out: &mut Vec<u8>, contract: &ContractKey) {
    out.extend_from_slice(b"\"contract\":{\"security_type\":\"");
    out.extend_from_slice(contract.sec_type.as_str().as_bytes());
    out.extend_from_slice(b"\",\"symbol\":\"");
    out.extend_from_slice(contract.symbol.as_str().as_bytes());
    out.push(b'"');
    if let Some(right) = contract.right {
        out.extend_from_slice(b",\"expiration\":");
        write_int(out, contract.expiration);
        out.extend_from_slice(b",\"strike\":");
        write_int(out, contract.strike);
        out.extend_from_slice(b",\"right\":\"");
        out.extend_from_slice(right.as_str().as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
}

/// Appends one data event as compact JSON (no frame).
///
/// On error `out` is left as it was.
pub fn write_event_json(
    out: &mut Vec<u8>,
    header: EventHeader,
    contract: &ContractKey,
    body: &EventBody,
) -> Result<(), EncodeError> {
    check_prices(body)?;
    write_header_json(out, body.kind(), header);
    out.push(b',');
    write_contract_json(out, contract);
    write_body_json(out, body);
    out.push(b'}');
    Ok(())
}

/// Appends one `STATUS` event as compact JSON (no frame).
pub fn write_status_json(out: &mut Vec<u8>, header: EventHeader, stats: Stats) {
    write_header_json(out, EventKind::Status, header);
    out.extend_from_slice(b",\"stats\":{\"sent\":");
    write_int(out, stats.sent);
    out.extend_from_slice(b",\"dropped\":");
    write_int(out, stats.dropped);
    out.extend_from_slice(b"}}");
}

/// Writes `{"header":{…}` (the outer object stays open).
fn write_header_json(out: &mut Vec<u8>, kind: EventKind, header: EventHeader) {
    out.extend_from_slice(b"{\"header\":{\"type\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"status\":\"CONNECTED\"");
    if let Some(id) = header.id {
        out.extend_from_slice(b",\"id\":");
        write_int(out, id);
    }
    if let Some(pseq) = header.pseq {
        out.extend_from_slice(b",\"pseq\":");
        write_int(out, pseq);
    }
    out.push(b'}');
}

/// Writes `,"trade":{…}` etc. Prices must have been checked.
fn write_body_json(out: &mut Vec<u8>, body: &EventBody) {
    match body {
        EventBody::Trade(t) => write_trade(out, t),
        EventBody::Quote(q) => write_quote(out, q),
        EventBody::Ohlc(o) => write_ohlc(out, o),
        EventBody::OpenInterest(oi) => write_open_interest(out, oi),
    }
}

fn write_trade(out: &mut Vec<u8>, t: &Trade) {
    out.extend_from_slice(b",\"trade\":{\"ms_of_day\":");
    write_int(out, t.ms_of_day);
    out.extend_from_slice(b",\"sequence\":");
    write_int(out, t.sequence);
    out.extend_from_slice(b",\"size\":");
    write_int(out, t.size);
    out.extend_from_slice(b",\"condition\":");
    write_int(out, t.condition);
    out.extend_from_slice(b",\"price\":");
    write_price(out, t.price);
    out.extend_from_slice(b",\"exchange\":");
    write_int(out, t.exchange);
    out.extend_from_slice(b",\"date\":");
    write_int(out, t.date);
    out.push(b'}');
}

fn write_quote(out: &mut Vec<u8>, q: &Quote) {
    out.extend_from_slice(b",\"quote\":{\"ms_of_day\":");
    write_int(out, q.ms_of_day);
    out.extend_from_slice(b",\"bid_size\":");
    write_int(out, q.bid_size);
    out.extend_from_slice(b",\"bid_exchange\":");
    write_int(out, q.bid_exchange);
    out.extend_from_slice(b",\"bid\":");
    write_price(out, q.bid);
    out.extend_from_slice(b",\"bid_condition\":");
    write_int(out, q.bid_condition);
    out.extend_from_slice(b",\"ask_size\":");
    write_int(out, q.ask_size);
    out.extend_from_slice(b",\"ask_exchange\":");
    write_int(out, q.ask_exchange);
    out.extend_from_slice(b",\"ask\":");
    write_price(out, q.ask);
    out.extend_from_slice(b",\"ask_condition\":");
    write_int(out, q.ask_condition);
    out.extend_from_slice(b",\"date\":");
    write_int(out, q.date);
    out.push(b'}');
}

fn write_ohlc(out: &mut Vec<u8>, o: &Ohlc) {
    out.extend_from_slice(b",\"ohlc\":{\"ms_of_day\":");
    write_int(out, o.ms_of_day);
    out.extend_from_slice(b",\"open\":");
    write_price(out, o.open);
    out.extend_from_slice(b",\"high\":");
    write_price(out, o.high);
    out.extend_from_slice(b",\"low\":");
    write_price(out, o.low);
    out.extend_from_slice(b",\"close\":");
    write_price(out, o.close);
    out.extend_from_slice(b",\"volume\":");
    write_int(out, o.volume);
    out.extend_from_slice(b",\"count\":");
    write_int(out, o.count);
    out.extend_from_slice(b",\"date\":");
    write_int(out, o.date);
    out.push(b'}');
}

fn write_open_interest(out: &mut Vec<u8>, oi: &OpenInterest) {
    out.extend_from_slice(b",\"open_interest\":{\"ms_of_day\":");
    write_int(out, oi.ms_of_day);
    out.extend_from_slice(b",\"open_interest\":");
    write_int(out, oi.open_interest);
    out.extend_from_slice(b",\"date\":");
    write_int(out, oi.date);
    out.push(b'}');
}

fn check_prices(body: &EventBody) -> Result<(), EncodeError> {
    let check = |field: &'static str, value: f64| {
        if value.is_finite() {
            Ok(())
        } else {
            Err(EncodeError::NonFinitePrice { field, value })
        }
    };
    match body {
        EventBody::Trade(t) => check("trade.price", t.price),
        EventBody::Quote(q) => {
            check("quote.bid", q.bid)?;
            check("quote.ask", q.ask)
        }
        EventBody::Ohlc(o) => {
            check("ohlc.open", o.open)?;
            check("ohlc.high", o.high)?;
            check("ohlc.low", o.low)?;
            check("ohlc.close", o.close)
        }
        EventBody::OpenInterest(_) => Ok(()),
    }
}

#[inline]
fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(value).as_bytes());
}

/// Callers have checked `value.is_finite()`.
#[inline]
fn write_price(out: &mut Vec<u8>, value: f64) {
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(value).as_bytes());
}

pub use crate::event::batch::ContractId;

/// Encodes events into ready server frames (FIN, text, unmasked), many per output buffer.
///
/// Contracts are registered once ([`add_contract`](Self::add_contract)); their `"contract"`
/// member is rendered at registration and copied per event. A scratch buffer is reused for the
/// payload, so encoding allocates nothing once the buffers have grown.
#[derive(Debug, Default)]
pub struct EventEncoder {
    contracts: Vec<ContractKey>,
    contract_json: Vec<Vec<u8>>,
    ids: HashMap<ContractKey, ContractId>,
    scratch: Vec<u8>,
}

impl EventEncoder {
    /// An encoder with no contracts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a contract and returns its id; the same key always gets the same id.
    pub fn add_contract(&mut self, contract: ContractKey) -> ContractId {
        if let Some(&id) = self.ids.get(&contract) {
            return id;
        }
        let id = self.contracts.len() as ContractId;
        let mut json = Vec::with_capacity(96);
        write_contract_json(&mut json, &contract);
        self.contracts.push(contract);
        self.contract_json.push(json);
        self.ids.insert(contract, id);
        id
    }

    /// The contract registered under `id`.
    pub fn contract(&self, id: ContractId) -> Option<&ContractKey> {
        self.contracts.get(id as usize)
    }

    /// Number of registered contracts.
    pub fn contract_count(&self) -> usize {
        self.contracts.len()
    }

    /// Appends one data event as compact JSON (no frame). On error nothing is written.
    pub fn write_json(
        &self,
        out: &mut Vec<u8>,
        contract: ContractId,
        header: EventHeader,
        body: &EventBody,
    ) -> Result<(), EncodeError> {
        let contract_json = self
            .contract_json
            .get(contract as usize)
            .ok_or(EncodeError::UnknownContract(contract))?;
        check_prices(body)?;
        write_header_json(out, body.kind(), header);
        out.push(b',');
        out.extend_from_slice(contract_json);
        write_body_json(out, body);
        out.push(b'}');
        Ok(())
    }

    /// Appends one data event as a complete server text frame. On error nothing is written.
    pub fn write_frame(
        &mut self,
        out: &mut Vec<u8>,
        contract: ContractId,
        header: EventHeader,
        body: &EventBody,
    ) -> Result<(), EncodeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let result = self.write_json(&mut scratch, contract, header, body);
        if result.is_ok() {
            encode_frame(out, Opcode::Text, &scratch, None);
        }
        self.scratch = scratch;
        result
    }

    /// Appends one `STATUS` event as a complete server text frame.
    pub fn write_status_frame(&mut self, out: &mut Vec<u8>, header: EventHeader, stats: Stats) {
        self.scratch.clear();
        write_status_json(&mut self.scratch, header, stats);
        encode_frame(out, Opcode::Text, &self.scratch, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Right, Symbol};

    fn spy_call() -> ContractKey {
        ContractKey::option(Symbol::new("SPY").unwrap(), 20250321, 570000, Right::Call)
    }

    fn trade() -> Trade {
        Trade {
            ms_of_day: 34200123,
            sequence: 8812,
            size: 3,
            condition: 0,
            price: 4.15,
            exchange: 5,
            date: 20250321,
        }
    }

    #[test]
    fn spec_trade_example() {
        let mut out = Vec::new();
        write_event_json(
            &mut out,
            EventHeader::default(),
            &spy_call(),
            &EventBody::Trade(trade()),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"OPTION","symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"},"trade":{"ms_of_day":34200123,"sequence":8812,"size":3,"condition":0,"price":4.15,"exchange":5,"date":20250321}}"#
        );
    }

    #[test]
    fn status_with_header_fields() {
        let mut out = Vec::new();
        let header = EventHeader {
            id: Some(17),
            pseq: Some(4),
        };
        write_status_json(
            &mut out,
            header,
            Stats {
                sent: 10,
                dropped: 2,
            },
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"header":{"type":"STATUS","status":"CONNECTED","id":17,"pseq":4},"stats":{"sent":10,"dropped":2}}"#
        );
    }

    #[test]
    fn frames_and_errors() {
        let mut enc = EventEncoder::new();
        let id = enc.add_contract(spy_call());
        assert_eq!(enc.add_contract(spy_call()), id);
        let aapl = enc.add_contract(ContractKey::stock(Symbol::new("AAPL").unwrap()));
        assert_eq!(aapl, 1);
        let mut out = Vec::new();
        enc.write_frame(
            &mut out,
            aapl,
            EventHeader::default(),
            &EventBody::Trade(trade()),
        )
        .unwrap();
        let json = r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"trade":{"ms_of_day":34200123,"sequence":8812,"size":3,"condition":0,"price":4.15,"exchange":5,"date":20250321}}"#;
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 126);
        assert_eq!(
            usize::from(u16::from_be_bytes([out[2], out[3]])),
            json.len()
        );
        assert_eq!(&out[4..], json.as_bytes());
        let before = out.len();
        let bad = Trade {
            price: f64::NAN,
            ..trade()
        };
        let err = enc
            .write_frame(&mut out, id, EventHeader::default(), &EventBody::Trade(bad))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "trade.price: must be a finite number, got NaN"
        );
        let err = enc
            .write_frame(
                &mut out,
                9,
                EventHeader::default(),
                &EventBody::Trade(trade()),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "contract_id: unknown contract id 9");
        assert_eq!(out.len(), before);
    }
}
