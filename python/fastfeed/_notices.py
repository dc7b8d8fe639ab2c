"""Rate-limited notices: at most one line per interval for each kind, then a count of what
was not shown. Used wherever a peer or a file could otherwise flood a terminal or a log (the
``tail``/``record`` console, the server's log of client mistakes, sources' bad input)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

__all__ = ["CountReport", "NoticeLimiter", "RateLimitedLog"]


@dataclass(slots=True)
class _Kind:
    last_shown: float
    suppressed: int = 0
    lost: int = 0


class NoticeLimiter:
    """At most one line per ``interval`` seconds for each kind of notice (gap, reconnect, …).

    :meth:`offer` returns the line to print now, or ``None`` when it is suppressed (counted);
    :meth:`due` returns, once a kind's interval has passed, one line saying how many of that
    kind were not shown (and the events they report lost), which uses that interval's line.
    """

    def __init__(self, interval: float = 1.0) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self._kinds: dict[str, _Kind] = {}
        #: Notices not shown so far, over the limiter's life.
        self.suppressed = 0

    def offer(self, kind: str, text: str, now: float, lost: int = 0) -> str | None:
        """A notice of ``kind`` at ``now`` (``lost``: the events it reports lost)."""
        state = self._kinds.get(kind)
        if state is None or (now - state.last_shown >= self.interval and not state.suppressed):
            self._kinds[kind] = _Kind(now)
            return text
        state.suppressed += 1
        state.lost += lost
        self.suppressed += 1
        return None

    def due(self, now: float, *, final: bool = False) -> list[str]:
        """Lines for kinds whose suppressed notices are due (all of them when ``final``)."""
        lines = []
        for kind, state in self._kinds.items():
            if not state.suppressed:
                continue
            if not final and now - state.last_shown < self.interval:
                continue
            window = max(now - state.last_shown, 0.0)
            lost = f", {state.lost:,} events lost" if state.lost else ""
            lines.append(f"{kind}: {state.suppressed:,} more in the last {window:.1f} s{lost}")
            state.last_shown = now
            state.suppressed = 0
            state.lost = 0
        return lines


class CountReport:
    """A growing count (bad lines skipped, invalid objects) reported at most once per
    ``interval`` seconds: :meth:`due` says how many to report now, since the last report."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        #: The total at the last report.
        self.reported = 0
        self._at: float | None = None

    def due(self, total: int, now: float, *, force: bool = False) -> int:
        """How many of ``total`` to report at ``now`` (0: nothing, or not yet); ``force``
        reports what is left whatever the time (at the end)."""
        count = total - self.reported
        if count <= 0:
            return 0
        if not force and self._at is not None and now - self._at < self.interval:
            return 0
        self.reported = total
        self._at = now
        return count


class RateLimitedLog:
    """Counts occurrences of one kind of trouble and logs them (WARNING) at most once per
    ``interval`` seconds: how many since the last line, and the latest detail. ``message``
    takes ``(count, detail)``."""

    def __init__(self, logger: logging.Logger, message: str, interval: float = 10.0) -> None:
        self._logger = logger
        self._message = message
        self._report = CountReport(interval)
        #: Occurrences over the log's life.
        self.total = 0

    def add(self, count: int, detail: str = "") -> None:
        """Counts ``count`` more; logs if the last line is old enough."""
        self.total += count
        due = self._report.due(self.total, time.monotonic())
        if due:
            self._logger.warning(self._message, due, detail)
