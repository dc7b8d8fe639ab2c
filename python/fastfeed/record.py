"""``python -m fastfeed record``: write what a server sends to JSON Lines (SPEC §5, §9).

Each data event (TRADE, QUOTE, OHLC, OPEN_INTEREST) becomes one line of compact §3.3 JSON, in
arrival order, encoded by the Rust encoder from the received columns (one call per event type
in a batch). STATUS heartbeats and acknowledgements are not recorded. A name ending in
``.gz`` is gzip-compressed. The file is a replay source: ``serve --source replay:FILE``.

The file is whole at every instant: lines are buffered in memory and written at least once a
second (or every :data:`FLUSH_BYTES`), each time with one ``write`` of whole lines — for
``.gz``, of one complete gzip member — by a child process that outlives a ``kill -9`` of this
one long enough to finish its write (:mod:`fastfeed._record_writer`). A ``kill -9`` loses at
most the last unflushed second. When the writer falls behind, this program waits for it
instead of reading batches, the feed's queue fills and the feed stops reading the socket
(``overflow="pause"``): the server is slowed down rather than anything dropped here, and
what a live server drops arrives as ``Gap`` notices, counted and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from typing import Final

from fastfeed import _record_writer
from fastfeed._console import Console, counter_bar, human
from fastfeed._process import SignalStop, Stopped, open_feed, quiet_sdk_logging
from fastfeed._record_writer import RecordingFile
from fastfeed.client import (
    Feed,
    Subscription,
)
from fastfeed.client.feed import check_url
from fastfeed.client.jsonl import BatchJsonWriter, parse_stream_name
from fastfeed.errors import FastfeedError, SubscriptionError
from fastfeed.tail import DEFAULT_URL

__all__ = [
    "FLUSH_BYTES",
    "FLUSH_SECONDS",
    "LineBuffer",
    "add_record_arguments",
    "run_record",
]

PROGRAM: Final = "python -m fastfeed record"
#: Buffered JSON that triggers a write (uncompressed bytes).
FLUSH_BYTES: Final = 4 << 20
#: The longest time a received event waits in memory before it is written.
FLUSH_SECONDS: Final = 1.0
DEFAULT_QUEUE_EVENTS: Final = 100_000
TICK_SECONDS: Final = 0.25
#: How long the end of a recording waits for the writer to finish its last chunks.
WRITER_EXIT_SECONDS: Final = 5.0


#: The file names ``record`` writes (any case): JSON Lines, gzip-compressed with ``.gz``. A
#: replay reads every other name but ``.csv`` as JSON Lines too, so a name that promises another
#: format is refused rather than written with the wrong content.
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


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


class LineBuffer:
    """Whole JSON lines waiting to be written: :meth:`due` once ``flush_bytes`` are buffered
    or the oldest line is ``flush_seconds`` old (time passed in)."""

    def __init__(
        self, flush_bytes: int = FLUSH_BYTES, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.flush_bytes = flush_bytes
        self.flush_seconds = flush_seconds
        self._parts: list[bytes] = []
        self._bytes = 0
        self._lines = 0
        self._since: float | None = None

    def add(self, lines: bytes, count: int, now: float) -> None:
        """Buffers ``count`` whole lines (each ending in ``\\n``) received at ``now``."""
        if not lines:
            return
        if self._since is None:
            self._since = now
        self._parts.append(lines)
        self._bytes += len(lines)
        self._lines += count

    def due(self, now: float) -> bool:
        """True when the buffer should be written."""
        if self._since is None:
            return False
        return self._bytes >= self.flush_bytes or now - self._since >= self.flush_seconds

    def take(self) -> tuple[bytes, int]:
        """The buffered lines and how many they are; empties the buffer."""
        chunk, count = b"".join(self._parts), self._lines
        self._parts, self._bytes, self._lines, self._since = [], 0, 0, None
        return chunk, count


class WriterDied(FastfeedError):
    """The writer process is gone (it printed why)."""


class _Writer:
    """The file, written by :mod:`fastfeed._record_writer` in a child process (see there why):
    :meth:`send` hands over one chunk and waits until the pipe has taken most of it, so a
    slow disk or compressor slows down the reading of batches, and so the socket."""

    def __init__(self, file: RecordingFile, process: asyncio.subprocess.Process) -> None:
        self._file = file
        self._process = process
        self._closed_size: int | None = None
        #: Lines handed to the writer.
        self.lines = 0

    @classmethod
    async def start(cls, path: str) -> _Writer:
        """Creates ``path`` (``OSError`` if it cannot) and starts the writer."""
        file = RecordingFile.create(path)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", _record_writer.__file__,
                str(file.fd), "gz" if file.gzip else "plain", str(file.level),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(file.fd,),
                start_new_session=True,  # no Ctrl-C, no hangup from the terminal
            )  # fmt: skip
        except BaseException:
            file.close()
            raise
        return cls(file, process)

    @property
    def size(self) -> int:
        """The file's size now."""
        if self._closed_size is not None:
            return self._closed_size
        return os.fstat(self._file.fd).st_size

    async def send(self, chunk: bytes, count: int) -> None:
        """Hands ``chunk`` (``count`` whole lines) to the writer."""
        if not chunk:
            return
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(_record_writer.HEADER.pack(len(chunk)))
            stdin.write(chunk)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise WriterDied("the writer process exited") from None
        self.lines += count

    async def close(self) -> int:
        """Ends the input and waits for the writer to finish (bounded); its exit status."""
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()
            async with asyncio.timeout(WRITER_EXIT_SECONDS):
                return await self._process.wait()
        except TimeoutError:
            return 1  # still writing: it finishes on its own, detached
        finally:
            self._closed_size = self.size
            self._file.close()


def _postfix(feed: Feed, writer: _Writer) -> str:
    stats = feed.stats
    return f"{human(writer.size, 'B')} written, gaps {stats.gaps:,}, lost {stats.lost:,}"


async def _subscribe(feed: Feed, subscriptions: list[Subscription]) -> None:
    for sub in subscriptions:
        await feed.subscribe(sub.req_type, sub.contract, sec_type=sub.sec_type)  # type: ignore[arg-type]


async def _record(args: argparse.Namespace, subscriptions: list[Subscription]) -> int:
    stop = SignalStop()
    try:
        feed = await stop.guard(
            open_feed(args.url, PROGRAM, max_queue_events=args.queue_events, overflow="pause")
        )
        if feed is None:
            return 1
    except Stopped:
        return stop.exit_code
    try:
        # Subscribed before the file is created: a refused subscription leaves no file.
        await stop.guard(_subscribe(feed, subscriptions))
        writer = await _Writer.start(args.out)
    except Stopped:
        await feed.close()
        return stop.exit_code
    except SubscriptionError as error:
        await feed.close()
        print(f"{PROGRAM}: server refused a subscription: {error}", file=sys.stderr)
        return 1
    except FastfeedError as error:
        await feed.close()
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        await feed.close()
        print(f"{PROGRAM}: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    buffer = LineBuffer()
    encoder = BatchJsonWriter(keep_ids=False)
    bar = counter_bar(sys.stderr, "record", " ev") if sys.stderr.isatty() else None
    console = Console("record", bar)
    received = 0
    status = 0
    start = time.monotonic()
    try:
        async with contextlib.aclosing(stop.batches(feed, TICK_SECONDS)) as batches:
            async for batch in batches:
                now = time.monotonic()
                if batch is None:
                    console.tick(now)
                    if bar is not None:
                        bar.set_postfix_str(_postfix(feed, writer), refresh=True)
                else:
                    for notice in batch.notices:
                        console.control(notice, now)
                    n = len(batch)
                    if n:
                        lines = encoder.encode(batch, feed.contracts)
                        if args.count is not None and received + n > args.count:
                            n = args.count - received
                            lines = b"".join(lines.splitlines(keepends=True)[:n])
                        received += n
                        buffer.add(lines, n, now)
                        if bar is not None:
                            bar.update(n)
                if buffer.due(now):
                    await writer.send(*buffer.take())
                if args.count is not None and received >= args.count:
                    break
    except WriterDied:
        status = 1
    except FastfeedError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        status = 1
    finally:
        try:
            with contextlib.suppress(WriterDied):
                await writer.send(*buffer.take())
            if await writer.close() != 0:
                status = 1
        finally:
            await feed.close()
            console.tick(time.monotonic(), final=True)
            console.close()
    stats = feed.stats
    reconnects = f", {stats.reconnects} reconnects" if stats.reconnects else ""
    print(
        f"[record] wrote {writer.lines:,} events ({human(writer.size, 'B')}) to "
        f"{args.out} in {time.monotonic() - start:.1f} s; gaps {stats.gaps:,}, lost "
        f"{stats.lost:,} (server {stats.server_dropped:,}, local {stats.local_dropped:,})"
        f"{reconnects}",
        file=sys.stderr,
    )
    return stop.exit_code if stop.stopping and status == 0 else status


def run_record(args: argparse.Namespace) -> int:
    """Runs ``record``; returns the exit status (2 for bad arguments, 1 for errors, 130 after
    Ctrl-C, 143 after SIGTERM)."""
    from fastfeed._loop import run as run_loop

    try:
        check_url(args.url)
    except ValueError as error:
        print(f"{PROGRAM}: error: --{error}", file=sys.stderr)  # the SDK's "url: …"
        return 2
    if not args.out.lower().endswith(RECORD_SUFFIXES):
        print(
            f"{PROGRAM}: error: --out {args.out!r}: record writes JSON Lines, to a file named "
            ".jsonl (or .jsonl.gz, gzip-compressed; .ndjson too)",
            file=sys.stderr,
        )
        return 2
    subscriptions = []
    for name in args.subscriptions:
        try:
            subscriptions.append(parse_stream_name(name, typed=True))
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
    return run_loop(_record(args, subscriptions))
