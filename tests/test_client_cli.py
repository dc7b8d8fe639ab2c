"""``python -m fastfeed tail`` and ``record`` against the real server (SPEC §9)."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from pathlib import Path

import fastfeed
import pytest
from client_support import encode_trades
from fastfeed import EventEncoder, Stock, Trade, ws_encode_frames
from fastfeed.server import QueueSource, Server
from server_support import run, started, url


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastfeed", *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tail"], "give at least one --stock, --option or --index"),
        (["tail", "--stock", "AAPL", "--req", "TRADE,BOOK"], "--req: unknown request type 'BOOK'"),
        (["tail", "--option", "SPY:20250321:570000"], "expected SYMBOL:YYYYMMDD:STRIKE:C|P"),
        (
            # Any case is fine (upper-cased); a character no symbol has is not.
            ["tail", "--stock", "aa_pl"],
            'contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "AA_PL"',
        ),
        (
            ["tail", "--option", "SPY:20250230:570000:C"],
            "contract.expiration: not a calendar date: 20250230",
        ),
        (["tail", "--stock", "AAPL", "--count", "0"], "--count: expected a positive integer"),
        (["tail", "--stock", "AAPL", "--bogus"], "unrecognized arguments: --bogus"),
        (["tail", "--stock", "AAPL", "--url", "localhost:25520"], "--url: expected ws://"),
        (["tail", "--stock", "AAPL", "--url", "ws://h:99999/"], "--url: Port out of range"),
        (["tail", "--stock", "AAPL", "--queue-events", "0"], "--queue-events: expected a"),
        (["record", "--url", "http://h/", "--out", "x.jsonl", "stock.AAPL@trade"], "--url: "),
        (
            ["record", "--queue-events", "0", "--out", "x.jsonl", "stock.AAPL@trade"],
            "--queue-events: expected a positive integer, got 0",
        ),
        (["record", "stock.AAPL@trade"], "the following arguments are required: --out"),
        *(
            (
                ["record", "--out", name, "stock.AAPL@trade"],
                f"--out '{name}': record writes JSON Lines, to a file named .jsonl (or "
                ".jsonl.gz, gzip-compressed; .ndjson too)",
            )
            for name in ("x.csv", "x.csv.gz", "x.json.bz2", "x.parquet", "x")
        ),
        (
            ["record", "--out", "x.jsonl", "stock.AAPL@book"],
            "'stock.AAPL@book': kind: expected one of trade, quote, ohlc, open_interest, "
            'full_trades, full_open_interest, got "book"',
        ),
        (
            ["record", "--out", "x.jsonl", "stock.AAPL@trade", "option.SPY@full_trades"],
            "'option.SPY@full_trades': option@full_trades takes no contract, "
            'got "option.SPY@full_trades"',
        ),
        (
            ["record", "--out", "x.jsonl", "stock@trade"],
            "'stock@trade': expected stock.<SYMBOL>@trade, got \"stock@trade\"",
        ),
        (
            ["record", "--out", "x.jsonl", "option.SPY.20250230.570000.C@quote"],
            "'option.SPY.20250230.570000.C@quote': contract.expiration: not a calendar date: "
            "20250230",
        ),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fastfeed", *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_connection_refused_exits_1() -> None:
    result = cli("tail", "--url", "ws://127.0.0.1:9/v1/events", "--stock", "AAPL")
    assert result.returncode == 1
    assert result.stderr.startswith("python -m fastfeed tail: cannot connect to ws://127.0.0.1:9")
    assert len(result.stderr.splitlines()) == 1


def test_help_documents_the_flags() -> None:
    tail = cli("tail", "--help").stdout
    for flag in ("--url", "--stock", "--option", "--index", "--req", "--count", "--json"):
        assert flag in tail
    record = cli("record", "--help").stdout
    for flag in ("--url", "--out", "SUBSCRIPTION"):
        assert flag in record


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fastfeed",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_subscribed(server: Server, count: int) -> None:
    async with asyncio.timeout(10):
        while server.client is None or len(server.client.subscriptions) < count:
            await asyncio.sleep(0.01)


def tape(encoder: EventEncoder) -> tuple[bytes, list[bytes]]:
    """Trades and a quote for AAPL and an SPY option; the frames and their payloads."""
    aapl = encoder.add_contract("STOCK", "AAPL")
    spy = encoder.add_contract("OPTION", "SPY", 20250321, 570000, "C")
    frames = (
        encode_trades(encoder, [aapl, spy], [34_200_000, 34_200_001], [190.25, 4.15], [3, 1])
        + encoder.encode_quotes(
            [spy], [34_200_002], [10], [1], [4.1], [0], [12], [2], [4.2], [0], [20250321]
        )
        + encode_trades(encoder, [aapl], [34_200_003], [190.5], [100], first_sequence=2, ids=None)
    )
    payloads = encoder.encode_trades(
        [aapl, spy],
        [34_200_000, 34_200_001],
        [0, 1],
        [3, 1],
        [0, 0],
        [190.25, 4.15],
        [4, 4],
        [20250321] * 2,
        framing="jsonl",
    )
    payloads += encoder.encode_quotes(
        [spy],
        [34_200_002],
        [10],
        [1],
        [4.1],
        [0],
        [12],
        [2],
        [4.2],
        [0],
        [20250321],
        framing="jsonl",
    )
    payloads += encoder.encode_trades(
        [aapl], [34_200_003], [2], [100], [0], [190.5], [4], [20250321], framing="jsonl"
    )
    return frames, payloads.splitlines()


def test_tail_json_prints_what_the_server_sent() -> None:
    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            proc = await spawn(
                # Typed by a person: contracts in any case.
                "tail", "--url", url(server), "--stock", "aapl",
                "--option", "spy:20250321:570000:c", "--req", "TRADE,QUOTE",
                "--count", "4", "--json", "--summary-interval", "0.2",
            )  # fmt: skip
            await wait_subscribed(server, 4)
            assert sorted(server.client.subscriptions) == [  # type: ignore[union-attr]
                "option.SPY.20250321.570000.C@quote",
                "option.SPY.20250321.570000.C@trade",
                "stock.AAPL@quote",
                "stock.AAPL@trade",
            ]
            frames, payloads = tape(EventEncoder())
            source.put(frames, 4)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, stderr
            assert [json.loads(line) for line in stdout.splitlines()] == [
                json.loads(p) for p in payloads
            ]
            assert b"[tail] 4 events" in stderr
            assert b"gaps 0, lost 0 (server 0, local 0)" in stderr

    run(body)


def test_tail_table() -> None:
    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            proc = await spawn(
                "tail", "--url", url(server), "--stock", "AAPL", "--index", "SPX",
                "--req", "TRADE,QUOTE", "--count", "2",
            )  # fmt: skip
            # QUOTE is not available for an index: it is skipped, not sent.
            await wait_subscribed(server, 3)
            assert "index.SPX@quote" not in server.client.subscriptions  # type: ignore[union-attr]
            encoder = EventEncoder()
            aapl = encoder.add_contract("STOCK", "AAPL")
            trades = encode_trades(
                encoder, [aapl] * 2, [34_200_000, 34_200_500], [190.25, 190.5], [3, 7]
            )
            source.put(trades, 2)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, stderr
            lines = stdout.decode().splitlines()
            assert len(lines) == 2
            # Compact rows (at most 80 columns); the date goes to stderr when it changes.
            assert lines[0].startswith("09:30:00.000 TRADE AAPL ")
            assert "190.25 x 3 " in lines[0]
            assert lines[1].startswith("09:30:00.500 TRADE AAPL ")
            assert b"[tail] date 20250321\n" in stderr

    run(body)


def test_record_writes_the_replay_format_and_replays(tmp_path: Path) -> None:
    out = tmp_path / "tape.jsonl.gz"

    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            proc = await spawn(
                "record", "--url", url(server), "--out", str(out), "--count", "4",
                "stock.aapl@trade", "option.Spy.20250321.570000.C@trade",
                "option.SPY.20250321.570000.C@quote", "option@full_trades",
            )  # fmt: skip
            await wait_subscribed(server, 4)
            assert "option@full_trades" in server.client.subscriptions  # type: ignore[union-attr]
            frames, payloads = tape(EventEncoder())
            source.put(frames, 4)
            _, stderr = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, stderr
            assert b"wrote 4 events" in stderr
        with gzip.open(out, "rb") as f:
            lines = f.read().splitlines()
        # Byte for byte what the server sent (same encoder, same compact §3.3 JSON).
        assert lines == payloads

        # The recording replays: served again, a client receives the same events.
        replay = QueueSource()
        async with (
            started(replay, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            replay.put(ws_encode_frames(1, lines), len(lines))
            got = []
            async for event in feed:
                if isinstance(event, fastfeed.Status) and event.sent == len(lines):
                    break
                if not isinstance(event, fastfeed.Status):
                    got.append(event)
            assert [type(e).__name__ for e in got] == ["Trade", "Trade", "Quote", "Trade"]
            first = got[0]
            assert isinstance(first, Trade)
            assert (first.contract, first.price, first.size) == (Stock("AAPL"), 190.25, 3)

    run(body)


def test_record_plain_jsonl_to_a_bad_directory_fails_cleanly(tmp_path: Path) -> None:
    async def body() -> None:
        async with started() as server:
            proc = await spawn(
                "record", "--url", url(server), "--out", str(tmp_path / "no" / "x.jsonl"),
                "stock.AAPL@trade",
            )  # fmt: skip
            _, stderr = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 1
            assert b"cannot write" in stderr

    run(body)


def test_record_until_sigint_flushes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "tape.jsonl"

    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            proc = await spawn(
                "record", "--url", url(server), "--out", str(out), "stock.AAPL@trade"
            )
            await wait_subscribed(server, 1)
            encoder = EventEncoder()
            aapl = encoder.add_contract("STOCK", "AAPL")
            source.put(encode_trades(encoder, [aapl] * 5, [1, 2, 3, 4, 5], [1.5] * 5, [1] * 5), 5)
            conn = server.client
            assert conn is not None
            async with asyncio.timeout(5):
                while conn.sent < 5:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the STATUS after them has reached the recorder
            proc.send_signal(2)  # SIGINT
            _, stderr = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 130, stderr  # 128 + SIGINT, after flushing
            assert b"wrote 5 events" in stderr
        lines = out.read_bytes().splitlines()
        assert [json.loads(line)["trade"]["ms_of_day"] for line in lines] == [1, 2, 3, 4, 5]

    run(body)
