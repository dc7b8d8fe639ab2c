"""``serve --source replay:PATH`` (SPEC §5, issue 11): real files, a real server, real clients.

In-process servers for the protocol details; ``python -m fastfeed`` processes for the
command line (exit codes, record → replay round trip)."""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import json
import os
import pty
import random
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import fastfeed
import numpy as np
import pytest
import uvloop
from fastfeed import EndOfStream, Stock, Trade
from fastfeed.server.replay import ReplaySource, ReplaySpec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.replay_support import (
    DATE,
    OPEN_MS,
    random_trades,
    trade_lines,
    write,
)
from tests.server_support import ack, run, started

SERVE = [sys.executable, "-m", "fastfeed", "serve"]


def source(path: Path | str, **spec: Any) -> ReplaySource:
    return ReplaySource(ReplaySpec(str(path), **spec))


def events_url(server: Any) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/events"


async def subscribe(ws: ClientConnection, req_id: int, **fields: Any) -> None:
    command = {"msg_type": "STREAM", "add": True, "id": req_id, **fields}
    await ws.send(json.dumps(command))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if reply["header"]["type"] == "REQ_RESPONSE":
            assert reply == ack(req_id, "OK")
            return


FULL_STOCK_TRADES = {"sec_type": "STOCK", "req_type": "FULL_TRADES"}


async def until_closed(ws: ClientConnection) -> tuple[list[str], list[dict[str, Any]]]:
    """Every message up to the Close: (data payloads as sent, STATUS messages)."""
    data: list[str] = []
    statuses: list[dict[str, Any]] = []
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, str)
            parsed = json.loads(message)
            if parsed["header"]["type"] == "STATUS":
                statuses.append(parsed)
            else:
                data.append(message)
    except ConnectionClosed:
        pass
    return data, statuses


# ---- speed max: byte for byte, end of replay ---------------------------------------------------


def test_speed_max_sends_the_recorded_lines_byte_for_byte_then_status_and_close(
    tmp_path: Path,
) -> None:
    recording = write(tmp_path / "day.jsonl.gz", random_trades(5000, seed=1))

    async def body() -> None:
        replay = source(recording.path, speed=None)
        async with started(replay) as server, connect(events_url(server)) as ws:
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            data, statuses = await until_closed(ws)
            assert [line.encode() for line in data] == recording.lines
            # The last STATUS counts them all; then Close 1000 "end of replay".
            assert statuses[-1]["stats"] == {"sent": 5000, "dropped": 0}
            assert (ws.close_code, ws.close_reason) == (1000, "end of replay")
            end = await asyncio.wait_for(server.ended, 5)
            assert end.reason == "end of replay"

    run(body)


def test_the_sdk_ends_iteration_on_end_of_replay_without_reconnecting(tmp_path: Path) -> None:
    recording = write(tmp_path / "day.jsonl", random_trades(300, seed=2))

    async def body() -> None:
        async with (
            started(source(recording.path, speed=None)) as server,
            fastfeed.connect(events_url(server)) as feed,
        ):
            await feed.subscribe("FULL_TRADES", sec_type="STOCK")
            events = [e async for e in feed]
            trades = [e for e in events if isinstance(e, Trade)]
            assert len(trades) == 300
            assert isinstance(events[-1], EndOfStream)
            assert feed.stats.reconnects == 0
            assert feed.stats.gaps == 0

    run(body)


def test_replay_starts_only_when_a_client_subscribed_and_loop_starts_again(tmp_path: Path) -> None:
    recording = write(tmp_path / "day.jsonl", random_trades(50, seed=3))

    async def body() -> None:
        replay = source(recording.path, speed=None, loop=True)
        async with started(replay) as server, connect(events_url(server)) as ws:
            await asyncio.sleep(0.3)
            assert replay.published == 0  # nobody subscribed yet
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            got: list[bytes] = []
            while len(got) < 150:
                message = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(message, str)
                if '"type":"TRADE"' in message:
                    got.append(message.encode())
            assert got[:50] == got[50:100] == got[100:150] == recording.lines

    run(body)


# ---- files: CSV, merge, OHLC --------------------------------------------------------------------


def test_csv_rows_become_the_events_they_describe_with_session_ohlc(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "date,ms_of_day,symbol,price,size,exchange\n"
        f"{DATE},{OPEN_MS},AAPL,190.25,100,4\n"
        f"{DATE},{OPEN_MS + 5},AAPL,190.5,50,4\n"
    )

    async def body() -> None:
        async with started(source(path, speed=None)) as server, connect(events_url(server)) as ws:
            await subscribe(ws, 1, sec_type="STOCK", req_type="TRADE", contract={"symbol": "AAPL"})
            data, _ = await until_closed(ws)
            messages = [json.loads(m) for m in data]
            assert [m["header"]["type"] for m in messages] == ["TRADE", "OHLC", "TRADE", "OHLC"]
            assert messages[2]["trade"] == {
                "ms_of_day": OPEN_MS + 5,
                "sequence": 0,
                "size": 50,
                "condition": 0,
                "price": 190.5,
                "exchange": 4,
                "date": DATE,
            }
            assert messages[3]["ohlc"] == {
                "ms_of_day": OPEN_MS + 5,
                "open": 190.25,
                "high": 190.5,
                "low": 190.25,
                "close": 190.5,
                "volume": 150,
                "count": 2,
                "date": DATE,
            }

    run(body)


def test_a_glob_of_two_files_comes_out_merged_in_time_order(tmp_path: Path) -> None:
    # Ties go to the file first in name order.
    a = write(
        tmp_path / "a.jsonl", trade_lines(["AAPL"] * 3, [10, 20, 30], [1.0, 2.0, 3.0], [1] * 3)
    )
    b = write(
        tmp_path / "b.jsonl.gz", trade_lines(["MSFT"] * 3, [5, 20, 40], [4.0, 5.0, 6.0], [1] * 3)
    )

    async def body() -> None:
        replay = source(tmp_path / "*.jsonl*", speed=None)
        async with started(replay) as server, connect(events_url(server)) as ws:
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            data, _ = await until_closed(ws)
            expected = [b.lines[0], a.lines[0], a.lines[1], b.lines[1], a.lines[2], b.lines[2]]
            assert [d.encode() for d in data] == expected

    run(body)


# ---- --speed ------------------------------------------------------------------------------------


def test_speed_10_keeps_its_pace_within_2_percent(tmp_path: Path) -> None:
    # 20 s of market time, one trade every 100 ms: 2 s at --speed 10.
    n = 201
    ms = [OPEN_MS + 100 * i for i in range(n)]
    recording = write(tmp_path / "day.jsonl", trade_lines(["AAPL"] * n, ms, [1.0] * n, [1] * n))

    async def body() -> None:
        async with (
            started(source(recording.path, speed=10.0)) as server,
            connect(events_url(server)) as ws,
        ):
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            arrivals: list[float] = []
            while len(arrivals) < n:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["header"]["type"] == "TRADE":
                    arrivals.append(time.monotonic())
            # The pace is the slope of arrival time over market time, fitted over every
            # arrival: what drifts moves it, one late wake-up of the client does not.
            market = np.array([(m - ms[0]) / 1000 for m in ms])
            seconds = np.array(arrivals) - arrivals[0]
            slope, _ = np.polyfit(market, seconds, 1)
            assert abs(slope - 0.1) <= 0.002, slope  # --speed 10 within 2 %
            # And evenly: most arrivals lie within 20 ms of the line.
            residual = np.abs(
                seconds - np.polyval([slope, 0], market) - np.median(seconds - slope * market)
            )
            assert np.median(residual) <= 0.02, np.median(residual)

    run(body)


# ---- lock-step -----------------------------------------------------------------------------------


async def data_message(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["header"]["type"] not in ("STATUS", "REQ_RESPONSE"):
            return dict(message)


async def silent(ws: ClientConnection, seconds: float) -> bool:
    """True if no data event arrives within ``seconds``."""
    try:
        await data_message(ws, seconds)
    except TimeoutError:
        return True
    return False


def event_ack(*ids: int) -> str:
    return json.dumps(
        {
            "type": "event_ack",
            "correlation_id": "c",
            "events_processed": list(ids),
            "timestamp": 1,
        }
    )


def test_lock_step_never_has_more_than_the_window_outstanding(tmp_path: Path) -> None:
    recording = write(tmp_path / "day.jsonl", random_trades(40, seed=4))

    async def body() -> None:
        replay = source(recording.path, pace_ack=True, ack_window=3)
        async with started(replay) as server, connect(events_url(server)) as ws:
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            first = [await data_message(ws) for _ in range(3)]
            assert [m["header"]["id"] for m in first] == [1, 2, 3]
            assert await silent(ws, 0.4), "a 4th event with 3 unacknowledged"
            await ws.send(event_ack(2))
            fourth = await data_message(ws)
            assert fourth["header"]["id"] == 4
            assert await silent(ws, 0.3)
            # The events are the recording's, in order, with ids added.
            for message, line in zip([*first, fourth], recording.lines, strict=False):
                del message["header"]["id"]
                assert message == json.loads(line)
            await ws.send(event_ack(1, 3, 4))
            rest = [await data_message(ws) for _ in range(3)]
            assert [m["header"]["id"] for m in rest] == [5, 6, 7]

    run(body)


def test_lock_step_resumes_at_the_first_unacknowledged_event_for_the_next_client(
    tmp_path: Path,
) -> None:
    recording = write(tmp_path / "day.jsonl", random_trades(30, seed=5))
    sequences = [json.loads(line)["trade"]["sequence"] for line in recording.lines]

    async def body() -> None:
        replay = source(recording.path, pace_ack=True, ack_window=2)
        async with started(replay) as server:
            async with connect(events_url(server)) as ws:
                await subscribe(ws, 1, **FULL_STOCK_TRADES)
                seen = []
                for _ in range(5):
                    message = await data_message(ws)
                    seen.append(message["trade"]["sequence"])
                    await ws.send(event_ack(message["header"]["id"]))
                # Two more arrive (the window); the client dies without acknowledging them.
                unacked = [(await data_message(ws))["trade"]["sequence"] for _ in range(2)]
            async with connect(events_url(server)) as ws:
                await subscribe(ws, 1, **FULL_STOCK_TRADES)
                resumed = []
                while True:
                    try:
                        message = await data_message(ws)
                    except ConnectionClosed:
                        break
                    resumed.append(message["trade"]["sequence"])
                    assert message["header"]["id"] == len(resumed)
                    await ws.send(event_ack(message["header"]["id"]))
            assert seen == sequences[:5]
            assert unacked == sequences[5:7]
            # Nothing skipped, nothing repeated beyond the unacknowledged window.
            assert resumed == sequences[5:]

    run(body)


def test_an_sdk_strategy_with_random_delays_computes_the_bars_of_the_file(tmp_path: Path) -> None:
    lines = random_trades(400, seed=6, symbols=("AAPL",))
    recording = write(tmp_path / "day.jsonl", lines)
    trades = [json.loads(line)["trade"] for line in lines]
    expected = fastfeed.aggregate_trades(
        np.array([t["date"] for t in trades], dtype=np.int32),
        np.array([t["ms_of_day"] for t in trades], dtype=np.int32),
        np.array([t["price"] for t in trades]),
        np.array([t["size"] for t in trades], dtype=np.int64),
        1000,
    )
    rng = random.Random(6)

    async def body() -> None:
        async with (
            started(source(recording.path, pace_ack=True, ack_window=1)) as server,
            fastfeed.connect(events_url(server)) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            count = 0
            async for event in feed:
                if isinstance(event, Trade):
                    count += 1
                    await asyncio.sleep(rng.random() * 0.002)  # a slow strategy
            assert count == 400
            closed = feed.bars(Stock("AAPL"), "1s")
            open_bar = feed.open_bar(Stock("AAPL"), "1s")
            got = np.concatenate([closed, [open_bar]] if open_bar is not None else [closed])
            assert len(got) == len(expected["start_ms"])
            for column in ("start_ms", "open", "high", "low", "close", "volume", "count"):
                np.testing.assert_array_equal(got[column], expected[column], err_msg=column)

    run(body, timeout=60)


# ---- the command line ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_record_then_replay_gives_back_the_recording_byte_for_byte(tmp_path: Path) -> None:
    live, replay_port = free_port(), free_port()
    subscriptions = ["stock.AAPL@trade", "option@full_trades", "stock.MSFT@quote"]
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    server = subprocess.Popen(
        [*SERVE, "--port", str(live), "--rate", "20000"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if "serving ws://" in line:
                break
        url = f"ws://127.0.0.1:{live}/v1/events"
        done = subprocess.run(
            [sys.executable, "-m", "fastfeed", "record", "--url", url, "--out", str(first),
             "--count", "3000", *subscriptions],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        server.terminate()
        server.wait(10)
        if server.stderr is not None:
            server.stderr.close()
    replay = subprocess.Popen(
        [*SERVE, "--port", str(replay_port), "--source", f"replay:{first}", "--speed", "max"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert replay.stderr is not None
        for line in replay.stderr:
            if "serving ws://" in line:
                break
        url = f"ws://127.0.0.1:{replay_port}/v1/events"
        done = subprocess.run(
            [sys.executable, "-m", "fastfeed", "record", "--url", url, "--out", str(second),
             *subscriptions],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert replay.wait(10) == 0  # the server exits 0 at the end of the replay
    finally:
        replay.kill()
        replay.wait(10)
        if replay.stderr is not None:
            replay.stderr.close()
    recorded = gzip.decompress(first.read_bytes())
    assert recorded.count(b"\n") == 3000
    assert gzip.decompress(second.read_bytes()) == recorded


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "argument --speed: expected a positive number or 'max', got '0'"),
        (["--speed", "fast"], "argument --speed: expected a positive number or 'max', got 'fast'"),
        (["--ack-window", "0"], "argument --ack-window: expected a positive integer, got '0'"),
        (
            ["--pace", "acks"],
            "argument --pace: invalid choice: 'acks' (choose from 'time', 'ack')",
        ),
        (
            ["--on-bad-line", "ignore"],
            "argument --on-bad-line: invalid choice: 'ignore' (choose from 'stop', 'skip')",
        ),
    ],
)
def test_bad_replay_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [*SERVE, "--source", "replay:x.jsonl", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr == f"python -m fastfeed serve: error: {message}\n"


def _serve_replay(path: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, "--port", str(free_port()), "--source", f"replay:{path}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_each_bad_file_is_one_line_and_exit_2_before_serving(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_bytes(b"\n  \n")
    (tmp_path / "px.csv").write_text("date,ms_of_day,symbol,px\n20250321,1,AAPL,1\n")
    whole = gzip.compress(b"".join(line + b"\n" for line in random_trades(50, seed=7)))
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[:-20])
    cases = {
        "missing.jsonl": "replay: no such file: {d}/missing.jsonl",
        "none*.jsonl": "replay: no file matches {d}/none*.jsonl",
        "empty.jsonl": "replay: {d}/empty.jsonl is empty (no events)",
        "blank.jsonl": "replay: {d}/blank.jsonl is empty (no events)",
        "px.csv": "replay: {d}/px.csv: CSV header lacks price, size "
        "(has date, ms_of_day, symbol, px)",
        "cut.jsonl.gz": "replay: {d}/cut.jsonl.gz: truncated gzip (incomplete deflate stream)",
    }
    for name, message in cases.items():
        done = _serve_replay(str(tmp_path / name))
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr == f"python -m fastfeed serve: {message.format(d=tmp_path)}\n"


BAD_PRICE = (
    b'{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK",'
    b'"symbol":"AAPL"},"trade":{"ms_of_day":34200001,"sequence":1,"size":1,"condition":0,'
    b'"price":"x","exchange":1,"date":20250321}}'
)


async def _subscribe_and_read(port: int) -> tuple[int, int | None, str | None]:
    """Subscribes to every stock trade; (trades received, close code, close reason)."""
    url = f"ws://127.0.0.1:{port}/v1/events"
    for _ in range(100):
        try:
            ws = await connect(url)
            break
        except OSError:
            await asyncio.sleep(0.05)
    async with ws:
        await subscribe(ws, 1, **FULL_STOCK_TRADES)
        data, _ = await until_closed(ws)
        return len(data), ws.close_code, ws.close_reason


def test_a_bad_line_stops_the_replay_with_path_line_and_exit_1(tmp_path: Path) -> None:
    lines = random_trades(3, seed=8)
    path = write(tmp_path / "day.jsonl", [*lines, BAD_PRICE, *random_trades(2, seed=9)]).path
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--source", f"replay:{path}", "--speed", "max"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        received, code, reason = uvloop.run(_subscribe_and_read(port))
        assert server.wait(10) == 1
        assert server.stderr is not None
        last = server.stderr.read().splitlines()[-1]
    finally:
        server.kill()
        server.wait(10)
        if server.stderr is not None:
            server.stderr.close()
    # Everything before the bad line was delivered; then Close 1011 naming it.
    assert received == 3
    at = BAD_PRICE.index(b'"x"')
    message = f"{path}:4: trade.price: expected a number at byte {at}"
    assert last == f"python -m fastfeed serve: {message}"
    assert code == 1011
    assert reason is not None and reason.startswith("source failed: ")


def test_on_bad_line_skip_skips_logs_and_counts(tmp_path: Path) -> None:
    bad = [BAD_PRICE, b"not json", BAD_PRICE]
    path = write(
        tmp_path / "day.jsonl", [*random_trades(3, seed=8), *bad, *random_trades(2, seed=9)]
    ).path
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--source", f"replay:{path}", "--speed", "max",
         "--on-bad-line", "skip"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        received, code, reason = uvloop.run(_subscribe_and_read(port))
        assert server.wait(10) == 0
        assert server.stderr is not None
        log = server.stderr.read()
    finally:
        server.kill()
        server.wait(10)
        if server.stderr is not None:
            server.stderr.close()
    assert (received, code, reason) == (5, 1000, "end of replay")
    skipped = [line for line in log.splitlines() if "skipped" in line]
    # Rate-limited: one line for the three (the latest named), and the total at the end.
    assert len(skipped) <= 2, skipped
    assert "skipped 3 bad line(s); the latest: " in log or "3 bad lines skipped" in log, log
    assert f"{path}:6: trade.price: expected a number" in log


def test_record_of_a_lock_step_replay_is_the_original_without_ids(tmp_path: Path) -> None:
    # record acknowledges each batch once written; the recording carries no header ids.
    original = write(tmp_path / "a.jsonl", random_trades(2000, seed=10))
    copy = tmp_path / "b.jsonl"
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--source", f"replay:{original.path}", "--pace", "ack",
         "--ack-window", "64"],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"ws://127.0.0.1:{port}/v1/events"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        done = subprocess.run(
            [sys.executable, "-m", "fastfeed", "record", "--url", url, "--out", str(copy),
             "stock@full_trades"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert server.wait(10) == 0
    finally:
        server.kill()
        server.wait(10)
    assert copy.read_bytes() == original.path.read_bytes()


# ---- progress --------------------------------------------------------------------------------


def replay_to_a_client(path: Path, stderr: int) -> tuple[int, int]:
    """``serve --source replay:PATH --speed max`` with ``stderr`` as given, one raw client
    subscribed to every stock trade until the end of the replay: (exit code, events)."""
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--source", f"replay:{path}", "--speed", "max"],
        stderr=stderr,
        stdout=subprocess.DEVNULL,
    )

    async def client() -> int:
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/v1/events", max_size=None)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                await asyncio.sleep(0.05)
        async with ws:
            await subscribe(ws, 1, **FULL_STOCK_TRADES)
            data, _ = await until_closed(ws)
        return len(data)

    try:
        events = asyncio.run(client())
        return server.wait(20), events
    finally:
        server.kill()
        server.wait(10)


def test_the_progress_bar_is_drawn_on_a_terminal_with_the_counted_total(tmp_path: Path) -> None:
    """On a terminal, tqdm's bar reaches events sent / total (the total of a plain file is
    counted beside the replay and handed to the bar when known)."""
    recording = write(tmp_path / "day.jsonl", random_trades(20_000, seed=9))
    primary, secondary = pty.openpty()
    # An 80-column terminal (a pty starts with none: the bar would have no room).
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    screen = bytearray()
    try:
        code, events = replay_to_a_client(recording.path, stderr=secondary)
        os.close(secondary)
        while select.select([primary], [], [], 0.5)[0]:
            try:
                screen.extend(os.read(primary, 1 << 16))
            except OSError:
                break
    finally:
        os.close(primary)
    assert (code, events) == (0, 20_000)
    text = screen.decode(errors="replace")
    assert re.search(r"replay: 100%\|[^|]*\| 20\.0k/20\.0k ", text), text[-600:]


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    recording = write(tmp_path / "day.jsonl", random_trades(2_000, seed=10))
    err = tmp_path / "err"
    with err.open("wb") as f:
        code, events = replay_to_a_client(recording.path, stderr=f.fileno())
    assert (code, events) == (0, 2_000)
    log = err.read_text()
    assert "replay: 1 file(s), " in log
    assert "%|" not in log and "\r" not in log, log
