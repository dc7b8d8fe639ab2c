"""The hub: one source, any number of consumers on either endpoint (SPEC §4).

A source hands its events to :meth:`Hub.publish` in one call per batch. The Rust hub
(:class:`fastfeed._core.Hub`) applies every trade to the server's bars once, makes the session
OHLC event once, encodes each event once per wire format and gathers the frames of each
subscriber; this module hands each subscriber's frames to its connection in one write. Python
never touches individual events.

Connections talk to the hub through :meth:`attach`, :meth:`detach`, :meth:`subscribe`,
:meth:`unsubscribe`, :meth:`clear` and :meth:`blocked`/:meth:`unblocked` (their transport
stopped or resumed taking data). Sources use :meth:`publish`, :meth:`wait_ready` (pacing),
:meth:`on_interest` (the union of streams gained its first or lost its last subscriber: a relay
or a Redis edge subscribes upstream on demand), :meth:`set_upstream` (their upstream went down
or came back) and :meth:`notice_end_of_snapshot`. A source that must accept new streams itself
(a relay: the upstream decides which contracts exist) sets :meth:`confirm_with`; then
:meth:`subscribe` returns a :data:`Confirmation` the connection awaits before acknowledging,
and a refused command is rolled back. :meth:`report_loss` counts events a source lost upstream
into every connection's ``dropped``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, Protocol, TypeAlias

from fastfeed._core import Hub as CoreHub
from fastfeed._core import SourceBatch, StreamCommand, StreamRequest, stream_name
from fastfeed.bars import BarBook

__all__ = [
    "Confirmation",
    "Confirmer",
    "Consumer",
    "Hub",
    "InterestListener",
    "LatencyHistogram",
    "LossReason",
    "Wire",
]

log = logging.getLogger("fastfeed.server")

Wire = Literal["events", "stream"]

#: Why events meant for a connection were lost before they reached the server: a gap in a
#: Redis channel's ``pseq`` (SPEC §7), or loss reported by a relay's upstream.
LossReason = Literal["redis_gap", "upstream"]

#: ``(gained, lost)``: SPEC §4 names of the streams that got their first / lost their last
#: subscriber.
InterestListener = Callable[[list[str], list[str]], None]

#: ``confirm(names)``: a source's answer on a subscription command's streams (SPEC §4 names):
#: ``None`` once it serves them all, else ``(name, message)`` of the first it cannot serve.
Confirmer: TypeAlias = Callable[[list[str]], Awaitable[tuple[str, str] | None]]
#: What :meth:`Hub.subscribe` returns with a :data:`Confirmer`: awaited before the command is
#: acknowledged; ``None`` (subscribed) or ``(index of the refused stream in the command,
#: message)`` (the command was rolled back).
Confirmation: TypeAlias = Coroutine[Any, Any, tuple[int, str] | None]

#: A consumer whose transport has not taken data for this long no longer holds back paced
#: sources (``--rate max``): it is lagging, its data queues up to its pending budget and then
#: the slow-consumer policy applies to it alone. It rejoins once it has drained.
LAG_GRACE = 0.5


class LatencyHistogram:
    """Fixed buckets of durations (seconds), counted by :meth:`observe` and read as Prometheus
    cumulative buckets when metrics are scraped: one bisect and one increment per observation,
    no lock (the server's loop is its only writer and reader)."""

    #: Upper bounds (seconds) of the buckets; the last bucket is +Inf.
    BOUNDS = (
        0.00001,
        0.000025,
        0.00005,
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
    )

    def __init__(self) -> None:
        #: Observations per bucket (not cumulative); ``counts[-1]`` is above the last bound.
        self.counts = [0] * (len(self.BOUNDS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.BOUNDS, seconds)] += 1
        self.sum += seconds


class Consumer(Protocol):
    """What the hub needs of a connection."""

    def send_events(self, frames: bytes, count: int) -> bool:
        """Hands ``count`` data events, encoded as ready frames, to the connection."""
        ...

    def send_status(self, *, end_of_snapshot: bool = False) -> None:
        """Sends a STATUS (its header says :attr:`Hub.upstream_connected`); with
        ``end_of_snapshot``, marked as the end of the upstream's snapshot, after the data
        handed over before it."""
        ...

    def count_lost(self, count: int) -> None:
        """``count`` events meant for this connection were lost before they reached the
        server (a relay's upstream dropped them, a Redis gap, SPEC §7): counted in its
        STATUS ``dropped``."""
        ...


class Hub:
    """The server side shared by every connection and the source."""

    def __init__(self, bars: BarBook, *, ohlcvc: bool = True) -> None:
        #: The server's bars: every trade of the source, per contract and interval.
        self.bars = bars
        #: The Rust hub: contract registry, subscribers, union, encoding.
        self.core = CoreHub(bars._book, ohlcvc=ohlcvc)
        self._consumers: dict[int, Consumer] = {}
        self._wires: dict[int, Wire] = {}
        #: Consumers whose transport stopped taking data, and since when (loop time).
        self._blocked: dict[int, float] = {}
        self._lagging: set[int] = set()
        self._changed = asyncio.Event()
        self._listeners: list[InterestListener] = []
        self._published_listeners: list[Callable[[], None]] = []
        #: Consumers that are not connections (the Redis publisher): negative ids.
        self._sinks: set[int] = set()
        self._upstream_connected = True
        self._confirmer: Confirmer | None = None
        #: Per batch, from the source handing it over to the last write of it to a consumer
        #: (or its queue): the server's source-to-write latency.
        self.latency = LatencyHistogram()
        #: Events lost upstream, counted once (:meth:`count_lost`, :meth:`report_loss`).
        self.source_lost = 0
        #: Events lost upstream, counted per connection they were meant for, by wire and reason.
        self.lost: Counter[tuple[Wire, LossReason]] = Counter()

    # --- sources -----------------------------------------------------------------------------

    def publish(self, batch: SourceBatch) -> int:
        """Publishes a source's batch to every subscriber that wants its events; returns the
        number of data events handed to connections (summed over them). With lock-step
        (:meth:`enable_lock_step`), what the paced client's window does not allow yet waits in the
        backlog (:attr:`backlog`) for :meth:`drain`."""
        started = time.perf_counter()
        delivered = self._deliver(self.core.publish(batch))
        for listener in self._published_listeners:
            listener()
        self.latency.observe(time.perf_counter() - started)
        return delivered

    def on_published(self, listener: Callable[[], None]) -> None:
        """Calls ``listener()`` after each :meth:`publish` (the Redis publisher takes the
        batch's commands from :attr:`core` then)."""
        self._published_listeners.append(listener)

    def add_sink(self) -> int:
        """Registers a consumer that is not a connection (the Redis publisher): paced
        sources wait for it as for a connection (it reports :meth:`blocked` and
        :meth:`unblocked` with the returned id), and do not wait for a first client."""
        sink = -1 - len(self._sinks)
        self._sinks.add(sink)
        self._changed.set()
        return sink

    def count_lost(
        self, subscribers: list[int], count: int, reason: LossReason = "redis_gap"
    ) -> None:
        """``count`` events meant for ``subscribers`` were lost upstream (a Redis gap): each
        one's STATUS ``dropped`` grows by ``count``, so its SDK reports a ``Gap``."""
        self.source_lost += count
        for subscriber in subscribers:
            consumer = self._consumers.get(subscriber)
            if consumer is not None:
                consumer.count_lost(count)
                self.lost[self._wires[subscriber], reason] += count

    def enable_lock_step(self, window: int) -> None:
        """Seed 004's lock-step (``--pace ack``): the ``/v1/events`` client's events carry
        header ids and at most ``window`` are outstanding until it acknowledges them."""
        self.core.enable_lock_step(window)

    def drain(self) -> int:
        """Lock-step: sends what the window allows now; returns the events handed out."""
        return self._deliver(self.core.drain())

    def acknowledge(self, subscriber: int, ids: tuple[int, ...]) -> tuple[int, int]:
        """Applies a lock-step client's ``event_ack``: ``(acknowledged, unknown ids)``, and
        sends what the window now allows."""
        result = self.core.acknowledge(subscriber, list(ids))
        if result[0]:
            # The next events go out now, in this callback: a round trip costs no task switch.
            self.drain()
        self._changed.set()
        return result

    @property
    def lock_step(self) -> tuple[int | None, int, int] | None:
        """``(paced subscriber, outstanding, backlog)`` with lock-step, else ``None``."""
        return self.core.lock_step

    def _deliver(self, deliveries: list[tuple[list[int], bytes, int]]) -> int:
        consumers = self._consumers
        delivered = 0
        # Subscribers that get the same frames share one bytes object: written many times,
        # copied by the kernel only.
        for subscribers, frames, count in deliveries:
            for subscriber in subscribers:
                if consumers[subscriber].send_events(frames, count):
                    delivered += count
        return delivered

    def broadcast(self, frames: bytes, count: int) -> None:
        """Sends already-encoded §3.3 frames to every ``/v1/events`` consumer, bypassing
        subscriptions (:class:`~fastfeed.server.QueueSource`)."""
        for subscriber, consumer in list(self._consumers.items()):
            if self._wires[subscriber] == "events":
                consumer.send_events(frames, count)

    @property
    def held_back(self) -> bool:
        """Whether a consumer that keeps up is blocked now: a paced source should
        :meth:`wait_ready` before its next batch."""
        return any(s not in self._lagging for s in self._blocked)

    async def wait_ready(
        self, grace: float | None = LAG_GRACE, *, need_consumer: bool = True
    ) -> None:
        """Returns once a consumer is attached and none that keeps up is blocked: paced
        sources go as fast as their consumers read. A consumer blocked for longer than
        ``grace`` (default :data:`LAG_GRACE`) stops holding the source back until it drains
        (see there); with ``grace=None`` every consumer holds it back for as long as it is
        blocked (a replay at ``--speed max`` never drops). With ``need_consumer=False`` no
        consumer at all is ready too (a relay's upstream must be read even then)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._consumers and not self._sinks:
                if not need_consumer:
                    return
                await self._wait_change(None)
                continue
            if grace is None:
                if not self._blocked:
                    return
                await self._wait_change(None)
                continue
            holding = [since for s, since in self._blocked.items() if s not in self._lagging]
            if not holding:
                return
            wait = min(holding) + grace - loop.time()
            if wait > 0 and await self._wait_change(wait):
                continue
            now = loop.time()
            late = {
                s
                for s, since in self._blocked.items()
                if s not in self._lagging and since + grace <= now
            }
            if late:
                log.info(
                    "%d consumer(s) took no data for %.1f s: no longer waiting for them",
                    len(late),
                    grace,
                )
                self._lagging |= late

    async def wait_change(self, timeout: float | None = None) -> bool:
        """Waits until a consumer attaches, detaches, (un)subscribes, drains or acknowledges,
        or ``timeout`` passes; returns whether something changed."""
        return await self._wait_change(timeout)

    async def _wait_change(self, timeout: float | None) -> bool:
        self._changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def on_interest(self, listener: InterestListener) -> None:
        """Calls ``listener(gained, lost)`` whenever the union of subscribed streams changes."""
        self._listeners.append(listener)

    def confirm_with(self, confirmer: Confirmer) -> None:
        """From now on a subscription is acknowledged only once ``confirmer`` accepted its
        streams (a relay asks its upstream); a refused command is rolled back."""
        self._confirmer = confirmer

    def report_loss(self, count: int) -> None:
        """The source lost ``count`` data events (an upstream's drops): every connection
        counts them in its ``dropped``, so each client learns that it may have missed some."""
        self.count_lost(list(self._consumers), count, "upstream")

    @property
    def interest(self) -> list[tuple[str, int]]:
        """Every stream somebody subscribed to (SPEC §4 name) and its number of subscribers."""
        return self.core.union

    @property
    def upstream_connected(self) -> bool:
        """Whether the source's upstream (a relay's server, an HTTP stream, Redis) is
        connected: every STATUS header says ``"status": "CONNECTED"``, else
        ``"DISCONNECTED"`` (SPEC §5). Sources without an upstream never change it."""
        return self._upstream_connected

    def set_upstream(self, connected: bool) -> None:
        """A source's upstream went down or came back: every connection gets a STATUS saying
        so at once, and every later STATUS says so too, until the next change."""
        if connected == self._upstream_connected:
            return
        self._upstream_connected = connected
        for consumer in list(self._consumers.values()):
            consumer.send_status()

    def notice_end_of_snapshot(self) -> None:
        """The upstream's initial snapshot is complete (seed 002's ``EndSnapshot``): every
        connection gets a STATUS marked ``"stream_status": "EndSnapshot"`` after the data it
        was handed before (the SDK's :class:`~fastfeed.EndOfSnapshot` notice)."""
        for consumer in list(self._consumers.values()):
            consumer.send_status(end_of_snapshot=True)

    # --- connections -------------------------------------------------------------------------

    def attach(self, consumer: Consumer, wire: Wire) -> int:
        """Registers a connection; returns its subscriber id."""
        subscriber = self.core.add_subscriber(wire)
        self._consumers[subscriber] = consumer
        self._wires[subscriber] = wire
        self._changed.set()
        return subscriber

    def detach(self, subscriber: int) -> None:
        """Forgets a connection and its subscriptions."""
        if self._consumers.pop(subscriber, None) is None:
            return
        del self._wires[subscriber]
        self._blocked.pop(subscriber, None)
        self._lagging.discard(subscriber)
        self._changed.set()
        self._notify(self.core.remove_subscriber(subscriber))

    def subscribe(
        self,
        subscriber: int,
        streams: StreamRequest | StreamCommand | list[StreamCommand],
        limit: int,
    ) -> Confirmation | None:
        """Subscribes, all or none; raises :class:`~fastfeed.errors.SubscribeError`. With a
        :meth:`confirm_with` source, returns the :data:`Confirmation` to await before
        acknowledging (the streams already flow meanwhile); else ``None``."""
        confirmer = self._confirmer
        if confirmer is None:
            self._notify(self.core.subscribe(subscriber, streams, limit))
            return None
        before = set(self.core.subscriptions(subscriber))
        self._notify(self.core.subscribe(subscriber, streams, limit))
        names = _names(streams)
        added = [name for name in dict.fromkeys(names) if name not in before]
        return self._confirmed(confirmer, subscriber, names, added)

    async def _confirmed(
        self, confirmer: Confirmer, subscriber: int, names: list[str], added: list[str]
    ) -> tuple[int, str] | None:
        refusal = await confirmer(names)
        if refusal is None:
            return None
        if subscriber in self._consumers:
            # All or none: what this command added goes again; what the subscriber had stays.
            self._notify(self.core.unsubscribe(subscriber, added))
        name, message = refusal
        return names.index(name), message

    def unsubscribe(
        self, subscriber: int, streams: StreamRequest | StreamCommand | list[StreamCommand]
    ) -> None:
        """Unsubscribes (streams not subscribed are ignored)."""
        self._notify(self.core.unsubscribe(subscriber, streams))

    def clear(self, subscriber: int) -> None:
        """Unsubscribes from everything."""
        self._notify(self.core.clear(subscriber))

    def subscriptions(self, subscriber: int) -> list[str]:
        """The subscriber's streams (SPEC §4 names) in subscription order."""
        return self.core.subscriptions(subscriber)

    def blocked(self, subscriber: int) -> None:
        """The connection's transport stopped taking data."""
        self._blocked.setdefault(subscriber, asyncio.get_running_loop().time())

    def unblocked(self, subscriber: int) -> None:
        """The connection's transport takes data again (and it has nothing queued)."""
        self._blocked.pop(subscriber, None)
        self._lagging.discard(subscriber)
        self._changed.set()

    def _notify(self, change: tuple[list[str], list[str]]) -> None:
        self._changed.set()
        gained, lost = change
        if not (gained or lost):
            return
        for listener in self._listeners:
            try:
                listener(gained, lost)
            except Exception:
                log.exception("interest listener failed")


def _names(streams: StreamRequest | StreamCommand | list[StreamCommand]) -> list[str]:
    """The SPEC §4 names of a command's streams, in its order."""
    if isinstance(streams, StreamRequest):
        return streams.streams
    commands = [streams] if isinstance(streams, StreamCommand) else streams
    return [
        stream_name(c.sec_type, c.req_type, c.symbol, c.expiration, c.strike, c.right)
        for c in commands
    ]
