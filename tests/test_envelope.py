"""Command validation and acknowledgements (SPEC §3.1-3.2) through the ``fastfeed._core`` binding.

Every §3.1 rule appears in ``REJECTED`` with the exact message, path and req_id of its error.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import fastfeed
import pytest
from fastfeed import (
    EnvelopeError,
    EventAck,
    StopCommand,
    StreamCommand,
    encode_ack,
    parse_command,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SPY_C = {"symbol": "SPY", "expiration": 20250321, "strike": 570000, "right": "C"}
SECTORS = {
    "STOCK": ["QUOTE", "TRADE", "OHLC", "FULL_TRADES"],
    "OPTION": ["QUOTE", "TRADE", "OHLC", "OPEN_INTEREST", "FULL_TRADES", "FULL_OPEN_INTEREST"],
    "INDEX": ["TRADE", "OHLC"],
}
ALL_REQ_TYPES = SECTORS["OPTION"]
STREAM_FIELDS = "msg_type, sec_type, req_type, add, id, contract"
OPTION_FIELDS = "symbol, expiration, strike, right"
SYMBOL_RULE = "must be 1-16 characters of A-Z 0-9 . / ^ -"
STRIKE_RULE = "must be a positive integer (thousandths of a dollar)"
ID_RULE = "must be an integer 0 <= id < 2^63"


def stream(sec: str = "STOCK", req: str = "TRADE", contract: Any = None, **extra: Any) -> str:
    """A STREAM frame with id 5; ``contract=None`` omits it, other fields override or add."""
    frame: dict[str, Any] = {
        "msg_type": "STREAM",
        "sec_type": sec,
        "req_type": req,
        "add": True,
        "id": 5,
    }
    if contract is not None:
        frame["contract"] = contract
    frame.update(extra)
    return json.dumps(frame)


def option(**fields: Any) -> str:
    return stream("OPTION", "QUOTE", {**SPY_C, **fields})


def ack_frame(**fields: Any) -> str:
    frame = {"type": "event_ack", "correlation_id": "c", "events_processed": [1], "timestamp": 0}
    frame.update(fields)
    return json.dumps(frame)


def reject(frame: bytes | str) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as info:
        parse_command(frame)
    return info.value


# (frame, path, message, req_id)
REJECTED: list[tuple[bytes | str, str, str, int | None]] = [
    # json: not UTF-8, not JSON (0-based byte offsets), not an object
    (b"\xff", "json", "json: invalid UTF-8 at byte 0", None),
    (b'{"id":1,"a":"\xc3"}', "json", "json: invalid UTF-8 at byte 13", None),
    ("", "json", "json: EOF while parsing a value at byte 0", None),
    ("{", "json", "json: incomplete object — send each command as one message", None),
    ("nope", "json", "json: expected ident at byte 1", None),
    ('{"a" 1}', "json", "json: expected `:` at byte 5", None),
    ('{"id":1}}', "json", "json: trailing characters at byte 8", None),
    ('{\n  "id": 1,\n  oops\n}', "json", "json: key must be a string at byte 15", None),
    ('{"é":1 x}', "json", "json: expected `,` or `}` at byte 8", None),
    ('{"😀":\n "é" x}', "json", "json: expected `,` or `}` at byte 15", None),
    ("[1]", "json", "json: expected an object, got an array", None),
    ('"STOP"', "json", 'json: expected an object, got "STOP"', None),
    ("null", "json", "json: expected an object, got null", None),
    # id: required, integer 0 <= id < 2^63, checked first; never a req_id
    ("{}", "id", "id: required", None),
    ('{"msg_type":"STOP","add":true}', "id", "id: required", None),
    ('{"msg_type":"STOP","id":-1}', "id", f"id: {ID_RULE}, got -1", None),
    ('{"msg_type":"STOP","id":1.5}', "id", f"id: {ID_RULE}, got 1.5", None),
    ('{"msg_type":"STOP","id":1.0}', "id", f"id: {ID_RULE}, got 1.0", None),
    ('{"msg_type":"STOP","id":"1"}', "id", f'id: {ID_RULE}, got "1"', None),
    ('{"msg_type":"STOP","id":true}', "id", f"id: {ID_RULE}, got true", None),
    ('{"msg_type":"STOP","id":null}', "id", f"id: {ID_RULE}, got null", None),
    ('{"msg_type":"STOP","id":[1]}', "id", f"id: {ID_RULE}, got an array", None),
    (
        '{"msg_type":"STOP","id":9223372036854775808}',
        "id",
        f"id: {ID_RULE}, got 9223372036854775808",
        None,
    ),
    ('{"msg_type":"STOP","id":1,"id":1}', "id", "id: duplicate field", None),
    ('{"msg_type":"X","zz":1,"id":-3}', "id", f"id: {ID_RULE}, got -3", None),
    # duplicates (before msg_type), msg_type
    ('{"msg_type":"STOP","id":1,"msg_type":"STOP"}', "msg_type", "msg_type: duplicate field", 1),
    ('{"id":1,"zz":1,"b":1,"b":2,"zz":2}', "b", "b: duplicate field", 1),
    ('{"id":3}', "msg_type", "msg_type: required", 3),
    (
        '{"id":3,"msg_type":"stream"}',
        "msg_type",
        'msg_type: expected one of STREAM, STOP, got "stream"',
        3,
    ),
    ('{"id":3,"msg_type":7}', "msg_type", "msg_type: expected one of STREAM, STOP, got 7", 3),
    # unknown top-level fields (STOP takes only msg_type and id)
    (
        '{"msg_type":"STOP","id":2,"contract":{}}',
        "contract",
        "contract: unknown field (expected msg_type, id)",
        2,
    ),
    (stream(sec_typ="STOCK"), "sec_typ", f"sec_typ: unknown field (expected {STREAM_FIELDS})", 5),
    (stream(type="x"), "type", f"type: unknown field (expected {STREAM_FIELDS})", 5),
    (
        '{"msg_type":"STOP","id":2,"a.b":0}',
        '"a.b"',
        '"a.b": unknown field (expected msg_type, id)',
        2,
    ),
    (
        '{"msg_type":"STOP","id":2,"a\\nb":0}',
        '"a\\nb"',
        '"a\\nb": unknown field (expected msg_type, id)',
        2,
    ),
    # sec_type, req_type, combinations
    ('{"msg_type":"STREAM","id":4}', "sec_type", "sec_type: required", 4),
    (
        stream(sec="stock"),
        "sec_type",
        'sec_type: expected one of STOCK, OPTION, INDEX, got "stock"',
        5,
    ),
    ('{"msg_type":"STREAM","id":4,"sec_type":"STOCK"}', "req_type", "req_type: required", 4),
    (
        stream(req="TRADES"),
        "req_type",
        "req_type: expected one of QUOTE, TRADE, OHLC, OPEN_INTEREST, FULL_TRADES, "
        'FULL_OPEN_INTEREST, got "TRADES"',
        5,
    ),
    (
        stream("INDEX", "QUOTE", {"symbol": "SPX"}),
        "req_type",
        "req_type: QUOTE is not available for INDEX (INDEX supports TRADE, OHLC)",
        5,
    ),
    # add: required boolean
    (
        '{"msg_type":"STREAM","id":6,"sec_type":"STOCK","req_type":"FULL_TRADES"}',
        "add",
        "add: required",
        6,
    ),
    (stream(req="FULL_TRADES", add="true"), "add", 'add: must be a boolean, got "true"', 5),
    (stream(req="FULL_TRADES", add=1), "add", "add: must be a boolean, got 1", 5),
    # contract: required for non-FULL, absent for FULL_*, an object
    (stream(), "contract", "contract: required", 5),
    (
        stream(req="FULL_TRADES", contract={"symbol": "AAPL"}),
        "contract",
        "contract: must be absent for FULL_TRADES",
        5,
    ),
    (
        stream("OPTION", "FULL_OPEN_INTEREST", contract=None)[:-1] + ',"contract":null}',
        "contract",
        "contract: must be absent for FULL_OPEN_INTEREST",
        5,
    ),
    (stream(contract="AAPL"), "contract", 'contract: must be an object, got "AAPL"', 5),
    # contract members: duplicates, unknown (option fields on STOCK/INDEX too), root alias
    (
        stream()[:-1] + ',"contract":{"symbol":"A","symbol":"A"}}',
        "contract.symbol",
        "contract.symbol: duplicate field",
        5,
    ),
    (
        stream("OPTION", "QUOTE", {"symbol": "SPY", "expiration": 20250321, "strik": 1}),
        "contract.strik",
        f"contract.strik: unknown field (expected {OPTION_FIELDS})",
        5,
    ),
    (
        stream(contract=SPY_C),
        "contract.expiration",
        "contract.expiration: unknown field (expected symbol)",
        5,
    ),
    (
        stream("INDEX", "OHLC", {"symbol": "SPX", "right": "C"}),
        "contract.right",
        "contract.right: unknown field (expected symbol)",
        5,
    ),
    (
        stream(contract={"symbol": "AAPL", "root": "AAPL"}),
        "contract.root",
        "contract.root: not allowed together with symbol (root is an alias of symbol)",
        5,
    ),
    # symbol / root
    (stream(contract={}), "contract.symbol", "contract.symbol: required", 5),
    (
        stream(contract={"symbol": "ABCDEFGHIJKLMNOPQ"}),
        "contract.symbol",
        f'contract.symbol: {SYMBOL_RULE}, got "ABCDEFGHIJKLMNOPQ" (17 characters)',
        5,
    ),
    (
        stream(contract={"symbol": "aapl"}),
        "contract.symbol",
        f'contract.symbol: {SYMBOL_RULE}, got "aapl"',
        5,
    ),
    (
        stream(contract={"symbol": "AA PL"}),
        "contract.symbol",
        f'contract.symbol: {SYMBOL_RULE}, got "AA PL"',
        5,
    ),
    (
        stream(contract={"symbol": ""}),
        "contract.symbol",
        f'contract.symbol: {SYMBOL_RULE}, got ""',
        5,
    ),
    (
        stream(contract={"symbol": 5}),
        "contract.symbol",
        f"contract.symbol: {SYMBOL_RULE}, got 5",
        5,
    ),
    (
        stream(contract={"root": "spy"}),
        "contract.root",
        f'contract.root: {SYMBOL_RULE}, got "spy"',
        5,
    ),
    # expiration: YYYYMMDD integer, a real calendar date
    (
        option(expiration=20250230),
        "contract.expiration",
        "contract.expiration: not a calendar date: 20250230",
        5,
    ),
    (
        option(expiration=20250229),
        "contract.expiration",
        "contract.expiration: not a calendar date: 20250229",
        5,
    ),
    (
        option(expiration=21000229),
        "contract.expiration",
        "contract.expiration: not a calendar date: 21000229",
        5,
    ),
    (
        option(expiration=-20250321),
        "contract.expiration",
        "contract.expiration: not a calendar date: -20250321",
        5,
    ),
    (
        option(expiration="2025-03-21"),
        "contract.expiration",
        'contract.expiration: must be a YYYYMMDD integer, got "2025-03-21"',
        5,
    ),
    (
        option(expiration=20250321.0),
        "contract.expiration",
        "contract.expiration: must be a YYYYMMDD integer, got 20250321.0",
        5,
    ),
    (
        stream("OPTION", "QUOTE", {"symbol": "SPY", "strike": 1, "right": "C"}),
        "contract.expiration",
        "contract.expiration: required",
        5,
    ),
    # strike: positive integer thousandths
    (option(strike=0), "contract.strike", f"contract.strike: {STRIKE_RULE}, got 0", 5),
    (option(strike=-5), "contract.strike", f"contract.strike: {STRIKE_RULE}, got -5", 5),
    (option(strike=1.5), "contract.strike", f"contract.strike: {STRIKE_RULE}, got 1.5", 5),
    (
        option(strike="4.8"),
        "contract.strike",
        f'contract.strike: {STRIKE_RULE}, got "4.8"',
        5,
    ),
    (
        option(strike=2**32),
        "contract.strike",
        "contract.strike: must be at most 4294967295 (thousandths of a dollar), got 4294967296",
        5,
    ),
    (
        stream("OPTION", "QUOTE", {"symbol": "SPY", "expiration": 20250321, "right": "C"}),
        "contract.strike",
        "contract.strike: required",
        5,
    ),
    # right: C or P
    (option(right="c"), "contract.right", 'contract.right: expected one of C, P, got "c"', 5),
    (option(right="CALL"), "contract.right", 'contract.right: expected one of C, P, got "CALL"', 5),
    (
        stream("OPTION", "QUOTE", {"symbol": "SPY", "expiration": 20250321, "strike": 1}),
        "contract.right",
        "contract.right: required",
        5,
    ),
    # event_ack (seed 004): never a req_id
    ('{"type":"pong"}', "type", 'type: expected "event_ack", got "pong"', None),
    ('{"type":"event_ack","type":"event_ack"}', "type", "type: duplicate field", None),
    (
        ack_frame(id=1),
        "id",
        "id: unknown field (expected type, correlation_id, events_processed, timestamp)",
        None,
    ),
    ('{"type":"event_ack"}', "correlation_id", "correlation_id: required", None),
    (
        ack_frame(correlation_id=5),
        "correlation_id",
        "correlation_id: must be a string, got 5",
        None,
    ),
    (
        ack_frame(events_processed=17),
        "events_processed",
        "events_processed: must be an array of event ids, got 17",
        None,
    ),
    (
        ack_frame(events_processed=[1, "unknown"]),
        "events_processed[1]",
        'events_processed[1]: must be an integer 0 <= n < 2^63, got "unknown"',
        None,
    ),
    (
        ack_frame(timestamp=1.5),
        "timestamp",
        "timestamp: must be an integer (milliseconds since the epoch), got 1.5",
        None,
    ),
    (
        '{"type":"event_ack","correlation_id":"c","events_processed":[]}',
        "timestamp",
        "timestamp: required",
        None,
    ),
]


@pytest.mark.parametrize(("frame", "path", "message", "req_id"), REJECTED)
def test_rejected_frames(frame: bytes | str, path: str, message: str, req_id: int | None) -> None:
    err = reject(frame)
    assert (str(err), err.path, err.req_id) == (message, path, req_id)
    if isinstance(frame, str):
        # bytes and str frames are the same frame
        again = reject(frame.encode())
        assert (str(again), again.path, again.req_id) == (message, path, req_id)


def test_envelope_error_is_a_value_error() -> None:
    err = reject(b"{}")
    assert isinstance(err, ValueError)
    assert isinstance(err, fastfeed.FastfeedError)
    assert err.args == ("id: required",)


def test_spec_examples() -> None:
    cmd = parse_command(
        b'{"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADE", "add": true, "id": 1,'
        b' "contract": {"symbol": "AAPL"}}'
    )
    assert isinstance(cmd, StreamCommand)
    assert (cmd.sec_type, cmd.req_type, cmd.add, cmd.id) == ("STOCK", "TRADE", True, 1)
    assert (cmd.symbol, cmd.expiration, cmd.strike, cmd.right) == ("AAPL", None, None, None)
    assert cmd.contract_key == "AAPL"
    assert repr(cmd) == (
        "StreamCommand(sec_type='STOCK', req_type='TRADE', add=True, id=1, contract_key='AAPL')"
    )

    stop = parse_command('{"msg_type": "STOP", "id": 2}')
    assert isinstance(stop, StopCommand)
    assert stop.id == 2
    assert repr(stop) == "StopCommand(id=2)"

    ack = parse_command(
        '{"type": "event_ack", "correlation_id": "3f1c", "events_processed": [17, 18],'
        ' "timestamp": 1700000000000}'
    )
    assert isinstance(ack, EventAck)
    assert (ack.correlation_id, ack.events_processed, ack.timestamp) == (
        "3f1c",
        (17, 18),
        1700000000000,
    )
    assert repr(ack) == (
        "EventAck(correlation_id='3f1c', events_processed=(17, 18), timestamp=1700000000000)"
    )


def test_option_contract_fields() -> None:
    cmd = parse_command(stream("OPTION", "OPEN_INTEREST", SPY_C, add=False))
    assert isinstance(cmd, StreamCommand)
    assert (cmd.symbol, cmd.expiration, cmd.strike, cmd.right) == ("SPY", 20250321, 570000, "C")
    assert cmd.add is False
    assert cmd.contract_key == "SPY:20250321:570000:C"


@pytest.mark.parametrize("sec", sorted(SECTORS))
@pytest.mark.parametrize("req", ALL_REQ_TYPES)
def test_every_combination(sec: str, req: str) -> None:
    full = req.startswith("FULL_")
    contract = None if full else (SPY_C if sec == "OPTION" else {"symbol": "SPX"})
    frame = stream(sec, req, contract)
    if req not in SECTORS[sec]:
        err = reject(frame)
        supported = ", ".join(SECTORS[sec])
        assert (
            str(err) == f"req_type: {req} is not available for {sec} ({sec} supports {supported})"
        )
        assert (err.path, err.req_id) == ("req_type", 5)
        return
    cmd = parse_command(frame)
    assert isinstance(cmd, StreamCommand)
    assert (cmd.sec_type, cmd.req_type, cmd.id) == (sec, req, 5)
    if full:
        assert (cmd.symbol, cmd.contract_key) == (None, None)
    elif sec == "OPTION":
        assert cmd.contract_key == "SPY:20250321:570000:C"
    else:
        assert (cmd.symbol, cmd.expiration, cmd.right, cmd.contract_key) == (
            "SPX",
            None,
            None,
            "SPX",
        )


def test_root_is_an_alias_of_symbol() -> None:
    by_root = parse_command(stream(contract={"root": "AAPL"}))
    by_symbol = parse_command(stream(contract={"symbol": "AAPL"}))
    assert by_root == by_symbol
    assert hash(by_root) == hash(by_symbol)
    opt = parse_command(
        stream(
            "OPTION", "TRADE", {"root": "SPXW", "expiration": 20250321, "strike": 5, "right": "P"}
        )
    )
    assert isinstance(opt, StreamCommand)
    assert (opt.symbol, opt.contract_key) == ("SPXW", "SPXW:20250321:5:P")
    # A member that is present counts even when null.
    err = reject(stream(contract={"root": "AAPL", "symbol": None}))
    assert (str(err), err.path, err.req_id) == (
        "contract.root: not allowed together with symbol (root is an alias of symbol)",
        "contract.root",
        5,
    )


def test_value_semantics() -> None:
    a = parse_command(stream(contract={"symbol": "AAPL"}))
    assert a != parse_command(stream(contract={"symbol": "AAPL"}, add=False))
    assert len({a, parse_command(stream(contract={"root": "AAPL"}))}) == 1
    assert isinstance(a, StreamCommand)
    with pytest.raises(AttributeError):
        a.id = 7  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (2**63 - 1, 2**63 - 1), (1, 1), (2**53 + 1, 2**53 + 1)]
)
def test_id_boundaries_accepted(value: int, expected: int) -> None:
    cmd = parse_command(f'{{"msg_type":"STOP","id":{value}}}')
    assert cmd == parse_command(f'{{"id":{value},"msg_type":"STOP"}}')
    assert isinstance(cmd, StopCommand)
    assert cmd.id == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("9223372036854775808", "9223372036854775808"),
        ("-1", "-1"),
        ("1.5", "1.5"),
        ('"1"', '"1"'),
        ("true", "true"),
        ("1e3", "1000.0"),
    ],
)
def test_id_boundaries_rejected(value: str, shown: str) -> None:
    err = reject(f'{{"msg_type":"STOP","id":{value}}}')
    assert (str(err), err.path, err.req_id) == (f"id: {ID_RULE}, got {shown}", "id", None)


@pytest.mark.parametrize(
    "date", [20240229, 20000229, 19000101, 29991231, 20250228, 20250430, 20251231]
)
def test_calendar_dates_accepted(date: int) -> None:
    cmd = parse_command(option(expiration=date))
    assert isinstance(cmd, StreamCommand)
    assert cmd.expiration == date


@pytest.mark.parametrize(
    "date", [20250229, 19000229, 21000229, 20250431, 20251301, 20250100, 2025032, 0, 30000101]
)
def test_calendar_dates_rejected(date: int) -> None:
    err = reject(option(expiration=date))
    assert str(err) == f"contract.expiration: not a calendar date: {date}"


@pytest.mark.parametrize("symbol", ["A", "ABCDEFGHIJKLMNOP", "BRK.B", "BF/B", "^SPX", "X-1", "0"])
def test_symbols_accepted(symbol: str) -> None:
    cmd = parse_command(stream(contract={"symbol": symbol}))
    assert isinstance(cmd, StreamCommand)
    assert cmd.symbol == symbol


def test_long_values_are_cut_in_messages() -> None:
    err = reject(stream(contract={"symbol": "A" * 1000}))
    assert str(err) == (f'contract.symbol: {SYMBOL_RULE}, got "{"A" * 64}"... (1000 characters)')
    err = reject('{"msg_type":"STOP","id":1,"' + "k" * 3000 + '":0}')
    assert err.path == f'"{"k" * 64}"... (3000 characters)'
    assert len(str(err)) < 200


def test_str_with_lone_surrogate() -> None:
    err = reject('{"id":1,"msg_type":"\ud800"}')
    assert (str(err), err.path, err.req_id) == (
        "json: invalid UTF-8 (lone surrogate in str)",
        "json",
        None,
    )


def test_frame_must_be_bytes_or_str() -> None:
    with pytest.raises(TypeError, match=r"^parse_command\(\) expects bytes or str, got bytearray$"):
        parse_command(bytearray(b"{}"))  # type: ignore[arg-type]


# ---- acknowledgements ---------------------------------------------------------------------------


def test_ack_bytes_exact() -> None:
    head = b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":'
    assert encode_ack(1, "OK") == head + b'"OK","req_id":1}}'
    assert encode_ack(None, "OK") == head + b'"OK","req_id":null}}'
    assert encode_ack(2**63 - 1, "MAX_STREAMS_REACHED") == (
        head + b'"MAX_STREAMS_REACHED","req_id":9223372036854775807}}'
    )
    assert encode_ack(
        1, "ERROR", "contract.strike: must be a positive integer (thousandths of a dollar), got -5"
    ) == (
        head + b'"ERROR","req_id":1,"message":"contract.strike: must be a positive integer '
        b'(thousandths of a dollar), got -5"}}'
    )


def test_error_ack_from_envelope_error() -> None:
    err = reject('{"id":1,"msg_type":"a\\"b\\\\c"}')
    assert encode_ack(err.req_id, "ERROR", str(err)) == (
        b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":1,'
        b'"message":"msg_type: expected one of STREAM, STOP, got \\"a\\\\\\"b\\\\\\\\c\\""}}'
    )
    err = reject(b"\xff")
    assert encode_ack(err.req_id, "ERROR", str(err)) == (
        b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR",'
        b'"req_id":null,"message":"json: invalid UTF-8 at byte 0"}}'
    )


def test_ack_escapes_control_and_non_ascii() -> None:
    message = 'x: "q" \\ \n\r\t\b\f\x00\x1f\x7f é€😀'
    assert encode_ack(3, "ERROR", message) == (
        b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":3,'
        b'"message":"x: \\"q\\" \\\\ \\n\\r\\t\\b\\f\\u0000\\u001f\x7f ' + "é€😀".encode() + b'"}}'
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1, "ERROR"), "encode_ack(): response ERROR requires a message"),
        ((1, "OK", "hi"), 'encode_ack(): only ERROR carries a message, got response "OK"'),
        (
            (1, "NOPE"),
            'encode_ack(): response must be one of OK, ERROR, MAX_STREAMS_REACHED, got "NOPE"',
        ),
    ],
)
def test_encode_ack_argument_errors(args: tuple[Any, ...], error: str) -> None:
    with pytest.raises(ValueError) as info:
        encode_ack(*args)
    assert str(info.value) == error


def test_encode_ack_rejects_negative_req_id() -> None:
    with pytest.raises(OverflowError):
        encode_ack(-1, "OK")


# ---- properties ---------------------------------------------------------------------------------


def check_outcome(frame: bytes | str) -> None:
    try:
        cmd = parse_command(frame)
    except EnvelopeError as err:
        assert str(err).startswith(err.path + ": ")
        ack = json.loads(encode_ack(err.req_id, "ERROR", str(err)))
        assert ack["header"]["message"] == str(err)
        assert ack["header"]["req_id"] == err.req_id
    else:
        # What parsed says what the frame said (as JSON, or as the Python literal it was).
        try:
            sent = json.loads(frame)
        except ValueError:
            sent = ast.literal_eval(frame.decode() if isinstance(frame, bytes) else frame)
        if isinstance(cmd, StreamCommand):
            assert sent["msg_type"] in ("STREAM", "STREAM_BULK")
            assert (cmd.id, cmd.add, cmd.sec_type) == (sent["id"], sent["add"], sent["sec_type"])
        elif isinstance(cmd, StopCommand):
            assert (sent["msg_type"], cmd.id) == ("STOP", sent.get("id"))
        else:
            assert sent["type"] == "event_ack"
            assert list(cmd.events_processed) == sent["events_processed"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(frame: bytes) -> None:
    check_outcome(frame)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
command_keys = st.sampled_from(
    ["msg_type", "sec_type", "req_type", "add", "id", "contract", "type", "symbol", "strike"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(command_keys, json_values | st.sampled_from(["STREAM", "STOP", "OPTION"])),
)
def test_arbitrary_objects_never_crash(fields: dict[str, Any]) -> None:
    check_outcome(json.dumps(fields))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=100))
def test_ack_messages_round_trip(message: str) -> None:
    ack = json.loads(encode_ack(7, "ERROR", message))
    assert ack == {
        "header": {
            "type": "REQ_RESPONSE",
            "status": "CONNECTED",
            "response": "ERROR",
            "req_id": 7,
            "message": message,
        }
    }


def test_the_original_terminals_forms_and_strict() -> None:
    """The binding passes the dialect through: the documented forms read as their strict
    equivalents, and ``strict=True`` refuses them (the Rust tests cover every rule)."""
    repr_form = (
        "{'msg_type': 'STREAM', 'sec_type': 'OPTION', 'req_type': 'QUOTE', 'add': True, "
        "'id': 0, 'contract': {'root': 'SPY', 'expiration': '20250321', 'strike': '570000', "
        "'right': 'C'}}"
    )
    canonical = parse_command(
        '{"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "QUOTE", "add": true, "id": 0,'
        ' "contract": {"symbol": "SPY", "expiration": 20250321, "strike": 570000, "right": "C"}}',
        strict=True,
    )
    assert parse_command(repr_form) == canonical
    bulk = parse_command(
        '{"msg_type":"STREAM_BULK","sec_type":"STOCK","req_type":"TRADE","add":true,"id":2}'
    )
    assert isinstance(bulk, StreamCommand)
    assert (bulk.sec_type, bulk.req_type, bulk.contract_key) == ("STOCK", "FULL_TRADES", None)
    stop = parse_command('{"msg_type": "STOP"}')
    assert isinstance(stop, StopCommand)
    assert (stop.id, repr(stop)) == (None, "StopCommand(id=None)")
    with pytest.raises(EnvelopeError) as refused:
        parse_command(repr_form, strict=True)
    assert str(refused.value) == (
        "json: a Python literal, not JSON: write strings in double quotes and true, false, null "
        "(this server runs with --strict)"
    )
    with pytest.raises(EnvelopeError, match=r"^id: required$"):
        parse_command('{"msg_type": "STOP"}', strict=True)


def outcome(frame: str) -> tuple[Any, ...]:
    try:
        return ("ok", parse_command(frame))
    except EnvelopeError as err:
        return ("error", str(err), err.path, err.req_id)


literal_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        command_keys,
        literal_values | st.sampled_from(["STREAM", "STOP", "STREAM_BULK", "OPTION", "TRADE"]),
    ),
)
def test_a_python_repr_means_exactly_its_json(fields: dict[str, Any]) -> None:
    """Python's own ``repr`` of any dict reads exactly as ``json.dumps`` of it: the same
    command or the same error (escapes, quotes, numbers and nesting included)."""
    assert outcome(repr(fields)) == outcome(json.dumps(fields))
