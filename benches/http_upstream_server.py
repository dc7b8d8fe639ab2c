"""The upstream of the HTTP ingest benchmark, in its own process: every ``GET`` gets the same
body (a file read once) as an HTTP/1.1 chunked response, ``--chunk`` bytes per HTTP chunk,
then the last chunk. The whole response is framed once, up front, and written with one
``transport.write`` per request, so the upstream costs next to no CPU on the shared machine and
the benchmark measures the clients.

    python benches/http_upstream_server.py --port 8080 --file events.jsonl [--chunk 65536]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import cast

import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/vnd.tradestation.streams.v3+json\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)


def frame(body: bytes, chunk: int) -> bytes:
    """``body`` as a chunked HTTP/1.1 response."""
    parts = [HEAD]
    for i in range(0, len(body), chunk):
        piece = body[i : i + chunk]
        parts += [b"%x\r\n" % len(piece), piece, b"\r\n"]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class Upstream(asyncio.Protocol):
    """Answers each request head (up to the blank line) with the framed response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            _, self.pending = self.pending.split(b"\r\n\r\n", 1)
            assert self.transport is not None
            self.transport.write(self.response)


async def serve(port: int, response: bytes) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Upstream(response), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    args = parser.parse_args()
    uvloop.run(serve(args.port, frame(args.file.read_bytes(), args.chunk)))


if __name__ == "__main__":
    main()
