"""Scale-out over Redis Pub/Sub (SPEC §7) with real processes: a ``redis-server``, an ingest
node (``serve --publish``), edge nodes (``serve --source redis://``) and SDK clients.

Skipped only where ``redis-server`` is not installed (``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import fastfeed
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from benches.process_support import REDIS_SERVER, RedisServer, free_port, spawn
from tests.server_support import run

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed (apt-get install redis-server; .ci/run does)",
)

SERVE = [sys.executable, "-m", "fastfeed", "serve"]
DATA = (fastfeed.Trade, fastfeed.Quote, fastfeed.Ohlc, fastfeed.OpenInterest)


class Node:
    """A ``serve`` process on a free port, its log in the test's directory."""

    def __init__(self, workdir: Path, name: str, *args: str) -> None:
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = spawn(
                [*SERVE, "--port", str(self.port), *args], self.port, stdout=out, stderr=out
            )

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


async def collect(feed: fastfeed.Feed, seconds: float) -> list[Any]:
    """Every event the feed yields for ``seconds``."""
    events: list[Any] = []
    deadline = asyncio.get_running_loop().time() + seconds
    with_timeout = asyncio.timeout_at(deadline)
    try:
        async with with_timeout:
            async for event in feed:
                events.append(event)
    except TimeoutError:
        pass
    return events


def data(events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, DATA)]


def assert_contiguous_slice(part: list[Any], whole: list[Any]) -> None:
    """``part`` is ``whole[k : k + len(part)]`` for some k."""
    assert part, "no events"
    start = whole.index(part[0])
    assert whole[start : start + len(part)] == part


async def wait_for(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


#: One client per edge: different streams, both endpoints, a whole-market pattern.
SUBSCRIPTIONS: list[tuple[str, list[str]]] = [
    ("/v1/stream", ["stock.AAPL@trade", "stock.MSFT@quote"]),
    ("/v1/stream", ["stock@full_trades"]),
    ("/v1/events", ["stock.SPY@quote", "index.SPX@trade"]),
]


@needs_redis
def test_edges_deliver_exactly_what_the_ingest_node_serves_and_subscribe_on_demand(
    tmp_path: Path, redis: RedisServer, nodes: list[Node]
) -> None:
    nodes.append(Node(tmp_path, "ingest", "--rate", "3000", "--publish", redis.url))
    nodes.extend(Node(tmp_path, f"edge{i}", "--source", redis.url) for i in range(3))
    ingest, edges = nodes[0], nodes[1:]

    def numsub(*channels: str) -> list[int]:
        return [int(n) for n in redis.cli("PUBSUB", "NUMSUB", *channels)[1::2]]

    channels = [
        "ff:STOCK:TRADE:AAPL",
        "ff:STOCK:OHLC:AAPL",
        "ff:STOCK:QUOTE:MSFT",
        "ff:STOCK:QUOTE:SPY",
        "ff:INDEX:TRADE:SPX",
        "ff:INDEX:OHLC:SPX",
        "ff:STOCK:QUOTE:AAPL",  # nobody wants it
    ]

    async def pseqs(url: str, count: int) -> dict[str, list[int]]:
        """The header pseq of the first ``count`` events on a raw connection, per type."""
        seen: dict[str, list[int]] = defaultdict(list)
        async with connect(url) as ws:
            command = {"method": "SUBSCRIBE", "params": ["stock.QQQ@trade"], "id": 1}
            await ws.send(json.dumps(command))
            while sum(map(len, seen.values())) < count:
                message = json.loads(await ws.recv())
                header = message.get("data", {}).get("header", {})
                if "pseq" in header:
                    seen[header["type"]].append(header["pseq"])
        return seen

    async def body() -> None:
        assert numsub(*channels) == [0] * len(channels)
        assert redis.cli("PUBSUB", "NUMPAT") == ["0"]
        ingest_feeds = [fastfeed.connect(ingest.url(path)) for path, _ in SUBSCRIPTIONS]
        edge_feeds = [
            fastfeed.connect(edge.url(path))
            for edge, (path, _) in zip(edges, SUBSCRIPTIONS, strict=True)
        ]
        for feed in ingest_feeds + edge_feeds:
            await feed.__aenter__()
        try:
            for feed, (_, streams) in zip(ingest_feeds, SUBSCRIPTIONS, strict=True):
                for stream in streams:
                    await feed.subscribe(stream)
            ingest_runs = [asyncio.ensure_future(collect(f, 4.5)) for f in ingest_feeds]
            await asyncio.sleep(0.3)
            for feed, (_, streams) in zip(edge_feeds, SUBSCRIPTIONS, strict=True):
                for stream in streams:
                    await feed.subscribe(stream)
            await wait_for(lambda: numsub(*channels) == [1, 1, 1, 1, 1, 1, 0])
            await wait_for(lambda: redis.cli("PUBSUB", "NUMPAT") == ["2"])
            # Events from before a client's last stream was subscribed at Redis are not what
            # the ingest node's client (subscribed at once) got: drop them.
            await asyncio.gather(*(collect(f, 0.3) for f in edge_feeds))
            edge_runs = [asyncio.ensure_future(collect(f, 3.0)) for f in edge_feeds]
            raw = await pseqs(edges[0].url("/v1/stream"), 40)
            at_ingest = [data(e) for e in await asyncio.gather(*ingest_runs)]
            at_edges = [data(e) for e in await asyncio.gather(*edge_runs)]
            for feed in edge_feeds:
                assert feed.stats.gaps == 0, feed.stats
        finally:
            for feed in ingest_feeds + edge_feeds:
                await feed.__aexit__(None, None, None)
        for edge_events, ingest_events in zip(at_edges, at_ingest, strict=True):
            assert len(edge_events) > 20
            assert_contiguous_slice(edge_events, ingest_events)
        assert {type(e) for e in at_edges[1]} == {fastfeed.Trade, fastfeed.Ohlc}
        # The payloads are the publisher's bytes, pseq included: consecutive per channel.
        for numbers in raw.values():
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        # The last local listener gone, the edges unsubscribe.
        await wait_for(lambda: numsub(*channels) == [0] * len(channels))
        await wait_for(lambda: redis.cli("PUBSUB", "NUMPAT") == ["0"])

    run(body, timeout=60)


async def edge_and_ingest_feeds(
    ingest: Node, edge: Node, stream: str
) -> tuple[fastfeed.Feed, fastfeed.Feed]:
    feeds = (fastfeed.connect(ingest.url("/v1/stream")), fastfeed.connect(edge.url("/v1/stream")))
    for feed in feeds:
        await feed.__aenter__()
        await feed.subscribe(stream)
    return feeds


@needs_redis
def test_a_killed_redis_is_an_upstream_outage_and_the_gap_equals_the_events_lost(
    tmp_path: Path, redis: RedisServer, nodes: list[Node]
) -> None:
    ingest_metrics, edge_metrics = free_port(), free_port()
    nodes.append(
        Node(
            tmp_path,
            "ingest",
            *("--rate", "3000", "--publish", redis.url, "--metrics-port", str(ingest_metrics)),
        )
    )
    nodes.append(Node(tmp_path, "edge", "--source", redis.url, "--metrics-port", str(edge_metrics)))
    ingest, edge = nodes

    async def body() -> None:
        truth_feed, edge_feed = await edge_and_ingest_feeds(ingest, edge, "stock@full_trades")
        try:
            truth_run = asyncio.ensure_future(collect(truth_feed, 14))
            await asyncio.sleep(0.3)
            seen: list[Any] = []

            async def until(kind: type, timeout: float) -> None:
                async with asyncio.timeout(timeout):
                    async for event in edge_feed:
                        seen.append(event)
                        if isinstance(event, kind):
                            return

            await asyncio.sleep(1.0)
            redis.signal(signal.SIGKILL)
            await until(fastfeed.UpstreamDown, 8)
            await asyncio.sleep(1.0)
            redis.start()
            await until(fastfeed.UpstreamUp, 12)
            seen.extend(await collect(edge_feed, 3.0))  # includes the Gap, at the next STATUS
            truth = data(await truth_run)
            assert edge_feed.connected and edge_feed.stats.reconnects == 0
        finally:
            await truth_feed.__aexit__(None, None, None)
            await edge_feed.__aexit__(None, None, None)
        got = data(seen)
        start = truth.index(got[0])
        window = truth[start : truth.index(got[-1]) + 1]
        lost = len(window) - len(got)
        assert lost > 0
        assert [e for e in window if e in got] == got
        gaps = sum(e.count for e in seen if isinstance(e, fastfeed.Gap))
        assert gaps == lost
        # The metrics tell the same: the edge's gap (once, and for its one client; a channel
        # that resumed after the client left may add to both), one reconnection each side,
        # the ingest node's drops while Redis was down.
        async with aiohttp.ClientSession() as session:
            at_edge = await scrape(session, edge_metrics)
            at_ingest = await scrape(session, ingest_metrics)
        per_client = at_edge[
            "fastfeed_events_dropped_total", (("endpoint", "/v1/stream"), ("reason", "redis_gap"))
        ]
        assert (
            gaps
            <= per_client
            <= at_edge["fastfeed_source_events_lost_total", (("source", "redis"),)]
        )
        assert at_edge["fastfeed_reconnects_total", (("link", "source"),)] == 1
        assert at_edge["fastfeed_upstream_connected", (("source", "redis"),)] == 1
        assert at_ingest["fastfeed_reconnects_total", (("link", "redis-publish"),)] == 1
        publish_dropped = ("endpoint", "redis-publish"), ("reason", "slow_consumer")
        assert at_ingest["fastfeed_events_dropped_total", publish_dropped] > 0
        assert at_ingest["fastfeed_events_sent_total", (("endpoint", "redis-publish"),)] > 0
        assert at_ingest["fastfeed_pending_bytes", (("endpoint", "redis-publish"),)] >= 0

    run(body, timeout=60)


async def scrape(
    session: aiohttp.ClientSession, port: int
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A node's metrics: ``(name, sorted labels)`` → value."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@needs_redis
def test_a_stopped_redis_never_holds_the_ingest_node_back_and_memory_stays_bounded(
    tmp_path: Path, redis: RedisServer, nodes: list[Node]
) -> None:
    rate = 20_000
    nodes.append(Node(tmp_path, "ingest", "--rate", str(rate), "--publish", redis.url))
    ingest = nodes[0]

    async def body() -> None:
        async with fastfeed.connect(ingest.url("/v1/stream")) as feed:
            await feed.subscribe("stock@full_trades")
            await feed.subscribe("option@full_open_interest")
            for stream in ("stock.SPY@quote", "stock.AAPL@quote", "stock.MSFT@quote"):
                await feed.subscribe(stream)
            await collect(feed, 1.0)
            before = ingest.rss_kib()
            redis.signal(signal.SIGSTOP)
            try:
                peak = 0
                received = 0
                for _ in range(10):
                    received += len(data(await collect(feed, 1.0)))
                    peak = max(peak, ingest.rss_kib())
            finally:
                redis.signal(signal.SIGCONT)
            assert feed.stats.gaps == 0
        assert received > 10 * 300, received  # events of these streams kept flowing
        assert (peak - before) / 1024 < 48, (before, peak)
        assert "redis publish: dropped" in ingest.log.read_text()

    run(body, timeout=60)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@contextlib.contextmanager
def running_cluster(
    workdir: Path, tls: tuple[Path, Path] | None = None
) -> Iterator[list[RedisServer]]:
    """A real local Redis Cluster of three masters, no replicas; with ``tls`` (a certificate
    and its key), TLS only, the cluster bus too."""
    extra: tuple[str, ...] = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    if tls is not None:
        extra += ("--tls-cluster", "yes")
    masters = [
        RedisServer(workdir / f"node{i}", port=cluster_port(), extra=extra, tls=tls)
        for i in range(3)
    ]
    try:
        for master in masters:
            master.start()
        options = ["--tls", "--cacert", str(tls[0])] if tls is not None else []
        subprocess.run(
            ["redis-cli", *options, "--cluster", "create",
             *[f"127.0.0.1:{m.port}" for m in masters],
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not all("cluster_state:ok" in m.cli("CLUSTER", "INFO") for m in masters):
            assert time.monotonic() < deadline, "cluster did not come up"
            time.sleep(0.2)
        yield masters
    finally:
        for master in masters:
            master.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """A real local Redis Cluster of three masters, no replicas."""
    with running_cluster(tmp_path) as masters:
        yield masters


def move_slot(masters: list[RedisServer], slot: int) -> tuple[int, int]:
    """Reshards ``slot`` to the next master (``CLUSTER SETSLOT`` as ``redis-cli --cluster
    reshard`` does; shard channels have no keys to migrate); returns (from, to) indexes."""
    ids = [m.cli("CLUSTER", "MYID")[0] for m in masters]
    owner = next(
        i
        for i, m in enumerate(masters)
        if str(slot) in _owned_slots(m.cli("CLUSTER", "NODES"), ids[i])
    )
    target = (owner + 1) % len(masters)
    masters[target].cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", ids[owner])
    masters[owner].cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", ids[target])
    for master in (masters[target], masters[owner], *masters):
        master.cli("CLUSTER", "SETSLOT", str(slot), "NODE", ids[target])
    return owner, target


def _owned_slots(nodes: list[str], node_id: str) -> set[str]:
    """Slots (as strings) of ``node_id`` in ``CLUSTER NODES`` output words."""
    at = nodes.index(node_id)
    slots: set[str] = set()
    for word in nodes[at + 8 :]:
        if len(word) == 40 and all(c in "0123456789abcdef" for c in word):
            break
        if "-" in word and not word.startswith("["):
            low, high = word.split("-")
            slots.update(str(s) for s in range(int(low), int(high) + 1))
        elif word.isdigit():
            slots.add(word)
    return slots


def per_channel(events: list[Any]) -> dict[tuple[str, Any], list[Any]]:
    """Events by (type, contract): a channel's order is kept, across channels it is not."""
    channels: dict[tuple[str, Any], list[Any]] = defaultdict(list)
    for event in events:
        channels[(type(event).__name__, event.contract)].append(event)
    return channels


def cluster_ingest_and_edge(
    tmp_path: Path, cluster: list[RedisServer], nodes: list[Node]
) -> tuple[Node, Node]:
    """An ingest node publishing 3000 events/s to ``cluster`` (through its first master) and an
    edge reading it (through its second), both with ``--redis-cluster``."""
    seed = cluster[0].url
    ingest = Node(tmp_path, "ingest", "--rate", "3000", "--publish", seed, "--redis-cluster")
    nodes.append(ingest)
    edge = Node(tmp_path, "edge", "--source", cluster[1].url, "--redis-cluster")
    nodes.append(edge)
    return ingest, edge


@needs_redis
def test_a_cluster_edge_gets_exactly_its_channels_through_a_reshard(
    tmp_path: Path, cluster: list[RedisServer], nodes: list[Node]
) -> None:
    from fastfeed._core import redis_key_slot

    ingest, edge = cluster_ingest_and_edge(tmp_path, cluster, nodes)
    streams = [f"stock.{s}@quote" for s in ("SPY", "AAPL", "MSFT", "QQQ", "TSLA")]
    streams.append("stock.AAPL@trade")
    channels = [f"ff:STOCK:QUOTE:{s}" for s in ("SPY", "AAPL", "MSFT", "QQQ", "TSLA")]
    channels += ["ff:STOCK:TRADE:AAPL", "ff:STOCK:OHLC:AAPL"]

    def shard_counts() -> list[int]:
        """Per master: how many of ``channels`` have a subscriber there."""
        return [
            sum(int(n) for n in m.cli("PUBSUB", "SHARDNUMSUB", *channels)[1::2]) for m in cluster
        ]

    async def body() -> None:
        truth_feed = fastfeed.connect(ingest.url("/v1/stream"))
        edge_feed = fastfeed.connect(edge.url("/v1/stream"))
        for feed in (truth_feed, edge_feed):
            await feed.__aenter__()
        try:
            for stream in streams:
                await truth_feed.subscribe(stream)
            truth_run = asyncio.ensure_future(collect(truth_feed, 9))
            await asyncio.sleep(0.3)
            for stream in streams:
                await edge_feed.subscribe(stream)
            await wait_for(lambda: sum(shard_counts()) == len(channels))
            spread = shard_counts()
            edge_run = asyncio.ensure_future(collect(edge_feed, 7))
            await asyncio.sleep(2)
            moved = move_slot(cluster, redis_key_slot(b"ff:STOCK:QUOTE:SPY"))
            await wait_for(lambda: sum(shard_counts()) == len(channels))
            seen = await edge_run
            truth = data(await truth_run)
        finally:
            for feed in (truth_feed, edge_feed):
                await feed.__aexit__(None, None, None)
        assert sum(1 for n in spread if n) >= 2, spread  # the channels spread over the shards
        got = per_channel(data(seen))
        want = per_channel(truth)
        assert set(got) == set(want)
        lost_total = 0
        for key, events in got.items():
            window = want[key][want[key].index(events[0]) : want[key].index(events[-1]) + 1]
            assert [e for e in window if e in events] == events, key
            lost_total += len(window) - len(events)
        gaps = sum(e.count for e in seen if isinstance(e, fastfeed.Gap))
        assert gaps == lost_total, (gaps, lost_total, moved)

    run(body, timeout=90)


@needs_redis
def test_a_cluster_edge_serves_whole_market_streams_while_someone_listens(
    tmp_path: Path, cluster: list[RedisServer], nodes: list[Node]
) -> None:
    ingest, edge = cluster_ingest_and_edge(tmp_path, cluster, nodes)
    market = ["ff:STOCK:TRADE:*", "ff:STOCK:OHLC:*"]

    def listeners() -> int:
        """Subscribers of the whole-market channels, over the shards."""
        return sum(int(n) for m in cluster for n in m.cli("PUBSUB", "SHARDNUMSUB", *market)[1::2])

    async def body() -> None:
        truth = fastfeed.connect(ingest.url("/v1/stream"))
        whole = fastfeed.connect(edge.url("/v1/stream"))
        # Heard at the edge on its own channels and on the whole-market ones: once.
        aapl = fastfeed.connect(edge.url("/v1/events"))
        feeds = (truth, whole, aapl)
        for feed in feeds:
            await feed.__aenter__()
        try:
            await truth.subscribe("stock@full_trades")
            truth_run = asyncio.ensure_future(collect(truth, 9))
            await asyncio.sleep(0.3)
            assert listeners() == 0
            await whole.subscribe("stock@full_trades")
            await aapl.subscribe("TRADE", fastfeed.Stock("AAPL"))
            await wait_for(lambda: listeners() == len(market))
            # The publisher looks every second: what came before it repeated the events is
            # not what the ingest node's client got.
            await asyncio.gather(collect(whole, 1.5), collect(aapl, 1.5))
            whole_run = asyncio.ensure_future(collect(whole, 4))
            aapl_run = asyncio.ensure_future(collect(aapl, 4))
            seen_whole, seen_aapl = await whole_run, await aapl_run
            want = per_channel(data(await truth_run))
            for feed in (whole, aapl):
                assert feed.stats.gaps == 0, feed.stats
        finally:
            for feed in feeds:
                await feed.__aexit__(None, None, None)
        got = per_channel(data(seen_whole))
        assert len(got) > 4, got.keys()
        assert {kind for kind, _ in got} == {"Trade", "Ohlc"}
        for key, events in got.items():
            assert_contiguous_slice(events, want[key])
        got = per_channel(data(seen_aapl))
        assert {contract.symbol for _, contract in got} == {"AAPL"}
        for key, events in got.items():
            assert len(events) > 10
            assert_contiguous_slice(events, want[key])
        # The last local listener gone, the edge leaves the whole-market channels.
        await wait_for(lambda: listeners() == 0)

    run(body, timeout=60)


def test_redis_urls() -> None:
    from fastfeed.errors import ConfigError
    from fastfeed.server.redis_link import RedisUrl

    url = RedisUrl.parse("redis://:S3cret@10.0.0.1:6380/2")
    assert url == RedisUrl("10.0.0.1", 6380, 2, "S3cret", None)
    assert str(url) == "redis://:***@10.0.0.1:6380/2"
    assert RedisUrl.parse("redis://feed:p%40ss@host") == RedisUrl("host", 6379, 0, "p@ss", "feed")
    tls = RedisUrl.parse("rediss://feed:S3cret@host/1?ssl_ca_certs=/etc/ca%20s.pem")
    assert tls == RedisUrl("host", 6379, 1, "S3cret", "feed", tls=True, ca_certs="/etc/ca s.pem")
    assert str(tls) == "rediss://feed:***@host:6379/1"
    assert RedisUrl.parse("redis://host").ssl_context() is None
    with pytest.raises(ConfigError, match=r"^--publish: expected redis://"):
        RedisUrl.parse("https://host:6379/0", "--publish")
    # A bad URL is a one-line error that never shows the password.
    for text, message in [
        (
            "redis://:S3cret@host:99999/0",
            "port must be 1-65535 in 'redis://:***@host:99999/0'",
        ),
        (
            "rediss://u:S3cret@host/0?ssl_ca_certs=a&ssl_ca_certs=b",
            "the only query is ?ssl_ca_certs=FILE (rediss://), in "
            "'rediss://u:***@host/0?ssl_ca_certs=a&ssl_ca_certs=b'",
        ),
        (
            "rediss://host/0?ssl_cert_reqs=none",
            "the only query is ?ssl_ca_certs=FILE (rediss://), in "
            "'rediss://host/0?ssl_cert_reqs=none'",
        ),
        (
            "redis://:S3cret@host/0?ssl_ca_certs=ca.pem",
            "ssl_ca_certs needs rediss:// (TLS), in 'redis://:***@host/0?ssl_ca_certs=ca.pem'",
        ),
    ]:
        with pytest.raises(ConfigError) as refused:
            RedisUrl.parse(text)
        assert str(refused.value) == message
    with pytest.raises(ConfigError, match=r"^ssl_ca_certs: cannot read /nonexistent/ca.pem: No "):
        RedisUrl.parse("rediss://host/0?ssl_ca_certs=/nonexistent/ca.pem").ssl_context()


@needs_redis
def test_links_authenticate_select_and_refuse_a_wrong_password_or_db(tmp_path: Path) -> None:
    from fastfeed.errors import RedisRefusedError
    from fastfeed.server.redis_link import RedisLink, RedisUrl

    server = RedisServer(tmp_path / "redis", extra=("--requirepass", "S3cret")).start()

    async def body() -> None:
        good = RedisUrl.parse(f"redis://:S3cret@127.0.0.1:{server.port}/3")
        link = await RedisLink.open(good)
        assert await link.call(b"CLIENT", b"INFO") is not None
        info = await link.call(b"CLIENT", b"INFO")
        assert isinstance(info, bytes) and b" db=3 " in info
        link.abort("done")
        # Refusals are not outages: a distinct error (the reconnector still retries it).
        with pytest.raises(RedisRefusedError, match="AUTH: WRONGPASS"):
            await RedisLink.open(RedisUrl.parse(f"redis://:wrong@127.0.0.1:{server.port}/0"))
        with pytest.raises(RedisRefusedError, match="PING: NOAUTH"):
            await RedisLink.open(RedisUrl.parse(f"redis://127.0.0.1:{server.port}/0"))
        with pytest.raises(RedisRefusedError, match="SELECT: ERR DB index is out of range"):
            await RedisLink.open(RedisUrl.parse(f"redis://:S3cret@127.0.0.1:{server.port}/99"))

    try:
        run(body, timeout=30)
    finally:
        server.stop()
