"""What the server sends: a :class:`Source` runs against the server's :class:`Egress`.

A source registers its contracts with the egress's :class:`~fastfeed._core.Router` and routes
its events through it: the router applies every trade to the server's bars, keeps the events
the client subscribed to (adding the session OHLC event after each trade) and encodes them into
one buffer of WebSocket frames, which :meth:`Egress.send` hands to the client in one write. The
server never touches individual events in Python.

Paced sources (the synthetic market at ``--rate max``, replays) await
:meth:`Egress.wait_writable` so they go exactly as fast as the client reads; live sources just
send, and the slow-consumer policy bounds what a slow client can hold up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from fastfeed._core import Router

__all__ = ["Egress", "EventBatch", "QueueSource", "Source"]


class Egress(Protocol):
    """The server side a source talks to (implemented by :class:`~fastfeed.server.Server`)."""

    @property
    def router(self) -> Router:
        """Contract registry, subscription filter, bars and encoder."""
        ...

    def send(self, frames: bytes, count: int) -> bool:
        """Sends ``count`` data events encoded as server frames to the connected client (one
        write, or queued whole). False if there is no client or the batch was dropped."""
        ...

    async def wait_writable(self) -> None:
        """Returns once a client is connected and its transport takes data without queueing."""
        ...


class Source(Protocol):
    """A producer of events; :meth:`run` lasts as long as the server (it is cancelled)."""

    async def run(self, egress: Egress) -> None: ...


@dataclass(frozen=True, slots=True)
class EventBatch:
    """``count`` data events, encoded as consecutive server WebSocket frames in ``frames``."""

    frames: bytes
    count: int


class QueueSource:
    """A source fed by hand: every :meth:`put` batch is sent as is, in order, bypassing the
    subscription filter (the frames are already encoded).

    Deterministic, for tests and for embedding a server behind another producer. ``put``
    never blocks; the server's slow-consumer policy bounds what a client can hold up.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[EventBatch] = asyncio.Queue()

    def put(self, frames: bytes, count: int) -> None:
        """Queues ``count`` events already encoded as server frames in ``frames``."""
        self._queue.put_nowait(EventBatch(frames, count))

    async def run(self, egress: Egress) -> None:
        while True:
            batch = await self._queue.get()
            egress.send(batch.frames, batch.count)
