"""A client worker of the fan-out benchmark: many WebSocket connections on one uvloop, each a
cheap counting reader.

Driven by JSON lines on stdin, answering one JSON line on stdout per command:

* ``{"op": "connect", "port": P, "path": "/v1/stream", "clients": K}`` opens ``K``
  connections and completes their handshakes (no data flows yet) → ``{"ok": true}``, or
  ``{"ok": false, "error": "…"}`` (e.g. the server answered 404);
* ``{"op": "go", "subscribe": "…", "streams": […], "count": N, "verify": "all"|"sample"}``
  sends the SUBSCRIBE on every connection at once; each connection then counts ``N`` data
  messages and closes → per connection the ``perf_counter`` (CLOCK_MONOTONIC, the same clock
  in every process) of its first and ``N``-th message, and its count and errors, and the
  worker's CPU time (user + system) from the subscriptions to the last message;
* ``{"op": "quit"}``.

Every byte goes through fastfeed's Rust ``WSFrameDecoder`` (framing, masking rules, UTF-8, size
cap). Once the SUBSCRIBE reply is in, a read is counted with ``WSFrameDecoder.count``, which
makes no Python object per data message (only the few shorter ones — ``@status``, pings, a
close — come back as messages), so the clients cost little per message and the servers, not
the clients, are what a round measures. Correctness stays checked:

* ``verify="sample"``: every ``SAMPLE_EVERY``-th read of a connection (and every read until
  it has checked one data message) is decoded with ``feed`` instead, and the last data message
  of it is parsed and checked;
* ``verify="all"``: a second decoder also ``feed``s every read; every data message is parsed
  and checked, and each read's count must equal what ``count`` said.

    python -m fastfeed.bench._fanout_clients
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any, cast

from fastfeed import HandshakeError, ProtocolError, WSClientHandshake, WSFrameDecoder
from fastfeed import ws_encode_frames as encode
from fastfeed._loop import new_event_loop
from fastfeed.bench._fanout_support import check_message

TEXT, CLOSE, PING, PONG = 1, 8, 9, 10
#: ``{"stream":"`` is 11 bytes; the name of a status message starts with ``@``.
NAME_AT = 11
#: Shorter than any data message of the synthetic market (251 bytes and up), longer than a
#: STATUS (about 110), the SUBSCRIBE reply and any control frame (at most 125).
MIN_DATA = 200
#: In ``verify="sample"``, one read in this many is decoded into messages and checked.
SAMPLE_EVERY = 32


class CountingClient(asyncio.Protocol):
    def __init__(self, port: int, path: str) -> None:
        self.handshake = WSClientHandshake("127.0.0.1", port, path, os.urandom(16))
        self.decoder = WSFrameDecoder("client", max_message_size=1 << 20, reject_binary=True)
        #: ``verify="all"``: decodes every read again with ``feed``, to check ``count``.
        self.shadow: WSFrameDecoder | None = None
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.streams: frozenset[str] = frozenset()
        self.target = 0
        self.acked = False
        self.count = 0
        self.checked = 0
        self.errors: list[str] = []
        self.first = 0.0
        self.last = 0.0
        self.reads = 0
        self.bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.handshake.request)

    def start(self, subscribe: bytes, streams: frozenset[str], target: int, verify: str) -> None:
        self.streams, self.target = streams, target
        if verify == "all":
            self.shadow = WSFrameDecoder("client", max_message_size=1 << 20, reject_binary=True)
        assert self.transport is not None
        self.transport.write(encode(TEXT, [subscribe], os.urandom(4)))

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.reads += 1
        self.bytes += len(data)
        if not self.handshake.done:
            try:
                rest = self.handshake.feed(data)
            except HandshakeError as e:
                self.connected.set_exception(e)
                assert self.transport is not None
                self.transport.close()
                return
            if rest is None:
                return
            self.connected.set_result(None)
            data = rest
        try:
            if not self.acked or (
                self.shadow is None and (not self.checked or self.reads % SAMPLE_EVERY == 0)
            ):
                # Before the reply (its place among the messages matters) and on samples.
                count = self.sort(self.decoder.feed(data), check_all=self.shadow is not None)
                if self.shadow is not None:
                    self.shadow.feed(data)
            else:
                count, others = self.decoder.count(data, MIN_DATA)
                if others:
                    count += self.sort(others, check_all=True)
                if self.shadow is not None:
                    self.verify(data, count)
        except ProtocolError as e:
            self.fail(f"protocol error after {self.count} messages: {e}")
            return
        if not count or self.done.done():
            return
        if not self.count:
            self.first = time.perf_counter()
        self.count = min(self.count + count, self.target)
        if self.count == self.target:
            self.last = time.perf_counter()
            self.done.set_result(None)
            assert self.transport is not None
            self.transport.close()

    def sort(self, messages: list[tuple[int, bytes]], check_all: bool) -> int:
        """Counts the data messages among ``messages`` and checks all of them, or the last;
        answers the rest."""
        count = 0
        last = None
        for opcode, payload in messages:
            if opcode == TEXT:
                if not payload.startswith(b"@", NAME_AT):
                    if self.acked:
                        count += 1
                        if check_all:
                            self.check(payload)
                        else:
                            last = payload
                    else:
                        self.on_reply(payload)
            elif opcode == PING:
                assert self.transport is not None
                self.transport.write(encode(PONG, [payload], os.urandom(4)))
            elif opcode == CLOSE:
                self.fail(f"server closed after {self.count} messages: {payload!r}")
                return 0
        if last is not None:
            self.check(last)
        return count

    def verify(self, data: bytes, count: int) -> None:
        """``verify="all"``: ``feed`` finds the same ``count`` data messages in ``data``."""
        assert self.shadow is not None
        found = 0
        for opcode, payload in self.shadow.feed(data):
            if opcode == TEXT and not payload.startswith(b"@", NAME_AT):
                found += 1
                self.check(payload)
        if found != count:
            self.fail(f"count() said {count} data messages, feed() found {found}")

    def on_reply(self, payload: bytes) -> None:
        if json.loads(payload) == {"result": None, "id": 1}:
            self.acked = True
        else:
            self.fail(f"expected the SUBSCRIBE reply, got {payload[:200]!r}")

    def check(self, payload: bytes) -> None:
        self.checked += 1
        error = check_message(payload, self.streams)
        if error is not None and len(self.errors) < 10:
            self.errors.append(error)

    def fail(self, error: str) -> None:
        self.errors.append(error)
        if self.target and not self.done.done():
            self.done.set_exception(ConnectionError(error))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"lost in the handshake: {exc}"))
        if not self.done.done():
            self.fail(f"connection lost after {self.count} messages: {exc}")


async def connect(port: int, path: str, clients: int) -> list[CountingClient]:
    loop = asyncio.get_running_loop()
    made: list[CountingClient] = []
    for _ in range(clients):
        _, client = await loop.create_connection(
            lambda: CountingClient(port, path), "127.0.0.1", port
        )
        made.append(client)
    results = asyncio.gather(*(c.connected for c in made), return_exceptions=True)
    for result in await asyncio.wait_for(results, 30):
        if isinstance(result, BaseException):
            for client in made:
                assert client.transport is not None
                client.transport.abort()
            raise result
    return made


async def go(clients: list[CountingClient], command: dict[str, Any]) -> dict[str, Any]:
    subscribe = command["subscribe"].encode()
    streams = frozenset(command["streams"])
    for client in clients:
        client.start(subscribe, streams, command["count"], command["verify"])
    sent = time.perf_counter()
    cpu = os.times()
    done = asyncio.gather(*(c.done for c in clients), return_exceptions=True)
    await asyncio.wait_for(done, command.get("timeout", 120))
    return {
        "sent": sent,
        "cpu": os.times().user - cpu.user + os.times().system - cpu.system,
        "cpu_system": os.times().system - cpu.system,
        "first": [c.first for c in clients],
        "last": [c.last for c in clients],
        "counts": [c.count for c in clients],
        "checked": sum(c.checked for c in clients),
        "reads": sum(c.reads for c in clients),
        "bytes": sum(c.bytes for c in clients),
        "errors": [e for c in clients for e in c.errors][:10],
    }


def main() -> None:
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    clients: list[CountingClient] = []
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        reply: dict[str, Any]
        if op == "quit":
            break
        try:
            if op == "connect":
                clients = loop.run_until_complete(
                    connect(command["port"], command["path"], command["clients"])
                )
                reply = {"ok": True}
            else:
                reply = loop.run_until_complete(go(clients, command)) | {"ok": True}
                clients = []
        except (HandshakeError, OSError, TimeoutError) as e:
            for client in clients:
                if client.transport is not None:
                    client.transport.abort()
            clients = []
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    loop.close()


if __name__ == "__main__":
    main()
