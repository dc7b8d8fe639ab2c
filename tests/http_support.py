"""A scripted HTTP streaming server for the HTTP source tests: real aiohttp.web on 127.0.0.1,
in the test's event loop, answering each request with the next scripted response."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

#: One scripted response: gets the request and the upstream (for its ``closing`` event).
Script = Callable[[web.Request, "Upstream"], Awaitable[web.StreamResponse]]

CONTENT_TYPE = "application/vnd.tradestation.streams.v3+json"

END_SNAPSHOT = b'{"StreamStatus":"EndSnapshot"}'
GO_AWAY = b'{"StreamStatus":"GoAway"}'


def error(text: str, message: str | None = None) -> bytes:
    obj: dict[str, str] = {"Error": text}
    if message is not None:
        obj["Message"] = message
    return json.dumps(obj).encode()


@dataclass(frozen=True, slots=True)
class Seen:
    """A request the upstream received: when (loop time) and its headers."""

    at: float
    headers: dict[str, str]


def stream(
    *pieces: bytes,
    end: str = "hang",
    wait: asyncio.Event | None = None,
    pause: float = 0.0,
) -> Script:
    """A 200 chunked response: each piece is one HTTP chunk (written, then the loop runs so the
    client can read it alone). After the pieces, ``end="hang"`` keeps the response open with
    nothing more (until the upstream closes), ``"close"`` ends the body. ``wait``: the pieces
    go out only once it is set; ``pause``: seconds between pieces."""

    async def respond(request: web.Request, upstream: Upstream) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if wait is not None:
            await wait.wait()
        for piece in pieces:
            if piece:
                await response.write(piece)
            await asyncio.sleep(pause)
        if end == "hang":
            await upstream.closing.wait()
        else:
            await response.write_eof()
        return response

    return respond


def status(code: int, body: bytes = b"") -> Script:
    """A plain error response."""

    async def respond(request: web.Request, upstream: Upstream) -> web.StreamResponse:
        return web.Response(status=code, body=body)

    return respond


class Upstream:
    """``async with Upstream(script, …) as up``: serves ``up.url``; request ``i`` gets
    ``scripts[i]`` (the last one again for later requests); :attr:`requests` records them."""

    def __init__(
        self, *scripts: Script, path: str = "/stream", tls: ssl.SSLContext | None = None
    ) -> None:
        self.scripts = list(scripts)
        self.path = path
        self.tls = tls
        self.requests: list[Seen] = []
        self.closing = asyncio.Event()
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closing.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        index = len(self.requests)
        self.requests.append(Seen(loop.time(), dict(request.headers)))
        self._arrived.set()
        script = self.scripts[min(index, len(self.scripts) - 1)]
        return await script(request, self)

    async def wait_requests(self, n: int, timeout: float = 5) -> list[Seen]:
        """Returns once ``n`` requests arrived."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests


async def wait_for(condition: Callable[[], Any], timeout: float = 5) -> None:
    """Polls ``condition`` until it is true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)
