"""``/v1/events`` (SPEC §3): one client at a time; a new one takes over.

Commands are validated in Rust (``parse_command``); subscriptions live in the hub, so this
module only turns commands into hub calls and hub answers into §3.2 acknowledgements.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastfeed._core import EventAck, StopCommand, StreamCommand, encode_ack, parse_command
from fastfeed.errors import EnvelopeError, SubscribeError
from fastfeed.server.config import ServerConfig
from fastfeed.server.connection import CLOSE_NORMAL, Connection, ConnectionCounts
from fastfeed.server.guard import HandshakeRejection

if TYPE_CHECKING:
    from fastfeed.server.hub import Hub, Wire

__all__ = ["REPLACED_REASON", "EventsConnection", "EventsEndpoint"]

log = logging.getLogger("fastfeed.server")

REPLACED_REASON = "replaced by a new client connection"

_STATUS = b'{"header":{"type":"STATUS",%b},"stats":{"sent":%d,"dropped":%d}}'


class EventsConnection(Connection):
    """One ``/v1/events`` client."""

    wire: Wire = "events"

    #: The latest seed-004 ``event_ack`` received (``--pace ack`` uses it).
    last_event_ack: EventAck | None = None
    event_acks = 0
    _unknown_acks_logged = False

    status_template = _STATUS

    def _refuse(self, req_id: int, message: str) -> None:
        self.command_errors += 1
        self.log_mistake(f"refused subscription: {message}")
        self.send_text(encode_ack(req_id, "ERROR", message))

    def on_command(self, subscriber: int, payload: bytes) -> None:
        try:
            command = parse_command(payload, strict=self.config.strict)
        except EnvelopeError as error:
            self.command_errors += 1
            self.log_mistake(f"bad command: {error}")
            self.send_text(encode_ack(error.req_id, "ERROR", str(error)))
            return
        if isinstance(command, StreamCommand):
            if command.add:
                try:
                    confirmation = self.hub.subscribe(
                        subscriber, command, self.config.max_subscriptions
                    )
                except SubscribeError as error:
                    if error.reason == "too_many_streams":
                        self.command_errors += 1
                        self.send_text(encode_ack(command.id, "MAX_STREAMS_REACHED"))
                    else:
                        self._refuse(command.id, str(error))
                    return
                if confirmation is not None:
                    req_id = command.id
                    self.answer_later(
                        confirmation,
                        lambda refusal: (
                            self._refuse(req_id, refusal[1])
                            if refusal is not None
                            else self.reply_changed(encode_ack(req_id, "OK"))
                        ),
                    )
                    return
            else:
                self.hub.unsubscribe(subscriber, command)
            self.reply_changed(encode_ack(command.id, "OK"))
        elif isinstance(command, StopCommand):
            self.hub.clear(subscriber)
            self.reply_changed(encode_ack(command.id, "OK"))
        else:
            self.last_event_ack = command
            self.event_acks += 1
            _, unknown = self.hub.acknowledge(subscriber, command.events_processed)
            if unknown and not self._unknown_acks_logged:
                # Once per connection: a client acking ids it was never sent would flood the log.
                self._unknown_acks_logged = True
                log.info(
                    "client %s acknowledged %d event id(s) it has no outstanding event for "
                    "(ignored; logged once per connection)",
                    self.peer,
                    unknown,
                )


class EventsEndpoint:
    """The one-client policy of ``/v1/events``: a new connection replaces the previous one,
    which gets Close 1000 ``replaced by a new client connection``."""

    path = "/v1/events"

    def __init__(self, hub: Hub, config: ServerConfig) -> None:
        self._hub = hub
        self._config = config
        self.retired = ConnectionCounts()
        #: The connected client, if any.
        self.active: EventsConnection | None = None
        self.connections: set[Connection] = set()

    def admit(self) -> HandshakeRejection | None:
        """Always admitted: a new client takes over."""
        return None

    def connection(self) -> EventsConnection:
        return EventsConnection(self._hub, self._config, self)

    def opened(self, connection: Connection) -> None:
        assert isinstance(connection, EventsConnection)
        self.connections.add(connection)
        previous = self.active
        self.active = connection
        if previous is not None and previous is not connection:
            log.info("client %s replaced by %s", previous.peer, connection.peer)
            previous.close(CLOSE_NORMAL, REPLACED_REASON, abort_if_unread=True)

    def closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if self.active is connection:
            self.active = None
