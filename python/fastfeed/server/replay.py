"""``serve --source replay:PATH`` (SPEC §5): recorded events, paced, into the hub.

The files are read in Rust (:class:`fastfeed._core.ReplayReader`: JSON Lines or CSV, plain or
gzip, several merged in time order, in large chunks); this module only decides *when* the next
events go out and hands whole batches to the hub:

* ``--speed 1`` / ``--speed N``: real time from the events' market times (:mod:`.pacing`),
  like a live source (a slow client meets the slow-consumer policy);
* ``--speed max``: as fast as the slowest consumer reads, never dropping;
* ``--pace ack``: seed 004's lock-step on ``/v1/events`` (the Rust hub numbers the paced
  client's events and holds the rest back until its ``event_ack``).

The replay starts when the first client has subscribed (and its subscriptions settled,
:data:`SETTLE`). When the files are exhausted it
returns :class:`~fastfeed.server.SourceEnd` ``end of replay`` (every client gets its last
STATUS and Close 1000, and ``serve`` returns), or starts again with ``--loop``. A JSON Lines
recording already holds the session OHLC event after each trade, so the hub forwards those and
makes none of its own; a CSV replay gets them made from its trades.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import Literal

from fastfeed._core import ReplayReader
from fastfeed._notices import CountReport
from fastfeed.server.hub import Hub
from fastfeed.server.pacing import Pacer
from fastfeed.server.progress import Progress
from fastfeed.server.source import SourceCounts, SourceEnd

__all__ = ["END_OF_REPLAY", "ReplaySource", "ReplaySpec"]

log = logging.getLogger("fastfeed.server")

#: The Close reason at the end of a replay (the SDK turns it into ``EndOfStream``).
END_OF_REPLAY = "end of replay"

#: Events per read at ``--speed max`` and per paced step: large enough to amortize the calls,
#: small enough that every consumer is checked often.
_MAX_BATCH = 4096
#: Events read at once in lock-step: they wait in the hub's backlog until acknowledged.
_LOCK_STEP_BATCH = 256
#: Skipped-line messages are logged at most this often (the count of the others follows).
_SKIP_LOG_INTERVAL = 1.0
#: With ``--loop``, the end-of-pass line is logged at most this often.
_LOOP_LOG_INTERVAL = 10.0
#: The replay starts once somebody subscribed and subscriptions then stayed unchanged this
#: long (at most ten times as long in all), so a client's burst of SUBSCRIBE commands (one
#: round trip each) all land before the first event.
SETTLE = 0.1

OnBadLine = Literal["stop", "skip"]


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """What to replay and how. ``speed`` is the market-time ratio (``None``: ``max``);
    ``ack_window`` is used with ``pace_ack``."""

    path: str
    speed: float | None = 1.0
    pace_ack: bool = False
    ack_window: int = 1
    loop: bool = False
    on_bad_line: OnBadLine = "stop"
    #: Show a progress bar (on a terminal).
    progress: bool = False


class ReplaySource:
    """Replays :attr:`spec`'s files. The files are opened and checked (missing, empty, a CSV
    without its columns, a truncated gzip) when the source is made, so a bad path fails
    before the server starts: :class:`~fastfeed.ReplayError`."""

    def __init__(self, spec: ReplaySpec) -> None:
        self.spec = spec
        self.reader = ReplayReader(spec.path, on_bad_line=spec.on_bad_line)
        #: Data events handed to the hub so far (over every loop).
        self.published = 0
        self._skips = CountReport(_SKIP_LOG_INTERVAL)
        self._last_skip = ""

    def counts(self) -> SourceCounts:
        """For metrics: bad lines skipped (``--on-bad-line skip``)."""
        return SourceCounts("replay", decode_errors=self.reader.skipped)

    @property
    def forwards_session_ohlc(self) -> bool:
        """JSON Lines recordings carry the session OHLC after each trade; CSV files do not."""
        return not all(f.endswith((".csv", ".csv.gz")) for f in self.reader.files)

    async def run(self, hub: Hub) -> SourceEnd | None:
        spec, reader = self.spec, self.reader
        if spec.pace_ack:
            hub.enable_lock_step(spec.ack_window)
        hub.core.source_session_ohlc = self.forwards_session_ohlc
        files = reader.files
        total = reader.total
        log.info(
            "replay: %d file(s), %s (%s%s); waiting for the first subscription",
            len(files),
            "events being counted" if total is None else f"{total} events",
            ", ".join(files) if len(files) <= 3 else f"{files[0]} … {files[-1]}",
            "; --pace ack" if spec.pace_ack else "",
        )
        while not hub.interest:
            await hub.wait_change()
        settle_until = asyncio.get_running_loop().time() + 10 * SETTLE
        while await hub.wait_change(SETTLE):
            if asyncio.get_running_loop().time() > settle_until:
                break
        progress = Progress("replay", reader.total, enabled=spec.progress and sys.stderr.isatty())
        loops = 0
        loop_logged_at = -_LOOP_LOG_INTERVAL
        try:
            while True:
                started = time.monotonic()
                before = self.published
                if spec.pace_ack:
                    await self._lock_step(hub, progress)
                else:
                    await self._paced(hub, progress)
                self._log_skipped(force=True)
                elapsed = time.monotonic() - started
                count = self.published - before
                loops += 1
                # One line per pass, but at most one per _LOOP_LOG_INTERVAL with --loop.
                if not spec.loop or time.monotonic() - loop_logged_at >= _LOOP_LOG_INTERVAL:
                    loop_logged_at = time.monotonic()
                    log.info(
                        "replay: %d events in %.1f s (%.0f events/s)%s%s",
                        count,
                        elapsed,
                        count / elapsed if elapsed > 0 else 0.0,
                        f", {reader.skipped} bad lines skipped" if reader.skipped else "",
                        f"; --loop: pass {loops}, starting again" if spec.loop else "",
                    )
                if not spec.loop:
                    return SourceEnd(END_OF_REPLAY)
                reader.rewind()
                progress.restart()
                await asyncio.sleep(0)  # a tiny file must not starve the loop
        finally:
            progress.close()

    async def _paced(self, hub: Hub, progress: Progress) -> None:
        reader = self.reader
        speed = self.spec.speed
        loop = asyncio.get_running_loop()
        first = reader.next_time
        if first is None:
            self._raise_pending(hub)
            return
        pacer = Pacer(speed)
        pacer.start(loop.time(), first)
        while True:
            if speed is None:
                await hub.wait_ready(grace=None)
            batch = reader.read(hub.core, _MAX_BATCH, pacer.horizon(loop.time()))
            if len(batch):
                hub.publish(batch)
                self._published(len(batch), progress)
            next_time = reader.next_time
            if next_time is None:
                self._raise_pending(hub)
                return
            if speed is None:
                await asyncio.sleep(0)  # let timers and commands run between batches
            else:
                await asyncio.sleep(max(0.0, pacer.due_at(next_time) - loop.time()))

    async def _lock_step(self, hub: Hub, progress: Progress) -> None:
        reader = self.reader
        window = self.spec.ack_window
        while True:
            hub.drain()
            state = hub.lock_step
            assert state is not None
            paced, outstanding, backlog = state
            if backlog == 0:
                if reader.exhausted:
                    if outstanding == 0:
                        return
                elif paced is not None and outstanding < window and hub.subscriptions(paced):
                    await hub.wait_ready(grace=None)
                    batch = reader.read(hub.core, _LOCK_STEP_BATCH, None)
                    hub.publish(batch)
                    self._published(len(batch), progress)
                    await asyncio.sleep(0)  # events nobody paced wants must not starve the loop
                    continue
            # Waiting for an acknowledgement, a (new) lock-step client or its subscription.
            await hub.wait_change()

    def _raise_pending(self, hub: Hub) -> None:
        """At the end, or before a bad line: a read raises its ``ReplayError`` if one waits."""
        if not self.reader.exhausted:
            self.reader.read(hub.core, 1)

    def _published(self, count: int, progress: Progress) -> None:
        self.published += count
        if progress.total is None:
            progress.total = self.reader.total
        progress.update(self.reader.read_count)
        if self.reader.skipped != self._skips.reported:
            self._log_skipped()

    def _log_skipped(self, *, force: bool = False) -> None:
        """Logs skipped bad lines at most once per :data:`_SKIP_LOG_INTERVAL`: how many since
        the last report, and the latest one's message."""
        messages = self.reader.take_skipped_messages()
        if messages:
            self._last_skip = messages[-1]
        count = self._skips.due(self.reader.skipped, time.monotonic(), force=force)
        if count:
            log.warning("replay: skipped %d bad line(s); the latest: %s", count, self._last_skip)
