"""Columnar batches a :class:`~fastfeed.Feed` hands out (``await feed.next_batch()``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fastfeed._core import EventBatch as _EventBatch
from fastfeed._core import EventDecoder as _EventDecoder
from fastfeed.client.contracts import Contract
from fastfeed.client.events import (
    ControlEvent,
    Event,
    Gap,
    Ohlc,
    OpenInterest,
    Quote,
    Status,
    StatusNotice,
    Trade,
)
from fastfeed.events import (
    EventKind,
    OhlcColumns,
    OpenInterestColumns,
    QuoteColumns,
    StatusColumns,
    TradeColumns,
)

__all__ = ["Batch"]

_TRADE: Final = int(EventKind.TRADE)
_QUOTE: Final = int(EventKind.QUOTE)
_OHLC: Final = int(EventKind.OHLC)
_OI: Final = int(EventKind.OPEN_INTEREST)
_STATUS: Final = int(EventKind.STATUS)


def columns_dict(columns: Any) -> dict[str, npt.NDArray[Any]]:
    """A mutable copy of a batch's column mapping (internal)."""
    return dict(columns)


def _empty_columns() -> dict[str, dict[str, npt.NDArray[Any]]]:
    empty = _EventDecoder().feed(b"")
    return {
        "trades": columns_dict(empty.trades),
        "quotes": columns_dict(empty.quotes),
        "ohlc": columns_dict(empty.ohlc),
        "open_interest": columns_dict(empty.open_interest),
        "status": columns_dict(empty.status),
    }


_EMPTY: Final = _empty_columns()
_EMPTY_KINDS: Final = np.empty(0, dtype=np.uint8)
#: A batch without STATUS notices (never changed).
_NO_NOTICES: Final[list[tuple[int, StatusNotice]]] = []


class Batch:
    """What arrived in one socket read (or an SDK notice), as numpy columns.

    ``trades``, ``quotes``, ``ohlc``, ``open_interest`` and ``status`` are dicts of numpy
    columns (see :mod:`fastfeed.events` for their names and dtypes). ``contract_id`` values are
    the feed's own ids, stable across reconnects: :meth:`contract` maps one back to its
    :class:`~fastfeed.Stock`/:class:`~fastfeed.Option`/:class:`~fastfeed.Index`. ``kinds`` is
    the arrival order of every message (:class:`~fastfeed.EventKind`), including acks.

    ``notices`` are SDK control events (:class:`~fastfeed.Disconnected`,
    :class:`~fastfeed.Reconnected`, :class:`~fastfeed.Gap`, :class:`~fastfeed.TakenOver`,
    :class:`~fastfeed.EndOfStream`, :class:`~fastfeed.UpstreamDown`,
    :class:`~fastfeed.UpstreamUp`, :class:`~fastfeed.EndOfSnapshot`) that belong at this point
    of the stream; a batch may hold only notices. ``len(batch)`` is the number of data events
    (TRADE, QUOTE, OHLC, OPEN_INTEREST).

    The arrays are the batch's own (moved out of Rust, or copied when they hold a few rows);
    they stay valid after the next batch.
    """

    __slots__ = (
        "_cache",
        "_counts",
        "_raw",
        "_registry",
        "_status_notices",
        "events_count",
        "notices",
    )

    def __init__(
        self,
        raw: _EventBatch | None,
        counts: Sequence[int],
        registry: Sequence[Contract],
        notices: list[ControlEvent] | None = None,
        status_notices: list[tuple[int, StatusNotice]] | None = None,
    ) -> None:
        self._raw = raw
        self._counts = counts
        self._registry = registry
        self._cache: dict[str, dict[str, npt.NDArray[Any]]] = {}
        self._status_notices = status_notices if status_notices is not None else _NO_NOTICES
        self.notices: list[ControlEvent] = notices if notices is not None else []
        self.events_count = counts[_TRADE] + counts[_QUOTE] + counts[_OHLC] + counts[_OI]

    def __len__(self) -> int:
        return self.events_count

    def __repr__(self) -> str:
        return (
            f"Batch(trades={self._counts[_TRADE]}, quotes={self._counts[_QUOTE]}, "
            f"ohlc={self._counts[_OHLC]}, open_interest={self._counts[_OI]}, "
            f"status={self._counts[_STATUS]}, notices={len(self.notices)})"
        )

    def _columns(self, name: str, kind: int) -> dict[str, npt.NDArray[Any]]:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if self._raw is None or self._counts[kind] == 0:
            columns = dict(_EMPTY[name])
        else:
            # The decoder built this dict for this batch alone (it keeps no other use of it).
            columns = getattr(self._raw, name)
        self._cache[name] = columns
        return columns

    @property
    def trades(self) -> TradeColumns:
        """TRADE columns."""
        return self._columns("trades", _TRADE)  # type: ignore[return-value]

    @property
    def quotes(self) -> QuoteColumns:
        """QUOTE columns."""
        return self._columns("quotes", _QUOTE)  # type: ignore[return-value]

    @property
    def ohlc(self) -> OhlcColumns:
        """OHLC columns (session-to-date bars sent by the server)."""
        return self._columns("ohlc", _OHLC)  # type: ignore[return-value]

    @property
    def open_interest(self) -> OpenInterestColumns:
        """OPEN_INTEREST columns."""
        return self._columns("open_interest", _OI)  # type: ignore[return-value]

    @property
    def status(self) -> StatusColumns:
        """STATUS rows (``received`` counts this connection's data events before each)."""
        return self._columns("status", _STATUS)  # type: ignore[return-value]

    @property
    def kinds(self) -> npt.NDArray[np.uint8]:
        """Every message's :class:`~fastfeed.EventKind`, in arrival order."""
        if self._raw is None:
            return _EMPTY_KINDS
        return self._raw.kinds

    @property
    def gaps(self) -> list[Gap]:
        """The :class:`~fastfeed.Gap` notices of this batch."""
        return [n for n in self.notices if isinstance(n, Gap)]

    def contract(self, contract_id: int) -> Contract:
        """The contract of a ``contract_id`` column value."""
        return self._registry[contract_id]

    def event_ids(self) -> list[int]:
        """Header ids of the data events (``--pace ack`` servers), in arrival order."""
        if self.events_count == 0:
            return []
        parts = [
            columns["id"]
            for name, kind in (
                ("trades", _TRADE),
                ("quotes", _QUOTE),
                ("ohlc", _OHLC),
                ("open_interest", _OI),
            )
            if self._counts[kind]
            for columns in (self._columns(name, kind),)
        ]
        ids = np.concatenate(parts) if len(parts) > 1 else parts[0]
        ids = ids[ids != 0]
        ids.sort()  # ids increase in arrival order on a connection
        return [int(i) for i in ids.tolist()]

    def __iter__(self) -> Iterator[Event]:
        """Typed events in arrival order; a Gap follows the STATUS that revealed it and other
        notices come last (a notice-only batch yields just its notices)."""
        return iter(self.to_events())

    def to_events(self) -> list[Event]:
        """The batch as typed events (see :meth:`__iter__`)."""
        out: list[Event] = []
        if self._raw is not None and (self.events_count or self._counts[_STATUS]):
            registry = self._registry
            rows: dict[int, Iterator[Event]] = {}
            if self._counts[_TRADE]:
                t = self.trades
                rows[_TRADE] = (
                    Trade(registry[c], *rest)
                    for c, *rest in zip(
                        t["contract_id"].tolist(),
                        t["ms_of_day"].tolist(),
                        t["sequence"].tolist(),
                        t["size"].tolist(),
                        t["condition"].tolist(),
                        t["price"].tolist(),
                        t["exchange"].tolist(),
                        t["date"].tolist(),
                        t["id"].tolist(),
                        strict=True,
                    )
                )
            if self._counts[_QUOTE]:
                q = self.quotes
                rows[_QUOTE] = (
                    Quote(registry[c], *rest)
                    for c, *rest in zip(
                        q["contract_id"].tolist(),
                        q["ms_of_day"].tolist(),
                        q["bid_size"].tolist(),
                        q["bid_exchange"].tolist(),
                        q["bid"].tolist(),
                        q["bid_condition"].tolist(),
                        q["ask_size"].tolist(),
                        q["ask_exchange"].tolist(),
                        q["ask"].tolist(),
                        q["ask_condition"].tolist(),
                        q["date"].tolist(),
                        q["id"].tolist(),
                        strict=True,
                    )
                )
            if self._counts[_OHLC]:
                o = self.ohlc
                rows[_OHLC] = (
                    Ohlc(registry[c], *rest)
                    for c, *rest in zip(
                        o["contract_id"].tolist(),
                        o["ms_of_day"].tolist(),
                        o["open"].tolist(),
                        o["high"].tolist(),
                        o["low"].tolist(),
                        o["close"].tolist(),
                        o["volume"].tolist(),
                        o["count"].tolist(),
                        o["date"].tolist(),
                        o["id"].tolist(),
                        strict=True,
                    )
                )
            if self._counts[_OI]:
                i = self.open_interest
                rows[_OI] = (
                    OpenInterest(registry[c], *rest)
                    for c, *rest in zip(
                        i["contract_id"].tolist(),
                        i["ms_of_day"].tolist(),
                        i["open_interest"].tolist(),
                        i["date"].tolist(),
                        i["id"].tolist(),
                        strict=True,
                    )
                )
            if self._counts[_STATUS]:
                s = self.status
                rows[_STATUS] = (
                    Status(*r)
                    for r in zip(
                        s["sent"].tolist(),
                        s["dropped"].tolist(),
                        s["received"].tolist(),
                        strict=True,
                    )
                )
            after_status: dict[int, list[StatusNotice]] = {}
            for row, notice in self._status_notices:
                after_status.setdefault(row, []).append(notice)
            status_row = 0
            for kind in self.kinds.tolist():
                source = rows.get(kind)
                if source is None:
                    continue
                out.append(next(source))
                if kind == _STATUS:
                    out.extend(after_status.get(status_row, ()))
                    status_row += 1
        placed = {id(n) for _, n in self._status_notices} if self._raw is not None else set()
        out.extend(n for n in self.notices if id(n) not in placed)
        return out
