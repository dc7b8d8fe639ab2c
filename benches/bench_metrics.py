"""The cost of metrics: ``fastfeed serve --rate max`` with ``--metrics-port`` (scraped every
second, far more often than Prometheus' default 15 s) against the same server without it.

Both servers run in their own process and serve the same synthetic market to one client that
subscribes to everything and counts (the egress benchmark's client); rounds are interleaved and
the medians compared: events/s, and the server's CPU time per event (from ``/proc``), which a
machine shared with other work disturbs less than the rate.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import uvloop
from fastfeed.bench.egress import CountingClient, count_events, everything_commands
from fastfeed.server import SyntheticSpec
from process_support import free_port, spawn
from prometheus_client.parser import text_string_to_metric_families

#: ``(port, metrics port or None, server pid)`` by name.
Servers = dict[str, tuple[int, int | None, int]]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    ports: dict[str, tuple[int, int | None]] = {
        "metrics": (free_port(), free_port()),
        "plain": (free_port(), None),
    }
    processes = []
    found: Servers = {}
    try:
        for name, (port, metrics_port) in ports.items():
            extra = [] if metrics_port is None else ["--metrics-port", str(metrics_port)]
            command = [sys.executable, "-m", "fastfeed", "serve", "--rate", "max"]
            command += ["--port", str(port), "--log-level", "WARNING", *extra]
            processes.append(spawn(command, port))
            found[name] = (port, metrics_port, processes[-1].pid)
        yield found
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


async def _scrape(session: aiohttp.ClientSession, port: int) -> dict[str, float]:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _count(
    port: int, metrics_port: int | None, target: int
) -> tuple[CountingClient, dict[str, float] | None]:
    commands = everything_commands(SyntheticSpec())
    if metrics_port is None:
        return await count_events(port, commands, target), None
    async with aiohttp.ClientSession() as session:
        scrapes: list[dict[str, float]] = []

        async def scrape_every_second() -> None:
            while True:
                scrapes.append(await _scrape(session, metrics_port))
                await asyncio.sleep(1.0)

        scraper = asyncio.create_task(scrape_every_second())
        try:
            client = await count_events(port, commands, target)
        finally:
            scraper.cancel()
        await asyncio.sleep(0.05)
        scrapes.append(await _scrape(session, metrics_port))
        return client, scrapes[-1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(
    port: int, metrics_port: int | None, pid: int, target: int
) -> tuple[float, float, dict[str, float] | None]:
    """``(events/s, server CPU µs per event, last scrape)``."""
    cpu = _cpu_seconds(pid)
    client, last = uvloop.run(_count(port, metrics_port, target))
    cpu = _cpu_seconds(pid) - cpu
    assert client.errors == 0
    return client.count / client.done.result(), cpu / client.count * 1e6, last


def test_metrics_cost(benchmark: Any, servers: Servers) -> None:
    target = 100_000 if benchmark.disabled else 1_000_000
    rounds = 1 if benchmark.disabled else 9
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    received = 0
    last: dict[str, float] | None = None
    for _ in range(rounds):
        for name, (port, metrics_port, pid) in servers.items():
            rate, cpu_per_event, scraped = _run(port, metrics_port, pid, target)
            rates[name].append(rate)
            cpu[name].append(cpu_per_event)
            if scraped is not None:
                last = scraped
                received += target
    assert last is not None
    # Every event the client counted was written, and counted, by the server.
    assert last["fastfeed_events_sent_total[('endpoint', '/v1/events')]"] >= received
    with_metrics = statistics.median(rates["metrics"])
    without = statistics.median(rates["plain"])
    cpu_with = statistics.median(cpu["metrics"])
    cpu_without = statistics.median(cpu["plain"])
    benchmark.extra_info["with_metrics_events_per_s"] = round(with_metrics)
    benchmark.extra_info["without_metrics_events_per_s"] = round(without)
    benchmark.extra_info["ratio"] = round(with_metrics / without, 3)
    benchmark.extra_info["cpu_us_per_event_ratio"] = round(cpu_with / cpu_without, 3)
    print(
        f"\nmetrics: --rate max {with_metrics:,.0f} events/s with --metrics-port (scraped every "
        f"second), {without:,.0f} without, ratio {with_metrics / without:.3f}; server CPU "
        f"{cpu_with:.3f} vs {cpu_without:.3f} µs/event, ratio {cpu_with / cpu_without:.3f} "
        f"(medians of {rounds} interleaved rounds)"
    )
    benchmark.pedantic(_run, args=(*servers["metrics"], target), rounds=1, iterations=1)
