"""``python -m fastfeed record``: write what a server sends to JSON Lines (SPEC §5, §9).

Each data event (TRADE, QUOTE, OHLC, OPEN_INTEREST) becomes one line of compact §3.3 JSON, in
arrival order, encoded by the Rust encoder from the received columns (one call per run of
same-type events). STATUS heartbeats and acknowledgements are not recorded. A name ending in
``.gz`` is gzip-compressed. The file is a replay source: ``serve --source replay:FILE``.

The file is whole at every instant: lines are buffered in memory and written at least once a
second (or every :data:`FLUSH_BYTES`), each time with one ``write`` of whole lines — for
``.gz``, of one complete gzip member (a file of several members is one valid gzip stream:
``gzip -t``, ``zcat``, Python's ``gzip`` and flate2's ``MultiGzDecoder`` read it whole). A
``kill -9`` loses at most the last unflushed second. Compression and writing run in a worker
thread, one member at a time; when it falls behind, the program stops reading batches, the
feed's queue fills and the feed stops reading the socket (``overflow="pause"``): the server
is slowed down rather than anything dropped here, and what a live server drops arrives as
``Gap`` notices, counted and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from fastfeed._console import Console, counter_bar, human
from fastfeed._process import SignalStop, open_feed, quiet_sdk_logging
from fastfeed.client import (
    Batch,
    Disconnected,
    Feed,
    Gap,
    Reconnected,
    Subscription,
    TakenOver,
)
from fastfeed.client.events import ControlEvent
from fastfeed.client.jsonl import BatchJsonWriter, parse_stream_name
from fastfeed.errors import FastfeedError, SubscriptionError
from fastfeed.tail import DEFAULT_URL

__all__ = [
    "FLUSH_BYTES",
    "FLUSH_SECONDS",
    "RecordingFile",
    "add_record_arguments",
    "run_record",
]

PROGRAM: Final = "python -m fastfeed record"
#: Buffered JSON that triggers a write (uncompressed bytes).
FLUSH_BYTES: Final = 4 << 20
#: The longest time a received event waits in memory before it is written.
FLUSH_SECONDS: Final = 1.0
#: zlib level of the gzip members: gzip's own default, ~4x faster than level 9 on this JSON
#: (≈75 MB/s vs 34 MB/s of input on one core) for 12% more bytes.
GZIP_LEVEL: Final = 6
DEFAULT_QUEUE_EVENTS: Final = 100_000
TICK_SECONDS: Final = 0.25


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``record``."""
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="output .jsonl file (.jsonl.gz: gzip, one member per write); written at least "
        "every second in whole lines, so it stays valid if the program is killed",
    )
    parser.add_argument(
        "--count", type=int, default=None, metavar="N", help="stop after N data events"
    )
    parser.add_argument(
        "--queue-events",
        type=int,
        default=DEFAULT_QUEUE_EVENTS,
        metavar="N",
        help="events held between the socket and the file before reading pauses "
        f"(default {DEFAULT_QUEUE_EVENTS:,}); nothing is dropped here: a full queue slows "
        "the server down, and what a live server drops is reported as gaps",
    )
    parser.add_argument(
        "subscriptions",
        nargs="+",
        metavar="SUBSCRIPTION",
        help="streams as stock.AAPL@trade, option.SPY.20250321.570000.C@quote, "
        "index.SPX@ohlc, option@full_trades",
    )


class RecordingFile:
    """JSON Lines appended so that the file is valid at every instant.

    :meth:`add` buffers whole lines; :meth:`due` says when to write (``flush_bytes``
    buffered, or the oldest buffered line is ``flush_seconds`` old); :meth:`take` hands the
    buffer over and :meth:`write` (thread-safe against :meth:`add`: it touches only the file)
    writes it with one ``write`` call — compressed into one complete gzip member when the
    name ends in ``.gz``. Creating a ``.gz`` writes an empty member, so even a file with no
    events yet passes ``gzip -t``.
    """

    def __init__(
        self,
        path: str,
        *,
        flush_bytes: int = FLUSH_BYTES,
        flush_seconds: float = FLUSH_SECONDS,
        level: int = GZIP_LEVEL,
    ) -> None:
        self.path = path
        self.gzip = path.endswith(".gz")
        self.flush_bytes = flush_bytes
        self.flush_seconds = flush_seconds
        self.level = level
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._since: float | None = None
        #: Bytes written to the file (compressed for ``.gz``).
        self.written_bytes = 0
        #: Lines handed to :meth:`write` so far.
        self.written_lines = 0
        self._pending_lines = 0
        if self.gzip:
            self.write(b"", 0)

    def add(self, lines: bytes, count: int, now: float) -> None:
        """Buffers ``count`` whole lines (each ending in ``\\n``) received at ``now``."""
        if not lines:
            return
        if self._since is None:
            self._since = now
        self._pending.append(lines)
        self._pending_bytes += len(lines)
        self._pending_lines += count

    def due(self, now: float) -> bool:
        """True when the buffer should be written."""
        if self._since is None:
            return False
        return self._pending_bytes >= self.flush_bytes or now - self._since >= self.flush_seconds

    def take(self) -> tuple[bytes, int]:
        """The buffered lines and their count, for :meth:`write`; empties the buffer."""
        chunk = b"".join(self._pending)
        count = self._pending_lines
        self._pending = []
        self._pending_bytes = 0
        self._pending_lines = 0
        self._since = None
        return chunk, count

    def write(self, chunk: bytes, count: int) -> None:
        """Writes ``chunk`` in one ``write`` (one gzip member for ``.gz``)."""
        if self.gzip:
            compressor = zlib.compressobj(self.level, zlib.DEFLATED, 31)
            data = compressor.compress(chunk) + compressor.flush()
        elif chunk:
            data = chunk
        else:
            return
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write goes on where it stopped
            view = view[os.write(self._fd, view) :]
        self.written_bytes += len(data)
        self.written_lines += count

    def close(self) -> None:
        """Closes the file (write what :meth:`take` returns first)."""
        os.close(self._fd)


class _Writer:
    """Runs :meth:`RecordingFile.write` in one worker thread, one chunk at a time: a second
    chunk waits for the first, which is how a slow disk or compressor slows the reading."""

    def __init__(self, file: RecordingFile) -> None:
        self.file = file
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fastfeed-record")
        self._inflight: asyncio.Future[None] | None = None

    async def submit(self) -> None:
        await self.wait()
        chunk, count = self.file.take()
        if chunk:
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(self._executor, self.file.write, chunk, count)

    async def wait(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def close(self) -> None:
        """Writes what is buffered, waits for it and closes the file."""
        try:
            await self.submit()
            await self.wait()
        finally:
            self._executor.shutdown(wait=True)
            self.file.close()


def _notice(console: Console, notice: ControlEvent, now: float) -> None:
    if isinstance(notice, Gap):
        console.notice("gap", f"{notice.count:,} events lost ({notice.reason})", now, notice.count)
    elif isinstance(notice, Disconnected):
        console.notice("disconnected", f"{notice.reason}; reconnecting", now)
    elif isinstance(notice, Reconnected):
        console.notice(
            "reconnected",
            f"after {notice.outage:.2f} s ({notice.subscriptions} subscriptions re-sent)",
            now,
        )
    elif isinstance(notice, TakenOver):
        console.line(f"taken over: {notice.reason}; stopping")


def _postfix(feed: Feed, file: RecordingFile) -> str:
    stats = feed.stats
    return f"{human(file.written_bytes, 'B')} written, gaps {stats.gaps:,}, lost {stats.lost:,}"


async def _record(args: argparse.Namespace, subscriptions: list[Subscription]) -> int:
    stop = SignalStop()
    feed = await open_feed(args.url, PROGRAM, max_queue_events=args.queue_events, overflow="pause")
    if feed is None:
        return 1
    try:
        file = RecordingFile(args.out)
    except OSError as error:
        await feed.close()
        print(f"{PROGRAM}: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    writer = _Writer(file)
    encoder = BatchJsonWriter()
    bar = counter_bar(sys.stderr, "record", " ev") if sys.stderr.isatty() else None
    console = Console("record", bar)
    received = 0
    status = 0
    start = time.monotonic()
    nxt: asyncio.Future[Batch | None] | None = None
    stopping = asyncio.ensure_future(stop.event.wait())
    try:
        for sub in subscriptions:
            await feed.subscribe(sub.req_type, sub.contract, sec_type=sub.sec_type)  # type: ignore[arg-type]
        next_tick = time.monotonic() + TICK_SECONDS
        while not stop.stopping and (args.count is None or received < args.count):
            if nxt is None:
                nxt = asyncio.ensure_future(feed.next_batch())
            waiting: set[asyncio.Future[Any]] = {nxt, stopping}
            await asyncio.wait(
                waiting,
                timeout=max(next_tick - time.monotonic(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK_SECONDS
                console.tick(now)
                if bar is not None:
                    bar.set_postfix_str(_postfix(feed, file), refresh=True)
            if stop.stopping or not nxt.done():
                if file.due(now):
                    await writer.submit()
                continue
            batch = nxt.result()
            nxt = None
            if batch is None:
                break
            for notice in batch.notices:
                _notice(console, notice, now)
            n = len(batch)
            if n:
                lines = encoder.encode(batch, feed.contracts)
                if args.count is not None and received + n > args.count:
                    n = args.count - received
                    lines = b"".join(lines.splitlines(keepends=True)[:n])
                received += n
                file.add(lines, n, now)
                if bar is not None:
                    bar.update(n)
            if file.due(now):
                await writer.submit()
    except SubscriptionError as error:
        print(f"{PROGRAM}: server refused a subscription: {error}", file=sys.stderr)
        status = 1
    except FastfeedError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        status = 1
    finally:
        stopping.cancel()
        if nxt is not None:
            nxt.cancel()
        try:
            await writer.close()
        finally:
            await feed.close()
            console.tick(time.monotonic(), final=True)
            console.close()
    stats = feed.stats
    reconnects = f", {stats.reconnects} reconnects" if stats.reconnects else ""
    print(
        f"[record] wrote {file.written_lines:,} events ({human(file.written_bytes, 'B')}) to "
        f"{args.out} in {time.monotonic() - start:.1f} s; gaps {stats.gaps:,}, lost "
        f"{stats.lost:,} (server {stats.server_dropped:,}, local {stats.local_dropped:,})"
        f"{reconnects}",
        file=sys.stderr,
    )
    return stop.exit_code if stop.stopping else status


def run_record(args: argparse.Namespace) -> int:
    """Runs ``record``; returns the exit status (2 for bad arguments, 1 for errors, 130 after
    Ctrl-C, 143 after SIGTERM)."""
    import uvloop

    subscriptions = []
    for name in args.subscriptions:
        try:
            subscriptions.append(parse_stream_name(name))
        except ValueError as error:
            print(f"{PROGRAM}: error: {name!r}: {error}", file=sys.stderr)
            return 2
    for flag, value in (("--count", args.count), ("--queue-events", args.queue_events)):
        if value is not None and value < 1:
            print(
                f"{PROGRAM}: error: {flag}: expected a positive integer, got {value}",
                file=sys.stderr,
            )
            return 2
    quiet_sdk_logging()
    return uvloop.run(_record(args, subscriptions))
