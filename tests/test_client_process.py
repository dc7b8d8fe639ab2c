"""The client SDK against a server in a child process that can be killed, restarted and
frozen: reconnect with resubscription, and the heartbeat watchdog (SPEC §8)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import fastfeed
from client_support import Feeder
from fastfeed import Backoff, Disconnected, Gap, Reconnected, Status, Stock, Trade
from server_support import run


def test_server_killed_and_restarted_reconnects_and_resubscribes() -> None:
    async def body() -> None:
        feeder = await Feeder.start()
        port = feeder.port
        try:
            async with fastfeed.connect(
                feeder.url, reconnect=Backoff(initial=0.05, cap=0.2), seed=1
            ) as feed:
                await feed.subscribe("TRADE", Stock("AAPL"))
                await feed.subscribe("TRADE", Stock("MSFT"))
                await feed.subscribe("QUOTE", fastfeed.Option("SPY", 20250321, 570000, "C"))
                before = await feeder.wait_subs(3)
                events: list[Any] = []
                async for event in feed:
                    events.append(event)
                    if sum(isinstance(e, Trade) for e in events) >= 100:
                        break
                await feeder.kill()
                killed_at = time.time()
                await asyncio.sleep(0.3)  # the outage: nothing listens on the port
                feeder = await Feeder.start(port)
                after_events: list[Any] = []
                async with asyncio.timeout(10):
                    async for event in feed:
                        after_events.append(event)
                        if (
                            isinstance(event, Status)
                            and any(isinstance(e, Reconnected) for e in after_events)
                            and event.received >= 200
                        ):
                            break
                after = await feeder.wait_subs(3)
        finally:
            await feeder.kill()
        disconnected = [e for e in after_events if isinstance(e, Disconnected)]
        reconnected = [e for e in after_events if isinstance(e, Reconnected)]
        assert len(disconnected) == 1 and len(reconnected) == 1
        assert after_events.index(disconnected[0]) < after_events.index(reconnected[0])
        outage = reconnected[0]
        assert outage.disconnected_at == disconnected[0].at
        assert killed_at - 1 < outage.disconnected_at < outage.reconnected_at
        assert outage.outage >= 0.25  # at least the time nothing was listening
        assert outage.subscriptions == 3
        # The same subscriptions, re-sent (with fresh ids: see the session tests).
        assert after == before
        # Nothing lost after the reconnect: every STATUS of the new connection agrees.
        tail = after_events[after_events.index(reconnected[0]) :]
        statuses = [e for e in tail if isinstance(e, Status)]
        assert statuses and all(s.sent == s.received for s in statuses if s.sent > 0)
        trades = [e for e in tail if isinstance(e, Trade)]
        assert len(trades) >= 200
        per_contract: dict[str, list[int]] = {}
        for t in trades:
            per_contract.setdefault(str(t.contract), []).append(t.sequence)
        assert set(per_contract) == {"AAPL", "MSFT"}
        all_sequences = sorted(t.sequence for t in trades)
        assert all_sequences == list(range(len(all_sequences)))  # contiguous from 0
        assert not any(isinstance(e, Gap) for e in events + after_events)
        assert feed.stats.reconnects == 1

    run(body, timeout=25)


def test_frozen_server_is_detected_within_heartbeat_timeout() -> None:
    async def body() -> None:
        feeder = await Feeder.start()
        heartbeat_timeout = 1.0
        try:
            async with fastfeed.connect(
                feeder.url,
                heartbeat_timeout=heartbeat_timeout,
                reconnect=Backoff(initial=0.05, cap=0.2),
                connect_timeout=0.5,
            ) as feed:
                await feed.subscribe("TRADE", Stock("AAPL"))
                async for event in feed:
                    if isinstance(event, Trade):
                        break
                feeder.freeze()
                frozen_at = time.monotonic()
                async with asyncio.timeout(heartbeat_timeout + 3):
                    async for event in feed:
                        if isinstance(event, Disconnected):
                            break
                detected_after = time.monotonic() - frozen_at
                assert "heartbeat timeout" in event.reason
                assert detected_after <= heartbeat_timeout + 1.0
                assert not feed.connected
                # Thawed, the server accepts the reconnect and the stream resumes.
                feeder.thaw()
                async with asyncio.timeout(10):
                    async for event in feed:
                        if isinstance(event, Trade) and feed.stats.reconnects == 1:
                            break
                assert feed.connected
        finally:
            await feeder.kill()

    run(body, timeout=25)
