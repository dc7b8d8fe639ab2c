"""``serve --publish redis://…`` (SPEC §7): every event of the source, on its Redis channel.

The Rust hub encodes each batch's events once more for Redis — one ``PUBLISH`` (``SPUBLISH``
on a Cluster) per event, its channel's next ``pseq`` in the header — and this module writes
each batch's commands in one write: pipelined, many events per round trip, no reply awaited.

Redis slow or gone never blocks the source and never grows memory without bound: while the
link is down, or when more than ``max_pending_bytes`` already wait for the socket, a batch's
commands are dropped (counted, logged at most every 10 s). Their sequence numbers were used,
so the edges see the hole as a gap. A stalled link holds a paced source (``--rate max``) back
only for :data:`~fastfeed.server.hub.LAG_GRACE` like a stalled client; local clients keep
their full rate.

On a Cluster, sharded Pub/Sub has no patterns: an edge serving a whole-market stream listens
on a channel named like the pattern (``ff:OPTION:TRADE:*``), and the publisher repeats those
events there while anyone listens. Who listens is polled every :data:`MARKET_WATCH_INTERVAL`
(``PUBSUB SHARDNUMSUB`` on the node of each such channel, over connections of its own), so a
new whole-market listener starts receiving within about that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from fastfeed._core import redis_market_channels
from fastfeed._notices import RateLimitedLog
from fastfeed.client.reconnect import Backoff, Reconnector
from fastfeed.errors import FastfeedError, RedisRefusedError
from fastfeed.server.hub import Hub
from fastfeed.server.redis_link import RedisNodes, RedisUrl
from fastfeed.server.source import (
    CountedSource,
    PublishCounts,
    Source,
    SourceCounts,
    SourceEnd,
)

__all__ = ["PublishingSource", "RedisPublisher"]

log = logging.getLogger("fastfeed.server")

#: Commands that may wait for a slow Redis before batches are dropped.
DEFAULT_MAX_PENDING = 16 * 1024 * 1024
#: Logged (at most every 10 s) while Redis refuses the settings, e.g. after a password change.
_REFUSED = "redis publish: %d connection(s) refused, retrying with backoff; the latest: %s"
#: How long the source waits for the publisher's first connection attempt.
_FIRST_CONNECT_WAIT = 2.0
#: Seconds between two looks at who listens to a Cluster's whole-market channels.
MARKET_WATCH_INTERVAL = 1.0


class RedisPublisher:
    """Publishes everything a :class:`~fastfeed.server.hub.Hub` publishes to one Redis server,
    or with ``cluster`` to the masters of a Redis Cluster, each channel with ``SPUBLISH`` to
    the node that owns its slot (sharded Pub/Sub: the load spreads over the shards). A
    ``MOVED`` reply (resharding) drops the links; reconnecting reads the new topology.

    Counters: :attr:`sent` (events written to Redis), :attr:`dropped` (events dropped: Redis
    down or not keeping up), :attr:`errors` (error replies).
    """

    def __init__(
        self,
        url: RedisUrl,
        *,
        cluster: bool = False,
        max_pending_bytes: int = DEFAULT_MAX_PENDING,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.cluster = cluster
        self.max_pending_bytes = max_pending_bytes
        self.backoff = backoff if backoff is not None else Backoff()
        self.sent = 0
        self._connections = 0
        self._dropped = RateLimitedLog(
            log, "redis publish: dropped %d event(s) in the last 10 s (%s)", interval=10.0
        )
        self._errors = RateLimitedLog(log, "redis publish: %d error reply(ies); the latest: %s")
        self._refused = RateLimitedLog(log, _REFUSED)
        self._nodes: RedisNodes | None = None
        self._paused: set[int] = set()
        self._hub: Hub | None = None
        self._sink = 0
        #: Set once the first connection attempt is over (connected or not).
        self.first_attempt = asyncio.Event()

    @property
    def dropped(self) -> int:
        """Events dropped so far (their ``pseq`` numbers are gaps on the edges)."""
        return self._dropped.total

    @property
    def errors(self) -> int:
        """Error replies so far."""
        return self._errors.total

    @property
    def reconnects(self) -> int:
        """Connections to Redis after the first."""
        return max(self._connections - 1, 0)

    @property
    def pending_bytes(self) -> int:
        """Bytes written and waiting for Redis's sockets."""
        nodes = self._nodes
        return sum(link.buffered for link in nodes.links) if nodes is not None else 0

    @property
    def connected(self) -> bool:
        """Whether the link to Redis is up."""
        return self._nodes is not None and self._nodes.up

    async def run(self, hub: Hub) -> None:
        """Publishes until cancelled, reconnecting with backoff."""
        log.info("publishing every event to %s", self.url)
        self._hub = hub
        hub.core.enable_redis_publish(self.cluster)
        self._sink = hub.add_sink()
        hub.on_published(self._flush)
        reconnector = Reconnector(
            self._connect,
            backoff=self.backoff,
            retry_first=True,
            on_up=self._up,
            on_down=self._down,
            name=f"redis publish {self.url}",
        )
        watch = (
            asyncio.get_running_loop().create_task(self._watch_market(hub))
            if self.cluster
            else None
        )
        try:
            await reconnector.start()
            await reconnector.wait()
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            await reconnector.stop()
            if self._nodes is not None:
                self._nodes.abort("server stopping")

    async def _watch_market(self, hub: Hub) -> None:
        """Cluster: repeats events on each whole-market channel while an edge listens there
        (see the module docs), looking every :data:`MARKET_WATCH_INTERVAL` over connections
        of its own. While Redis cannot be asked, what was wanted stays so."""
        channels = [name.encode() for name in redis_market_channels()]
        wanted: set[bytes] = set()
        name = f"redis {self.url} (whole-market listeners)"
        while True:
            try:
                nodes = await RedisNodes.open(self.url, cluster=True, name=name)
            except (OSError, FastfeedError):
                await asyncio.sleep(MARKET_WATCH_INTERVAL)
                continue
            try:
                while nodes.up:
                    listened: set[bytes] = set()
                    for channel in channels:
                        link = nodes.links[nodes.node_of(channel)]
                        reply = await link.call(b"PUBSUB", b"SHARDNUMSUB", channel)
                        if isinstance(reply, list) and int(reply[1]) > 0:
                            listened.add(channel)
                    for channel in listened ^ wanted:
                        hub.core.set_redis_market_wanted(channel.decode(), channel in listened)
                    wanted = listened
                    await asyncio.sleep(MARKET_WATCH_INTERVAL)
            except (OSError, FastfeedError, ValueError) as error:
                # A resharding (MOVED) or a lost node: read the topology again.
                log.debug("redis publish: whole-market watch: %s", error)
            finally:
                nodes.abort("whole-market watch done")

    async def _connect(self) -> RedisNodes:
        try:
            return await RedisNodes.open(self.url, cluster=self.cluster, name=f"redis {self.url}")
        except RedisRefusedError as error:
            self._refused.add(1, str(error))
            raise
        finally:
            self.first_attempt.set()

    def _up(self, nodes: RedisNodes, attempts: int) -> None:
        hub = self._hub
        assert hub is not None
        self._paused.clear()
        self._connections += 1
        for index, link in enumerate(nodes.links):
            link.on_data = lambda data, nodes=nodes: self._replies(nodes, data)
            link.on_pause = lambda index=index: self._pause(index)
            link.on_resume = lambda index=index: self._resume(index)
        if nodes.slot_nodes is not None:
            hub.core.set_redis_slot_nodes(nodes.slot_nodes)
        self._nodes = nodes
        shards = f", {len(nodes.links)} cluster masters" if nodes.slot_nodes is not None else ""
        log.info("redis publish: connected to %s%s", self.url, shards)

    def _pause(self, node: int) -> None:
        assert self._hub is not None
        self._paused.add(node)
        self._hub.blocked(self._sink)

    def _resume(self, node: int) -> None:
        assert self._hub is not None
        self._paused.discard(node)
        if not self._paused:
            self._hub.unblocked(self._sink)

    def _down(self, nodes: RedisNodes) -> bool:
        assert self._hub is not None
        self._nodes = None
        self._paused.clear()
        self._hub.unblocked(self._sink)
        log.warning(
            "redis publish: lost %s (%s); dropping events until it is back",
            self.url,
            nodes.close_reason,
        )
        return True

    def _flush(self) -> None:
        assert self._hub is not None
        nodes = self._nodes
        for node, commands, count in self._hub.core.take_redis():
            link = nodes.links[node] if nodes is not None and node < len(nodes.links) else None
            if link is None or not link.up:
                self._dropped.add(count, "Redis is down")
            elif link.buffered + len(commands) > self.max_pending_bytes:
                self._dropped.add(count, "Redis is not keeping up")
            else:
                link.write(commands)
                self.sent += count

    def _replies(self, nodes: RedisNodes, data: bytes) -> None:
        # PUBLISH answers with an integer; only error lines need a look.
        if b"-" in data:
            for line in data.split(b"\r\n"):
                if line.startswith(b"-"):
                    error = line[1:].decode(errors="replace")
                    self._errors.add(1, error)
                    if error.startswith(("MOVED", "ASK", "CLUSTERDOWN")):
                        nodes.abort(f"cluster topology changed ({error})")


class PublishingSource:
    """A source whose events also go to Redis: runs ``source`` and ``publisher`` side by side
    (``serve --publish``); ends when the source does."""

    def __init__(self, source: Source, publisher: RedisPublisher) -> None:
        self.source = source
        self.publisher = publisher

    def counts(self) -> SourceCounts:
        """The source's counts, with the publisher's."""
        inner = self.source
        counts = inner.counts() if isinstance(inner, CountedSource) else SourceCounts("custom")
        publisher = self.publisher
        publish = PublishCounts(
            publisher.sent, publisher.dropped, publisher.reconnects, publisher.pending_bytes
        )
        return dataclasses.replace(counts, publish=publish)

    async def run(self, hub: Hub) -> SourceEnd | None:
        task = asyncio.get_running_loop().create_task(self.publisher.run(hub))
        # Not a requirement (Redis may be down for a while), but most starts need no drops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FIRST_CONNECT_WAIT):
                await self.publisher.first_attempt.wait()
        try:
            return await self.source.run(hub)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
