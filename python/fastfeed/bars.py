"""OHLC bars from trades (SPEC §6): streaming rings viewed in place by numpy, and a batch API.

* :class:`BarBook` keeps, per contract, the session bar (OHLCVC, the server's OHLC events) and,
  per interval, the open bar plus a fixed-capacity ring of closed bars. Trades go in as numpy
  columns, one call per batch; the Rust core does the per-trade work.
* :func:`aggregate_trades` turns trade columns into bar columns for backtests and research.

Rules shared by both paths (so they agree bar for bar):

* A bar is ``[start_ms, start_ms + interval_ms)`` of one ``date``. Empty intervals make no bar.
* Per contract, trades are ordered by ``(date, ms_of_day)``, ties by arrival (input) order; that
  order picks ``open`` and ``close`` among equal timestamps. The batch path sorts stably by
  ``(group, date, ms_of_day)``; the streaming path, fed the same trades in time order, matches.
* ``vwap = sum(price * size) / sum(size)``; zero-size trades count and move the prices but carry
  no weight; a bar with zero volume has ``vwap = nan``.
* Streaming only: a trade for a bucket that is already closed (behind the open bar, or closed by
  :meth:`BarBook.flush`) is late: counted in :attr:`BarBook.late_trades`, not applied.

Ring views: :meth:`BarBook.ring` returns a read-only structured array (:data:`BAR_DTYPE`) that
points into the ring's storage, oldest → newest, without copying. The storage is mirrored (each
bar is stored twice, ``capacity`` slots apart) so the window is one contiguous view even after
the ring wraps: always one view, never two, never a copy. The view is *live*: it stays valid
(the memory is kept alive by the view and never moves), but once later updates wrap the ring
its rows are overwritten in place. Call ``.copy()`` to keep a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from fastfeed import _core
from fastfeed.errors import BarsError

__all__ = [
    "BAR_DTYPE",
    "DEFAULT_BAR_CAPACITY",
    "DEFAULT_BAR_INTERVALS_MS",
    "BarBook",
    "SessionBar",
    "aggregate_trades",
    "parse_interval",
]

#: One bar as stored in a ring: mirrors the Rust ``#[repr(C)] Bar`` (64 bytes, native order).
BAR_DTYPE: Final = np.dtype(
    {
        "names": ["date", "start_ms", "open", "high", "low", "close", "volume", "count", "vwap"],
        "formats": ["=i4", "=i4", "=f8", "=f8", "=f8", "=f8", "=i8", "=i8", "=f8"],
        "offsets": [offset for _, offset in _core.BAR_FIELD_OFFSETS],
        "itemsize": _core.BAR_ITEMSIZE,
    }
)

DEFAULT_BAR_INTERVALS_MS: Final = (1000, 60_000)
DEFAULT_BAR_CAPACITY: Final = 4096

_INTERVAL_UNITS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def parse_interval(text: str) -> int:
    """A bar interval such as ``"500ms"``, ``"1s"``, ``"5m"`` or ``"1h"`` in milliseconds.

    Raises :class:`~fastfeed.BarsError` for anything else, or for an interval outside
    1 ms to 24 h.
    """
    spelled = text.strip().lower()
    number = spelled.rstrip("hms")
    unit = spelled[len(number) :]
    if not number.isdigit() or unit not in _INTERVAL_UNITS:
        raise BarsError(
            f"bar interval: expected a number and ms, s, m or h (like 1s), got {text!r}"
        )
    ms = int(number) * _INTERVAL_UNITS[unit]
    if not 1 <= ms <= 86_400_000:
        raise BarsError(f"bar interval: must be 1ms to 24h, got {text!r}")
    return ms


_EMPTY_RING = np.empty(0, dtype=BAR_DTYPE)
_EMPTY_RING.flags.writeable = False


@dataclass(frozen=True, slots=True)
class SessionBar:
    """A contract's session-to-date bar: the fields of an OHLC event (SPEC §3.3).

    ``ms_of_day`` is the time of the latest trade of the session.
    """

    date: int
    ms_of_day: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    count: int


def _column(name: str, values: Any, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``values`` as a C-contiguous 1-D array of ``dtype``; integers of other widths are cast
    after a range check, floats only into a float column."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise BarsError(f"{name} must be 1-D, got {array.ndim}-D")
    if array.dtype == dtype:
        return np.ascontiguousarray(array)
    if array.size == 0:  # ``[]`` is float64 to numpy; an empty column has no values to check
        return np.empty(0, dtype=dtype)
    kind = array.dtype.kind
    if dtype.kind == "f":
        if kind not in "fiu":
            raise BarsError(f"{name} must be numeric, got dtype {array.dtype}")
        return np.ascontiguousarray(array, dtype=dtype)
    if kind not in "iu":
        raise BarsError(f"{name} must be an integer array, got dtype {array.dtype}")
    info = np.iinfo(dtype)
    low, high = int(array.min()), int(array.max())
    if low < info.min or high > info.max:
        raise BarsError(f"{name} values must fit {dtype.name}, got range [{low}, {high}]")
    return np.ascontiguousarray(array, dtype=dtype)


_I32: Final = np.dtype(np.int32)
_U32: Final = np.dtype(np.uint32)
_I64: Final = np.dtype(np.int64)
_F64: Final = np.dtype(np.float64)


def _trade_columns(
    date: Any, ms_of_day: Any, price: Any, size: Any
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    return (
        _column("date", date, _I32),
        _column("ms_of_day", ms_of_day, _I32),
        _column("price", price, _F64),
        _column("size", size, _I64),
    )


def aggregate_trades(
    date: npt.ArrayLike,
    ms_of_day: npt.ArrayLike,
    price: npt.ArrayLike,
    size: npt.ArrayLike,
    interval_ms: int,
    group: npt.ArrayLike | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Aggregate trade columns into bars of ``interval_ms``.

    ``group`` (an integer per trade, e.g. a contract id) splits the trades into series; ``None``
    makes one series. Input may be in any order: it is aggregated as if stably sorted by
    ``(group, date, ms_of_day)``. When each group's trades are already in time order (the usual
    tape) no sort happens. Runs without the GIL.

    Returns columns ``group`` (only when given; int64), ``date``, ``start_ms`` (int32), ``open``,
    ``high``, ``low``, ``close`` (float64), ``volume``, ``count`` (int64) and ``vwap`` (float64):
    one row per non-empty ``(group, date, bucket)``, sorted by group, then time.

    Raises :class:`~fastfeed.BarsError` for columns of unequal length, non-integer times or sizes,
    negative times or sizes, non-finite prices, or ``interval_ms`` outside ``1..=86_400_000``.
    """
    columns = _trade_columns(date, ms_of_day, price, size)
    groups = None if group is None else _column("group", group, _I64)
    return _core.aggregate_trades(*columns, int(interval_ms), groups)


class BarBook:
    """Streaming session and interval bars for many contracts.

    ``contract_id`` values are small dense integers (interned by the event decoder), at most
    ``fastfeed._core.MAX_CONTRACT_ID``. Each traded contract gets, per interval, a ring of
    ``capacity`` closed bars reserved once (``2 * capacity * 64`` bytes of address space, touched
    as bars are written) and never reallocated.

    Time is always passed in: bars close when a later trade arrives or on :meth:`flush`.
    """

    __slots__ = ("_book",)

    def __init__(
        self,
        intervals_ms: Iterable[int] = DEFAULT_BAR_INTERVALS_MS,
        capacity: int = DEFAULT_BAR_CAPACITY,
    ) -> None:
        self._book = _core.BarBook([int(ms) for ms in intervals_ms], int(capacity))

    @property
    def intervals_ms(self) -> tuple[int, ...]:
        """The configured bar intervals."""
        return tuple(self._book.intervals_ms)

    @property
    def capacity(self) -> int:
        """Bars per ring."""
        return self._book.capacity

    @property
    def contracts(self) -> list[int]:
        """Contract ids that have traded, in first-trade order."""
        return self._book.contracts

    @property
    def late_trades(self) -> dict[int, int]:
        """Trades not applied because their bucket was already closed, per interval."""
        return dict(zip(self._book.intervals_ms, self._book.late_trades, strict=True))

    def update(
        self,
        contract_id: npt.ArrayLike,
        date: npt.ArrayLike,
        ms_of_day: npt.ArrayLike,
        price: npt.ArrayLike,
        size: npt.ArrayLike,
    ) -> None:
        """Apply a batch of trades in row order (all rows are validated first; on
        :class:`~fastfeed.BarsError` nothing is applied)."""
        ids = _column("contract_id", contract_id, _U32)
        self._book.update(ids, *_trade_columns(date, ms_of_day, price, size))

    def update_with_session(
        self,
        contract_id: npt.ArrayLike,
        date: npt.ArrayLike,
        ms_of_day: npt.ArrayLike,
        price: npt.ArrayLike,
        size: npt.ArrayLike,
    ) -> dict[str, npt.NDArray[Any]]:
        """:meth:`update`, returning each row's contract session bar right after that row as
        columns ``date``, ``ms_of_day``, ``open``, ``high``, ``low``, ``close``, ``volume``,
        ``count`` (for encoding OHLC events without Python per trade)."""
        ids = _column("contract_id", contract_id, _U32)
        return self._book.update_with_session(ids, *_trade_columns(date, ms_of_day, price, size))

    def flush(self, date: int, ms_of_day: int) -> int:
        """Close every open bar whose end is at or before ``(date, ms_of_day)``; return how many
        closed. Afterwards a trade for a flushed bucket is late."""
        return self._book.flush(int(date), int(ms_of_day))

    def ring(self, contract_id: int, interval_ms: int) -> npt.NDArray[np.void]:
        """The closed bars of a contract, oldest → newest: a read-only live view, no copy."""
        buffer = self._book.ring(int(contract_id), int(interval_ms))
        if len(buffer) == 0:
            return _EMPTY_RING
        # The buffer protocol is implemented in Rust (no ``__buffer__`` to declare on 3.11).
        return np.frombuffer(cast(Any, buffer), dtype=BAR_DTYPE)

    def closed_count(self, contract_id: int, interval_ms: int) -> int:
        """Bars ever closed into the ring, including any overwritten since (a cursor for new
        bars: the newest ``closed_count - previous`` rows of :meth:`ring` are new)."""
        return self._book.closed_count(int(contract_id), int(interval_ms))

    def open_bar(self, contract_id: int, interval_ms: int) -> np.void | None:
        """The bar still open (a :data:`BAR_DTYPE` record, vwap so far), or ``None``."""
        bar = self._book.open_bar(int(contract_id), int(interval_ms))
        if bar is None:
            return None
        record: np.void = np.array([bar], dtype=BAR_DTYPE)[0]
        return record

    def session(self, contract_id: int) -> SessionBar | None:
        """The contract's session-to-date bar, or ``None`` before its first trade."""
        state = self._book.session(int(contract_id))
        return None if state is None else SessionBar(*state)
