"""fastfeed: a high-performance market-data feed handler with a Rust core.

The public surface is re-exported here; ``fastfeed._core`` is the private Rust extension.
"""

from __future__ import annotations

from fastfeed import _core
from fastfeed.events import (
    EventBatch,
    EventDecoder,
    EventEncoder,
    EventKind,
)
from fastfeed.errors import (
    BarsError,
    EnvelopeError,
    EventDecodeError,
    EventEncodeError,
    FastfeedError,
    HandshakeError,
    JsonStreamError,
    ProtocolError,
)

__version__: str = _core.__version__

__all__ = [
    "BarsError",
    "EnvelopeError",
    "EventBatch",
    "EventDecodeError",
    "EventDecoder",
    "EventEncodeError",
    "EventEncoder",
    "EventKind",
    "FastfeedError",
    "HandshakeError",
    "JsonStreamError",
    "ProtocolError",
    "__version__",
]
