"""fastfeed: a high-performance market-data feed handler with a Rust core.

The public surface is re-exported here; ``fastfeed._core`` is the private Rust extension.
"""

from __future__ import annotations

from fastfeed import _core
from fastfeed.bars import BAR_DTYPE, BarBook, SessionBar, aggregate_trades
from fastfeed.errors import (
    BarsError,
    EnvelopeError,
    EventDecodeError,
    FastfeedError,
    HandshakeError,
    JsonStreamError,
    ProtocolError,
)

__version__: str = _core.__version__

__all__ = [
    "BAR_DTYPE",
    "BarBook",
    "BarsError",
    "EnvelopeError",
    "EventDecodeError",
    "FastfeedError",
    "HandshakeError",
    "JsonStreamError",
    "ProtocolError",
    "SessionBar",
    "__version__",
    "aggregate_trades",
]
