"""The package surface: exports, typing marker, error hierarchy."""

from __future__ import annotations

import importlib.resources

import fastfeed
from fastfeed import errors


def test_all_exports_exist() -> None:
    for name in fastfeed.__all__:
        assert hasattr(fastfeed, name), name


def test_typed_package() -> None:
    files = importlib.resources.files("fastfeed")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_core.pyi").is_file()


def test_one_base_class() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.FastfeedError), name
    for cls in (errors.EnvelopeError, errors.JsonStreamError, errors.EventDecodeError):
        assert issubclass(cls, ValueError)


def test_client_sdk_is_exported() -> None:
    for name in (
        "connect",
        "Feed",
        "Batch",
        "Backoff",
        "Stock",
        "Option",
        "Index",
        "Trade",
        "Quote",
        "Ohlc",
        "OpenInterest",
        "Status",
        "Disconnected",
        "Reconnected",
        "Gap",
        "TakenOver",
        "FeedStats",
        "SubscriptionError",
        "MaxStreamsError",
    ):
        assert name in fastfeed.__all__, name
    assert issubclass(errors.MaxStreamsError, errors.SubscriptionError)
    assert issubclass(errors.FeedConnectionError, ConnectionError)


def test_runs_without_uvloop() -> None:
    """Where uvloop does not exist (Windows: the dependency's marker leaves it out), every
    command imports and runs on asyncio's own loop."""
    import subprocess
    import sys

    script = """
import asyncio, sys
sys.modules["uvloop"] = None  # import uvloop now raises ImportError
import fastfeed.cli, fastfeed.tail, fastfeed.record, fastfeed.bench.client, fastfeed.bench.fanout
from fastfeed._loop import HAVE_UVLOOP, run

async def loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__

assert not HAVE_UVLOOP
print(run(loop_type()))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("asyncio."), done.stdout
