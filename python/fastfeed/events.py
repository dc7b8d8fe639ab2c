"""Event codec types: columnar batches of SPEC §3.3 events and the encoder/decoder.

:class:`EventDecoder` turns received event frames into :class:`EventBatch` objects whose columns
are numpy arrays (moved out of Rust without copying; a column of a few rows is copied, which
costs less); :class:`EventEncoder` turns numpy columns into ready WebSocket frames. The
``TypedDict`` classes below name the columns of each type.
"""

from __future__ import annotations

import enum
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from fastfeed._core import EventBatch, EventDecoder, EventEncoder

__all__ = [
    "EventBatch",
    "EventDecoder",
    "EventEncoder",
    "EventKind",
    "OhlcColumns",
    "OpenInterestColumns",
    "QuoteColumns",
    "StatusColumns",
    "TradeColumns",
]


class EventKind(enum.IntEnum):
    """Values of :attr:`EventBatch.kinds`: what each received message was, in arrival order."""

    TRADE = 0
    QUOTE = 1
    OHLC = 2
    OPEN_INTEREST = 3
    STATUS = 4
    ACK = 5
    """An answer to a command: a ``REQ_RESPONSE`` or a ``/v1/stream`` reply (in
    :attr:`EventBatch.acks`)."""
    OTHER = 6
    """A message that is not a known event (raw bytes in :attr:`EventBatch.other`)."""
    ERROR = 7
    """A malformed event (its message in :attr:`EventBatch.errors`)."""
    CONTROL = 8
    """A WebSocket control frame (in :attr:`EventBatch.control`)."""


U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TradeColumns(TypedDict):
    """``TRADE`` rows. ``id`` is the header id (0 when absent)."""

    contract_id: U32
    id: U64
    ms_of_day: U32
    sequence: I64
    size: U32
    condition: U32
    price: F64
    exchange: U32
    date: U32


class QuoteColumns(TypedDict):
    """``QUOTE`` rows. ``id`` is the header id (0 when absent)."""

    contract_id: U32
    id: U64
    ms_of_day: U32
    bid_size: U32
    bid_exchange: U32
    bid: F64
    bid_condition: U32
    ask_size: U32
    ask_exchange: U32
    ask: F64
    ask_condition: U32
    date: U32


class OhlcColumns(TypedDict):
    """``OHLC`` rows (session-to-date bars). ``id`` is the header id (0 when absent)."""

    contract_id: U32
    id: U64
    ms_of_day: U32
    open: F64
    high: F64
    low: F64
    close: F64
    volume: U64
    count: U64
    date: U32


class OpenInterestColumns(TypedDict):
    """``OPEN_INTEREST`` rows. ``id`` is the header id (0 when absent)."""

    contract_id: U32
    id: U64
    ms_of_day: U32
    open_interest: U64
    date: U32


class StatusColumns(TypedDict):
    """``STATUS`` rows.

    ``sent``/``dropped`` are the server's counters (-1 when the heartbeat carried no ``stats``, as
    the original terminal's does); ``received`` is the number of data events this decoder decoded
    before the STATUS, over its lifetime, so ``received == sent`` proves nothing was lost.
    ``connected`` is 0 when the header said ``"status": "DISCONNECTED"`` (the server lost its
    own upstream), else 1; ``end_of_snapshot`` is 1 when it said
    ``"stream_status": "EndSnapshot"``.
    """

    sent: I64
    dropped: I64
    received: U64
    connected: U8
    end_of_snapshot: U8
