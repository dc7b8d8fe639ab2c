//! Scale-out over Redis Pub/Sub (SPEC §7), sans-I/O: bytes in, bytes out, no sockets.
//!
//! * Channel names: `ff:<SEC>:<REQ>:<contract key>` ([`channel_name`]), and what an edge
//!   subscribes for one SPEC §4 stream ([`subscriptions_of_stream`]).
//! * [`publish`]: a publisher's events as pipelined RESP `PUBLISH` (or `SPUBLISH`) commands,
//!   each payload the §3.3 JSON with a per-channel `"pseq"` in its header, encoded once per
//!   batch, split per Redis node by hash slot for a Cluster.
//! * [`subscribe`]: an edge's reader of the pushes Redis sends a subscriber: message payloads
//!   go into a [`SourceBatch`](crate::hub::SourceBatch) as they are, `pseq` continuity is checked
//!   per channel, and everything else (subscription confirmations, errors) is handed back.

pub mod publish;
pub mod subscribe;

pub use publish::Publisher;
pub use subscribe::{ChannelGap, PushReader, Reply};

use crate::contract::{ContractKey, ReqType, SecType, StreamKey};
use crate::hub::Route;

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: usize = 16384;

/// The channel req of an outgoing event's route: session and source bars share `OHLC`.
pub fn route_req(route: Route) -> ReqType {
    match route {
        Route::Trade => ReqType::Trade,
        Route::Quote => ReqType::Quote,
        Route::SessionOhlc | Route::SourceOhlc => ReqType::Ohlc,
        Route::OpenInterest => ReqType::OpenInterest,
    }
}

/// Appends the SPEC §7 channel of `req` on `contract`: `ff:STOCK:TRADE:AAPL`,
/// `ff:OPTION:QUOTE:SPY:20250321:570000:C`.
pub fn write_channel_name(out: &mut Vec<u8>, req: ReqType, contract: &ContractKey) {
    out.extend_from_slice(b"ff:");
    out.extend_from_slice(contract.sec_type.as_str().as_bytes());
    out.push(b':');
    out.extend_from_slice(req.as_str().as_bytes());
    out.push(b':');
    out.extend_from_slice(contract.channel_key().as_bytes());
}

/// The SPEC §7 channel of `req` on `contract` as a string.
pub fn channel_name(req: ReqType, contract: &ContractKey) -> String {
    let mut out = Vec::with_capacity(40);
    write_channel_name(&mut out, req, contract);
    String::from_utf8(out).unwrap_or_default()
}

/// The whole-market name of `req` events on `sec`: `ff:OPTION:TRADE:*`. Without a Cluster it is
/// a glob pattern over the contracts' channels; on a Cluster (sharded Pub/Sub has no patterns)
/// it is a channel of its own, on which the publisher repeats those events while an edge
/// listens (see [`publish`]).
pub fn market_channel_name(sec: SecType, req: ReqType) -> String {
    format!("ff:{}:{}:*", sec.as_str(), req.as_str())
}

/// Every whole-market name an edge may subscribe ([`subscriptions_of_stream`] of the
/// whole-market streams of every security type), with its security type and req.
pub fn market_channels() -> Vec<(SecType, ReqType, String)> {
    SecType::ALL
        .into_iter()
        .flat_map(|sec| {
            [ReqType::Trade, ReqType::Ohlc, ReqType::OpenInterest]
                .map(|req| (sec, req, market_channel_name(sec, req)))
        })
        .collect()
}

/// One Redis subscription an edge needs: a channel, or a glob pattern (whole-market streams).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subscription {
    Channel(String),
    Pattern(String),
}

/// What an edge subscribes on Redis for one SPEC §4 stream. A contract's trades need its
/// `OHLC` channel too (the session bar follows each trade and matches `<c>@trade`), and so do
/// whole-market trades (`ff:<SEC>:TRADE:*` and `ff:<SEC>:OHLC:*`).
pub fn subscriptions_of_stream(stream: &StreamKey) -> Vec<Subscription> {
    let pattern = |sec: SecType, req: ReqType| Subscription::Pattern(market_channel_name(sec, req));
    match (&stream.contract, stream.req_type) {
        (Some(c), ReqType::Trade) => vec![
            Subscription::Channel(channel_name(ReqType::Trade, c)),
            Subscription::Channel(channel_name(ReqType::Ohlc, c)),
        ],
        (Some(c), req) => vec![Subscription::Channel(channel_name(req, c))],
        (None, ReqType::FullTrades) => vec![
            pattern(stream.sec_type, ReqType::Trade),
            pattern(stream.sec_type, ReqType::Ohlc),
        ],
        (None, ReqType::FullOpenInterest) => vec![pattern(stream.sec_type, ReqType::OpenInterest)],
        (None, _) => Vec::new(),
    }
}

/// Appends a RESP command (an array of bulk strings).
pub fn write_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut buf = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(buf.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(buf.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of the key, or of its `{hash tag}`
/// when it has a non-empty one, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let mut hashed = key;
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                hashed = &key[open + 1..open + 1 + len];
            }
        }
    }
    crc16(hashed) % SLOTS as u16
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Right, Symbol};

    fn spy_call() -> ContractKey {
        ContractKey::option(Symbol::new("SPY").unwrap(), 20250321, 570000, Right::Call)
    }

    #[test]
    fn channel_names_follow_the_spec() {
        let aapl = ContractKey::stock(Symbol::new("AAPL").unwrap());
        assert_eq!(channel_name(ReqType::Trade, &aapl), "ff:STOCK:TRADE:AAPL");
        assert_eq!(
            channel_name(ReqType::Quote, &spy_call()),
            "ff:OPTION:QUOTE:SPY:20250321:570000:C"
        );
        assert_eq!(route_req(Route::SessionOhlc), ReqType::Ohlc);
    }

    #[test]
    fn streams_map_to_channels_and_patterns() {
        let aapl = ContractKey::stock(Symbol::new("AAPL").unwrap());
        assert_eq!(
            subscriptions_of_stream(&StreamKey::of_contract(ReqType::Trade, aapl)),
            vec![
                Subscription::Channel("ff:STOCK:TRADE:AAPL".into()),
                Subscription::Channel("ff:STOCK:OHLC:AAPL".into()),
            ]
        );
        assert_eq!(
            subscriptions_of_stream(&StreamKey::full(SecType::Option, ReqType::FullOpenInterest)),
            vec![Subscription::Pattern("ff:OPTION:OPEN_INTEREST:*".into())]
        );
    }

    #[test]
    fn slots_match_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
    }

    #[test]
    fn commands_are_resp_arrays() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"PUBLISH", b"ch", b"{}"]);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\n{}\r\n");
    }
}
