"""The SDK against a ``/v1/stream`` server (SPEC §4) end to end over loopback: the same
``subscribe`` calls (and stream names), events, batches, bars, errors, reconnect with
resubscription, and gap accounting.

The server here is a small SPEC §4 server written with the ``websockets`` library; it writes
exactly the frames §4 specifies (compact, in the specified key order).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import fastfeed
import numpy as np
import pytest
from fastfeed import (
    Disconnected,
    EventEncoder,
    Gap,
    MaxStreamsError,
    Reconnected,
    Status,
    Stock,
    SubscriptionError,
    Trade,
)
from fastfeed.client.session import Subscription
from server_support import run
from websockets.asyncio.server import Server, ServerConnection, serve

LOOPS = pytest.mark.parametrize("loop_kind", ["uvloop", "asyncio"])
KNOWN = {"AAPL", "MSFT"}


class StreamServer:
    """A minimal SPEC §4 server: command replies, wrapped data for subscribed streams,
    ``@status`` with the connection's counters."""

    def __init__(self, max_streams: int = 3) -> None:
        self.max_streams = max_streams
        self.commands: list[dict[str, Any]] = []
        self.streams: dict[ServerConnection, list[str]] = {}
        self.sent: dict[ServerConnection, int] = {}
        self.encoder = EventEncoder()
        self.ids = {s: self.encoder.add_contract("STOCK", s) for s in sorted(KNOWN)}
        self.server: Server | None = None
        self.subscribed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/stream"

    async def __aenter__(self) -> StreamServer:
        self.server = await serve(self.handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handler(self, ws: ServerConnection) -> None:
        self.streams[ws] = []
        self.sent[ws] = 0
        try:
            async for message in ws:
                reply = self.command(ws, message)
                await ws.send(json.dumps(reply, separators=(",", ":")))
        finally:
            del self.streams[ws]

    def command(self, ws: ServerConnection, message: str | bytes) -> dict[str, Any]:
        try:
            cmd = json.loads(message)
        except ValueError:
            return {"error": {"code": "INVALID_JSON", "msg": "json: not JSON"}, "id": None}
        self.commands.append(cmd)
        req_id, method = cmd.get("id"), cmd.get("method")
        streams = self.streams[ws]
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(streams), "id": req_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {"error": {"code": "INVALID_METHOD", "msg": f"method: {method}"}, "id": req_id}
        params = cmd["params"]
        for i, name in enumerate(params):
            try:
                sub = Subscription.of(name)
            except ValueError as error:
                return {
                    "error": {"code": "INVALID_PARAM", "msg": f"params[{i}]: {error}"},
                    "id": req_id,
                }
            if sub.contract is not None and sub.contract.symbol not in KNOWN:
                msg = f"params[{i}]: unknown contract {sub.contract.symbol} (known: AAPL, MSFT)"
                return {"error": {"code": "INVALID_PARAM", "msg": msg}, "id": req_id}
        if method == "SUBSCRIBE":
            fresh = [p for p in params if p not in streams]
            if len(streams) + len(fresh) > self.max_streams:
                msg = f"params: more than {self.max_streams} streams"
                return {"error": {"code": "TOO_MANY_STREAMS", "msg": msg}, "id": req_id}
            streams.extend(fresh)
            self.subscribed.set()
        else:
            streams[:] = [s for s in streams if s not in params]
        return {"result": None, "id": req_id}

    async def trades(self, symbol: str, ms_of_day: list[int], prices: list[float]) -> None:
        """Sends TRADE events of ``symbol`` to every connection subscribed to them."""
        n = len(prices)
        lines = self.encoder.encode_trades(
            np.full(n, self.ids[symbol], dtype=np.uint32),
            np.array(ms_of_day, dtype=np.uint32),
            np.arange(n, dtype=np.int64),
            np.full(n, 10, dtype=np.uint32),
            np.zeros(n, dtype=np.uint32),
            np.array(prices),
            np.full(n, 4, dtype=np.uint32),
            np.full(n, 20250321, dtype=np.uint32),
            framing="jsonl",
        ).splitlines()
        name = f"stock.{symbol}@trade"
        for ws, streams in list(self.streams.items()):
            stream = next((s for s in streams if s in (name, "stock@full_trades")), None)
            if stream is None:
                continue
            for line in lines:
                await ws.send(f'{{"stream":"{stream}","data":{line.decode()}}}')
                self.sent[ws] += 1

    async def status(self, *, unsent: int = 0, dropped: int = 0) -> None:
        """``@status`` to every connection; ``unsent`` claims events it never wrote."""
        for ws in list(self.streams):
            await ws.send(
                '{"stream":"@status","data":{"header":{"type":"STATUS","status":"CONNECTED"},'
                f'"stats":{{"sent":{self.sent[ws] + unsent},"dropped":{dropped}}}}}}}'
            )

    async def drop_connections(self) -> None:
        for ws in list(self.streams):
            await ws.close(1011, "gone")


async def next_of(feed: fastfeed.Feed, kind: type[Any], timeout: float = 5) -> Any:
    async with asyncio.timeout(timeout):
        async for event in feed:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"feed ended before a {kind.__name__}")


@LOOPS
def test_stream_endpoint_subscribe_events_bars_and_errors(loop_kind: str) -> None:
    async def body() -> None:
        async with (
            StreamServer() as server,
            fastfeed.connect(server.url, heartbeat_timeout=30) as feed,
        ):
            assert feed.endpoint == "stream"
            await feed.subscribe("TRADE", Stock("AAPL"))
            await feed.subscribe("stock.MSFT@trade")
            assert server.commands == [
                {"method": "SUBSCRIBE", "params": ["stock.AAPL@trade"], "id": 1},
                {"method": "SUBSCRIBE", "params": ["stock.MSFT@trade"], "id": 2},
            ]
            with pytest.raises(SubscriptionError) as error:
                await feed.subscribe("stock.ZZZZ@trade")
            assert error.value.code == "INVALID_PARAM"
            assert str(error.value) == "params[0]: unknown contract ZZZZ (known: AAPL, MSFT)"
            assert error.value.req_id == 3
            await feed.subscribe("OHLC", Stock("AAPL"))
            with pytest.raises(MaxStreamsError) as too_many:
                await feed.subscribe("QUOTE", Stock("AAPL"))
            assert too_many.value.code == "TOO_MANY_STREAMS"
            assert await feed.list_subscriptions() == [
                "stock.AAPL@trade",
                "stock.MSFT@trade",
                "stock.AAPL@ohlc",
            ]
            await feed.unsubscribe("stock.AAPL@ohlc")
            assert [s.name for s in feed.subscriptions] == ["stock.AAPL@trade", "stock.MSFT@trade"]

            await server.trades("AAPL", [34_200_000, 34_200_500, 34_201_100], [10.0, 11.0, 9.5])
            await server.trades("MSFT", [34_200_000], [400.25])
            await server.status()
            events = []
            async with asyncio.timeout(5):
                async for event in feed:
                    events.append(event)
                    if isinstance(event, Status):
                        break
            trades = [e for e in events if isinstance(e, Trade)]
            assert [(t.contract, t.price) for t in trades] == [
                (Stock("AAPL"), 10.0),
                (Stock("AAPL"), 11.0),
                (Stock("AAPL"), 9.5),
                (Stock("MSFT"), 400.25),
            ]
            assert events[-1] == Status(sent=4, dropped=0, received=4)
            bars = feed.bars(Stock("AAPL"), "1s")
            assert bars[
                ["start_ms", "open", "high", "low", "close", "volume", "count"]
            ].tolist() == [(34_200_000, 10.0, 11.0, 10.0, 11.0, 20, 2)]
            # The columnar fast path.
            await server.trades("AAPL", [34_202_000], [12.0])
            async with asyncio.timeout(5):
                batch = await feed.next_batch()
            assert batch is not None and batch.trades["price"].tolist() == [12.0]
            assert feed.stats.received == 5 and feed.stats.gaps == 0
            await feed.stop()
            assert feed.subscriptions == []
            assert await feed.list_subscriptions() == []

    if loop_kind == "uvloop":
        run(body)
    else:
        asyncio.run(asyncio.wait_for(body(), 30))


def test_stream_endpoint_reconnects_resubscribes_and_reports_gaps() -> None:
    async def body() -> None:
        async with (
            StreamServer(max_streams=10) as server,
            fastfeed.connect(
                server.url, heartbeat_timeout=30, reconnect=fastfeed.Backoff(0.01, 0.05)
            ) as feed,
        ):
            await feed.subscribe("stock.AAPL@trade")
            await feed.subscribe("FULL_TRADES", sec_type="STOCK")
            await server.trades("AAPL", [34_200_000, 34_200_001], [10.0, 10.5])
            # Two events the server claims to have sent never came, and it dropped 3.
            await server.status(unsent=2, dropped=3)
            status = await next_of(feed, Status)
            assert status == Status(sent=4, dropped=3, received=2)
            gaps = [await next_of(feed, Gap), await next_of(feed, Gap)]
            assert gaps == [Gap(3, "server_dropped"), Gap(2, "missing")]
            assert (feed.stats.gaps, feed.stats.lost) == (2, 5)

            server.subscribed.clear()
            server.commands.clear()
            await server.drop_connections()
            disconnected = await next_of(feed, Disconnected)
            assert disconnected.code == 1011
            reconnected = await next_of(feed, Reconnected)
            assert reconnected.subscriptions == 2
            async with asyncio.timeout(5):
                while len(server.commands) < 2:
                    await asyncio.sleep(0.005)
            assert server.commands == [
                {"method": "SUBSCRIBE", "params": ["stock.AAPL@trade"], "id": 3},
                {"method": "SUBSCRIBE", "params": ["stock@full_trades"], "id": 4},
            ]
            # Data flows again; a new connection's counters start afresh (no false gap).
            await server.trades("MSFT", [34_200_100], [401.0])
            trade = await next_of(feed, Trade)
            assert (trade.contract, trade.price) == (Stock("MSFT"), 401.0)
            await server.status()
            assert await next_of(feed, Status) == Status(sent=1, dropped=0, received=1)
            assert feed.stats.reconnects == 1 and feed.stats.gaps == 2

    run(body)


def test_against_the_real_stream_endpoint() -> None:
    """The same SDK calls against ``fastfeed.server`` on ``/v1/stream`` (synthetic market)."""
    from fastfeed.server import SyntheticSource, SyntheticSpec
    from server_support import started

    async def body() -> None:
        source = SyntheticSource(SyntheticSpec(seed=1, rate=5000))
        async with started(source, status_interval=0.1, max_subscriptions=2) as server:
            stream_url = f"ws://127.0.0.1:{server.port}/v1/stream"
            async with fastfeed.connect(stream_url) as feed:
                assert feed.endpoint == "stream"
                await feed.subscribe("TRADE", Stock("AAPL"))
                # A name outside the §4 grammar is refused before anything is sent.
                with pytest.raises(ValueError, match=r"contract\.symbol"):
                    await feed.subscribe("stock.aapl@trade")
                # A contract outside the market's universe is the server's INVALID_PARAM.
                with pytest.raises(SubscriptionError) as error:
                    await feed.subscribe("stock.ZZZZ@trade")
                assert error.value.code == "INVALID_PARAM"
                assert str(error.value).startswith("params[0]")
                await feed.subscribe("stock.MSFT@trade")
                with pytest.raises(MaxStreamsError) as too_many:
                    await feed.subscribe("index.SPX@trade")
                assert too_many.value.code == "TOO_MANY_STREAMS"
                assert await feed.list_subscriptions() == ["stock.AAPL@trade", "stock.MSFT@trade"]
                seen: set[Any] = set()
                async with asyncio.timeout(10):
                    async for event in feed:
                        if isinstance(event, Trade):
                            seen.add(event.contract)
                        if isinstance(event, Status) and event.received and len(seen) == 2:
                            assert event.sent == event.received
                            break
                assert seen == {Stock("AAPL"), Stock("MSFT")}
                assert feed.stats.gaps == 0 and feed.stats.received > 0
                assert feed.contract_id(Stock("AAPL")) is not None
                await feed.unsubscribe("stock.MSFT@trade")
                assert await feed.list_subscriptions() == ["stock.AAPL@trade"]
                await feed.stop()
                assert await feed.list_subscriptions() == []

    run(body)
