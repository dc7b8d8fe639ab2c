"""Helpers for the client SDK tests: encoded event streams and a server in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
from fastfeed import EventEncoder

FEEDER = Path(__file__).with_name("feeder_server.py")


def encode_trades(
    encoder: EventEncoder,
    contract_ids: list[int],
    ms_of_day: list[int],
    prices: list[float],
    sizes: list[int],
    *,
    first_sequence: int = 0,
    ids: list[int] | None = None,
) -> bytes:
    """TRADE frames with the given values (date 20250321)."""
    n = len(contract_ids)
    return encoder.encode_trades(
        np.array(contract_ids, dtype=np.uint32),
        np.array(ms_of_day, dtype=np.uint32),
        np.arange(first_sequence, first_sequence + n, dtype=np.int64),
        np.array(sizes, dtype=np.uint32),
        np.zeros(n, dtype=np.uint32),
        np.array(prices, dtype=np.float64),
        np.full(n, 4, dtype=np.uint32),
        np.full(n, 20250321, dtype=np.uint32),
        ids=None if ids is None else np.array(ids, dtype=np.uint64),
    )


class Feeder:
    """``tests/feeder_server.py`` in a child process (so tests can kill or freeze it)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.subs: list[str] = []

    @classmethod
    async def start(cls, port: int = 0, *flags: str) -> Feeder:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(FEEDER),
            "--port",
            str(port),
            *flags,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        assert line.startswith(b"PORT "), line
        return cls(process, int(line.split()[1]))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/events"

    async def wait_subs(self, count: int, timeout: float = 5) -> list[str]:
        """Reads ``SUBS`` lines until the server reports ``count`` subscriptions."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while len(self.subs) != count:
                line = await self.process.stdout.readline()
                assert line, "feeder exited"
                if line.startswith(b"SUBS "):
                    self.subs = json.loads(line[5:])
        return self.subs

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        await self.process.wait()
