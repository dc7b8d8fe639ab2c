"""Echo adapters over each inbound WebSocket path, for Autobahn|Testsuite (tests/test_autobahn.py).

    python tests/autobahn_echo.py decoder-server --cap N      # prints the port, serves until killed
    python tests/autobahn_echo.py server --cap N              # the same over the real server
    python tests/autobahn_echo.py decoder-client --cap N --url ws://127.0.0.1:PORT --agent NAME

* ``decoder-server``: the Rust frame decoder (``WSFrameDecoder``, server role) behind a minimal
  asyncio upgrade (``ws_accept_key``).
* ``decoder-client``: the Rust client handshake and frame decoder (client role) against
  ``wstest -m fuzzingserver``: every case in turn, then the report update.
* ``server``: the product server (its handshake, :mod:`fastfeed.server.upgrade`, and
  :class:`~fastfeed.server.connection.Connection` with its decoder, binary accepted here),
  whose ``/v1/stream`` connections echo instead of reading commands. The echo exists only
  here, not in the product.

Echo: text and binary messages go back unchanged, a ping gets a pong, a Close is answered with
the same code (or an empty Close), a protocol violation closes with its code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from urllib.parse import urlsplit

import uvloop
from fastfeed import (
    ProtocolError,
    WSClientHandshake,
    WSFrameDecoder,
    ws_accept_key,
    ws_close_payload,
    ws_encode_frames,
)
from fastfeed.server import Server, ServerConfig
from fastfeed.server.connection import Connection
from fastfeed.server.stream_endpoint import StreamConnection, StreamEndpoint

_TEXT, _BINARY, _CLOSE, _PING, _PONG = 1, 2, 8, 9, 10


def _replies(messages: list[tuple[int, bytes]], mask: bool) -> tuple[list[bytes], bool]:
    """The frames answering ``messages``, and whether a Close was among them (the last)."""
    out = []
    for opcode, payload in messages:
        key = os.urandom(4) if mask else None
        if opcode in (_TEXT, _BINARY):
            out.append(ws_encode_frames(opcode, [payload], key))
        elif opcode == _PING:
            out.append(ws_encode_frames(_PONG, [payload], key))
        elif opcode == _CLOSE:
            out.append(ws_encode_frames(_CLOSE, [payload[:2]], key))
            return out, True
    return out, False


def _error_close(error: ProtocolError, mask: bool) -> bytes:
    return ws_encode_frames(
        _CLOSE, [ws_close_payload(error.close_code)], os.urandom(4) if mask else None
    )


async def _close_after_peer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
) -> None:
    """Reads (discarding) until the server closes, or nothing came for ``timeout`` s."""
    try:
        while await asyncio.wait_for(reader.read(1 << 16), timeout):
            pass
    except (TimeoutError, ConnectionError):
        pass
    writer.close()


async def _echo_frames(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    decoder: WSFrameDecoder,
    first: bytes,
    mask: bool,
) -> None:
    """Echoes until a Close (either side's) or EOF, then waits for the peer to close."""
    data = first
    while True:
        try:
            frames, closed = _replies(decoder.feed(data), mask)
        except ProtocolError as error:
            frames, _ = _replies(error.messages, mask)
            frames.append(_error_close(error, mask))
            closed = True
        writer.write(b"".join(frames))
        if closed:
            break
        data = await reader.read(1 << 16)
        if not data:
            break
    await writer.drain()
    if not mask and writer.can_write_eof():
        # The server closes the TCP connection first (RFC 6455 §7.1.1), but half-closes and
        # reads on: closing with unread input (the rest of an oversize message) would reset
        # the connection and the peer could lose the Close frame.
        writer.write_eof()
    await _close_after_peer(reader, writer, 5)


async def _serve_decoder(cap: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (
                line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:] if line
            )
        )
        accept = ws_accept_key(headers.get("sec-websocket-key", ""))
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        decoder = WSFrameDecoder("server", max_message_size=cap)
        try:
            await _echo_frames(reader, writer, decoder, b"", mask=False)
        except ConnectionError:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def _open(url: str, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    handshake = WSClientHandshake(host, port, path, os.urandom(16))
    writer.write(handshake.request)
    while True:
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError("closed during the handshake")
        rest = handshake.feed(data)
        if rest is not None:
            return reader, writer, rest


async def _run_client(url: str, agent: str, cap: int) -> None:
    reader, writer, rest = await _open(url, "/getCaseCount")
    decoder = WSFrameDecoder("client")
    messages = decoder.feed(rest)
    while not any(opcode == _TEXT for opcode, _ in messages):
        messages += decoder.feed(await reader.read(1 << 16))
    count = int(next(payload for opcode, payload in messages if opcode == _TEXT))
    writer.close()
    for case in range(1, count + 1):
        try:
            reader, writer, rest = await _open(url, f"/runCase?case={case}&agent={agent}")
            decoder = WSFrameDecoder("client", max_message_size=cap)
            await asyncio.wait_for(_echo_frames(reader, writer, decoder, rest, mask=True), 60)
        except (ConnectionError, TimeoutError) as error:
            print(f"case {case}: {error!r}", file=sys.stderr)
    reader, writer, _ = await _open(url, f"/updateReports?agent={agent}")
    writer.write(ws_encode_frames(_CLOSE, [ws_close_payload(1000)], os.urandom(4)))
    await _close_after_peer(reader, writer, 10)


async def _serve_server(cap: int) -> None:
    class EchoConnection(StreamConnection):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            self._decoder = WSFrameDecoder("server", max_message_size=cap, reject_binary=False)

        def _on_message(self, opcode: int, payload: bytes) -> None:
            if opcode in (_TEXT, _BINARY):
                if self._raw is not None and not self.closing:
                    self._raw.write(ws_encode_frames(opcode, [payload]))
                return
            super()._on_message(opcode, payload)

    class EchoEndpoint(StreamEndpoint):
        def connection(self) -> Connection:  # type: ignore[override]
            return EchoConnection(self._hub, self._config, self)

    hour = 3600.0
    config = ServerConfig(
        port=0,
        max_message_size=cap,
        max_pending_bytes=64 << 20,
        status_interval=hour,
        ping_interval=hour,
        pong_timeout=hour,
    )
    async with Server(config) as server:
        server.endpoints[StreamEndpoint.path] = EchoEndpoint(server.hub, config)
        print(server.port, flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["decoder-server", "decoder-client", "server"])
    parser.add_argument("--cap", type=int, default=16 << 20, help="max message size (bytes)")
    parser.add_argument("--url", help="the fuzzingserver's ws:// URL (decoder-client)")
    parser.add_argument("--agent", default="fastfeed-decoder-client")
    args = parser.parse_args()
    if args.mode == "decoder-server":
        asyncio.run(_serve_decoder(args.cap))
    elif args.mode == "server":
        uvloop.run(_serve_server(args.cap))
    else:
        asyncio.run(_run_client(args.url, args.agent, args.cap))


if __name__ == "__main__":
    main()
