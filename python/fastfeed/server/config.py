"""Server settings (SPEC §3.4, §9), validated once so the rest of the server can trust them."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from typing import Literal

from fastfeed.errors import ConfigError

__all__ = [
    "DEFAULT_PORT",
    "MetricsPortError",
    "ServerConfig",
    "ServerConfigError",
    "is_loopback_host",
]

DEFAULT_PORT = 25520

SlowConsumerPolicy = Literal["drop", "disconnect"]


class ServerConfigError(ConfigError):
    """A server setting is invalid; the message is one line naming the setting."""


class MetricsPortError(ServerConfigError):
    """The metrics port (``--metrics-port``) cannot be bound: raised by
    :meth:`Server.start <fastfeed.server.Server.start>` before anything is served."""


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of a server (both endpoints). Times are seconds, sizes bytes.

    The heartbeat intervals are settings (not constants) so tests can run them fast; the
    defaults are the SPEC's: STATUS every 1 s, ping every 10 s, Close 1011 after 30 s
    without a pong.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allow_origins: tuple[str, ...] = ()
    token: str | None = None
    #: TLS certificate chain and private key files (PEM): serve wss:// (``--tls-cert``,
    #: ``--tls-key``), both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    max_subscriptions: int = 10_000
    #: Connections ``/v1/stream`` accepts at once; beyond them the handshake gets HTTP 503.
    max_clients: int = 1000
    #: Refuse the original terminal's documented lenient command forms on ``/v1/events``
    #: (Python literal dicts, digit-string expiration/strike, ``STREAM_BULK``, ``STOP``
    #: without an id); ``--strict``.
    strict: bool = False
    slow_consumer: SlowConsumerPolicy = "drop"
    max_pending_bytes: int = 8 * 1024 * 1024
    #: Transport buffer high-water mark: data stays in the application queue above it, so
    #: control frames (STATUS, acks, pings, close) never wait behind more than this.
    write_buffer_high: int = 128 * 1024
    #: The socket's kernel send buffer (``SO_SNDBUF``; Linux doubles it). Bounded so that a
    #: STATUS or an ack waits behind at most this much data in the kernel, not the megabytes
    #: the kernel would otherwise autotune to.
    socket_send_buffer: int = 128 * 1024
    max_message_size: int = 4096
    handshake_timeout: float = 5.0
    status_interval: float = 1.0
    ping_interval: float = 10.0
    pong_timeout: float = 30.0
    #: How long a closing connection may take to flush its Close frame before it is aborted.
    close_timeout: float = 5.0
    #: Send the session OHLC event after each trade (``--no-ohlcvc`` turns it off).
    ohlcvc: bool = True
    #: Bar intervals of the server's rings (``--bar-intervals``) and bars per ring.
    bar_intervals_ms: tuple[int, ...] = (1000, 60_000)
    bar_capacity: int = 4096
    #: Serve Prometheus metrics on this port of ``host`` (``--metrics-port``); ``None``: not.
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServerConfigError(f"port must be 0-65535, got {self.port}")
        if self.metrics_port is not None:
            if not 1 <= self.metrics_port <= 65535:
                raise ServerConfigError(f"metrics-port must be 1-65535, got {self.metrics_port}")
            if self.metrics_port == self.port:
                raise ServerConfigError(
                    f"metrics-port: {self.metrics_port} is the WebSocket port (--port); "
                    "choose another"
                )
        if self.max_clients < 1:
            raise ServerConfigError(f"max-clients must be at least 1, got {self.max_clients}")
        if self.slow_consumer not in ("drop", "disconnect"):
            raise ServerConfigError(
                f"slow-consumer must be 'drop' or 'disconnect', got {self.slow_consumer!r}"
            )
        if self.max_subscriptions < 1:
            raise ServerConfigError(
                f"max-subscriptions must be at least 1, got {self.max_subscriptions}"
            )
        if self.max_pending_bytes < 1:
            raise ServerConfigError(
                f"max-pending-bytes must be at least 1, got {self.max_pending_bytes}"
            )
        if self.write_buffer_high < 1:
            raise ServerConfigError(
                f"write_buffer_high must be at least 1, got {self.write_buffer_high}"
            )
        if self.max_message_size < 1:
            raise ServerConfigError(
                f"max_message_size must be at least 1, got {self.max_message_size}"
            )
        for name in (
            "handshake_timeout",
            "status_interval",
            "ping_interval",
            "pong_timeout",
            "close_timeout",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ServerConfigError(f"{name} must be positive, got {value}")
        if not self.bar_intervals_ms:
            raise ServerConfigError("bar-intervals must name at least one interval")
        if len(set(self.bar_intervals_ms)) != len(self.bar_intervals_ms):
            raise ServerConfigError(
                f"bar-intervals lists an interval twice: {list(self.bar_intervals_ms)} (ms)"
            )
        if self.token is not None and not self.token:
            raise ServerConfigError("token must not be empty")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ServerConfigError("tls-cert and tls-key go together: give both or neither")
        if not is_loopback_host(self.host) and (self.token is None or self.tls_cert is None):
            raise ServerConfigError(
                f"binding the non-loopback address {self.host} requires --token and "
                "--tls-cert/--tls-key (the token must not cross a network in clear)"
            )

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (TLS 1.2 or later, Python's defaults otherwise), or
        ``None`` without a certificate; raises ``ServerConfigError`` naming a file that
        cannot be loaded."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise ServerConfigError(
                f"tls: cannot load certificate {self.tls_cert} with key {self.tls_key}: {reason}"
            ) from None
        return context

    @property
    def scheme(self) -> str:
        """``wss`` with TLS, else ``ws``."""
        return "ws" if self.tls_cert is None else "wss"
