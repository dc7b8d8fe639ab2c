"""Redis over TLS (``rediss://``) and the settings Redis refuses, with real processes: a
``redis-server`` serving TLS only, with a certificate made by the test, or requiring a password;
ingest and edge nodes (``serve``); SDK clients."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import fastfeed
import pytest
from test_redis import (
    SERVE,
    Node,
    assert_contiguous_slice,
    collect,
    data,
    needs_redis,
    running_cluster,
    wait_for,
)
from tls_support import HAVE_OPENSSL, make_certificate

from benches.process_support import RedisServer, free_port
from tests.server_support import run

pytestmark = [needs_redis, pytest.mark.skipif(not HAVE_OPENSSL, reason="needs openssl")]

PASSWORD = "S3cret-pw"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Two self-signed certificates for 127.0.0.1: Redis's, and one nobody trusts."""
    folder = tmp_path_factory.mktemp("tls")
    return {name: make_certificate(folder, name) for name in ("redis", "other")}


@pytest.fixture
def tls_redis(tmp_path: Path, certificates: dict[str, tuple[Path, Path]]) -> Iterator[RedisServer]:
    """A redis-server serving TLS only, requiring :data:`PASSWORD`, with a user ``edge`` (the
    same password)."""
    user = ("--user", "edge", "on", f">{PASSWORD}", "~*", "&*", "+@all")
    server = RedisServer(
        tmp_path / "redis", tls=certificates["redis"], extra=("--requirepass", PASSWORD, *user)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def with_password(url: str, user: str = "") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{PASSWORD}@{rest}"


def serve_refused(*args: str) -> tuple[int, str]:
    """Runs ``serve`` with ``args``, which must exit before serving: its status and stderr."""
    done = subprocess.run(
        [*SERVE, "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return done.returncode, done.stderr


def test_an_ingest_node_and_an_edge_deliver_over_tls_with_auth(
    tmp_path: Path, tls_redis: RedisServer, nodes: list[Node]
) -> None:
    url = with_password(tls_redis.url)
    assert url.startswith("rediss://:") and "?ssl_ca_certs=" in url
    nodes.append(Node(tmp_path, "ingest", "--rate", "3000", "--publish", url))
    nodes.append(Node(tmp_path, "edge", "--source", with_password(tls_redis.url, "edge")))
    ingest, edge = nodes

    async def body() -> None:
        truth_feed = fastfeed.connect(ingest.url("/v1/stream"))
        edge_feed = fastfeed.connect(edge.url("/v1/stream"))
        for feed in (truth_feed, edge_feed):
            await feed.__aenter__()
        try:
            for feed in (truth_feed, edge_feed):
                await feed.subscribe("stock.AAPL@trade")
                await feed.subscribe("stock.MSFT@quote")
            truth_run = asyncio.ensure_future(collect(truth_feed, 3.5))
            await wait_for(
                lambda: tls_redis.cli("-a", PASSWORD, "--no-auth-warning", "PUBSUB", "NUMSUB",
                                      "ff:STOCK:QUOTE:MSFT")[1:] == ["1"]
            )  # fmt: skip
            await collect(edge_feed, 0.3)  # from before both of its channels were subscribed
            seen = data(await collect(edge_feed, 1.5))
            truth = data(await truth_run)
            assert edge_feed.stats.gaps == 0, edge_feed.stats
        finally:
            for feed in (truth_feed, edge_feed):
                await feed.__aexit__(None, None, None)
        assert len(seen) > 20
        assert {type(e) for e in seen} == {fastfeed.Trade, fastfeed.Quote, fastfeed.Ohlc}
        assert_contiguous_slice(seen, truth)

    run(body, timeout=30)
    for node in nodes:
        node.stop()
        log = node.log.read_text()
        user = "edge" if node is edge else ""
        assert f"connected to rediss://{user}:***@127.0.0.1:" in log, log
        assert PASSWORD not in log


def test_a_certificate_the_node_does_not_trust_exits_2_with_one_line(
    tls_redis: RedisServer, certificates: dict[str, tuple[Path, Path]]
) -> None:
    plain = f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    shown = f"rediss://:***@127.0.0.1:{tls_redis.port}/0"
    # The system's CAs, or another private CA, do not vouch for Redis's certificate.
    for flag, url, why in [
        ("--source", plain, "self-signed certificate"),
        (
            "--publish",
            f"{plain}?ssl_ca_certs={certificates['other'][0]}",
            "self-signed certificate",
        ),
    ]:
        status, stderr = serve_refused(flag, url)
        assert status == 2
        assert stderr == (
            f"python -m fastfeed serve: error: {flag} {shown}: TLS: certificate verify failed: "
            f"{why} (a private CA: add ?ssl_ca_certs=FILE to the URL)\n"
        )


def test_a_wrong_password_or_db_exits_2_before_serving_and_the_right_one_serves(
    tmp_path: Path, nodes: list[Node]
) -> None:
    server = RedisServer(tmp_path / "redis", extra=("--requirepass", PASSWORD)).start()
    try:
        base = f"127.0.0.1:{server.port}"
        for flag, url, line in [
            (
                "--publish",
                f"redis://:wrong-pw@{base}/0",
                f"--publish redis://:***@{base}/0: AUTH: WRONGPASS invalid username-password "
                "pair or user is disabled.",
            ),
            (
                "--source",
                f"redis://fastfeed:wrong-pw@{base}/0",
                f"--source redis://fastfeed:***@{base}/0: AUTH: WRONGPASS invalid "
                "username-password pair or user is disabled.",
            ),
            (
                "--publish",
                f"redis://:{PASSWORD}@{base}/99",
                f"--publish redis://:***@{base}/99: SELECT: ERR DB index is out of range",
            ),
        ]:
            status, stderr = serve_refused(flag, url)
            assert (status, stderr) == (2, f"python -m fastfeed serve: error: {line}\n")
        # The right password: the node serves, connected.
        nodes.append(Node(tmp_path, "ingest", "--publish", f"redis://:{PASSWORD}@{base}/0"))

        async def connected() -> None:
            await wait_for(lambda: "redis publish: connected to" in nodes[0].log.read_text())

        run(connected, timeout=15)
    finally:
        server.stop()


def test_a_password_changed_later_is_logged_and_retried_until_it_is_back(
    tmp_path: Path, nodes: list[Node]
) -> None:
    def redis_with(password: str, port: int | None = None) -> RedisServer:
        extra = ("--requirepass", password)
        return RedisServer(tmp_path / "redis", port=port, extra=extra).start()

    server = redis_with(PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    nodes.append(Node(tmp_path, "edge", "--source", url))
    edge = nodes[0]

    def log_since(marker: str) -> str:
        return edge.log.read_text().rpartition(marker)[2]

    async def body() -> None:
        nonlocal server
        await wait_for(lambda: "redis: connected to" in edge.log.read_text())
        # Redis restarted with another password: the edge is refused, says so, retries.
        server.stop()
        server = redis_with("new-pw", server.port)
        await wait_for(lambda: "connection(s) refused" in edge.log.read_text())
        await asyncio.sleep(1.5)  # more attempts, not logged again within 10 s
        assert edge.process.poll() is None
        server.stop()
        server = redis_with(PASSWORD, server.port)
        await wait_for(lambda: "redis: connected to" in log_since("refused"))

    try:
        run(body, timeout=30)
    finally:
        server.stop()
    log = edge.log.read_text()
    assert log.count("connection(s) refused") == 1, log
    assert (
        f"redis: 1 connection(s) refused, retrying with backoff; the latest: redis "
        f"redis://:***@127.0.0.1:{server.port}/0: AUTH: WRONGPASS" in log
    ), log
    assert PASSWORD not in log and "new-pw" not in log


def test_a_cluster_over_tls_serves_an_edge_from_every_shard(
    tmp_path: Path, certificates: dict[str, tuple[Path, Path]], nodes: list[Node]
) -> None:
    symbols = ("SPY", "AAPL", "MSFT", "QQQ", "TSLA")
    channels = [f"ff:STOCK:QUOTE:{s}" for s in symbols]
    with running_cluster(tmp_path / "cluster", tls=certificates["redis"]) as masters:
        nodes.append(Node(tmp_path, "ingest", "--publish", masters[0].url, "--redis-cluster"))
        nodes.append(Node(tmp_path, "edge", "--source", masters[1].url, "--redis-cluster"))
        edge = nodes[1]

        def shard_counts() -> list[int]:
            return [
                sum(int(n) for n in m.cli("PUBSUB", "SHARDNUMSUB", *channels)[1::2])
                for m in masters
            ]

        async def body() -> None:
            async with fastfeed.connect(edge.url("/v1/stream")) as feed:
                for symbol in symbols:
                    await feed.subscribe(f"stock.{symbol}@quote")
                await wait_for(lambda: sum(shard_counts()) == len(channels))
                spread = shard_counts()
                seen = data(await collect(feed, 1.0))
                assert feed.stats.gaps == 0, feed.stats
            assert sum(1 for n in spread if n) >= 2, spread  # over TLS to several shards
            assert {e.contract.symbol for e in seen} == set(symbols)

        run(body, timeout=30)
    assert ", 3 cluster masters" in nodes[0].log.read_text()
