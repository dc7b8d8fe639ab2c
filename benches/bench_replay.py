"""Replay (SPEC §5, §10): ``serve --source replay:FILE --speed max`` to one SDK client, beside
a picows server that reads the file line by line and sends one frame per line; and lock-step
(``--pace ack``) round trips with the SDK beside a client written like seed 004's example
(websockets + json, one ``event_ack`` per event) against the same server.

The recording has ``FASTFEED_BENCH_REPLAY_EVENTS`` trades (default 2,000,000; 100,000 when
benchmarks are disabled, as in the test suite) of 50 stocks, written by the Rust encoder
(what ``record`` writes). The server's RSS is sampled when the client has received 1 M events
and at the end (SPEC §10: flat within ±10 MiB from 1 M to 10 M events).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastfeed
import numpy as np
import pytest
import uvloop
import websockets
from fastfeed import EventEncoder
from process_support import free_port, wait_listening

HERE = Path(__file__).parent
SYMBOLS = [f"S{i:02d}" for i in range(50)]


def write_recording(path: Path, n: int) -> None:
    """``n`` time-ordered trades of :data:`SYMBOLS` as JSON Lines, 100,000 per encode call."""
    enc = EventEncoder()
    ids = np.array([enc.add_contract("STOCK", s) for s in SYMBOLS], dtype=np.uint32)
    rng = np.random.default_rng(0)
    chunk = 100_000
    with path.open("wb") as out:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            seq = np.arange(start, start + k, dtype=np.int64)
            out.write(
                enc.encode_trades(
                    ids[rng.integers(0, len(ids), k)],
                    (34_200_000 + seq // 100).astype(np.uint32),
                    seq,
                    rng.integers(1, 1000, k).astype(np.uint32),
                    np.zeros(k, dtype=np.uint32),
                    np.round(rng.uniform(10, 500, k), 2),
                    np.full(k, 4, dtype=np.uint32),
                    np.full(k, 20250321, dtype=np.uint32),
                    framing="jsonl",
                )
            )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def sdk_replay(url: str, pid: int, expected: int) -> tuple[float, dict[int, float]]:
    """Receives the whole replay from ``url`` with the SDK; returns (events/s, {events: RSS
    MiB of the server ``pid``})."""
    rss: dict[int, float] = {}
    marks = [m for m in (1_000_000, 10_000_000) if m < expected]
    async with fastfeed.connect(url, reconnect=False, overflow="pause") as feed:
        await feed.subscribe("FULL_TRADES", sec_type="STOCK")
        count = 0
        started = 0.0
        while (batch := await feed.next_batch()) is not None:
            if count == 0 and len(batch):
                started = time.perf_counter()
            count += len(batch)
            if marks and count >= marks[0]:
                rss[marks.pop(0)] = _rss_mib(pid)
        elapsed = time.perf_counter() - started
    assert count == expected, (count, expected)
    rss[count] = _rss_mib(pid) if Path(f"/proc/{pid}").exists() else float("nan")
    return count / elapsed, rss


def _replay_round(server: list[str], port: int, expected: int) -> tuple[float, dict[int, float]]:
    process = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        return uvloop.run(sdk_replay(f"ws://127.0.0.1:{port}/v1/events", process.pid, expected))
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, request: Any) -> Iterator[Path]:
    disabled = request.config.getoption("benchmark_disable")
    n = 100_000 if disabled else int(os.environ.get("FASTFEED_BENCH_REPLAY_EVENTS", 2_000_000))
    path = tmp_path_factory.mktemp("replay") / f"trades-{n}.jsonl"
    write_recording(path, n)
    yield path
    path.unlink()


def _count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def test_replay_speed_max_to_one_sdk_client(benchmark: Any, recording: Path) -> None:
    n = _count(recording)
    rounds = 1 if benchmark.disabled else 3
    rates: dict[str, list[float]] = {"fastfeed": [], "baseline": []}
    memory: dict[int, float] = {}
    for _ in range(rounds):
        port = free_port()
        fastfeed_server = [
            sys.executable, "-m", "fastfeed", "serve", "--port", str(port),
            "--source", f"replay:{recording}", "--speed", "max", "--log-level", "WARNING",
        ]  # fmt: skip
        rate, memory = _replay_round(fastfeed_server, port, n)
        rates["fastfeed"].append(rate)
        port = free_port()
        baseline = [
            sys.executable,
            str(HERE / "replay_baseline_server.py"),
            str(port),
            str(recording),
        ]
        rates["baseline"].append(_replay_round(baseline, port, n)[0])
    ours, theirs = statistics.median(rates["fastfeed"]), statistics.median(rates["baseline"])
    benchmark.extra_info.update(
        fastfeed_events_per_s=round(ours),
        baseline_events_per_s=round(theirs),
        ratio=round(ours / theirs, 2),
        server_rss_mib={k: round(v, 1) for k, v in memory.items()},
    )
    print(
        f"\nreplay --speed max, {n:,} events: fastfeed {ours:,.0f} events/s, picows line-by-line "
        f"{theirs:,.0f} events/s, ratio {ours / theirs:.2f}; server RSS (MiB) by events "
        f"received: {memory}"
    )
    if 1_000_000 in memory and n >= 10_000_000:
        assert abs(memory[n] - memory[1_000_000]) <= 10, memory
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


# ---- lock-step round trips ------------------------------------------------------------------


async def _sdk_lock_step(port: int, events: int) -> float:
    async with fastfeed.connect(f"ws://127.0.0.1:{port}/v1/events") as feed:
        await feed.subscribe("FULL_TRADES", sec_type="STOCK")
        count = 0
        started = time.perf_counter()
        async for event in feed:
            if isinstance(event, fastfeed.Trade):
                count += 1
                if count == events:
                    break
        return count / (time.perf_counter() - started)


async def _seed004_lock_step(port: int, events: int) -> float:
    """Written like seed 004's Python example: websockets, json, one ack per event."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/events") as ws:
        subscribe = {
            "msg_type": "STREAM",
            "sec_type": "STOCK",
            "req_type": "FULL_TRADES",
            "add": True,
            "id": 1,
        }
        await ws.send(json.dumps(subscribe))
        count = 0
        started = time.perf_counter()
        while count < events:
            event = json.loads(await ws.recv())
            if event["header"]["type"] != "TRADE":
                continue
            count += 1
            ack = {
                "type": "event_ack",
                "correlation_id": str(uuid.uuid4()),
                "events_processed": [event["header"].get("id", "unknown")],
                "timestamp": int(time.time() * 1000),
            }
            await ws.send(json.dumps(ack))
        return count / (time.perf_counter() - started)


def test_lock_step_round_trips(benchmark: Any, recording: Path) -> None:
    events = 2_000 if benchmark.disabled else 20_000
    rounds = 1 if benchmark.disabled else 3
    rates: dict[str, list[float]] = {"sdk": [], "seed004": []}
    for _ in range(rounds):
        for name, client in (("sdk", _sdk_lock_step), ("seed004", _seed004_lock_step)):
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "fastfeed", "serve", "--port", str(port),
                 "--source", f"replay:{recording}", "--pace", "ack", "--log-level", "WARNING",
                 "--no-ohlcvc"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                wait_listening(port, server)
                rates[name].append(uvloop.run(client(port, events)))
            finally:
                server.terminate()
                server.wait(30)
    sdk, seed004 = statistics.median(rates["sdk"]), statistics.median(rates["seed004"])
    benchmark.extra_info.update(
        sdk_round_trips_per_s=round(sdk),
        seed004_round_trips_per_s=round(seed004),
        ratio=round(sdk / seed004, 2),
    )
    print(
        f"\nlock-step (--ack-window 1): SDK {sdk:,.0f} events/s, seed-004-style client "
        f"{seed004:,.0f} events/s, ratio {sdk / seed004:.2f}"
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
