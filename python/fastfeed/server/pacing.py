"""When a replayed event is due (SPEC §5 ``--speed``): sans-I/O, time passed in.

Market time is the reader's: milliseconds on one monotonic axis (days * 86,400,000 +
``ms_of_day``). At ``--speed 1`` an event is due as long after the replay started as its market
time is after the first event's; ``--speed N`` divides the gaps by N; ``--speed max`` makes
every event due at once (the source then goes as fast as the slowest consumer reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Pacer", "parse_speed"]


def parse_speed(text: str) -> float | None:
    """``"max"`` → ``None``; a positive finite number → itself. Raises ``ValueError`` with
    the reason."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"expected a positive number or 'max', got {text!r}") from None
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"expected a positive number or 'max', got {text!r}")
    return speed


@dataclass(slots=True)
class Pacer:
    """Maps wall time to the market time up to which events are due.

    ``speed`` is the market-time-per-wall-time ratio, ``None`` for as fast as possible. The
    clock starts at the first :meth:`start`: the first event is due at once.
    """

    speed: float | None
    _wall_start: float | None = None
    _market_start: int = 0

    def start(self, now: float, first_market_ms: int) -> None:
        """Starts (or restarts, for ``--loop``) the clock: ``first_market_ms`` is due at
        ``now`` (seconds, any monotonic clock)."""
        self._wall_start = now
        self._market_start = first_market_ms

    @property
    def started(self) -> bool:
        return self._wall_start is not None

    def horizon(self, now: float) -> int | None:
        """The latest market time (ms) due at ``now``; ``None``: everything is due."""
        if self.speed is None:
            return None
        if self._wall_start is None:
            raise RuntimeError("Pacer.horizon() before start()")
        elapsed_ms = (now - self._wall_start) * 1000.0 * self.speed
        return self._market_start + math.floor(elapsed_ms + 1e-6)

    def due_at(self, market_ms: int) -> float:
        """The wall time (seconds, the clock of :meth:`start`) at which ``market_ms`` is due."""
        if self._wall_start is None:
            raise RuntimeError("Pacer.due_at() before start()")
        if self.speed is None:
            return self._wall_start
        return self._wall_start + (market_ms - self._market_start) / 1000.0 / self.speed
