"""Server egress: ``fastfeed serve --rate max`` against a picows server that ``orjson.dumps`` +
``send()``s one event at a time, each to one client that subscribes to everything and counts.

Both servers run in their own process (the client takes the other core) and serve the same
synthetic market, OHLC events included. The client decodes every frame with fastfeed's
decoder, so it checks that what arrived is valid events, and it is the same client for both.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from egress_support import CountingClient, count_events, everything_commands
from fastfeed.server import SyntheticSpec
from process_support import free_port, spawn

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    ports = {"fastfeed": free_port(), "baseline": free_port()}
    processes = [
        spawn(
            [
                sys.executable,
                "-m",
                "fastfeed",
                "serve",
                "--rate",
                "max",
                "--port",
                str(ports["fastfeed"]),
                "--log-level",
                "WARNING",
            ],
            ports["fastfeed"],
        ),
        spawn(
            [sys.executable, str(HERE / "egress_baseline_server.py"), str(ports["baseline"])],
            ports["baseline"],
        ),
    ]
    try:
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def _run(port: int, target: int) -> tuple[float, CountingClient]:
    commands = everything_commands(SyntheticSpec())
    client = uvloop.run(count_events(port, commands, target))
    seconds = client.done.result()
    return client.count / seconds, client


def _shares(client: CountingClient) -> list[float]:
    return [float(k) / float(client.kinds.sum()) for k in client.kinds]


def test_egress_throughput(benchmark: Any, servers: dict[str, int]) -> None:
    target = 100_000 if benchmark.disabled else 1_000_000
    rounds = 1 if benchmark.disabled else 3
    rates: dict[str, list[float]] = {"fastfeed": [], "baseline": []}
    clients: dict[str, CountingClient] = {}
    for _ in range(rounds):
        for name, port in servers.items():
            rate, clients[name] = _run(port, target)
            rates[name].append(rate)
    # Both streams were valid events of the same market: every kind in about the same share.
    for client in clients.values():
        assert client.errors == 0
        assert client.count >= target
    ours, theirs = _shares(clients["fastfeed"]), _shares(clients["baseline"])
    assert all(abs(a - b) < 0.03 for a, b in zip(ours, theirs, strict=True)), (ours, theirs)
    fastfeed = statistics.median(rates["fastfeed"])
    baseline = statistics.median(rates["baseline"])
    benchmark.extra_info["fastfeed_events_per_s"] = round(fastfeed)
    benchmark.extra_info["baseline_events_per_s"] = round(baseline)
    benchmark.extra_info["ratio"] = round(fastfeed / baseline, 2)
    benchmark.extra_info["outputs_match"] = True
    print(
        f"\negress: fastfeed {fastfeed:,.0f} events/s, picows+orjson {baseline:,.0f} events/s, "
        f"ratio {fastfeed / baseline:.2f}"
    )
    benchmark.pedantic(_run, args=(servers["fastfeed"], target), rounds=1, iterations=1)
