"""The egress baseline: a picows server that sends one event per ``send()``, each encoded with
``orjson.dumps`` from a dict, as a straightforward Python feed handler would.

Its events are the synthetic market's (same spec and seed as ``fastfeed serve``), decoded into
dicts before the client connects, so only the per-event ``dumps`` + ``send`` is measured.

    python benches/egress_baseline_server.py PORT
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import Any

import orjson
import uvloop
from egress_support import everything_frames
from fastfeed import WSFrameDecoder
from fastfeed.server import SyntheticSpec
from fastfeed.server.synthetic import new_york_clock
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

N_EVENTS = 200_000


def market_events() -> list[Any]:
    """The events of ``N_EVENTS`` synthetic draws (everything subscribed, OHLC included) as
    dicts."""
    date, ms = new_york_clock()
    wire, count = everything_frames(SyntheticSpec(), date, ms, N_EVENTS)
    payloads = [p for _, p in WSFrameDecoder("client", max_message_size=1 << 20).feed(wire)]
    assert len(payloads) == count
    return [orjson.loads(p) for p in payloads]


class Streamer(WSListener):
    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.task: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.task = asyncio.get_running_loop().create_task(self.pump(transport))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.resumed.set()

    async def pump(self, transport: WSTransport) -> None:
        dumps = orjson.dumps
        send = transport.send
        text = WSMsgType.TEXT
        resumed = self.resumed
        for i, event in enumerate(itertools.cycle(self.events)):
            send(text, dumps(event))
            if not resumed.is_set():
                await resumed.wait()
            elif i % 256 == 255:
                await asyncio.sleep(0)  # let the loop read and run timers, as a server must


async def main(port: int) -> None:
    events = market_events()
    server = await ws_create_server(lambda _request: Streamer(events), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
