"""What ``tail`` and ``record`` show a person: rate-limited notices, a status line at the bottom
of a terminal, a budget of printed events, and warnings for quiet subscriptions.

The decisions (:class:`NoticeLimiter`, :class:`LineBudget`, :class:`QuietWatch`) take the time
as an argument and print nothing; :class:`Console` does the writing. The status line is a
``tqdm`` bar, drawn only on a terminal: lines written through :meth:`Console.above` and
:meth:`Console.notice` appear above it, and it is redrawn under them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Hashable, Iterable
from typing import Generic, Never, TextIO, TypeVar

from tqdm import tqdm

from fastfeed._notices import NoticeLimiter
from fastfeed.client import Disconnected, Gap, Reconnected, TakenOver
from fastfeed.client.events import ControlEvent

__all__ = [
    "Console",
    "LineBudget",
    "QuietWatch",
    "counter_bar",
    "human",
    "status_bar",
    "terminal_width",
    "write_all",
]

# tqdm's default lock is a multiprocessing lock; one thread writes here, a thread lock will do.
tqdm.set_lock(threading.RLock())
# ... and its monitor thread only tunes ``miniters`` of bars updated from other threads.
tqdm.monitor_interval = 0


def human(value: float, unit: str = "") -> str:
    """``1234567`` → ``1.23M``: three significant digits with a k/M/G/T suffix."""
    for suffix in ("", "k", "M", "G", "T"):
        if abs(value) < 999.5 or suffix == "T":
            if suffix == "":
                return f"{value:.0f}{unit}"
            return f"{value:.3g}{suffix}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


class LineBudget:
    """A token bucket of printed lines: ``rate`` lines per second on average, at most
    ``burst`` at once; ``rate=None`` prints everything."""

    def __init__(self, rate: float | None, now: float, burst: float | None = None) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, (rate or 0) / 5)
        self._tokens = self.burst
        self._last = now

    def take(self, wanted: int, now: float) -> int:
        """How many of ``wanted`` lines may be printed at ``now``."""
        if self.rate is None:
            return wanted
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted


K = TypeVar("K", bound=Hashable)


class QuietWatch(Generic[K]):
    """Which subscriptions delivered nothing for ``after`` seconds: each is reported once,
    then again only after it delivered."""

    def __init__(self, keys: Iterable[K], now: float, after: float = 5.0) -> None:
        self.after = after
        self._last = dict.fromkeys(keys, now)
        self._reported: set[K] = set()

    def delivered(self, key: K, now: float) -> None:
        """``key`` delivered an event at ``now`` (keys not watched are ignored)."""
        if key in self._last:
            self._last[key] = now
            self._reported.discard(key)

    def check(self, now: float) -> list[K]:
        """Keys newly quiet at ``now``."""
        quiet = [
            key
            for key, last in self._last.items()
            if key not in self._reported and now - last >= self.after
        ]
        self._reported.update(quiet)
        return quiet


def terminal_width(file: TextIO, default: int = 80) -> int:
    """Columns of the terminal ``file`` (``default`` if it does not say: a fresh pty says 0)."""
    try:
        columns = os.get_terminal_size(file.fileno()).columns
    except (OSError, ValueError):
        return default
    return columns if columns > 0 else default


def status_bar(file: TextIO) -> tqdm[Never]:
    """A one-line status at the bottom of the terminal ``file``; its text is set with
    ``set_description_str`` (:meth:`Console.tick` follows the terminal's width)."""
    return tqdm(
        file=file,
        bar_format="{desc}",
        ncols=terminal_width(file),
        leave=False,
        mininterval=0,
        maxinterval=float("inf"),
    )


def counter_bar(file: TextIO, desc: str, unit: str) -> tqdm[Never]:
    """A counter without a total (``desc: 1.23M ev [00:05, 245k ev/s, …postfix]``)."""
    return tqdm(
        file=file,
        desc=desc,
        unit=unit,
        unit_scale=True,
        ncols=terminal_width(file),
        leave=False,
        mininterval=0.25,
        maxinterval=float("inf"),
        smoothing=0.3,
    )


def write_all(file: TextIO, data: str | bytes) -> None:
    """Writes all of ``data`` to ``file``'s descriptor. A buffered ``write`` may report
    success after writing only part of it when a signal interrupts a write blocked on a full
    pipe: the rest would be lost, and the output would end inside a line."""
    file.flush()
    view = memoryview(data.encode() if isinstance(data, str) else data)
    fd = file.fileno()
    while view:
        view = view[os.write(fd, view) :]


class Console:
    """The human side of a program: notices on stderr (``[tag] …``, rate-limited per kind)
    and, on a terminal, a status line (``bar``) kept at the bottom under everything written
    through :meth:`above`."""

    def __init__(self, tag: str, bar: tqdm[Never] | None, notice_interval: float = 1.0) -> None:
        self.tag = tag
        self.bar = bar
        self.limiter = NoticeLimiter(notice_interval)

    def above(self, file: TextIO, data: str | bytes) -> None:
        """Writes ``data`` (whole lines) to ``file``, above the status line."""
        if not data:
            return
        if self.bar is None:
            write_all(file, data)
            return
        with tqdm.external_write_mode(file=file):
            write_all(file, data)

    def line(self, text: str) -> None:
        """One ``[tag] text`` line on stderr, never suppressed."""
        self.above(sys.stderr, f"[{self.tag}] {text}\n")

    def notice(self, kind: str, text: str, now: float, lost: int = 0) -> None:
        """A ``[tag] kind: text`` line on stderr unless one of ``kind`` was shown in the last
        interval (then it is counted, and :meth:`tick` reports the count)."""
        shown = self.limiter.offer(kind, f"{kind}: {text}", now, lost)
        if shown is not None:
            self.line(shown)

    def control(self, event: ControlEvent, now: float) -> None:
        """Reports a feed's control event: gaps and reconnects as rate-limited notices."""
        if isinstance(event, Gap):
            self.notice("gap", f"{event.count:,} events lost ({event.reason})", now, event.count)
        elif isinstance(event, Disconnected):
            self.notice("disconnected", f"{event.reason}; reconnecting", now)
        elif isinstance(event, Reconnected):
            self.notice(
                "reconnected",
                f"after {event.outage:.2f} s ({event.subscriptions} subscriptions re-sent)",
                now,
            )
        elif isinstance(event, TakenOver):
            self.line(f"taken over by another client: {event.reason}; stopping")

    def tick(self, now: float, *, final: bool = False) -> None:
        """Prints what the limiter has due; follows the terminal's width."""
        for text in self.limiter.due(now, final=final):
            self.line(text)
        if self.bar is not None:
            self.bar.ncols = terminal_width(self.bar.fp)

    def close(self) -> None:
        """Removes the status line."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
