"""Events as SPEC §3.3 JSON (``tail --json``, ``record``) and stream names (``record``'s
subscriptions, the §4 spelling: ``stock.AAPL@trade``, ``option.SPY.20250321.570000.C@quote``,
``option@full_trades``)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fastfeed._core import EventEncoder
from fastfeed.client.batch import Batch
from fastfeed.client.contracts import Contract, Index, Option, Stock
from fastfeed.client.events import MarketEvent, Ohlc, OpenInterest, Quote, Trade
from fastfeed.client.feed import ReqType, Subscription
from fastfeed.events import EventKind

__all__ = ["BatchJsonWriter", "contract_json", "event_json", "parse_stream_name"]

_KINDS: Final = {
    "trade": "TRADE",
    "quote": "QUOTE",
    "ohlc": "OHLC",
    "open_interest": "OPEN_INTEREST",
    "full_trades": "FULL_TRADES",
    "full_open_interest": "FULL_OPEN_INTEREST",
}


def parse_stream_name(name: str) -> Subscription:
    """``stock.AAPL@trade`` → a :class:`~fastfeed.client.Subscription`; raises ``ValueError``
    with a one-line reason."""
    target, at, kind = name.partition("@")
    req_type = _KINDS.get(kind)
    if not at or req_type is None:
        raise ValueError(
            f"{name!r}: expected <sec>.<SYMBOL>[.<exp>.<strike>.<right>]@<kind> with kind in "
            f"{', '.join(_KINDS)}"
        )
    sec, dot, rest = target.partition(".")
    sec_type = sec.upper()
    if sec_type not in ("STOCK", "OPTION", "INDEX"):
        raise ValueError(f"{name!r}: sec must be stock, option or index, got {sec!r}")
    typed_req: ReqType = req_type  # type: ignore[assignment]
    if req_type.startswith("FULL_"):
        if dot:
            raise ValueError(f"{name!r}: a {kind} stream takes no contract ({sec}@{kind})")
        return Subscription(typed_req, sec_type, None)
    if not rest:
        raise ValueError(f"{name!r}: missing the contract after {sec}.")
    contract: Contract
    if sec_type == "OPTION":
        parts = rest.rsplit(".", 3)
        if len(parts) != 4:
            raise ValueError(f"{name!r}: expected option.<SYMBOL>.<exp>.<strike>.<right>@{kind}")
        contract = Option.parse(":".join(parts))
    elif sec_type == "INDEX":
        contract = Index(rest)
    else:
        contract = Stock(rest)
    return Subscription(typed_req, sec_type, contract)


def contract_json(contract: Contract) -> dict[str, Any]:
    """The ``contract`` object of an event (with ``security_type``)."""
    return {"security_type": contract.sec_type, **contract.to_json()}


def event_json(event: MarketEvent) -> dict[str, Any]:
    """The SPEC §3.3 JSON object of a market event."""
    header: dict[str, Any] = {"status": "CONNECTED"}
    body: dict[str, Any]
    if isinstance(event, Trade):
        header = {"type": "TRADE", **header}
        key = "trade"
        body = {
            "ms_of_day": event.ms_of_day,
            "sequence": event.sequence,
            "size": event.size,
            "condition": event.condition,
            "price": event.price,
            "exchange": event.exchange,
            "date": event.date,
        }
    elif isinstance(event, Quote):
        header = {"type": "QUOTE", **header}
        key = "quote"
        body = {
            "ms_of_day": event.ms_of_day,
            "bid_size": event.bid_size,
            "bid_exchange": event.bid_exchange,
            "bid": event.bid,
            "bid_condition": event.bid_condition,
            "ask_size": event.ask_size,
            "ask_exchange": event.ask_exchange,
            "ask": event.ask,
            "ask_condition": event.ask_condition,
            "date": event.date,
        }
    elif isinstance(event, Ohlc):
        header = {"type": "OHLC", **header}
        key = "ohlc"
        body = {
            "ms_of_day": event.ms_of_day,
            "open": event.open,
            "high": event.high,
            "low": event.low,
            "close": event.close,
            "volume": event.volume,
            "count": event.count,
            "date": event.date,
        }
    else:
        assert isinstance(event, OpenInterest)
        header = {"type": "OPEN_INTEREST", **header}
        key = "open_interest"
        body = {
            "ms_of_day": event.ms_of_day,
            "open_interest": event.open_interest,
            "date": event.date,
        }
    if event.id:
        header["id"] = event.id
    return {"header": header, "contract": contract_json(event.contract), key: body}


_DATA_KINDS: Final = (
    int(EventKind.TRADE),
    int(EventKind.QUOTE),
    int(EventKind.OHLC),
    int(EventKind.OPEN_INTEREST),
)


def _rows(columns: Any, lo: int, hi: int) -> dict[str, npt.NDArray[Any]]:
    return {name: values[lo:hi] for name, values in columns.items()}


class BatchJsonWriter:
    """Turns batches into JSON Lines (the replay format) with the Rust encoder: one encode
    call per run of same-type events, in arrival order."""

    def __init__(self) -> None:
        self._encoder = EventEncoder()

    def encode(self, batch: Batch, contracts: list[Contract]) -> bytes:
        """The batch's data events as compact §3.3 JSON, one per line (STATUS not included)."""
        if len(batch) == 0:
            return b""
        while self._encoder.contract_count < len(contracts):
            c = contracts[self._encoder.contract_count]
            if isinstance(c, Option):
                self._encoder.add_contract("OPTION", c.symbol, c.expiration, c.strike, c.right)
            else:
                self._encoder.add_contract(c.sec_type, c.symbol)
        kinds = batch.kinds
        data = kinds[np.isin(kinds, _DATA_KINDS)]
        boundaries = np.flatnonzero(np.diff(data)) + 1
        starts = [0, *boundaries.tolist()]
        ends = [*boundaries.tolist(), len(data)]
        offsets = dict.fromkeys(_DATA_KINDS, 0)
        out = []
        for start, end in zip(starts, ends, strict=True):
            kind = int(data[start])
            lo = offsets[kind]
            hi = lo + end - start
            offsets[kind] = hi
            out.append(self._encode_run(batch, kind, lo, hi))
        return b"".join(out)

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
                ids=t["id"] if t["id"].any() else None,
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
                ids=q["id"] if q["id"].any() else None,
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
                ids=o["id"] if o["id"].any() else None,
                framing="jsonl",
            )
        i = _rows(batch.open_interest, lo, hi)
        return enc.encode_open_interest(
            i["contract_id"],
            i["ms_of_day"],
            i["open_interest"],
            i["date"],
            ids=i["id"] if i["id"].any() else None,
            framing="jsonl",
        )
