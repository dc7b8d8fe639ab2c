"""Keeping one connection up: backoff between attempts and a watchdog for silent links.

The decisions are sans-I/O (time in, decisions out) and know nothing about what is connected:

* :class:`Backoff` — the policy: exponential backoff with full jitter, 0.25 s → 30 s cap,
  ``max_attempts``;
* :class:`BackoffSchedule` — one outage's attempts: :meth:`~BackoffSchedule.next_delay` until it
  gives up, :meth:`~BackoffSchedule.reset` after a success;
* :class:`Watchdog` — "nothing received for ``timeout`` → dead", fed with :meth:`~Watchdog.alive`.

:class:`Reconnector` is the small asyncio runner around them, shared by everything that holds a
long-lived connection (the client :class:`~fastfeed.Feed`, and sources that read an upstream):
it calls a ``connect()`` coroutine factory, waits for the returned :class:`Link` to close,
aborts it when the watchdog fires, and reports up/down through callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from fastfeed.errors import FastfeedError

__all__ = ["Backoff", "BackoffSchedule", "Link", "Reconnector", "Watchdog"]

log = logging.getLogger("fastfeed.client")

#: Failed connection attempts are logged at most this often (seconds), with their count.
FAILURE_LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: exponential backoff with full jitter.

    Attempt ``n`` (0-based) waits ``uniform(0, min(cap, initial * 2**n))`` seconds, so a
    crowd of clients does not reconnect in lock-step. ``max_attempts=None`` retries forever;
    after ``max_attempts`` failed attempts the feed ends. The count restarts after each
    successful connection.
    """

    initial: float = 0.25
    cap: float = 30.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not self.initial > 0 or not self.cap >= self.initial:
            raise ValueError(f"backoff: need 0 < initial <= cap, got {self.initial}, {self.cap}")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError(f"backoff: max_attempts must be >= 0, got {self.max_attempts}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt``."""
        return rng.uniform(0.0, min(self.cap, self.initial * 2.0 ** min(attempt, 60)))

    def schedule(self, rng: random.Random | None = None) -> BackoffSchedule:
        """A fresh :class:`BackoffSchedule` following this policy."""
        return BackoffSchedule(self, rng if rng is not None else random.Random())


class BackoffSchedule:
    """The attempts of one outage (sans-I/O): ask :meth:`next_delay` before each attempt,
    call :meth:`reset` once connected."""

    __slots__ = ("_rng", "attempts", "backoff")

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self.backoff = backoff
        self._rng = rng
        #: Attempts made since the last :meth:`reset`.
        self.attempts = 0

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt (and counts it), or ``None`` once
        ``max_attempts`` attempts have failed: give up."""
        limit = self.backoff.max_attempts
        if limit is not None and self.attempts >= limit:
            return None
        delay = self.backoff.delay(self.attempts, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """A connection succeeded: the next outage starts from the first delay again."""
        self.attempts = 0


class Watchdog:
    """ "Nothing received for ``timeout`` seconds → the connection is dead" (sans-I/O).

    Call :meth:`alive` whenever bytes arrive and :meth:`check` periodically (every
    :attr:`interval`); :meth:`suspend` while reading is paused on purpose (back-pressure), so
    a deliberately silent link is not declared dead.
    """

    __slots__ = ("_last", "_suspended", "timeout")

    def __init__(self, timeout: float, now: float) -> None:
        if not timeout > 0:
            raise ValueError(f"heartbeat_timeout must be positive, got {timeout}")
        self.timeout = float(timeout)
        self._last = now
        self._suspended = False

    @property
    def interval(self) -> float:
        """How often to :meth:`check`: a tenth of the timeout, within 20-500 ms, so death is
        detected at most ``timeout + 0.5`` s after the last byte."""
        return min(0.5, max(0.02, self.timeout / 10))

    def alive(self, now: float) -> None:
        """Something was received at ``now``."""
        self._last = now

    def suspend(self) -> None:
        """Reading is paused on purpose: silence does not count."""
        self._suspended = True

    def resume(self, now: float) -> None:
        """Reading resumed at ``now`` (the silence starts again from here)."""
        self._suspended = False
        self._last = now

    def check(self, now: float) -> float | None:
        """Seconds of silence if they exceed the timeout (the link is dead), else ``None``."""
        silent = now - self._last
        if self._suspended or silent <= self.timeout:
            return None
        return silent


class Link(Protocol):
    """What :class:`Reconnector` needs of one connection."""

    async def wait_closed(self) -> None:
        """Returns once the connection is down (for whatever reason)."""
        ...

    def abort(self, reason: str) -> None:
        """Drops the connection at once (the watchdog found it dead)."""
        ...


L = TypeVar("L", bound=Link)


class Reconnector(Generic[L]):
    """Keeps one connection up: ``connect()``, wait until the :class:`Link` closes, wait the
    :class:`Backoff` delay, ``connect()`` again — until :meth:`stop`, until ``on_down`` says
    not to, or until ``max_attempts`` attempts failed in a row.

    * ``connect``: a coroutine factory opening one connection; raising
      :class:`~fastfeed.FastfeedError` or :class:`OSError` counts as a failed attempt.
    * ``backoff``: the delays; ``None`` never reconnects (the runner ends with the first link).
    * ``heartbeat_timeout``: with it, a :class:`Watchdog` aborts a link that received nothing
      for that long; feed it through :meth:`alive` (and :attr:`watchdog`'s ``suspend``/``resume``).
    * ``on_up(link, attempts)``: a (re)connection succeeded after ``attempts`` attempts of this
      outage (0 for the first connection).
    * ``on_down(link) -> bool``: the link closed; return ``False`` to stop reconnecting.
    * ``retry_first``: retry the first connection with backoff too (a relay that must start
      while its upstream is down); by default the first failure raises from :meth:`start`.

    :meth:`wait` returns once the runner has ended (stopped, refused by ``on_down`` or gave up;
    :attr:`gave_up` tells the last).
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[L]],
        *,
        backoff: Backoff | None = None,
        heartbeat_timeout: float | None = None,
        rng: random.Random | None = None,
        on_up: Callable[[L, int], None] | None = None,
        on_down: Callable[[L], bool] | None = None,
        retry_first: bool = False,
        name: str = "connection",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.backoff = backoff
        self._schedule = (backoff or Backoff()).schedule(rng)
        self._clock = clock
        self.watchdog = (
            Watchdog(heartbeat_timeout, clock()) if heartbeat_timeout is not None else None
        )
        self._on_up = on_up
        self._on_down = on_down
        self._retry_first = retry_first
        self.name = name
        self.link: L | None = None
        self.up = False
        self.gave_up = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._failure_logged_at = -FAILURE_LOG_INTERVAL
        self._failed_unlogged = 0

    @property
    def attempts(self) -> int:
        """Attempts made in the current outage (0 while connected after a reset)."""
        return self._schedule.attempts

    async def start(self) -> L:
        """Connects (the first failure raises, unless ``retry_first``), then supervises in a
        task. Returns the first link."""
        if self._task is not None:
            raise FastfeedError(f"{self.name}: reconnector already started")
        if self._retry_first:
            link = await self._reconnect()
            if link is None:
                raise FastfeedError(f"{self.name}: gave up after {self.attempts} attempts")
        else:
            link = await self._connect()
            self._connected(link)
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        self._schedule_watchdog()
        return link

    async def stop(self) -> None:
        """Stops reconnecting and watching (the current link is the caller's to close)."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self) -> None:
        """Returns once the runner has ended."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    def alive(self) -> None:
        """Bytes arrived: feeds the watchdog."""
        if self.watchdog is not None:
            self.watchdog.alive(self._clock())

    def _connected(self, link: L) -> None:
        attempts = self._schedule.attempts
        self._schedule.reset()
        self._failed_unlogged = 0  # the outage is over ("reconnected after …" tells it)
        self.link = link
        self.up = True
        self.alive()
        if self._on_up is not None:
            self._on_up(link, attempts)

    async def _supervise(self) -> None:
        try:
            while True:
                link = self.link
                assert link is not None
                await link.wait_closed()
                self.up = False
                if self._stopping:
                    return
                keep_going = self._on_down(link) if self._on_down is not None else True
                if not keep_going or self.backoff is None or self._stopping:
                    return
                if await self._reconnect() is None:
                    return
        finally:
            self.up = False
            if self._timer is not None:
                self._timer.cancel()

    async def _reconnect(self) -> L | None:
        while not self._stopping:
            delay = self._schedule.next_delay()
            if delay is None:
                log.warning("%s: giving up after %d attempts", self.name, self.attempts)
                self.gave_up = True
                return None
            await asyncio.sleep(delay)
            try:
                link = await self._connect()
            except (FastfeedError, OSError) as error:
                self._log_failure(error)
                continue
            self._connected(link)
            return link
        return None

    def _log_failure(self, error: Exception) -> None:
        """Logs a failed attempt: the first of an outage at once, then at most one line per
        :data:`FAILURE_LOG_INTERVAL` counting those in between (a long outage must not flood
        the log)."""
        self._failed_unlogged += 1
        now = self._clock()
        if self.attempts > 1 and now - self._failure_logged_at < FAILURE_LOG_INTERVAL:
            return
        unlogged = self._failed_unlogged
        log.info(
            "%s: attempt %d failed%s: %s",
            self.name,
            self.attempts,
            f" ({unlogged} since the last report)" if unlogged > 1 else "",
            error,
        )
        self._failure_logged_at = now
        self._failed_unlogged = 0

    def _schedule_watchdog(self) -> None:
        if self.watchdog is not None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.watchdog.interval, self._tick)

    def _tick(self) -> None:
        watchdog = self.watchdog
        if watchdog is None or self._stopping or (self._task is not None and self._task.done()):
            return
        link = self.link
        if self.up and link is not None:
            silent = watchdog.check(self._clock())
            if silent is not None:
                log.warning(
                    "%s: nothing received for %.1f s: connection dead, reconnecting",
                    self.name,
                    silent,
                )
                link.abort(f"heartbeat timeout: nothing received for {silent:.1f} s")
        self._schedule_watchdog()
