"""The decisions behind ``tail``'s and ``record``'s output, with time passed in (no process,
no socket): rate-limited notices, the printed-line budget, quiet subscriptions, compact rows,
and the recording file that is whole after every write."""

from __future__ import annotations

import asyncio
import gzip
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from client_support import encode_trades
from fastfeed import (
    EventEncoder,
    Index,
    Ohlc,
    OpenInterest,
    Option,
    Quote,
    Stock,
    Trade,
    _record_writer,
)
from fastfeed._console import LineBudget, QuietWatch, human
from fastfeed._notices import NoticeLimiter
from fastfeed._record_writer import RecordingFile
from fastfeed.client import Subscription
from fastfeed.record import LineBuffer
from fastfeed.server import QueueSource
from fastfeed.tail import format_event, header, spread
from server_support import run, started, url
from test_client_cli import spawn, wait_subscribed


def test_notices_at_most_one_a_second_per_kind_with_the_rest_counted() -> None:
    limiter = NoticeLimiter(1.0)
    assert limiter.offer("gap", "gap: 5 lost", 0.0, lost=5) == "gap: 5 lost"
    assert limiter.offer("reconnected", "reconnected", 0.1) == "reconnected"  # another kind
    shown = [limiter.offer("gap", f"gap: {i}", 0.1 + i / 100, lost=10) for i in range(50)]
    assert shown == [None] * 50
    assert limiter.due(0.9) == []  # the second is not over
    assert limiter.due(1.0) == ["gap: 50 more in the last 1.0 s, 500 events lost"]
    # That line used the window: the next gap waits for the next one.
    assert limiter.offer("gap", "gap: late", 1.5) is None
    assert limiter.due(1.9) == []
    assert limiter.due(2.0) == ["gap: 1 more in the last 1.0 s"]
    assert limiter.due(5.0) == []
    assert limiter.offer("gap", "gap: quiet again", 5.0) == "gap: quiet again"
    assert limiter.offer("gap", "gap: x", 5.1) is None
    assert limiter.due(5.2, final=True) == ["gap: 1 more in the last 0.2 s"]
    assert limiter.suppressed == 52


def test_line_budget_spreads_lines_and_counts_nothing_when_unlimited() -> None:
    budget = LineBudget(50, now=0.0)
    assert budget.take(1000, 0.0) == 10  # a burst of a fifth of a second
    assert budget.take(1000, 0.0) == 0
    granted = sum(budget.take(1000, t / 100) for t in range(1, 101))
    assert 45 <= granted <= 55  # about 50 in the next second
    assert LineBudget(None, 0.0).take(12345, 0.0) == 12345


def test_spread_keeps_the_freshest_and_spaces_the_rest() -> None:
    assert spread(10, 20).tolist() == list(range(10))
    assert spread(10, 1).tolist() == [9]
    assert spread(10, 3).tolist() == [0, 4, 9] or spread(10, 3).tolist() == [0, 5, 9]
    assert spread(10, 0).tolist() == []


def test_quiet_subscription_warned_once_then_again_after_it_delivered() -> None:
    watch = QuietWatch(["a", "b"], now=0.0, after=5.0)
    watch.delivered("a", 3.0)
    assert watch.check(4.9) == []
    assert watch.check(5.0) == ["b"]
    assert watch.check(7.0) == []  # once
    assert watch.check(8.0) == ["a"]
    watch.delivered("b", 9.0)
    watch.delivered("unknown", 9.0)
    assert watch.check(13.9) == []
    assert watch.check(14.0) == ["b"]


def test_rows_fit_80_columns_even_with_extreme_values() -> None:
    wide = Option("ABCDEFGHIJKLMNOP", 20991231, 123456789, "P")
    events = [
        Trade(Stock("AAPL"), 34_200_000, 12, 3, 0, 190.25, 4, 20250321),
        Trade(wide, 86_399_999, 2**62, 4_000_000_000, 4_000_000_000, 1e12, 4_000_000_000, 1),
        Quote(Option("SPY", 20250321, 570000, "C"), 1, 10, 1, 4.1, 0, 12, 2, 4.2, 0, 20250321),
        Quote(wide, 1, 4_000_000_000, 1, 1e12, 0, 4_000_000_000, 2, 1e12, 0, 20250321),
        Ohlc(Index("SPX"), 1, 5000.5, 5001.0, 4999.25, 5000.0, 12345, 67, 20250321),
        Ohlc(wide, 1, 1e12, 1e12, 1e12, 1e12, 2**63, 2**63, 20250321),
        OpenInterest(wide, 1, 2**63, 20250321),
    ]
    rows = [format_event(e) for e in events]
    assert all(len(row) <= 80 for row in rows), rows
    assert rows[0] == "09:30:00.000 TRADE AAPL                 190.25 x 3       ex 4  c 0   #12"
    assert rows[2] == (
        "00:00:00.001 QUOTE SPY 250321 570C   b      4.10 x 10      a      4.20 x 12"
    )
    assert rows[4] == (
        "00:00:00.001 OHLC  SPX               c 5000.00 h 5001.00 l 4999.25 v 12.3k n 67"
    )
    assert format_event(events[0], width=40) == rows[0][:40]
    strike = format_event(Trade(Option("SPY", 20250321, 570500, "P"), 0, 0, 1, 0, 0.0525, 0, 0))
    assert "SPY 250321 570.5P" in strike and " 0.0525 x 1 " in strike


def test_header_wraps_the_subscriptions_at_80_columns() -> None:
    subs = [
        Subscription("QUOTE", "OPTION", Option("SPY", 20250321, 570000 + i, "C")) for i in range(9)
    ]
    lines = header("ws://127.0.0.1:25520/v1/events", subs)
    assert lines[0] == "[tail] ws://127.0.0.1:25520/v1/events: 9 subscriptions"
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith("[tail]   ") for line in lines[1:])
    assert sum(line.count("@quote") for line in lines) == 9


def test_human_numbers() -> None:
    assert [human(v) for v in (0, 999, 1000, 1234567, 9.99e9)] == [
        "0", "999", "1k", "1.23M", "9.99G"
    ]  # fmt: skip
    assert human(2048, "B") == "2.05kB"


def test_line_buffer_is_due_after_a_second_or_enough_bytes() -> None:
    buffer = LineBuffer(flush_bytes=100, flush_seconds=1.0)
    assert not buffer.due(0.0)
    buffer.add(b'{"a":1}\n', 1, 10.0)
    assert not buffer.due(10.9)
    assert buffer.due(11.0)  # a second old
    assert buffer.take() == (b'{"a":1}\n', 1)
    assert not buffer.due(11.0)
    buffer.add(b'{"b":2}\n' * 12, 12, 11.2)
    buffer.add(b'{"c":3}\n', 1, 11.2)
    assert buffer.due(11.2)  # 100 bytes buffered
    assert buffer.take() == (b'{"b":2}\n' * 12 + b'{"c":3}\n', 13)
    assert buffer.take() == (b"", 0)


def members(data: bytes) -> int:
    count = 0
    while data:
        d = zlib.decompressobj(31)
        d.decompress(data)
        assert d.eof
        data = d.unused_data
        count += 1
    return count


def test_recording_gz_is_one_member_per_write_and_valid_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl.gz"
    file = RecordingFile.create(str(path))
    # Created with an empty member: valid before any event.
    assert gzip.decompress(path.read_bytes()) == b""
    written = file.write(b'{"a":1}\n') + file.write(b'{"b":2}\n' * 20) + file.write(b"")
    file.close()
    data = path.read_bytes()
    assert members(data) == 4
    assert written == len(data) - 20
    assert gzip.decompress(data) == b'{"a":1}\n' + b'{"b":2}\n' * 20


def test_recording_plain_writes_whole_chunks(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl"
    file = RecordingFile.create(str(path))
    assert path.read_bytes() == b""
    assert file.write(b"") == 0
    assert file.write(b"1\n2\n") == 4
    file.close()
    assert path.read_bytes() == b"1\n2\n"


def test_writer_process_ignores_signals_and_drops_a_chunk_cut_short(tmp_path: Path) -> None:
    """The child that writes for ``record``: what a ``kill -9`` of ``record`` leaves it is a
    chunk cut short, which it drops; the whole chunks before it are written whole."""
    path = tmp_path / "tape.jsonl.gz"
    file = RecordingFile.create(str(path))
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", _record_writer.__file__, str(file.fd), "gz", "6"],
        stdin=subprocess.PIPE,
        pass_fds=(file.fd,),
        start_new_session=True,
    )
    file.close()
    assert child.stdin is not None
    first = b'{"a":1}\n' * 1000
    child.stdin.write(_record_writer.HEADER.pack(len(first)) + first)
    child.stdin.flush()
    deadline = time.monotonic() + 10
    while path.stat().st_size <= 20:  # running, its handlers installed: the first is written
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        child.send_signal(signum)
    second = b'{"b":2}\n' * 1000
    child.stdin.write(_record_writer.HEADER.pack(len(second)) + second[:-100])
    child.stdin.close()
    assert child.wait(10) == 0
    data = path.read_bytes()
    assert members(data) == 2  # the empty one and the first chunk
    assert gzip.decompress(data) == first


def test_tail_warns_of_a_quiet_subscription_once_until_it_delivers() -> None:
    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            proc = await spawn(
                "tail", "--url", url(server), "--stock", "AAPL", "--req", "TRADE,QUOTE",
                "--quiet-after", "0.6",
            )  # fmt: skip
            await wait_subscribed(server, 2)
            encoder = EventEncoder()
            aapl = encoder.add_contract("STOCK", "AAPL")
            for i in range(12):  # trades only, for 1.2 s
                source.put(encode_trades(encoder, [aapl], [i], [1.5], [1]), 1)
                await asyncio.sleep(0.1)
            quote = encoder.encode_quotes(
                [aapl], [34_200_000], [10], [1], [4.1], [0], [12], [2], [4.2], [0], [20250321]
            )
            source.put(quote, 1)
            for i in range(12):
                source.put(encode_trades(encoder, [aapl], [i], [1.5], [1]), 1)
                await asyncio.sleep(0.1)
            proc.send_signal(2)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 130, stderr
        quiet = [line for line in stderr.decode().splitlines() if line.startswith("[tail] quiet:")]
        # Before the quote, and again after it.
        assert quiet == ["[tail] quiet: nothing for 0.6 s from stock.AAPL@quote"] * 2, stderr
        assert stdout.decode().count(" QUOTE AAPL ") == 1

    run(body)


@pytest.mark.parametrize("kinds", [(0,), (1,), (0, 2), (0, 1, 2, 3)])
def test_json_lines_in_arrival_order_for_the_kinds_asked(kinds: tuple[int, ...]) -> None:
    """The batch encoder (one call per type, lines put back in arrival order) gives the lines
    the server sent, filtered by type."""
    from fastfeed import EventDecoder
    from fastfeed.client.batch import Batch
    from fastfeed.client.contracts import contract_from_tuple
    from fastfeed.client.jsonl import BatchJsonWriter

    encoder = EventEncoder()
    ids = [encoder.add_contract("STOCK", s) for s in ("AAPL", "MSFT")]
    rng = np.random.default_rng(7)
    frames, expected = [], []
    for i in range(300):
        kind = int(rng.integers(0, 3))
        cid = ids[i % 2]
        one = np.array([cid], dtype=np.uint32)
        u = np.array([i], dtype=np.uint32)
        if kind == 0:
            args = (one, u, np.array([i], dtype=np.int64), u, u, np.array([1.5 + i]), u, u)
            frames.append(encoder.encode_trades(*args))
            expected.append((0, encoder.encode_trades(*args, framing="jsonl")))
        elif kind == 1:
            args = (one, u, u, u, np.array([1.0 + i]), u, u, u, np.array([2.0 + i]), u, u)
            frames.append(encoder.encode_quotes(*args))
            expected.append((1, encoder.encode_quotes(*args, framing="jsonl")))
        else:
            v = np.array([i], dtype=np.uint64)
            f = np.array([3.0 + i])
            args = (one, u, f, f, f, f, v, v, u)
            frames.append(encoder.encode_ohlc(*args))
            expected.append((2, encoder.encode_ohlc(*args, framing="jsonl")))
    raw = EventDecoder().feed(b"".join(frames))
    registry = [contract_from_tuple(*c[1:]) for c in raw.new_contracts]
    batch = Batch(raw, raw.counts, registry)
    got = BatchJsonWriter().encode(batch, registry, kinds)
    assert got == b"".join(line for kind, line in expected if kind in kinds)
