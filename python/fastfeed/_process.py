"""What the command-line programs share about running as a process: stopping on signals and
opening a feed with a one-line error."""

from __future__ import annotations

import asyncio
import signal
import sys

from fastfeed.client import Feed, connect
from fastfeed.errors import FeedConnectionError

__all__ = ["open_feed", "stop_on_signals"]


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (installed on the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def open_feed(url: str, program: str) -> Feed | None:
    """A connected feed, or ``None`` after printing ``<program>: <reason>`` to stderr."""
    try:
        feed = connect(url)
        await feed.open()
    except FeedConnectionError as error:
        print(f"{program}: {error}", file=sys.stderr)
        return None
    return feed
