"""``serve --source ws://HOST:PORT/v1/events`` (SPEC §5 Relay): one upstream connection for
every local client of both endpoints.

The upstream connection is the client SDK's own :class:`~fastfeed.Feed` (sans-I/O session,
request ids, resubscription with fresh ids, reconnect with full-jitter backoff, heartbeat
watchdog, STATUS drop accounting), with one difference: each socket read goes, in one Rust call
(:meth:`EventDecoder.feed_source <fastfeed._core.EventDecoder.feed_source>`), into frames and
events, and the data events go to the hub *with their original bytes*, which the hub forwards as
they are (framed for ``/v1/events``, wrapped for ``/v1/stream``); the rest (acknowledgements,
STATUS, pings, Close) goes through the SDK as for any client.

* **On demand.** The upstream is subscribed to exactly the union of what local clients want:
  the hub reports a stream's first subscriber and its last one leaving
  (:meth:`Hub.on_interest <fastfeed.server.hub.Hub.on_interest>`), which become upstream
  ``STREAM`` commands (``add`` true/false).
* **The upstream decides.** The relay knows no universe: a local subscription to a stream new
  to the union is acknowledged only once the upstream answered (:meth:`Hub.confirm_with
  <fastfeed.server.hub.Hub.confirm_with>`), and an upstream ``ERROR`` reaches the local client
  that asked, with the upstream's message (its command is rolled back). A stream already
  subscribed upstream is acknowledged at once. When the upstream does not answer within
  ``confirm_timeout`` (it is down, or slow), the subscription is accepted; it is sent upstream
  when it is back (a refusal then is logged, and later local subscribers of it are refused).
* **Outages.** Local clients stay connected; their STATUS says ``"status": "DISCONNECTED"`` while
  the upstream is down (or says it is itself disconnected: a relay of a relay), so the SDK
  reports ``UpstreamDown``/``UpstreamUp``. After a reconnect the SDK resubscribes the union.
* **Loss.** The upstream's drops (its ``stats.dropped`` growth, and ``sent`` beyond what the
  relay received) are counted into the ``dropped`` of every connected local client: the relay
  cannot tell whose events they were, so it tells everyone who may have missed some.
* **Takeover.** ``/v1/events`` serves one client: another client connecting upstream replaces
  the relay (Close 1000 ``replaced by a new client connection``). The relay is a server and
  must not go away: it logs a warning and connects again after a backoff that grows with each
  takeover in a row (two relays on one upstream take turns slowly instead of fighting).
* **End.** An upstream replay that ends (Close 1000 ``end of replay``) ends the relay the same
  way: local clients get their last STATUS and the Close, and ``serve`` exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastfeed._core import EventBatch, SourceBatch
from fastfeed.client.events import (
    Disconnected,
    EndOfSnapshot,
    EndOfStream,
    Gap,
    Reconnected,
    TakenOver,
    UpstreamDown,
    UpstreamUp,
)
from fastfeed.client.feed import Feed, check_url, shown_url
from fastfeed.client.reconnect import Backoff
from fastfeed.client.session import endpoint_of
from fastfeed.errors import ConfigError, FeedClosedError, SubscriptionError
from fastfeed.server.hub import Hub
from fastfeed.server.source import SourceCounts, SourceEnd

__all__ = ["RelaySource", "RelaySpec"]

log = logging.getLogger("fastfeed.server")

#: A connection that lasted this long (seconds) before a takeover starts the takeover backoff
#: from its first delay again.
_STABLE = 30.0


@dataclass(frozen=True, slots=True)
class RelaySpec:
    """The upstream and how to keep it. ``url`` is a ``ws://`` or ``wss://`` URL of a
    ``/v1/events`` endpoint (another fastfeed, a relay, or the original terminal)."""

    url: str
    #: Nothing received for this long (the upstream sends STATUS every second) → reconnect.
    heartbeat_timeout: float = 3.0
    #: How long a local subscription to a stream new to the union waits for the upstream's
    #: answer before it is acknowledged anyway.
    confirm_timeout: float = 5.0
    #: Reconnect delays (and takeover delays): full jitter, 0.25 s → 30 s, unlimited.
    backoff: Backoff = field(default_factory=Backoff)
    #: Extra handshake headers (``Authorization``).
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        try:
            parts = check_url(self.url)
        except ValueError as error:
            raise ConfigError(f"source: {str(error).removeprefix('url: ')}") from None
        if endpoint_of(parts.path or "/") == "stream":
            raise ConfigError(
                f"source: a relay reads a /v1/events endpoint, not /v1/stream, got {self.url!r}"
            )
        if not self.heartbeat_timeout > 0 or not self.confirm_timeout > 0:
            raise ConfigError("relay: heartbeat_timeout and confirm_timeout must be positive")


class _UpstreamFeed(Feed):
    """The SDK's feed whose data events go to the hub, with their original bytes, instead of
    into numpy batches; acknowledgements, STATUS and control frames take the SDK's path."""

    def __init__(self, spec: RelaySpec, hub: Hub) -> None:
        super().__init__(
            spec.url,
            heartbeat_timeout=spec.heartbeat_timeout,
            reconnect=spec.backoff,
            headers=spec.headers,
            wait_for_server=True,
        )
        self._hub = hub
        #: Data events handed to the hub.
        self.published = 0
        self._holding: asyncio.Task[None] | None = None

    def _decode(self, data: bytes) -> EventBatch:
        batch = SourceBatch()
        rest = self._decoder.feed_source(data, self._hub.core, batch)
        if len(batch):
            self.published += len(batch)
            self._hub.publish(batch)
            if self._hub.held_back and self._holding is None:
                self._hold_back()
        return rest

    async def close(self) -> None:
        if self._holding is not None:
            self._holding.cancel()
        await super().close()

    def _hold_back(self) -> None:
        """A local client that keeps up is blocked: stop reading the upstream until the hub is
        ready (:meth:`Hub.wait_ready <fastfeed.server.hub.Hub.wait_ready>`: a client blocked
        for longer than its grace is cut loose and meets the slow-consumer policy alone)."""
        conn = self._conn
        if conn is None or conn.transport is None:
            return
        transport = conn.transport
        watchdog = self._reconnector.watchdog
        transport.pause_reading()
        if watchdog is not None:
            watchdog.suspend()  # silence while paused on purpose is not a dead link

        async def resume() -> None:
            try:
                await self._hub.wait_ready(need_consumer=False)
            finally:
                self._holding = None
                if not transport.is_closing():
                    transport.resume_reading()
                if watchdog is not None:
                    watchdog.resume(time.monotonic())

        self._holding = asyncio.get_running_loop().create_task(resume())


class RelaySource:
    """Relays :attr:`spec`'s upstream into the hub (see the module docs)."""

    def __init__(self, spec: RelaySpec) -> None:
        self.spec = spec
        #: The current upstream feed (a new one after a takeover).
        self.feed: _UpstreamFeed | None = None
        #: Data events relayed so far (over every upstream connection).
        self.published = 0
        #: Of upstream connections that ended (taken over): reconnects and decode errors.
        self._past_reconnects = 0
        self._past_decode_errors = 0
        #: Streams sent upstream and not yet accepted: their answer, ``None`` once accepted
        #: or the upstream's refusal message (kept while the stream is wanted locally).
        self._answers: dict[str, asyncio.Future[str | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._hub: Hub | None = None
        #: Connected to the upstream, and the upstream says it is connected to its own.
        self._connected = False
        self._upstream_ok = True

    def counts(self) -> SourceCounts:
        """For metrics: frames that were not valid events, reconnections (after an outage or
        a takeover), streams subscribed upstream."""
        feed = self.feed
        return SourceCounts(
            "relay",
            decode_errors=self._past_decode_errors + (feed.decode_errors if feed else 0),
            reconnects=self._past_reconnects + (feed.stats.reconnects if feed else 0),
            upstream_subscriptions=len(feed.subscriptions) if feed else 0,
        )

    async def run(self, hub: Hub) -> SourceEnd | None:
        self._hub = hub
        # The upstream's OHLC events are its session bars: forwarded, none made here.
        hub.core.source_session_ohlc = True
        hub.set_upstream(False)
        hub.on_interest(self._on_interest)
        hub.confirm_with(self._confirm)
        loop = asyncio.get_running_loop()
        takeovers = self.spec.backoff.schedule()
        log.info("relay of %s: connecting", shown_url(self.spec.url))
        try:
            while True:
                feed = self.feed = _UpstreamFeed(self.spec, hub)
                for name, _ in hub.interest:  # after a takeover: the union so far
                    self._subscribe(feed, name)
                await feed.open()
                connected_at = loop.time()
                self._connected = True
                self._upstream_changed()
                end = await self._follow(feed, hub)
                self.published += feed.published
                # The next feed is a new connection: one more reconnect.
                self._past_reconnects += feed.stats.reconnects + 1
                self._past_decode_errors += feed.decode_errors
                if isinstance(end, EndOfStream):
                    # Not an outage: local clients get the same end (their last STATUS says
                    # CONNECTED, then Close 1000 with the upstream's reason).
                    log.info("relay: the upstream's source ended (%s)", end.reason)
                    return SourceEnd(end.reason)
                self._upstream_changed()
                if loop.time() - connected_at > _STABLE:
                    takeovers.reset()
                delay = takeovers.next_delay() or 0.0
                log.warning(
                    "relay: another client took the upstream %s over (%s); connecting again "
                    "in %.1f s (two clients of one /v1/events upstream take turns)",
                    shown_url(self.spec.url),
                    end.reason,
                    delay,
                )
                await asyncio.sleep(delay)
        finally:
            for task in self._tasks:
                task.cancel()
            if self.feed is not None:
                await self.feed.close()

    async def _follow(self, feed: _UpstreamFeed, hub: Hub) -> TakenOver | EndOfStream:
        """Applies the feed's notices to the hub until the feed ends."""
        while (batch := await feed.next_batch()) is not None:
            for notice in batch.notices:
                if isinstance(notice, Gap):
                    hub.report_loss(notice.count)
                    log.warning(
                        "relay: the upstream lost %d events (%s): counted as dropped for "
                        "every local client",
                        notice.count,
                        notice.reason,
                    )
                elif isinstance(notice, Disconnected | Reconnected):
                    self._connected = isinstance(notice, Reconnected)
                    self._upstream_changed()
                elif isinstance(notice, UpstreamDown | UpstreamUp):
                    # The upstream lost its own upstream (a relay of a relay): so did we.
                    self._upstream_ok = isinstance(notice, UpstreamUp)
                    self._upstream_changed()
                elif isinstance(notice, EndOfSnapshot):
                    hub.notice_end_of_snapshot()
                elif isinstance(notice, TakenOver | EndOfStream):
                    self._connected = False
                    return notice
        self._connected = False
        return TakenOver(0.0, "the upstream connection ended")

    def _upstream_changed(self) -> None:
        """Tells the hub (every local STATUS) whether data flows: connected to an upstream
        that is itself connected."""
        assert self._hub is not None
        up = self._connected and self._upstream_ok
        if up == self._hub.upstream_connected:
            return
        self._hub.set_upstream(up)
        log.info(
            "relay: upstream %s %s",
            shown_url(self.spec.url),
            "up; local clients see CONNECTED"
            if up
            else "down; local clients see DISCONNECTED until it is back",
        )

    # --- subscriptions ------------------------------------------------------------------------

    def _on_interest(self, gained: list[str], lost: list[str]) -> None:
        feed = self.feed
        for name in lost:
            answer = self._answers.pop(name, None)
            refused = answer is not None and answer.done() and answer.result() is not None
            if feed is not None and not refused:
                self._spawn(self._unsubscribe(feed, name))
        for name in gained:
            if feed is not None:
                self._subscribe(feed, name)

    def _subscribe(self, feed: _UpstreamFeed, name: str) -> None:
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._answers[name] = answer
        self._spawn(self._upstream_subscribe(feed, name, answer))

    async def _upstream_subscribe(
        self, feed: _UpstreamFeed, name: str, answer: asyncio.Future[str | None]
    ) -> None:
        try:
            await feed.subscribe(name)
        except SubscriptionError as error:
            log.warning("relay: the upstream refused %s: %s", name, error)
            answer.set_result(str(error))
            return
        except FeedClosedError:
            pass  # taken over: the next feed subscribes the union again
        if not answer.done():
            answer.set_result(None)
        if self._answers.get(name) is answer:
            del self._answers[name]

    async def _unsubscribe(self, feed: _UpstreamFeed, name: str) -> None:
        with contextlib.suppress(FeedClosedError):
            await feed.unsubscribe(name)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _confirm(self, names: list[str]) -> tuple[str, str] | None:
        """The hub's :data:`~fastfeed.server.hub.Confirmer`: waits for the upstream's answer on
        the command's streams that it has not accepted yet."""
        waiting = [(name, a) for name in names if (a := self._answers.get(name)) is not None]
        for name, answer in waiting:
            if answer.done() and answer.result() is not None:
                return name, answer.result() or ""
        if not waiting:
            return None
        try:
            async with asyncio.timeout(self.spec.confirm_timeout):
                for name, answer in waiting:
                    refusal = await asyncio.shield(answer)
                    if refusal is not None:
                        return name, refusal
        except TimeoutError:
            log.warning(
                "relay: no answer from the upstream on %s within %.1f s: accepted",
                ", ".join(name for name, _ in waiting),
                self.spec.confirm_timeout,
            )
        return None
