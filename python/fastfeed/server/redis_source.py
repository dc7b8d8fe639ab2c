"""``serve --source redis://…`` (SPEC §7): an edge serving the channels of a publishing
fastfeed to its local clients.

* **On demand.** The edge subscribes to exactly what its clients want: the hub reports each
  stream's first and last subscriber (:meth:`~fastfeed.server.hub.Hub.on_interest`), each
  stream needs a few channels (``stock.AAPL@trade``: ``ff:STOCK:TRADE:AAPL`` and the session
  bars on ``ff:STOCK:OHLC:AAPL``) or patterns (``stock@full_trades``: ``ff:STOCK:TRADE:*``,
  ``ff:STOCK:OHLC:*``), counted so that a channel is unsubscribed when its last stream goes.
  On a Redis Cluster (sharded Pub/Sub has no patterns) a whole-market name is subscribed as a
  channel of its own, on which the publisher repeats those events while someone listens; each
  arrives with its own channel's ``pseq`` and is checked (and de-duplicated) as that
  channel's.
* **No re-encoding.** Each socket read goes to :class:`fastfeed._core.RedisReader` in one call:
  the payloads join a source batch as they are (their ``"pseq"`` stays in the header: the
  bytes are forwarded untouched, and a client may use it), then one :meth:`Hub.publish`.
* **Gaps.** The reader checks each channel's ``pseq``: a hole of k events adds k to the STATUS
  ``dropped`` of every connection that would have received them (the SDK reports a ``Gap``),
  and is logged (at most every 10 s) and counted in :attr:`RedisSource.lost`.
* **Outages.** The link pings every second and is dead after 5 s of silence; then, or when
  Redis closes it, every STATUS says ``DISCONNECTED`` while the edge reconnects with the SDK's
  backoff and resubscribes. Channels keep their sequence numbers across the outage, so what
  was lost meanwhile is reported as a gap when each channel resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from fastfeed._core import RedisReader, redis_subscriptions
from fastfeed._notices import RateLimitedLog
from fastfeed.client.reconnect import Backoff, Reconnector
from fastfeed.errors import RedisError, RedisRefusedError
from fastfeed.server.hub import Hub
from fastfeed.server.redis_link import RedisNodes, RedisUrl
from fastfeed.server.source import SourceCounts

__all__ = ["RedisSource"]

log = logging.getLogger("fastfeed.server")

#: ``(is_pattern, channel or pattern)``.
Subscription = tuple[bool, str]

_PING_INTERVAL = 1.0
#: Logged (at most every 10 s) while Redis refuses the settings, e.g. after a password change.
_REFUSED = "redis: %d connection(s) refused, retrying with backoff; the latest: %s"
_SILENCE_TIMEOUT = 5.0


class RedisSource:
    """The edge's source: see the module documentation. Counters: :attr:`received` (payloads
    forwarded), :attr:`lost` (events missing from the channels' sequences), :attr:`duplicates`
    (payloads that arrived twice, through a channel and a pattern, skipped)."""

    def __init__(
        self, url: RedisUrl, *, cluster: bool = False, backoff: Backoff | None = None
    ) -> None:
        self.url = url
        self.cluster = cluster
        self.backoff = backoff if backoff is not None else Backoff()
        self.received = 0
        self.duplicates = 0
        #: Connections to Redis after the first.
        self.reconnects = 0
        self._connections = 0
        self._lost = RateLimitedLog(log, "redis: %d event(s) lost in the last 10 s (latest on %s)")
        self._bad = RateLimitedLog(log, "redis: %d payload(s) that are not events; the latest: %s")
        self._refused = RateLimitedLog(log, _REFUSED)
        self._wanted: Counter[Subscription] = Counter()
        self._reader = RedisReader()
        self._nodes: RedisNodes | None = None
        self._hub: Hub | None = None

    @property
    def lost(self) -> int:
        """Events published on subscribed channels that never arrived."""
        return self._lost.total

    def counts(self) -> SourceCounts:
        """For metrics: payloads that are not events, reconnections, channels and patterns
        subscribed."""
        return SourceCounts(
            "redis",
            decode_errors=self._bad.total,
            reconnects=self.reconnects,
            upstream_subscriptions=len(self._wanted),
        )

    @property
    def subscriptions(self) -> list[Subscription]:
        """What the edge is subscribed to (or will be, once connected)."""
        return sorted(self._wanted)

    async def run(self, hub: Hub) -> None:
        """Serves until cancelled."""
        log.info("edge of %s: subscribing on demand", self.url)
        self._hub = hub
        # The publisher's OHLC events are the session bars that follow its trades.
        hub.core.source_session_ohlc = True
        hub.set_upstream(False)
        hub.on_interest(self._interest)
        self._interest([name for name, _ in hub.interest], [])
        reconnector = Reconnector(
            self._connect,
            backoff=self.backoff,
            heartbeat_timeout=_SILENCE_TIMEOUT,
            retry_first=True,
            on_up=self._up,
            on_down=self._down,
            name=f"redis {self.url}",
        )
        self._reconnector = reconnector
        pinger = asyncio.get_running_loop().create_task(self._ping())
        try:
            await reconnector.start()
            await reconnector.wait()
        finally:
            pinger.cancel()
            await reconnector.stop()
            if self._nodes is not None:
                self._nodes.abort("server stopping")

    async def _connect(self) -> RedisNodes:
        try:
            return await RedisNodes.open(self.url, cluster=self.cluster, name=f"redis {self.url}")
        except RedisRefusedError as error:
            self._refused.add(1, str(error))
            raise

    def _up(self, nodes: RedisNodes, attempts: int) -> None:
        assert self._hub is not None
        self._reader.reconnected()
        self._connections += 1
        self.reconnects = self._connections - 1
        for index, link in enumerate(nodes.links):
            link.on_data = lambda data, index=index, nodes=nodes: self._data(nodes, index, data)
        self._nodes = nodes
        self._send(sorted(self._wanted), subscribe=True)
        self._hub.set_upstream(True)
        log.info(
            "redis: connected to %s, %d subscription(s)%s",
            self.url,
            len(self._wanted),
            f" (after {attempts} attempts)" if attempts > 1 else "",
        )

    def _down(self, nodes: RedisNodes) -> bool:
        assert self._hub is not None
        self._nodes = None
        self._hub.set_upstream(False)
        log.warning("redis: lost %s (%s); reconnecting", self.url, nodes.close_reason)
        return True

    async def _ping(self) -> None:
        # Subscribed connections answer PING too: silence means a dead (or stopped) Redis.
        while True:
            await asyncio.sleep(_PING_INTERVAL)
            if self._nodes is not None:
                for link in self._nodes.links:
                    link.send(b"PING")

    def _data(self, nodes: RedisNodes, index: int, data: bytes) -> None:
        hub = self._hub
        assert hub is not None
        self._reconnector.alive()
        try:
            batch, gaps, replies, bad, duplicates = self._reader.feed(hub.core, data, index)
        except RedisError as error:
            nodes.abort(str(error))
            return
        if len(batch):
            self.received += len(batch)
            hub.publish(batch)
        self.duplicates += duplicates
        for channel, lost, subscribers in gaps:
            hub.count_lost(subscribers, lost)
            self._lost.add(lost, channel)
        for message in bad:
            self._bad.add(1, message)
        for reply in replies:
            if isinstance(reply, RedisError):
                log.warning("redis: %s", reply)
                if str(reply).startswith(("MOVED", "ASK", "CLUSTERDOWN")):
                    nodes.abort(f"cluster topology changed ({reply})")
            elif (
                isinstance(reply, list)
                and reply[:1] == [b"sunsubscribe"]
                and reply[1].decode() in {name for _, name in self._wanted}
            ):
                # Redis unsubscribes a shard channel whose slot moved to another node.
                nodes.abort(f"{reply[1].decode()} moved to another node")

    def _interest(self, gained: list[str], lost: list[str]) -> None:
        added: list[Subscription] = []
        removed: list[Subscription] = []
        for stream in gained:
            for sub in redis_subscriptions(stream):
                self._wanted[sub] += 1
                if self._wanted[sub] == 1:
                    added.append(sub)
        for stream in lost:
            for sub in redis_subscriptions(stream):
                self._wanted[sub] -= 1
                if self._wanted[sub] <= 0:
                    del self._wanted[sub]
                    removed.append(sub)
                    is_pattern, name = sub
                    if is_pattern:
                        self._reader.forget_prefix(name.rstrip("*").encode())
                    else:
                        self._reader.forget(name.encode())
        if self._nodes is not None and self._nodes.up:
            self._send(added, subscribe=True)
            self._send(removed, subscribe=False)

    def _send(self, subs: list[Subscription], *, subscribe: bool) -> None:
        nodes = self._nodes
        assert nodes is not None
        channels = [name.encode() for is_pattern, name in subs if not is_pattern]
        patterns = [name.encode() for is_pattern, name in subs if is_pattern]
        if nodes.slot_nodes is not None:
            # Sharded Pub/Sub: each channel on the node of its slot (one slot per command).
            # It has no patterns: a whole-market name is a channel of its own there, on which
            # the publisher repeats its events while someone listens.
            for channel in channels + patterns:
                nodes.links[nodes.node_of(channel)].send(
                    b"SSUBSCRIBE" if subscribe else b"SUNSUBSCRIBE", channel
                )
            return
        link = nodes.links[0]
        if channels:
            link.send(b"SUBSCRIBE" if subscribe else b"UNSUBSCRIBE", *channels)
        if patterns:
            link.send(b"PSUBSCRIBE" if subscribe else b"PUNSUBSCRIBE", *patterns)
