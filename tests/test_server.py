"""End-to-end tests of the /v1/events server on loopback (SPEC §3), client = websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os

import pytest
from fastfeed import ws_encode_frames
from fastfeed.server import QueueSource, ServerConfig, ServerConfigError
from fastfeed.server.guard import split_host_header
from server_support import (
    RawClient,
    ack,
    assert_served,
    client,
    command,
    run,
    started,
    trade_frames,
    url,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

AAPL_TRADE = {
    "msg_type": "STREAM",
    "sec_type": "STOCK",
    "req_type": "TRADE",
    "add": True,
    "id": 1,
    "contract": {"symbol": "AAPL"},
}


#: Every test of this module runs on uvloop and on asyncio's own loop.
pytestmark = pytest.mark.usefixtures("each_loop")


def test_subscribe_unsubscribe_stop_acks() -> None:
    async def body() -> None:
        async with started() as server, await client(server) as ws:
            assert await command(ws, AAPL_TRADE) == ack(1, "OK")
            assert await command(ws, {**AAPL_TRADE, "id": 2}) == ack(2, "OK")
            quote = {**AAPL_TRADE, "req_type": "QUOTE", "id": 3}
            assert await command(ws, quote) == ack(3, "OK")
            conn = server.client
            assert conn is not None
            assert conn.subscriptions == ["stock.AAPL@trade", "stock.AAPL@quote"]
            assert await command(ws, {**AAPL_TRADE, "add": False, "id": 4}) == ack(4, "OK")
            # Removing what is not subscribed is OK.
            assert await command(ws, {**AAPL_TRADE, "add": False, "id": 5}) == ack(5, "OK")
            assert conn.subscriptions == ["stock.AAPL@quote"]
            assert await command(ws, {"msg_type": "STOP", "id": 6}) == ack(6, "OK")
            assert conn.subscriptions == []
            event_ack = {
                "type": "event_ack",
                "correlation_id": "c1",
                "events_processed": [1, 2],
                "timestamp": 1700000000000,
            }
            await ws.send(json.dumps(event_ack))
            assert await command(ws, {"msg_type": "STOP", "id": 7}) == ack(7, "OK")
            assert conn.event_acks == 1
            assert conn.last_event_ack is not None
            assert conn.last_event_ack.events_processed == (1, 2)

    run(body)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("nope", ack(None, "ERROR", "json: expected ident at byte 1")),
        (
            json.dumps({**AAPL_TRADE, "x": 1}),
            ack(
                3 - 2,
                "ERROR",
                "x: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
            ),
        ),
        ('{"msg_type":"STOP","add":true}', ack(None, "ERROR", "id: required")),
        (
            json.dumps(
                {
                    "msg_type": "STREAM",
                    "sec_type": "OPTION",
                    "req_type": "QUOTE",
                    "add": True,
                    "id": 4,
                    "contract": {
                        "symbol": "SPY",
                        "expiration": 20250321,
                        "strike": -5,
                        "right": "C",
                    },
                }
            ),
            ack(
                4,
                "ERROR",
                "contract.strike: must be a positive integer (thousandths of a dollar), got -5",
            ),
        ),
    ],
)
def test_bad_commands_get_the_validator_message(frame: str, expected: dict[str, object]) -> None:
    async def body() -> None:
        async with started() as server, await client(server) as ws:
            assert await command(ws, frame) == expected
            # The connection stays usable.
            assert await command(ws, AAPL_TRADE) == ack(1, "OK")

    run(body)


def test_max_subscriptions() -> None:
    async def body() -> None:
        async with started(max_subscriptions=2) as server, await client(server) as ws:
            for i, symbol in enumerate(["AAPL", "MSFT"]):
                sub = {**AAPL_TRADE, "id": i, "contract": {"symbol": symbol}}
                assert await command(ws, sub) == ack(i, "OK")
            third = {**AAPL_TRADE, "id": 9, "contract": {"symbol": "IBM"}}
            assert await command(ws, third) == ack(9, "MAX_STREAMS_REACHED")
            # Re-adding an existing one is not a new stream.
            assert await command(ws, {**AAPL_TRADE, "id": 10}) == ack(10, "OK")
            assert await command(ws, {**AAPL_TRADE, "add": False, "id": 11}) == ack(11, "OK")
            assert await command(ws, third) == ack(9, "OK")

    run(body)


def test_new_client_takes_over() -> None:
    async def body() -> None:
        async with started() as server:
            first = await client(server)
            assert await command(first, AAPL_TRADE) == ack(1, "OK")
            old = server.client
            async with await client(server) as second:
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(first.recv(), 5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1000
                assert closed.value.rcvd.reason == "replaced by a new client connection"
                assert server.client is not old
                assert server.client is not None
                assert server.client.subscriptions == []
                assert await command(second, {"msg_type": "STOP", "id": 2}) == ack(2, "OK")

    run(body)


def test_oversize_single_frame_is_1009(caplog: pytest.LogCaptureFixture) -> None:
    """Closed with 1009, logged as a client's mistake: one INFO line of ``fastfeed.server``,
    no WARNING or ERROR."""

    async def body() -> None:
        async with started() as server:
            async with await client(server) as ws:
                await ws.send("x" * 4097)
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
            assert closed.value.rcvd.reason == "message of 4097 bytes exceeds the 4096-byte limit"
            await assert_served(server)

    with caplog.at_level(logging.INFO):
        run(body)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    mistakes = [r.getMessage() for r in caplog.records if "protocol error" in r.getMessage()]
    assert [m.split(": ", 1)[1] for m in mistakes] == [
        "protocol error, closing with 1009: message of 4097 bytes exceeds the 4096-byte limit"
    ]
    assert all(r.name == "fastfeed.server" and r.levelno == logging.INFO for r in caplog.records)


def test_fragmented_total_above_cap_is_1009() -> None:
    async def body() -> None:
        async with started() as server:
            async with await client(server) as ws:
                await ws.send(["a" * 2000, "b" * 2000, "c" * 2000])
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                1009,
                "message of 6000 bytes exceeds the 4096-byte limit",
            )
            await assert_served(server)

    run(body)


def test_fragmented_command_within_cap_is_accepted() -> None:
    async def body() -> None:
        async with started() as server, await client(server) as ws:
            text = json.dumps(AAPL_TRADE)
            await ws.send([text[:10], text[10:11], text[11:]])
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply == ack(1, "OK")

    run(body)


@pytest.mark.parametrize(
    ("opcode", "payload", "b0_or", "masked", "code", "reason"),
    [
        (2, b"\x00\x01", 0, True, 1003, "binary messages are not accepted"),
        (1, b'{"id":\xff}', 0, True, 1007, "invalid UTF-8 in text message"),
        (
            1,
            b"{}",
            0x40,
            True,
            1002,
            "reserved bits set (RSV 0b100) without a negotiated extension",
        ),
        (
            1,
            b"{}",
            0,
            False,
            1002,
            "client frame is not masked",
        ),
    ],
)
def test_protocol_violations_close_with_the_right_code(
    opcode: int, payload: bytes, b0_or: int, masked: bool, code: int, reason: str
) -> None:
    async def body() -> None:
        async with started() as server:
            raw, status = await RawClient.connect(server.port)
            assert status == 101
            raw.send_frame(opcode, payload, masked=masked, b0_or=b0_or)
            _, got_code, got_reason = await raw.read_until_close()
            await raw.close()
            assert (got_code, got_reason) == (code, reason)
            await assert_served(server)

    run(body)


def test_a_valid_command_before_a_bad_frame_in_the_same_read_is_answered_first() -> None:
    """Everything received before the first bad byte is handled, its reply sent, and only
    then the connection closed with the violation's code."""

    async def body() -> None:
        async with started() as server:
            raw, _ = await RawClient.connect(server.port)
            valid = ws_encode_frames(1, [json.dumps(AAPL_TRADE).encode()], os.urandom(4))
            unmasked = ws_encode_frames(1, [b"{}"])
            raw.writer.write(valid + unmasked)
            messages, code, reason = await raw.read_until_close()
            await raw.close()
            replies = [json.loads(p) for _, p in messages]
            assert [r for r in replies if r["header"]["type"] == "REQ_RESPONSE"] == [ack(1, "OK")]
            assert (code, reason) == (1002, "client frame is not masked")
            await assert_served(server)

    run(body)


@pytest.mark.parametrize(
    ("head", "status", "reason"),
    [
        # A header too large for the server: an HTTP answer, not a reset (RFC 6585).
        (
            b"X-Padding: " + b"a" * 100_000 + b"\r\n",
            431,
            "request header fields too large (the limit is 16384 bytes)",
        ),
        (b"", 400, "missing Sec-WebSocket-Key"),
    ],
)
def test_a_handshake_the_server_cannot_take_gets_an_http_answer(
    head: bytes, status: int, reason: str
) -> None:
    async def body() -> None:
        async with started() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + head + b"\r\n"
            )
            response = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            status_line, _, text = response.partition(b"\r\n")
            assert status_line.split(b" ", 2)[1] == str(status).encode()
            assert text.partition(b"\r\n\r\n")[2] == reason.encode()
            await assert_served(server)

    run(body)


def test_a_client_that_never_finishes_its_handshake_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        async with started(handshake_timeout=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no more
            started_at = asyncio.get_running_loop().time()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped, nothing said
            assert asyncio.get_running_loop().time() - started_at >= 0.25
            writer.close()
            await assert_served(server)

    with caplog.at_level(logging.INFO):
        run(body)
    assert any(
        "no complete handshake within 0.3 s, dropped" in r.getMessage() for r in caplog.records
    )


def test_continuation_without_start_is_1002() -> None:
    async def body() -> None:
        async with started() as server:
            raw, _ = await RawClient.connect(server.port)
            raw.send_frame(1, b"{}", b0_or=0)  # a valid message first
            frame = bytearray(b"\x80\x80" + b"\x00" * 4)  # FIN continuation, masked, empty
            raw.writer.write(bytes(frame))
            messages, code, reason = await raw.read_until_close()
            await raw.close()
            assert json.loads(messages[0][1])["header"]["response"] == "ERROR"
            assert (code, reason) == (1002, "continuation frame without a message to continue")

    run(body)


@pytest.mark.parametrize(
    ("path", "host", "headers", "status"),
    [
        ("/v1/other", "127.0.0.1", (), 404),
        ("/", "127.0.0.1", (), 404),
        ("/v1/events", "127.0.0.1", (("Origin", "https://evil.example"),), 403),
        ("/v1/events", "evil.example", (), 403),
        ("/v1/events", "localhost", (("Origin", "https://app.example"),), 101),
        ("/v1/events", "localhost", (), 101),
    ],
)
def test_handshake_guards(
    path: str, host: str, headers: tuple[tuple[str, str], ...], status: int
) -> None:
    async def body() -> None:
        async with started(allow_origins=("https://app.example",)) as server:
            raw, got = await RawClient.connect(server.port, host, path, headers)
            await raw.close()
            assert got == status
            await assert_served(server)

    run(body)


@pytest.mark.parametrize(
    ("version_header", "body"),
    [
        (b"Sec-WebSocket-Version: 8\r\n", b"Sec-WebSocket-Version unsupported ('8')"),
        (b"Sec-WebSocket-Version: 13, 8\r\n", b"Sec-WebSocket-Version unsupported ('13, 8')"),
        (b"", b"Sec-WebSocket-Version missing"),
    ],
)
def test_a_websocket_version_other_than_13_gets_426_naming_13(
    version_header: bytes, body: bytes
) -> None:
    """RFC 6455 §4.2.2: 426 Upgrade Required with ``Sec-WebSocket-Version: 13``; the server
    goes on serving."""

    async def main() -> None:
        async with started() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + version_header
                + b"\r\n"
            )
            response = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            head, _, text = response.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
            assert b"Sec-WebSocket-Version: 13" in lines[1:]
            assert text == body + b": this server speaks 13"
            await assert_served(server)

    run(main)


def test_token_is_required_when_configured() -> None:
    async def body() -> None:
        async with started(token="s3cret") as server:
            with pytest.raises(InvalidStatus) as refused:
                await client(server)
            assert refused.value.response.status_code == 401
            with pytest.raises(InvalidStatus):
                await client(server, additional_headers={"Authorization": "Bearer wrong"})
            async with await client(
                server, additional_headers={"Authorization": "Bearer s3cret"}
            ) as ws:
                assert await command(ws, AAPL_TRADE) == ack(1, "OK")
            from websockets.asyncio.client import connect

            async with connect(url(server, "?token=s3cret"), open_timeout=5) as ws:
                assert await command(ws, AAPL_TRADE) == ack(1, "OK")

    run(body)


def test_config_validation() -> None:
    with pytest.raises(
        ServerConfigError,
        match=r"^binding the non-loopback address 0\.0\.0\.0 requires --token and "
        r"--tls-cert/--tls-key \(the token must not cross a network in clear\)$",
    ):
        ServerConfig(host="0.0.0.0")
    ServerConfig(host="0.0.0.0", token="t", tls_cert="c.pem", tls_key="k.pem")
    ServerConfig(host="::1")
    with pytest.raises(ServerConfigError, match=r"^slow-consumer must be"):
        ServerConfig(slow_consumer="block")  # type: ignore[arg-type]
    with pytest.raises(ServerConfigError, match=r"^port must be 0-65535, got 70000$"):
        ServerConfig(port=70000)


def test_host_header_parsing() -> None:
    assert split_host_header("localhost:25520") == ("localhost", 25520)
    assert split_host_header("127.0.0.1") == ("127.0.0.1", None)
    assert split_host_header("[::1]:80") == ("::1", 80)
    assert split_host_header("[::1]") == ("::1", None)
    assert split_host_header("localhost:x") == ("localhost", -1)


def _stats(message: bytes | str) -> dict[str, int] | None:
    parsed = json.loads(message)
    if parsed["header"]["type"] == "STATUS":
        assert parsed == {
            "header": {"type": "STATUS", "status": "CONNECTED"},
            "stats": {"sent": parsed["stats"]["sent"], "dropped": parsed["stats"]["dropped"]},
        }
        return dict(parsed["stats"])
    return None


def test_status_counts_exactly_what_preceded_it() -> None:
    async def body() -> None:
        source = QueueSource()
        async with started(source, status_interval=0.02) as server, await client(server) as ws:
            assert await command(ws, AAPL_TRADE) == ack(1, "OK")
            total = 0

            async def produce() -> None:
                nonlocal total
                for i in range(60):
                    source.put(trade_frames(total, 1 + i % 7), 1 + i % 7)
                    total += 1 + i % 7
                    await asyncio.sleep(0.005)

            producer = asyncio.create_task(produce())
            received = 0
            statuses = 0
            sequences: list[int] = []
            while True:
                message = await asyncio.wait_for(ws.recv(), 5)
                stats = _stats(message)
                if stats is None:
                    received += 1
                    sequences.append(json.loads(message)["trade"]["sequence"])
                    continue
                statuses += 1
                assert stats == {"sent": received, "dropped": 0}
                if producer.done() and received == total:
                    break
            await producer
            assert sequences == list(range(total))
            assert statuses >= 5

    run(body)


def test_slow_consumer_drop_keeps_memory_bounded_and_counts_exactly() -> None:
    async def body() -> None:
        budget = 256 * 1024
        async with started(
            max_pending_bytes=budget, write_buffer_high=32 * 1024, status_interval=0.05
        ) as server:
            raw, _ = await RawClient.connect(server.port)  # never reads until told
            await asyncio.sleep(0.05)
            conn = server.client
            assert conn is not None
            batch = trade_frames(0, 100)
            pushed = 0
            most_pending = 0
            for _ in range(600):  # ~15 MB offered: far more than socket buffers absorb
                conn.send_events(batch, 100)
                pushed += 100
                most_pending = max(most_pending, conn.pending_bytes)
                await asyncio.sleep(0)
            assert most_pending <= budget
            assert conn.dropped > 0
            assert conn.queued_events > 0  # the application queue was in use
            assert conn.sent + conn.dropped + conn.queued_events == pushed
            # The client catches up: it receives everything not dropped, and STATUS agrees.
            expected_sent = pushed - conn.dropped
            received = 0
            async with asyncio.timeout(20):
                while True:
                    data = await raw.reader.read(1 << 20)
                    assert data
                    done = False
                    for opcode, payload in raw.decoder.feed(data):
                        if opcode != 1:
                            continue
                        stats = _stats(payload)
                        if stats is None:
                            received += 1
                        elif received == expected_sent and stats["sent"] == expected_sent:
                            assert stats == {
                                "sent": expected_sent,
                                "dropped": pushed - expected_sent,
                            }
                            done = True
                    if done:
                        break
            await raw.close()
            await assert_served(server)

    run(body)


def test_slow_consumer_disconnect_1008() -> None:
    async def body() -> None:
        async with started(
            max_pending_bytes=128 * 1024, write_buffer_high=32 * 1024, slow_consumer="disconnect"
        ) as server:
            raw, _ = await RawClient.connect(server.port)
            await asyncio.sleep(0.05)
            conn = server.client
            assert conn is not None
            batch = trade_frames(0, 100)
            for _ in range(600):
                if conn.closing:
                    break
                conn.send_events(batch, 100)
                await asyncio.sleep(0)
            assert conn.closing
            messages, code, reason = await raw.read_until_close(20)
            await raw.close()
            assert (code, reason) == (1008, "too much backpressure")
            assert sum(1 for op, _ in messages if op == 1) >= conn.sent
            await assert_served(server)

    run(body)


def test_client_that_never_reads_its_acks_is_closed_1008_with_memory_bounded() -> None:
    async def body() -> None:
        budget = 16 * 1024
        async with started(
            max_pending_bytes=budget, write_buffer_high=4 * 1024, socket_send_buffer=4096
        ) as server:
            raw, _ = await RawClient.connect(server.port)
            await asyncio.sleep(0.05)
            conn = server.client
            assert conn is not None
            # 5,000 commands in one write: the acks of what one read holds (hundreds of KB)
            # cannot fit in the budget and the socket buffers.
            stop = b'{"msg_type":"STOP","id":1}'
            raw.writer.write(ws_encode_frames(1, [stop] * 5000, os.urandom(4)))
            most_pending = 0
            for _ in range(100):
                await asyncio.sleep(0.01)
                most_pending = max(most_pending, conn.pending_bytes)
                if conn.closing:
                    break
            assert conn.closing
            assert most_pending <= budget
            messages, code, reason = await raw.read_until_close(20)
            await raw.close()
            assert (code, reason) == (1008, "too much backpressure")
            assert 100 < len(messages) < 5000  # acks up to the budget were sent
            await assert_served(server)

    run(body)


def test_a_client_that_writes_without_reading_stays_within_the_budget() -> None:
    async def body() -> None:
        budget = 64 * 1024
        async with started(max_pending_bytes=budget, write_buffer_high=16 * 1024) as server:
            raw, _ = await RawClient.connect(server.port)
            await asyncio.sleep(0.05)
            conn = server.client
            assert conn is not None
            # 40,000 commands in small writes, never reading the acks. Once the server's writes
            # to it pause, it is not read any more (its own socket throttles it); what one read
            # brought in is answered within the budget, or it is closed with 1008.
            stop = b'{"msg_type":"STOP","id":1}'
            most_pending = 0
            with contextlib.suppress(ConnectionError):
                for _ in range(400):
                    raw.writer.write(ws_encode_frames(1, [stop] * 100, os.urandom(4)))
                    await asyncio.sleep(0.002)
                    most_pending = max(most_pending, conn.pending_bytes)
            assert most_pending <= budget
            messages = await raw.read_until_quiet()
            answered = sum(1 for op, p in messages if op == 1 and b"REQ_RESPONSE" in p)
            assert 0 < answered < 40_000
            await assert_served(server)

    run(body)


def test_heartbeat_timeout_1011() -> None:
    async def body() -> None:
        async with started(status_interval=0.05, ping_interval=0.1, pong_timeout=0.4) as server:
            raw, _ = await RawClient.connect(server.port)  # reads, but never answers pings
            started_at = asyncio.get_running_loop().time()
            messages, code, reason = await raw.read_until_close(5)
            elapsed = asyncio.get_running_loop().time() - started_at
            await raw.close()
            assert (code, reason) == (1011, "heartbeat timeout")
            assert 0.35 <= elapsed < 2
            assert sum(1 for op, _ in messages if op == 9) >= 3  # pings were sent
            assert sum(1 for op, _ in messages if op == 1) >= 5  # and STATUS kept coming

            # A client that answers pings (websockets does) is not timed out.
            async with await client(server) as ws:
                await asyncio.sleep(0.8)
                assert await command(ws, {"msg_type": "STOP", "id": 1}) == ack(1, "OK")

    run(body)


#: Characters that must never reach a log line or an error message raw: C1 controls (NEXT
#: LINE, CSI), DEL, the line/paragraph separators and a bidirectional override.
_UNPRINTABLE = "\u0085\u009b\u007f\u2028\u2029\u202e"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/stream"])
def test_client_mistakes_are_escaped_and_logged_at_most_once_a_second(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An echo of client input escapes everything unprintable, in the reply and in the log;
    a client sending bad commands as fast as it can gets each one answered but writes about
    one log line a second, with the count of the others; other clients are served."""
    stream = path == "/v1/stream"
    bad = (
        json.dumps({"method": f"x{_UNPRINTABLE}", "id": 1})
        if stream
        else json.dumps({"msg_type": f"x{_UNPRINTABLE}", "id": 1})
    )
    flood = 2000

    async def body() -> None:
        async with started() as server:
            async with connect(f"ws://127.0.0.1:{server.port}{path}", open_timeout=5) as ws:
                for _ in range(flood):
                    await ws.send(bad)
                replies = []
                while len(replies) < flood:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if (
                        "error" in message
                        or message.get("header", {}).get("type") == "REQ_RESPONSE"
                    ):
                        replies.append(message)
                await assert_served(server)
            first = replies[0]
            text = first["error"]["msg"] if stream else first["header"]["message"]
            assert not any(c in text for c in _UNPRINTABLE), text
            assert r"x\u0085\u009b\u007f\u2028\u2029\u202e" in text, text

    with caplog.at_level(logging.INFO, logger="fastfeed.server"):
        run(body)
    lines = [r.getMessage() for r in caplog.records if r.name == "fastfeed.server"]
    mistakes = [line for line in lines if "bad command" in line or ": mistakes: " in line]
    assert all(not any(c in line for c in _UNPRINTABLE) for line in lines)
    assert mistakes[0].endswith(r"x\u0085\u009b\u007f\u2028\u2029\u202e" + '"'), mistakes[0]
    # The first mistake, then a count of the others (when the connection closed, or once a
    # second while the flood lasted): never one line per command.
    assert 2 <= len(mistakes) <= 10, mistakes
    counted = sum(
        int(m.split(": ")[2].split(" more")[0].replace(",", ""))
        for m in mistakes[1:]
        if "more in the last" in m
    )
    shown = sum(1 for m in mistakes if "bad command" in m)
    assert shown + counted == flood, mistakes
