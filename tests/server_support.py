"""Helpers for the server tests: a uvloop runner, a started server, a raw WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import uvloop
from fastfeed import WSClientHandshake, WSFrameDecoder, ws_encode_frames, ws_parse_close_payload
from fastfeed.server import Server, ServerConfig, Source
from websockets.asyncio.client import ClientConnection, connect

PATH = "/v1/events"


#: Raw clients of the running test body, closed when it ends (even when it fails, so a failed
#: test cannot leak a socket into the next one).
_raw_clients: list[RawClient] = []


#: Event loops the server is tested on: uvloop (what ``serve`` uses where it exists) and
#: asyncio's own (the fallback where uvloop does not exist).
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}
_loop = "uvloop"


@contextlib.contextmanager
def on_loop(name: str) -> Iterator[None]:
    """Runs the test bodies started inside on the event loop ``name`` (see :data:`LOOPS`)."""
    global _loop
    previous, _loop = _loop, name
    try:
        yield
    finally:
        _loop = previous


@pytest.fixture(params=sorted(LOOPS))
def each_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Runs a test on every loop of :data:`LOOPS`: ``pytestmark =
    pytest.mark.usefixtures("each_loop")`` in a module that imports it."""
    with on_loop(request.param):
        yield


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 30) -> None:
    """Runs one async test body, bounded by ``timeout``, on uvloop unless :func:`on_loop`
    says otherwise."""

    async def bounded() -> None:
        try:
            await asyncio.wait_for(coro_fn(), timeout)
        finally:
            while _raw_clients:
                await _raw_clients.pop().close()

    with asyncio.Runner(loop_factory=LOOPS[_loop]) as runner:
        runner.run(bounded())


@contextlib.asynccontextmanager
async def started(source: Source | None = None, **settings: Any) -> AsyncIterator[Server]:
    """A server on 127.0.0.1 with an ephemeral port (and fast heartbeats unless overridden)."""
    config = dataclasses.replace(ServerConfig(port=0), **settings)
    async with Server(config, source) as server:
        yield server


def url(server: Server, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}{PATH}{query}"


async def client(server: Server, **kwargs: Any) -> ClientConnection:
    return await connect(url(server), open_timeout=5, **kwargs)


async def command(
    ws: ClientConnection, cmd: dict[str, Any] | str, before: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Sends a command and returns its reply (the next REQ_RESPONSE), parsed. Data events of
    earlier subscriptions may arrive first (the server does not hold them back for a reply):
    they go to ``before`` when given; STATUS messages are skipped."""
    await ws.send(cmd if isinstance(cmd, str) else json.dumps(cmd))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        kind = reply["header"]["type"]
        if kind == "REQ_RESPONSE":
            return dict(reply)
        if kind != "STATUS" and before is not None:
            before.append(reply)


def ack(req_id: int | None, response: str, message: str | None = None) -> dict[str, Any]:
    header: dict[str, Any] = {
        "type": "REQ_RESPONSE",
        "status": "CONNECTED",
        "response": response,
        "req_id": req_id,
    }
    if message is not None:
        header["message"] = message
    return {"header": header}


async def assert_served(server: Server) -> None:
    """A fresh client gets its commands answered."""
    async with await client(server) as ws:
        assert await command(ws, {"msg_type": "STOP", "id": 77}) == ack(77, "OK")


def trade_frames(first_sequence: int, count: int) -> bytes:
    """``count`` TRADE events as server frames (test-only encoding with json)."""
    payloads = [
        json.dumps(
            {
                "header": {"type": "TRADE", "status": "CONNECTED"},
                "contract": {"security_type": "STOCK", "symbol": "AAPL"},
                "trade": {
                    "ms_of_day": 34_200_000 + seq,
                    "sequence": seq,
                    "size": 1,
                    "condition": 0,
                    "price": 190.25,
                    "exchange": 5,
                    "date": 20250321,
                },
            },
            separators=(",", ":"),
        ).encode()
        for seq in range(first_sequence, first_sequence + count)
    ]
    return ws_encode_frames(1, payloads)


class RawClient:
    """A WebSocket client over a plain socket, so tests can send illegal frames and can
    refuse to read or to answer pings."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = WSFrameDecoder("client")

    @classmethod
    async def connect(
        cls,
        port: int,
        host_header: str = "127.0.0.1",
        path: str = PATH,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> tuple[RawClient, int]:
        """Opens a connection and sends the handshake; returns the client and HTTP status."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        handshake = WSClientHandshake(host_header, port, path, os.urandom(16), list(headers))
        writer.write(handshake.request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status = int(head.split(b" ", 2)[1])
        raw = cls(reader, writer)
        _raw_clients.append(raw)
        if status == 101:
            assert handshake.feed(head) == b""
        return raw, status

    def send_frame(
        self, opcode: int, payload: bytes, *, masked: bool = True, b0_or: int = 0
    ) -> None:
        frame = bytearray(ws_encode_frames(opcode, [payload], os.urandom(4) if masked else None))
        frame[0] |= b0_or
        self.writer.write(bytes(frame))

    async def read_until_close(
        self, timeout: float = 5
    ) -> tuple[list[tuple[int, bytes]], int | None, str]:
        """Every message until the server's Close: ``(messages, close code, reason)``."""
        messages: list[tuple[int, bytes]] = []
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise AssertionError("connection ended without a Close frame")
                for opcode, payload in self.decoder.feed(data):
                    if opcode == 8:
                        code, reason = ws_parse_close_payload(payload)
                        return messages, code, reason
                    messages.append((opcode, payload))

    async def read_until(
        self, done: Callable[[list[tuple[int, bytes]]], bool], timeout: float = 10
    ) -> list[tuple[int, bytes]]:
        """Every message until ``done(messages)`` holds; fails after ``timeout`` seconds."""
        messages: list[tuple[int, bytes]] = []
        async with asyncio.timeout(timeout):
            while not done(messages):
                data = await self.reader.read(65536)
                if not data:
                    raise AssertionError("connection ended before the expected messages")
                messages.extend(self.decoder.feed(data))
        return messages

    async def read_until_quiet(self, quiet: float = 0.3) -> list[tuple[int, bytes]]:
        """Every message until nothing arrived for ``quiet`` seconds (or the connection ended)."""
        messages: list[tuple[int, bytes]] = []
        while True:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), quiet)
            except (TimeoutError, ConnectionError):
                return messages
            if not data:
                return messages
            messages.extend(self.decoder.feed(data))

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            self.writer.close()
            await self.writer.wait_closed()
