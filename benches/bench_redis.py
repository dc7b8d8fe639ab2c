"""Redis scale-out (SPEC §7, §10), all against one throwaway ``redis-server`` in the same run:

* **publish**: events acknowledged by Redis per second — fastfeed's publisher (the synthetic
  market's batches through the Rust hub: session bars, ``pseq``, RESP encoded once per batch,
  one write per batch) beside redis-py (hiredis parser) publishing the same payloads on the
  same channels one ``PUBLISH`` per call (as cryptofeed's Redis backend does) and in
  pipelines of 256;
* **end to end**: events per second delivered to one SDK client of an edge
  (``serve --source redis://``) fed by an ingest node (``serve --rate max --publish``), every
  stream of the market subscribed; and the pipeline's capacity: the highest paced ``--rate`` of
  a ladder (100 k, 200 k, 300 k, then steps of 50 k events/s) that reaches the client whole (no
  gap). Beside redis-py's
  pipelines of 256 into a redis-py subscriber (``PubSub.get_message``);
* **ceiling**: ``redis-benchmark -P 64 PUBLISH`` with a payload of the same size (no
  subscriber).

``FASTFEED_BENCH_REDIS_RATE`` sets the ingest node's ``--rate`` (default ``max``).

The throwaway ``redis-server`` does not cut a lagging subscriber (``client-output-buffer-limit
pubsub 0 0 0``): a round lasts seconds, so the backlog is bounded, and each side's delivered
rate is what its subscriber takes. With Redis's default limits an overdriven redis-py
subscriber was disconnected mid-round and the full run failed.

    pytest benches/bench_redis.py --benchmark-disable    # correctness, small counts
    pytest benches/bench_redis.py -s                     # the numbers
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastfeed
import pytest
import redis.asyncio as aioredis
import uvloop
from fastfeed._core import BarBook, Hub, RedisReader
from fastfeed.bench._fanout_support import Universe, stream_names
from fastfeed.server.redis_link import RedisLink, RedisUrl
from fastfeed.server.synthetic import SyntheticSpec
from process_support import REDIS_SERVER, RedisServer, free_port, spawn

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")

HERE = Path(__file__).parent
_BATCH = 4096
#: The ingest node's ``--rate`` in the end-to-end measurement (``max``: as fast as Redis takes,
#: which can outrun the edge and its client: they then drop, reported as gaps).
_INGEST_RATE = os.environ.get("FASTFEED_BENCH_REDIS_RATE", "max")
_DATE = 20250321
#: Paced ingest rates (events/s) tried in turn, up to the first that loses events on the way
#: to the client: the highest delivered whole is the pipeline's capacity on this machine, where
#: ingest, Redis, edge and client share the cores (``max`` overdrives them: they then compete
#: for the CPU and the client loses events).
_LADDER = (100_000, 200_000, 300_000, 350_000, 400_000, 450_000, 500_000, 550_000, 600_000, 700_000)
_LADDER_QUICK = (20_000,)


def _market(hub: Hub) -> Any:
    return SyntheticSpec().build(hub, _DATE)


def _universe() -> Universe:
    hub = Hub(BarBook([1000], 1))
    _market(hub)
    stocks, index, options = [], "SPX", []
    for i in range(hub.contract_count):
        sec, symbol, expiration, strike, right = hub.contract(i)
        if sec == "STOCK":
            stocks.append(symbol)
        elif sec == "INDEX":
            index = symbol
        else:
            options.append((symbol, expiration, strike, right))
    return Universe(tuple(sorted(stocks)), index, tuple(sorted(options)))


def _commands(n: int) -> tuple[list[bytes], int]:
    """The publisher's RESP commands for ``n`` synthetic events (batches), and their count."""
    chunks: list[bytes] = []
    count = 0
    for commands, k in _published(n):
        chunks.append(commands)
        count += k
    return chunks, count


def _published(n: int) -> Iterator[tuple[bytes, int]]:
    """Draws ``n`` synthetic events in batches, publishes each through a hub that publishes to
    Redis, and yields each batch's commands and their count."""
    hub = Hub(BarBook([1000], 16))
    market = _market(hub)
    hub.enable_redis_publish(False)
    for start in range(0, n, _BATCH):
        first_ms = 34_200_000 + start
        hub.publish(market.draw(min(_BATCH, n - start), _DATE, first_ms, first_ms + _BATCH))
        for _, commands, count in hub.take_redis():
            yield commands, count


class _Acks:
    """Counts the replies of a pipelined publisher (one line each: ``:N``)."""

    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()
        self.target = 0

    def __call__(self, data: bytes) -> None:
        self.count += data.count(b"\r\n")
        if self.target and self.count >= self.target:
            self.event.set()

    def expect(self, target: int) -> None:
        """All ``target`` replies are due: :attr:`event` is set once they arrived."""
        self.target = target
        if self.count >= target:
            self.event.set()


async def _fastfeed_publish(url: str, n: int) -> tuple[float, int]:
    """Events acknowledged per second: draw, publish through the hub, write, until every
    reply is back."""
    link = await RedisLink.open(RedisUrl.parse(url))
    acks = _Acks()
    link.on_data = acks
    written = 0
    started = time.perf_counter()
    for commands, count in _published(n):
        link.write(commands)
        written += count
        if link.buffered > 4 << 20:
            await asyncio.sleep(0)
            while link.buffered > 1 << 20:
                await asyncio.sleep(0.001)
    acks.expect(written)
    await asyncio.wait_for(acks.event.wait(), 60)
    elapsed = time.perf_counter() - started
    link.abort("done")
    return written / elapsed, written


def _payloads(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``(channel, payload)`` of each command (RESP parsed by the Rust reader, off the clock)."""
    replies = RedisReader().feed(None, b"".join(chunks))[2]
    return [(r[1], r[2]) for r in replies if isinstance(r, list)]


async def _redis_py_publish(url: str, payloads: list[tuple[bytes, bytes]], pipeline: int) -> float:
    client = aioredis.from_url(url, protocol=2)
    try:
        started = time.perf_counter()
        if pipeline == 1:
            for channel, payload in payloads:
                await client.publish(channel, payload)
        else:
            for at in range(0, len(payloads), pipeline):
                pipe = client.pipeline(transaction=False)
                for channel, payload in payloads[at : at + pipeline]:
                    pipe.publish(channel, payload)
                await pipe.execute()
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await client.aclose()


def _redis_benchmark(port: int, size: int, n: int) -> float:
    done = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-P", "64", "-n", str(n), "-q",
         "PUBLISH", "ff:STOCK:QUOTE:AAPL", "x" * size],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    match = re.search(r"([\d.]+) requests per second", done.stdout)
    assert match, done.stdout
    return float(match.group(1))


async def _edge_delivered(edge_port: int, streams: list[str], seconds: float) -> tuple[float, int]:
    """Events/s an SDK client of the edge receives (after 1 s of warm-up), and its gaps."""
    async with fastfeed.connect(f"ws://127.0.0.1:{edge_port}/v1/stream", overflow="pause") as feed:
        for stream in streams:
            await feed.subscribe(stream)
        count = 0
        warm = time.perf_counter() + 1.0
        started = end = 0.0
        while (batch := await feed.next_batch()) is not None:
            now = time.perf_counter()
            if now < warm:
                continue
            if not started:
                started, end = now, now + seconds
                continue
            count += len(batch)
            if now >= end:
                break
        return count / (time.perf_counter() - started), feed.stats.gaps


def _fastfeed_end_to_end(url: str, rate: str, seconds: float, log: Any) -> tuple[float, int]:
    """An edge and an ingest node at ``--rate rate`` (started for this measurement): the
    events/s one SDK client of the edge receives, every stream subscribed, and its gaps."""
    ingest_port, edge_port = free_port(), free_port()
    serve = [sys.executable, "-m", "fastfeed", "serve", "--log-level", "WARNING"]
    edge = spawn([*serve, "--port", str(edge_port), "--source", url], edge_port, stderr=log)
    ingest = spawn(
        [*serve, "--port", str(ingest_port), "--rate", rate, "--publish", url],
        ingest_port,
        stderr=log,
    )
    try:
        return uvloop.run(_edge_delivered(edge_port, stream_names(_universe()), seconds))
    finally:
        for process in (ingest, edge):
            process.terminate()
            process.wait(30)


_BASELINE_PUBLISHER = """
import sys, redis
url, path = sys.argv[1], sys.argv[2]
client = redis.Redis.from_url(url, protocol=2)
rows = [line.split(b" ", 1) for line in open(path, "rb").read().split(b"\\n") if line]
while True:
    for at in range(0, len(rows), 256):
        pipe = client.pipeline(transaction=False)
        for channel, payload in rows[at : at + 256]:
            pipe.publish(channel, payload)
        pipe.execute()
"""


async def _redis_py_delivered(url: str, seconds: float) -> float:
    """Messages/s a redis-py subscriber (``ff:*``) receives with ``get_message``."""
    client = aioredis.from_url(url, protocol=2)
    pubsub = client.pubsub()
    await pubsub.psubscribe("ff:*")
    count = 0
    warm = time.perf_counter() + 1.0
    started = 0.0
    try:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = time.perf_counter()
            if message is None or message["type"] != "pmessage" or now < warm:
                continue
            if not started:
                started = now
                continue
            count += 1
            if now - started >= seconds:
                return count / (now - started)
    finally:
        await pubsub.aclose()
        await client.aclose()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(
        tmp_path_factory.mktemp("redis"), extra=("--client-output-buffer-limit", "pubsub 0 0 0")
    ).start()
    yield server
    server.stop()


@pytest.mark.timeout(900)
def test_publish_and_end_to_end(benchmark: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    quick = benchmark.disabled
    n = 20_000 if quick else int(os.environ.get("FASTFEED_BENCH_REDIS_EVENTS", 1_000_000))
    rounds = 1 if quick else 3
    seconds = 1.0 if quick else 5.0
    url = redis_server.url
    chunks, _ = _commands(min(n, 100_000))
    payloads = _payloads(chunks)
    size = round(statistics.mean(len(p) for _, p in payloads))
    single_n = min(len(payloads), 5_000 if quick else 20_000)
    rates: dict[str, list[float]] = {k: [] for k in ("fastfeed", "single", "pipeline256")}
    for _ in range(rounds):
        rates["fastfeed"].append(uvloop.run(_fastfeed_publish(url, n))[0])
        rates["single"].append(uvloop.run(_redis_py_publish(url, payloads[:single_n], 1)))
        rates["pipeline256"].append(uvloop.run(_redis_py_publish(url, payloads, 256)))
    ceiling = _redis_benchmark(redis_server.port, size, 200_000 if quick else 2_000_000)

    # End to end: ingest → Redis → edge → SDK, and redis-py pipelines → redis-py subscriber.
    log = (tmp_path / "nodes.log").open("wb")
    try:
        delivered, gaps = _fastfeed_end_to_end(url, _INGEST_RATE, seconds, log)
        # The capacity: the highest rate on the ladder delivered whole (no gap).
        sustained = 0.0
        for rate in _LADDER_QUICK if quick else _LADDER:
            at_rate, lost = _fastfeed_end_to_end(url, str(rate), seconds, log)
            if lost:
                break
            sustained = at_rate
    finally:
        log.close()
    rows = tmp_path / "payloads.txt"
    rows.write_bytes(b"".join(c + b" " + p + b"\n" for c, p in payloads))
    publisher = subprocess.Popen([sys.executable, "-c", _BASELINE_PUBLISHER, url, str(rows)])
    try:
        baseline_delivered = uvloop.run(_redis_py_delivered(url, seconds))
    finally:
        publisher.kill()
        publisher.wait()

    ours = statistics.median(rates["fastfeed"])
    single = statistics.median(rates["single"])
    piped = statistics.median(rates["pipeline256"])
    benchmark.extra_info.update(
        payload_bytes=size,
        fastfeed_published_per_s=round(ours),
        redis_py_single_per_s=round(single),
        redis_py_pipeline256_per_s=round(piped),
        redis_benchmark_p64_per_s=round(ceiling),
        fastfeed_end_to_end_per_s=round(delivered),
        fastfeed_end_to_end_sustained_per_s=round(sustained),
        redis_py_end_to_end_per_s=round(baseline_delivered),
        end_to_end_gaps=gaps,
    )
    print(
        f"\nredis, {size}-byte payloads: publish fastfeed {ours:,.0f}/s, redis-py one PUBLISH "
        f"per call {single:,.0f}/s, pipelines of 256 {piped:,.0f}/s; redis-benchmark -P 64 "
        f"{ceiling:,.0f}/s. End to end (one subscriber): fastfeed ingest → edge → SDK "
        f"{delivered:,.0f}/s at --rate {_INGEST_RATE} ({gaps} gaps), {sustained:,.0f}/s at the "
        f"highest rate of the ladder delivered whole; redis-py pipelines → redis-py subscriber "
        f"{baseline_delivered:,.0f}/s. Ratios: publish {ours / piped:.1f}x pipelined, "
        f"end to end {delivered / baseline_delivered:.1f}x ({sustained / baseline_delivered:.1f}x "
        f"whole), {delivered / ceiling:.0%} of the ceiling ({sustained / ceiling:.0%} whole)"
    )
    assert delivered > 0 and ours > 0 and sustained > 0
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-s", *sys.argv[1:]]))
