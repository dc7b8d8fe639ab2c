"""The replay file reader (``fastfeed._core.ReplayReader``, SPEC §5) on real files: what
``record`` writes reads back event for event and byte for byte through a hub; gzip (one or
many members); CSV trades and quotes; globs merged in time order; ``until``/``max_events``;
``stop``/``skip``; every pre-scan error with its exact message; rewind; bounded memory."""

from __future__ import annotations

import datetime
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastfeed import ConfigError, EventEncoder, FastfeedError, ReplayError, WSFrameDecoder
from fastfeed._core import BarBook, Hub, ReplayReader, SourceBatch, parse_stream_command

DATE = 20250321
OPEN = 34_200_000  # 09:30
CONTRACTS: list[tuple[str, str, int | None, int | None, str | None]] = [
    ("OPTION", "SPY", 20250321, 570000, "C"),
    ("OPTION", "SPY", 20250321, 575000, "P"),
    ("STOCK", "AAPL", None, None, None),
    ("INDEX", "SPX", None, None, None),
]
STREAMS = [
    "option.SPY.20250321.570000.C@trade",
    "option.SPY.20250321.570000.C@quote",
    "option.SPY.20250321.575000.P@trade",
    "option.SPY.20250321.575000.P@quote",
    "stock.AAPL@trade",
    "stock.AAPL@quote",
    "index.SPX@trade",
]


def market_time(date: int, ms_of_day: int) -> int:
    """The reader's market time: days since 1970-01-01 x 86,400,000 + ms_of_day."""
    day = datetime.date(date // 10_000, date // 100 % 100, date % 100)
    return (day - datetime.date(1970, 1, 1)).days * 86_400_000 + ms_of_day


def record_lines(n: int, seed: int = 1, start_ms: int = OPEN, longest_run: int = 6) -> bytes:
    """``n`` events as ``record`` writes them (the Rust ``EventEncoder``, ``framing="jsonl"``):
    runs of trades and quotes over the contracts above, one per ms from ``start_ms``."""
    rng = np.random.default_rng(seed)
    enc = EventEncoder()
    ids = [enc.add_contract(*c) for c in CONTRACTS]
    out = []
    ms = start_ms
    done = 0
    while done < n:
        k = min(n - done, int(rng.integers(1, longest_run + 1)))
        contract = np.array([ids[int(i)] for i in rng.integers(0, len(ids), k)], np.uint32)
        times = np.arange(ms, ms + k, dtype=np.uint32)
        ms += k
        dates = np.full(k, DATE, np.uint32)
        small = rng.integers(0, 100, k).astype(np.uint32)
        price = rng.integers(1, 60_000, k) / 100.0
        if rng.random() < 0.5:
            out.append(
                enc.encode_trades(
                    contract,
                    times,
                    np.arange(done, done + k, dtype=np.int64),
                    small,
                    small,
                    price,
                    small,
                    dates,
                    framing="jsonl",
                )
            )
        else:
            # Quotes of the index contract do not exist: use AAPL's id instead.
            contract[contract == ids[3]] = ids[2]
            out.append(
                enc.encode_quotes(
                    contract,
                    times,
                    small,
                    small,
                    price,
                    small,
                    small,
                    small,
                    price + 0.01,
                    small,
                    dates,
                    framing="jsonl",
                )
            )
        done += k
    return b"".join(out)


def new_hub() -> Hub:
    return Hub(BarBook([1000], 1), ohlcvc=False)


def subscribed_hub() -> tuple[Hub, int]:
    hub = new_hub()
    subscriber = hub.add_subscriber("events")
    request = parse_stream_command(json.dumps({"method": "SUBSCRIBE", "params": STREAMS, "id": 1}))
    hub.subscribe(subscriber, request, len(STREAMS))
    return hub, subscriber


def published(hub: Hub, batch: SourceBatch) -> list[bytes]:
    """The payloads of the frames the hub writes for the batch."""
    decoder = WSFrameDecoder("client", max_message_size=1 << 20)
    payloads: list[bytes] = []
    for _subscribers, frames, _count in hub.publish(batch):
        payloads += [payload for opcode, payload in decoder.feed(frames) if opcode == 1]
    return payloads


def read_all(reader: ReplayReader, hub: Hub, max_events: int = 1000) -> list[bytes]:
    """Everything the reader hands out, published through the hub."""
    out: list[bytes] = []
    while not reader.exhausted:
        out += published(hub, reader.read(hub, max_events))
    return out


def events(payloads: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in payloads]


# --- JSON Lines ---------------------------------------------------------------------------


def test_recorded_lines_read_back_event_for_event_and_byte_for_byte(tmp_path: Path) -> None:
    data = record_lines(500)
    path = tmp_path / "day.jsonl"
    path.write_bytes(data)
    assert ReplayReader(path).files == [str(path)]  # an os.PathLike is one path
    reader = ReplayReader(str(path))
    assert reader.files == [str(path)]
    assert reader.total in (None, 500)  # a plain file's lines are counted beside the reading
    assert reader.wait_total() == 500
    assert reader.total == 500
    assert reader.next_time == market_time(DATE, OPEN)
    hub, _ = subscribed_hub()
    payloads = read_all(reader, hub, max_events=64)
    assert payloads == data.splitlines()
    assert reader.read_count == 500
    assert reader.exhausted
    assert reader.next_time is None
    assert len(reader.read(hub, 10)) == 0
    # Contracts were registered with the hub, once each.
    assert hub.contract_count == len(CONTRACTS)


def test_gzip_one_member_and_many(tmp_path: Path) -> None:
    data = record_lines(300, seed=2)
    lines = data.splitlines(keepends=True)
    one = tmp_path / "one.jsonl.gz"
    with gzip.open(one, "wb") as f:  # as `record --out FILE.jsonl.gz` writes it
        f.write(data)
    many = tmp_path / "many.jsonl.gz"
    many.write_bytes(b"".join(gzip.compress(b"".join(lines[i : i + 7])) for i in range(0, 300, 7)))
    renamed = tmp_path / "gzip-without-the-extension.jsonl"
    renamed.write_bytes(one.read_bytes())
    for path in (one, many, renamed):
        hub, _ = subscribed_hub()
        reader = ReplayReader(str(path))
        assert reader.wait_total() == 300
        assert read_all(reader, hub) == data.splitlines(), path.name


def test_status_blank_and_crlf_lines(tmp_path: Path) -> None:
    data = record_lines(3, seed=3).splitlines()
    status = b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(status + b"\n\n" + data[0] + b"\r\n   \n" + data[1] + b"\n" + data[2])
    reader = ReplayReader(str(path))
    assert reader.wait_total() == 4  # lines, not events: the STATUS line counts
    hub, _ = subscribed_hub()
    assert read_all(reader, hub) == data


# --- CSV ----------------------------------------------------------------------------------


def test_csv_trades_including_options_any_column_order(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(
        "symbol,price,size,date,ms_of_day,sec_type,expiration,strike,right,exchange\n"
        "AAPL,227.5,100,20250321,34200000,,,,,4\n"
        "SPY,4.15,3,20250321,34200001,OPTION,20250321,570000,C,\n"
        "SPX,5700.25,1,20250321,34200002,INDEX,,,,\n"
    )
    reader = ReplayReader(str(path))
    assert reader.wait_total() == 3
    hub, _ = subscribed_hub()
    got = events(read_all(reader, hub))
    assert [e["contract"] for e in got] == [
        {"security_type": "STOCK", "symbol": "AAPL"},
        {
            "security_type": "OPTION",
            "symbol": "SPY",
            "expiration": 20250321,
            "strike": 570000,
            "right": "C",
        },
        {"security_type": "INDEX", "symbol": "SPX"},
    ]
    assert got[0]["trade"] == {
        "ms_of_day": 34200000,
        "sequence": 0,
        "size": 100,
        "condition": 0,
        "price": 227.5,
        "exchange": 4,
        "date": 20250321,
    }
    assert [e["trade"]["price"] for e in got] == [227.5, 4.15, 5700.25]


def test_csv_quotes_plain_and_gzip(tmp_path: Path) -> None:
    text = (
        "date,ms_of_day,symbol,bid,ask,bid_size,ask_size,sec_type,expiration,strike,right\n"
        "20250321,34200000,SPY,4.1,4.2,10,12,OPTION,20250321,575000,P\n"
        "20250321,34200001,AAPL,227.49,227.51,,,,,,\n"
    )
    plain = tmp_path / "quotes.csv"
    plain.write_text(text)
    packed = tmp_path / "quotes.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        hub, _ = subscribed_hub()
        got = events(read_all(ReplayReader(str(path)), hub))
        assert [e["header"]["type"] for e in got] == ["QUOTE", "QUOTE"]
        assert got[0]["quote"] == {
            "ms_of_day": 34200000,
            "bid_size": 10,
            "bid_exchange": 0,
            "bid": 4.1,
            "bid_condition": 0,
            "ask_size": 12,
            "ask_exchange": 0,
            "ask": 4.2,
            "ask_condition": 0,
            "date": 20250321,
        }
        assert got[0]["contract"]["right"] == "P"
        assert got[1]["contract"] == {"security_type": "STOCK", "symbol": "AAPL"}


# --- merge, until, max_events -----------------------------------------------------------


def test_a_glob_of_two_files_merges_in_time_order_ties_to_the_earlier_file(
    tmp_path: Path,
) -> None:
    enc = EventEncoder()
    aapl = enc.add_contract("STOCK", "AAPL")

    def trades(ms: list[int], seq: int) -> bytes:
        n = len(ms)
        return enc.encode_trades(
            np.full(n, aapl, np.uint32),
            np.array(ms, np.uint32),
            np.arange(seq, seq + n, dtype=np.int64),
            np.ones(n, np.uint32),
            np.zeros(n, np.uint32),
            np.ones(n),
            np.zeros(n, np.uint32),
            np.full(n, DATE, np.uint32),
            framing="jsonl",
        )

    (tmp_path / "a.jsonl").write_bytes(trades([10, 20, 30], 100))
    (tmp_path / "b.csv").write_text(
        "date,ms_of_day,symbol,price,size,sequence\n"
        "20250321,5,AAPL,1,1,200\n20250321,20,AAPL,1,1,201\n20250321,25,AAPL,1,1,202\n"
    )
    reader = ReplayReader(str(tmp_path / "*"))
    assert reader.files == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv")]
    assert reader.wait_total() == 6
    hub, _ = subscribed_hub()
    seqs = [e["trade"]["sequence"] for e in events(read_all(reader, hub))]
    assert seqs == [200, 100, 101, 201, 202, 102]  # the tie at 20: a.jsonl first
    # A list keeps its order: b first now wins the tie (paths may be os.PathLike).
    reader = ReplayReader([tmp_path / "b.csv", str(tmp_path / "a.jsonl")])
    hub, _ = subscribed_hub()
    seqs = [e["trade"]["sequence"] for e in events(read_all(reader, hub))]
    assert seqs == [200, 100, 201, 101, 202, 102]


def test_until_and_max_events(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    path.write_bytes(record_lines(50, seed=4))  # one event per ms from OPEN
    reader = ReplayReader(str(path))
    hub = new_hub()
    base = market_time(DATE, OPEN)
    assert len(reader.read(hub, 10)) == 10
    assert reader.next_time == base + 10
    assert len(reader.read(hub, 100, until=base + 9)) == 0
    assert len(reader.read(hub, 100, until=base + 24)) == 15
    assert len(reader.read(hub, 3, until=base + 1000)) == 3
    assert len(reader.read(hub, 0)) == 0
    assert reader.read_count == 28
    assert len(reader.read(hub, 1000)) == 22
    assert reader.exhausted


# --- bad lines ----------------------------------------------------------------------------


def bad_file(tmp_path: Path) -> tuple[Path, list[bytes], str]:
    good = record_lines(6, seed=5).splitlines()
    bad = good[2].replace(b'"date":20250321', b'"date":"x"')
    at = bad.index(b'"x"')
    kind = "trade" if b'"trade"' in bad else "quote"
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join([*good[:2], b"", bad, *good[3:]]) + b"\n")
    return path, good, f"{path}:4: {kind}.date: expected an integer in 0..=4294967295 at byte {at}"


def test_stop_returns_the_events_before_a_bad_line_then_raises(tmp_path: Path) -> None:
    path, good, message = bad_file(tmp_path)
    reader = ReplayReader(str(path))  # on_bad_line="stop" is the default
    hub, _ = subscribed_hub()
    assert published(hub, reader.read(hub, 100)) == good[:2]
    assert reader.next_time is None
    assert not reader.exhausted
    for _ in range(2):  # and again, until a rewind
        with pytest.raises(ReplayError) as raised:
            reader.read(hub, 100)
        assert str(raised.value) == message
    reader.rewind()
    assert published(hub, reader.read(hub, 100)) == good[:2]


def test_skip_counts_and_keeps_the_messages(tmp_path: Path) -> None:
    path, good, message = bad_file(tmp_path)
    reader = ReplayReader(str(path), on_bad_line="skip")
    hub, _ = subscribed_hub()
    assert read_all(reader, hub) == [*good[:2], *good[3:]]
    assert reader.skipped == 1
    assert reader.take_skipped_messages() == [message]
    assert reader.take_skipped_messages() == []
    assert reader.read_count == 5


def test_csv_bad_rows_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "date,ms_of_day,symbol,price,size,sec_type,expiration,strike,right\n"
        "20250321,1,AAPL,1.5,abc,,,,\n"
        "20250321,2,SPY,1.5,1,OPTION,20250230,570000,C\n"
        "20250321,3,AAPL,1.5,1,,,,\n"
    )
    reader = ReplayReader(str(path), on_bad_line="skip")
    assert len(reader.read(new_hub(), 10)) == 1
    assert reader.take_skipped_messages() == [
        f'{path}:2: size: expected an integer in 0..=4294967295, got "abc"',
        f"{path}:3: expiration: not a calendar date: 20250230",
    ]
    with pytest.raises(ReplayError, match=r"t\.csv:2: size: expected an integer"):
        ReplayReader(str(path)).read(new_hub(), 10)


# --- pre-scan errors ----------------------------------------------------------------------


def prescan_error(spec: str | list[str]) -> str:
    with pytest.raises(ReplayError) as raised:
        ReplayReader(spec)
    assert isinstance(raised.value, FastfeedError)
    return str(raised.value)


def test_every_prescan_error_has_its_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert prescan_error(str(missing)) == f"replay: no such file: {missing}"
    pattern = str(tmp_path / "*.jsonl")
    assert prescan_error(pattern) == f"replay: no file matches {pattern}"
    assert prescan_error([]) == "replay: no files given"
    assert prescan_error(str(tmp_path)) == f"replay: {tmp_path} is a directory, not a file"

    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert prescan_error(str(empty)) == f"replay: {empty} is empty (no events)"
    status = tmp_path / "status.jsonl"
    status.write_bytes(
        b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":0,"dropped":0}}\n\n'
    )
    assert prescan_error(str(status)) == f"replay: {status} is empty (no events)"
    header_only = tmp_path / "header.csv"
    header_only.write_text("date,ms_of_day,symbol,price,size\n")
    assert prescan_error(str(header_only)) == f"replay: {header_only} is empty (no events)"

    lacking = tmp_path / "lacking.csv"
    lacking.write_text("date,ms_of_day,symbol,px\n20250321,1,AAPL,1\n")
    assert prescan_error(str(lacking)) == (
        f"replay: {lacking}: CSV header lacks price, size (has date, ms_of_day, symbol, px)"
    )
    typo = tmp_path / "typo.csv"
    typo.write_text("date,ms_of_day,symbol,price,size,exchnage\n20250321,1,AAPL,1,1,4\n")
    assert prescan_error(str(typo)) == (
        f"replay: {typo}: CSV header has unknown column exchnage (known: date, ms_of_day, "
        "symbol, price, size, sec_type, expiration, strike, right, sequence, condition, exchange)"
    )
    twice = tmp_path / "twice.csv"
    twice.write_text("date,date,symbol,price,size\n")
    assert prescan_error(str(twice)) == f"replay: {twice}: CSV header repeats column date"

    whole = gzip.compress(record_lines(200, seed=6))
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert prescan_error(str(truncated)) == (
        f"replay: {truncated}: truncated gzip (incomplete deflate stream)"
    )
    corrupt = tmp_path / "bad.jsonl.gz"
    corrupt.write_bytes(whole[:-8] + bytes(b ^ 0xFF for b in whole[-8:-4]) + whole[-4:])
    assert prescan_error(str(corrupt)) == (
        f"replay: {corrupt}: invalid gzip (corrupt gzip stream does not have a matching checksum)"
    )
    # The first failing file of a list is the one reported.
    good = tmp_path / "good.jsonl"
    good.write_bytes(record_lines(5))
    assert prescan_error([str(good), str(empty), str(missing)]) == (
        f"replay: {empty} is empty (no events)"
    )


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match='on_bad_line: expected "stop" or "skip", got "drop"'):
        ReplayReader("x.jsonl", on_bad_line="drop")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ReplayReader(42)  # type: ignore[arg-type]


# --- rewind, memory -----------------------------------------------------------------------


def test_rewind_reads_the_same_events_again(tmp_path: Path) -> None:
    data = record_lines(120, seed=7)
    path = tmp_path / "day.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    reader = ReplayReader(str(path))
    hub, _ = subscribed_hub()
    first = read_all(reader, hub, max_events=50)
    assert reader.exhausted
    reader.rewind()
    assert reader.read_count == 0
    assert not reader.exhausted
    assert reader.next_time == market_time(DATE, OPEN)
    assert read_all(reader, hub, max_events=7) == first == data.splitlines()
    assert hub.contract_count == len(CONTRACTS)


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_reading_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    lines = 1_500_000
    with path.open("wb") as f:
        for i in range(0, lines, 100_000):
            f.write(record_lines(100_000, seed=i, start_ms=OPEN + i, longest_run=5000))
    assert path.stat().st_size > 300 << 20
    start = time.monotonic()
    reader = ReplayReader(str(path))
    assert reader.wait_total() == lines
    hub = new_hub()
    reader.read(hub, 8192)  # warm up: buffers, contracts
    before = rss()
    peak = before
    n = 8192
    while not reader.exhausted:
        n += len(reader.read(hub, 8192))
        peak = max(peak, rss())
    assert n == lines
    assert peak - before < 20 << 20, f"RSS grew by {(peak - before) >> 20} MiB"
    assert time.monotonic() - start < 60
