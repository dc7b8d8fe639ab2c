//! A replay file of CSV rows (header first; plain, or gzip when it starts with the gzip magic)
//! through `ReplayReader`, under both bad-line policies; a rewind reads the same again.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fastfeed_fuzz::replay("input.csv", data));
