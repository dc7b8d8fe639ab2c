"""``python -m fastfeed tail``: a live view of a stream, as a table or JSON lines (SPEC §9).

Data goes to stdout: one line per event, at most 80 columns (``--json``: every event as §3.3
JSON). Everything else goes to stderr: a header (URL, subscriptions), notices (gaps,
reconnects, a subscription that went quiet) at most once a second per kind with a count of the
ones not shown, and a summary at the end. On a terminal the table is a live view: a status
line at the bottom (events, rates, gaps, drops), and at most ``--lines-per-second`` events
printed (sampled, the freshest first), while every event is counted. Piped, the table has
every event, no status line and no escape codes, and a summary goes to stderr every
``--summary-interval`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from fastfeed._console import (
    Console,
    LineBudget,
    QuietWatch,
    human,
    status_bar,
    terminal_width,
)
from fastfeed._core import typed_contract
from fastfeed._process import SignalStop, Stopped, open_feed, quiet_sdk_logging
from fastfeed.client import (
    Batch,
    Contract,
    Feed,
    Index,
    MarketEvent,
    Ohlc,
    OpenInterest,
    Option,
    Quote,
    Stock,
    Subscription,
    Trade,
)
from fastfeed.client.feed import check_url
from fastfeed.client.jsonl import BatchJsonWriter
from fastfeed.errors import FastfeedError, SubscriptionError
from fastfeed.events import EventKind

__all__ = [
    "VALID_REQ_TYPES",
    "add_tail_arguments",
    "format_event",
    "run_tail",
    "summary_line",
]

DEFAULT_URL = "ws://127.0.0.1:25520/v1/events"
PROGRAM: Final = "python -m fastfeed tail"

#: SPEC §3.1: the request types each security type supports (per contract).
VALID_REQ_TYPES = {
    "STOCK": ("QUOTE", "TRADE", "OHLC"),
    "OPTION": ("QUOTE", "TRADE", "OHLC", "OPEN_INTEREST"),
    "INDEX": ("TRADE", "OHLC"),
}
#: The event kind each request type delivers.
_KIND_OF: Final = {
    "TRADE": int(EventKind.TRADE),
    "QUOTE": int(EventKind.QUOTE),
    "OHLC": int(EventKind.OHLC),
    "OPEN_INTEREST": int(EventKind.OPEN_INTEREST),
}
_COLUMNS: Final = {
    int(EventKind.TRADE): "trades",
    int(EventKind.QUOTE): "quotes",
    int(EventKind.OHLC): "ohlc",
    int(EventKind.OPEN_INTEREST): "open_interest",
}
#: Width of a table line.
WIDTH: Final = 80
DEFAULT_LINES_PER_SECOND: Final = 50
DEFAULT_QUEUE_EVENTS: Final = 100_000
TICK_SECONDS: Final = 0.25


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
        "TRADE,QUOTE; types a security does not support are skipped). Only these types are "
        "printed: the OHLC bar a server sends after each trade shows with OHLC only",
    )
    parser.add_argument(
        "--count", type=int, default=None, metavar="N", help="print N events, then exit"
    )
    parser.add_argument(
        "--json", action="store_true", help="print every event as the server's JSON, one a line"
    )
    parser.add_argument(
        "--lines-per-second",
        type=float,
        default=None,
        metavar="N",
        help=f"table on a terminal: print at most N events a second, sampled (default "
        f"{DEFAULT_LINES_PER_SECOND}; piped: every event; 0: every event); all are counted",
    )
    parser.add_argument(
        "--quiet-after",
        type=float,
        default=5.0,
        metavar="S",
        help="warn once when a subscription delivered nothing for S seconds (default 5; 0: "
        "never); again only after it delivered",
    )
    parser.add_argument(
        "--queue-events",
        type=int,
        default=DEFAULT_QUEUE_EVENTS,
        metavar="N",
        help=f"events held between the socket and the screen (default {DEFAULT_QUEUE_EVENTS:,});"
        " beyond, the oldest are dropped and reported as gaps: a live view stays fresh",
    )
    parser.add_argument(
        "--summary-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="without a status line (stdout not a terminal, or --json): seconds between "
        "summaries on stderr (default 5; 0 turns them off)",
    )


def tail_subscriptions(args: argparse.Namespace) -> list[Subscription]:
    """The subscriptions the flags ask for; raises ``ValueError`` with a one-line reason."""
    # Typed by a person: contracts in any case.
    contracts: list[Contract] = [Stock(typed_contract(s)) for s in args.stock]
    contracts += [Option.parse(typed_contract(o)) for o in args.option]
    contracts += [Index(typed_contract(s)) for s in args.index]
    if not contracts:
        raise ValueError("give at least one --stock, --option or --index")
    try:
        check_url(args.url)
    except ValueError as error:
        raise ValueError(f"--{error}") from None  # the SDK's "url: …" is the flag --url
    req_types = _req_types(args)
    if args.count is not None and args.count < 1:
        raise ValueError(f"--count: expected a positive integer, got {args.count}")
    if args.lines_per_second is not None and args.lines_per_second < 0:
        raise ValueError(f"--lines-per-second: expected 0 or more, got {args.lines_per_second}")
    if args.queue_events < 1:
        raise ValueError(f"--queue-events: expected a positive integer, got {args.queue_events}")
    if args.quiet_after < 0:
        raise ValueError(f"--quiet-after: expected 0 or more seconds, got {args.quiet_after}")
    return [
        Subscription(req, c.sec_type, c)  # type: ignore[arg-type]
        for c in contracts
        for req in req_types
        if req in VALID_REQ_TYPES[c.sec_type]
    ]


def _req_types(args: argparse.Namespace) -> list[str]:
    req_types = [r.strip().upper() for r in args.req.split(",") if r.strip()]
    known = VALID_REQ_TYPES["OPTION"]
    for req in req_types:
        if req not in known:
            raise ValueError(f"--req: unknown request type {req!r} (expected {', '.join(known)})")
    if not req_types:
        raise ValueError("--req: give at least one request type")
    return req_types


# --- the table ------------------------------------------------------------------------------


def _clock(ms_of_day: int) -> str:
    seconds, ms = divmod(ms_of_day, 1000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _price(price: float) -> str:
    """At least 2 and at most 4 decimals: ``190.25``, ``4.10``, ``0.0525``."""
    text = f"{price:.4f}".rstrip("0")
    decimals = len(text) - text.index(".") - 1
    return text + "0" * max(0, 2 - decimals)


def _strike(thousandths: int) -> str:
    whole, frac = divmod(thousandths, 1000)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:03d}".rstrip("0")


def short_contract(contract: Contract) -> str:
    """``AAPL``; an option as ``SPY 250321 570C`` (expiry YYMMDD, strike in dollars)."""
    if isinstance(contract, Option):
        return (
            f"{contract.symbol} {contract.expiration % 1_000_000:06d} "
            f"{_strike(contract.strike)}{contract.right}"
        )
    return contract.symbol


def format_event(event: MarketEvent, width: int = WIDTH) -> str:
    """One table row of at most ``width`` columns: time, type, contract, then the fields
    (``--json`` has them all; the date is shown on stderr when it changes). A trade is
    ``price x size``, a quote ``b bid x size a ask x size``, an OHLC bar its close, high,
    low, volume and count."""
    head = f"{_clock(event.ms_of_day)} "
    contract = short_contract(event.contract)
    if isinstance(event, Trade):
        body = (
            f"TRADE {contract:<17} {_price(event.price):>9} x {event.size:<7} "
            f"ex {event.exchange:<2} c {event.condition:<3} #{event.sequence}"
        )
    elif isinstance(event, Quote):
        body = (
            f"QUOTE {contract:<17} b {_price(event.bid):>9} x {event.bid_size:<7} "
            f"a {_price(event.ask):>9} x {event.ask_size}"
        )
    elif isinstance(event, Ohlc):
        body = (
            f"OHLC  {contract:<17} c {_price(event.close)} h {_price(event.high)} "
            f"l {_price(event.low)} v {human(event.volume)} n {human(event.count)}"
        )
    else:
        body = f"OI    {contract:<17} {event.open_interest:>11,}"
    return (head + body)[:width]


def summary_line(
    feed: Feed, events: int, elapsed: float, since: int, interval: float, shown: int | None = None
) -> str:
    """The stderr summary (periodic when piped, and at the end): events of the requested
    types (and how many were printed, when not all), the rate over the last ``interval``
    seconds, gaps and the events lost (by the server's slow-consumer policy, by this client's
    queue)."""
    stats = feed.stats
    rate = since / interval if interval > 0 else 0.0
    printed = f", {shown:,} shown" if shown is not None and shown != events else ""
    reconnects = f", {stats.reconnects} reconnects" if stats.reconnects else ""
    return (
        f"[tail] {events:,} events, {human(rate)}/s{printed}; gaps {stats.gaps:,}, lost "
        f"{stats.lost:,} (server {stats.server_dropped:,}, local {stats.local_dropped:,})"
        f"{reconnects}"
    )


def _wrap(words: Sequence[str], width: int, indent: str) -> list[str]:
    lines: list[str] = []
    line = indent
    for word in words:
        if len(line) + len(word) + 1 > width and line.strip():
            lines.append(line)
            line = indent
        line += ("" if line == indent else " ") + word
    if line.strip():
        lines.append(line)
    return lines


def header(url: str, subscriptions: Sequence[Subscription], width: int = WIDTH) -> list[str]:
    """What ``tail`` shows first (stderr): the URL and the subscriptions."""
    first = f"[tail] {url}: {len(subscriptions)} subscription{'s' * (len(subscriptions) != 1)}"
    return [first, *_wrap([s.name for s in subscriptions], width, "[tail]   ")]


# --- reading batches ------------------------------------------------------------------------

_TYPES: Final[dict[int, Any]] = {
    int(EventKind.TRADE): Trade,
    int(EventKind.QUOTE): Quote,
    int(EventKind.OHLC): Ohlc,
    int(EventKind.OPEN_INTEREST): OpenInterest,
}
#: The column of each field after ``contract``, in the event's field order.
_FIELDS: Final = {
    kind: tuple(f.name for f in dataclasses.fields(cls)[1:]) for kind, cls in _TYPES.items()
}


def spread(count: int, wanted: int) -> npt.NDArray[np.int64]:
    """``wanted`` of ``count`` positions, spread evenly and always with the last (freshest)."""
    if wanted >= count:
        return np.arange(count, dtype=np.int64)
    if wanted <= 0:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.linspace(count - 1, 0, wanted).round().astype(np.int64))


def events_at(batch: Batch, positions: npt.NDArray[np.int64]) -> list[MarketEvent]:
    """The typed data events at ``positions`` of ``batch.kinds`` (arrival order)."""
    kinds = batch.kinds
    picked = kinds[positions]
    rows = np.zeros(len(positions), dtype=np.int64)
    for kind in np.unique(picked).tolist():
        # A row of a kind's columns is the count of that kind's messages before it.
        rows[picked == kind] = np.searchsorted(
            np.flatnonzero(kinds == kind), positions[picked == kind]
        )
    columns: dict[int, dict[str, list[Any]]] = {}
    events: list[MarketEvent] = []
    for kind, row in zip(picked.tolist(), rows.tolist(), strict=True):
        cols = columns.get(kind)
        if cols is None:
            raw = getattr(batch, _COLUMNS[kind])
            cols = columns[kind] = {
                name: raw[name].tolist() for name in ("contract_id", *_FIELDS[kind])
            }
        values = [cols[name][row] for name in _FIELDS[kind]]
        events.append(_TYPES[kind](batch.contract(cols["contract_id"][row]), *values))
    return events


class _Rates:
    """Events per second over the last second or so, from samples taken at each tick."""

    def __init__(self, now: float) -> None:
        self._samples: deque[tuple[float, int, int]] = deque([(now, 0, 0)], maxlen=5)

    def sample(self, now: float, received: int, shown: int) -> tuple[float, float]:
        then, received0, shown0 = self._samples[0]
        self._samples.append((now, received, shown))
        elapsed = max(now - then, 1e-9)
        return (received - received0) / elapsed, (shown - shown0) / elapsed


class _Tail:
    """One run of ``tail``: reads batches, prints, keeps the counters and the status line."""

    def __init__(
        self,
        args: argparse.Namespace,
        feed: Feed,
        subscriptions: Sequence[Subscription],
        out: TextIO,
        live: bool,
        now: float,
    ) -> None:
        self.args = args
        self.feed = feed
        self.out = out
        self.live = live
        self.kinds = sorted({_KIND_OF[s.req_type] for s in subscriptions})
        self.wanted = np.zeros(256, dtype=bool)  # by EventKind: np.isin costs ~0.2 ms a call
        self.wanted[self.kinds] = True
        self.width = min(WIDTH, terminal_width(out)) if live else WIDTH
        self.console = Console("tail", status_bar(out) if live else None)
        self.json = BatchJsonWriter() if args.json else None
        rate = args.lines_per_second
        if rate is None:
            rate = DEFAULT_LINES_PER_SECOND if live else 0
        unlimited = rate == 0 or args.json or args.count is not None
        self.budget = LineBudget(None if unlimited else rate, now)
        self.quiet: QuietWatch[tuple[int, Contract]] | None = (
            QuietWatch(
                [(_KIND_OF[s.req_type], s.contract) for s in subscriptions if s.contract],
                now,
                args.quiet_after,
            )
            if args.quiet_after > 0
            else None
        )
        self.names = {(_KIND_OF[s.req_type], s.contract): s.name for s in subscriptions}
        self.start = now
        self.received = 0  # data events of the requested types
        self.shown = 0
        self.date: int | None = None
        self.rates = _Rates(now)
        self.last_summary = now
        self.received_at_summary = 0

    @property
    def done(self) -> bool:
        return self.args.count is not None and self.shown >= self.args.count

    def batch(self, batch: Batch, now: float) -> None:
        for notice in batch.notices:
            self.console.control(notice, now)
        if not len(batch):
            return
        kinds = batch.kinds
        if self.quiet is not None:
            self._delivered(batch, now)
        positions = np.flatnonzero(self.wanted[kinds])
        matching = len(positions)
        if not matching:
            return
        self.received += matching
        wanted = matching
        if self.args.count is not None:
            wanted = min(wanted, self.args.count - self.shown)
        wanted = self.budget.take(wanted, now)
        if self.json is not None:
            lines = self.json.encode(batch, self.feed.contracts, self.kinds)
            if wanted < matching:
                lines = b"".join(lines.splitlines(keepends=True)[:wanted])
            self.shown += wanted
            self.console.above(self.out, lines)
            return
        picked = spread(matching, wanted) if wanted < matching else None
        if self.args.count is not None:  # the first ones, not a sample
            picked = np.arange(wanted, dtype=np.int64)
        events = events_at(batch, positions if picked is None else positions[picked])
        self.shown += len(events)
        date = events[-1].date if events else self.date
        if date != self.date:
            self.console.line(f"date {date}")
            self.date = date
        self.console.above(self.out, "".join(format_event(e, self.width) + "\n" for e in events))

    def _delivered(self, batch: Batch, now: float) -> None:
        assert self.quiet is not None
        counts = np.bincount(batch.kinds, minlength=len(EventKind))
        for kind in self.kinds:
            if counts[kind]:
                ids = getattr(batch, _COLUMNS[kind])["contract_id"]
                for contract_id in np.flatnonzero(np.bincount(ids)).tolist():
                    self.quiet.delivered((kind, batch.contract(contract_id)), now)

    def tick(self, now: float) -> None:
        """Every :data:`TICK_SECONDS`: notices due, quiet subscriptions, status or summary."""
        self.console.tick(now)
        if self.live:
            self.width = min(WIDTH, terminal_width(self.out))
        if self.quiet is not None:
            quiet = self.quiet.check(now)
            if quiet:
                names = ", ".join(self.names[key] for key in quiet[:3])
                if len(quiet) > 3:
                    names += f" and {len(quiet) - 3} more"
                self.console.notice(
                    "quiet", f"nothing for {self.quiet.after:g} s from {names}", now
                )
        received_rate, shown_rate = self.rates.sample(now, self.received, self.shown)
        bar = self.console.bar
        if bar is not None:
            bar.set_description_str(self.status(received_rate, shown_rate, now), refresh=True)
            return
        interval = self.args.summary_interval
        if interval > 0 and now - self.last_summary >= interval:
            self.summary(now)

    def status(self, received_rate: float, shown_rate: float, now: float) -> str:
        stats = self.feed.stats
        elapsed = int(now - self.start)
        shown = "" if self.budget.rate is None else f" | shown {shown_rate:.0f}/s"
        link = "" if stats.connected else "DISCONNECTED | "
        return (
            f"{link}{human(self.received)} ev {human(received_rate)}/s | gaps {stats.gaps:,} "
            f"lost {human(stats.lost)} (server {human(stats.server_dropped)}, local "
            f"{human(stats.local_dropped)}){shown} | {elapsed // 60:02d}:{elapsed % 60:02d}"
        )

    def summary(self, now: float) -> None:
        interval = max(now - self.last_summary, 1e-9)
        line = summary_line(
            self.feed,
            self.received,
            now - self.start,
            self.received - self.received_at_summary,
            interval,
            self.shown,
        )
        self.console.above(sys.stderr, line + "\n")
        self.last_summary = now
        self.received_at_summary = self.received

    def close(self, now: float) -> None:
        self.console.tick(now, final=True)
        self.console.close()
        self.out.flush()
        self.summary(now)


async def _subscribe(feed: Feed, subscriptions: Sequence[Subscription]) -> None:
    for sub in subscriptions:
        await feed.subscribe(sub.req_type, sub.contract)


async def _tail(args: argparse.Namespace, subscriptions: list[Subscription], out: TextIO) -> int:
    stop = SignalStop()
    try:
        feed = await stop.guard(open_feed(args.url, PROGRAM, max_queue_events=args.queue_events))
    except Stopped:
        return stop.exit_code
    if feed is None:
        return 1
    live = out.isatty() and not args.json
    view: _Tail | None = None
    status = 0
    try:
        await stop.guard(_subscribe(feed, subscriptions))
        for line in header(args.url, subscriptions):
            print(line, file=sys.stderr)
        view = _Tail(args, feed, subscriptions, out, live, time.monotonic())
        async with contextlib.aclosing(stop.batches(feed, TICK_SECONDS)) as batches:
            async for batch in batches:
                now = time.monotonic()
                if batch is None:
                    view.tick(now)
                else:
                    view.batch(batch, now)
                if view.done:
                    break
        if not stop.stopping and not view.done:
            status = 0 if feed.ended else 1
    except Stopped:
        pass
    except BrokenPipeError:
        # The reader went away (``| head``): not an error. Python would report the broken pipe
        # again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    except SubscriptionError as error:
        print(f"{PROGRAM}: server refused a subscription: {error}", file=sys.stderr)
        status = 1
    except FastfeedError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        status = 1
    finally:
        try:
            if view is not None:
                view.close(time.monotonic())
        finally:
            await feed.close()
    return stop.exit_code if stop.stopping else status


def run_tail(args: argparse.Namespace) -> int:
    """Runs ``tail``; returns the exit status (2 for bad flags, 1 for connection errors, 130
    after Ctrl-C, 143 after SIGTERM)."""
    from fastfeed._loop import run as run_loop

    try:
        subscriptions = tail_subscriptions(args)
    except ValueError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    quiet_sdk_logging()
    return run_loop(_tail(args, subscriptions, sys.stdout))
