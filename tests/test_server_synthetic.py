"""The server on its default source, the synthetic market, driven over loopback by an
independent client (the ``websockets`` library): routing, OHLC, STATUS, pacing, embedded bars."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastfeed import BarBook, ConfigError, aggregate_trades, parse_command
from fastfeed._core import Hub, StreamCommand
from fastfeed.server import SyntheticSource, SyntheticSpec
from fastfeed.server.synthetic import chain_expirations, new_york_time, next_expirations
from server_support import RawClient, ack, assert_served, client, command, run, started
from websockets.asyncio.client import ClientConnection


def stream(
    req_type: str,
    req_id: int,
    contract: dict[str, Any] | None = None,
    *,
    sec: str = "STOCK",
    add: bool = True,
) -> dict[str, Any]:
    cmd: dict[str, Any] = {
        "msg_type": "STREAM",
        "sec_type": sec,
        "req_type": req_type,
        "add": add,
        "id": req_id,
    }
    if contract is not None:
        cmd["contract"] = contract
    return cmd


AAPL = {"symbol": "AAPL"}


async def collect(
    ws: ClientConnection,
    seconds: float,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Every message received for ``seconds`` (or until ``until(messages)``), parsed."""
    messages: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
        if until is not None and until(messages):
            break
    return messages


def kind(message: dict[str, Any]) -> str:
    return str(message["header"]["type"])


def data(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if kind(m) not in ("STATUS", "REQ_RESPONSE")]


def fast_source(**spec: Any) -> SyntheticSource:
    return SyntheticSource(SyntheticSpec(**{"rate": 20_000.0, **spec}))


def test_only_subscribed_events_and_ohlc_after_each_trade() -> None:
    async def body() -> None:
        async with started(fast_source()) as server, await client(server) as ws:
            assert await command(ws, stream("TRADE", 1, AAPL)) == ack(1, "OK")
            first: list[dict[str, Any]] = []  # AAPL trades may arrive before the second reply
            assert await command(ws, stream("QUOTE", 2, AAPL), first) == ack(2, "OK")
            events = data(first + await collect(ws, 1.5))
            assert {kind(e) for e in events} == {"TRADE", "QUOTE", "OHLC"}
            assert all(
                e["contract"] == {"security_type": "STOCK", "symbol": "AAPL"} for e in events
            )
            previous: dict[str, Any] | None = None
            trades = 0
            for i, event in enumerate(events):
                if kind(event) == "QUOTE":
                    quote = event["quote"]
                    assert 0 < quote["bid"] < quote["ask"]
                if kind(event) == "TRADE":
                    trades += 1
                    trade = event["trade"]
                    ohlc = events[i + 1]["ohlc"] if i + 1 < len(events) else None
                    if ohlc is None:
                        break
                    assert kind(events[i + 1]) == "OHLC"
                    assert ohlc["close"] == trade["price"]
                    assert ohlc["ms_of_day"] == trade["ms_of_day"]
                    assert ohlc["date"] == trade["date"]
                    assert ohlc["low"] <= trade["price"] <= ohlc["high"]
                    assert ohlc["low"] <= ohlc["open"] <= ohlc["high"]
                    if previous is not None:
                        assert ohlc["count"] == previous["count"] + 1
                        assert ohlc["volume"] == previous["volume"] + trade["size"]
                        assert ohlc["high"] == max(previous["high"], trade["price"])
                        assert ohlc["low"] == min(previous["low"], trade["price"])
                        assert ohlc["open"] == previous["open"]
                    previous = ohlc
                elif kind(event) == "OHLC":
                    assert kind(events[i - 1]) == "TRADE"
            assert trades > 50
            # The server's own session bar (embedded view) is the last OHLC sent or newer.
            assert previous is not None
            session = server.bars.session(server.contract_id("STOCK", "AAPL"))
            assert session is not None
            assert session.count >= previous["count"]

    run(body)


def test_status_sent_is_exact_and_unsubscribe_stops_the_stream() -> None:
    async def body() -> None:
        async with (
            started(fast_source(), status_interval=0.1) as server,
            await client(server) as ws,
        ):
            assert await command(ws, stream("QUOTE", 1, {"symbol": "MSFT"})) == ack(1, "OK")
            received = statuses = 0
            while statuses < 5:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if kind(message) == "STATUS":
                    statuses += 1
                    assert message["stats"] == {"sent": received, "dropped": 0}
                else:
                    assert kind(message) == "QUOTE"
                    received += 1
            assert received > 100
            await ws.send(json.dumps(stream("QUOTE", 2, {"symbol": "MSFT"}, add=False)))

            # Three STATUS messages after the acknowledgement, however busy the machine: the
            # interval is a pacing, not a guarantee about wall time under load.
            def three_statuses_after_ack(messages: list[dict[str, Any]]) -> bool:
                kinds = [kind(m) for m in messages]
                if "REQ_RESPONSE" not in kinds:
                    return False
                return kinds[kinds.index("REQ_RESPONSE") :].count("STATUS") >= 3

            after = await collect(ws, 10, until=three_statuses_after_ack)
            acked = next(i for i, m in enumerate(after) if kind(m) == "REQ_RESPONSE")
            assert after[acked] == ack(2, "OK")
            assert data(after[acked + 1 :]) == []
            sent = [m["stats"]["sent"] for m in after[acked + 1 :] if kind(m) == "STATUS"]
            assert len(sent) >= 3 and len(set(sent)) == 1

    run(body)


def test_ohlc_only_subscription_and_full_streams() -> None:
    async def body() -> None:
        async with started(fast_source()) as server, await client(server) as ws:
            assert await command(ws, stream("OHLC", 1, {"symbol": "TSLA"})) == ack(1, "OK")
            assert await command(ws, stream("FULL_TRADES", 2, sec="OPTION")) == ack(2, "OK")
            assert await command(ws, stream("FULL_OPEN_INTEREST", 3, sec="OPTION")) == ack(3, "OK")
            events = data(await collect(ws, 2.0))
            by_kind: dict[tuple[str, str], int] = {}
            for e in events:
                key = (kind(e), e["contract"]["security_type"])
                by_kind[key] = by_kind.get(key, 0) + 1
                if e["contract"]["security_type"] == "STOCK":
                    assert kind(e) == "OHLC" and e["contract"]["symbol"] == "TSLA"
                else:
                    assert e["contract"]["symbol"] == "SPY"
                    assert set(e["contract"]) == {
                        "security_type",
                        "symbol",
                        "expiration",
                        "strike",
                        "right",
                    }
            assert set(by_kind) == {
                ("OHLC", "STOCK"),
                ("TRADE", "OPTION"),
                ("OHLC", "OPTION"),
                ("OPEN_INTEREST", "OPTION"),
            }
            # Each option trade is followed by its contract's OHLC (the window may end between).
            for i, e in enumerate(events[:-1]):
                if kind(e) == "TRADE":
                    assert kind(events[i + 1]) == "OHLC"
                    assert events[i + 1]["contract"] == e["contract"]

    run(body)


def test_no_ohlcvc_sends_trades_without_ohlc() -> None:
    async def body() -> None:
        async with started(fast_source(), ohlcvc=False) as server, await client(server) as ws:
            assert await command(ws, stream("TRADE", 1, AAPL)) == ack(1, "OK")
            assert await command(ws, stream("OHLC", 2, {"symbol": "SPY"})) == ack(2, "OK")
            events = data(await collect(ws, 1.5))
            assert len(events) > 20
            assert {kind(e) for e in events} == {"TRADE"}
            assert {e["contract"]["symbol"] for e in events} == {"AAPL"}

    run(body)


def test_takeover_starts_the_new_client_with_no_subscriptions() -> None:
    async def body() -> None:
        async with started(fast_source()) as server:
            first = await client(server)
            assert await command(first, stream("QUOTE", 1, AAPL)) == ack(1, "OK")
            assert data(await collect(first, 0.3))
            async with await client(server) as second:
                assert data(await collect(second, 0.5)) == []
                assert await command(second, stream("TRADE", 5, AAPL)) == ack(5, "OK")
                events = data(await collect(second, 1.0))
                assert events and {kind(e) for e in events} <= {"TRADE", "OHLC"}
            await first.close()
            await assert_served(server)

    run(body)


def test_rate_is_kept() -> None:
    async def body() -> None:
        source = fast_source(rate=3000.0)
        async with started(source) as server:
            await asyncio.sleep(0.2)
            before = source.drawn
            await asyncio.sleep(2.0)
            drawn = source.drawn - before
            assert 0.85 * 6000 <= drawn <= 1.15 * 6000, drawn
            assert server.bars.contracts  # the market trades with nobody connected

    run(body)


def test_rate_max_streams_fast_and_heartbeats_and_acks_do_not_wait() -> None:
    async def body() -> None:
        source = SyntheticSource(SyntheticSpec(rate=None))
        # A small receive buffer on the client, so that what may lie between the server's
        # queue and this client is bounded: its own 64 KiB, the server's kernel send buffer
        # and transport buffer (128 KiB each, x2 for the kernel's bookkeeping) and one batch.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        async with started(source, status_interval=0.2) as server:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            async with await client(server, max_size=None, sock=sock) as ws:
                await _stream_while_asking(ws)

    async def _stream_while_asking(ws: ClientConnection) -> None:
        assert await command(ws, stream("FULL_TRADES", 1, sec="STOCK")) == ack(1, "OK")
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        received = 0
        status_count = 0
        # Data messages received between asking and getting each answer.
        behind: dict[int, int] = {}
        asked: dict[int, int] = {}

        async def ask(cmd: dict[str, Any]) -> None:
            asked[cmd["id"]] = received
            await ws.send(json.dumps(cmd))

        # While data streams at full speed, a command is answered ahead of the server's queue.
        await ask(stream("FULL_TRADES", 2, sec="OPTION"))
        while len(behind) < 5 or loop.time() - started_at < 2.0:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if kind(message) == "STATUS":
                status_count += 1
                # Written straight to the transport, never behind queued data: it reports
                # exactly the data messages that came before it.
                assert message["stats"] == {"sent": received, "dropped": 0}
            elif kind(message) == "REQ_RESPONSE":
                req_id = message["header"]["req_id"]
                assert message == ack(req_id, "OK")
                behind[req_id] = received - asked[req_id]
                if req_id < 6:
                    await ask(stream("QUOTE", req_id + 1, AAPL))
            else:
                received += 1
        assert set(behind) == {2, 3, 4, 5, 6}
        # At most the buffers above (about 700 KB, ~220 bytes a message) lie before an answer:
        # never the server's queue.
        assert max(behind.values()) < 3500, behind
        # How fast it streams is the machine's, measured beside baselines in
        # benches/bench_egress.py; here: it streamed all along, ahead of every answer.
        assert received > max(behind.values())
        assert status_count >= 3

    run(body, timeout=30)


def test_server_bars_match_aggregate_trades_over_the_trades_sent() -> None:
    async def body() -> None:
        async with started(fast_source(rate=20_000.0)) as server, await client(server) as ws:
            assert await command(ws, stream("TRADE", 1, {"symbol": "SPY"})) == ack(1, "OK")
            events = data(await collect(ws, 3.2))
            trades = [e["trade"] for e in events if kind(e) == "TRADE"]
            assert len(trades) > 200
            result = aggregate_trades(
                [t["date"] for t in trades],
                [t["ms_of_day"] for t in trades],
                [t["price"] for t in trades],
                [t["size"] for t in trades],
                1000,
            )
            ring = server.bars.ring(server.contract_id("STOCK", "SPY"), 1000)
            assert not ring.flags.writeable
            # The first received bucket may hold trades from before the subscription; the last
            # may hold only some of its trades (the server went on after the client stopped
            # reading), and the server has closed every bucket before it. Compare the buckets
            # in between, field by field.
            first_start, last_start = result["start_ms"][0], result["start_ms"][-1]
            closed = ring[(ring["start_ms"] > first_start) & (ring["start_ms"] < last_start)]
            middle = (result["start_ms"] > first_start) & (result["start_ms"] < last_start)
            assert middle.sum() >= 2
            for field in ("start_ms", "open", "high", "low", "close", "volume", "count"):
                np.testing.assert_array_equal(closed[field], result[field][middle], err_msg=field)

    run(body)


def test_same_seed_same_market() -> None:
    def draw(seed: int) -> bytes:
        hub = Hub(BarBook()._book)
        market = SyntheticSpec(seed=seed).build(hub, 20250321)
        frames = b""
        # Subscribe to everything the market has, through the same validator clients use.
        commands: list[StreamCommand] = []
        for i, cid in enumerate(market.contracts):
            sec, symbol, expiration, strike, right = hub.contract(cid)
            contract: dict[str, Any] = {"symbol": symbol}
            if sec == "OPTION":
                contract |= {"expiration": expiration, "strike": strike, "right": right}
            req = "TRADE" if sec == "INDEX" else "QUOTE"
            cmd = parse_command(json.dumps(stream(req, i, contract, sec=sec)))
            assert isinstance(cmd, StreamCommand)
            commands.append(cmd)
        subscriber = hub.add_subscriber("events")
        hub.subscribe(subscriber, commands, len(commands))
        for _ in range(5):
            for _, chunk, _count in hub.publish(market.draw(500, 20250321, 34_200_000, 34_200_000)):
                frames += chunk
        return frames

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


@pytest.mark.parametrize(
    "epoch",
    [
        1741503600.0 - 0.001,  # 2025-03-09 01:59:59.999 EST, just before spring forward
        1741503600.0,  # 03:00:00 EDT
        1762063200.0 - 0.5,  # 2025-11-02 01:59:59.5 EDT, just before fall back
        1762063200.0 + 0.5,  # 01:00:00.5 EST
        1733202000.0 - 0.001,  # 2024-12-02 23:59:59.999 EST
        1733202000.0,  # 2024-12-03 00:00:00 EST
        1733245512.345,
    ],
)
def test_new_york_time_matches_the_time_zone_database(epoch: float) -> None:
    local = dt.datetime.fromtimestamp(epoch, ZoneInfo("America/New_York"))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    want = (
        local.year * 10000 + local.month * 100 + local.day,
        (local - midnight) // dt.timedelta(milliseconds=1),
    )
    new_york_time(epoch - 7200)  # a cached hour that is not this one
    assert new_york_time(epoch) == want
    assert new_york_time(epoch) == want  # from the cache


def test_expirations_are_the_next_fridays() -> None:
    assert next_expirations(dt.date(2025, 3, 19), 2) == [(20250321, 2 / 365), (20250328, 9 / 365)]
    assert next_expirations(dt.date(2025, 3, 21), 1) == [(20250328, 7 / 365)]


def test_a_chain_on_spy_also_lists_the_documented_expiration() -> None:
    # SPEC §3.1 and the seed's "Try it" use SPY 20250321: it is in the market whatever the date.
    today = dt.date(2026, 12, 3)
    assert chain_expirations("SPY", today, 1) == [(20250321, 30 / 365), (20261204, 1 / 365)]
    assert chain_expirations("QQQ", today, 1) == [(20261204, 1 / 365)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rate": 0.0}, "rate must be positive or 'max', got 0.0"),
        ({"symbols": ("AAPL", "AAPL")}, "symbols: listed twice: AAPL, AAPL"),
        (
            {"symbols": ("AA PL",)},
            "symbols \"AA PL\": must be 1-16 characters of A-Z 0-9 . / ^ -, got ' '",
        ),
        ({"symbols": (), "index": None}, "symbols: the market needs a stock or an index"),
        ({"seed": -1}, "seed must be 0 to 2^64-1, got -1"),
    ],
)
def test_bad_specs_are_refused_with_the_setting_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        SyntheticSpec(**spec)
    assert str(error.value) == message


def test_slow_consumer_drops_synthetic_events_with_memory_bounded_then_catches_up() -> None:
    async def body() -> None:
        budget = 256 * 1024
        source = fast_source(rate=50_000.0)
        async with started(
            source, max_pending_bytes=budget, write_buffer_high=32 * 1024, status_interval=0.05
        ) as server:
            raw, _ = await RawClient.connect(server.port)
            raw.send_frame(1, json.dumps(stream("QUOTE", 1, AAPL)).encode())
            raw.send_frame(1, json.dumps(stream("FULL_TRADES", 2, sec="OPTION")).encode())
            most_pending = 0
            for _ in range(150):  # 1.5 s without reading: far more than the socket buffers take
                await asyncio.sleep(0.01)
                if server.client is not None:
                    most_pending = max(most_pending, server.client.pending_bytes)
            conn = server.client
            assert conn is not None
            assert 0 < most_pending <= budget
            assert conn.dropped > 0
            # Reading again: every event not dropped arrives, and a STATUS proves it.
            received = 0
            async with asyncio.timeout(20):
                while True:
                    data = await raw.reader.read(1 << 20)
                    assert data
                    statuses = []
                    for _opcode, payload in raw.decoder.feed(data):
                        message = json.loads(payload)
                        if kind(message) == "STATUS":
                            statuses.append((received, message["stats"]))
                        elif kind(message) != "REQ_RESPONSE":
                            received += 1
                    if any(n == s["sent"] and s["dropped"] > 0 for n, s in statuses):
                        break
                    for n, stats in statuses:
                        assert stats["sent"] == n
            await raw.close()
            await assert_served(server)

    run(body)
