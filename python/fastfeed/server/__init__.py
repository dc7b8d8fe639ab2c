"""The ``/v1/events`` WebSocket server (SPEC §3): lifecycle in Python, codecs in Rust."""

from __future__ import annotations

from fastfeed.server.config import DEFAULT_PORT, ServerConfig, ServerConfigError
from fastfeed.server.connection import EventsConnection
from fastfeed.server.server import Server, serve
from fastfeed.server.source import Egress, EventBatch, QueueSource, Source
from fastfeed.server.synthetic import SyntheticSource, SyntheticSpec

__all__ = [
    "DEFAULT_PORT",
    "Egress",
    "EventBatch",
    "EventsConnection",
    "QueueSource",
    "Server",
    "ServerConfig",
    "ServerConfigError",
    "Source",
    "SyntheticSource",
    "SyntheticSpec",
    "serve",
]
