"""``serve --source ws://…/v1/events`` (SPEC §5 Relay, issue 12): real processes, real loopback
sockets, no mocks.

An upstream ``fastfeed serve`` (the synthetic market, stamped with the wall clock) and relays run
as child processes; the clients are the SDK in this process. A live upstream rather than a
replay: a relay is for live data, and its clients subscribe at different moments, which a replay
(it starts at the first subscription) would turn into different windows of one file. Events
are compared over a window of market time in which every client was surely subscribed, as
multisets of typed events (each carries its contract, time, sequence and values).

What the upstream subscribed is read from the upstream's own log (``--log-level DEBUG``: each
command that changes a connection's streams logs ``client HOST:PORT streams: …``), what a user
would look at too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import fastfeed
import pytest
import uvloop
from fastfeed import Feed
from fastfeed.client.events import MarketEvent
from fastfeed.server.synthetic import new_york_clock
from prometheus_client.parser import text_string_to_metric_families
from test_tls import certificate  # noqa: F401 (the fixture)
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

SERVE = [sys.executable, "-m", "fastfeed", "serve"]
#: Upstream kill/restart cycles (issue 12 asks for 20: ``FASTFEED_RELAY_CYCLES=20``).
CYCLES = int(os.environ.get("FASTFEED_RELAY_CYCLES", "5"))

STOCKS = ("SPY", "AAPL", "MSFT", "QQQ", "TSLA")
STRIKES = range(545_000, 590_001, 5_000)
#: Streams of the synthetic market (its documented SPY expiration is always listed).
POOL = [
    *(f"stock.{s}@{k}" for s in STOCKS for k in ("trade", "quote", "ohlc")),
    "index.SPX@trade",
    "index.SPX@ohlc",
    *(
        f"option.SPY.20250321.{strike}.{right}@{k}"
        for strike in STRIKES
        for right in "CP"
        for k in ("trade", "quote", "ohlc", "open_interest")
    ),
    "stock@full_trades",
    "option@full_trades",
    "option@full_open_interest",
]

_STREAMS_LINE = re.compile(rb"client (\S+) streams: (.*)$")
_EVENTS_CLIENT = re.compile(rb"client (\S+) connected to /v1/events$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``python -m fastfeed serve`` in a child process; its log lines are collected."""

    def __init__(self, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.args = args
        self.env = env or {}
        self.lines: list[bytes] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        #: The streams of the upstream's ``/v1/events`` client (a relay), from the log.
        self.events_client: str | None = None
        self.streams: dict[str, list[str]] = {}

    @property
    def events_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/events"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    async def start(self) -> Serve:
        self.events_client = None
        self.process = await asyncio.create_subprocess_exec(
            *SERVE,
            "--port",
            str(self.port),
            *self.args,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.wait_log(b"serving ws", timeout=20, start=len(self.lines))
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            line = line.rstrip()
            self.lines.append(line)
            if match := _EVENTS_CLIENT.search(line):
                self.events_client = match[1].decode()
            elif match := _STREAMS_LINE.search(line):
                names = match[2].decode()
                self.streams[match[1].decode()] = [] if names == "-" else names.split()

    def upstream_streams(self) -> set[str]:
        """What the ``/v1/events`` client (the relay) is subscribed to, per the log."""
        return set(self.streams.get(self.events_client or "", []))

    async def wait_log(self, text: bytes, timeout: float = 10, start: int = 0) -> bytes:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines[start:]:
                    if text in line:
                        return line
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"serve exited: {b'|'.join(self.lines[-5:])!r}")
                await asyncio.sleep(0.02)

    async def wait_streams(self, expected: set[str], timeout: float = 15) -> None:
        """Until the upstream's log shows the relay subscribed to exactly ``expected``."""
        try:
            async with asyncio.timeout(timeout):
                while self.upstream_streams() != expected:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(
                f"upstream has {sorted(self.upstream_streams())}, want {sorted(expected)}"
            ) from None

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await self._reader

    async def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.process.wait(), 5)
        if self._reader is not None:
            await self._reader
        return code


@contextlib.asynccontextmanager
async def running(*servers: Serve) -> AsyncIterator[None]:
    try:
        for server in servers:
            await server.start()
        yield
    finally:
        for server in reversed(servers):
            await server.kill()


def upstream(*args: str) -> Serve:
    return Serve(free_port(), "--log-level", "DEBUG", *args)


def relay(of: Serve, *args: str) -> Serve:
    return Serve(free_port(), "--source", of.events_url, *args)


class Collector:
    """Reads a feed in a task: market events and notices."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.events: list[MarketEvent] = []
        self.notices: list[Any] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while (batch := await self.feed.next_batch()) is not None:
            for event in batch.to_events():
                if isinstance(event, MarketEvent):
                    self.events.append(event)
                elif not isinstance(event, fastfeed.Status):
                    self.notices.append(event)

    def window(self, start_ms: int, end_ms: int) -> Counter[MarketEvent]:
        return Counter(e for e in self.events if start_ms <= e.ms_of_day <= end_ms)

    async def close(self) -> None:
        await self.feed.close()
        await asyncio.wait_for(self.task, 5)


async def open_feed(url: str, **kwargs: Any) -> Feed:
    feed = fastfeed.connect(url, **kwargs)
    await feed.open()
    return feed


def run(test: Any, timeout: float = 110) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await test()

    uvloop.run(bounded())


# ---- equivalence, the upstream's union, refusals --------------------------------------------


def test_local_clients_get_what_direct_clients_get_and_the_upstream_holds_the_union() -> None:
    rng = random.Random(12)
    up = upstream("--rate", "1000")
    rel = relay(up)

    async def scenario() -> None:
        async with running(up, rel):
            wanted: list[list[str]] = [rng.sample(POOL, rng.randint(1, 4)) for _ in range(51)]
            local = [await open_feed(rel.stream_url) for _ in range(50)]
            local.append(await open_feed(rel.events_url))
            direct = [await open_feed(up.stream_url) for _ in range(51)]
            for feed, names in zip([*local, *direct], wanted * 2, strict=True):
                for name in names:
                    await feed.subscribe(name)
            union = {name for names in wanted for name in names}
            await up.wait_streams(union)
            # An unknown contract: the upstream's ERROR, with its message, reaches the asker.
            with pytest.raises(fastfeed.SubscriptionError) as refused:
                await local[3].subscribe("stock.NOPE@trade")
            assert str(refused.value) == (
                "params[0]: contract.symbol: no STOCK NOPE in this market; "
                "STOCK: AAPL, MSFT, QQQ, SPY, TSLA"
            )
            with pytest.raises(fastfeed.SubscriptionError) as refused:
                await local[50].subscribe("stock.NOPE@quote")
            assert str(refused.value) == (
                "contract.symbol: no STOCK NOPE in this market; STOCK: AAPL, MSFT, QQQ, SPY, TSLA"
            )
            assert await local[3].list_subscriptions() == wanted[3]
            await up.wait_streams(union)

            collectors = [Collector(feed) for feed in [*local, *direct]]
            await asyncio.sleep(0.5)
            start_ms = new_york_clock()[1]
            await asyncio.sleep(2.5)
            end_ms = new_york_clock()[1] - 500
            await asyncio.sleep(0.5)
            total = 0
            for i in range(51):
                mine = collectors[i].window(start_ms, end_ms)
                reference = collectors[51 + i].window(start_ms, end_ms)
                assert mine == reference, f"client {i} {wanted[i]}"
                total += sum(mine.values())
            assert total > 1000
            for feed in local:
                assert feed.stats.lost == 0 and feed.stats.reconnects == 0

            # Changes: the upstream follows the union, on demand.
            for _ in range(6):
                i = rng.randrange(51)
                if wanted[i] and rng.random() < 0.5:
                    name = wanted[i].pop(rng.randrange(len(wanted[i])))
                    await local[i].unsubscribe(name)
                else:
                    name = rng.choice(POOL)
                    await local[i].subscribe(name)
                    if name not in wanted[i]:
                        wanted[i].append(name)
                await up.wait_streams({name for names in wanted for name in names})
            for collector in collectors:
                await collector.close()
            # Every local client gone: the upstream holds nothing.
            await up.wait_streams(set())
            # All along, one upstream connection (and the 51 direct /v1/stream clients).
            assert sum(b"connected to /v1/events" in line for line in up.lines) == 1

    run(scenario)


# ---- outages, takeover, relay of a relay, unreachable at start -------------------------------


def covers(event: MarketEvent, name: str) -> bool:
    """Whether ``event`` is one of stream ``name``'s kind on its contract (stock streams and
    ``stock@full_trades`` only)."""
    target, kind = name.split("@")
    kinds = {"trade": fastfeed.Trade, "quote": fastfeed.Quote, "ohlc": fastfeed.Ohlc}
    if target == "stock":
        return isinstance(event, fastfeed.Trade) and isinstance(event.contract, fastfeed.Stock)
    sec, symbol = target.split(".")
    contract = fastfeed.Stock(symbol) if sec == "stock" else fastfeed.Index(symbol)
    return isinstance(event, kinds[kind]) and event.contract == contract


#: Bound of one wait for the relay: its reconnect backoff (full jitter, doubling from 0.25 s)
#: plus an upstream process starting on a loaded 2-core machine.
WAIT = 30


async def wait_every_stream(clients: list[tuple[Collector, list[str]]], since: list[int]) -> None:
    """Until each client received an event of each of its streams after ``since``."""
    async with asyncio.timeout(WAIT):
        for (collector, names), mark in zip(clients, since, strict=True):
            for name in names:
                while not any(covers(e, name) for e in collector.events[mark:]):
                    await asyncio.sleep(0.02)


async def wait_notices(collectors: list[Collector], kind: type, count: int) -> None:
    async with asyncio.timeout(WAIT):
        for collector in collectors:
            while sum(isinstance(n, kind) for n in collector.notices) < count:
                await asyncio.sleep(0.02)


@pytest.mark.timeout(90 + 30 * CYCLES)
def test_upstream_killed_and_restarted_local_clients_stay_and_get_every_stream_again() -> None:
    rng = random.Random(5)
    up = upstream("--rate", "2000")
    rel = relay(up)
    plan = [
        (rel.stream_url, ["stock.SPY@trade"]),
        (rel.stream_url, ["stock.AAPL@quote", "index.SPX@trade"]),
        (rel.stream_url, ["stock.MSFT@ohlc"]),
        (rel.events_url, ["stock@full_trades", "stock.QQQ@quote"]),
    ]
    union = {name for _, names in plan for name in names}

    async def scenario() -> None:
        async with running(up, rel):
            clients: list[tuple[Collector, list[str]]] = []
            for url, names in plan:
                feed = await open_feed(url)
                for name in names:
                    await feed.subscribe(name)
                clients.append((Collector(feed), names))
            collectors = [c for c, _ in clients]
            await up.wait_streams(union)
            await wait_every_stream(clients, [0] * len(clients))
            for cycle in range(1, CYCLES + 1):
                await asyncio.sleep(rng.uniform(0.05, 1.0))
                await up.kill()
                await wait_notices(collectors, fastfeed.UpstreamDown, cycle)
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                marks = [len(c.events) for c in collectors]
                await up.start()
                await wait_notices(collectors, fastfeed.UpstreamUp, cycle)
                await wait_every_stream(clients, marks)
                await up.wait_streams(union)
            for collector in collectors:
                assert collector.feed.connected
                assert collector.feed.stats.reconnects == 0
                assert not any(isinstance(n, fastfeed.Disconnected) for n in collector.notices)
                await collector.close()
            relay_log = b"\n".join(rel.lines)
            assert relay_log.count(b"upstream ws://127.0.0.1") >= 2 * CYCLES

    run(scenario, timeout=80 + 30 * CYCLES)


def test_takeover_of_the_upstream_connection_is_logged_and_the_relay_connects_again() -> None:
    up = upstream("--rate", "2000")
    rel = relay(up)

    async def scenario() -> None:
        async with running(up, rel):
            feed = await open_feed(rel.stream_url)
            await feed.subscribe("stock.SPY@quote")
            collector = Collector(feed)
            await up.wait_streams({"stock.SPY@quote"})
            async with ws_connect(up.events_url) as intruder:
                await rel.wait_log(b"another client took the upstream")
                await wait_notices([collector], fastfeed.UpstreamDown, 1)
                # The relay comes back (after a backoff) and takes its connection back.
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(WAIT):
                        while True:
                            await intruder.recv()
                assert intruder.close_code == 1000
                assert intruder.close_reason == "replaced by a new client connection"
            await wait_notices([collector], fastfeed.UpstreamUp, 1)
            mark = len(collector.events)
            await wait_every_stream([(collector, ["stock.SPY@quote"])], [mark])
            await up.wait_streams({"stock.SPY@quote"})
            await collector.close()

    run(scenario)


def test_relay_of_a_relay() -> None:
    up = upstream("--rate", "2000")
    first = relay(up)
    second = relay(first)

    async def scenario() -> None:
        async with running(up, first, second):
            feed = await open_feed(second.stream_url)
            await feed.subscribe("stock.TSLA@trade")
            with pytest.raises(fastfeed.SubscriptionError) as refused:
                await feed.subscribe("index.NOPE@trade")
            assert str(refused.value) == (
                "params[0]: contract.symbol: no INDEX NOPE in this market; INDEX: SPX"
            )
            collector = Collector(feed)
            await up.wait_streams({"stock.TSLA@trade"})
            await wait_every_stream([(collector, ["stock.TSLA@trade"])], [0])
            # The first relay loses its upstream: the second one's clients hear of it too.
            await up.kill()
            await wait_notices([collector], fastfeed.UpstreamDown, 1)
            mark = len(collector.events)
            await up.start()
            await wait_notices([collector], fastfeed.UpstreamUp, 1)
            await wait_every_stream([(collector, ["stock.TSLA@trade"])], [mark])
            assert feed.stats.reconnects == 0
            await collector.close()
            await up.wait_streams(set())

    run(scenario)


def test_unreachable_upstream_at_start_serves_retries_quietly_and_exits_on_ctrl_c() -> None:
    up = upstream("--rate", "2000")
    rel = relay(up)

    async def scenario() -> None:
        await rel.start()  # nothing listens on the upstream's port yet
        try:
            feed = await open_feed(rel.stream_url)
            # No answer from the upstream within confirm_timeout (5 s): accepted, and sent
            # upstream once it is there.
            started = time.monotonic()
            await feed.subscribe("stock.AAPL@trade")
            assert 4.5 < time.monotonic() - started < 7
            collector = Collector(feed)
            await wait_notices([collector], fastfeed.UpstreamDown, 1)
            failures = [line for line in rel.lines if b"failed" in line]
            assert len(failures) == 1, failures  # rate-limited: one line per 10 s
            assert b"attempt 1 failed: cannot connect to ws://127.0.0.1:" in failures[0]
            await up.start()
            await wait_notices([collector], fastfeed.UpstreamUp, 1)
            await wait_every_stream([(collector, ["stock.AAPL@trade"])], [0])
            await up.wait_streams({"stock.AAPL@trade"})
            await collector.close()
            assert await rel.interrupt() == 0
        finally:
            await rel.kill()
            await up.kill()

    run(scenario)


# ---- loss accounting, command order, all or none ---------------------------------------------


def test_upstream_drops_are_counted_into_local_clients_dropped() -> None:
    up = upstream("--rate", "20000", "--max-pending-bytes", "50000")
    metrics_port = free_port()
    rel = relay(up, "--metrics-port", str(metrics_port))

    async def scenario() -> None:
        async with running(up, rel):
            feed = await open_feed(rel.stream_url, heartbeat_timeout=10)
            await feed.subscribe("stock@full_trades")
            collector = Collector(feed)
            await up.wait_streams({"stock@full_trades"})
            assert rel.process is not None
            rel.process.send_signal(signal.SIGSTOP)  # the relay reads nothing: upstream drops
            await asyncio.sleep(2)
            rel.process.send_signal(signal.SIGCONT)
            line = await rel.wait_log(b"relay: the upstream lost")
            lost = int(line.split(b"upstream lost ")[1].split()[0])
            assert lost > 0
            async with asyncio.timeout(5):
                while feed.stats.server_dropped < lost:
                    await asyncio.sleep(0.05)
            gaps = [n for n in collector.notices if isinstance(n, fastfeed.Gap)]
            assert gaps and {g.reason for g in gaps} == {"server_dropped"}
            await collector.close()
            # Every loss the relay counted reached the client: the sums agree.
            counted = sum(
                int(x.split(b"upstream lost ")[1].split()[0])
                for x in rel.lines
                if b"relay: the upstream lost" in x
            )
            assert feed.stats.server_dropped == counted
            # And in the relay's metrics: counted once, and once per local client (one here).
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{metrics_port}/metrics") as response,
            ):
                text = await response.text()
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            counted_later = sum(
                int(x.split(b"upstream lost ")[1].split()[0])
                for x in rel.lines
                if b"relay: the upstream lost" in x
            )
            lost_once = samples["fastfeed_source_events_lost_total", (("source", "relay"),)]
            per_client = samples[
                "fastfeed_events_dropped_total",
                (("endpoint", "/v1/stream"), ("reason", "upstream")),
            ]
            assert counted <= per_client <= lost_once <= counted_later
            assert samples["fastfeed_reconnects_total", (("link", "source"),)] == 0
            assert samples["fastfeed_upstream_connected", (("source", "relay"),)] == 1

    run(scenario)


def test_commands_behind_one_waiting_for_the_upstream_are_answered_in_order_all_or_none() -> None:
    up = upstream("--rate", "2000")
    rel = relay(up)

    async def scenario() -> None:
        async with running(up, rel), ws_connect(rel.stream_url) as ws:
            await ws.send(
                '{"method":"SUBSCRIBE","params":["stock.SPY@quote","stock.NOPE@quote"],"id":1}'
            )
            await ws.send('{"method":"SUBSCRIBE","params":["stock.AAPL@quote"],"id":2}')
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
            replies = []
            async with asyncio.timeout(10):
                while len(replies) < 3:
                    message = json.loads(await ws.recv())
                    if "id" in message:
                        replies.append(message)
            assert replies == [
                {
                    "error": {
                        "code": "INVALID_PARAM",
                        "msg": "params[1]: contract.symbol: no STOCK NOPE in this market; "
                        "STOCK: AAPL, MSFT, QQQ, SPY, TSLA",
                    },
                    "id": 1,
                },
                {"result": None, "id": 2},
                {"result": ["stock.AAPL@quote"], "id": 3},
            ]
            # stock.SPY@quote came with the refused command: the upstream let it go again.
            await up.wait_streams({"stock.AAPL@quote"})

    run(scenario)


def test_relay_of_a_wss_upstream_with_a_token(certificate: tuple[Path, Path]) -> None:  # noqa: F811
    cert, key = certificate
    up = Serve(free_port(), "--tls-cert", str(cert), "--tls-key", str(key), "--token", "T")
    url = f"wss://127.0.0.1:{up.port}/v1/events?token=T"
    # The relay trusts the upstream's certificate through the environment (Python's default
    # context reads SSL_CERT_FILE).
    rel = Serve(free_port(), "--source", url, env={"SSL_CERT_FILE": str(cert)})
    run(lambda: quotes_arrive_through(up, rel, secret=b"token=T"))
    assert b"relay of wss://127.0.0.1:%d/v1/events?\xe2\x80\xa6: connecting" % up.port in (
        b"\n".join(rel.lines)
    )


async def quotes_arrive_through(up: Serve, rel: Serve, secret: bytes) -> None:
    """A local client of ``rel`` gets quotes from ``up``; ``secret`` stays out of the log."""
    async with running(up, rel):
        feed = await open_feed(rel.stream_url)
        await feed.subscribe("stock.SPY@quote")
        collector = Collector(feed)
        await wait_every_stream([(collector, ["stock.SPY@quote"])], [0])
        await collector.close()
    assert not any(secret in line for line in rel.lines)


def test_relay_sends_its_header_to_an_upstream_that_requires_a_token() -> None:
    up = Serve(free_port(), "--token", "T0KEN")
    url = f"ws://127.0.0.1:{up.port}/v1/events"
    rel = Serve(free_port(), "--source", url, "--header", "Authorization: Bearer T0KEN")
    run(lambda: quotes_arrive_through(up, rel, secret=b"T0KEN"))
