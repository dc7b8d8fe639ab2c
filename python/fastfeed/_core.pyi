"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

from typing import Any, final

import numpy as np
from numpy.typing import NDArray

# PyO3 lists every name a module adds in its `__all__`; each section extends it with its own.
__all__ = ["__version__"]

__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------

# --- envelope: commands and acknowledgements -------------------------------------------------

# --- event: event codec and columnar batches -------------------------------------------------

# --- json_stream: JSON stream splitter -------------------------------------------------------

# --- bars: OHLC aggregation and rings --------------------------------------------------------

__all__ += [
    "BAR_FIELD_OFFSETS",
    "BAR_ITEMSIZE",
    "MAX_CONTRACT_ID",
    "MAX_RING_CAPACITY",
    "BarBook",
    "BarRingBuffer",
    "aggregate_trades",
]

BAR_FIELD_OFFSETS: list[tuple[str, int]]
BAR_ITEMSIZE: int
MAX_CONTRACT_ID: int
MAX_RING_CAPACITY: int

@final
class BarBook:
    def __new__(cls, intervals_ms: list[int] = ..., capacity: int = 4096) -> BarBook: ...
    @property
    def intervals_ms(self) -> list[int]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def contracts(self) -> list[int]: ...
    @property
    def late_trades(self) -> list[int]: ...
    def update(
        self,
        contract_id: NDArray[np.uint32],
        date: NDArray[np.int32],
        ms_of_day: NDArray[np.int32],
        price: NDArray[np.float64],
        size: NDArray[np.int64],
    ) -> None: ...
    def update_with_session(
        self,
        contract_id: NDArray[np.uint32],
        date: NDArray[np.int32],
        ms_of_day: NDArray[np.int32],
        price: NDArray[np.float64],
        size: NDArray[np.int64],
    ) -> dict[str, NDArray[Any]]: ...
    def flush(self, date: int, ms_of_day: int) -> int: ...
    def ring(self, contract_id: int, interval_ms: int) -> BarRingBuffer: ...
    def closed_count(self, contract_id: int, interval_ms: int) -> int: ...
    def open_bar(
        self, contract_id: int, interval_ms: int
    ) -> tuple[int, int, float, float, float, float, int, int, float] | None: ...
    def session(
        self, contract_id: int
    ) -> tuple[int, int, float, float, float, float, int, int] | None: ...

@final
class BarRingBuffer:
    def __len__(self) -> int: ...

def aggregate_trades(
    date: NDArray[np.int32],
    ms_of_day: NDArray[np.int32],
    price: NDArray[np.float64],
    size: NDArray[np.int64],
    interval_ms: int,
    group: NDArray[np.int64] | None = None,
) -> dict[str, NDArray[Any]]: ...
