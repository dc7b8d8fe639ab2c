"""What the command-line programs share about running as a process: stopping on signals and
opening a feed with a one-line error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncGenerator, Awaitable
from types import FrameType
from typing import Any, Final, TypeVar

from fastfeed.client import Batch, Feed, connect
from fastfeed.client.feed import OverflowPolicy
from fastfeed.errors import FeedConnectionError

__all__ = [
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "SignalStop",
    "Stopped",
    "open_feed",
    "quiet_sdk_logging",
    "stop_on_signals",
]

T = TypeVar("T")

#: Exit statuses after a clean stop by a signal: 128 + the signal number, as a shell reports a
#: process killed by it, so a script can tell "stopped" from "finished" (``--count`` reached,
#: the stream ended: 0).
EXIT_SIGINT: Final = 128 + signal.SIGINT
EXIT_SIGTERM: Final = 128 + signal.SIGTERM


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (installed on the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows' loops: a plain handler that wakes the loop
            signal.signal(signum, lambda _signum, _frame: loop.call_soon_threadsafe(stop.set))
    return stop


class Stopped(Exception):
    """A signal came while :meth:`SignalStop.guard` waited."""


class SignalStop:
    """SIGINT/SIGTERM ask the running program to stop.

    The first signal sets :attr:`signum` and then :attr:`event`; the program checks
    :attr:`stopping` after every batch (a loop that only looked when no batch was ready would
    never stop under load) and exits with :attr:`exit_code` after flushing. A second signal
    exits at once with that code, without flushing: the way out when a write blocks (stdout
    piped to a reader that stopped reading), which the event loop cannot interrupt.

    The handlers are plain ``signal`` handlers, not the loop's: those run only when the loop
    gets control, which a blocked write never gives it. The handler only records the signal
    and writes a byte to a pipe the loop watches (the self-pipe trick), which sets the event.
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signum: int | None = None
        loop = asyncio.get_running_loop()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        loop.add_reader(self._wake_r, self._woken)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handler)

    @property
    def stopping(self) -> bool:
        """True once a signal arrived."""
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM); 0 without a signal."""
        return 0 if self.signum is None else 128 + self.signum

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Awaits ``awaitable`` unless a signal comes first: then cancels it and raises
        :class:`Stopped` (connecting and subscribing can take seconds)."""
        task = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self.event.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise Stopped
        return task.result()

    async def batches(self, feed: Feed, tick: float) -> AsyncGenerator[Batch | None, None]:
        """Each batch of ``feed`` as it comes, and ``None`` every ``tick`` seconds (also while
        no batch comes, for status lines and timed flushes); ends when a signal arrived or the
        feed ended (``feed.ended``). Use with ``contextlib.aclosing`` when breaking out."""
        nxt: asyncio.Future[Batch | None] | None = None
        stopping = asyncio.ensure_future(self.event.wait())
        next_tick = time.monotonic() + tick
        try:
            while not self.stopping:
                if nxt is None:
                    nxt = asyncio.ensure_future(feed.next_batch())
                waiting: set[asyncio.Future[Any]] = {nxt, stopping}
                await asyncio.wait(
                    waiting,
                    timeout=max(next_tick - time.monotonic(), 0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick
                    yield None
                if self.stopping or not nxt.done():
                    continue
                batch = nxt.result()
                nxt = None
                if batch is None:
                    return
                yield batch
        finally:
            stopping.cancel()
            if nxt is not None:
                nxt.cancel()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            os._exit(128 + signum)
        self.signum = signum
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _woken(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._wake_r, 64)
        self.event.set()


def quiet_sdk_logging() -> None:
    """The programs report gaps and reconnects themselves (rate-limited): the SDK's own log
    lines would repeat them, unlimited, through logging's last-resort stderr handler."""
    logging.getLogger("fastfeed.client").setLevel(logging.ERROR)


async def open_feed(
    url: str,
    program: str,
    *,
    max_queue_events: int = 1_000_000,
    overflow: OverflowPolicy = "drop_oldest",
) -> Feed | None:
    """A connected feed, or ``None`` after printing ``<program>: <reason>`` to stderr."""
    try:
        feed = connect(url, max_queue_events=max_queue_events, overflow=overflow)
        await feed.open()
    except FeedConnectionError as error:
        print(f"{program}: {error}", file=sys.stderr)
        return None
    return feed
