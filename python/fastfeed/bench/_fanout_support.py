"""Shared by the fan-out benchmark, its baseline servers and its client workers: the market's
streams, the recorded event payloads every server sends, and how a data message is checked.

The payloads come from a running ``fastfeed serve`` over its public ``/v1/events`` protocol
(no Python API of the core): first the whole-market trade and open-interest streams reveal
the universe (stocks and the option chain), then quotes of every contract are added and the
next ``n`` data events are recorded byte for byte. Each is wrapped as SPEC §4 wraps it,
``{"stream":"…","data":{…}}``, under the first of :func:`stream_names` it matches, so the
baselines send what ``/v1/stream`` sends.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastfeed import WSClientHandshake, WSFrameDecoder, ws_encode_frames

#: Types of the §3.3 data events (STATUS is not data).
DATA_TYPES = frozenset({"TRADE", "QUOTE", "OHLC", "OPEN_INTEREST"})
#: The index of the synthetic market (``serve`` has no flag for it).
INDEX = "SPX"
#: Data events read to learn the universe before quotes are subscribed.
DISCOVERY_EVENTS = 20_000


@dataclass(frozen=True)
class Universe:
    """What the synthetic market trades: stock symbols, the index and the option contracts
    ``(symbol, expiration, strike, right)``, each sorted."""

    stocks: tuple[str, ...]
    index: str
    options: tuple[tuple[str, int, int, str], ...]


def stream_names(universe: Universe) -> list[str]:
    """SPEC §4 streams that together select every event of ``universe``, in subscription
    order (the whole-market streams first, so trades, OHLC and OI go out under them)."""
    names = ["option@full_trades", "stock@full_trades", "option@full_open_interest"]
    names.append(f"index.{universe.index}@trade")
    names += [f"stock.{s}@quote" for s in universe.stocks]
    names += [f"option.{s}.{e}.{k}.{r}@quote" for s, e, k, r in universe.options]
    return names


def subscribe_command(streams: list[str]) -> bytes:
    return _dumps({"method": "SUBSCRIBE", "params": streams, "id": 1})


def stream_of(event: dict[str, Any]) -> str:
    """The first of :func:`stream_names` that the §3.3 ``event`` matches."""
    kind = event["header"]["type"]
    contract = event["contract"]
    sec = contract["security_type"].lower()
    if kind == "OPEN_INTEREST":
        return "option@full_open_interest"
    if kind in ("TRADE", "OHLC"):
        if sec == "index":
            return f"index.{contract['symbol']}@trade"
        return f"{sec}@full_trades"
    if sec == "option":
        s, e, k, r = (contract[f] for f in ("symbol", "expiration", "strike", "right"))
        return f"option.{s}.{e}.{k}.{r}@quote"
    return f"{sec}.{contract['symbol']}@quote"


def wrap(stream: str, event: bytes) -> bytes:
    """The ``/v1/stream`` data message of a §3.3 event's bytes."""
    return b'{"stream":"' + stream.encode() + b'","data":' + event + b"}"


def check_message(payload: bytes, streams: frozenset[str]) -> str | None:
    """Why ``payload`` is not a well-formed ``/v1/stream`` data message, or ``None``."""
    try:
        message = json.loads(payload)
        header = message["data"]["header"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        return f"{e!r} in {payload[:120]!r}"
    if set(message) != {"stream", "data"} or message["stream"] not in streams:
        return f"unexpected message {payload[:120]!r}"
    if header.get("type") not in DATA_TYPES or header.get("status") != "CONNECTED":
        return f"unexpected header {header!r}"
    return None


class _EventsRecorder(asyncio.Protocol):
    """A ``/v1/events`` client: discovers the universe, subscribes to it, records events."""

    def __init__(self, port: int, count: int) -> None:
        self.handshake = WSClientHandshake("127.0.0.1", port, "/v1/events", os.urandom(16))
        self.decoder = WSFrameDecoder("client", max_message_size=1 << 20)
        self.count = count
        self.phase = "discover"
        self.seen = 0
        self.acks_wanted = 0
        self.acks = 0
        self.stocks: set[str] = set()
        self.options: set[tuple[str, int, int, str]] = set()
        self.indexes: set[str] = set()
        self.universe: Universe | None = None
        self.recorded: list[bytes] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def send(self, commands: list[dict[str, Any]]) -> None:
        assert self.transport is not None
        frames = ws_encode_frames(1, [_dumps(c) for c in commands], os.urandom(4))
        self.transport.write(frames)
        self.acks_wanted += len(commands)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.handshake.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        if not self.handshake.done:
            rest = self.handshake.feed(data)
            if rest is None:
                return
            stream = {"msg_type": "STREAM", "add": True}
            self.send(
                [
                    stream | {"sec_type": "STOCK", "req_type": "FULL_TRADES", "id": 1},
                    stream | {"sec_type": "OPTION", "req_type": "FULL_TRADES", "id": 2},
                    stream | {"sec_type": "OPTION", "req_type": "FULL_OPEN_INTEREST", "id": 3},
                    stream
                    | {"sec_type": "INDEX", "req_type": "TRADE", "id": 4}
                    | {"contract": {"symbol": INDEX}},
                ]
            )
            data = rest
        for opcode, payload in self.decoder.feed(data):
            if opcode == 1:
                self.on_message(payload)
            if self.done.done():
                return

    def on_message(self, payload: bytes) -> None:
        event = json.loads(payload)
        header = event["header"]
        kind = header["type"]
        if kind == "REQ_RESPONSE":
            if header["response"] != "OK":
                self.done.set_exception(RuntimeError(f"subscription refused: {payload!r}"))
            self.acks += 1
            if self.phase == "subscribe" and self.acks == self.acks_wanted:
                self.phase = "record"
            return
        if kind not in DATA_TYPES:
            return
        if self.phase == "discover":
            self.learn(event["contract"])
            self.seen += 1
            if self.seen >= DISCOVERY_EVENTS and self.acks == self.acks_wanted:
                self.subscribe_quotes()
        elif self.phase == "record":
            self.recorded.append(wrap(stream_of(event), payload))
            if len(self.recorded) >= self.count:
                self.done.set_result(None)
                assert self.transport is not None
                self.transport.close()

    def learn(self, contract: dict[str, Any]) -> None:
        sec, symbol = contract["security_type"], contract["symbol"]
        if sec == "STOCK":
            self.stocks.add(symbol)
        elif sec == "INDEX":
            self.indexes.add(symbol)
        else:
            self.options.add(
                (symbol, contract["expiration"], contract["strike"], contract["right"])
            )

    def subscribe_quotes(self) -> None:
        assert self.indexes == {INDEX}, self.indexes
        self.universe = Universe(tuple(sorted(self.stocks)), INDEX, tuple(sorted(self.options)))
        stream = {"msg_type": "STREAM", "req_type": "QUOTE", "add": True}
        commands = [stream | {"sec_type": "STOCK", "contract": {"symbol": s}} for s in self.stocks]
        commands += [
            stream
            | {
                "sec_type": "OPTION",
                "contract": {"symbol": s, "expiration": e, "strike": k, "right": r},
            }
            for s, e, k, r in self.options
        ]
        for i, command in enumerate(commands):
            command["id"] = 10 + i
        self.phase = "subscribe"
        self.send(commands)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost while recording: {exc}"))


async def record_market(port: int, count: int) -> tuple[Universe, list[bytes]]:
    """The universe of the ``fastfeed serve --rate max`` on ``port`` and ``count`` of its data
    events as ``/v1/stream`` messages."""
    loop = asyncio.get_running_loop()
    _, recorder = await loop.create_connection(
        lambda: _EventsRecorder(port, count), "127.0.0.1", port
    )
    await asyncio.wait_for(recorder.done, 60)
    assert recorder.universe is not None
    return recorder.universe, recorder.recorded


def save_messages(path: Path, messages: list[bytes]) -> None:
    """One message a line (compact JSON has no raw newline)."""
    assert not any(b"\n" in m for m in messages)
    path.write_bytes(b"\n".join(messages))


def load_messages(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def _dumps(value: Any) -> bytes:
    """Compact JSON (the harness needs no orjson: it is a baseline, maybe not installed)."""
    return json.dumps(value, separators=(",", ":")).encode()
