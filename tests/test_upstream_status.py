"""A source's upstream state reaches every client (SPEC §5, §8): while the upstream is down
every STATUS header says ``"status": "DISCONNECTED"`` and the SDK reports ``UpstreamDown`` /
``UpstreamUp``; the end of an upstream's snapshot is a STATUS marked
``"stream_status": "EndSnapshot"`` that follows the data before it (``EndOfSnapshot``).

The server runs a source that does nothing by itself; the test drives its hub as a relay or an
HTTP source would, and real clients on both endpoints watch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import fastfeed
import pytest
from fastfeed._core import SourceBatch
from fastfeed.server import Server
from fastfeed.server.hub import Hub
from websockets.asyncio.client import connect

from tests.replay_support import trade_lines
from tests.server_support import run, started


class IdleSource:
    """A source whose events the test publishes through the hub by hand."""

    async def run(self, hub: Hub) -> None:
        await asyncio.Event().wait()


def publish(server: Server, first_ms: int, n: int) -> None:
    lines = trade_lines(["AAPL"] * n, list(range(first_ms, first_ms + n)), [10.0] * n, [1] * n)
    batch = SourceBatch()
    assert batch.add_json_lines(server.hub.core, b"\n".join(lines)) == []
    server.hub.publish(batch)


def without_status(events: list[Any]) -> list[Any]:
    return [e for e in events if not isinstance(e, fastfeed.Status)]


async def read_until(feed: fastfeed.Feed, done: type, timeout: float = 5) -> list[Any]:
    seen: list[Any] = []
    async with asyncio.timeout(timeout):
        async for event in feed:
            seen.append(event)
            if isinstance(event, done):
                return seen
    raise AssertionError(f"feed ended before {done.__name__}: {seen}")


@pytest.mark.parametrize("path", ["/v1/events", "/v1/stream"])
def test_the_sdk_reports_the_upstream_going_down_and_up_and_the_end_of_a_snapshot(
    path: str,
) -> None:
    async def body() -> None:
        async with started(IdleSource(), status_interval=0.05, ohlcvc=False) as server:
            url = f"ws://127.0.0.1:{server.port}{path}"
            async with fastfeed.connect(url, reconnect=False) as feed:
                await feed.subscribe("TRADE", fastfeed.Stock("AAPL"))
                publish(server, 1000, 3)
                server.hub.set_upstream(False)
                server.hub.set_upstream(False)  # no change: no second notice
                down = await read_until(feed, fastfeed.UpstreamDown)
                publish(server, 2000, 2)  # a source may still publish (e.g. a cached snapshot)
                server.hub.set_upstream(True)
                up = await read_until(feed, fastfeed.UpstreamUp)
                publish(server, 3000, 1)
                server.hub.notice_end_of_snapshot()
                publish(server, 4000, 1)
                snapshot = await read_until(feed, fastfeed.EndOfSnapshot)
                after = await read_until(feed, fastfeed.Trade)
                assert feed.stats.gaps == 0

        events = without_status(down + up + snapshot + after)
        kinds = [type(e).__name__ for e in events]
        assert kinds == [
            *["Trade"] * 3,
            "UpstreamDown",
            *["Trade"] * 2,
            "UpstreamUp",
            "Trade",
            "EndOfSnapshot",
            "Trade",
        ]
        ms = [e.ms_of_day for e in events if isinstance(e, fastfeed.Trade)]
        assert ms == [1000, 1001, 1002, 2000, 2001, 3000, 4000]
        went_down = next(e for e in events if isinstance(e, fastfeed.UpstreamDown))
        came_up = next(e for e in events if isinstance(e, fastfeed.UpstreamUp))
        assert came_up.down_at == went_down.at <= came_up.up_at
        assert came_up.outage >= 0

    run(body)


def test_status_headers_say_disconnected_while_the_upstream_is_down() -> None:
    """What a client written for the original terminal sees: the STATUS header, at once on
    each change and on every heartbeat meanwhile; the snapshot mark once."""

    async def headers(ws: Any, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < n:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["header"]["type"] == "STATUS":
                out.append(message["header"])
        return out

    async def body() -> None:
        async with (
            started(IdleSource(), status_interval=0.05) as server,
            connect(f"ws://127.0.0.1:{server.port}/v1/events") as ws,
        ):
            assert await headers(ws, 1) == [{"type": "STATUS", "status": "CONNECTED"}]
            server.hub.set_upstream(False)
            assert await headers(ws, 3) == [{"type": "STATUS", "status": "DISCONNECTED"}] * 3
            server.hub.set_upstream(True)
            server.hub.notice_end_of_snapshot()
            seen = await headers(ws, 3)
            marked = {"type": "STATUS", "status": "CONNECTED", "stream_status": "EndSnapshot"}
            assert seen.count(marked) == 1
            assert [h for h in seen if h != marked] == [
                {"type": "STATUS", "status": "CONNECTED"}
            ] * 2

    run(body)
