use fastfeed_core::contract::{ContractKey, Right, Symbol};
use fastfeed_core::event::*;
use std::time::Instant;
fn main() {
    let mut enc = EventEncoder::new();
    let mut ids = Vec::new();
    for i in 0..50u32 {
        ids.push(enc.add_contract(ContractKey::option(
            Symbol::new("SPY").unwrap(),
            20250321,
            500000 + i * 5000,
            if i % 2 == 0 { Right::Call } else { Right::Put },
        )));
    }
    let mut payloads = Vec::new();
    for i in 0..200_000u64 {
        let t = Trade {
            ms_of_day: 34200000 + (i as u32),
            sequence: i as i64,
            size: (i % 100) as u32 + 1,
            condition: (i % 7) as u32,
            price: (415 + i % 1000) as f64 / 100.0,
            exchange: (i % 20) as u32,
            date: 20250321,
        };
        let mut p = Vec::new();
        enc.write_json(
            &mut p,
            ids[(i % 50) as usize],
            EventHeader::default(),
            &EventBody::Trade(t),
        )
        .unwrap();
        payloads.push(p);
    }
    for _ in 0..std::env::var("ITER").map_or(1, |v| v.parse().unwrap()) {
        let mut d = BatchDecoder::new();
        let t0 = Instant::now();
        for p in &payloads {
            d.push_payload(p);
        }
        let b = d.take_batch();
        let dt = t0.elapsed().as_secs_f64();
        println!(
            "{} msgs {:.2} M/s errors {}",
            b.trades.len(),
            200_000.0 / dt / 1e6,
            b.errors.len()
        );
    }
}
