"""What the server sends: a :class:`Source` runs against the server's
:class:`~fastfeed.server.hub.Hub`.

A source registers its contracts with the hub (``hub.core.add_contract``, or a Rust market
that registers its own) and hands every batch of events to :meth:`Hub.publish
<fastfeed.server.hub.Hub.publish>` in one call: the hub applies every trade to the server's
bars, adds the session OHLC event after each trade, encodes each event once and writes each
connection's share in one write. The server never touches individual events in Python.

Paced sources (the synthetic market at ``--rate max``, replays) await
:meth:`Hub.wait_ready <fastfeed.server.hub.Hub.wait_ready>` so they go as fast as their
consumers read; live sources just publish, and the slow-consumer policy bounds what a slow
client can hold up. A source that subscribes upstream on demand follows
:meth:`Hub.on_interest <fastfeed.server.hub.Hub.on_interest>`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fastfeed.server.hub import Hub

__all__ = [
    "CountedSource",
    "EventBatch",
    "PublishCounts",
    "QueueSource",
    "Source",
    "SourceCounts",
    "SourceEnd",
]


@dataclass(frozen=True, slots=True)
class SourceEnd:
    """How a finite source ended (a replay at the end of its files): every connection gets
    what is queued for it, a last STATUS and Close ``code``/``reason``; then the server stops
    (:func:`~fastfeed.server.serve` returns)."""

    reason: str
    code: int = 1000


class Source(Protocol):
    """A producer of events. :meth:`run` lasts as long as the server (it is cancelled), or
    returns a :class:`SourceEnd` when the source is exhausted. An exception ends the server
    too: clients get Close 1011 and :func:`~fastfeed.server.serve` raises it."""

    async def run(self, hub: Hub) -> SourceEnd | None: ...


@dataclass(frozen=True, slots=True)
class PublishCounts:
    """What ``--publish`` counted so far: events written to Redis, dropped (Redis down or not
    keeping up), reconnections to Redis; and the bytes waiting for Redis now."""

    sent: int
    dropped: int
    reconnects: int
    pending_bytes: int = 0


@dataclass(frozen=True, slots=True)
class SourceCounts:
    """What a source counts itself, read when metrics are scraped (``serve --metrics-port``):
    nothing of it is counted per event in Python."""

    #: The kind of source: ``synthetic``, ``replay``, ``relay``, ``http``, ``redis``.
    kind: str
    #: Input that was not a valid event and was skipped (bad lines, objects, payloads, frames).
    decode_errors: int = 0
    #: Connections (or requests) to the upstream after the first.
    reconnects: int = 0
    #: What the source is subscribed to upstream (Redis channels and patterns, a relay's
    #: streams); ``None`` for a source without an upstream that subscribes.
    upstream_subscriptions: int | None = None
    #: ``--publish``'s counts, when the events also go to Redis.
    publish: PublishCounts | None = None


@runtime_checkable
class CountedSource(Protocol):
    """A source that reports :class:`SourceCounts`."""

    def counts(self) -> SourceCounts: ...


@dataclass(frozen=True, slots=True)
class EventBatch:
    """``count`` data events, encoded as consecutive server WebSocket frames in ``frames``."""

    frames: bytes
    count: int


class QueueSource:
    """A source fed by hand: every :meth:`put` batch goes as is, in order, to every
    ``/v1/events`` client, bypassing subscriptions (the frames are already encoded, e.g. with
    :class:`fastfeed.EventEncoder`).

    Deterministic, for tests and for embedding a server behind another producer. ``put``
    never blocks; the server's slow-consumer policy bounds what a client can hold up.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[EventBatch] = asyncio.Queue()

    def put(self, frames: bytes, count: int) -> None:
        """Queues ``count`` events already encoded as server frames in ``frames``."""
        self._queue.put_nowait(EventBatch(frames, count))

    async def run(self, hub: Hub) -> SourceEnd | None:
        while True:
            batch = await self._queue.get()
            hub.broadcast(batch.frames, batch.count)
