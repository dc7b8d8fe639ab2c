"""What the command-line programs share about running as a process: stopping on signals and
opening a feed with a one-line error."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from types import FrameType
from typing import Final

from fastfeed.client import Feed, connect
from fastfeed.client.feed import OverflowPolicy
from fastfeed.errors import FeedConnectionError

__all__ = ["EXIT_SIGINT", "EXIT_SIGTERM", "SignalStop", "open_feed", "stop_on_signals"]

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
        loop.add_signal_handler(signum, stop.set)
    return stop


class SignalStop:
    """SIGINT/SIGTERM ask the running program to stop (installed on the running loop).

    The first signal sets :attr:`event` and :attr:`signum`; the program's loop checks
    :attr:`stopping` after every batch (a loop that only looked when no batch was ready would
    never stop under load) and exits with :attr:`exit_code` after flushing. A second signal
    exits at once with that code, without flushing: the way out when a write blocks (stdout
    piped to a reader that stopped reading).
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signum: int | None = None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._first, signum)

    @property
    def stopping(self) -> bool:
        """True once a signal arrived."""
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM); 0 without a signal."""
        return 0 if self.signum is None else 128 + self.signum

    def _first(self, signum: int) -> None:
        self.signum = signum
        self.event.set()
        loop = asyncio.get_running_loop()
        for other in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(other)
            # A plain handler also runs while a write() blocks (it interrupts the call).
            signal.signal(other, _exit_now)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)


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
