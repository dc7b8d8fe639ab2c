"""Relay (SPEC §5): the cost of a relay in the path. A replay upstream at ``--speed max`` (as fast
as its one client reads, never dropping) → one SDK client, directly, beside the same upstream →
``serve --source ws://…/v1/events`` → one SDK client on the relay's ``/v1/events``. Every
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
from pathlib import Path
from typing import Any

import uvloop
from bench_replay import recording, sdk_replay  # noqa: F401 (the fixture)
from process_support import free_port, spawn


def _serve(port: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "fastfeed", "serve", "--port", str(port), "--log-level", "WARNING",
        *args,
    ]  # fmt: skip


def _round(path: Path, n: int, relayed: bool) -> tuple[float, dict[int, float]]:
    """One path's events/s and the RSS (MiB) of the server the client reads, by events."""
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(spawn(_serve(port, "--source", f"replay:{path}", "--speed", "max"), port))
        if relayed:
            relay_port = free_port()
            source = f"ws://127.0.0.1:{port}/v1/events"
            processes.append(spawn(_serve(relay_port, "--source", source), relay_port))
            port = relay_port
        url = f"ws://127.0.0.1:{port}/v1/events"
        # Asserts that all n events arrived.
        return uvloop.run(sdk_replay(url, processes[-1].pid, n))
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
    relay_rss: dict[int, float] = {}
    for _ in range(rounds):
        for name in ("direct", "relayed"):
            rate, rss = _round(recording, n, relayed=name == "relayed")
            rates[name].append(rate)
            if name == "relayed":
                relay_rss = rss
    direct, relayed = statistics.median(rates["direct"]), statistics.median(rates["relayed"])
    benchmark.extra_info.update(
        direct_events_per_s=round(direct),
        relayed_events_per_s=round(relayed),
        ratio=round(relayed / direct, 2),
        events=n,
        all_delivered=True,
        relay_rss_mib={k: round(v, 1) for k, v in relay_rss.items()},
    )
    print(
        f"\nreplay --speed max, {n:,} events to one SDK client: direct {direct:,.0f} events/s, "
        f"through a relay {relayed:,.0f} events/s, ratio {relayed / direct:.2f}; relay RSS "
        f"(MiB) by events received: {relay_rss}"
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
