use super::*;
use proptest::prelude::*;

/// What a feed produced: objects as owned bytes, errors as messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Object(Vec<u8>),
    Error(String),
}

fn obj(s: &str) -> Item {
    Item::Object(s.as_bytes().to_vec())
}

fn feed_all(splitter: &mut JsonStreamSplitter, chunks: &[&[u8]]) -> Vec<Item> {
    let mut items = Vec::new();
    for chunk in chunks {
        splitter.feed(chunk, |r| {
            items.push(match r {
                Ok(bytes) => Item::Object(bytes.to_vec()),
                Err(e) => Item::Error(e.message()),
            });
        });
    }
    items
}

fn split(chunks: &[&[u8]]) -> Vec<Item> {
    feed_all(&mut JsonStreamSplitter::default(), chunks)
}

fn split_with_sizes(stream: &[u8], sizes: &[usize], max: usize) -> Vec<Item> {
    let mut splitter = JsonStreamSplitter::new(max);
    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (head, tail) = rest.split_at(n);
        chunks.push(head);
        rest = tail;
        i += 1;
    }
    feed_all(&mut splitter, &chunks)
}

/// A byte-at-a-time model of the documented behaviour, to check the windowed scanner against.
fn reference(stream: &[u8], max: usize) -> Vec<Item> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        let b = stream[i];
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
            continue;
        }
        if b != b'{' {
            items.push(Item::Error(
                SplitError {
                    kind: SplitErrorKind::UnexpectedByte { byte: b },
                    offset: i as u64,
                }
                .message(),
            ));
            match stream[i..].iter().position(|&c| c == b'{') {
                Some(k) => i += k,
                None => break,
            }
            continue;
        }
        let start = i;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut end = None;
        while i < stream.len() {
            let c = stream[i];
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = !in_string;
            } else if !in_string && (c == b'{' || c == b'[') {
                depth += 1;
            } else if !in_string && (c == b'}' || c == b']') {
                depth -= 1;
                if depth == 0 {
                    end = Some(i);
                    break;
                }
            }
            i += 1;
        }
        let too_large = SplitError {
            kind: SplitErrorKind::ObjectTooLarge { max },
            offset: start as u64,
        };
        match end {
            Some(e) => {
                if e + 1 - start > max {
                    items.push(Item::Error(too_large.message()));
                } else {
                    items.push(Item::Object(stream[start..=e].to_vec()));
                }
                i = e + 1;
            }
            None => {
                if stream.len() - start > max {
                    items.push(Item::Error(too_large.message()));
                }
            }
        }
    }
    items
}

#[test]
fn several_objects_in_one_chunk_with_and_without_newlines() {
    assert_eq!(
        split(&[b"{\"a\":1}\n{\"b\":2}{\"c\":3}\r\n \t{}"]),
        vec![
            obj(r#"{"a":1}"#),
            obj(r#"{"b":2}"#),
            obj(r#"{"c":3}"#),
            obj("{}")
        ]
    );
}

#[test]
fn one_object_over_many_one_byte_chunks() {
    let stream = br#"{"Symbol":"MSFT","Bid":"412.5","Tags":["x{","y]"]}"#;
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    let mut splitter = JsonStreamSplitter::default();
    let items = feed_all(&mut splitter, &chunks);
    assert_eq!(items, vec![Item::Object(stream.to_vec())]);
    assert_eq!(splitter.buffered(), 0);
    assert_eq!(splitter.offset(), stream.len() as u64);
}

#[test]
fn braces_and_escaped_quotes_inside_strings() {
    assert_eq!(split(&[br#"{"a":"}"}"#]), vec![obj(r#"{"a":"}"}"#)]);
    assert_eq!(
        split(&[br#"{"a":"\"}{"}{"b":"\\"}"#]),
        vec![obj(r#"{"a":"\"}{"}"#), obj(r#"{"b":"\\"}"#)]
    );
}

#[test]
fn double_backslash_split_after_the_first_backslash() {
    assert_eq!(
        split(&[br#"{"a":"\"#, br#"\"}{"b":1}"#]),
        vec![obj(r#"{"a":"\\"}"#), obj(r#"{"b":1}"#)]
    );
    // An escaped quote split between its backslash and the quote.
    assert_eq!(
        split(&[br#"{"a":"\"#, br#""}"}"#]),
        vec![obj(r#"{"a":"\"}"}"#)]
    );
}

#[test]
fn nested_objects_and_arrays() {
    let s = r#"{"a":{"b":[1,{"c":[[],{}]}]},"d":[]}"#;
    assert_eq!(split(&[s.as_bytes()]), vec![obj(s)]);
}

#[test]
fn utf8_character_split_across_chunks() {
    let s = "{\"n\":\"é€😀}\"}";
    let bytes = s.as_bytes();
    for cut in 1..bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(split(&[a, b]), vec![obj(s)], "cut at {cut}");
    }
}

#[test]
fn stray_bytes_are_reported_once_per_run_and_resynchronised() {
    assert_eq!(
        split(&[b"{\"a\":1}] ,x", b"yz {\"b\":2}[{\"c\":3}]"]),
        vec![
            obj(r#"{"a":1}"#),
            Item::Error(
                "unexpected byte 0x5d (']') between objects at stream offset 7; \
                 skipping to the next '{'"
                    .into()
            ),
            obj(r#"{"b":2}"#),
            Item::Error(
                "unexpected byte 0x5b ('[') between objects at stream offset 21; \
                 skipping to the next '{'"
                    .into()
            ),
            obj(r#"{"c":3}"#),
            Item::Error(
                "unexpected byte 0x5d (']') between objects at stream offset 29; \
                 skipping to the next '{'"
                    .into()
            ),
        ]
    );
    assert_eq!(
        split(&[b"\xff{}"]),
        vec![
            Item::Error(
                "unexpected byte 0xff between objects at stream offset 0; \
                 skipping to the next '{'"
                    .into()
            ),
            obj("{}"),
        ]
    );
}

#[test]
fn oversized_object_is_skipped_without_buffering() {
    let mut splitter = JsonStreamSplitter::new(64);
    let big = format!("{{\"x\":\"{}\",\"y\":[{{}}]}}", "}".repeat(1000));
    let mut stream = b"{\"a\":1}\n".to_vec();
    stream.extend_from_slice(big.as_bytes());
    stream.extend_from_slice(b"\n{\"b\":2}");
    let mut items = Vec::new();
    for chunk in stream.chunks(10) {
        items.extend(feed_all(&mut splitter, &[chunk]));
        assert!(splitter.buffered() <= 64);
    }
    assert_eq!(
        items,
        vec![
            obj(r#"{"a":1}"#),
            Item::Error("object exceeds max_object_size of 64 bytes at stream offset 8".into()),
            obj(r#"{"b":2}"#),
        ]
    );
    // In one chunk the same error, and nothing is copied.
    assert_eq!(split_with_sizes(&stream, &[stream.len()], 64), items);
}

#[test]
fn object_of_exactly_the_limit_is_kept() {
    let s = br#"{"a":"123"}"#;
    assert_eq!(
        split_with_sizes(s, &[3], s.len()),
        vec![Item::Object(s.to_vec())]
    );
    assert_eq!(
        split_with_sizes(s, &[3], s.len() - 1),
        vec![Item::Error(
            "object exceeds max_object_size of 10 bytes at stream offset 0".into()
        )]
    );
}

#[test]
fn stream_status_and_error_objects_pass_through() {
    let s = "{\"StreamStatus\":\"EndSnapshot\"}\n{\"StreamStatus\":\"GoAway\"}\n\
             {\"Error\":\"DualLogon\",\"Message\":\"x\"}\n";
    assert_eq!(
        split(&[s.as_bytes()]),
        vec![
            obj(r#"{"StreamStatus":"EndSnapshot"}"#),
            obj(r#"{"StreamStatus":"GoAway"}"#),
            obj(r#"{"Error":"DualLogon","Message":"x"}"#),
        ]
    );
}

#[test]
fn spans_borrow_in_chunk_objects_and_join_the_spanning_one() {
    let mut splitter = JsonStreamSplitter::default();
    splitter.feed_spans(b"{\"a\":", |_| panic!("nothing complete yet"));
    assert_eq!(splitter.buffered(), 5);
    let mut spans = Vec::new();
    splitter.feed_spans(b"1} {}", |r| {
        spans.push(match r {
            Ok(Span::InChunk(range)) => format!("chunk {range:?}"),
            Ok(Span::Joined(b)) => format!("joined {}", String::from_utf8_lossy(b)),
            Err(e) => e.message(),
        });
    });
    assert_eq!(spans, vec!["joined {\"a\":1}", "chunk 3..5"]);
    assert_eq!(splitter.buffered(), 0);
    assert_eq!(splitter.offset(), 10);
    splitter.reset();
    assert_eq!(splitter.offset(), 0);
}

#[test]
fn window_edges_with_long_strings_and_backslash_runs() {
    for pad in 0..140 {
        let s = format!(
            "{{\"k\":\"{}\\\\\\\"{{\",\"v\":[\"{}\"]}}",
            "a".repeat(pad),
            "\\\\".repeat(pad % 70)
        );
        let stream = format!("{s}{s}\n");
        assert_eq!(
            split(&[stream.as_bytes()]),
            vec![obj(&s), obj(&s)],
            "pad {pad}"
        );
    }
}

fn json_stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Fragments that stress strings, escapes, brackets, UTF-8 and stray bytes.
    let fragment = prop::sample::select(vec![
        "{", "}", "[", "]", "\"", "\\", "\\\"", "\\\\", ":", ",", "1", "ab", " ", "\n", "é", "€",
        "😀", "\\u00e9", "x",
    ]);
    prop::collection::vec(fragment, 0..200).prop_map(|parts| parts.concat().into_bytes())
}

fn valid_stream() -> impl Strategy<Value = Vec<u8>> {
    let string = prop::collection::vec(
        prop::sample::select(vec![
            "a", "{", "}", "[", "]", "\\\"", "\\\\", "é", "😀", "\\u20ac",
        ]),
        0..12,
    )
    .prop_map(|p| format!("\"{}\"", p.concat()));
    let leaf = prop_oneof![
        string.clone(),
        Just("12.5".to_string()),
        Just("null".to_string())
    ];
    let value = leaf.prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((string.clone(), inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    let object = prop::collection::vec(value, 0..4).prop_map(|v| {
        let fields: Vec<String> = v
            .into_iter()
            .enumerate()
            .map(|(i, v)| format!("\"k{i}\":{v}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    });
    let sep = prop::sample::select(vec!["", "\n", "\r\n", " "]);
    prop::collection::vec((object, sep), 0..8).prop_map(|v| {
        v.into_iter()
            .map(|(o, s)| o + s)
            .collect::<String>()
            .into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn portable_classifier_matches_the_dispatched_one(
        bytes in prop::collection::vec(
            prop::sample::select(b"\"\\{}[]{az \x00\xff\xfb\xfd\xdb\xdd".to_vec()),
            WINDOW,
        ),
    ) {
        let block: [u8; WINDOW] = bytes.try_into().expect("the strategy makes 64 bytes");
        let (fast, portable) = (classify(&block), classify_swar(&block));
        prop_assert_eq!(
            (fast.quote, fast.backslash, fast.open, fast.close),
            (portable.quote, portable.backslash, portable.open, portable.close)
        );
        for (i, &b) in block.iter().enumerate() {
            prop_assert_eq!(fast.open >> i & 1 == 1, b == b'{' || b == b'[');
            prop_assert_eq!(fast.close >> i & 1 == 1, b == b'}' || b == b']');
            prop_assert_eq!(fast.quote >> i & 1 == 1, b == b'"');
            prop_assert_eq!(fast.backslash >> i & 1 == 1, b == b'\\');
        }
    }

    #[test]
    fn any_bytes_match_the_reference_under_any_chunking(
        stream in json_stream_bytes(),
        sizes in prop::collection::vec(1usize..80, 1..8),
        max in prop::sample::select(vec![8usize, 40, 1 << 20]),
    ) {
        let expected = reference(&stream, max);
        prop_assert_eq!(split_with_sizes(&stream, &[stream.len().max(1)], max), expected.clone());
        prop_assert_eq!(split_with_sizes(&stream, &sizes, max), expected);
    }

    #[test]
    fn valid_streams_split_into_their_objects(
        stream in valid_stream(),
        sizes in prop::collection::vec(1usize..80, 1..8),
    ) {
        let one_shot = split(&[&stream]);
        for item in &one_shot {
            match item {
                Item::Object(bytes) => {
                    prop_assert!(serde_json::from_slice::<serde_json::Value>(bytes).is_ok());
                }
                Item::Error(e) => prop_assert!(false, "unexpected error {}", e),
            }
        }
        prop_assert_eq!(split_with_sizes(&stream, &sizes, 1 << 20), one_shot);
    }

    /// Stopping after any item and feeding the rest of the chunk again gives what one feed
    /// gives: the splitter is left exactly after the item.
    #[test]
    fn stopping_and_feeding_the_rest_again_changes_nothing(
        stream in json_stream_bytes(),
        stop_every in 1usize..4,
        max in prop::sample::select(vec![8usize, 40, 1 << 20]),
    ) {
        let expected = reference(&stream, max);
        let mut splitter = JsonStreamSplitter::new(max);
        let mut items = Vec::new();
        let mut rest: &[u8] = &stream;
        let mut seen = 0usize;
        while !rest.is_empty() {
            let consumed = splitter.feed_spans_until(rest, |item| {
                items.push(match item {
                    Ok(Span::InChunk(range)) => Item::Object(rest[range].to_vec()),
                    Ok(Span::Joined(bytes)) => Item::Object(bytes.to_vec()),
                    Err(e) => Item::Error(e.message()),
                });
                seen += 1;
                if seen % stop_every == 0 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            });
            rest = &rest[consumed..];
        }
        prop_assert_eq!(splitter.offset(), stream.len() as u64);
        prop_assert_eq!(items, expected);
    }
}

/// Release-mode throughput: `cargo test -p fastfeed-core --release -- --ignored throughput --nocapture`.
#[test]
#[ignore = "timing; run in release mode by hand"]
fn throughput() {
    let mut stream = Vec::new();
    let mut i = 0u64;
    while stream.len() < 50 << 20 {
        stream.extend_from_slice(
            format!(
                "{{\"Symbol\":\"SYM{}\",\"Ask\":\"{}.{:02}\",\"Bid\":\"{}.{:02}\",\
                 \"AskSize\":\"{}\",\"BidSize\":\"{}\",\"Last\":\"{}.5\",\"Volume\":\"{}\",\
                 \"TradeTime\":\"2024-03-01T14:30:{:02}Z\",\"Desc\":\"caf\u{e9} \\\"x\\\"\"}}\n",
                i % 500,
                100 + i % 50,
                i % 100,
                99 + i % 50,
                i % 97,
                i % 1000,
                i % 900,
                100 + i % 40,
                i * 7,
                i % 60
            )
            .as_bytes(),
        );
        i += 1;
    }
    let mut best = f64::MAX;
    let mut count = 0usize;
    for _ in 0..7 {
        let mut splitter = JsonStreamSplitter::default();
        let started = std::time::Instant::now();
        count = 0;
        for chunk in stream.chunks(64 << 10) {
            splitter.feed(chunk, |r| {
                if r.is_ok() {
                    count += 1;
                }
            });
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    assert_eq!(count as u64, i);
    println!(
        "{} objects, {:.1} MB, avg {} B: best {:.2} GB/s",
        i,
        stream.len() as f64 / 1e6,
        stream.len() as u64 / i,
        stream.len() as f64 / best / 1e9
    );
}
