"""Batches as SPEC §3.3 JSON Lines, encoded by the Rust ``EventEncoder`` (``tail --json``,
``record``), and stream names (``record``'s subscriptions, the §4 spelling:
``stock.AAPL@trade``, ``option.SPY.20250321.570000.C@quote``, ``option@full_trades``)."""

from __future__ import annotations

from collections.abc import Collection
from operator import itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fastfeed import _core
from fastfeed._core import EventEncoder
from fastfeed.client.batch import Batch
from fastfeed.client.contracts import Contract, Index, Option, Stock
from fastfeed.client.feed import Subscription
from fastfeed.events import EventKind

__all__ = ["BatchJsonWriter", "parse_stream_name"]


def parse_stream_name(name: str, *, typed: bool = False) -> Subscription:
    """``stock.AAPL@trade`` → a :class:`~fastfeed.client.Subscription`. The name is parsed
    by the Rust §4 grammar (:func:`fastfeed.parse_stream_name`; with ``typed``, as typed on a
    command line: the contract in any case); raises :class:`~fastfeed.StreamNameError` (a
    ``ValueError``) with a one-line reason."""
    spec = _core.parse_stream_name(name, typed=typed)
    contract: Contract | None
    if spec.symbol is None:
        contract = None
    elif spec.sec_type == "OPTION":
        assert spec.expiration is not None and spec.strike is not None and spec.right is not None
        contract = Option(spec.symbol, spec.expiration, spec.strike, spec.right)
    elif spec.sec_type == "INDEX":
        contract = Index(spec.symbol)
    else:
        contract = Stock(spec.symbol)
    return Subscription(spec.req_type, spec.sec_type, contract)


_DATA_KINDS: Final = (
    int(EventKind.TRADE),
    int(EventKind.QUOTE),
    int(EventKind.OHLC),
    int(EventKind.OPEN_INTEREST),
)


_ALL_KINDS: Final = frozenset(_DATA_KINDS)


def _rows(columns: Any, lo: int, hi: int) -> dict[str, npt.NDArray[Any]]:
    return {name: values[lo:hi] for name, values in columns.items()}


class BatchJsonWriter:
    """Turns batches into JSON Lines (the replay format) with the Rust encoder: one encode
    call per event type present, the lines then put back in arrival order.

    ``keep_ids`` keeps the header ``id`` of a ``--pace ack`` server's events (``tail --json``
    shows what was sent); a recording leaves them out (``record``): they number one
    connection's deliveries, not the market, and a replay numbers its own."""

    def __init__(self, *, keep_ids: bool = True) -> None:
        self._encoder = EventEncoder()
        self._keep_ids = keep_ids

    def encode(
        self,
        batch: Batch,
        contracts: list[Contract],
        kinds: Collection[int] = _ALL_KINDS,
    ) -> bytes:
        """The batch's data events as compact §3.3 JSON, one per line, in arrival order
        (STATUS not included); only the :class:`~fastfeed.EventKind` values in ``kinds``."""
        if len(batch) == 0:
            return b""
        while self._encoder.contract_count < len(contracts):
            c = contracts[self._encoder.contract_count]
            if isinstance(c, Option):
                self._encoder.add_contract("OPTION", c.symbol, c.expiration, c.strike, c.right)
            else:
                self._encoder.add_contract(c.sec_type, c.symbol)
        arrival = batch.kinds
        wanted = [k for k in _DATA_KINDS if k in kinds]
        mask = np.zeros(256, dtype=bool)  # by kind (np.isin costs ~0.2 ms a call)
        mask[wanted] = True
        data = arrival[mask[arrival]]
        counts = np.bincount(data, minlength=len(EventKind)).tolist()
        present = [k for k in wanted if counts[k]]
        if not present:
            return b""
        if len(present) == 1:
            return self._encode_run(batch, present[0], 0, len(data))
        # Lines grouped by kind (ascending), then each arrival position's line picked from them:
        # a stable sort by kind lists arrival positions in exactly that grouped order.
        grouped: list[bytes] = []
        for kind in present:
            grouped += self._encode_run(batch, kind, 0, counts[kind]).splitlines(keepends=True)
        order = np.argsort(data, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return b"".join(itemgetter(*position.tolist())(grouped))

    def _encode_run(self, batch: Batch, kind: int, lo: int, hi: int) -> bytes:
        enc = self._encoder
        if kind == EventKind.TRADE:
            t = _rows(batch.trades, lo, hi)
            return enc.encode_trades(
                t["contract_id"],
                t["ms_of_day"],
                t["sequence"],
                t["size"],
                t["condition"],
                t["price"],
                t["exchange"],
                t["date"],
                ids=t["id"] if self._keep_ids and t["id"].any() else None,
                framing="jsonl",
            )
        if kind == EventKind.QUOTE:
            q = _rows(batch.quotes, lo, hi)
            return enc.encode_quotes(
                q["contract_id"],
                q["ms_of_day"],
                q["bid_size"],
                q["bid_exchange"],
                q["bid"],
                q["bid_condition"],
                q["ask_size"],
                q["ask_exchange"],
                q["ask"],
                q["ask_condition"],
                q["date"],
                ids=q["id"] if self._keep_ids and q["id"].any() else None,
                framing="jsonl",
            )
        if kind == EventKind.OHLC:
            o = _rows(batch.ohlc, lo, hi)
            return enc.encode_ohlc(
                o["contract_id"],
                o["ms_of_day"],
                o["open"],
                o["high"],
                o["low"],
                o["close"],
                o["volume"],
                o["count"],
                o["date"],
                ids=o["id"] if self._keep_ids and o["id"].any() else None,
                framing="jsonl",
            )
        i = _rows(batch.open_interest, lo, hi)
        return enc.encode_open_interest(
            i["contract_id"],
            i["ms_of_day"],
            i["open_interest"],
            i["date"],
            ids=i["id"] if self._keep_ids and i["id"].any() else None,
            framing="jsonl",
        )
