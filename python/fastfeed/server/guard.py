"""Opening-handshake checks of the server, on both endpoints (SPEC §3.4, §4).

Browsers can reach loopback servers, so a page on any site could open a WebSocket to the
feed. The guards: an ``Origin`` (sent by every browser) must be explicitly allowed; the
``Host`` must name this server (defeats DNS rebinding, where a hostile name resolves to
127.0.0.1); a non-loopback bind requires a bearer token.
"""

from __future__ import annotations

import hmac
from collections.abc import Container
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from fastfeed.server.config import ServerConfig, is_loopback_host

if TYPE_CHECKING:
    from multidict import CIMultiDict

__all__ = [
    "HandshakeRejection",
    "check_handshake",
    "format_host",
    "split_host_header",
    "split_target",
]


#: The only WebSocket version there is (RFC 6455).
WEBSOCKET_VERSION = "13"


@dataclass(frozen=True, slots=True)
class HandshakeRejection:
    """Why a handshake is refused: the HTTP status, a one-line body and headers the status
    calls for."""

    status: HTTPStatus
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def format_host(host: str) -> str:
    """``host`` as it is written in a URL: an IPv6 literal in brackets (``[::1]``)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def split_host_header(value: str) -> tuple[str, int | None]:
    """``("localhost", 25520)`` from ``localhost:25520``; IPv6 literals keep no brackets.

    A malformed port yields ``-1`` so it can never match.
    """
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, -1
        host, rest = value[1:end], value[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return host, -1
        port_text = rest[1:]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            return value, None
    if not port_text.isdigit() or len(port_text) > 5:
        return host, -1
    return host, int(port_text)


def split_target(path: bytes) -> tuple[str, str]:
    """``("/v1/events", "token=x")`` from the request target ``/v1/events?token=x``."""
    route, _, query = path.decode("latin-1").partition("?")
    return route, query


def check_handshake(
    path: bytes,
    headers: CIMultiDict[str],
    config: ServerConfig,
    bound_port: int,
    endpoints: Container[str],
) -> HandshakeRejection | None:
    """``None`` to accept the upgrade request, else the rejection to answer with. ``endpoints``
    are the paths served."""
    route, query = split_target(path)
    if route not in endpoints:
        return HandshakeRejection(HTTPStatus.NOT_FOUND, f"no such endpoint {route}")

    version = headers.get("Sec-WebSocket-Version")
    if version != WEBSOCKET_VERSION:
        # RFC 6455 §4.2.2: 426 naming the version this server speaks.
        problem = "missing" if version is None else f"unsupported ({version!r})"
        return HandshakeRejection(
            HTTPStatus.UPGRADE_REQUIRED,
            f"Sec-WebSocket-Version {problem}: this server speaks {WEBSOCKET_VERSION}",
            (("Sec-WebSocket-Version", WEBSOCKET_VERSION),),
        )

    host_header = headers.get("Host")
    if host_header is None:
        return HandshakeRejection(HTTPStatus.FORBIDDEN, "missing Host header")
    # On loopback, a Host naming another server is a web page's DNS rebinding: refused. A
    # server bound beyond loopback is reached under names it cannot know; it requires a token.
    host, port = split_host_header(host_header)
    if is_loopback_host(config.host) and (
        host.lower() not in {config.host.lower(), "localhost", "127.0.0.1"}
        or (port is not None and port != bound_port)
    ):
        return HandshakeRejection(HTTPStatus.FORBIDDEN, f"Host {host_header!r} is not this server")

    origins = headers.getall("Origin", [])
    for origin in origins:
        if origin not in config.allow_origins:
            return HandshakeRejection(HTTPStatus.FORBIDDEN, f"Origin {origin!r} is not allowed")

    if config.token is not None and not _has_token(headers, query, config.token):
        return HandshakeRejection(HTTPStatus.UNAUTHORIZED, "missing or wrong token")
    return None


def _has_token(headers: CIMultiDict[str], query: str, token: str) -> bool:
    expected = token.encode()
    for value in headers.getall("Authorization", []):
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode(), expected
        ):
            return True
    for candidate in parse_qs(query).get("token", []):
        if hmac.compare_digest(candidate.encode(), expected):
            return True
    return False
