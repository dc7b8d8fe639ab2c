"""``python -m fastfeed record``: write what a server sends to JSON Lines (SPEC §5, §9).

Each data event (TRADE, QUOTE, OHLC, OPEN_INTEREST) becomes one line of compact §3.3 JSON, in
arrival order, encoded by the Rust encoder from the received columns (one call per run of
same-type events). STATUS heartbeats and acknowledgements are not recorded. A name ending in
``.gz`` is gzip-compressed. The file is a replay source: ``serve --source replay:FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys
import time
from typing import BinaryIO

from fastfeed._process import open_feed, stop_on_signals
from fastfeed.client import Disconnected, Gap, Reconnected, Subscription, TakenOver
from fastfeed.client.jsonl import BatchJsonWriter, parse_stream_name
from fastfeed.errors import FastfeedError, SubscriptionError
from fastfeed.tail import DEFAULT_URL

__all__ = ["add_record_arguments", "run_record"]


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``record``."""
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="output .jsonl file (.jsonl.gz: gzip)"
    )
    parser.add_argument(
        "--count", type=int, default=None, metavar="N", help="stop after N data events"
    )
    parser.add_argument(
        "subscriptions",
        nargs="+",
        metavar="SUBSCRIPTION",
        help="streams as stock.AAPL@trade, option.SPY.20250321.570000.C@quote, "
        "index.SPX@ohlc, option@full_trades",
    )


def _open(path: str) -> BinaryIO:
    if path.endswith(".gz"):
        return gzip.open(path, "wb")  # type: ignore[return-value]
    return open(path, "wb")


async def _record(args: argparse.Namespace, subscriptions: list[Subscription]) -> int:
    stop = stop_on_signals()
    feed = await open_feed(args.url, "python -m fastfeed record")
    if feed is None:
        return 1
    writer = BatchJsonWriter()
    written = 0
    status = 0
    start = time.monotonic()
    try:
        out = _open(args.out)
    except OSError as error:
        await feed.close()
        print(f"python -m fastfeed record: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    try:
        for sub in subscriptions:
            await feed.subscribe(sub.req_type, sub.contract, sec_type=sub.sec_type)  # type: ignore[arg-type]
        stopping = asyncio.ensure_future(stop.wait())
        while args.count is None or written < args.count:
            nxt = asyncio.ensure_future(feed.next_batch())
            done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                break
            batch = nxt.result()
            if batch is None:
                break
            for notice in batch.notices:
                if isinstance(notice, Gap | Disconnected | Reconnected | TakenOver):
                    print(f"[record] {notice}", file=sys.stderr)
            if len(batch):
                lines = writer.encode(batch, feed.contracts)
                if args.count is not None and written + len(batch) > args.count:
                    keep = args.count - written
                    lines = b"".join(lines.splitlines(keepends=True)[:keep])
                    written += keep
                else:
                    written += len(batch)
                out.write(lines)
        stopping.cancel()
    except SubscriptionError as error:
        print(f"python -m fastfeed record: server refused a subscription: {error}", file=sys.stderr)
        status = 1
    except FastfeedError as error:
        print(f"python -m fastfeed record: {error}", file=sys.stderr)
        status = 1
    finally:
        out.close()
        await feed.close()
    stats = feed.stats
    print(
        f"[record] wrote {written} events to {args.out} in {time.monotonic() - start:.1f} s "
        f"(gaps={stats.gaps} lost={stats.lost} reconnects={stats.reconnects})",
        file=sys.stderr,
    )
    return status


def run_record(args: argparse.Namespace) -> int:
    """Runs ``record``; returns the exit status (2 for bad arguments, 1 for errors)."""
    import uvloop

    subscriptions = []
    for name in args.subscriptions:
        try:
            subscriptions.append(parse_stream_name(name))
        except ValueError as error:
            print(f"python -m fastfeed record: error: {name!r}: {error}", file=sys.stderr)
            return 2
    if args.count is not None and args.count < 1:
        print(
            "python -m fastfeed record: error: --count: expected a positive integer, "
            f"got {args.count}",
            file=sys.stderr,
        )
        return 2
    return uvloop.run(_record(args, subscriptions))
