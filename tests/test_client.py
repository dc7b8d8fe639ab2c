"""The client SDK against the real server (in-process, over loopback): subscriptions, typed
events, batches, bars, takeover, pings, drop accounting, lock-step acks (SPEC §8)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, ClassVar

import fastfeed
import numpy as np
import pytest
from client_support import encode_trades
from fastfeed import (
    EventEncoder,
    Gap,
    Index,
    MaxStreamsError,
    Option,
    Status,
    Stock,
    SubscriptionError,
    TakenOver,
    Trade,
)
from fastfeed.server import QueueSource, Server
from server_support import run, started, url

SPY_C = Option("SPY", 20250321, 570000, "C")


LOOPS = pytest.mark.parametrize("loop_kind", ["uvloop", "asyncio"])


def run_on(loop_kind: str, body: Any, timeout: float = 30) -> None:
    """Runs a test body on uvloop (as every test does) or, for the SDK's promise that plain
    asyncio works too, on the default loop."""
    if loop_kind == "uvloop":
        run(body, timeout)
    else:
        asyncio.run(asyncio.wait_for(body(), timeout))


async def until(predicate: Any, timeout: float = 5, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def active(server: Server) -> list[str]:
    conn = server.client
    assert conn is not None
    return conn.subscriptions


@LOOPS
def test_subscribe_unsubscribe_stop(loop_kind: str) -> None:
    async def body() -> None:
        async with started() as server, fastfeed.connect(url(server)) as feed:
            sub = await feed.subscribe("TRADE", Stock("AAPL"))
            assert str(sub) == "STOCK TRADE AAPL"
            await feed.subscribe("QUOTE", SPY_C)
            await feed.subscribe("FULL_TRADES", sec_type="OPTION")
            await feed.subscribe("TRADE", Index("SPX"))
            assert active(server) == [
                "stock.AAPL@trade",
                "option.SPY.20250321.570000.C@quote",
                "option@full_trades",
                "index.SPX@trade",
            ]
            assert len(feed.subscriptions) == 4
            await feed.unsubscribe("QUOTE", SPY_C)
            await feed.unsubscribe("FULL_TRADES", sec_type="OPTION")
            assert active(server) == ["stock.AAPL@trade", "index.SPX@trade"]
            assert [str(s) for s in feed.subscriptions] == ["STOCK TRADE AAPL", "INDEX TRADE SPX"]
            await feed.stop()
            assert active(server) == []
            assert feed.subscriptions == []
        assert feed.ended
        with pytest.raises(fastfeed.FeedClosedError):
            await feed.subscribe("TRADE", Stock("AAPL"))

    run_on(loop_kind, body)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Option("SPY", 20250321, -5, "C"),
            "contract.strike: must be a positive integer (thousandths of a dollar), got -5",
        ),
        (
            lambda: Option("SPY", 20250321, True, "C"),
            "contract.strike: must be a positive integer (thousandths of a dollar), got True",
        ),
        (
            lambda: Option("SPY", 20250321, 2**32, "C"),
            "contract.strike: must be at most 4294967295 (thousandths of a dollar), got 4294967296",
        ),
        (
            lambda: Option("SPY", 20250230, 570000, "C"),
            "contract.expiration: not a calendar date: 20250230",
        ),
        (
            lambda: Option("SPY", 20250321, 570000, "X"),  # type: ignore[arg-type]
            'contract.right: expected one of C, P, got "X"',
        ),
        (
            lambda: Stock("aapl"),
            'contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got "aapl"',
        ),
        (
            lambda: Index("ABCDEFGHIJKLMNOPQ"),
            "contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, "
            'got "ABCDEFGHIJKLMNOPQ" (17 characters)',
        ),
        (
            lambda: Option.parse("SPY:20250431:570000:P"),
            "contract.expiration: not a calendar date: 20250431",
        ),
    ],
)
def test_contracts_are_checked_by_the_servers_validator(make: Any, message: str) -> None:
    with pytest.raises(fastfeed.ContractError) as error:
        make()
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


def test_bad_arguments_are_refused_before_sending() -> None:
    assert Option.parse("SPY:20250321:570000:P") == Option("SPY", 20250321, 570000, "P")
    assert Stock("BRK.B").symbol == "BRK.B"
    with pytest.raises(ValueError, match="url"):
        fastfeed.connect("http://127.0.0.1:1/v1/events")

    async def body() -> None:
        async with started() as server, fastfeed.connect(url(server)) as feed:
            with pytest.raises(ValueError, match="contract is required"):
                await feed.subscribe("TRADE")
            with pytest.raises(ValueError, match="whole-market"):
                await feed.subscribe("FULL_TRADES", Stock("AAPL"))
            with pytest.raises(ValueError, match="req_type"):
                await feed.subscribe("TRADES", Stock("AAPL"))  # type: ignore[arg-type]
            assert active(server) == []

    run(body)


def test_error_raises_with_the_servers_message() -> None:
    async def body() -> None:
        async with started(max_subscriptions=2) as server, fastfeed.connect(url(server)) as feed:
            # The SDK refuses the contract before sending, with the server's own message.
            expected = "contract.expiration: not a calendar date: 20250230"
            with pytest.raises(fastfeed.ContractError) as refused:
                Option("SPY", 20250230, 570000, "C")
            assert str(refused.value) == expected
            with pytest.raises(fastfeed.EnvelopeError) as local:
                fastfeed.parse_command(
                    json.dumps(
                        {
                            "msg_type": "STREAM",
                            "sec_type": "OPTION",
                            "req_type": "TRADE",
                            "add": True,
                            "id": 1,
                            "contract": {
                                "symbol": "SPY",
                                "expiration": 20250230,
                                "strike": 570000,
                                "right": "C",
                            },
                        }
                    )
                )
            assert str(local.value) == expected
            with pytest.raises(SubscriptionError) as error:
                await feed.subscribe("QUOTE", Index("SPX"))
            assert str(error.value) == (
                "req_type: QUOTE is not available for INDEX (INDEX supports TRADE, OHLC)"
            )
            assert error.value.response == "ERROR"
            assert error.value.req_id == 1
            assert feed.subscriptions == []
            await feed.subscribe("TRADE", Stock("AAPL"))
            await feed.subscribe("TRADE", Stock("MSFT"))
            with pytest.raises(MaxStreamsError) as full:
                await feed.subscribe("TRADE", Stock("IBM"))
            assert full.value.response == "MAX_STREAMS_REACHED"
            assert isinstance(full.value, fastfeed.FastfeedError)
            assert len(feed.subscriptions) == 2
            assert len(active(server)) == 2

    run(body)


class Tape:
    """A deterministic tape of trades over 3 contracts plus quotes, encoded as server frames."""

    def __init__(self, n: int = 3000, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.encoder = EventEncoder()
        self.contracts = [Stock("AAPL"), SPY_C, Index("SPX")]
        self.ids = [
            self.encoder.add_contract("STOCK", "AAPL"),
            self.encoder.add_contract("OPTION", "SPY", 20250321, 570000, "C"),
            self.encoder.add_contract("INDEX", "SPX"),
        ]
        self.cid = rng.integers(0, 3, n)
        self.ms = np.sort(rng.integers(34_200_000, 34_200_000 + 20_000, n))
        self.price = rng.integers(100, 20_000, n) / 100.0
        self.size = rng.integers(0, 300, n)

    def chunks(self, per_chunk: int) -> list[tuple[bytes, int]]:
        out = []
        for start in range(0, len(self.cid), per_chunk):
            end = min(start + per_chunk, len(self.cid))
            frames = encode_trades(
                self.encoder,
                [self.ids[i] for i in self.cid[start:end]],
                self.ms[start:end].tolist(),
                self.price[start:end].tolist(),
                self.size[start:end].tolist(),
                first_sequence=start,
            )
            out.append((frames, end - start))
        return out


@LOOPS
def test_batches_events_and_bars_agree_with_what_the_server_sent(loop_kind: str) -> None:
    tape = Tape()

    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            for contract in tape.contracts:
                await feed.subscribe("TRADE", contract)
            quote = self_quote(tape.encoder, tape.ids[1])
            source.put(quote, 1)
            for frames, count in tape.chunks(250):
                source.put(frames, count)
            n = len(tape.cid) + 1
            columns: dict[str, list[Any]] = {"contract": [], "ms": [], "price": [], "size": []}
            quotes = 0
            seqs: list[int] = []
            statuses: list[tuple[int, int, int]] = []
            while len(seqs) < n - 1 or not statuses or statuses[-1][0] < n:
                batch = await feed.next_batch()
                assert batch is not None
                t = batch.trades
                columns["contract"] += [batch.contract(c) for c in t["contract_id"].tolist()]
                columns["ms"] += t["ms_of_day"].tolist()
                columns["price"] += t["price"].tolist()
                columns["size"] += t["size"].tolist()
                seqs += t["sequence"].tolist()
                quotes += len(batch.quotes["bid"])
                s = batch.status
                statuses += list(
                    zip(
                        s["sent"].tolist(),
                        s["dropped"].tolist(),
                        s["received"].tolist(),
                        strict=True,
                    )
                )
                assert batch.gaps == []
            assert seqs == list(range(len(tape.cid)))
            assert quotes == 1
            assert columns["contract"] == [tape.contracts[i] for i in tape.cid]
            assert columns["ms"] == tape.ms.tolist()
            assert columns["price"] == tape.price.tolist()
            assert columns["size"] == tape.size.tolist()
            assert statuses[-1] == (n, 0, n)
            stats = feed.stats
            assert (stats.received, stats.server_sent, stats.gaps, stats.lost) == (n, n, 0, 0)
            assert stats.last_event_age is not None and stats.last_event_age < 5

            # Bars equal aggregate_trades over the received trades, bar for bar.
            for index, contract in enumerate(tape.contracts):
                mask = tape.cid == index
                for interval in ("1s", "1m"):
                    ms = {"1s": 1000, "1m": 60_000}[interval]
                    expected = fastfeed.aggregate_trades(
                        np.full(mask.sum(), 20250321),
                        tape.ms[mask],
                        tape.price[mask],
                        tape.size[mask],
                        ms,
                    )
                    ring = feed.bars(contract, interval)
                    assert not ring.flags.writeable
                    open_bar = feed.open_bar(contract, interval)
                    assert open_bar is not None
                    got = np.concatenate([ring, np.array([open_bar], dtype=ring.dtype)])
                    for name in ("start_ms", "open", "high", "low", "close", "volume", "count"):
                        assert got[name].tolist() == expected[name].tolist(), (contract, name)
                    np.testing.assert_array_equal(got["vwap"], expected["vwap"])
                    assert len(ring) == len(expected["open"]) - 1
            assert len(feed.bars(Stock("NOPE"))) == 0
            # Closing the open bars by the clock (time passed in).
            closed = feed.flush_bars(20250321, 57_600_000)  # 16:00, after the last trade
            assert closed == 2 * len(tape.contracts)
            for contract in tape.contracts:
                assert feed.open_bar(contract, "1s") is None
            with pytest.raises(ValueError, match="not configured"):
                feed.bars(Stock("AAPL"), "5s")

    run_on(loop_kind, body)


def self_quote(encoder: EventEncoder, contract_id: int) -> bytes:
    return encoder.encode_quotes(
        [contract_id], [34_200_000], [10], [1], [4.1], [0], [12], [2], [4.2], [0], [20250321]
    )


def test_typed_events_in_arrival_order() -> None:
    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            spy = enc.add_contract("OPTION", "SPY", 20250321, 570000, "C")
            frames = (
                encode_trades(enc, [aapl], [34_200_001], [190.25], [3])
                + self_quote(enc, spy)
                + enc.encode_ohlc(
                    [aapl], [34_200_001], [1.0], [2.0], [0.5], [1.5], [30], [4], [20250321]
                )
                + enc.encode_open_interest([spy], [21_600_000], [1234], [20250321])
                + encode_trades(enc, [spy], [34_200_002], [4.15], [1], first_sequence=9)
            )
            source.put(frames, 5)
            events: list[Any] = []
            async for event in feed:
                events.append(event)
                if isinstance(event, Status) and event.sent == 5:
                    break
            data = [e for e in events if not isinstance(e, Status)]
            assert data == [
                Trade(Stock("AAPL"), 34_200_001, 0, 3, 0, 190.25, 4, 20250321),
                fastfeed.Quote(SPY_C, 34_200_000, 10, 1, 4.1, 0, 12, 2, 4.2, 0, 20250321),
                fastfeed.Ohlc(Stock("AAPL"), 34_200_001, 1.0, 2.0, 0.5, 1.5, 30, 4, 20250321),
                fastfeed.OpenInterest(SPY_C, 21_600_000, 1234, 20250321),
                Trade(SPY_C, 34_200_002, 9, 1, 0, 4.15, 4, 20250321),
            ]
            assert events[-1] == Status(5, 0, 5)

    run(body)


@pytest.mark.parametrize("consumer", ["next_batch", "on_batch"])
def test_busy_poll_delivers_the_same_and_never_lets_the_loop_sleep(consumer: str) -> None:
    """``busy_poll=True``: the same events; while the consumer waits (``next_batch``, or
    ``wait_ended`` with an ``on_batch`` handler), the process stays on the CPU (the loop polls
    without blocking), where the default sleeps in the kernel."""

    async def waiting_cpu(wait: Any) -> float:
        """CPU seconds of this process while ``wait`` waits 0.5 s for nothing."""
        start = time.process_time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait, 0.5)
        return time.process_time() - start

    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=3600) as server:
            cpu: dict[bool, float] = {}
            for busy in (False, True):
                handled: list[fastfeed.Batch] = []
                handler = handled.append if consumer == "on_batch" else None
                async with fastfeed.connect(url(server), busy_poll=busy, on_batch=handler) as feed:
                    await feed.subscribe("TRADE", Stock("AAPL"))
                    enc = EventEncoder()
                    aapl = enc.add_contract("STOCK", "AAPL")
                    source.put(encode_trades(enc, [aapl, aapl], [1, 2], [2.5, 2.75], [7, 8]), 2)
                    if handler is None:
                        batch = await asyncio.wait_for(feed.next_batch(), 5)
                        assert batch is not None
                        prices = batch.trades["price"].tolist()
                        cpu[busy] = await waiting_cpu(feed.next_batch())
                    else:
                        await until(lambda got=handled: any(len(b) for b in got))
                        prices = next(b for b in handled if len(b)).trades["price"].tolist()
                        cpu[busy] = await waiting_cpu(feed.wait_ended())
                    assert prices == [2.5, 2.75]
            assert cpu[False] < 0.05, cpu
            assert cpu[True] > 0.1, cpu

    run(body)


@LOOPS
def test_on_batch_hands_every_batch_over_inside_the_read(loop_kind: str) -> None:
    """``on_batch``: every batch goes to the handler (no queue: ``next_batch`` refuses), an
    exception in it is logged and counted and the feed goes on, lock-step acknowledges a
    batch once its handler returned, and ``wait_ended`` returns when the server closes."""

    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.05) as server:
            got: list[Any] = []
            acks_while_handling: list[int] = []

            def handler(batch: fastfeed.Batch) -> None:
                conn = server.client
                assert conn is not None
                acks_while_handling.append(conn.event_acks)
                got.append(batch)
                if batch.trades["price"].tolist() == [13.0]:
                    raise ValueError("a strategy's bug")

            async with fastfeed.connect(url(server), on_batch=handler) as feed:
                await feed.subscribe("TRADE", Stock("AAPL"))
                with pytest.raises(RuntimeError, match="on_batch"):
                    await feed.next_batch()
                with pytest.raises(RuntimeError, match="on_batch"):
                    await anext(aiter(feed))
                enc = EventEncoder()
                aapl = enc.add_contract("STOCK", "AAPL")
                prices = [1.0, 13.0, 2.0]
                for i, price in enumerate(prices, 1):
                    source.put(encode_trades(enc, [aapl], [i], [price], [1], ids=[i]), 1)
                    await until(lambda i=i: feed.stats.received == i)
                traded = [b.trades["price"].tolist() for b in got if len(b)]
                assert traded == [[p] for p in prices]
                assert feed.handler_errors == 1
                conn = server.client
                assert conn is not None
                # Each batch acknowledged right after its handler (the one that raised too).
                await until(lambda: conn.event_acks == 3)
                assert conn.last_event_ack is not None
                assert conn.last_event_ack.events_processed == (3,)
                handled = [n for b, n in zip(got, acks_while_handling, strict=True) if len(b)]
                assert handled == [0, 1, 2]
                ended = asyncio.ensure_future(feed.wait_ended())
                await asyncio.sleep(0.05)
                assert not ended.done()
            await asyncio.wait_for(ended, 5)

    run_on(loop_kind, body)


def test_on_batch_that_is_not_a_function_is_refused_at_connect() -> None:
    with pytest.raises(TypeError, match=r"^on_batch must be a function taking a Batch, got 5$"):
        fastfeed.connect("ws://127.0.0.1:1/v1/events", on_batch=5)  # type: ignore[arg-type]


def test_a_handler_failing_on_every_batch_is_counted_not_flooding_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first exception is logged with its traceback; the next ones are counted, and
    logged as one line with the count and the latest at most every 10 s."""

    def handler(batch: fastfeed.Batch) -> None:
        if len(batch):
            raise KeyError(f"price {batch.trades['price'].tolist()}")

    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=3600) as server,
            fastfeed.connect(url(server), on_batch=handler) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            for i in range(1, 51):
                source.put(encode_trades(enc, [aapl], [i], [float(i)], [1]), 1)
                await until(lambda i=i: feed.stats.received == i)
            assert feed.handler_errors == 50

    with caplog.at_level("WARNING", logger="fastfeed.client"):
        run(body)
    lines = [r for r in caplog.records if "on_batch handler" in r.getMessage()]
    assert len(lines) == 2, [r.getMessage() for r in lines]
    first, second = lines
    assert first.exc_info is not None and "KeyError: 'price [1.0]'" in caplog.text
    assert (
        second.getMessage()
        == "on_batch handler: 1 more exception(s); the latest: KeyError: 'price [2.0]'"
    )


def test_works_on_plain_asyncio() -> None:
    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            enc = EventEncoder()
            source.put(encode_trades(enc, [enc.add_contract("STOCK", "AAPL")], [1], [2.5], [7]), 1)
            async for event in feed:
                if isinstance(event, Trade):
                    assert (event.contract, event.price, event.size) == (Stock("AAPL"), 2.5, 7)
                    break
            assert not isinstance(asyncio.get_running_loop(), __import__("uvloop").Loop)

    asyncio.run(asyncio.wait_for(body(), 10))


@LOOPS
def test_takeover_is_final(loop_kind: str) -> None:
    async def body() -> None:
        async with started(status_interval=0.05) as server:
            first = fastfeed.connect(url(server), reconnect=fastfeed.Backoff(initial=0.01))
            async with first:
                await first.subscribe("TRADE", Stock("AAPL"))
                first_conn = server.client
                async with fastfeed.connect(url(server)) as second:
                    events = [e async for e in first]  # ends: the takeover is final
                    taken = [e for e in events if isinstance(e, TakenOver)]
                    assert len(taken) == 1
                    assert taken[0].reason == "replaced by a new client connection"
                    assert not any(isinstance(e, fastfeed.Disconnected) for e in events)
                    assert first.ended and not first.connected
                    # No reconnect: the second client keeps the server, for good.
                    await asyncio.sleep(0.3)
                    assert first.stats.reconnects == 0
                    conn = server.client
                    assert conn is not None and conn is not first_conn
                    assert second.connected
                    await second.subscribe("TRADE", Stock("MSFT"))
                    assert active(server) == ["stock.MSFT@trade"]
                    assert await first.next_batch() is None

    run_on(loop_kind, body)


@LOOPS
def test_pings_are_answered(loop_kind: str) -> None:
    async def body() -> None:
        async with (
            started(ping_interval=0.1, pong_timeout=0.4, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            conn = server.client
            seen = 0
            loop = asyncio.get_running_loop()
            end = loop.time() + 1.5
            while loop.time() < end:
                event = await asyncio.wait_for(anext(feed), 1)
                assert isinstance(event, Status), event
                seen += 1
            # Well past the pong timeout the server has not closed the connection (1011).
            assert seen >= 10
            assert feed.connected and server.client is conn
            assert feed.stats.reconnects == 0

    run_on(loop_kind, body)


def test_server_drops_show_as_gaps_with_the_exact_count() -> None:
    async def body() -> None:
        source = QueueSource()
        # "pause" stops reading once 200 events wait unread, so the server's queue fills.
        async with (
            started(
                source,
                status_interval=0.05,
                max_pending_bytes=64 * 1024,
                write_buffer_high=16 * 1024,
            ) as server,
            fastfeed.connect(url(server), overflow="pause", max_queue_events=200) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            conn = server.client
            assert conn is not None
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            pushed = 0
            for i in range(2000):
                source.put(encode_trades(enc, [aapl] * 50, [1] * 50, [1.0] * 50, [1] * 50), 50)
                pushed += 50
                if i % 10 == 0:
                    await asyncio.sleep(0.001)
            await until(
                lambda: (
                    conn.sent + conn.dropped + conn.queued_events == pushed
                    and source._queue.empty()
                )
            )
            assert conn.dropped > 0
            received = 0
            lost = 0
            async with asyncio.timeout(10):
                while True:
                    batch = await feed.next_batch()
                    assert batch is not None
                    received += len(batch)
                    lost += sum(g.count for g in batch.gaps if g.reason == "server_dropped")
                    assert all(g.reason == "server_dropped" for g in batch.gaps)
                    if received + lost == pushed:
                        break
            assert lost == conn.dropped > 0
            assert received == conn.sent == pushed - conn.dropped
            stats = feed.stats
            assert stats.server_dropped == conn.dropped
            assert stats.lost == lost and stats.gaps >= 1
            assert stats.local_dropped == 0

    run(body)


def test_local_queue_overflow_drops_oldest_and_counts() -> None:
    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server), max_queue_events=100) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            for i in range(20):
                source.put(
                    encode_trades(
                        enc, [aapl] * 30, [1] * 30, [1.0] * 30, [1] * 30, first_sequence=30 * i
                    ),
                    30,
                )
            await until(lambda: feed.stats.received == 600)
            queued = feed.stats.queued
            sequences: list[int] = []
            gaps: list[Gap] = []
            largest = 0
            while True:
                batch = await asyncio.wait_for(feed.next_batch(), 2)
                assert batch is not None
                largest = max(largest, len(batch))
                sequences += batch.trades["sequence"].tolist()
                gaps += batch.gaps
                if feed.stats.queued == 0:
                    break
            # Bounded by max_queue_events, or by one socket read when a read alone holds more.
            assert queued <= max(100, largest)
            local = sum(g.count for g in gaps)
            assert all(g.reason == "local_overflow" for g in gaps)
            assert local == feed.stats.local_dropped > 0
            assert local + len(sequences) == 600
            # The oldest were dropped; what remains is the newest, in order.
            assert sequences == list(range(600 - len(sequences), 600))
            # Bars saw every trade, even the dropped ones.
            assert feed.bars(Stock("AAPL"), "1s").size == 0
            bar = feed.open_bar(Stock("AAPL"), "1s")
            assert bar is not None and int(bar["count"]) == 600

    run(body)


@LOOPS
def test_lock_step_acks_after_the_handler_returned(loop_kind: str) -> None:
    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            conn = server.client
            assert conn is not None
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            frames = encode_trades(enc, [aapl] * 3, [1, 2, 3], [1.0] * 3, [1] * 3, ids=[1, 2, 3])
            source.put(frames, 3)
            seen: list[int] = []
            async for event in feed:
                if not isinstance(event, Trade):
                    continue
                seen.append(event.id)
                # While the handler runs, this event is not acknowledged yet.
                await asyncio.sleep(0.05)
                assert conn.event_acks == len(seen) - 1
                if len(seen) == 3:
                    break
            assert seen == [1, 2, 3]
            assert conn.last_event_ack is not None
            assert conn.last_event_ack.events_processed == (2,)
            # Asking for the next batch acknowledges the last event.
            source.put(encode_trades(enc, [aapl] * 2, [4, 5], [1.0] * 2, [1] * 2, ids=[4, 5]), 2)
            batch = await feed.next_batch()
            await until(lambda: conn.event_acks == 3)
            assert conn.last_event_ack.events_processed == (3,)
            assert batch is not None
            ids = list(batch.event_ids())
            while ids != [4, 5]:
                batch = await feed.next_batch()
                assert batch is not None
                ids += batch.event_ids()
            await feed.next_batch()
            await until(lambda: conn.event_acks >= 4)
            acked = conn.last_event_ack.events_processed
            assert acked in ((4, 5), (5,))

    run_on(loop_kind, body)


def test_fewer_events_than_the_server_counted_is_a_missing_gap() -> None:
    async def body() -> None:
        source = QueueSource()
        async with (
            started(source, status_interval=0.05) as server,
            fastfeed.connect(url(server)) as feed,
        ):
            await feed.subscribe("TRADE", Stock("AAPL"))
            enc = EventEncoder()
            aapl = enc.add_contract("STOCK", "AAPL")
            # The server counts 5 events sent, but the frames hold only 3.
            source.put(encode_trades(enc, [aapl] * 3, [1, 2, 3], [1.0] * 3, [1] * 3), 5)
            events: list[Any] = []
            async for event in feed:
                events.append(event)
                if isinstance(event, Status) and event.sent == 5:
                    break
            status_at = events.index(events[-1])
            gap = await asyncio.wait_for(anext(feed), 2)
            assert gap == Gap(2, "missing")
            assert events[status_at] == Status(5, 0, 3)
            assert feed.stats.lost == 2 and feed.stats.gaps == 1
            # Later heartbeats report the same shortfall: no new gap.
            more = [await asyncio.wait_for(anext(feed), 2) for _ in range(3)]
            assert more == [Status(5, 0, 3)] * 3
            assert feed.stats.gaps == 1

    run(body)


def test_subscribe_while_reconnecting_is_sent_on_the_next_connection() -> None:
    async def body() -> None:
        async with started(status_interval=0.05) as first:
            port = first.port
            feed = fastfeed.connect(url(first), reconnect=fastfeed.Backoff(initial=0.02, cap=0.05))
            await feed.open()
            await feed.subscribe("TRADE", Stock("AAPL"))
        # The server is gone (closed with 1001): the feed is reconnecting.
        try:
            await until(lambda: not feed.connected)
            pending = asyncio.ensure_future(feed.subscribe("QUOTE", Stock("AAPL")))
            await asyncio.sleep(0.1)
            assert not pending.done()
            async with started(status_interval=0.05, port=port) as second:
                await asyncio.wait_for(pending, 5)
                assert active(second) == ["stock.AAPL@trade", "stock.AAPL@quote"]
                kinds = []
                async for event in feed:
                    kinds.append(type(event).__name__)
                    if kinds[-1] == "Reconnected":
                        break
                assert kinds == ["Disconnected", "Reconnected"]
                assert feed.stats.reconnects == 1
        finally:
            await feed.close()

    run(body)


def test_backoff_is_exponential_with_full_jitter() -> None:
    import random

    backoff = fastfeed.Backoff()
    assert (backoff.initial, backoff.cap, backoff.max_attempts) == (0.25, 30.0, None)
    rng = random.Random(5)
    for attempt in range(12):
        ceiling = min(30.0, 0.25 * 2**attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        # Full jitter: spread over the whole window, not bunched at its top.
        assert min(delays) < 0.1 * ceiling and max(delays) > 0.9 * ceiling
    with pytest.raises(ValueError):
        fastfeed.Backoff(initial=0)


def test_reconnect_gives_up_after_max_attempts() -> None:
    async def body() -> None:
        async with started(status_interval=0.05) as server:
            feed = fastfeed.connect(
                url(server), reconnect=fastfeed.Backoff(initial=0.01, cap=0.02, max_attempts=3)
            )
            await feed.open()
        try:
            events = [type(e).__name__ async for e in feed if not isinstance(e, Status)]
            assert events == ["Disconnected"]
            assert feed.ended and feed.stats.reconnects == 0
            with pytest.raises(fastfeed.FeedClosedError):
                await feed.subscribe("TRADE", Stock("AAPL"))
        finally:
            await feed.close()

    run(body)


def test_token_in_the_query_or_a_header_and_refusals_fail_fast() -> None:
    async def body() -> None:
        async with started(token="s3cret") as server:
            async with fastfeed.connect(url(server, "?token=s3cret")) as feed:
                await feed.subscribe("TRADE", Stock("AAPL"))
            async with fastfeed.connect(
                url(server), headers=[("Authorization", "Bearer s3cret")]
            ) as feed:
                await feed.subscribe("TRADE", Stock("AAPL"))
            with pytest.raises(fastfeed.FeedConnectionError, match="401"):
                async with fastfeed.connect(url(server)):
                    pass
        with pytest.raises(fastfeed.FeedConnectionError, match="cannot connect"):
            async with fastfeed.connect(url(server), connect_timeout=1):
                pass

    run(body)


def test_protocol_violation_by_the_server_closes_1002_and_reconnects() -> None:
    """A peer that is not our server: answers the handshake, then sends a masked frame
    (illegal from a server); a later connection gets a valid stream."""

    class Peer(asyncio.Protocol):
        connections = 0
        received: ClassVar[list[bytes]] = []

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.head = b""
            Peer.connections += 1
            self.nth = Peer.connections

        def data_received(self, data: bytes) -> None:
            if self.head is None:
                Peer.received.append(data)
                return
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            key = next(
                line.split(b":", 1)[1].strip().decode()
                for line in self.head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            self.head = None  # type: ignore[assignment]
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + fastfeed.ws_accept_key(key).encode()
                + b"\r\n\r\n"
            )
            status = (
                b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":0,"dropped":0}}'
            )
            if self.nth == 1:
                self.transport.write(fastfeed.ws_encode_frames(1, [status], mask_key=b"abcd"))
            else:
                self.transport.write(fastfeed.ws_encode_frames(1, [status]))

    async def body() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with fastfeed.connect(
                f"ws://127.0.0.1:{port}/v1/events", reconnect=fastfeed.Backoff(initial=0.01)
            ) as feed:
                events = []
                async for event in feed:
                    events.append(event)
                    if isinstance(event, Status):
                        break
                assert isinstance(events[0], fastfeed.Disconnected)
                assert "protocol error" in events[0].reason
                assert isinstance(events[1], fastfeed.Reconnected)
                assert events[2] == Status(0, 0, 0)
        finally:
            server.close()
        # The client told the first peer why: Close 1002.
        decoder = fastfeed.WSFrameDecoder("server")
        frames = [f for chunk in Peer.received for f in decoder.feed(chunk)]
        assert frames[0][0] == 8
        assert fastfeed.ws_parse_close_payload(frames[0][1])[0] == 1002

    run(body)


def test_closing_a_feed_closes_its_socket() -> None:
    # Regression: the reconnector, stopped by close(), cancelled the connection's `closed`
    # future while waiting on it, so close() believed the socket closed and left it open.
    async def body() -> None:
        async with started(QueueSource()) as server:
            feed = fastfeed.connect(url(server))
            await feed.open()
            await feed.subscribe("TRADE", fastfeed.Stock("AAPL"))
            assert server.client is not None
            await feed.close()
            for _ in range(100):
                if server.client is None:
                    break
                await asyncio.sleep(0.01)
            assert server.client is None, "the server still has the connection"

    run(body)
