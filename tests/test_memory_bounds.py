"""Memory stays bounded whatever a client does (SPEC §3.4, §10): clients that flood pings and
never read, one after another, leave the server process's RSS within the pending budget plus
32 MiB, and the server goes on serving. The server runs as a real process; RSS is read from
``/proc``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from fastfeed import WSClientHandshake, ws_encode_frames
from server_support import run
from websockets.asyncio.client import connect

BUDGET = 8 * 1024 * 1024
MIB = 1024 * 1024
#: About 1 MB of masked client pings with the largest payload a control frame may carry.
PINGS = ws_encode_frames(9, [b"p" * 125] * 8000, os.urandom(4))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fastfeed", "serve", "--port", str(port), "--rate", "20000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "server not listening"
            time.sleep(0.05)
    yield process, port
    process.terminate()
    process.wait(30)


def rss(process: subprocess.Popen[bytes]) -> int:
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def flood(port: int, path: str, megabytes: int, seconds: float) -> tuple[socket.socket, int]:
    """Connects, then sends up to ``megabytes`` of pings for at most ``seconds`` without ever
    reading; returns the socket (left open) and the bytes it managed to send."""
    sock = socket.create_connection(("127.0.0.1", port))
    handshake = WSClientHandshake("127.0.0.1", port, path, os.urandom(16), [])
    sock.sendall(handshake.request)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.settimeout(0.25)
    sent = 0
    deadline = time.monotonic() + seconds
    while sent < megabytes * MIB and time.monotonic() < deadline:
        try:
            sock.sendall(PINGS)
        except TimeoutError:
            continue  # the server stopped reading us: our own socket is full
        except OSError:
            break  # dropped by the server
        sent += len(PINGS)
    return sock, sent


async def served(port: int, path: str) -> None:
    """A fresh client subscribes and receives data."""
    url = f"ws://127.0.0.1:{port}{path}"
    async with connect(url, open_timeout=5, max_size=None) as ws:
        if path == "/v1/stream":
            await ws.send(
                json.dumps({"method": "SUBSCRIBE", "params": ["stock.SPY@quote"], "id": 1})
            )
        else:
            await ws.send(
                json.dumps(
                    {"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "QUOTE", "add": True,
                     "id": 1, "contract": {"symbol": "SPY"}}
                )
            )  # fmt: skip
        data = 0
        async with asyncio.timeout(10):
            while data < 20:
                message = await ws.recv()
                if b"QUOTE" in (message if isinstance(message, bytes) else message.encode()):
                    data += 1


def test_ping_floods_taking_over_one_after_another_keep_rss_bounded(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    run(lambda: served(port, "/v1/events"))
    before = rss(process)
    most = before
    sockets = []
    for _ in range(5):
        sock, sent = flood(port, "/v1/events", 200, 3.0)
        sockets.append(sock)
        assert sent > 0
        most = max(most, rss(process))
    time.sleep(0.5)
    most = max(most, rss(process))
    assert most - before <= BUDGET + 32 * MIB, (before / MIB, most / MIB)
    run(lambda: served(port, "/v1/events"))
    for sock in sockets:
        sock.close()


def test_ping_floods_on_the_stream_endpoint_keep_rss_bounded(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    run(lambda: served(port, "/v1/stream"))
    before = rss(process)
    sock, sent = flood(port, "/v1/stream", 200, 3.0)
    assert sent > 0
    # Another client is served while the flooder is still connected.
    run(lambda: served(port, "/v1/stream"))
    assert rss(process) - before <= BUDGET + 32 * MIB
    sock.close()
