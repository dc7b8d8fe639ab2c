"""``python -m fastfeed tail``: print a live stream as a table or JSON lines (SPEC §9).

Data goes to stdout; control events (disconnects, gaps, takeover) and a periodic summary
(rates, drops, gaps) go to stderr, so ``--json`` output stays machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from fastfeed._process import open_feed, stop_on_signals
from fastfeed.client import (
    Contract,
    Disconnected,
    Feed,
    Gap,
    Index,
    Ohlc,
    OpenInterest,
    Option,
    Quote,
    Reconnected,
    Status,
    Stock,
    Subscription,
    TakenOver,
    Trade,
)
from fastfeed.client.events import Event
from fastfeed.client.jsonl import BatchJsonWriter
from fastfeed.errors import FastfeedError, SubscriptionError

__all__ = ["VALID_REQ_TYPES", "add_tail_arguments", "format_event", "run_tail", "summary_line"]

DEFAULT_URL = "ws://127.0.0.1:25520/v1/events"

#: SPEC §3.1: the request types each security type supports (per contract).
VALID_REQ_TYPES = {
    "STOCK": ("QUOTE", "TRADE", "OHLC"),
    "OPTION": ("QUOTE", "TRADE", "OHLC", "OPEN_INTEREST"),
    "INDEX": ("TRADE", "OHLC"),
}


def add_tail_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tail``."""
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--stock", action="append", default=[], metavar="SYMBOL", help="a stock (repeatable)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="SYM:YYYYMMDD:STRIKE:C|P",
        help="an option, strike in thousandths: SPY:20250321:570000:C (repeatable)",
    )
    parser.add_argument(
        "--index", action="append", default=[], metavar="SYMBOL", help="an index (repeatable)"
    )
    parser.add_argument(
        "--req",
        default="TRADE,QUOTE",
        metavar="TYPES",
        help="comma-separated request types: TRADE, QUOTE, OHLC, OPEN_INTEREST (default "
        "TRADE,QUOTE; types a security does not support are skipped)",
    )
    parser.add_argument(
        "--count", type=int, default=None, metavar="N", help="exit after N data events"
    )
    parser.add_argument("--json", action="store_true", help="print §3.3 JSON, one event a line")
    parser.add_argument(
        "--summary-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between summaries on stderr (default 5; 0 turns them off)",
    )


def tail_subscriptions(args: argparse.Namespace) -> list[Subscription]:
    """The subscriptions the flags ask for; raises ``ValueError`` with a one-line reason."""
    contracts: list[Contract] = [Stock(s) for s in args.stock]
    contracts += [Option.parse(o) for o in args.option]
    contracts += [Index(s) for s in args.index]
    if not contracts:
        raise ValueError("give at least one --stock, --option or --index")
    req_types = [r.strip().upper() for r in args.req.split(",") if r.strip()]
    known = VALID_REQ_TYPES["OPTION"]
    for req in req_types:
        if req not in known:
            raise ValueError(f"--req: unknown request type {req!r} (expected {', '.join(known)})")
    if not req_types:
        raise ValueError("--req: give at least one request type")
    if args.count is not None and args.count < 1:
        raise ValueError(f"--count: expected a positive integer, got {args.count}")
    return [
        Subscription(req, c.sec_type, c)
        for c in contracts
        for req in req_types
        if req in VALID_REQ_TYPES[c.sec_type]
    ]


def _clock(ms_of_day: int) -> str:
    seconds, ms = divmod(ms_of_day, 1000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def format_event(event: Trade | Quote | Ohlc | OpenInterest) -> str:
    """One table row."""
    head = f"{event.date} {_clock(event.ms_of_day)}"
    if isinstance(event, Trade):
        return (
            f"{head}  TRADE  {event.contract!s:<24} {event.price:>12.4f} x {event.size:<7} "
            f"seq={event.sequence} ex={event.exchange} cond={event.condition}"
        )
    if isinstance(event, Quote):
        return (
            f"{head}  QUOTE  {event.contract!s:<24} {event.bid_size:>7} x {event.bid:<10.4f} "
            f"{event.ask:>10.4f} x {event.ask_size:<7}"
        )
    if isinstance(event, Ohlc):
        return (
            f"{head}  OHLC   {event.contract!s:<24} o={event.open:.4f} h={event.high:.4f} "
            f"l={event.low:.4f} c={event.close:.4f} v={event.volume} n={event.count}"
        )
    return f"{head}  OI     {event.contract!s:<24} {event.open_interest}"


def summary_line(feed: Feed, events: int, elapsed: float, since: int, interval: float) -> str:
    """The periodic stderr summary."""
    stats = feed.stats
    rate = since / interval if interval > 0 else 0.0
    return (
        f"[tail] {events} events ({rate:,.0f}/s, {events / max(elapsed, 1e-9):,.0f}/s avg)  "
        f"server sent={stats.server_sent} dropped={stats.server_dropped}  gaps={stats.gaps} "
        f"lost={stats.lost}  local_dropped={stats.local_dropped}  reconnects={stats.reconnects}"
    )


def _control_line(event: Event) -> str | None:
    if isinstance(event, Disconnected):
        return f"[tail] disconnected: {event.reason}; reconnecting"
    if isinstance(event, Reconnected):
        return (
            f"[tail] reconnected after {event.outage:.2f} s "
            f"({event.subscriptions} subscriptions re-sent)"
        )
    if isinstance(event, Gap):
        return f"[tail] gap: {event.count} events lost ({event.reason})"
    if isinstance(event, TakenOver):
        return f"[tail] taken over: {event.reason}; exiting"
    return None


async def _tail(args: argparse.Namespace, subscriptions: list[Subscription], out: TextIO) -> int:
    stop = stop_on_signals()
    feed = await open_feed(args.url, "python -m fastfeed tail")
    if feed is None:
        return 1
    status = 0
    try:
        for sub in subscriptions:
            await feed.subscribe(sub.req_type, sub.contract)
        start = last = time.monotonic()
        events = since = 0
        interval = args.summary_interval
        stopping = asyncio.ensure_future(stop.wait())
        # --json: the Rust encoder writes each batch's data events as §3.3 JSON Lines, in
        # arrival order, so the n-th data event of a batch is its n-th line.
        writer = BatchJsonWriter() if args.json else None
        while args.count is None or events < args.count:
            nxt = asyncio.ensure_future(feed.next_batch())
            done, _ = await asyncio.wait(
                {nxt, stopping},
                timeout=interval if interval > 0 else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            now = time.monotonic()
            if interval > 0 and now - last >= interval:
                print(summary_line(feed, events, now - start, since, now - last), file=sys.stderr)
                last, since = now, 0
            if nxt not in done:
                nxt.cancel()
                if stopping in done:
                    break
                continue
            batch = nxt.result()
            if batch is None:
                status = 0 if feed.ended else 1
                break
            lines = (
                line.decode()
                for line in (
                    writer.encode(batch, feed.contracts).splitlines()
                    if writer is not None and len(batch)
                    else ()
                )
            )
            for event in batch:
                if isinstance(event, Trade | Quote | Ohlc | OpenInterest):
                    if args.count is not None and events >= args.count:
                        break
                    out.write((next(lines) if writer is not None else format_event(event)) + "\n")
                    events += 1
                    since += 1
                elif not isinstance(event, Status):
                    control = _control_line(event)
                    if control is not None:
                        print(control, file=sys.stderr)
            out.flush()
        stopping.cancel()
        now = time.monotonic()
        print(
            summary_line(feed, events, now - start, since, max(now - last, 1e-9)), file=sys.stderr
        )
    except SubscriptionError as error:
        print(f"python -m fastfeed tail: server refused a subscription: {error}", file=sys.stderr)
        status = 1
    except FastfeedError as error:
        print(f"python -m fastfeed tail: {error}", file=sys.stderr)
        status = 1
    finally:
        await feed.close()
    return status


def run_tail(args: argparse.Namespace) -> int:
    """Runs ``tail``; returns the exit status (2 for bad flags, 1 for connection errors)."""
    import uvloop

    try:
        subscriptions = tail_subscriptions(args)
    except ValueError as error:
        print(f"python -m fastfeed tail: error: {error}", file=sys.stderr)
        return 2
    try:
        return uvloop.run(_tail(args, subscriptions, sys.stdout))
    except BrokenPipeError:
        return 0
