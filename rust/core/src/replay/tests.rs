//! Every rule of the replay reader, on real files in a temporary directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;

use super::*;
use crate::contract::{Right, SecType, Symbol};
use crate::event::{write_event_json, write_status_json, EventHeader, Quote, Stats, Trade};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn stock(symbol: &str) -> ContractKey {
    ContractKey::stock(Symbol::new(symbol).unwrap())
}

fn spy_call() -> ContractKey {
    ContractKey::option(Symbol::new("SPY").unwrap(), 20250321, 570000, Right::Call)
}

fn trade(date: u32, ms_of_day: u32, price: f64, sequence: i64) -> EventBody {
    EventBody::Trade(Trade {
        ms_of_day,
        sequence,
        size: 3,
        condition: 0,
        price,
        exchange: 5,
        date,
    })
}

/// One event as `record` writes it (compact §3.3 JSON).
fn line(contract: &ContractKey, body: &EventBody) -> Vec<u8> {
    let mut out = Vec::new();
    write_event_json(&mut out, EventHeader::default(), contract, body).unwrap();
    out
}

fn jsonl(events: &[(ContractKey, EventBody)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (c, b) in events {
        out.extend(line(c, b));
        out.push(b'\n');
    }
    out
}

fn status_line() -> Vec<u8> {
    let mut out = Vec::new();
    write_status_json(
        &mut out,
        EventHeader::default(),
        Stats {
            sent: 1,
            dropped: 0,
        },
    );
    out
}

/// Everything a reader hands out, in one list.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    time: i64,
    contract: ContractKey,
    body: EventBody,
    raw: Option<Vec<u8>>,
}

fn read_some(
    reader: &mut ReplayReader,
    max: usize,
    until: Option<i64>,
) -> Result<Vec<Got>, ReplayError> {
    let mut got = Vec::new();
    reader.read(max, until, |e| {
        got.push(Got {
            time: e.time,
            contract: *e.contract,
            body: e.body,
            raw: e.raw.map(<[u8]>::to_vec),
        });
    })?;
    Ok(got)
}

fn read_all(reader: &mut ReplayReader) -> Result<Vec<Got>, ReplayError> {
    let mut all = Vec::new();
    loop {
        let got = read_some(reader, 1000, None)?;
        if got.is_empty() {
            return Ok(all);
        }
        all.extend(got);
    }
}

fn open(paths: &[&Path]) -> Result<ReplayReader, ReplayError> {
    ReplayReader::open(
        paths.iter().map(|p| p.to_path_buf()).collect(),
        BadLinePolicy::Stop,
    )
}

fn open_skip(paths: &[&Path]) -> ReplayReader {
    ReplayReader::open(
        paths.iter().map(|p| p.to_path_buf()).collect(),
        BadLinePolicy::Skip,
    )
    .unwrap()
}

fn error(paths: &[&Path]) -> String {
    match open(paths) {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    }
}

fn sample() -> Vec<(ContractKey, EventBody)> {
    let quote = EventBody::Quote(Quote {
        ms_of_day: 34200001,
        bid_size: 10,
        bid_exchange: 1,
        bid: 4.1,
        bid_condition: 0,
        ask_size: 12,
        ask_exchange: 2,
        ask: 4.2,
        ask_condition: 0,
        date: 20250321,
    });
    vec![
        (spy_call(), trade(20250321, 34200000, 4.15, 1)),
        (spy_call(), quote),
        (stock("AAPL"), trade(20250321, 34200002, 227.5, 2)),
    ]
}

// --- market time --------------------------------------------------------------------------

#[test]
fn market_time_is_days_since_epoch_times_a_day_plus_ms() {
    assert_eq!(market_time(19700101, 0), 0);
    assert_eq!(market_time(19700102, 5), 86_400_005);
    assert_eq!(market_time(19691231, 0), -86_400_000);
    // 2025-03-21 is day 20168.
    assert_eq!(
        market_time(20250321, 34200000),
        20168 * 86_400_000 + 34200000
    );
    // Across a month, a year, a leap day: one day apart.
    for (a, b) in [
        (20250331, 20250401),
        (20241231, 20250101),
        (20240228, 20240229),
        (20240229, 20240301),
    ] {
        assert_eq!(market_time(b, 0) - market_time(a, 0), 86_400_000, "{a} {b}");
    }
}

proptest! {
    #[test]
    fn market_time_orders_as_date_then_ms(
        a in (1900u32..3000, 1u32..13, 1u32..29, 0u32..86_400_000),
        b in (1900u32..3000, 1u32..13, 1u32..29, 0u32..86_400_000),
    ) {
        let date = |(y, m, d, _): (u32, u32, u32, u32)| y * 10_000 + m * 100 + d;
        let (da, db) = (date(a), date(b));
        prop_assert_eq!(
            market_time(da, a.3).cmp(&market_time(db, b.3)),
            (da, a.3).cmp(&(db, b.3))
        );
    }

    #[test]
    fn market_time_never_panics(date: u32, ms: u32) {
        let _ = market_time(date, ms);
    }
}

// --- JSON Lines -----------------------------------------------------------------------------

#[test]
fn json_lines_read_back_event_for_event_and_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let path = write(dir.path(), "day.jsonl", &jsonl(&events));
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(reader.wait_total().unwrap(), 3);
    assert_eq!(reader.next_time(), Some(market_time(20250321, 34200000)));
    let got = read_all(&mut reader).unwrap();
    assert_eq!(got.len(), 3);
    for (g, (c, b)) in got.iter().zip(&events) {
        assert_eq!((&g.contract, &g.body), (c, b));
        assert_eq!(g.raw.as_deref(), Some(&line(c, b)[..]));
        assert_eq!(g.time, body_time(b));
    }
    assert!(reader.exhausted());
    assert_eq!(reader.next_time(), None);
    assert_eq!(reader.read_count(), 3);
}

#[test]
fn blank_status_and_ack_lines_are_passed_over_and_crlf_is_not_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let mut data = Vec::new();
    data.extend(status_line());
    data.extend(b"\n\n   \t\n");
    data.extend(line(&events[0].0, &events[0].1));
    data.extend(b"\r\n");
    data.extend(br#"{"header":{"type":"REQ_RESPONSE","response":"SUBSCRIBED","req_id":1}}"#);
    data.extend(b"\n  ");
    data.extend(line(&events[1].0, &events[1].1));
    data.extend(b"  "); // a last line without '\n'
    let path = write(dir.path(), "mixed.jsonl", &data);
    let mut reader = open(&[&path]).unwrap();
    // Lines are counted, not decoded: STATUS and the acknowledgement count.
    assert_eq!(reader.wait_total().unwrap(), 4);
    let got = read_all(&mut reader).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].raw.as_deref(),
        Some(&line(&events[0].0, &events[0].1)[..])
    );
    assert_eq!(
        got[1].raw.as_deref(),
        Some(&line(&events[1].0, &events[1].1)[..])
    );
}

#[test]
fn gzip_is_detected_by_magic_not_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let plain = jsonl(&events);
    let a = write(dir.path(), "a.jsonl.gz", &gzip(&plain));
    let b = write(dir.path(), "b.jsonl", &gzip(&plain)); // gzip without the extension
    let c = write(dir.path(), "c.gz", &plain); // plain with it
    for path in [&a, &b, &c] {
        let mut reader = open(&[path]).unwrap();
        let got = read_all(&mut reader).unwrap();
        assert_eq!(got.len(), 3, "{}", path.display());
        assert_eq!(
            got[2].raw.as_deref(),
            Some(&line(&events[2].0, &events[2].1)[..])
        );
    }
}

#[test]
fn multi_member_gzip_reads_as_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let mut data = Vec::new();
    for (c, b) in &events {
        let mut one = line(c, b);
        one.push(b'\n');
        data.extend(gzip(&one)); // one member per flush, as `record` may write
    }
    let path = write(dir.path(), "day.jsonl.gz", &data);
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(reader.wait_total().unwrap(), 3);
    let got = read_all(&mut reader).unwrap();
    let bodies: Vec<_> = got.iter().map(|g| g.body).collect();
    assert_eq!(bodies, events.iter().map(|e| e.1).collect::<Vec<_>>());
}

#[test]
fn lines_across_chunk_boundaries_and_many_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // ~3 MiB: several 1 MiB chunks, lines of varying length split anywhere.
    let mut events = Vec::new();
    for i in 0..12_000u32 {
        let symbol = ["A", "BRK.B", "ABCDEFGHIJKLMNOP"][(i % 3) as usize];
        events.push((
            stock(symbol),
            trade(20250321, i, f64::from(i) / 7.0, i64::from(i)),
        ));
    }
    let mut data = Vec::new();
    for (i, (c, b)) in events.iter().enumerate() {
        data.extend(line(c, b));
        // Pad some lines with spaces so lengths vary a lot.
        data.extend(std::iter::repeat_n(b' ', (i * 37) % 301));
        data.push(b'\n');
    }
    for (name, bytes) in [("big.jsonl", data.clone()), ("big.jsonl.gz", gzip(&data))] {
        let path = write(dir.path(), name, &bytes);
        let mut reader = open(&[&path]).unwrap();
        assert_eq!(reader.wait_total().unwrap(), 12_000);
        let got = read_all(&mut reader).unwrap();
        assert_eq!(got.len(), events.len());
        for (g, (c, b)) in got.iter().zip(&events) {
            assert_eq!((&g.contract, &g.body), (c, b));
            assert_eq!(g.raw.as_deref(), Some(&line(c, b)[..]));
        }
    }
}

#[test]
fn bad_json_lines_name_file_line_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let mut data = jsonl(&events[..2]);
    data.extend(b"\n"); // line 3: blank
    data.extend(
        br#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","symbol":"AAPL"},"trade":{"ms_of_day":1,"sequence":1,"size":1,"condition":0,"price":"x","exchange":1,"date":20250321}}"#,
    );
    data.extend(b"\n");
    data.extend(jsonl(&events[2..]));
    let path = write(dir.path(), "day.jsonl", &data);
    let mut reader = open(&[&path]).unwrap();
    let first = read_some(&mut reader, 10, None).unwrap();
    assert_eq!(first.len(), 2, "the events before the bad line come first");
    assert_eq!(reader.next_time(), None);
    assert!(!reader.exhausted());
    let expected = format!(
        "{}:4: trade.price: expected a number at byte 168",
        path.display()
    );
    assert_eq!(
        read_some(&mut reader, 10, None).unwrap_err().to_string(),
        expected
    );
    // It stays failed until a rewind.
    assert_eq!(
        read_some(&mut reader, 10, None).unwrap_err().to_string(),
        expected
    );
    reader.rewind().unwrap();
    assert_eq!(read_some(&mut reader, 10, None).unwrap().len(), 2);

    // Skipped: counted, kept, and the reading goes on.
    let mut reader = open_skip(&[&path]);
    assert_eq!(read_all(&mut reader).unwrap().len(), 3);
    assert_eq!(reader.skipped(), 1);
    let messages: Vec<String> = reader
        .take_skipped()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(messages, [expected]);
    assert!(reader.take_skipped().is_empty());
}

#[test]
fn a_bad_first_line_fails_the_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"not json\n".to_vec();
    data.extend(jsonl(&sample()));
    let path = write(dir.path(), "day.jsonl", &data);
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(
        read_some(&mut reader, 10, None).unwrap_err().to_string(),
        format!("{}:1: json: expected '{{' at byte 0", path.display())
    );
}

#[test]
fn invalid_utf8_and_overlong_lines_are_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample();
    let mut data = jsonl(&events[..1]);
    let mut bad = line(&events[1].0, &events[1].1);
    bad.splice(2..2, *b"\"x\":\"\xff\",");
    data.extend(bad);
    data.push(b'\n');
    data.push(b'{');
    data.extend(std::iter::repeat_n(b' ', MAX_LINE + 10));
    data.extend(b"}\n");
    data.extend(jsonl(&events[2..]));
    let path = write(dir.path(), "day.jsonl", &data);
    let mut reader = open_skip(&[&path]);
    assert_eq!(reader.wait_total().unwrap(), 4);
    assert_eq!(read_all(&mut reader).unwrap().len(), 2);
    let messages: Vec<String> = reader
        .take_skipped()
        .iter()
        .map(ToString::to_string)
        .collect();
    let p = path.display();
    assert_eq!(
        messages,
        [
            format!("{p}:2: json: invalid UTF-8 at byte 7"),
            format!("{p}:3: json: line longer than 65536 bytes"),
        ]
    );
}

#[test]
fn skipped_messages_are_bounded_to_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    for _ in 0..250 {
        data.extend(b"[]\n");
    }
    data.extend(jsonl(&sample()));
    let path = write(dir.path(), "day.jsonl", &data);
    let mut reader = open_skip(&[&path]);
    assert_eq!(read_all(&mut reader).unwrap().len(), 3);
    assert_eq!(reader.skipped(), 250);
    let kept = reader.take_skipped();
    assert_eq!(kept.len(), merge::KEPT_SKIPPED);
    assert_eq!(kept[0].line, 151);
    assert_eq!(kept[99].line, 250);
}

// --- CSV ------------------------------------------------------------------------------------

#[test]
fn csv_trades_with_defaults_options_and_any_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let csv =
        "\u{feff}symbol, price ,date,ms_of_day,size,sec_type,expiration,strike,right,sequence\n\
               AAPL,227.5,20250321,34200000,100,,,,,\n\
               \n\
               SPY,4.15,20250321,34200001,3,OPTION,20250321,570000,C,8812\n\
               SPX,5700.25,20250321,34200002,0,INDEX,,,,-1\n";
    let path = write(dir.path(), "trades.csv", csv.as_bytes());
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(reader.wait_total().unwrap(), 3);
    let got = read_all(&mut reader).unwrap();
    let expect = [
        (
            stock("AAPL"),
            EventBody::Trade(Trade {
                ms_of_day: 34200000,
                sequence: 0,
                size: 100,
                condition: 0,
                price: 227.5,
                exchange: 0,
                date: 20250321,
            }),
        ),
        (
            spy_call(),
            EventBody::Trade(Trade {
                ms_of_day: 34200001,
                sequence: 8812,
                size: 3,
                condition: 0,
                price: 4.15,
                exchange: 0,
                date: 20250321,
            }),
        ),
        (
            ContractKey::index(Symbol::new("SPX").unwrap()),
            EventBody::Trade(Trade {
                ms_of_day: 34200002,
                sequence: -1,
                size: 0,
                condition: 0,
                price: 5700.25,
                exchange: 0,
                date: 20250321,
            }),
        ),
    ];
    assert_eq!(got.len(), 3);
    for (g, (c, b)) in got.iter().zip(&expect) {
        assert_eq!((&g.contract, &g.body, &g.raw), (c, b, &None));
    }
    assert_eq!(got[1].contract.sec_type, SecType::Option);
}

#[test]
fn csv_quotes_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "date,ms_of_day,symbol,bid,ask,bid_size,ask_size,bid_exchange,ask_exchange,\
               bid_condition,ask_condition,sec_type,expiration,strike,right\r\n\
               20250321,34200000,SPY,4.1,4.2,10,12,1,2,3,4,OPTION,20250321,570000,C\r\n\
               20250321,34200001,AAPL,227.49,227.51,,,,,,,,,,\r\n";
    let expect = [
        (
            spy_call(),
            EventBody::Quote(Quote {
                ms_of_day: 34200000,
                bid_size: 10,
                bid_exchange: 1,
                bid: 4.1,
                bid_condition: 3,
                ask_size: 12,
                ask_exchange: 2,
                ask: 4.2,
                ask_condition: 4,
                date: 20250321,
            }),
        ),
        (
            stock("AAPL"),
            EventBody::Quote(Quote {
                ms_of_day: 34200001,
                bid_size: 0,
                bid_exchange: 0,
                bid: 227.49,
                bid_condition: 0,
                ask_size: 0,
                ask_exchange: 0,
                ask: 227.51,
                ask_condition: 0,
                date: 20250321,
            }),
        ),
    ];
    let plain = write(dir.path(), "quotes.csv", csv.as_bytes());
    let gz = write(dir.path(), "quotes.csv.gz", &gzip(csv.as_bytes()));
    for path in [&plain, &gz] {
        let mut reader = open(&[path]).unwrap();
        assert_eq!(reader.wait_total().unwrap(), 2);
        let got: Vec<_> = read_all(&mut reader)
            .unwrap()
            .into_iter()
            .map(|g| (g.contract, g.body))
            .collect();
        assert_eq!(got, expect);
    }
}

#[test]
fn csv_header_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "date,ms_of_day,symbol,px\n1,2,A,3\n",
            "CSV header lacks price, size (has date, ms_of_day, symbol, px)",
        ),
        (
            "date,ms_of_day,symbol,price,size,exchnge\n",
            "CSV header has unknown column exchnge (known: date, ms_of_day, symbol, price, \
             size, sec_type, expiration, strike, right, sequence, condition, exchange)",
        ),
        (
            "date,ms_of_day,symbol,bid,ask,price,size\n",
            "CSV header has unknown columns price, size (known: date, ms_of_day, symbol, bid, \
             ask, sec_type, expiration, strike, right, bid_size, ask_size, bid_exchange, \
             ask_exchange, bid_condition, ask_condition)",
        ),
        (
            "date,ms_of_day,symbol,bid\n",
            "CSV header lacks ask (has date, ms_of_day, symbol, bid)",
        ),
        (
            "date,date,symbol,price,size\n",
            "CSV header repeats column date",
        ),
    ];
    for (i, (csv, message)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("h{i}.csv"), csv.as_bytes());
        assert_eq!(
            error(&[&path]),
            format!("replay: {}: {message}", path.display())
        );
    }
    let long = format!("{}\n1\n", "x".repeat(MAX_LINE + 1));
    let path = write(dir.path(), "long.csv", long.as_bytes());
    assert_eq!(
        error(&[&path]),
        format!(
            "replay: {}: CSV header is longer than 65536 bytes",
            path.display()
        )
    );
}

#[test]
fn csv_row_errors_name_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let header = "date,ms_of_day,symbol,price,size,sec_type,expiration,strike,right,sequence";
    let rows = [
        ("x,1,A,1,1,,,,,", r#"date: expected an integer in 0..=4294967295, got "x""#),
        (",1,A,1,1,,,,,", "date: required"),
        ("20250321,1,A,1,5.0,,,,,", r#"size: expected an integer in 0..=4294967295, got "5.0""#),
        ("20250321,1,A,1,-1,,,,,", r#"size: expected an integer in 0..=4294967295, got "-1""#),
        ("20250321,1,A,nan,1,,,,,", r#"price: expected a finite number, got "nan""#),
        ("20250321,1,A,,1,,,,,", "price: required"),
        ("20250321,1,A,1,1,FUTURE,,,,", r#"sec_type: expected "STOCK", "OPTION" or "INDEX", got "FUTURE""#),
        ("20250321,1,,1,1,,,,,", "symbol: required"),
        ("20250321,1,aapl,1,1,,,,,", r#"symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "aapl""#),
        ("20250321,1,SPY,1,1,OPTION,20250230,570000,C,", "expiration: not a calendar date: 20250230"),
        ("20250321,1,SPY,1,1,OPTION,2025-03-21,570000,C,", r#"expiration: must be a YYYYMMDD integer, got "2025-03-21""#),
        ("20250321,1,SPY,1,1,OPTION,20250321,,C,", "strike: required"),
        ("20250321,1,SPY,1,1,OPTION,20250321,570.5,C,", r#"strike: must be a positive integer (thousandths of a dollar), got "570.5""#),
        ("20250321,1,SPY,1,1,OPTION,20250321,570000,X,", r#"right: expected one of C, P, got "X""#),
        ("20250321,1,SPY,1,1,STOCK,20250321,,,", "expiration: not allowed for STOCK (only an OPTION has expiration, strike, right)"),
        ("20250321,1,A,1,1,,,,,99999999999999999999", "sequence: expected an integer in -9223372036854775808..=9223372036854775807, got \"99999999999999999999\""),
        ("20250321,1,A,1", "csv: expected 10 fields (as the header), got 4"),
    ];
    let mut csv = format!("{header}\n");
    for (row, _) in &rows {
        csv.push_str(row);
        csv.push('\n');
    }
    csv.push_str("20250321,9,A,1,1,,,,,\n");
    let path = write(dir.path(), "rows.csv", csv.as_bytes());
    let mut reader = open_skip(&[&path]);
    assert_eq!(reader.wait_total().unwrap(), rows.len() as u64 + 1);
    assert_eq!(read_all(&mut reader).unwrap().len(), 1);
    let messages: Vec<String> = reader
        .take_skipped()
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, m))| format!("{}:{}: {m}", path.display(), i + 2))
        .collect();
    assert_eq!(messages, expected);
    // Under stop the first one ends the read.
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(
        read_some(&mut reader, 10, None).unwrap_err().to_string(),
        expected[0]
    );
}

// --- merge, until, max_events, rewind ------------------------------------------------------

fn at(symbol: &str, ms: u32, sequence: i64) -> (ContractKey, EventBody) {
    (stock(symbol), trade(20250321, ms, 1.0, sequence))
}

#[test]
fn files_merge_by_market_time_ties_to_the_earlier_file_and_each_file_keeps_its_order() {
    let dir = tempfile::tempdir().unwrap();
    // File a is out of order at 30 → 25: it is merged by its head, not sorted.
    let a = jsonl(&[
        at("A", 10, 1),
        at("A", 20, 2),
        at("A", 30, 3),
        at("A", 25, 4),
    ]);
    let b = "date,ms_of_day,symbol,price,size,sequence\n\
             20250321,5,B,1,3,1\n20250321,20,B,1,3,2\n20250321,20,B,1,3,3\n20250320,99,B,1,3,4\n\
             20250321,40,B,1,3,5\n";
    let pa = write(dir.path(), "a.jsonl", &a);
    let pb = write(dir.path(), "b.csv", b.as_bytes());
    let mut reader = open(&[&pa, &pb]).unwrap();
    assert_eq!(reader.wait_total().unwrap(), 9);
    let got: Vec<(String, i64)> = read_all(&mut reader)
        .unwrap()
        .iter()
        .map(|g| match g.body {
            EventBody::Trade(t) => (g.contract.symbol.to_string(), t.sequence),
            _ => unreachable!(),
        })
        .collect();
    let want = [
        ("B", 1),
        ("A", 1),
        ("A", 2), // tie at 20: the earlier file first
        ("B", 2),
        ("B", 3),
        ("B", 4), // an earlier date: its head comes before A's 30
        ("A", 3),
        ("A", 4),
        ("B", 5),
    ];
    let want: Vec<(String, i64)> = want.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect();
    assert_eq!(got, want);
}

#[test]
fn until_and_max_events_bound_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..10).map(|i| at("A", i * 10, i64::from(i))).collect();
    let path = write(dir.path(), "a.jsonl", &jsonl(&events));
    let mut reader = open(&[&path]).unwrap();
    let base = market_time(20250321, 0);
    assert_eq!(read_some(&mut reader, 3, None).unwrap().len(), 3);
    assert_eq!(reader.next_time(), Some(base + 30));
    assert!(read_some(&mut reader, 100, Some(base + 29))
        .unwrap()
        .is_empty());
    assert_eq!(
        read_some(&mut reader, 100, Some(base + 50)).unwrap().len(),
        3
    );
    assert_eq!(read_some(&mut reader, 0, None).unwrap().len(), 0);
    assert_eq!(
        read_some(&mut reader, 1, Some(base + 1000)).unwrap().len(),
        1
    );
    assert_eq!(reader.read_count(), 7);
    assert_eq!(read_all(&mut reader).unwrap().len(), 3);
    assert!(reader.exhausted());
    reader.rewind().unwrap();
    assert_eq!(reader.read_count(), 0);
    assert!(!reader.exhausted());
    let again = read_all(&mut reader).unwrap();
    assert_eq!(again.len(), 10);
    assert_eq!(
        again[0].raw.as_deref(),
        Some(&line(&events[0].0, &events[0].1)[..])
    );
}

#[test]
fn a_bad_line_under_stop_comes_after_every_event_before_it_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = jsonl(&[at("A", 10, 1), at("A", 50, 2)]);
    a.extend(b"{}\n"); // no header: an unknown object, passed over
    a.extend(b"{\"header\":{\"type\":\"TRADE\"}}\n");
    let b = jsonl(&[at("B", 20, 1), at("B", 60, 2)]);
    let pa = write(dir.path(), "a.jsonl", &a);
    let pb = write(dir.path(), "b.jsonl", &b);
    let mut reader = open(&[&pa, &pb]).unwrap();
    let got = read_some(&mut reader, 100, None).unwrap();
    // A's 50 is out; the bad line after it is raised before B's 60.
    let seqs: Vec<_> = got.iter().map(|g| g.contract.symbol.to_string()).collect();
    assert_eq!(seqs, ["A", "B", "A"]);
    assert_eq!(
        read_some(&mut reader, 100, None).unwrap_err().to_string(),
        format!("{}:4: contract: required object is missing", pa.display())
    );
}

// --- pre-scan -------------------------------------------------------------------------------

#[test]
fn prescan_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("nope.jsonl");
    assert_eq!(
        error(&[&missing]),
        format!("replay: no such file: {}", missing.display())
    );
    assert_eq!(
        error(&[d]),
        format!("replay: {} is a directory, not a file", d.display())
    );
    assert_eq!(
        ReplayReader::open(Vec::new(), BadLinePolicy::Stop)
            .err()
            .unwrap()
            .to_string(),
        "replay: no files given"
    );
    for (name, bytes) in [
        ("empty.jsonl", Vec::new()),
        ("blank.jsonl", b"\n  \n\n".to_vec()),
        (
            "status.jsonl",
            [status_line(), b"\n".to_vec(), status_line()].concat(),
        ),
        ("empty.jsonl.gz", gzip(b"")),
        ("empty.csv", Vec::new()),
        (
            "header.csv",
            b"date,ms_of_day,symbol,price,size\n\n".to_vec(),
        ),
    ] {
        let path = write(d, name, &bytes);
        assert_eq!(
            error(&[&path]),
            format!("replay: {} is empty (no events)", path.display()),
            "{name}"
        );
    }
    let full = gzip(&jsonl(&sample()));
    let truncated = write(d, "cut.jsonl.gz", &full[..full.len() - 6]);
    assert_eq!(
        error(&[&truncated]),
        format!(
            "replay: {}: truncated gzip (unexpected end of file)",
            truncated.display()
        )
    );
    let mut bad = full.clone();
    let n = bad.len();
    bad[n - 6] ^= 0xff; // the CRC
    let corrupt = write(d, "bad.jsonl.gz", &bad);
    assert_eq!(
        error(&[&corrupt]),
        format!(
            "replay: {}: invalid gzip (corrupt gzip stream does not have a matching checksum)",
            corrupt.display()
        )
    );
    // The first failing file in order is the one reported.
    let good = write(d, "good.jsonl", &jsonl(&sample()));
    assert_eq!(
        error(&[&good, &missing, &truncated]),
        format!("replay: no such file: {}", missing.display())
    );
}

#[test]
fn a_file_of_bad_lines_is_not_empty_its_first_read_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.jsonl", b"garbage\n");
    let mut reader = open(&[&path]).unwrap();
    assert_eq!(reader.wait_total().unwrap(), 1);
    assert_eq!(
        read_some(&mut reader, 10, None).unwrap_err().to_string(),
        format!("{}:1: json: expected '{{' at byte 0", path.display())
    );
}

#[test]
fn globs_expand_sorted_by_path_without_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["b.jsonl", "a.jsonl", "c.jsonl.gz"] {
        write(d, name, b"x");
    }
    std::fs::create_dir(d.join("d.jsonl")).unwrap();
    let pattern = format!("{}/*.jsonl*", d.display());
    let names: Vec<String> = expand(&pattern)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.jsonl", "b.jsonl", "c.jsonl.gz"]);
    let none = format!("{}/*.csv", d.display());
    assert_eq!(
        expand(&none).unwrap_err().to_string(),
        format!("replay: no file matches {none}")
    );
    assert_eq!(
        expand("[").unwrap_err().to_string(),
        "replay: bad glob pattern [: invalid range pattern"
    );
    // Not a pattern: the path as given (checked by the pre-scan).
    assert_eq!(expand("x/y.jsonl").unwrap(), [PathBuf::from("x/y.jsonl")]);
}

#[test]
fn rewind_after_a_file_vanished_fails_and_stays_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", &jsonl(&sample()));
    let mut reader = open(&[&path]).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        read_all(&mut reader).unwrap().len(),
        3,
        "the open file reads on"
    );
    let expected = format!("replay: no such file: {}", path.display());
    assert_eq!(reader.rewind().unwrap_err().to_string(), expected);
    assert_eq!(
        read_some(&mut reader, 1, None).unwrap_err().to_string(),
        expected
    );
    assert!(!reader.exhausted());
}

// --- no input makes it panic ------------------------------------------------------------

fn read_everything(path: &Path, policy: BadLinePolicy) {
    if let Ok(mut reader) = ReplayReader::open(vec![path.to_path_buf()], policy) {
        let _ = reader.next_time();
        while let Ok(n) = reader.read(7, None, |e| {
            let _ = e.raw.map(<[u8]>::len);
        }) {
            if n == 0 {
                break;
            }
        }
        let _ = reader.take_skipped();
        let _ = reader.rewind();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        csv in any::<bool>(),
        compress in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = if compress { gzip(&bytes) } else { bytes };
        let path = write(dir.path(), if csv { "x.csv" } else { "x.jsonl" }, &bytes);
        read_everything(&path, BadLinePolicy::Skip);
        read_everything(&path, BadLinePolicy::Stop);
    }

    #[test]
    fn mangled_valid_files_never_panic(
        cut in 0usize..2000,
        flip in proptest::collection::vec((0usize..2000, any::<u8>()), 0..8),
        csv in any::<bool>(),
        compress in any::<bool>(),
    ) {
        let mut bytes = if csv {
            b"date,ms_of_day,symbol,price,size,sec_type,expiration,strike,right\n\
              20250321,1,SPY,4.15,3,OPTION,20250321,570000,C\n20250321,2,AAPL,1,1,,,,\n"
                .to_vec()
        } else {
            jsonl(&sample())
        };
        if compress {
            bytes = gzip(&bytes);
        }
        for (at, b) in flip {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        bytes.truncate(cut.max(1));
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), if csv { "x.csv.gz" } else { "x.jsonl" }, &bytes);
        read_everything(&path, BadLinePolicy::Skip);
        read_everything(&path, BadLinePolicy::Stop);
    }
}

// --- large CSV files, read by threads ----------------------------------------------------------

/// A CSV file of several chunks with bad rows here and there: read by threads (plain) and
/// alone (the same bytes gzipped), both policies give the same events, messages and errors,
/// and a rewind (mid-file) reads the same again.
#[test]
fn a_large_csv_file_reads_the_same_by_threads_as_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut text =
        String::from("date,ms_of_day,symbol,price,size,sec_type,expiration,strike,right\n");
    let (mut n, mut bad) = (0u32, 0u64);
    while text.len() < (super::csv_parallel::PARALLEL_FROM + (3 << 20)) as usize {
        n += 1;
        let row = match n % 10_007 {
            17 => {
                bad += 1;
                "20250321,1,AAPL,oops,1,,,,".to_string()
            }
            18 => String::new(),
            19 => format!("20250321,{n},\"NEW{}\",1.5,2,,,,", n % 7),
            _ if n % 3 == 0 => format!(
                "20250321,{n},SPY,{}.{:02},{},OPTION,20250321,{},C",
                n % 500,
                n % 100,
                n % 90,
                500_000 + 5_000 * (n % 9)
            ),
            _ => format!("20250321,{n},S{},{}.25,{},,,,", n % 50, n % 700, n % 300),
        };
        text.push_str(&row);
        text.push(if n % 5 == 0 { '\r' } else { ' ' });
        text.push('\n');
    }
    let plain = write(dir.path(), "big.csv", text.as_bytes());
    let zipped = write(dir.path(), "big.csv.gz", &gzip(text.as_bytes()));
    let skip = |path: &Path| {
        let mut reader = open_skip(&[path]);
        let got = read_all(&mut reader).unwrap();
        let skipped: Vec<String> = reader
            .take_skipped()
            .iter()
            .map(|b| b.to_string().replace(".csv.gz", ".csv"))
            .collect();
        (got, reader.skipped(), skipped)
    };
    let (threads, alone) = (skip(&plain), skip(&zipped));
    assert!(threads.0.len() > 100_000);
    assert_eq!(threads.1, bad);
    assert!(threads == alone, "skip policy");
    let stop = |path: &Path| {
        let mut reader = open(&[path]).unwrap();
        let mut got = Vec::new();
        let error = loop {
            match read_some(&mut reader, 3000, None) {
                Ok(some) => got.extend(some),
                Err(e) => break e.to_string().replace(".csv.gz", ".csv"),
            }
        };
        (got, error)
    };
    let (threads, alone) = (stop(&plain), stop(&zipped));
    assert_eq!(
        threads.1,
        format!(
            "{}:18: price: expected a finite number, got \"oops\"",
            plain.display()
        )
    );
    assert!(threads == alone, "stop policy");
    let mut reader = open_skip(&[&plain]);
    let first = read_some(&mut reader, 50_000, None).unwrap();
    reader.rewind().unwrap();
    let again = read_all(&mut reader).unwrap();
    assert_eq!(first[..], again[..first.len()]);
    assert_eq!(again, skip(&plain).0);
}
