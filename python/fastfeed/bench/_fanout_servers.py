"""The fan-out baselines: one source at max rate to every subscribed client, three ways.

* ``broadcast``: a ``websockets`` server calling ``websockets.broadcast(clients, message)``
  per event, the message pre-encoded once (only the broadcast is measured);
* ``picows``: a picows server that per event ``orjson.dumps`` the event once (events decoded
  into dicts beforehand) and ``send()``s it to each client, as a straightforward Python feed
  handler would;
* ``bulk``: the ceiling: pre-built server frames in chunks of about ``CHUNK`` bytes, one
  ``transport.write`` per client per chunk.

A client sends a SUBSCRIBE (any text message), gets ``{"result":null,"id":1}``, and from then
on receives the recorded messages (``_fanout_support``) in a cycle until it disconnects. The
per-event servers keep one pump for all clients and wait while any client's transport is
paused (its buffer bounded); ``bulk`` writes each client's chunks as its transport allows.

    python -m fastfeed.bench._fanout_servers broadcast|picows|bulk PORT MESSAGES_FILE
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from fastfeed import ws_encode_frames
from fastfeed._loop import run as run_loop
from fastfeed.bench._fanout_support import load_messages

REPLY = b'{"result":null,"id":1}'
#: Bytes of frames per write of the bulk server.
CHUNK = 256 * 1024
#: Events between two yields of a per-event pump to the loop (reads, timers, new clients).
YIELD_EVERY = 256
#: Bytes a websockets connection may buffer before the broadcast pump waits for it.
BROADCAST_HIGH_WATER = 1 << 20


async def run_broadcast(port: int, messages: list[bytes]) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()
    subscribed = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(REPLY, text=True)
        clients.add(connection)
        subscribed.set()
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    async def pump() -> None:
        for i, message in enumerate(itertools.cycle(messages)):
            broadcast(clients, message, text=True)
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
                while any(
                    c.transport.get_write_buffer_size() > BROADCAST_HIGH_WATER for c in clients
                ):
                    await asyncio.sleep(0.001)
                if not clients:
                    subscribed.clear()
                    await subscribed.wait()

    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        print("ready", flush=True)
        await pump()


class _Hub:
    """The clients of a picows server and which of them cannot take more data now."""

    def __init__(self) -> None:
        self.clients: dict[WSListener, WSTransport] = {}
        self.transports: tuple[WSTransport, ...] = ()
        self.paused: set[WSListener] = set()
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.subscribed = asyncio.Event()

    def add(self, listener: WSListener, transport: WSTransport) -> None:
        self.clients[listener] = transport
        self.transports = tuple(self.clients.values())
        self.subscribed.set()

    def remove(self, listener: WSListener) -> None:
        self.clients.pop(listener, None)
        self.transports = tuple(self.clients.values())
        self.resume(listener)

    def pause(self, listener: WSListener) -> None:
        self.paused.add(listener)
        self.resumed.clear()

    def resume(self, listener: WSListener) -> None:
        self.paused.discard(listener)
        if not self.paused:
            self.resumed.set()


class _Subscriber(WSListener):
    """Answers the first text message, then receives data; a Close is echoed."""

    def __init__(self, hub: _Hub, messages: list[bytes] | None) -> None:
        self.hub = hub
        self.messages = messages
        self.transport: WSTransport | None = None
        self.task: asyncio.Task[None] | None = None
        self.resumed = asyncio.Event()
        self.resumed.set()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT and self.transport is transport:
            self.transport = None
            transport.send(WSMsgType.TEXT, REPLY)
            if self.messages is None:
                self.hub.add(self, transport)
            else:
                self.task = asyncio.get_running_loop().create_task(self.bulk(transport))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.remove(self)
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.hub.pause(self)
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.hub.resume(self)
        self.resumed.set()

    async def bulk(self, transport: WSTransport) -> None:
        assert self.messages is not None
        write = transport.underlying_transport.write
        for chunk in itertools.cycle(self.messages):
            write(chunk)
            if self.resumed.is_set():
                await asyncio.sleep(0)
            else:
                await self.resumed.wait()


async def run_picows(port: int, events: list[Any]) -> None:
    hub = _Hub()
    server = await ws_create_server(lambda _request: _Subscriber(hub, None), "127.0.0.1", port)
    print("ready", flush=True)
    import orjson

    dumps = orjson.dumps
    text = WSMsgType.TEXT
    resumed = hub.resumed
    for i, event in enumerate(itertools.cycle(events)):
        message = dumps(event)
        for transport in hub.transports:
            transport.send(text, message)
        if not resumed.is_set():
            await resumed.wait()
        elif i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
            if not hub.clients:
                hub.subscribed.clear()
                await hub.subscribed.wait()
    server.close()


def bulk_chunks(messages: list[bytes]) -> list[bytes]:
    """The messages as server frames, cut at frame boundaries into chunks of about ``CHUNK``."""
    chunks: list[bytes] = []
    start = 0
    while start < len(messages):
        end, size = start, 0
        while end < len(messages) and size < CHUNK:
            size += len(messages[end]) + 4
            end += 1
        chunks.append(ws_encode_frames(1, messages[start:end]))
        start = end
    return chunks


async def run_bulk(port: int, messages: list[bytes]) -> None:
    hub = _Hub()
    chunks = bulk_chunks(messages)
    server = await ws_create_server(lambda _request: _Subscriber(hub, chunks), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


def main() -> None:
    kind, port, path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    messages = load_messages(path)
    if kind == "broadcast":
        run_loop(run_broadcast(port, messages))
    elif kind == "picows":
        import orjson

        run_loop(run_picows(port, [orjson.loads(m) for m in messages]))
    elif kind == "bulk":
        run_loop(run_bulk(port, messages))
    else:
        raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main()
