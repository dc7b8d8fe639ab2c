"""``/v1/stream`` (SPEC §4): any number of clients (up to ``--max-clients``), each with its
own streams, SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS.

Commands are validated in Rust (``parse_stream_command``, stream names included);
subscriptions live in the hub. A command is applied whole or not at all.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING

from fastfeed._core import encode_stream_error, encode_stream_result, parse_stream_command
from fastfeed.errors import StreamCommandError, SubscribeError
from fastfeed.server.config import ServerConfig
from fastfeed.server.connection import Connection, ConnectionCounts
from fastfeed.server.guard import HandshakeRejection

if TYPE_CHECKING:
    from fastfeed.server.hub import Hub, Wire

__all__ = ["StreamConnection", "StreamEndpoint"]

log = logging.getLogger("fastfeed.server")

_STATUS = (
    b'{"stream":"@status","data":{"header":{"type":"STATUS",%b},"stats":{"sent":%d,"dropped":%d}}}'
)


class StreamConnection(Connection):
    """One ``/v1/stream`` client."""

    wire: Wire = "stream"

    status_template = _STATUS

    def _refuse(self, req_id: int, code: str, message: str) -> None:
        self.command_errors += 1
        self.log_mistake(f"refused: {message}")
        self.send_text(encode_stream_error(req_id, code, message))

    def on_command(self, subscriber: int, payload: bytes) -> None:
        try:
            request = parse_stream_command(payload)
        except StreamCommandError as error:
            self.command_errors += 1
            self.log_mistake(f"bad command: {error}")
            self.send_text(encode_stream_error(error.id, error.code, str(error)))
            return
        method = request.method
        if method == "SUBSCRIBE":
            try:
                confirmation = self.hub.subscribe(
                    subscriber, request, self.config.max_subscriptions
                )
            except SubscribeError as error:
                if error.reason == "too_many_streams":
                    message = (
                        f"params: more than {self.config.max_subscriptions} streams "
                        "on one connection"
                    )
                    self._refuse(request.id, "TOO_MANY_STREAMS", message)
                else:
                    self._refuse(request.id, "INVALID_PARAM", f"params[{error.index}]: {error}")
                return
            if confirmation is not None:
                req_id = request.id
                self.answer_later(
                    confirmation,
                    lambda refusal: (
                        self._refuse(req_id, "INVALID_PARAM", f"params[{refusal[0]}]: {refusal[1]}")
                        if refusal is not None
                        else self.reply_changed(encode_stream_result(req_id, None))
                    ),
                )
                return
            self.reply_changed(encode_stream_result(request.id, None))
        elif method == "UNSUBSCRIBE":
            self.hub.unsubscribe(subscriber, request)
            self.reply_changed(encode_stream_result(request.id, None))
        else:
            self.send_text(encode_stream_result(request.id, self.subscriptions))


class StreamEndpoint:
    """The many-client policy of ``/v1/stream``: at most ``max_clients`` connections."""

    path = "/v1/stream"

    def __init__(self, hub: Hub, config: ServerConfig) -> None:
        self._hub = hub
        self._config = config
        self.retired = ConnectionCounts()
        self.connections: set[Connection] = set()

    def admit(self) -> HandshakeRejection | None:
        """Refused with 503 at ``max_clients`` connections."""
        if len(self.connections) >= self._config.max_clients:
            return HandshakeRejection(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"too many clients: at most {self._config.max_clients} on /v1/stream",
            )
        return None

    def connection(self) -> StreamConnection:
        return StreamConnection(self._hub, self._config, self)

    def opened(self, connection: Connection) -> None:
        self.connections.add(connection)

    def closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
