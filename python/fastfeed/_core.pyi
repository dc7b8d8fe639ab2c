"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

from typing import final

import numpy as np
import numpy.typing as npt

__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------



# --- envelope: commands and acknowledgements -------------------------------------------------



# --- event: event codec and columnar batches -------------------------------------------------



# --- json_stream: JSON stream splitter -------------------------------------------------------


@final
class JsonStreamSplitter:
    """Splits an HTTP streaming body into complete top-level JSON objects (seed 002)."""

    def __new__(cls, max_object_size: int = 1048576) -> JsonStreamSplitter: ...
    def feed(self, chunk: bytes) -> list[bytes]: ...
    def feed_packed(self, chunk: bytes) -> tuple[bytes, npt.NDArray[np.int64]]: ...
    def reset(self) -> None: ...
    @property
    def max_object_size(self) -> int: ...
    @property
    def buffered(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def in_object(self) -> bool: ...



# --- bars: OHLC aggregation and rings --------------------------------------------------------
