"""The server (SPEC §3, §4): one hub fed by one source, served on ``/v1/events`` and
``/v1/stream``. Lifecycle in Python, codecs and fan-out in Rust."""

from __future__ import annotations

from fastfeed.server.config import DEFAULT_PORT, ServerConfig, ServerConfigError
from fastfeed.server.connection import Connection
from fastfeed.server.events_endpoint import EventsConnection
from fastfeed.server.hub import Hub
from fastfeed.server.server import Server, serve
from fastfeed.server.source import EventBatch, QueueSource, Source
from fastfeed.server.stream_endpoint import StreamConnection
from fastfeed.server.synthetic import SyntheticSource, SyntheticSpec

__all__ = [
    "DEFAULT_PORT",
    "Connection",
    "EventBatch",
    "EventsConnection",
    "Hub",
    "QueueSource",
    "Server",
    "ServerConfig",
    "ServerConfigError",
    "Source",
    "StreamConnection",
    "SyntheticSource",
    "SyntheticSpec",
    "serve",
]
