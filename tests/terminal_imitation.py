"""A stand-in for the original terminal's ``/v1/events`` built from its documented sample
output, byte for byte: contracts with ``root``, headers in either key order, STATUS without
``stats``, ``SUBSCRIBED`` acknowledgements, negative option trade sequences, and frame types
fastfeed does not send (``STATE``, ``MARKET_VALUE``).

The SDK tests run a real :func:`fastfeed.connect` against it over loopback.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

#: The documented sample messages (https://http-docs.thetadata.us/Streaming/…), verbatim.
STOCK_TRADE = (
    b'{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK",'
    b'"root":"AAPL"},"trade":{"ms_of_day":38437607,"sequence":12150295,"size":500,'
    b'"condition":0,"price":184.5099,"exchange":57,"date":20240503}}'
)
STOCK_QUOTE = (
    b'{"header":{"type":"QUOTE","status":"CONNECTED"},"contract":{"security_type":"STOCK",'
    b'"root":"AAPL"},"quote":{"ms_of_day":38437457,"bid_size":235,"bid_exchange":29,'
    b'"bid":184.49,"bid_condition":0,"ask_size":100,"ask_exchange":29,"ask":184.5,'
    b'"ask_condition":0,"date":20240503}}'
)
OPTION_TRADE = (
    b'{"header":{"status":"CONNECTED","type":"TRADE"},"contract":{"security_type":"OPTION",'
    b'"root":"QQQ","expiration":20231110,"strike":360000,"right":"P"},"trade":{"ms_of_day":'
    b'49531278,"sequence":-563040482,"size":5,"condition":18,"price":1.06,"exchange":65,'
    b'"date":20231103}}'
)
OPTION_QUOTE = (
    b'{"header":{"status":"CONNECTED","type":"QUOTE"},"contract":{"security_type":"OPTION",'
    b'"root":"SPXW","expiration":20240315,"strike":4800000,"right":"C"},"quote":{"ms_of_day":'
    b'26622025,"bid_size":7,"bid_exchange":5,"bid":110.2,"bid_condition":50,"ask_size":7,'
    b'"ask_exchange":5,"ask":110.5,"ask_condition":50,"date":20231219}}'
)
INDEX_TRADE = (
    b'{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"INDEX",'
    b'"root":"SPX"},"trade":{"ms_of_day":51952000,"sequence":0,"size":0,"condition":0,'
    b'"price":5333.39,"exchange":5,"date":20240809}}'
)
INDEX_OHLC = (
    b'{"header":{"type":"OHLC","status":"CONNECTED"},"contract":{"security_type":"INDEX",'
    b'"root":"SPX"},"ohlc":{"ms_of_day":51952000,"open":5314.66,"high":5358.67,"low":5300.84,'
    b'"close":5333.39,"volume":0,"count":1135013,"date":20240809}}'
)
STATUS = b'{"header":{"status":"CONNECTED","type":"STATUS"}}'
#: Frames seen from the original terminal that fastfeed never sends.
STATE = b'{"header":{"type":"STATE","status":"CONNECTED","state":"START"}}'
MARKET_VALUE = (
    b'{"header":{"type":"MARKET_VALUE","status":"CONNECTED"},"contract":{"security_type":'
    b'"STOCK","root":"AAPL"},"market_value":{"ms_of_day":38437607,"date":20240503}}'
)

#: What the imitation sends after the first acknowledged subscription, in this order.
SAMPLES = (
    STATE,
    STOCK_QUOTE,
    STOCK_TRADE,
    MARKET_VALUE,
    OPTION_QUOTE,
    OPTION_TRADE,
    INDEX_OHLC,
    INDEX_TRADE,
)


def subscribed(req_id: int | None) -> bytes:
    """The original's acknowledgement of a successful subscription."""
    return json.dumps(
        {
            "header": {
                "type": "REQ_RESPONSE",
                "status": "CONNECTED",
                "response": "SUBSCRIBED",
                "req_id": req_id,
            }
        },
        separators=(",", ":"),
    ).encode()


class TerminalImitation:
    """Answers every command with ``SUBSCRIBED``, sends STATUS every ``status_interval``
    seconds and, after the first command, :data:`SAMPLES` once. Records the commands it got
    (parsed as JSON, or as a Python literal as the original also reads them)."""

    def __init__(self, status_interval: float = 0.1) -> None:
        self.status_interval = status_interval
        self.commands: list[dict[str, Any]] = []
        self.port = 0

    async def _handle(self, ws: ServerConnection) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                try:
                    command = json.loads(text)
                except ValueError:
                    command = ast.literal_eval(text)
                first = not self.commands
                self.commands.append(command)
                await ws.send(subscribed(command.get("id")).decode())
                if first:
                    for frame in SAMPLES:
                        await ws.send(frame.decode())
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.status_interval)
                await ws.send(STATUS.decode())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TerminalImitation]:
        async with serve(self._handle, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            yield self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/events"
