"""A test server process: a real :class:`fastfeed.server.Server` on 127.0.0.1 that sends a
steady stream of TRADE events for every subscribed TRADE contract (a source that follows the
hub's interest changes and puts encoded frames through ``Hub.broadcast``).

Prints ``PORT <n>`` once listening, then ``SUBS <json>`` (the subscribed streams, sorted SPEC
§4 names) whenever they change. Used by the client tests that need to
kill, restart or freeze (SIGSTOP) the server.

    python tests/feeder_server.py [--port N] [--interval S] [--per-tick N] [--status-interval S]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
from collections.abc import Iterable

import numpy as np
import uvloop
from fastfeed import EventEncoder
from fastfeed.server import Hub, Server, ServerConfig


class SteadyTrades:
    """Encodes ``per_tick`` trades per subscribed TRADE contract (sequence numbers continue
    across contracts and ticks)."""

    def __init__(self, per_tick: int) -> None:
        self.per_tick = per_tick
        self.encoder = EventEncoder()
        self.ids: dict[tuple[str, str], int] = {}
        self.sequence = 0
        self.ms = 34_200_000

    def _contract(self, sec_type: str, key: str) -> int:
        cid = self.ids.get((sec_type, key))
        if cid is None:
            if sec_type == "OPTION":
                symbol, exp, strike, right = key.split(":")
                cid = self.encoder.add_contract(sec_type, symbol, int(exp), int(strike), right)
            else:
                cid = self.encoder.add_contract(sec_type, key)
            self.ids[(sec_type, key)] = cid
        return cid

    def tick(self, streams: Iterable[str]) -> tuple[bytes, int] | None:
        wanted = sorted(_trade_contract(name) for name in streams if name.endswith("@trade"))
        if not wanted:
            return None
        ids = np.repeat([self._contract(sec, key) for sec, key in wanted], self.per_tick)
        n = len(ids)
        seq = np.arange(self.sequence, self.sequence + n, dtype=np.int64)
        self.sequence += n
        self.ms += 7
        frames = self.encoder.encode_trades(
            ids.astype(np.uint32),
            np.full(n, self.ms, dtype=np.uint32),
            seq,
            np.ones(n, dtype=np.uint32),
            np.zeros(n, dtype=np.uint32),
            100.0 + (seq % 100) / 100.0,
            np.full(n, 5, dtype=np.uint32),
            np.full(n, 20250321, dtype=np.uint32),
        )
        return frames, n


def _trade_contract(name: str) -> tuple[str, str]:
    """``("OPTION", "SPY:20250321:570000:C")`` from ``option.SPY.20250321.570000.C@trade``."""
    sec, _, rest = name.removesuffix("@trade").partition(".")
    if sec == "option":
        symbol, expiration, strike, right = rest.rsplit(".", 3)
        return "OPTION", f"{symbol}:{expiration}:{strike}:{right}"
    return sec.upper(), rest


class InterestSource:
    """Follows the hub's union of streams and sends steady trades for its TRADE streams."""

    def __init__(self, trades: SteadyTrades, interval: float) -> None:
        self.trades = trades
        self.interval = interval
        self.streams: set[str] = set()

    def _changed(self, gained: list[str], lost: list[str]) -> None:
        self.streams.update(gained)
        self.streams.difference_update(lost)

    async def run(self, hub: Hub) -> None:
        hub.on_interest(self._changed)
        last: list[str] | None = None
        while True:
            subs = sorted(self.streams)
            if subs != last:
                print(f"SUBS {json.dumps(subs)}", flush=True)
                last = subs
            batch = self.trades.tick(subs)
            if batch is not None:
                hub.broadcast(*batch)
            await asyncio.sleep(self.interval)


async def main(args: argparse.Namespace) -> None:
    config = dataclasses.replace(ServerConfig(port=args.port), status_interval=args.status_interval)
    source = InterestSource(SteadyTrades(args.per_tick), args.interval)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Server(config, source) as server:
        print(f"PORT {server.port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--per-tick", type=int, default=5)
    parser.add_argument("--status-interval", type=float, default=0.2)
    uvloop.run(main(parser.parse_args()))
    sys.exit(0)
