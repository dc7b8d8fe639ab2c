//! Reads replay files with the core reader and prints the pre-scan and read rates: a driver
//! for profilers (`perf record`) and for measuring the pre-scan on large files.
//!
//!     cargo run --release -p fastfeed-core --example replay_profile -- FILE... [--rounds N] [--scan-only]

use std::path::PathBuf;
use std::time::Instant;

use fastfeed_core::replay::{BadLinePolicy, ReplayReader};

fn main() {
    let mut files = Vec::new();
    let mut rounds = 3;
    let mut scan_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()).unwrap_or(3),
            "--scan-only" => scan_only = true,
            _ => files.push(PathBuf::from(arg)),
        }
    }
    for _ in 0..rounds {
        let start = Instant::now();
        let mut reader = match ReplayReader::open(files.clone(), BadLinePolicy::Stop) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let scan = start.elapsed().as_secs_f64();
        let total = reader.wait_total().unwrap_or(0);
        let counted = start.elapsed().as_secs_f64();
        println!(
            "pre-scan: checked in {scan:.3} s; {total} lines counted in {counted:.3} s ({:.1} M lines/s)",
            total as f64 / counted / 1e6
        );
        if scan_only {
            continue;
        }
        let start = Instant::now();
        let mut events = 0usize;
        let mut raw_bytes = 0usize;
        loop {
            match reader.read(65536, None, |e| raw_bytes += e.raw.map_or(0, <[u8]>::len)) {
                Ok(0) => break,
                Ok(n) => events += n,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        let read = start.elapsed().as_secs_f64();
        println!(
            "read: {events} events ({raw_bytes} bytes of JSON) in {read:.3} s ({:.2} M events/s)",
            events as f64 / read / 1e6
        );
    }
}
