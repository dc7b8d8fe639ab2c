"""Drop-in for the original terminal's clients (issue 10): the command forms its own
documentation sends, over real sockets, against the synthetic market; their strict twins and
``--strict``; the seed's "Try it"; and the SDK against an imitation of the original terminal
built from its documented sample output."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import fastfeed
import pytest
from fastfeed import Index, Ohlc, Option, Quote, Status, Stock, Trade
from fastfeed.server import SyntheticSource
from fastfeed.server.synthetic import SyntheticSpec
from websockets.asyncio.client import ClientConnection

from tests.server_support import ack, assert_served, client, command, run, started
from tests.terminal_imitation import TerminalImitation

INCOMPLETE = "json: incomplete object — send each command as one message"

#: The documentation's samples, as ``req.__str__()`` of the dicts they build.
REPR_STOCK_TRADE = (
    "{'msg_type': 'STREAM', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, 'id': 0, "
    "'contract': {'root': 'AAPL'}}"
)
REPR_OPTION_QUOTE = (
    "{'msg_type': 'STREAM', 'sec_type': 'OPTION', 'req_type': 'QUOTE', 'add': True, 'id': 0, "
    "'contract': {'root': 'SPY', 'expiration': '20250321', 'strike': '570000', 'right': 'C'}}"
)
REPR_BULK_STOCK = (
    "{'msg_type': 'STREAM_BULK', 'sec_type': 'STOCK', 'req_type': 'TRADE', 'add': True, 'id': 0}"
)
REPR_BULK_OPTION = (
    "{'msg_type': 'STREAM_BULK', 'sec_type': 'OPTION', 'req_type': 'TRADE', 'add': True, 'id': 0}"
)
JSON_BULK_OPEN_INTEREST = (
    '{"msg_type": "STREAM_BULK", "sec_type": "OPTION", "req_type": "OPEN_INTEREST", '
    '"add": true, "id": 0}'
)

#: The seed's "Try it" command, as printed.
TRY_IT = (
    '{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "TRADE", "id": 1, "add": true, '
    '"contract": {"symbol": "SPY", "expiration": 20250321, "strike": 570000, "right": "C"}}'
)
#: The seed's pretty-printed subscribe envelope; websocat sends each line as one frame.
PRETTY_ENVELOPE = """{
"msg_type": "STREAM",
"sec_type": "STOCK",
"req_type": "QUOTE",
"add": true,
"id": 1,
"contract": {"symbol": "AAPL"}
}"""

SPY_C = {
    "security_type": "OPTION",
    "symbol": "SPY",
    "expiration": 20250321,
    "strike": 570000,
    "right": "C",
}


def market(rate: float = 20_000) -> SyntheticSource:
    return SyntheticSource(SyntheticSpec(seed=7, rate=rate))


async def data_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` data events (STATUS skipped)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert event["header"]["type"] not in ("REQ_RESPONSE",), event
        if event["header"]["type"] != "STATUS":
            events.append(event)
    return events


@pytest.mark.parametrize(
    ("frame", "matches"),
    [
        pytest.param(
            REPR_STOCK_TRADE,
            lambda e: (
                e["contract"] == {"security_type": "STOCK", "symbol": "AAPL"}
                and e["header"]["type"] in ("TRADE", "OHLC")
            ),
            id="repr-stock-trade",
        ),
        pytest.param(
            REPR_OPTION_QUOTE,
            lambda e: e["contract"] == SPY_C and e["header"]["type"] == "QUOTE",
            id="repr-option-string-expiration-strike",
        ),
        pytest.param(
            REPR_BULK_STOCK,
            lambda e: (
                e["contract"]["security_type"] == "STOCK"
                and e["header"]["type"] in ("TRADE", "OHLC")
            ),
            id="stream-bulk-stock-trade",
        ),
        pytest.param(
            REPR_BULK_OPTION,
            lambda e: (
                e["contract"]["security_type"] == "OPTION"
                and e["header"]["type"] in ("TRADE", "OHLC")
            ),
            id="stream-bulk-option-trade",
        ),
        pytest.param(
            JSON_BULK_OPEN_INTEREST,
            lambda e: (
                e["contract"]["security_type"] == "OPTION"
                and e["header"]["type"] == "OPEN_INTEREST"
            ),
            id="stream-bulk-option-open-interest",
        ),
    ],
)
def test_documented_forms_get_ok_then_the_matching_events(frame: str, matches: Any) -> None:
    async def body() -> None:
        async with started(market()) as server, await client(server) as ws:
            assert await command(ws, frame) == ack(0, "OK")
            events = await data_events(ws, 40)
            assert all(matches(e) for e in events), [e for e in events if not matches(e)][:3]
            kinds = {e["header"]["type"] for e in events}
            assert kinds - {"OHLC"}, "no event of the subscribed type"
            if "STREAM_BULK" in frame and "TRADE" in frame:
                # Whole-market: several contracts, not one.
                assert len({json.dumps(e["contract"]) for e in events}) > 1

    run(body)


def test_strict_twins_with_a_real_mistake_get_the_exact_field_errors() -> None:
    cases = [
        (
            REPR_STOCK_TRADE.replace("'root'", "'roots'"),
            "contract.roots: unknown field (expected symbol)",
        ),
        (
            REPR_STOCK_TRADE.replace("'add'", "'ad'"),
            "ad: unknown field (expected msg_type, sec_type, req_type, add, id, contract)",
        ),
        (
            REPR_OPTION_QUOTE.replace("'20250321'", "'20250230'"),
            "contract.expiration: not a calendar date: 20250230",
        ),
        (
            REPR_OPTION_QUOTE.replace("'570000'", "'4.8'"),
            'contract.strike: must be a positive integer (thousandths of a dollar), got "4.8"',
        ),
        (
            REPR_BULK_STOCK.replace("'TRADE'", "'QUOTE'"),
            'req_type: STREAM_BULK takes TRADE or OPEN_INTEREST, got "QUOTE"',
        ),
        (
            REPR_BULK_STOCK.replace("'id': 0", "'id': 0, 'contract': {'root': 'AAPL'}"),
            "contract: must be absent for STREAM_BULK",
        ),
    ]

    async def body() -> None:
        async with started(market(rate=100)) as server, await client(server) as ws:
            for frame, message in cases:
                assert await command(ws, frame) == ack(0, "ERROR", message), frame
            # A repr command with a syntax error: the offset points into what was sent.
            broken = "{'msg_type': 'STREAM', 'add': Tru, 'id': 3}"
            reply = await command(ws, broken)
            assert reply == ack(
                None,
                "ERROR",
                "json: expected value (the Python literals are True, False and None) at byte 30",
            )
            assert broken[30:33] == "Tru"
            # The connection and the server kept serving.
            assert await command(ws, REPR_STOCK_TRADE) == ack(0, "OK")
            await assert_served(server)

    run(body)


def test_strict_refuses_the_lenient_forms_naming_the_strict_form() -> None:
    refusals = [
        (
            REPR_STOCK_TRADE,
            None,
            "json: a Python literal, not JSON: write strings in double quotes and true, false, "
            "null (this server runs with --strict)",
        ),
        (
            '{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "QUOTE", "add": true, '
            '"id": 4, "contract": {"root": "SPY", "expiration": "20250321", "strike": 570000, '
            '"right": "C"}}',
            4,
            'contract.expiration: must be a YYYYMMDD integer, got "20250321" (this server runs '
            "with --strict: send 20250321 without quotes)",
        ),
        (
            '{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "QUOTE", "add": true, '
            '"id": 5, "contract": {"root": "SPY", "expiration": 20250321, "strike": "570000", '
            '"right": "C"}}',
            5,
            'contract.strike: must be a positive integer (thousandths of a dollar), got "570000" '
            "(this server runs with --strict: send 570000 without quotes)",
        ),
        (
            JSON_BULK_OPEN_INTEREST,
            0,
            "msg_type: STREAM_BULK is the original terminal's older form (this server runs with "
            '--strict): send "msg_type": "STREAM" with "req_type": "FULL_OPEN_INTEREST"',
        ),
        ('{"msg_type": "STOP"}', None, "id: required"),
    ]

    async def body() -> None:
        async with started(market(rate=100), strict=True) as server, await client(server) as ws:
            for frame, req_id, message in refusals:
                assert await command(ws, frame) == ack(req_id, "ERROR", message), frame
            # The strict forms are served.
            strict_bulk = (
                '{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "FULL_OPEN_INTEREST", '
                '"add": true, "id": 6}'
            )
            assert await command(ws, strict_bulk) == ack(6, "OK")

    run(body)


def test_the_seeds_try_it_works_as_printed() -> None:
    async def body() -> None:
        async with started(market()) as server, await client(server) as ws:
            # Pasting the pretty-printed envelope sends one frame per line: each says why.
            for line in PRETTY_ENVELOPE.splitlines():
                assert await command(ws, line) == ack(None, "ERROR", INCOMPLETE), line
            # The one-line command from "Try it" subscribes, and its trades arrive.
            assert await command(ws, TRY_IT) == ack(1, "OK")
            events = await data_events(ws, 6)
            assert {e["header"]["type"] for e in events} == {"TRADE", "OHLC"}
            assert all(e["contract"] == SPY_C for e in events)

    run(body)


def test_stop_without_an_id_ends_every_stream_and_answers_req_id_null() -> None:
    async def body() -> None:
        async with started(market()) as server, await client(server) as ws:
            assert await command(ws, REPR_STOCK_TRADE) == ack(0, "OK")
            await data_events(ws, 3)
            await ws.send('{"msg_type": "STOP"}')
            while True:  # events already on their way arrive before the answer
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if reply["header"]["type"] == "REQ_RESPONSE":
                    break
            assert reply == ack(None, "OK")
            # Nothing but STATUS afterwards.
            deadline = time.monotonic() + 0.5
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), left))
                except TimeoutError:
                    break
                assert message["header"]["type"] == "STATUS", message
            assert server.client is not None
            assert server.client.subscriptions == []

    run(body)


# ---- the documentation's own Python sample against `python -m fastfeed serve` ---------------

#: The terminal documentation's sample client (Trade Stream, US Stocks), as published; only the
#: port differs.
DOC_SAMPLE = """
import asyncio
import websockets

# This code has only been tested on Python 3.11. Other versions might require adjustments.
async def stream_trades():
    async with websockets.connect('ws://127.0.0.1:{port}/v1/events') as websocket:
        req = {{}}
        req['msg_type'] = 'STREAM'
        req['sec_type'] = 'STOCK'
        req['req_type'] = 'TRADE'
        req['add'] = True
        req['id'] = 0
        req['contract'] = {{}}
        req['contract']['root'] = "AAPL"
        await websocket.send(req.__str__())
        while True:
            response = await websocket.recv()
            print(response)

asyncio.get_event_loop().run_until_complete(stream_trades())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_documentations_python_sample_runs_unchanged(tmp_path: Path) -> None:
    port = free_port()
    sample = tmp_path / "stream_trades.py"
    sample.write_text(textwrap.dedent(DOC_SAMPLE.format(port=port)))
    server = subprocess.Popen(
        [sys.executable, "-m", "fastfeed", "serve", "--port", str(port), "--rate", "5000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sample_client = None
    try:
        assert server.stderr is not None
        for line in server.stderr:  # wait until it listens
            if "serving ws://" in line:
                break
        sample_client = subprocess.Popen(
            [sys.executable, "-u", str(sample)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert sample_client.stdout is not None
        printed: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while sum(m["header"]["type"] == "TRADE" for m in printed) < 5:
            assert time.monotonic() < deadline, printed[-5:]
            line = sample_client.stdout.readline()
            assert line, "the sample client exited"
            printed.append(json.loads(line))
        assert printed[0] == ack(0, "OK")
        trades = [m for m in printed if m["header"]["type"] == "TRADE"]
        assert all(m["contract"] == {"security_type": "STOCK", "symbol": "AAPL"} for m in trades)
    finally:
        for process in (sample_client, server):
            if process is not None:
                process.kill()
                process.wait(10)
        if server.stderr is not None:
            server.stderr.close()
        if sample_client is not None and sample_client.stdout is not None:
            sample_client.stdout.close()


# ---- the SDK against what the original terminal sends ----------------------------------------


def test_the_sdk_reads_the_original_terminals_documented_messages() -> None:
    spxw = Option("SPXW", 20240315, 4800000, "C")
    qqq = Option("QQQ", 20231110, 360000, "P")

    async def body() -> None:
        imitation = TerminalImitation()
        async with imitation.running(), fastfeed.connect(imitation.url) as feed:
            # SUBSCRIBED is the original's OK.
            await feed.subscribe("TRADE", Stock("AAPL"))
            events: list[Any] = []
            async for event in feed:
                events.append(event)
                if isinstance(event, Trade) and event.contract == Index("SPX"):
                    break
            data = [e for e in events if not isinstance(e, Status)]
            assert data == [
                Quote(Stock("AAPL"), 38437457, 235, 29, 184.49, 0, 100, 29, 184.5, 0, 20240503),
                Trade(Stock("AAPL"), 38437607, 12150295, 500, 0, 184.5099, 57, 20240503),
                Quote(spxw, 26622025, 7, 5, 110.2, 50, 7, 5, 110.5, 50, 20231219),
                Trade(qqq, 49531278, -563040482, 5, 18, 1.06, 65, 20231103),
                Ohlc(
                    Index("SPX"), 51952000, 5314.66, 5358.67, 5300.84, 5333.39, 0, 1135013, 20240809
                ),
                Trade(Index("SPX"), 51952000, 0, 0, 0, 5333.39, 5, 20240809),
            ]
            # STATUS without stats: counters unknown, no made-up gap.
            async for event in feed:
                if isinstance(event, Status):
                    assert (event.sent, event.dropped) == (-1, -1)
                    break
            assert feed.stats.gaps == 0
            assert imitation.commands[0]["contract"] == {"symbol": "AAPL"}
            bar = feed.open_bar(Stock("AAPL"), "1s")
            assert bar is not None
            assert (bar["open"], bar["volume"], bar["count"]) == (184.5099, 500, 1)

    run(body)
