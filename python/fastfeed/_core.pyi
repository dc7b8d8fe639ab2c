"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

from typing import Literal, TypeAlias, final

__all__ = ["__version__"]  # each section below adds its names with `__all__ += [...]`
__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------

# --- envelope: commands and acknowledgements -------------------------------------------------

__all__ += ["EventAck", "StopCommand", "StreamCommand", "encode_ack", "parse_command"]

_SecTypeName: TypeAlias = Literal["STOCK", "OPTION", "INDEX"]
_ReqTypeName: TypeAlias = Literal[
    "QUOTE", "TRADE", "OHLC", "OPEN_INTEREST", "FULL_TRADES", "FULL_OPEN_INTEREST"
]

@final
class StreamCommand:
    """A validated ``STREAM`` command (SPEC §3.1); the contract is flattened into fields."""

    @property
    def sec_type(self) -> _SecTypeName: ...
    @property
    def req_type(self) -> _ReqTypeName: ...
    @property
    def add(self) -> bool: ...
    @property
    def id(self) -> int: ...
    @property
    def symbol(self) -> str | None:
        """``None`` exactly for the ``FULL_*`` whole-market streams."""
    @property
    def expiration(self) -> int | None:
        """YYYYMMDD, options only."""
    @property
    def strike(self) -> int | None:
        """Thousandths of a dollar, options only."""
    @property
    def right(self) -> Literal["C", "P"] | None:
        """Options only."""
    @property
    def contract_key(self) -> str | None:
        """``AAPL`` or ``SPY:20250321:570000:C`` (the SPEC §7 channel key); ``None`` for FULL_*."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class StopCommand:
    """A validated ``STOP`` command: end every subscription of the connection."""

    @property
    def id(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class EventAck:
    """A validated seed-004 ``event_ack`` (``--pace ack`` lock-step)."""

    @property
    def correlation_id(self) -> str: ...
    @property
    def events_processed(self) -> tuple[int, ...]: ...
    @property
    def timestamp(self) -> int:
        """Client time, milliseconds since the Unix epoch."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def parse_command(frame: bytes | str) -> StreamCommand | StopCommand | EventAck:
    """Validate one command frame; raise :class:`fastfeed.EnvelopeError` if it is invalid."""

def encode_ack(
    req_id: int | None,
    response: Literal["OK", "ERROR", "MAX_STREAMS_REACHED"],
    message: str | None = None,
) -> bytes:
    """Encode a SPEC §3.2 acknowledgement; ``message`` is required for ERROR, refused otherwise."""

# --- event: event codec and columnar batches -------------------------------------------------

# --- json_stream: JSON stream splitter -------------------------------------------------------

# --- bars: OHLC aggregation and rings --------------------------------------------------------
