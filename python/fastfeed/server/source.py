"""What the server sends: a :class:`Source` yields batches of pre-encoded event frames.

The server pulls from one source and hands each batch to the connected client in one write.
A batch is already WebSocket frames (the Rust encoder's output), so the server never touches
individual events. The synthetic market, replay, relay and Redis sources plug in here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from fastfeed._core import StreamCommand

__all__ = ["EventBatch", "QueueSource", "Source", "SubscriptionsView"]

#: Returns the connected client's active subscriptions (empty when no client is connected).
SubscriptionsView = Callable[[], Collection[StreamCommand]]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """``count`` data events, encoded as consecutive server WebSocket frames in ``frames``."""

    frames: bytes
    count: int


class Source(Protocol):
    """An asynchronous producer of event batches.

    ``subscriptions`` may be called at any time to learn what the client wants; a source
    should encode only events that match it.
    """

    def batches(self, subscriptions: SubscriptionsView) -> AsyncIterator[EventBatch]: ...


class QueueSource:
    """A source fed by hand: every :meth:`put` batch is sent as is, in order.

    Deterministic, for tests and for embedding a server behind another producer. ``put``
    never blocks; the server's slow-consumer policy bounds what a client can hold up.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[EventBatch] = asyncio.Queue()

    def put(self, frames: bytes, count: int) -> None:
        """Queues ``count`` events already encoded as server frames in ``frames``."""
        self._queue.put_nowait(EventBatch(frames, count))

    async def batches(self, subscriptions: SubscriptionsView) -> AsyncIterator[EventBatch]:
        while True:
            yield await self._queue.get()
