"""The client's sans-I/O protocol session (``fastfeed.client.session``) on both endpoints.

No socket, no event loop: server bytes are built with the Rust encoders or written literally,
decoded by the real ``EventDecoder``, and handed to the session; the tests assert on the payloads
it wants sent, the command results, gaps and notices it produces.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from client_support import encode_trades
from fastfeed import (
    EventDecoder,
    EventEncoder,
    FastfeedError,
    Index,
    MaxStreamsError,
    Option,
    Stock,
    SubscriptionError,
    ws_encode_frames,
)
from fastfeed.client.events import Disconnected, Gap, Reconnected, StatusNotice
from fastfeed.client.session import (
    ClientSession,
    CommandResult,
    Subscription,
    endpoint_of,
    stream_name,
)

AAPL = Subscription.of("TRADE", Stock("AAPL"))
SPY_C = Subscription.of("QUOTE", Option("SPY", 20250321, 570000, "C"))


def frames(*payloads: str | bytes) -> bytes:
    """Unmasked server text frames."""
    return ws_encode_frames(1, [p.encode() if isinstance(p, str) else p for p in payloads])


def wrap(stream: str, payload: bytes) -> bytes:
    """A SPEC §4 data message, exactly as the server writes it."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def status(sent: int, dropped: int, *, stream: bool = False) -> bytes:
    event = (
        b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":%d,"dropped":%d}}'
        % (sent, dropped)
    )
    return wrap("@status", event) if stream else event


def trade_payloads(n: int, *, ids: list[int] | None = None) -> list[bytes]:
    encoder = EventEncoder()
    aapl = encoder.add_contract("STOCK", "AAPL")
    wire = encoder.encode_trades(
        np.full(n, aapl, dtype=np.uint32),
        np.arange(34_200_000, 34_200_000 + n, dtype=np.uint32),
        np.arange(n, dtype=np.int64),
        np.ones(n, dtype=np.uint32),
        np.zeros(n, dtype=np.uint32),
        np.full(n, 190.5),
        np.full(n, 4, dtype=np.uint32),
        np.full(n, 20250321, dtype=np.uint32),
        ids=None if ids is None else np.array(ids, dtype=np.uint64),
        framing="jsonl",
    )
    return wire.splitlines()


class Wire:
    """A session plus the decoder that turns server bytes into its input."""

    def __init__(self, endpoint: str = "events") -> None:
        self.session = ClientSession(endpoint)  # type: ignore[arg-type]
        self.decoder = EventDecoder()

    def open(self, now: float = 100.0, attempts: int = 0) -> Reconnected | None:
        self.decoder.new_connection()
        return self.session.connection_made(now, attempts)

    def receive(self, *payloads: str | bytes, now: float = 100.0) -> list[tuple[int, StatusNotice]]:
        return self.session.receive(self.decoder.feed(frames(*payloads)), now=now)

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.session.data_to_send()]

    def results(self) -> dict[int, CommandResult]:
        return {r.ticket: r for r in self.session.results()}


# --- stream names and endpoints ---------------------------------------------------------------


def test_endpoint_follows_the_url_path() -> None:
    assert endpoint_of("/v1/stream") == "stream"
    assert endpoint_of("/v1/stream/") == "stream"
    assert endpoint_of("/v1/stream?token=x") == "stream"
    assert endpoint_of("/v1/events") == "events"
    assert endpoint_of("/") == "events"
    assert endpoint_of("/v1/streams") == "events"
    with pytest.raises(ValueError, match="endpoint"):
        ClientSession("http")  # type: ignore[arg-type]


def test_stream_names_both_ways() -> None:
    cases = [
        (Subscription.of("TRADE", Stock("AAPL")), "stock.AAPL@trade"),
        (SPY_C, "option.SPY.20250321.570000.C@quote"),
        (Subscription.of("OHLC", Index("SPX")), "index.SPX@ohlc"),
        (Subscription.of("FULL_TRADES", sec_type="OPTION"), "option@full_trades"),
        (Subscription.of("FULL_OPEN_INTEREST", sec_type="OPTION"), "option@full_open_interest"),
        (Subscription.of("OPEN_INTEREST", Option("SPY", 20250321, 570000, "P")), None),
    ]
    for sub, name in cases:
        if name is not None:
            assert sub.name == name
        # A name parses back into the same subscription.
        assert Subscription.of(sub.name) == sub
    assert stream_name("STOCK", "FULL_TRADES", None) == "stock@full_trades"
    with pytest.raises(ValueError, match="kind"):
        Subscription.of("stock.AAPL@trades")
    with pytest.raises(ValueError, match="req_type"):
        Subscription.of("TRADES", Stock("AAPL"))


# --- /v1/events (SPEC §3) ---------------------------------------------------------------------


def test_events_commands_and_acks() -> None:
    w = Wire("events")
    w.open()
    t1 = w.session.subscribe(AAPL)
    t2 = w.session.subscribe(SPY_C)
    t3 = w.session.subscribe(Subscription.of("FULL_TRADES", sec_type="OPTION"))
    assert w.session.data_to_send() == [
        b'{"msg_type":"STREAM","sec_type":"STOCK","req_type":"TRADE","add":true,"id":1,'
        b'"contract":{"symbol":"AAPL"}}',
        b'{"msg_type":"STREAM","sec_type":"OPTION","req_type":"QUOTE","add":true,"id":2,'
        b'"contract":{"symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"}}',
        b'{"msg_type":"STREAM","sec_type":"OPTION","req_type":"FULL_TRADES","add":true,"id":3}',
    ]
    assert w.results() == {}
    w.receive(
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":1}}',
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":2,'
        '"message":"contract.expiration: not a calendar date: 20250230"}}',
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED",'
        '"response":"MAX_STREAMS_REACHED","req_id":3,"message":"too many"}}',
    )
    results = w.results()
    assert results[t1] == CommandResult(t1)
    error = results[t2].error
    assert type(error) is SubscriptionError
    assert str(error) == "contract.expiration: not a calendar date: 20250230"
    assert (error.response, error.code, error.req_id) == ("ERROR", "ERROR", 2)
    assert type(results[t3].error) is MaxStreamsError
    assert w.session.subscriptions == [AAPL]
    assert w.session.data_to_send() == []

    t4 = w.session.unsubscribe(AAPL)
    t5 = w.session.stop()
    assert w.sent() == [
        {
            "msg_type": "STREAM",
            "sec_type": "STOCK",
            "req_type": "TRADE",
            "add": False,
            "id": 4,
            "contract": {"symbol": "AAPL"},
        },
        {"msg_type": "STOP", "id": 5},
    ]
    w.receive(
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":4}}',
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":5}}',
        # An answer nobody waits for is logged and ignored.
        '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":77}}',
    )
    assert set(w.results()) == {t4, t5}
    assert w.session.subscriptions == []
    with pytest.raises(FastfeedError, match="/v1/stream"):
        w.session.list_subscriptions()


def test_reconnect_resubscribes_with_fresh_ids_then_sends_waiting_commands() -> None:
    w = Wire("events")
    # Issued before any connection: waits.
    t1 = w.session.subscribe(AAPL)
    assert w.session.data_to_send() == []
    assert w.open(now=10.0) is None  # the first connection is no reconnect
    assert [p["id"] for p in w.sent()] == [1]
    w.receive('{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":1}}')
    assert w.results()[t1].error is None
    t2 = w.session.subscribe(SPY_C)
    assert [p["id"] for p in w.sent()] == [2]

    # Lost before the answer: the command is sent again on the next connection.
    notice = w.session.connection_lost(20.0, "server closed: 1001 going away", 1001)
    assert notice == Disconnected(20.0, "server closed: 1001 going away", 1001)
    assert not w.session.connected
    t3 = w.session.unsubscribe(AAPL)  # issued while disconnected
    assert w.session.data_to_send() == []
    reconnected = w.open(now=23.5, attempts=3)
    assert reconnected == Reconnected(20.0, 23.5, 3, 1)
    assert reconnected.outage == pytest.approx(3.5)
    sent = w.sent()
    # Acknowledged subscriptions first, then the waiting commands, all with fresh ids.
    assert [(p["id"], p["req_type"], p["add"]) for p in sent] == [
        (3, "TRADE", True),
        (4, "QUOTE", True),
        (5, "TRADE", False),
    ]
    w.receive(
        '{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":3}}',
        '{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":4}}',
        '{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":5}}',
    )
    assert set(w.results()) == {t2, t3}
    assert w.session.subscriptions == [SPY_C]
    assert w.session.reconnects == 1

    # A resubscription the new connection refuses is dropped, with nobody to tell.
    w.session.connection_lost(30.0, "reset")
    w.open(now=31.0, attempts=1)
    assert [p["id"] for p in w.sent()] == [6]
    w.receive('{"header":{"type":"REQ_RESPONSE","response":"ERROR","req_id":6,"message":"x"}}')
    assert w.results() == {}
    assert w.session.subscriptions == []


def test_abandoned_and_failed_commands() -> None:
    w = Wire("events")
    w.open()
    t1 = w.session.subscribe(AAPL)
    w.session.abandon(t1)  # its caller went away; the answer still counts
    w.receive('{"header":{"type":"REQ_RESPONSE","response":"OK","req_id":1}}')
    assert w.results() == {}
    assert w.session.subscriptions == [AAPL]
    w.session.data_to_send()
    t2 = w.session.subscribe(SPY_C)
    assert [p["id"] for p in w.sent()] == [2]
    w.session.connection_lost(1.0, "reset")
    t3 = w.session.stop()
    w.session.abandon(t3)
    error = FastfeedError("feed ended")
    w.session.fail_all(error)
    assert w.results() == {t2: CommandResult(t2, error)}
    w.open()
    assert [p["id"] for p in w.sent()] == [3]  # only the resubscription of AAPL


def test_drop_accounting_at_status_per_connection() -> None:
    w = Wire("events")
    w.open()
    trades = trade_payloads(5)
    assert w.receive(*trades[:3], status(3, 0)) == []
    assert (w.session.server_sent, w.session.received) == (3, 3)
    # Two events the server sent never arrived, and it dropped 4: both reported once.
    gaps = w.receive(trades[3], status(6, 4), status(6, 4))
    assert gaps == [(0, Gap(4, "server_dropped")), (0, Gap(2, "missing"))]
    assert (w.session.gaps, w.session.lost) == (2, 6)
    # A heartbeat without stats (the original terminal) counts nothing.
    assert w.receive('{"header":{"type":"STATUS","status":"CONNECTED"}}') == []
    # A new connection's counters restart at 0: no false gap.
    w.session.connection_lost(1.0, "reset")
    w.open()
    assert w.receive(trades[4], status(1, 0)) == []
    assert (w.session.server_sent, w.session.received, w.session.gaps) == (1, 5, 2)


def test_lock_step_event_acks() -> None:
    w = Wire("events")
    w.open()
    w.receive(*trade_payloads(3, ids=[1, 2, 3]))
    assert w.session.pace_ack is True
    generation = w.session.generation
    w.session.event_ack(generation, list(range(1, 451)), 1_700_000_000_000)
    acks = w.sent()
    assert [len(a["events_processed"]) for a in acks] == [200, 200, 50]
    assert acks[0] == {
        "type": "event_ack",
        "correlation_id": "ff-1",
        "events_processed": list(range(1, 201)),
        "timestamp": 1_700_000_000_000,
    }
    assert [a["correlation_id"] for a in acks] == ["ff-1", "ff-2", "ff-3"]
    # Ids of a connection that has gone are not acknowledged on the next one.
    w.session.connection_lost(1.0, "reset")
    w.session.event_ack(generation, [4], 1)
    w.open()
    w.session.event_ack(generation, [4], 1)
    assert w.sent() == []
    assert w.session.pace_ack is None
    w.receive(*trade_payloads(1))
    assert w.session.pace_ack is False


# --- /v1/stream (SPEC §4) ---------------------------------------------------------------------


def test_stream_commands_and_replies() -> None:
    w = Wire("stream")
    w.open()
    t1 = w.session.subscribe(AAPL)
    t2 = w.session.subscribe(Subscription.of("option.SPY.20250321.570000.C@quote"))
    t3 = w.session.subscribe(Subscription.of("stock.ZZZZ@trade"))
    t4 = w.session.subscribe(Subscription.of("FULL_TRADES", sec_type="OPTION"))
    assert w.session.data_to_send() == [
        b'{"method":"SUBSCRIBE","params":["stock.AAPL@trade"],"id":1}',
        b'{"method":"SUBSCRIBE","params":["option.SPY.20250321.570000.C@quote"],"id":2}',
        b'{"method":"SUBSCRIBE","params":["stock.ZZZZ@trade"],"id":3}',
        b'{"method":"SUBSCRIBE","params":["option@full_trades"],"id":4}',
    ]
    w.receive(
        '{"result":null,"id":1}',
        '{"result":null,"id":2}',
        '{"error":{"code":"INVALID_PARAM","msg":"params[0]: unknown contract ZZZZ"},"id":3}',
        '{"error":{"code":"TOO_MANY_STREAMS","msg":"params: more than 3 streams"},"id":4}',
        # INVALID_JSON answers with id null: nothing to match, logged.
        '{"error":{"code":"INVALID_JSON","msg":"json: expected value at byte 0"},"id":null}',
    )
    results = w.results()
    assert results[t1] == CommandResult(t1) and results[t2] == CommandResult(t2)
    error = results[t3].error
    assert type(error) is SubscriptionError
    assert (str(error), error.code, error.req_id) == (
        "params[0]: unknown contract ZZZZ",
        "INVALID_PARAM",
        3,
    )
    error = results[t4].error
    assert type(error) is MaxStreamsError
    assert (str(error), error.code) == ("params: more than 3 streams", "TOO_MANY_STREAMS")
    assert [s.name for s in w.session.subscriptions] == [
        "stock.AAPL@trade",
        "option.SPY.20250321.570000.C@quote",
    ]

    t5 = w.session.list_subscriptions()
    assert w.session.data_to_send() == [b'{"method":"LIST_SUBSCRIPTIONS","id":5}']
    w.receive('{"result":["stock.AAPL@trade","option.SPY.20250321.570000.C@quote"],"id":5}')
    assert w.results()[t5].value == ["stock.AAPL@trade", "option.SPY.20250321.570000.C@quote"]

    t6 = w.session.unsubscribe(AAPL)
    assert w.sent() == [{"method": "UNSUBSCRIBE", "params": ["stock.AAPL@trade"], "id": 6}]
    w.receive('{"result":null,"id":6}')
    assert w.results()[t6].error is None
    # STOP is an UNSUBSCRIBE of everything acknowledged.
    t7 = w.session.stop()
    assert w.sent() == [
        {"method": "UNSUBSCRIBE", "params": ["option.SPY.20250321.570000.C@quote"], "id": 7}
    ]
    w.receive('{"id":7,"result":null}')
    assert w.results()[t7].error is None
    assert w.session.subscriptions == []
    # With nothing subscribed it is done at once, without a command.
    t8 = w.session.stop()
    assert w.session.data_to_send() == []
    assert w.results() == {t8: CommandResult(t8)}


def test_stream_reconnect_resubscribes_by_name() -> None:
    w = Wire("stream")
    w.open()
    w.session.subscribe(AAPL)
    w.session.subscribe(SPY_C)
    w.session.data_to_send()
    w.receive('{"result":null,"id":1}', '{"result":null,"id":2}')
    w.session.connection_lost(5.0, "reset")
    assert w.open(now=6.0, attempts=1) == Reconnected(5.0, 6.0, 1, 2)
    assert w.sent() == [
        {"method": "SUBSCRIBE", "params": ["stock.AAPL@trade"], "id": 3},
        {"method": "SUBSCRIBE", "params": ["option.SPY.20250321.570000.C@quote"], "id": 4},
    ]


def test_stream_data_and_status_decode_and_count_like_events() -> None:
    """The same events through both endpoints: the same columns, counts and gaps."""
    trades = trade_payloads(4)
    events = Wire("events")
    events.open()
    stream = Wire("stream")
    stream.open()
    plain = events.decoder.feed(frames(*trades, status(6, 1)))
    wrapped = stream.decoder.feed(
        frames(*(wrap("stock.AAPL@trade", t) for t in trades), status(6, 1, stream=True))
    )
    assert wrapped.kinds.tolist() == plain.kinds.tolist()
    assert wrapped.errors == []
    for name in ("trades", "status"):
        got, want = getattr(wrapped, name), getattr(plain, name)
        assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in want.items()}
    expected = [(0, Gap(1, "server_dropped")), (0, Gap(2, "missing"))]
    assert events.session.receive(plain, now=1.0) == expected
    assert stream.session.receive(wrapped, now=1.0) == expected
    assert stream.session.received == events.session.received == 4


def test_malformed_stream_messages_are_errors_and_neighbours_count() -> None:
    w = Wire("stream")
    w.open()
    trade = trade_payloads(1)[0]
    batch = w.decoder.feed(
        frames(
            wrap("stock.AAPL@trade", trade),
            b'{"stream":"stock.AAPL@trade","data":"oops"}',
            b'{"error":{"msg":"no code"},"id":1}',
            wrap("stock.AAPL@trade", trade),
        )
    )
    assert batch.errors == [
        (1, "data: expected an object at byte 36"),
        (2, "error.code: required field is missing"),
    ]
    w.session.receive(batch, now=1.0)
    assert w.session.received == 2


def test_encoded_trades_helper_matches() -> None:
    # The helper shared with the end-to-end tests writes the same §3.3 payloads.
    encoder = EventEncoder()
    aapl = encoder.add_contract("STOCK", "AAPL")
    wire = encode_trades(encoder, [aapl], [34_200_000], [190.5], [1])
    assert EventDecoder().feed(wire).trades["price"].tolist() == [190.5]
