"""Replay (SPEC §5, §10; the code is ``fastfeed.bench.replay``): ``serve --source replay:FILE
--speed max`` to one SDK client, beside a picows server that reads the file line by line and
sends one frame per line; and lock-step
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
import pytest
import uvloop
import websockets
from fastfeed.bench.replay import (
    baseline_server,
    fastfeed_server,
    replay_round,
    sdk_replay,
    write_recording,
)
from process_support import free_port, wait_listening

__all__ = ["recording", "sdk_replay"]


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
        rate, memory = replay_round(fastfeed_server(port, recording), port, n)
        rates["fastfeed"].append(rate)
        port = free_port()
        rates["baseline"].append(replay_round(baseline_server(port, recording), port, n)[0])
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
