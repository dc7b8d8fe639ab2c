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
