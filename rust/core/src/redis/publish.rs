//! The publisher's side of SPEC §7: every outgoing event of a batch becomes one RESP
//! `PUBLISH <channel> <payload>` command (`SPUBLISH` on a Cluster), all of them appended to
//! one buffer per Redis node, to be written in one go (pipelined). The payload is the §3.3
//! JSON with the channel's next publish sequence number in its header (`"pseq": 1, 2, …`).
//!
//! A channel's sequence number counts what was encoded, not what Redis took: when the caller
//! drops a buffer (Redis slow or gone), the subscribers see the hole as a gap.
//!
//! **Whole-market channels on a Cluster.** Sharded Pub/Sub has no patterns, so a Cluster edge
//! serving a whole-market stream subscribes the channel [`super::market_channel_name`]
//! (`ff:OPTION:TRADE:*`) instead, and while some edge listens there
//! ([`Publisher::set_market_wanted`]) each such event is published a second time on it, the
//! same payload (its own channel's `pseq`), so edges check and de-duplicate it as the event of
//! its own channel. Nobody listening, nothing more is published.

use crate::contract::{ReqType, SecType};
use crate::event::{ContractId, EventHeader};
use crate::hub::{Market, Outgoing};

use super::{key_slot, market_channels, route_req, write_channel_name, SLOTS};

/// One channel: the RESP prefix of its commands (`*3 … PUBLISH … <channel>`), its node and
/// its last sequence number; for a contract's channel, its security type.
#[derive(Debug, Clone)]
struct Channel {
    prefix: Vec<u8>,
    slot: u16,
    pseq: u64,
    sec: SecType,
}

impl Channel {
    fn new(command: &[u8], name: &[u8], sec: SecType) -> Self {
        let mut prefix = Vec::with_capacity(name.len() + 32);
        let mut buf = itoa::Buffer::new();
        prefix.extend_from_slice(b"*3\r\n$");
        prefix.extend_from_slice(buf.format(command.len()).as_bytes());
        prefix.extend_from_slice(b"\r\n");
        prefix.extend_from_slice(command);
        prefix.extend_from_slice(b"\r\n$");
        prefix.extend_from_slice(buf.format(name.len()).as_bytes());
        prefix.extend_from_slice(b"\r\n");
        prefix.extend_from_slice(name);
        prefix.extend_from_slice(b"\r\n");
        Self {
            prefix,
            slot: key_slot(name),
            pseq: 0,
            sec,
        }
    }
}

/// The commands of one node since the last [`Publisher::take`].
#[derive(Debug, Default, Clone)]
struct NodeOutput {
    bytes: Vec<u8>,
    count: u64,
}

/// Encodes a source's events as pipelined publish commands with per-channel sequence numbers.
#[derive(Debug)]
pub struct Publisher {
    command: &'static [u8],
    /// By contract id, by channel req (trade, quote, OHLC, open interest).
    channels: Vec<[Option<Channel>; 4]>,
    /// The node of each hash slot (empty: everything goes to node 0).
    slot_nodes: Vec<u16>,
    outputs: Vec<NodeOutput>,
    scratch: Vec<u8>,
    /// The whole-market channels some edge listens to, by security type and channel req.
    market: Vec<(SecType, usize, Channel)>,
    published: u64,
}

fn req_index(req: ReqType) -> usize {
    match req {
        ReqType::Trade | ReqType::FullTrades => 0,
        ReqType::Quote => 1,
        ReqType::Ohlc => 2,
        ReqType::OpenInterest | ReqType::FullOpenInterest => 3,
    }
}

impl Publisher {
    /// A publisher of `PUBLISH` commands, or with `sharded` of `SPUBLISH` (Redis Cluster's
    /// sharded Pub/Sub), all for node 0 until [`Publisher::set_slot_nodes`].
    pub fn new(sharded: bool) -> Self {
        Self {
            command: if sharded { b"SPUBLISH" } else { b"PUBLISH" },
            channels: Vec::new(),
            slot_nodes: Vec::new(),
            outputs: vec![NodeOutput::default()],
            scratch: Vec::with_capacity(512),
            market: Vec::new(),
            published: 0,
        }
    }

    /// Routes each hash slot to a node: `slot_nodes[slot]` is the node's index (16384 entries,
    /// or none for one node). Commands not yet taken stay where they are.
    pub fn set_slot_nodes(&mut self, slot_nodes: Vec<u16>) {
        let nodes = slot_nodes
            .iter()
            .copied()
            .max()
            .map_or(1, |n| n as usize + 1);
        if self.outputs.len() < nodes {
            self.outputs.resize_with(nodes, NodeOutput::default);
        }
        self.slot_nodes = if slot_nodes.len() == SLOTS {
            slot_nodes
        } else {
            Vec::new()
        };
    }

    /// Commands encoded so far: events, and their whole-market copies on a Cluster.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// The last sequence number of `req`'s channel on `contract` (0: nothing published).
    pub fn pseq(&self, contract: ContractId, req: ReqType) -> u64 {
        self.channels
            .get(contract as usize)
            .and_then(|c| c[req_index(req)].as_ref())
            .map_or(0, |c| c.pseq)
    }

    /// Appends one command per event of `events` (what the market made of a batch: the
    /// source's events and the session bars). Events that cannot be encoded are skipped; the
    /// fan-out reports them.
    pub fn add(&mut self, market: &Market, events: &[Outgoing]) {
        for event in events {
            let req = route_req(event.route);
            let id = event.contract as usize;
            if id >= self.channels.len() {
                self.channels.resize_with(id + 1, Default::default);
            }
            let slot = &mut self.channels[id][req_index(req)];
            if slot.is_none() {
                let Some(contract) = market.contract(event.contract) else {
                    continue;
                };
                let mut name = Vec::with_capacity(48);
                write_channel_name(&mut name, req, contract);
                *slot = Some(Channel::new(self.command, &name, contract.sec_type));
            }
            let channel = slot.as_mut().expect("set above");
            self.scratch.clear();
            let header = EventHeader {
                id: None,
                pseq: Some(channel.pseq + 1),
            };
            if market
                .encoder()
                .write_json(&mut self.scratch, event.contract, header, &event.body)
                .is_err()
            {
                continue;
            }
            channel.pseq += 1;
            let (sec, index) = (channel.sec, req_index(req));
            let (outputs, nodes, payload) = (&mut self.outputs, &self.slot_nodes, &self.scratch);
            write_command(outputs, nodes, channel.slot, &channel.prefix, payload);
            self.published += 1;
            if let Some((_, _, market)) = self
                .market
                .iter()
                .find(|(s, r, _)| (*s, *r) == (sec, index))
            {
                write_command(outputs, nodes, market.slot, &market.prefix, payload);
                self.published += 1;
            }
        }
    }

    /// Starts (`wanted`) or stops repeating events on the whole-market channel `name` (one of
    /// [`super::market_channels`]; see the module docs). Returns `false` for any other name.
    pub fn set_market_wanted(&mut self, name: &str, wanted: bool) -> bool {
        let Some((sec, req, _)) = market_channels().into_iter().find(|(_, _, n)| n == name) else {
            return false;
        };
        let index = req_index(req);
        self.market.retain(|(s, r, _)| (*s, *r) != (sec, index));
        if wanted {
            let channel = Channel::new(self.command, name.as_bytes(), sec);
            self.market.push((sec, index, channel));
        }
        true
    }

    /// Hands each node's commands (`deliver(node, bytes, commands)`) and empties them.
    pub fn take(&mut self, mut deliver: impl FnMut(usize, &[u8], u64)) {
        for (node, out) in self.outputs.iter_mut().enumerate() {
            if out.count > 0 {
                deliver(node, &out.bytes, out.count);
                out.bytes.clear();
                out.count = 0;
            }
        }
    }
}

/// Appends one command to the output of the node of `slot`: `prefix` (the command and its
/// channel) and `payload`.
fn write_command(
    outputs: &mut [NodeOutput],
    slot_nodes: &[u16],
    slot: u16,
    prefix: &[u8],
    payload: &[u8],
) {
    let node = slot_nodes.get(slot as usize).map_or(0, |&n| n as usize);
    let out = &mut outputs[node];
    out.bytes.extend_from_slice(prefix);
    let mut buf = itoa::Buffer::new();
    out.bytes.push(b'$');
    out.bytes
        .extend_from_slice(buf.format(payload.len()).as_bytes());
    out.bytes.extend_from_slice(b"\r\n");
    out.bytes.extend_from_slice(payload);
    out.bytes.extend_from_slice(b"\r\n");
    out.count += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bars::BarBook;
    use crate::contract::{ContractKey, Symbol};
    use crate::event::{EventBody, Quote, Trade};
    use crate::hub::{Event, Hub};

    fn quote(contract: ContractId) -> Event {
        Event {
            contract,
            body: EventBody::Quote(Quote {
                ms_of_day: 1,
                bid_size: 2,
                bid_exchange: 3,
                bid: 4.5,
                bid_condition: 0,
                ask_size: 6,
                ask_exchange: 7,
                ask: 8.5,
                ask_condition: 0,
                date: 20250321,
            }),
        }
    }

    #[test]
    fn market_channels_repeat_events_only_while_wanted() {
        let mut hub = Hub::new(true);
        let aapl = hub.add_contract(ContractKey::stock(Symbol::new("AAPL").unwrap()));
        hub.set_publisher(Some(Publisher::new(true)));
        let mut bars = BarBook::new(&[1000], 4).unwrap();
        let publisher = hub.publisher_mut().unwrap();
        assert!(!publisher.set_market_wanted("ff:STOCK:QUOTE:*", true));
        assert!(!publisher.set_market_wanted("ff:STOCK:QUOTE:AAPL", false));
        // Quotes have no whole-market stream: a quote is never repeated.
        assert!(publisher.set_market_wanted("ff:STOCK:OHLC:*", true));
        hub.publish(&mut bars, &[quote(aapl)]);
        let mut taken = Vec::new();
        let take = |hub: &mut Hub, taken: &mut Vec<String>| {
            hub.publisher_mut().unwrap().take(|_, bytes, _| {
                taken.push(String::from_utf8(bytes.to_vec()).unwrap());
            });
        };
        take(&mut hub, &mut taken);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].matches("SPUBLISH").count(), 1, "{}", taken[0]);
        let trade = Event {
            contract: aapl,
            body: EventBody::Trade(Trade {
                ms_of_day: 1,
                sequence: 2,
                size: 3,
                condition: 0,
                price: 4.5,
                exchange: 5,
                date: 20250321,
            }),
        };
        // Trades: repeated on ff:STOCK:TRADE:* once wanted, the same payload on both.
        hub.publish(&mut bars, &[trade]);
        hub.publisher_mut()
            .unwrap()
            .set_market_wanted("ff:STOCK:TRADE:*", true);
        hub.publish(&mut bars, &[trade]);
        hub.publisher_mut()
            .unwrap()
            .set_market_wanted("ff:STOCK:TRADE:*", false);
        hub.publish(&mut bars, &[trade]);
        taken.clear();
        take(&mut hub, &mut taken);
        let text = taken.concat();
        let commands: Vec<&str> = text.split("*3\r\n").filter(|c| !c.is_empty()).collect();
        let on = |channel: &str| {
            commands
                .iter()
                .filter(|c| c.contains(&format!("\r\n{channel}\r\n")))
                .map(|c| c.rsplit_once("\r\n$").map_or("", |(_, p)| p).to_owned())
                .collect::<Vec<_>>()
        };
        let own = on("ff:STOCK:TRADE:AAPL");
        let market = on("ff:STOCK:TRADE:*");
        assert_eq!(own.len(), 3, "{text:?}");
        assert_eq!(market, vec![own[1].clone()]);
        assert!(market[0].contains("\"pseq\":2"), "{}", market[0]);
        // Session bars follow each trade; their whole-market channel was wanted throughout.
        assert_eq!(on("ff:STOCK:OHLC:*").len(), on("ff:STOCK:OHLC:AAPL").len());
        assert_eq!(on("ff:STOCK:OHLC:AAPL").len(), 3);
    }

    #[test]
    fn each_event_is_one_command_with_its_channel_sequence() {
        let mut hub = Hub::new(true);
        let aapl = hub.add_contract(ContractKey::stock(Symbol::new("AAPL").unwrap()));
        let msft = hub.add_contract(ContractKey::stock(Symbol::new("MSFT").unwrap()));
        hub.set_publisher(Some(Publisher::new(false)));
        let mut bars = BarBook::new(&[1000], 4).unwrap();
        hub.publish(&mut bars, &[quote(aapl), quote(msft), quote(aapl)]);
        let mut taken = Vec::new();
        hub.publisher_mut()
            .unwrap()
            .take(|node, bytes, n| taken.push((node, bytes.to_vec(), n)));
        assert_eq!(taken.len(), 1);
        let (node, bytes, n) = &taken[0];
        assert_eq!((*node, *n), (0, 3));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("*3\r\n$7\r\nPUBLISH\r\n$19\r\nff:STOCK:QUOTE:AAPL\r\n$"),
            "{text}"
        );
        assert!(text.contains(r#"{"header":{"type":"QUOTE","status":"CONNECTED","pseq":2}"#));
        assert_eq!(text.matches("\"pseq\":1}").count(), 2);
        let publisher = hub.publisher_mut().unwrap();
        assert_eq!(publisher.pseq(aapl, ReqType::Quote), 2);
        assert_eq!(publisher.published(), 3);
        let mut again = 0;
        publisher.take(|_, _, _| again += 1);
        assert_eq!(again, 0);
    }

    #[test]
    fn cluster_commands_go_to_the_node_of_their_slot() {
        let mut hub = Hub::new(false);
        let aapl = hub.add_contract(ContractKey::stock(Symbol::new("AAPL").unwrap()));
        let mut publisher = Publisher::new(true);
        let slot = key_slot(b"ff:STOCK:QUOTE:AAPL") as usize;
        let mut nodes = vec![0u16; SLOTS];
        nodes[slot] = 2;
        publisher.set_slot_nodes(nodes);
        hub.set_publisher(Some(publisher));
        let mut bars = BarBook::new(&[1000], 4).unwrap();
        hub.publish(&mut bars, &[quote(aapl)]);
        let mut taken = Vec::new();
        hub.publisher_mut()
            .unwrap()
            .take(|node, bytes, _| taken.push((node, bytes.to_vec())));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0, 2);
        assert!(taken[0].1.starts_with(b"*3\r\n$8\r\nSPUBLISH\r\n"));
    }
}
