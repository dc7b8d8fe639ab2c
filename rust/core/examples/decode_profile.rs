//! Decodes 200,000 pre-framed option TRADE events in 64 KiB reads, repeatedly, and prints the
//! rate: a driver for profilers (`perf record`, `valgrind --tool=callgrind`).
//!
//!     cargo run --release -p fastfeed-core --example decode_profile [ROUNDS]

use std::time::Instant;

use fastfeed_core::contract::{ContractKey, Right, Symbol};
use fastfeed_core::event::{EventBody, EventDecoder, EventEncoder, EventHeader, Trade};

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(20, |r| r.parse().unwrap());
    let mut encoder = EventEncoder::new();
    let spy = Symbol::new("SPY").unwrap();
    let ids: Vec<u32> = (0..20)
        .map(|i| {
            let right = if i % 2 == 0 { Right::Call } else { Right::Put };
            encoder.add_contract(ContractKey::option(
                spy,
                20250321,
                550_000 + 5_000 * (i / 2),
                right,
            ))
        })
        .collect();
    let mut wire = Vec::new();
    let n = 200_000_u32;
    let mut state = 12345_u64;
    for i in 0..n {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (state >> 33) as u32;
        let body = EventBody::Trade(Trade {
            ms_of_day: 34_200_000 + i * 100,
            sequence: i64::from(i) + 1_000_000,
            size: 1 + r % 500,
            condition: r % 130,
            price: f64::from(5 + r % 6000) / 100.0,
            exchange: 1 + r % 69,
            date: 20250321,
        });
        encoder
            .write_frame(
                &mut wire,
                ids[(r % 20) as usize],
                EventHeader::default(),
                &body,
            )
            .unwrap();
    }
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let mut decoder = EventDecoder::new();
        let start = Instant::now();
        let mut decoded = 0;
        for chunk in wire.chunks(64 << 10) {
            decoded += decoder.feed(chunk).trades.len();
        }
        assert_eq!(decoded, n as usize);
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{:.2} M msgs/s, {:.0} ns/msg, {:.2} GB/s ({} bytes/msg)",
        f64::from(n) / best / 1e6,
        best * 1e9 / f64::from(n),
        wire.len() as f64 / best / 1e9,
        wire.len() / n as usize
    );
}
