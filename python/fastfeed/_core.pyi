"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------

# --- envelope: commands and acknowledgements -------------------------------------------------

# --- event: event codec and columnar batches -------------------------------------------------

from typing import Literal as _Literal

import numpy as _np
import numpy.typing as _npt

from fastfeed.events import (
    OhlcColumns as _OhlcColumns,
)
from fastfeed.events import (
    OpenInterestColumns as _OpenInterestColumns,
)
from fastfeed.events import (
    QuoteColumns as _QuoteColumns,
)
from fastfeed.events import (
    StatusColumns as _StatusColumns,
)
from fastfeed.events import (
    TradeColumns as _TradeColumns,
)

_ContractTuple = tuple[str, str, int | None, int | None, str | None]
_Column = _npt.ArrayLike
_Framing = _Literal["websocket", "jsonl"]

class EventEncoder:
    """Encodes events from numpy columns into ready server frames, many per ``bytes``."""

    def __init__(self) -> None: ...
    def add_contract(
        self,
        sec_type: str,
        symbol: str,
        expiration: int | None = None,
        strike: int | None = None,
        right: str | None = None,
    ) -> int: ...
    def contract(self, contract_id: int) -> _ContractTuple: ...
    @property
    def contract_count(self) -> int: ...
    def encode_trades(
        self,
        contract_id: _Column,
        ms_of_day: _Column,
        sequence: _Column,
        size: _Column,
        condition: _Column,
        price: _Column,
        exchange: _Column,
        date: _Column,
        *,
        ids: _Column | None = None,
        pseqs: _Column | None = None,
        framing: _Framing = "websocket",
    ) -> bytes: ...
    def encode_quotes(
        self,
        contract_id: _Column,
        ms_of_day: _Column,
        bid_size: _Column,
        bid_exchange: _Column,
        bid: _Column,
        bid_condition: _Column,
        ask_size: _Column,
        ask_exchange: _Column,
        ask: _Column,
        ask_condition: _Column,
        date: _Column,
        *,
        ids: _Column | None = None,
        pseqs: _Column | None = None,
        framing: _Framing = "websocket",
    ) -> bytes: ...
    def encode_ohlc(
        self,
        contract_id: _Column,
        ms_of_day: _Column,
        open: _Column,
        high: _Column,
        low: _Column,
        close: _Column,
        volume: _Column,
        count: _Column,
        date: _Column,
        *,
        ids: _Column | None = None,
        pseqs: _Column | None = None,
        framing: _Framing = "websocket",
    ) -> bytes: ...
    def encode_open_interest(
        self,
        contract_id: _Column,
        ms_of_day: _Column,
        open_interest: _Column,
        date: _Column,
        *,
        ids: _Column | None = None,
        pseqs: _Column | None = None,
        framing: _Framing = "websocket",
    ) -> bytes: ...
    def encode_status(
        self,
        sent: int,
        dropped: int,
        *,
        id: int | None = None,
        pseq: int | None = None,
        framing: _Framing = "websocket",
    ) -> bytes: ...

class EventDecoder:
    """Decodes event frames into :class:`EventBatch` objects."""

    def __init__(self) -> None: ...
    def push_payload(self, payload: bytes) -> None: ...
    def take_batch(self) -> EventBatch: ...
    @property
    def received(self) -> int: ...
    @property
    def contracts(self) -> list[_ContractTuple]: ...
    def contract(self, contract_id: int) -> _ContractTuple: ...

class EventBatch:
    """Per-type numpy columns plus acks, unknown frames, errors and control frames."""

    def __len__(self) -> int: ...
    @property
    def kinds(self) -> _npt.NDArray[_np.uint8]: ...
    @property
    def trades(self) -> _TradeColumns: ...
    @property
    def quotes(self) -> _QuoteColumns: ...
    @property
    def ohlc(self) -> _OhlcColumns: ...
    @property
    def open_interest(self) -> _OpenInterestColumns: ...
    @property
    def status(self) -> _StatusColumns: ...
    @property
    def acks(self) -> list[tuple[int | None, str, str | None]]: ...
    @property
    def other(self) -> list[bytes]: ...
    @property
    def errors(self) -> list[tuple[int, str]]: ...
    @property
    def new_contracts(self) -> list[tuple[int, str, str, int | None, int | None, str | None]]: ...
    @property
    def control(self) -> list[tuple[int, bytes]]: ...
    @property
    def protocol_error(self) -> tuple[str, int] | None: ...

# --- json_stream: JSON stream splitter -------------------------------------------------------

# --- bars: OHLC aggregation and rings --------------------------------------------------------
