"""The event loop the command-line programs run on: uvloop where it exists (Linux, macOS),
asyncio's own loop elsewhere (Windows, where uvloop has no build)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["HAVE_UVLOOP", "new_event_loop", "run"]

T = TypeVar("T")

try:
    import uvloop as _uvloop
except ImportError:  # pragma: no cover - Windows, or an install without the marker's uvloop
    _uvloop = None  # type: ignore[assignment]

#: Whether uvloop is installed (the dependency carries ``sys_platform != 'win32'``).
HAVE_UVLOOP = _uvloop is not None


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop, or asyncio's default loop without uvloop."""
    if _uvloop is not None:
        return _uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """``asyncio.run`` on :func:`new_event_loop`."""
    factory: Callable[[], asyncio.AbstractEventLoop] = new_event_loop
    with asyncio.Runner(loop_factory=factory, debug=debug) as runner:
        return runner.run(main)
