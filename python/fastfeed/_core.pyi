"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any, Literal, TypeAlias, final

import numpy as np
import numpy.typing as npt

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

__all__ = ["__version__"]  # each section below adds its names with `__all__ += [...]`
__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------

__all__ += [
    "WSClientHandshake",
    "WSFrameDecoder",
    "WSMessageAssembler",
    "ws_accept_key",
    "ws_close_payload",
    "ws_encode_frames",
    "ws_parse_close_payload",
    "ws_read_upgrade_request",
    "ws_switching_protocols",
]

@final
class WSFrameDecoder:
    """Incremental RFC 6455 decoder for the frames one side receives.

    ``role="server"`` decodes client frames (which must be masked); ``role="client"`` decodes
    server frames (which must not be). A data message above ``max_message_size`` bytes (a
    fragmented message's total) raises ``ProtocolError`` with close code 1009; with
    ``reject_binary=True`` a binary message raises it with 1003. Once raised, every later
    ``feed`` raises the same error. After a Close frame, later bytes are ignored.
    """

    def __new__(
        cls,
        role: Literal["server", "client"],
        max_message_size: int = 4096,
        reject_binary: bool = False,
    ) -> WSFrameDecoder: ...
    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Decode a chunk of any size; return ``(opcode, payload)`` per complete message and
        control frame, in arrival order (opcodes: 1 text, 2 binary, 8 close, 9 ping, 10 pong;
        text is valid UTF-8; a close payload is code + reason, or empty). Raises
        ``fastfeed.ProtocolError`` (``.close_code`` 1002/1003/1007/1009) on a violation,
        carrying the messages decoded before it in the same chunk (``.messages``)."""
    def count(self, data: bytes, min_size: int = 0) -> tuple[int, list[tuple[int, bytes]]]:
        """Decode a chunk exactly as ``feed`` does (same checks, same errors, same state
        after), but return only how many complete text messages of at least ``min_size``
        payload bytes it finished, with ``(opcode, payload)`` for every other message and
        control frame (shorter text, binary, close, ping, pong) in arrival order. No Python
        object is made per counted message. ``feed`` and ``count`` may alternate on one
        decoder: a message is counted or returned by the call that finishes it. Raises
        ``fastfeed.ProtocolError`` as ``feed`` does; the chunk's count is then lost."""
    @property
    def role(self) -> Literal["server", "client"]: ...
    @property
    def max_message_size(self) -> int: ...
    @property
    def reject_binary(self) -> bool: ...
    @property
    def closed(self) -> bool:
        """True once a Close frame was decoded."""

@final
class WSMessageAssembler:
    """Message rules for frames another parser (picows) already split and unmasked.

    Enforces reserved bits, opcodes, fragment sequencing, ``max_message_size`` over a
    fragmented message's total, UTF-8 of text (incrementally) and, with ``reject_binary``,
    refuses binary messages. Errors are sticky.
    """

    def __new__(
        cls, max_message_size: int = 4096, reject_binary: bool = True
    ) -> WSMessageAssembler: ...
    def feed_frame(
        self, fin: bool, rsv: int, opcode: int, payload: bytes
    ) -> tuple[int, bytes] | None:
        """``(opcode, payload)`` when the frame completes a message or is a control frame
        (a close payload is validated), else ``None``. ``rsv`` packs RSV1/2/3 as 4/2/1.
        Raises ``fastfeed.ProtocolError`` (``.close_code`` 1002/1003/1007/1009)."""
    @property
    def max_message_size(self) -> int: ...
    @property
    def reject_binary(self) -> bool: ...
    @property
    def fragmented(self) -> bool:
        """True while a fragmented message is open."""

def ws_encode_frames(
    opcode: int, payloads: Iterable[bytes], mask_key: bytes | None = None
) -> bytes:
    """Encode one final frame per payload into one buffer. ``mask_key`` (4 bytes, client role)
    masks every frame with that key; pass a fresh ``os.urandom(4)`` per call. ``None`` (server
    role) leaves frames unmasked. Raises ``ValueError`` for a bad opcode, key length, or a
    control payload above 125 bytes."""

def ws_close_payload(code: int, reason: str = "") -> bytes:
    """Close payload: code (big-endian) + reason, cut to 123 bytes on a character boundary.
    Raises ``ValueError`` for a code that may not be sent."""

def ws_parse_close_payload(payload: bytes) -> tuple[int | None, str]:
    """``(code, reason)`` of a received close payload; code ``None`` if empty. Raises
    ``fastfeed.ProtocolError`` for a 1-byte payload or bad code (1002) or bad UTF-8 (1007)."""

def ws_accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID))."""

def ws_read_upgrade_request(data: bytes) -> tuple[bytes, list[tuple[str, str]], str, int] | None:
    """What a server reads of a WebSocket opening handshake at the start of ``data``
    (everything received so far): ``None`` while incomplete, else ``(target, headers, key,
    consumed)``. Refused (too large: 431; not ``GET``: 405; not HTTP/1.1, no ``Connection:
    Upgrade``, a bad ``Sec-WebSocket-Key``, bad syntax: 400; no ``Upgrade: websocket``: 426):
    ``fastfeed.HandshakeError`` with the ``status`` and ``headers`` to answer with."""

def ws_switching_protocols(key: str) -> bytes:
    """The ``101 Switching Protocols`` response to a handshake with ``key``."""

@final
class WSClientHandshake:
    """Client opening handshake: ``request`` to send, ``feed`` to check the 101 response.

    ``key`` is the 16-byte random nonce (e.g. ``os.urandom(16)``); ``headers`` are extra
    request headers such as ``Origin`` or ``Authorization``. Raises ``fastfeed.HandshakeError``
    for arguments that cannot make a valid request (``ValueError`` for a bad key length).
    """

    def __new__(
        cls,
        host: str,
        port: int,
        path: str,
        key: bytes,
        headers: Sequence[tuple[str, str]] = ...,
    ) -> WSClientHandshake: ...
    @property
    def request(self) -> bytes: ...
    @property
    def key(self) -> str:
        """The ``Sec-WebSocket-Key`` sent (base64 of the nonce)."""
    @property
    def expected_accept(self) -> str: ...
    @property
    def done(self) -> bool: ...
    def feed(self, data: bytes) -> bytes | None:
        """``None`` while the response head is incomplete; then the bytes after it (the first
        frames, possibly ``b""``). Raises ``fastfeed.HandshakeError`` on a bad response (status,
        Upgrade, Connection, Sec-WebSocket-Accept, unoffered extension/subprotocol) or a head
        above 16 KiB; the error is sticky."""

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
    def id(self) -> int | None:
        """The request id; ``None`` for the original terminal's ``{"msg_type": "STOP"}``."""
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

def parse_command(
    frame: bytes | str, *, strict: bool = False
) -> StreamCommand | StopCommand | EventAck:
    """Validate one command frame; raise :class:`fastfeed.EnvelopeError` if it is invalid.

    Unless ``strict``, the original terminal's documented forms are read as their SPEC
    equivalents: a Python literal dict, ``expiration``/``strike`` as digit strings,
    ``STREAM_BULK`` for ``FULL_TRADES``/``FULL_OPEN_INTEREST`` and ``STOP`` without an id.
    """

def encode_ack(
    req_id: int | None,
    response: Literal["OK", "ERROR", "MAX_STREAMS_REACHED"],
    message: str | None = None,
) -> bytes:
    """Encode a SPEC §3.2 acknowledgement; ``message`` is required for ERROR, refused otherwise."""

# --- stream names, the contract validator, /v1/stream commands (SPEC §4) ---------------------

__all__ += [
    "StreamRequest",
    "StreamSpec",
    "check_contract",
    "encode_stream_error",
    "encode_stream_result",
    "parse_stream_command",
    "parse_stream_name",
    "stream_name",
    "typed_contract",
]

_StreamErrorCode: TypeAlias = Literal[
    "INVALID_JSON", "INVALID_METHOD", "INVALID_PARAM", "TOO_MANY_STREAMS"
]

@final
class StreamSpec:
    """A valid SPEC §4 stream (``stock.AAPL@trade``); the contract is flattened into fields."""

    @property
    def name(self) -> str:
        """The canonical §4 name."""
    @property
    def sec_type(self) -> _SecTypeName: ...
    @property
    def req_type(self) -> _ReqTypeName: ...
    @property
    def symbol(self) -> str | None:
        """``None`` exactly for the whole-market streams (``option@full_trades``)."""
    @property
    def expiration(self) -> int | None:
        """YYYYMMDD, options only."""
    @property
    def strike(self) -> int | None:
        """Thousandths of a dollar, options only."""
    @property
    def right(self) -> Literal["C", "P"] | None:
        """Options only."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def parse_stream_name(name: str, *, typed: bool = False) -> StreamSpec:
    """Parse a §4 stream name; raise :class:`fastfeed.StreamNameError` if it is invalid. With
    ``typed``, the name is as typed on a command line: its contract in any case
    (``stock.aapl@trade``)."""

def typed_contract(text: str) -> str:
    """A contract as typed on a command line (``aapl``, ``spy:20250321:570000:c``) in the
    wire's case (``AAPL``): command lines name contracts case-insensitively."""

def stream_name(
    sec_type: str,
    req_type: str,
    symbol: str | None = None,
    expiration: int | None = None,
    strike: int | None = None,
    right: str | None = None,
) -> str:
    """The §4 name of a stream (``stream_name("STOCK", "TRADE", "AAPL")`` →
    ``"stock.AAPL@trade"``); raise :class:`fastfeed.StreamNameError` if it is invalid."""

def check_contract(
    sec_type: str,
    symbol: str,
    expiration: int | None = None,
    strike: int | None = None,
    right: str | None = None,
) -> None:
    """Check a contract against SPEC §3.1 (the server's own validator); raise
    :class:`fastfeed.ContractError` with ``contract.<field>: <reason>``."""

@final
class StreamRequest:
    """A validated ``/v1/stream`` command (SPEC §4)."""

    @property
    def id(self) -> int: ...
    @property
    def method(self) -> Literal["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"]: ...
    @property
    def streams(self) -> list[str]:
        """Canonical stream names in command order, duplicates collapsed; empty for
        ``LIST_SUBSCRIPTIONS``."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def parse_stream_command(frame: bytes | str) -> StreamRequest:
    """Validate one ``/v1/stream`` frame; raise :class:`fastfeed.StreamCommandError` (with
    ``code`` and ``id``) if it is invalid."""

def encode_stream_result(id: int, streams: list[str] | None = None) -> bytes:
    """``{"result":null,"id":N}``, or with ``streams`` ``{"result":[…],"id":N}``."""

def encode_stream_error(id: int | None, code: str, msg: str) -> bytes:
    """``{"error":{"code":…,"msg":…},"id":N}`` (``"id":null`` for ``None``)."""

# --- event: event codec and columnar batches -------------------------------------------------

__all__ += ["EventBatch", "EventDecoder", "EventEncoder"]

_ContractTuple: TypeAlias = tuple[str, str, int | None, int | None, str | None]
_Column: TypeAlias = npt.ArrayLike
_Framing: TypeAlias = Literal["websocket", "jsonl"]

@final
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

@final
class EventDecoder:
    """Decodes event frames into :class:`EventBatch` objects."""

    def __new__(cls, *, max_message_size: int = 1048576) -> EventDecoder: ...
    def feed(self, data: bytes, bars: BarBook | None = None) -> EventBatch:
        """Decode one socket read; with ``bars``, apply its trades to that book too."""
    def feed_source(self, data: bytes, hub: Hub, batch: SourceBatch) -> EventBatch:
        """A relay's read of its upstream: data events go into ``batch`` with their original
        bytes (contracts registered with ``hub``) and count in ``received``; the rest
        (STATUS, acknowledgements, control frames, malformed events) comes back as ``feed``
        returns it."""
    def new_connection(self) -> None:
        """Fresh frame state and ``received`` count for a new connection; same contract ids."""
    @property
    def bars_skipped(self) -> int: ...
    def push_payload(self, payload: bytes) -> None: ...
    def take_batch(self) -> EventBatch: ...
    @property
    def closed(self) -> bool: ...
    @property
    def received(self) -> int: ...
    @property
    def contracts(self) -> list[_ContractTuple]: ...
    def contract(self, contract_id: int) -> _ContractTuple: ...

@final
class EventBatch:
    """Per-type numpy columns plus acks, unknown frames, errors and control frames."""

    def __len__(self) -> int: ...
    @property
    def kinds(self) -> npt.NDArray[np.uint8]: ...
    @property
    def counts(self) -> tuple[int, ...]: ...
    @property
    def data_only(self) -> int | None:
        """The number of data events when they are all the batch holds (no STATUS, ack,
        control frame, unknown message, error, new contract or protocol error), else None."""
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
    def acks(self) -> list[tuple[int | None, str, str | None, str | None]]: ...
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

__all__ += ["JsonStreamSplitter"]

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

__all__ += ["JsonEventStream"]

_ControlKind: TypeAlias = Literal["EndSnapshot", "GoAway", "StreamStatus", "Error"]

@final
class JsonEventStream:
    """An HTTP streaming body (seed 002) of SPEC §3.3 events and control objects, fed one read
    at a time: the splitter finds the objects whatever the chunking, each data event is
    decoded into a :class:`SourceBatch`, control objects stop the feed, and everything else is
    skipped and counted (invalid objects, objects of another kind, stray bytes, objects over
    ``max_object_size``, which are never buffered)."""

    def __new__(cls, max_object_size: int = 1048576) -> JsonEventStream: ...
    def feed(
        self, hub: Hub, batch: SourceBatch, chunk: bytes
    ) -> tuple[int, int, tuple[_ControlKind, str | None, str | None] | None]:
        """Feeds one read: data events are decoded, their contracts registered with ``hub``,
        and appended to ``batch`` keeping their JSON. Stops after the first control object.
        Returns ``(consumed, events, control)``: bytes of ``chunk`` consumed (all of them
        unless a control object stopped the feed: feed the rest again, or end the request),
        events appended, and the control object as ``(kind, text, message)``:
        ``("EndSnapshot", None, None)``, ``("GoAway", None, None)``, ``("StreamStatus",
        status, None)`` for another status, ``("Error", error, message or None)``."""
    def reset(self) -> None:
        """A new request: forgets any partial object (the counters go on)."""
    @property
    def events(self) -> int:
        """Data events accepted so far."""
    @property
    def skipped(self) -> int:
        """Objects (and runs of stray bytes) skipped so far."""
    def take_latest_skip(self) -> str | None:
        """The latest skip since the last call: ``at stream offset N: reason``."""
    @property
    def buffered(self) -> int:
        """Bytes of an incomplete object held until the next read."""
    @property
    def offset(self) -> int:
        """Bytes consumed since the request began."""

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
        contract_id: npt.NDArray[np.uint32],
        date: npt.NDArray[np.int32],
        ms_of_day: npt.NDArray[np.int32],
        price: npt.NDArray[np.float64],
        size: npt.NDArray[np.int64],
    ) -> None: ...
    def update_with_session(
        self,
        contract_id: npt.NDArray[np.uint32],
        date: npt.NDArray[np.int32],
        ms_of_day: npt.NDArray[np.int32],
        price: npt.NDArray[np.float64],
        size: npt.NDArray[np.int64],
    ) -> dict[str, npt.NDArray[Any]]: ...
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
    date: npt.NDArray[np.int32],
    ms_of_day: npt.NDArray[np.int32],
    price: npt.NDArray[np.float64],
    size: npt.NDArray[np.int64],
    interval_ms: int,
    group: npt.NDArray[np.int64] | None = None,
) -> dict[str, npt.NDArray[Any]]: ...

# --- hub and synthetic market ----------------------------------------------------------------

__all__ += ["Hub", "SourceBatch", "SyntheticMarket"]

@final
class SourceBatch:
    """A batch of a source's events, held in Rust; hand it to :meth:`Hub.publish`. Drawn by a
    Rust market, or built from numpy columns (contract ids of the hub it is published to; all
    the rows of a call or none)."""

    def __new__(cls) -> SourceBatch: ...
    def __len__(self) -> int: ...
    def clear(self) -> None:
        """Empties the batch, keeping its memory (one batch reused for every read)."""
    def add_json_lines(self, hub: Hub, data: bytes) -> list[tuple[int, str]]:
        """Appends the data events of SPEC §3.3 JSON Lines, registering their contracts with
        ``hub``; each keeps its line, forwarded as it is. Returns the lines that are not valid
        events as ``(line index, message)`` (skipped)."""
    def add_trades(
        self,
        contract_id: _Column,
        ms_of_day: _Column,
        sequence: _Column,
        size: _Column,
        condition: _Column,
        price: _Column,
        exchange: _Column,
        date: _Column,
    ) -> None: ...
    def add_quotes(
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
    ) -> None: ...
    def add_ohlc(
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
    ) -> None:
        """A source's own OHLC events: they match ``<contract>@ohlc`` only."""
    def add_open_interest(
        self, contract_id: _Column, ms_of_day: _Column, open_interest: _Column, date: _Column
    ) -> None: ...

@final
class Hub:
    """One market, many consumers: the contract registry, the server's bars, subscribers and
    their streams (SPEC §4).

    Every trade published is applied to ``bars``; each event is encoded once per wire format
    and gathered for the subscribers that want it.
    """

    def __new__(cls, bars: BarBook, *, ohlcvc: bool = True) -> Hub: ...
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
    @property
    def ohlcvc(self) -> bool: ...
    @property
    def bars(self) -> BarBook: ...
    @property
    def universe(self) -> str | None:
        """The source's universe in one line, if it declared one."""
    def add_subscriber(self, wire: str) -> int:
        """A new subscriber receiving ``"events"`` (§3.3) or ``"stream"`` (§4) frames."""
    def remove_subscriber(self, subscriber: int) -> tuple[list[str], list[str]]:
        """Removes it and its streams; returns the union's ``(gained, lost)``."""
    def subscribe(
        self,
        subscriber: int,
        streams: StreamRequest | StreamCommand | list[StreamCommand] | list[str],
        limit: int,
    ) -> tuple[list[str], list[str]]:
        """Subscribes, all or none (raises ``SubscribeError``); ``streams`` may also be §4
        names. Returns ``(gained, lost)``."""
    def unsubscribe(
        self,
        subscriber: int,
        streams: StreamRequest | StreamCommand | list[StreamCommand] | list[str],
    ) -> tuple[list[str], list[str]]:
        """Unsubscribes (streams not subscribed are ignored); ``streams`` may also be §4
        names. Returns ``(gained, lost)``."""
    def clear(self, subscriber: int) -> tuple[list[str], list[str]]: ...
    def subscriptions(self, subscriber: int) -> list[str]:
        """The subscriber's streams (§4 names) in subscription order."""
    @property
    def union(self) -> list[tuple[str, int]]:
        """Every subscribed stream and its number of subscribers."""
    @property
    def subscriber_count(self) -> int: ...
    @property
    def subscription_counts(self) -> tuple[int, int]:
        """``(streams, subscriptions)``: streams somebody subscribed to (the union), and
        subscriptions summed over subscribers."""
    @property
    def published(self) -> int:
        """Events of the batches published so far (refused ones included)."""
    def publish(self, batch: SourceBatch) -> list[tuple[list[int], bytes, int]]:
        """Publishes a batch: ``[(subscribers, frames, count)]``; subscribers that receive the
        same frames share one ``bytes``. With lock-step, the rest waits for :meth:`drain`."""
    def enable_lock_step(self, window: int) -> None:
        """``--pace ack``: the ``/v1/events`` subscriber's events carry header ids and at most
        ``window`` are outstanding."""
    def drain(self) -> list[tuple[list[int], bytes, int]]:
        """Lock-step: what the window allows now (``[]`` without lock-step)."""
    def acknowledge(self, subscriber: int, ids: list[int]) -> tuple[int, int]:
        """An ``event_ack``: ``(acknowledged, unknown ids)``."""
    @property
    def lock_step(self) -> tuple[int | None, int, int] | None:
        """``(paced subscriber, outstanding, backlog)``, ``None`` without lock-step."""
    @property
    def source_session_ohlc(self) -> bool:
        """The source's own OHLC events are the session OHLC (none made after trades)."""
    @source_session_ohlc.setter
    def source_session_ohlc(self, yes: bool) -> None: ...
    def enable_redis_publish(self, sharded: bool) -> None:
        """From now on every published batch is also encoded for Redis (SPEC §7): one
        ``PUBLISH`` (``SPUBLISH`` when ``sharded``) per event, its channel's next ``pseq`` in
        the header; take them with :meth:`take_redis`."""
    def set_redis_slot_nodes(self, slot_nodes: list[int]) -> None:
        """Routes each of the 16384 hash slots to a node index (a Cluster's topology)."""
    def set_redis_market_wanted(self, channel: str, wanted: bool) -> None:
        """Starts or stops repeating events on a Cluster's whole-market channel (one of
        :func:`redis_market_channels`) while an edge listens there; ``ConfigError`` for
        another name."""
    def take_redis(self) -> list[tuple[int, bytes, int]]:
        """The publish commands since the last call: ``[(node, commands, count)]``."""
    @property
    def redis_published(self) -> int | None:
        """Commands encoded for Redis so far: events, and their whole-market copies on a
        Cluster (``None``: not publishing)."""
    @property
    def rejected(self) -> int: ...
    @property
    def first_error(self) -> str | None: ...

@final
class SyntheticMarket:
    """The built-in synthetic market; registers its contracts with ``hub`` as its universe."""

    def __new__(
        cls,
        hub: Hub,
        *,
        seed: int,
        stocks: list[tuple[str, float]],
        index: tuple[str, float] | None = None,
        chain_underlying: int | None = None,
        expirations: list[tuple[int, float]] = ...,
        strikes: int = 10,
    ) -> SyntheticMarket: ...
    @property
    def contracts(self) -> list[int]: ...
    def draw(self, n: int, date: int, from_ms: int, to_ms: int) -> SourceBatch:
        """The next ``n`` events, stamped ``date`` and spread over ``(from_ms, to_ms]``."""

# --- replay files ----------------------------------------------------------------------------

__all__ += ["ReplayReader"]

@final
class ReplayReader:
    """Replay files read as one stream of events in market-time order (SPEC §5): JSON Lines
    of §3.3 events (what ``record`` writes) or CSV with a header row, plain or gzip (detected
    by its magic bytes). Files are streamed in chunks: memory does not grow with their size.

    ``paths`` is a path or a glob pattern (a ``str``: expanded and sorted by path), an
    ``os.PathLike`` (one path, never a pattern) or a list of paths (in the order given). Ties
    in market time go to the earlier file, and each file keeps its own order. Construction
    runs the pre-scan (missing or empty files, bad CSV headers, broken gzip raise
    :class:`~fastfeed.ReplayError`) without holding the GIL.

    A market time is ``days since 1970-01-01 * 86_400_000 + ms_of_day`` (New York wall-clock
    milliseconds: differences are elapsed market time).
    """

    def __new__(
        cls,
        paths: str | PathLike[str] | list[str | PathLike[str]],
        *,
        on_bad_line: Literal["stop", "skip"] = "stop",
    ) -> ReplayReader: ...
    @property
    def files(self) -> list[str]:
        """The files, in merge order."""
    @property
    def total(self) -> int | None:
        """Non-blank lines of every file (CSV: after the header), from the pre-scan: the
        number of events for what ``record`` writes (a STATUS or bad line counts too).
        ``None`` while a plain file's lines are still being counted (on a thread of their
        own, beside the reading: a plain file is checked up to its first event). The first
        look starts that count: a reader whose total nobody reads does not count."""
    def wait_total(self) -> int | None:
        """:attr:`total`, waiting for the count to end (the GIL released); ``None`` only when
        a file could not be read to its end (its reading reports why)."""
    @property
    def read_count(self) -> int:
        """Data events handed out since the start or the last :meth:`rewind`."""
    @property
    def skipped(self) -> int:
        """Bad lines skipped (``on_bad_line="skip"``) since the start or the last rewind."""
    def take_skipped_messages(self) -> list[str]:
        """``PATH:LINE: <field path>: <reason>`` of the lines skipped since the last call (the
        latest 100 at most), for rate-limited logging."""
    @property
    def next_time(self) -> int | None:
        """Market time (ms) of the next event; ``None`` at the end, or when the next
        :meth:`read` raises."""
    @property
    def exhausted(self) -> bool:
        """True when every event has been handed out (and no error is pending)."""
    def read(self, hub: Hub, max_events: int, until: int | None = None) -> SourceBatch:
        """The next events in merged order: at most ``max_events``, market time at most
        ``until``; contracts are registered with ``hub``. JSON Lines events carry their line
        (forwarded byte for byte); CSV events are encoded by the hub.

        A bad line (under ``"stop"``) or a read error ends the batch just before it; the next
        call raises :class:`~fastfeed.ReplayError` (``PATH:LINE: <field path>: <reason>``), as
        does every call until :meth:`rewind`. A call never both returns events and raises."""
    def rewind(self) -> None:
        """Starts again from the beginning of every file (``--loop``); counts restart."""

# --- redis: scale-out over Redis Pub/Sub (SPEC §7) ---------------------------------------------

__all__ += [
    "RedisReader",
    "redis_command",
    "redis_key_slot",
    "redis_market_channels",
    "redis_subscriptions",
]

@final
class RedisReader:
    """Reads what Redis sends a subscriber connection (SPEC §7): message payloads join a
    :class:`SourceBatch` as they are; each channel's ``pseq`` is checked for gaps and
    duplicates."""

    def __new__(cls) -> RedisReader: ...
    def feed(
        self, hub: Hub | None, data: bytes, connection: int = 0
    ) -> tuple[SourceBatch, list[tuple[str, int, list[int]]], list[object], list[str], int]:
        """Reads one socket read of ``connection`` (a Cluster edge reads one per node; the
        channels' sequences are shared): ``(batch, gaps, replies, bad_payloads, duplicates)``.
        ``gaps`` are ``(channel, events lost, subscribers they would have reached)``;
        ``replies`` every other reply (str, int, bytes, None, lists; error replies as
        :class:`~fastfeed.errors.RedisError` instances). Raises ``RedisError`` for bytes that
        are not RESP. Without ``hub`` the payloads go into a throwaway market."""
    def forget(self, channel: bytes) -> None:
        """Forgets a channel's sequence (it was unsubscribed)."""
    def forget_prefix(self, prefix: bytes) -> None:
        """Forgets every channel starting with ``prefix`` (a pattern was unsubscribed)."""
    def reconnected(self) -> None:
        """A new connection: partial replies are discarded; sequences are kept."""
    def last_pseq(self, channel: bytes) -> int | None:
        """The last sequence number seen on ``channel``."""
    @property
    def restarts(self) -> int:
        """Times a publisher restarted (a channel's ``pseq`` went back to 1)."""

def redis_subscriptions(stream: str) -> list[tuple[bool, str]]:
    """What an edge subscribes on Redis for a SPEC §4 stream: ``[(is_pattern, name)]``."""

def redis_command(*args: bytes) -> bytes:
    """One RESP command (an array of bulk strings)."""

def redis_key_slot(key: bytes) -> int:
    """The Redis Cluster hash slot of ``key``."""

def redis_market_channels() -> list[str]:
    """Every whole-market channel of a Redis Cluster (``ff:OPTION:TRADE:*``, …): where a
    Cluster edge listens for whole-market streams, and the publisher repeats their events
    meanwhile."""
