"""Backoff, the watchdog (sans-I/O: time in, decisions out) and the asyncio ``Reconnector``
that runs them around any ``connect()`` coroutine factory."""

from __future__ import annotations

import asyncio
import random

import fastfeed
import pytest
from fastfeed import FeedConnectionError
from fastfeed.client.reconnect import Backoff, Reconnector, Watchdog
from server_support import run


def test_backoff_schedule_counts_gives_up_and_restarts() -> None:
    schedule = Backoff(initial=0.25, cap=1.0, max_attempts=4).schedule(random.Random(3))
    delays = [schedule.next_delay() for _ in range(5)]
    assert delays[4] is None  # four failed attempts: give up
    bounds = [0.25, 0.5, 1.0, 1.0]
    assert all(d is not None and 0 <= d <= b for d, b in zip(delays, bounds, strict=False))
    assert schedule.attempts == 4
    schedule.reset()
    assert schedule.attempts == 0
    assert schedule.next_delay() is not None
    # Unlimited by default; the same seed gives the same jitter.
    a = Backoff().schedule(random.Random(1))
    b = Backoff().schedule(random.Random(1))
    assert [a.next_delay() for _ in range(100)] == [b.next_delay() for _ in range(100)]
    assert fastfeed.Backoff is Backoff


def test_watchdog_declares_silence_dead_unless_suspended() -> None:
    dog = Watchdog(3.0, now=100.0)
    assert dog.interval == 0.3
    assert dog.check(102.9) is None
    dog.alive(102.9)
    assert dog.check(105.8) is None
    assert dog.check(106.0) == pytest.approx(3.1)
    dog.suspend()
    assert dog.check(200.0) is None  # paused on purpose: silence does not count
    dog.resume(200.0)
    assert dog.check(202.0) is None
    assert dog.check(203.5) == pytest.approx(3.5)
    assert Watchdog(0.05, 0).interval == 0.02
    assert Watchdog(60, 0).interval == 0.5
    with pytest.raises(ValueError, match="positive"):
        Watchdog(0, 0)


class FakeLink:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = asyncio.Event()
        self.aborted: str | None = None

    async def wait_closed(self) -> None:
        await self.closed.wait()

    def abort(self, reason: str) -> None:
        self.aborted = reason
        self.closed.set()


def test_reconnector_reconnects_reports_and_gives_up() -> None:
    async def body() -> None:
        links: list[FakeLink] = []
        failures = 0
        ups: list[tuple[int, int]] = []
        downs: list[int] = []

        async def connect() -> FakeLink:
            nonlocal failures
            if failures:
                failures -= 1
                raise FeedConnectionError("refused")
            links.append(FakeLink(len(links)))
            return links[-1]

        def on_down(link: FakeLink) -> bool:
            downs.append(link.n)
            return True

        rc: Reconnector[FakeLink] = Reconnector(
            connect,
            backoff=Backoff(initial=0.001, cap=0.002, max_attempts=3),
            on_up=lambda link, attempts: ups.append((link.n, attempts)),
            on_down=on_down,
            rng=random.Random(0),
            name="test",
        )
        first = await rc.start()
        assert first is links[0] and rc.up and ups == [(0, 0)]
        # Two refused attempts, then a connection: reported with its attempt count.
        failures = 2
        links[0].closed.set()
        async with asyncio.timeout(5):
            while len(links) < 2:
                await asyncio.sleep(0.001)
        assert ups[-1] == (1, 3) and downs == [0] and rc.link is links[1]
        assert rc.attempts == 0  # restarted after the success
        # Three more refusals: gives up.
        failures = 3
        links[1].closed.set()
        async with asyncio.timeout(5):
            await rc.wait()
        assert rc.gave_up and not rc.up

    run(body)


def test_reconnector_watchdog_aborts_a_silent_link_and_on_down_can_stop() -> None:
    async def body() -> None:
        links: list[FakeLink] = []

        async def connect() -> FakeLink:
            links.append(FakeLink(len(links)))
            return links[-1]

        rc: Reconnector[FakeLink] = Reconnector(
            connect,
            backoff=Backoff(initial=0.001, cap=0.001),
            heartbeat_timeout=0.1,
            on_down=lambda link: link.n == 0,  # reconnect once, then stop
        )
        await rc.start()
        # Kept alive, it survives well beyond the timeout.
        for _ in range(15):
            rc.alive()
            await asyncio.sleep(0.02)
        assert links[0].aborted is None
        async with asyncio.timeout(5):
            while len(links) < 2:
                await asyncio.sleep(0.01)
        assert links[0].aborted is not None
        assert links[0].aborted.startswith("heartbeat timeout: nothing received for")
        async with asyncio.timeout(5):
            await rc.wait()  # the second link died too; on_down said stop
        assert len(links) == 2 and not rc.gave_up

    run(body)


def test_reconnector_first_connection_fails_fast_or_retries() -> None:
    async def body() -> None:
        calls = 0

        async def refused() -> FakeLink:
            nonlocal calls
            calls += 1
            raise FeedConnectionError("refused")

        with pytest.raises(FeedConnectionError):
            await Reconnector(refused, backoff=Backoff()).start()
        assert calls == 1

        async def third_time() -> FakeLink:
            nonlocal calls
            calls += 1
            if calls < 4:
                raise OSError("refused")
            return FakeLink(calls)

        rc = Reconnector(third_time, backoff=Backoff(initial=0.001, cap=0.001), retry_first=True)
        link = await rc.start()
        assert link.n == 4 and rc.up
        await rc.stop()
        # Without backoff the runner ends with its link.
        once = Reconnector(third_time, backoff=None)
        link = await once.start()
        link.closed.set()
        async with asyncio.timeout(5):
            await once.wait()
        assert calls == 5

    run(body)
