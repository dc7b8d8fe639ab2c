"""The built-in synthetic market (SPEC §5), the server's default source.

The market itself (prices, quotes, trades, open interest) is drawn in Rust
(``fastfeed_core::synthetic``); this module chooses what it trades, stamps it with the wall
clock in America/New_York and paces it: ``rate`` events per second on a 10 ms tick, or as fast
as the client reads (``rate=None``, ``--rate max``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from fastfeed import _core
from fastfeed._core import SyntheticMarket
from fastfeed.errors import ConfigError
from fastfeed.server.hub import Hub
from fastfeed.server.source import SourceCounts

__all__ = [
    "DEFAULT_INDEX",
    "DEFAULT_SYMBOLS",
    "MarketClock",
    "SyntheticSource",
    "SyntheticSpec",
    "chain_expirations",
    "new_york_clock",
    "next_expirations",
]

log = logging.getLogger("fastfeed.server")

NEW_YORK: Final = ZoneInfo("America/New_York")
DEFAULT_SYMBOLS: Final = ("SPY", "AAPL", "MSFT", "QQQ", "TSLA")
DEFAULT_INDEX: Final = "SPX"
#: Starting prices of well-known symbols; others get a stable price from their name.
_KNOWN_PRICES: Final = {
    "SPY": 570.0,
    "QQQ": 490.0,
    "AAPL": 190.0,
    "MSFT": 420.0,
    "TSLA": 250.0,
    "NVDA": 120.0,
    "AMZN": 180.0,
    "IWM": 210.0,
    "SPX": 5700.0,
    "NDX": 20000.0,
}
_TICK: Final = 0.01
#: Events drawn per call at ``--rate max``: about 70 KB of frames, half the transport high-water
#: mark, so the socket is refilled while the client still reads (larger batches stall it).
_MAX_BATCH: Final = 256

#: Returns ``(date YYYYMMDD, ms_of_day)`` now.
MarketClock = Callable[[], tuple[int, int]]


class _HourCache:
    """New York's date and ms of day at the start of the current UTC hour. Within one UTC hour
    neither changes but by elapsed time: New York's offset is whole hours and changes (as does
    its date) only on the hour."""

    start = 0.0
    end = 0.0
    date = 0
    ms = 0


_HOUR = _HourCache()


def new_york_time(epoch: float) -> tuple[int, int]:
    """``epoch`` (seconds since the Unix epoch) in America/New_York as ``(YYYYMMDD, ms since
    midnight)``. The time zone is looked up once per UTC hour (it is called once per batch)."""
    hour = _HOUR
    if not hour.start <= epoch < hour.end:
        start = epoch - epoch % 3600
        local = dt.datetime.fromtimestamp(start, NEW_YORK)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        hour.date = local.year * 10000 + local.month * 100 + local.day
        hour.ms = (local - midnight) // dt.timedelta(milliseconds=1)
        hour.start, hour.end = start, start + 3600
    return hour.date, hour.ms + int((epoch - hour.start) * 1000)


def new_york_clock() -> tuple[int, int]:
    """The wall clock in America/New_York as ``(YYYYMMDD, ms since midnight)``."""
    return new_york_time(time.time())


def next_expirations(today: dt.date, count: int) -> list[tuple[int, float]]:
    """The ``count`` Fridays after ``today`` as ``(YYYYMMDD, years to expiry)``."""
    days = (4 - today.weekday()) % 7 or 7
    first = today + dt.timedelta(days=days)
    fridays = [first + dt.timedelta(weeks=k) for k in range(count)]
    return [(d.year * 10000 + d.month * 100 + d.day, (d - today).days / 365.0) for d in fridays]


#: The option in the protocol's documentation (SPEC §3.1, the seed's "Try it"):
#: SPY 20250321 570000 C. A chain on SPY also lists this expiration, priced as if it were
#: :data:`DOCUMENTED_EXPIRATION_YEARS` away, so the documented commands run as printed.
DOCUMENTED_UNDERLYING = "SPY"
DOCUMENTED_EXPIRATION = 20250321
DOCUMENTED_EXPIRATION_YEARS = 30 / 365


def chain_expirations(underlying: str, today: dt.date, count: int) -> list[tuple[int, float]]:
    """The chain's expirations: the ``count`` next Fridays, and on SPY the documented one."""
    expirations = next_expirations(today, count)
    if underlying == DOCUMENTED_UNDERLYING:
        expirations.insert(0, (DOCUMENTED_EXPIRATION, DOCUMENTED_EXPIRATION_YEARS))
    return expirations


def starting_price(symbol: str) -> float:
    """A plausible starting price: known for common symbols, else stable per name (20 to 500)."""
    known = _KNOWN_PRICES.get(symbol)
    if known is not None:
        return known
    return 20.0 + zlib.crc32(symbol.encode()) % 48_000 / 100.0


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """What the synthetic market trades and how fast.

    ``symbols`` are stocks; the option chain (``expirations`` weekly expirations by
    ``strikes`` strikes, calls and puts) is on the first one. ``rate`` is events per second,
    ``None`` for as fast as the client reads.
    """

    seed: int = 0
    rate: float | None = 2000.0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    index: str | None = DEFAULT_INDEX
    expirations: int = 2
    strikes: int = 10

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ConfigError(f"rate must be positive or 'max', got {self.rate}")
        if not 0 <= self.seed < 2**64:
            raise ConfigError(f"seed must be 0 to 2^64-1, got {self.seed}")
        if not self.symbols and self.index is None:
            raise ConfigError("symbols: the market needs a stock or an index")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"symbols: listed twice: {', '.join(self.symbols)}")
        if self.expirations < 0 or not 1 <= self.strikes <= 200:
            raise ConfigError("expirations must be >= 0 and strikes 1-200")
        # The market checks symbols and prices itself: build one to validate (it is cheap).
        date, _ = new_york_clock()
        self.build(_core.Hub(_core.BarBook([1000], 1)), date)

    def describe(self) -> str:
        """One line for the log: what is traded, how fast, which seed."""
        parts = [",".join(self.symbols)] if self.symbols else []
        if self.index is not None:
            parts.append(f"index {self.index}")
        if self.symbols and self.expirations:
            parts.append(f"option chain on {self.symbols[0]}")
        rate = "max" if self.rate is None else f"{self.rate:g}"
        return f"synthetic market: {', '.join(parts)}; {rate} events/s, seed {self.seed}"

    def build(self, hub: _core.Hub, date: int) -> SyntheticMarket:
        """The market of this spec on ``date`` (YYYYMMDD), its contracts registered with
        ``hub`` and declared its universe. Raises :class:`~fastfeed.ConfigError` for a symbol
        the protocol cannot carry."""
        today = dt.date(date // 10000, date // 100 % 100, date % 100)
        chain = bool(self.symbols) and self.expirations > 0
        return SyntheticMarket(
            hub,
            seed=self.seed,
            stocks=[(s, starting_price(s)) for s in self.symbols],
            index=None if self.index is None else (self.index, starting_price(self.index)),
            chain_underlying=0 if chain else None,
            expirations=(
                chain_expirations(self.symbols[0], today, self.expirations) if chain else []
            ),
            strikes=self.strikes,
        )


class SyntheticSource:
    """Runs a :class:`SyntheticSpec` market into the server's egress.

    ``clock`` stamps the events (default: the wall clock in America/New_York); tests may pass
    a fixed one.
    """

    def __init__(self, spec: SyntheticSpec | None = None, clock: MarketClock = new_york_clock):
        self.spec = spec if spec is not None else SyntheticSpec()
        self._clock = clock
        #: Events drawn so far (sent to the client or not).
        self.drawn = 0

    def counts(self) -> SourceCounts:
        """For metrics: the kind only (the hub counts the events)."""
        return SourceCounts("synthetic")

    async def run(self, hub: Hub) -> None:
        date, last_ms = self._clock()
        market = self.spec.build(hub.core, date)
        log.info("%s", self.spec.describe())
        log.info("universe: %s", hub.core.universe)
        bars = hub.bars
        loop = asyncio.get_running_loop()
        rate = self.spec.rate
        started = loop.time()
        while True:
            if rate is None:
                await hub.wait_ready()
                await asyncio.sleep(0)  # let timers and commands run between batches
                n = _MAX_BATCH
            else:
                await asyncio.sleep(0.01)
                due = int((loop.time() - started) * rate) - self.drawn
                # After a stall (a suspended process), resume at the rate instead of bursting.
                if due > rate:
                    self.drawn += due - int(rate * 0.01)
                    due = int(rate * 0.01)
                n = max(due, 0)
            if n == 0:
                continue
            today, now_ms = self._clock()
            if today != date:
                date, last_ms = today, 0
            now_ms = max(now_ms, last_ms)  # a clock stepped back must not make trades late
            batch = market.draw(n, date, last_ms, now_ms)
            self.drawn += n
            last_ms = now_ms
            hub.publish(batch)
            bars.flush(date, now_ms)
