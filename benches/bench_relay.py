"""Relay (SPEC §5): the cost of a relay in the path. A replay upstream at ``--speed max`` (as fast
as its one client reads, never dropping) → one SDK client, directly, beside the same upstream →
``serve --source ws://…/v1/events`` → one SDK client on the relay's ``/v1/stream``. Every
event must arrive on both paths (the relay forwards the upstream's bytes; nothing is dropped),
and both end the same way: the replay's end of stream travels through the relay.

Rounds are interleaved (direct, relayed, direct, …) and the medians compared: the relay's
throughput as a fraction of the direct path's. The recording is :mod:`bench_replay`'s
(``FASTFEED_BENCH_REPLAY_EVENTS`` trades of 50 stocks; 100,000 when benchmarks are disabled).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fastfeed
import uvloop
from bench_replay import recording  # noqa: F401 (the fixture)
from process_support import free_port, spawn


async def _receive(url: str) -> tuple[int, float]:
    """Receives the whole replay with the SDK: ``(events, events/s)``."""
    async with fastfeed.connect(url, reconnect=False) as feed:
        await feed.subscribe("stock@full_trades")
        count = 0
        started = 0.0
        while (batch := await feed.next_batch()) is not None:
            if count == 0 and len(batch):
                started = time.perf_counter()
            count += len(batch)
        elapsed = time.perf_counter() - started
        assert feed.stats.lost == 0, feed.stats
    return count, count / elapsed


def _serve(port: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "fastfeed", "serve", "--port", str(port), "--log-level", "WARNING",
        *args,
    ]  # fmt: skip


def _round(path: Path, relayed: bool) -> tuple[int, float]:
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(spawn(_serve(port, "--source", f"replay:{path}", "--speed", "max"), port))
        if relayed:
            relay_port = free_port()
            source = f"ws://127.0.0.1:{port}/v1/events"
            processes.append(spawn(_serve(relay_port, "--source", source), relay_port))
            port = relay_port
        return uvloop.run(_receive(f"ws://127.0.0.1:{port}/v1/stream"))
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)


def _count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def test_relay_throughput_against_the_direct_path(benchmark: Any, recording: Path) -> None:  # noqa: F811
    n = _count(recording)
    rounds = 1 if benchmark.disabled else 3
    rates: dict[str, list[float]] = {"direct": [], "relayed": []}
    for _ in range(rounds):
        for name in ("direct", "relayed"):
            count, rate = _round(recording, relayed=name == "relayed")
            assert count == n, (name, count, n)
            rates[name].append(rate)
    direct, relayed = statistics.median(rates["direct"]), statistics.median(rates["relayed"])
    benchmark.extra_info.update(
        direct_events_per_s=round(direct),
        relayed_events_per_s=round(relayed),
        ratio=round(relayed / direct, 2),
        events=n,
        all_delivered=True,
    )
    print(
        f"\nreplay --speed max, {n:,} events to one SDK client: direct {direct:,.0f} events/s, "
        f"through a relay {relayed:,.0f} events/s, ratio {relayed / direct:.2f}"
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
