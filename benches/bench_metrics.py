"""The cost of metrics: ``fastfeed serve --rate max`` with ``--metrics-port`` (scraped every
second, far more often than Prometheus' default 15 s) against the same server without it.

Both servers run in their own process and serve the same synthetic market to one client that
subscribes to everything and counts (the egress benchmark's client); rounds are interleaved and
the medians compared.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import uvloop
from egress_support import CountingClient, count_events, everything_commands
from fastfeed.server import SyntheticSpec
from process_support import free_port, spawn
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[int, int | None]]]:
    ports: dict[str, tuple[int, int | None]] = {
        "metrics": (free_port(), free_port()),
        "plain": (free_port(), None),
    }
    processes = []
    try:
        for port, metrics_port in ports.values():
            extra = [] if metrics_port is None else ["--metrics-port", str(metrics_port)]
            command = [sys.executable, "-m", "fastfeed", "serve", "--rate", "max"]
            command += ["--port", str(port), "--log-level", "WARNING", *extra]
            processes.append(spawn(command, port))
        yield ports
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


def _run(port: int, metrics_port: int | None, target: int) -> tuple[float, dict[str, float] | None]:
    client, last = uvloop.run(_count(port, metrics_port, target))
    assert client.errors == 0
    return client.count / client.done.result(), last


def test_metrics_cost(benchmark: Any, servers: dict[str, tuple[int, int | None]]) -> None:
    target = 100_000 if benchmark.disabled else 1_000_000
    rounds = 1 if benchmark.disabled else 7
    rates: dict[str, list[float]] = {name: [] for name in servers}
    received = 0
    last: dict[str, float] | None = None
    for _ in range(rounds):
        for name, (port, metrics_port) in servers.items():
            rate, scraped = _run(port, metrics_port, target)
            rates[name].append(rate)
            if scraped is not None:
                last = scraped
                received += target
    assert last is not None
    # Every event the client counted was written, and counted, by the server.
    assert last["fastfeed_events_sent_total[('endpoint', '/v1/events')]"] >= received
    with_metrics = statistics.median(rates["metrics"])
    without = statistics.median(rates["plain"])
    benchmark.extra_info["with_metrics_events_per_s"] = round(with_metrics)
    benchmark.extra_info["without_metrics_events_per_s"] = round(without)
    benchmark.extra_info["ratio"] = round(with_metrics / without, 3)
    print(
        f"\nmetrics: --rate max {with_metrics:,.0f} events/s with --metrics-port (scraped every "
        f"second), {without:,.0f} without, ratio {with_metrics / without:.3f} "
        f"(medians of {rounds} interleaved rounds)"
    )
    benchmark.pedantic(_run, args=(*servers["metrics"], target), rounds=1, iterations=1)
