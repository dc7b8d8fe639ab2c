# ruff: noqa: E501  (tables of exact messages read best one row a line)
"""SPEC §4 from Python: stream names, the contract validator and `/v1/stream` commands and
replies, all answered by the Rust core (the exact messages are tested in Rust; these check the
binding: types, attributes, exceptions)."""

from __future__ import annotations

import json

import fastfeed
import pytest
from fastfeed import (
    ContractError,
    StreamCommandError,
    StreamNameError,
    check_contract,
    encode_stream_error,
    encode_stream_result,
    parse_stream_command,
    parse_stream_name,
    stream_name,
)
from fastfeed.client import Index, Option, Stock, Subscription
from fastfeed.client.jsonl import parse_stream_name as subscription_of


def test_stream_names_parse_into_specs() -> None:
    spec = parse_stream_name("option.SPY.20250321.570000.C@quote")
    assert (spec.sec_type, spec.req_type, spec.symbol) == ("OPTION", "QUOTE", "SPY")
    assert (spec.expiration, spec.strike, spec.right) == (20250321, 570000, "C")
    assert spec.name == str(spec) == "option.SPY.20250321.570000.C@quote"
    assert repr(spec) == "StreamSpec('option.SPY.20250321.570000.C@quote')"
    stock = parse_stream_name("stock.BRK.B@trade")
    assert (stock.sec_type, stock.req_type, stock.symbol, stock.expiration) == (
        "STOCK",
        "TRADE",
        "BRK.B",
        None,
    )
    assert parse_stream_name("option.BRK.B.20250321.570000.C@quote").symbol == "BRK.B"
    full = parse_stream_name("option@full_open_interest")
    assert (full.sec_type, full.req_type, full.symbol) == ("OPTION", "FULL_OPEN_INTEREST", None)
    assert parse_stream_name("index.SPX@ohlc") == parse_stream_name("index.SPX@ohlc")
    assert len({parse_stream_name("stock.A@trade"), parse_stream_name("stock.A@trade")}) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("AAPL", 'expected <sec>.<SYMBOL>[.<expiration>.<strike>.<right>]@<kind>, got "AAPL"'),
        ("bond.X@trade", 'sec: expected one of stock, option, index, got "bond"'),
        ("stock.AAPL@open_interest", "stock does not support open_interest"),
        ("option.SPY.20250230.570000.C@quote", "contract.expiration: not a calendar date: 20250230"),
        ("option.SPY@quote", 'expected option.<SYMBOL>.<expiration>.<strike>.<right>@quote, got "option.SPY@quote"'),
    ],
)  # fmt: skip
def test_bad_stream_names(name: str, message: str) -> None:
    with pytest.raises(StreamNameError) as error:
        parse_stream_name(name)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


def test_stream_name_formats_and_validates() -> None:
    assert stream_name("STOCK", "TRADE", "AAPL") == "stock.AAPL@trade"
    assert (
        stream_name("OPTION", "QUOTE", "SPY", 20250321, 570000, "C")
        == "option.SPY.20250321.570000.C@quote"
    )
    assert stream_name("STOCK", "FULL_TRADES") == "stock@full_trades"
    for args, message in [
        (("STOCK", "OPEN_INTEREST", "AAPL"), "stock does not support open_interest"),
        (("OPTION", "FULL_TRADES", "SPY"), "option@full_trades takes no contract, got a contract"),
        (("STOCK", "TRADE"), "contract.symbol: required"),
        (("OPTION", "TRADE", "SPY", 20250321), "contract.strike: required"),
        (("BOND", "TRADE", "X"), 'sec_type: expected one of STOCK, OPTION, INDEX, got "BOND"'),
        (
            ("STOCK", "trade", "X"),
            "req_type: expected one of QUOTE, TRADE, OHLC, OPEN_INTEREST, FULL_TRADES, "
            'FULL_OPEN_INTEREST, got "trade"',
        ),
    ]:
        with pytest.raises(StreamNameError) as error:
            stream_name(*args)  # type: ignore[arg-type]
        assert str(error.value) == message


def test_check_contract() -> None:
    check_contract("STOCK", "AAPL")
    check_contract("OPTION", "SPY", 20240229, 1, "P")
    for args, message in [
        (("OPTION", "SPY", 20250230, 1, "C"), "contract.expiration: not a calendar date: 20250230"),
        (("OPTION", "SPY", "20250321", 1, "C"), "contract.expiration: must be a YYYYMMDD integer, got '20250321'"),
        (("OPTION", "SPY", 20250321, 0, "C"), "contract.strike: must be a positive integer (thousandths of a dollar), got 0"),
        (("OPTION", "SPY", 20250321, 1, None), "contract.right: required"),
        (("INDEX", "SPX", None, None, "C"), "contract.right: not allowed for INDEX (only an OPTION has expiration, strike, right)"),
    ]:  # fmt: skip
        with pytest.raises(ContractError) as error:
            check_contract(*args)  # type: ignore[arg-type]
        assert str(error.value) == message


def test_stream_names_become_sdk_subscriptions() -> None:
    assert subscription_of("stock.AAPL@trade") == Subscription("TRADE", "STOCK", Stock("AAPL"))
    assert subscription_of("index.SPX@ohlc") == Subscription("OHLC", "INDEX", Index("SPX"))
    assert subscription_of("option.SPY.20250321.570000.C@quote") == Subscription(
        "QUOTE", "OPTION", Option("SPY", 20250321, 570000, "C")
    )
    assert subscription_of("option@full_trades") == Subscription("FULL_TRADES", "OPTION", None)
    with pytest.raises(StreamNameError, match="not a calendar date"):
        subscription_of("option.SPY.20250230.570000.C@quote")


def test_stream_commands() -> None:
    request = parse_stream_command(
        b'{"method":"SUBSCRIBE","params":["stock.AAPL@trade","option@full_trades",'
        b'"stock.AAPL@trade"],"id":1}'
    )
    assert (request.id, request.method) == (1, "SUBSCRIBE")
    assert request.streams == ["stock.AAPL@trade", "option@full_trades"]
    assert repr(request) == (
        "StreamRequest(id=1, method='SUBSCRIBE', streams=['stock.AAPL@trade', 'option@full_trades'])"
    )
    listing = parse_stream_command('{"method": "LIST_SUBSCRIPTIONS", "id": 3}')
    assert (listing.id, listing.method, listing.streams) == (3, "LIST_SUBSCRIPTIONS", [])
    unsubscribe = parse_stream_command(
        b'{"method":"UNSUBSCRIBE","params":["index.SPX@trade"],"id":2}'
    )
    assert unsubscribe.method == "UNSUBSCRIBE"


@pytest.mark.parametrize(
    ("frame", "code", "req_id", "message"),
    [
        (
            b"{",
            "INVALID_JSON",
            None,
            "json: incomplete object — send each command as one message",
        ),
        (b'{"method":"SUBSCRIBE"}', "INVALID_JSON", None, "id: required"),
        (b'{"method":"SUB","id":4}', "INVALID_METHOD", 4, 'method: expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, got "SUB"'),
        (b'{"method":"SUBSCRIBE","id":5}', "INVALID_PARAM", 5, "params: required"),
        (b'{"method":"SUBSCRIBE","params":["stock.AAPL@trade","option.SPY.20250230.570000.C@quote"],"id":1}', "INVALID_PARAM", 1, "params[1]: contract.expiration: not a calendar date: 20250230"),
        (b'{"method":"SUBSCRIBE","params":["stock.AAPL@trade"],"id":6,"x":1}', "INVALID_PARAM", 6, "x: unknown field (expected method, params, id)"),
    ],
)  # fmt: skip
def test_bad_stream_commands(frame: bytes, code: str, req_id: int | None, message: str) -> None:
    with pytest.raises(StreamCommandError) as error:
        parse_stream_command(frame)
    assert (error.value.code, error.value.id, str(error.value)) == (code, req_id, message)
    assert isinstance(error.value, ValueError)
    reply = encode_stream_error(error.value.id, code, str(error.value))  # type: ignore[arg-type]
    assert json.loads(reply) == {"error": {"code": code, "msg": message}, "id": req_id}


def test_replies() -> None:
    assert encode_stream_result(1) == b'{"result":null,"id":1}'
    assert encode_stream_result(1, None) == b'{"result":null,"id":1}'
    assert (
        encode_stream_result(3, ["stock.AAPL@trade"]) == b'{"result":["stock.AAPL@trade"],"id":3}'
    )
    assert encode_stream_result(3, []) == b'{"result":[],"id":3}'
    assert (
        encode_stream_error(1, "INVALID_PARAM", "params[1]: x")
        == b'{"error":{"code":"INVALID_PARAM","msg":"params[1]: x"},"id":1}'
    )
    assert (
        encode_stream_error(None, "INVALID_JSON", 'json: "q"')
        == b'{"error":{"code":"INVALID_JSON","msg":"json: \\"q\\""},"id":null}'
    )
    assert (
        encode_stream_error(2, "TOO_MANY_STREAMS", "params: too many")
        == b'{"error":{"code":"TOO_MANY_STREAMS","msg":"params: too many"},"id":2}'
    )
    with pytest.raises(ValueError, match="code must be one of"):
        encode_stream_error(1, "BAD", "x")  # type: ignore[arg-type]
    with pytest.raises(StreamNameError):
        encode_stream_result(1, ["stock.aapl@trade"])


def test_exported() -> None:
    for name in (
        "ContractError",
        "StreamNameError",
        "StreamCommandError",
        "StreamSpec",
        "StreamRequest",
        "check_contract",
        "parse_stream_name",
        "stream_name",
        "parse_stream_command",
        "encode_stream_result",
        "encode_stream_error",
    ):
        assert name in fastfeed.__all__, name
