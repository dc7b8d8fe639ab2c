//! Aggregates a tape like `benches/bench_bars.py`'s (50 contracts interleaved, time-ordered,
//! one trading day) into bars, repeatedly, and prints the rate: a driver for profilers.
//!
//!     cargo run --release -p fastfeed-core --example bars_profile [TRADES] [INTERVAL_MS] [ROUNDS]

use std::time::Instant;

use fastfeed_core::bars::aggregate_trade_columns;
use rand::{Rng, SeedableRng};

fn main() {
    let mut args = std::env::args().skip(1);
    let trades: usize = args.next().map_or(2_000_000, |a| a.parse().unwrap());
    let interval_ms: i64 = args.next().map_or(1000, |a| a.parse().unwrap());
    let rounds: usize = args.next().map_or(20, |a| a.parse().unwrap());
    let mut rng = rand_pcg::Pcg64::seed_from_u64(20250321);
    let mut ms: Vec<i32> = (0..trades)
        .map(|_| rng.random_range(34_200_000..57_600_000))
        .collect();
    ms.sort_unstable();
    let group: Vec<i64> = (0..trades).map(|_| rng.random_range(0..50)).collect();
    let mut walk = 0_i64;
    let price: Vec<f64> = group
        .iter()
        .map(|&g| {
            walk += rng.random_range(-3..4);
            100.0 + walk as f64 / 100.0 + g as f64
        })
        .collect();
    let size: Vec<i64> = (0..trades).map(|_| rng.random_range(0..501)).collect();
    let date = vec![20250321_i32; trades];
    let mut best = f64::INFINITY;
    let mut bars = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let out =
            aggregate_trade_columns(&date, &ms, &price, &size, Some(&group), interval_ms).unwrap();
        best = best.min(started.elapsed().as_secs_f64());
        bars = out.len();
    }
    println!(
        "{trades} trades, {interval_ms} ms bars: {bars} bars, best {:.2} ms, {:.1} M trades/s",
        best * 1e3,
        trades as f64 / best / 1e6
    );
}
