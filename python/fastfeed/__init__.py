"""fastfeed: a high-performance market-data feed handler with a Rust core.

The public surface is re-exported here; ``fastfeed._core`` is the private Rust extension.
"""

from __future__ import annotations

from fastfeed import _core
from fastfeed._core import (
    EventAck,
    JsonStreamSplitter,
    StopCommand,
    StreamCommand,
    WSClientHandshake,
    WSFrameDecoder,
    WSMessageAssembler,
    encode_ack,
    parse_command,
    ws_accept_key,
    ws_close_payload,
    ws_encode_frames,
    ws_parse_close_payload,
)
from fastfeed.bars import BAR_DTYPE, BarBook, SessionBar, aggregate_trades, parse_interval
from fastfeed.errors import (
    BarsError,
    ConfigError,
    EnvelopeError,
    EventDecodeError,
    EventEncodeError,
    FastfeedError,
    HandshakeError,
    JsonStreamError,
    ProtocolError,
)
from fastfeed.events import (
    EventBatch,
    EventDecoder,
    EventEncoder,
    EventKind,
)

__version__: str = _core.__version__

__all__ = [
    "BAR_DTYPE",
    "BarBook",
    "BarsError",
    "ConfigError",
    "EnvelopeError",
    "EventAck",
    "EventBatch",
    "EventDecodeError",
    "EventDecoder",
    "EventEncodeError",
    "EventEncoder",
    "EventKind",
    "FastfeedError",
    "HandshakeError",
    "JsonStreamError",
    "JsonStreamSplitter",
    "ProtocolError",
    "SessionBar",
    "StopCommand",
    "StreamCommand",
    "WSClientHandshake",
    "WSFrameDecoder",
    "WSMessageAssembler",
    "__version__",
    "aggregate_trades",
    "encode_ack",
    "parse_command",
    "parse_interval",
    "ws_accept_key",
    "ws_close_payload",
    "ws_encode_frames",
    "ws_parse_close_payload",
]
