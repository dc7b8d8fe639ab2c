"""Exceptions raised by fastfeed.

Every error fastfeed raises derives from :class:`FastfeedError`. Errors about bad input also
derive from :class:`ValueError`, so generic ``except ValueError`` handlers keep working.
The Rust core's error values are turned into these classes in one place (``rust/py/src/errors.rs``).
"""

from __future__ import annotations

import errno

__all__ = [
    "AddressInUseError",
    "BarsError",
    "ConfigError",
    "ContractError",
    "EnvelopeError",
    "EventDecodeError",
    "EventEncodeError",
    "FastfeedError",
    "HandshakeError",
    "JsonStreamError",
    "ProtocolError",
    "ReplayError",
    "StreamCommandError",
    "StreamNameError",
    "SubscribeError",
]


class FastfeedError(Exception):
    """Base class of every fastfeed exception."""


class ProtocolError(FastfeedError):
    """The peer violated RFC 6455; close the connection with :attr:`close_code`.

    :attr:`messages` are the ``(opcode, payload)`` messages a decoder had decoded from the same
    input before the violation (``WSFrameDecoder.feed``), so nothing received before the first
    bad byte is lost; empty otherwise.
    """

    close_code: int
    messages: list[tuple[int, bytes]]

    def __init__(
        self, message: str, close_code: int, messages: list[tuple[int, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.messages = messages if messages is not None else []


class HandshakeError(FastfeedError):
    """The WebSocket opening handshake failed. Raised where a server reads one, it carries the
    HTTP :attr:`status` to answer with and the :attr:`headers` that status calls for."""

    status: int | None
    headers: list[tuple[str, str]]

    def __init__(
        self, message: str, status: int | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers if headers is not None else []


class EnvelopeError(FastfeedError, ValueError):
    """A command is not valid; the message starts with the offending field path (:attr:`path`).

    :attr:`req_id` is the command's ``id`` when it could be read, else ``None`` (SPEC §3.2).
    """

    path: str
    req_id: int | None

    def __init__(self, message: str, path: str, req_id: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.req_id = req_id


class ContractError(FastfeedError, ValueError):
    """A contract breaks a rule of SPEC §3.1; the message is ``contract.<field>: <reason>``,
    the same text the server answers (``contract.expiration: not a calendar date: 20250230``)."""


class StreamNameError(FastfeedError, ValueError):
    """A string is not a valid SPEC §4 stream name (``stock.AAPL@trade``); the message is one
    line saying what was expected."""


class StreamCommandError(FastfeedError, ValueError):
    """A ``/v1/stream`` command is not valid (SPEC §4).

    :attr:`code` is the reply's error code (``INVALID_JSON``, ``INVALID_METHOD``,
    ``INVALID_PARAM``); :attr:`id` is the command's ``id`` when it could be read, else ``None``.
    """

    code: str
    id: int | None

    def __init__(self, message: str, code: str, id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.id = id


class EventDecodeError(FastfeedError, ValueError):
    """A frame is not a valid event."""


class EventEncodeError(FastfeedError, ValueError):
    """Event fields that cannot be encoded: a non-finite price, an integer out of its wire
    range, an unknown contract id or an invalid contract."""


class ReplayError(FastfeedError):
    """Replay files that cannot be served, as one line: a pre-scan failure (``replay: no such
    file: PATH``, ``replay: PATH is empty (no events)``, a CSV header that lacks or does not
    know a column, a truncated or corrupt gzip file), a read error, or a line that is not a
    valid event under ``on_bad_line="stop"`` (``PATH:LINE: <field path>: <reason>``)."""


class JsonStreamError(FastfeedError, ValueError):
    """A JSON stream held bytes outside any object, or an object above the size limit.

    :attr:`objects` carries the complete objects found by the same call, so nothing valid is
    lost; the splitter has already resynchronised and can be fed the next chunk.
    """

    objects: list[bytes]

    def __init__(self, message: str, objects: list[bytes]) -> None:
        super().__init__(message)
        self.objects = objects


# --- client SDK ------------------------------------------------------------------------------

__all__ += ["FeedClosedError", "FeedConnectionError", "MaxStreamsError", "SubscriptionError"]


class FeedConnectionError(FastfeedError, ConnectionError):
    """The client could not connect (refused, handshake failed, timed out)."""


class FeedClosedError(FastfeedError):
    """The feed is closed (by the user, by a takeover, or after reconnects gave up)."""


class SubscriptionError(FastfeedError):
    """The server refused a command: :attr:`response` is ``ERROR`` or ``MAX_STREAMS_REACHED``
    (SPEC §3.2), or the error ``code`` of a ``/v1/stream`` reply (``INVALID_PARAM``, …, SPEC §4);
    the exception's message is the server's ``message`` (``msg``)."""

    response: str
    req_id: int | None

    def __init__(self, message: str, response: str, req_id: int | None) -> None:
        super().__init__(message)
        self.response = response
        self.req_id = req_id

    @property
    def code(self) -> str:
        """The server's answer code (the same as :attr:`response`)."""
        return self.response


class MaxStreamsError(SubscriptionError):
    """The server answered ``MAX_STREAMS_REACHED`` (``TOO_MANY_STREAMS`` on ``/v1/stream``)."""


class BarsError(FastfeedError, ValueError):
    """Bad arguments to the bar aggregator."""


class ConfigError(FastfeedError, ValueError):
    """An invalid setting (a server flag, a source or market specification); the message is
    one line naming the setting."""


class AddressInUseError(FastfeedError, OSError):
    """The server's port is taken (``errno.EADDRINUSE``); the message is one line. An
    ``OSError`` too, so generic handlers keep working."""

    host: str
    port: int

    def __init__(self, host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(errno.EADDRINUSE, f"port {port} on {shown} is in use by another program")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


class SubscribeError(FastfeedError, ValueError):
    """The hub refused a valid subscription command, applying none of it.

    :attr:`reason` is ``"too_many_streams"`` (past ``--max-subscriptions``) or
    ``"not_in_universe"`` (a contract the source does not have; the message names what it
    has, and :attr:`index` is the position of the refused stream in the command).
    """

    reason: str
    index: int | None

    def __init__(self, message: str, reason: str, index: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.index = index


class RedisError(FastfeedError):
    """Redis answered with an error reply, or sent bytes that are not RESP (SPEC §7)."""


class RedisRefusedError(RedisError):
    """Redis, or its TLS handshake, refused the connection's settings — a wrong password or
    user (``WRONGPASS``, ``NOAUTH``), a db that does not exist, a certificate that is not
    trusted: not an outage, so retrying does not help until the settings or the server change.
    The message is one line and never contains the password."""


__all__ += ["RedisError", "RedisRefusedError"]
