"""Event codec (SPEC §3.3): golden encodings, round trips through frames, tolerant decoding,
exact error reporting, acks/STATUS, contract interning."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest
from fastfeed import EventDecoder, EventEncodeError, EventEncoder, EventKind
from hypothesis import example, given, settings
from hypothesis import strategies as st

SPEC_TRADE = (
    b'{"header":{"type":"TRADE","status":"CONNECTED"},'
    b'"contract":{"security_type":"OPTION","symbol":"SPY","expiration":20250321,"strike":570000,"right":"C"},'
    b'"trade":{"ms_of_day":34200123,"sequence":8812,"size":3,"condition":0,"price":4.15,"exchange":5,"date":20250321}}'
)


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked FIN frame (server role)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def unframe(wire: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(wire):
        assert wire[pos] == 0x81
        n = wire[pos + 1]
        assert n & 0x80 == 0
        pos += 2
        if n == 126:
            n = int.from_bytes(wire[pos : pos + 2], "big")
            pos += 2
        out.append(wire[pos : pos + n])
        pos += n
    return out


def jsonl(wire: bytes) -> list[bytes]:
    assert wire.endswith(b"\n")
    return wire[:-1].split(b"\n")


# --- golden encodings -------------------------------------------------------------------------


def test_spec_trade_golden() -> None:
    enc = EventEncoder()
    spy = enc.add_contract("OPTION", "SPY", 20250321, 570000, "C")
    wire = enc.encode_trades(spy, 34200123, 8812, 3, 0, 4.15, 5, 20250321)
    assert wire == frame(SPEC_TRADE)
    assert enc.encode_trades([spy], [34200123], [8812], [3], [0], [4.15], [5], [20250321]) == wire
    assert enc.encode_trades(spy, 34200123, 8812, 3, 0, 4.15, 5, 20250321, framing="jsonl") == (
        SPEC_TRADE + b"\n"
    )


def test_golden_all_types_and_contracts() -> None:
    enc = EventEncoder()
    aapl = enc.add_contract("STOCK", "AAPL")
    spx = enc.add_contract("INDEX", "^SPX")
    put = enc.add_contract("OPTION", "QQQ", 20251219, 450500, "P")
    assert (aapl, spx, put) == (0, 1, 2)
    assert enc.add_contract("STOCK", "AAPL") == 0
    assert enc.contract(put) == ("OPTION", "QQQ", 20251219, 450500, "P")
    assert enc.contract(aapl) == ("STOCK", "AAPL", None, None, None)
    assert enc.contract_count == 3
    quote = enc.encode_quotes(aapl, 34200000, 5, 1, 189.5, 0, 7, 2, 189.52, 0, 20250321, ids=[17])
    assert unframe(quote) == [
        b'{"header":{"type":"QUOTE","status":"CONNECTED","id":17},'
        b'"contract":{"security_type":"STOCK","symbol":"AAPL"},'
        b'"quote":{"ms_of_day":34200000,"bid_size":5,"bid_exchange":1,"bid":189.5,"bid_condition":0,'
        b'"ask_size":7,"ask_exchange":2,"ask":189.52,"ask_condition":0,"date":20250321}}'
    ]
    ohlc = enc.encode_ohlc(spx, 34260000, 5800.0, 5810.25, 5795.5, 5805.75, 1200, 31, 20250321)
    assert unframe(ohlc) == [
        b'{"header":{"type":"OHLC","status":"CONNECTED"},'
        b'"contract":{"security_type":"INDEX","symbol":"^SPX"},'
        b'"ohlc":{"ms_of_day":34260000,"open":5800.0,"high":5810.25,"low":5795.5,"close":5805.75,'
        b'"volume":1200,"count":31,"date":20250321}}'
    ]
    oi = enc.encode_open_interest(put, 23400000, 15234, 20250321, ids=[3], pseqs=[9])
    assert unframe(oi) == [
        b'{"header":{"type":"OPEN_INTEREST","status":"CONNECTED","id":3,"pseq":9},'
        b'"contract":{"security_type":"OPTION","symbol":"QQQ","expiration":20251219,"strike":450500,"right":"P"},'
        b'"open_interest":{"ms_of_day":23400000,"open_interest":15234,"date":20250321}}'
    ]
    assert enc.encode_status(120, 3) == frame(
        b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":120,"dropped":3}}'
    )
    assert enc.encode_status(1, 0, pseq=5, framing="jsonl") == (
        b'{"header":{"type":"STATUS","status":"CONNECTED","pseq":5},"stats":{"sent":1,"dropped":0}}\n'
    )


def test_many_events_one_buffer_and_prices_shortest() -> None:
    enc = EventEncoder()
    c = enc.add_contract("STOCK", "F")
    prices = np.array([0.1, 1e-7, 1e21, -0.0, 12.0, 0.30000000000000004, 5e-324])
    wire = enc.encode_trades(c, np.arange(7), 0, 1, 0, prices, 0, 20250321, framing="jsonl")
    texts = [orjson.loads(line)["trade"]["price"] for line in jsonl(wire)]
    assert [float(t).hex() for t in texts] == [float(p).hex() for p in prices]
    raw = [line.split(b'"price":')[1].split(b",")[0] for line in jsonl(wire)]
    assert raw == [b"0.1", b"1e-7", b"1e21", b"-0.0", b"12.0", b"0.30000000000000004", b"5e-324"]
    assert len(unframe(enc.encode_trades(c, np.arange(7), 0, 1, 0, prices, 0, 20250321))) == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": math.nan}, "row 0: trade.price: must be a finite number, got NaN"),
        ({"price": [1.0, math.inf]}, "row 1: trade.price: must be a finite number, got inf"),
        ({"contract_id": 5}, "row 0: contract_id: unknown contract id 5"),
        ({"size": -1}, "size[0]: -1 is out of range 0..=4294967295"),
        ({"ms_of_day": [1, 2**32]}, "ms_of_day[1]: 4294967296 is out of range 0..=4294967295"),
        ({"size": 1.5}, "size: expected integers, got dtype float64"),
        ({"price": "x"}, "price: expected numbers, got dtype <U1"),
        (
            {"price": [1.0, 2.0, 3.0]},
            "columns have different lengths: ms_of_day has 2, price has 3",
        ),
        ({"size": [[1]]}, "size: expected a 1-d array or a scalar, got 2 dimensions"),
    ],
)
def test_encode_errors(kwargs: dict[str, Any], message: str) -> None:
    enc = EventEncoder()
    c = enc.add_contract("STOCK", "AAPL")
    args: dict[str, Any] = {
        "contract_id": c,
        "ms_of_day": [1, 2],
        "sequence": 0,
        "size": 1,
        "condition": 0,
        "price": 1.0,
        "exchange": 0,
        "date": 20250321,
    }
    args.update(kwargs)
    with pytest.raises(EventEncodeError) as info:
        enc.encode_trades(**args)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def _spellings(values: list[int] | list[float]) -> list[Any]:
    """The same column as every kind of argument the encoder takes: Python scalars (one row),
    lists, and numpy arrays of several dtypes, byte orders and strides."""
    out: list[Any] = [list(values)]
    if len(values) == 1:
        out += [values[0], np.asarray(values)[0]]  # a Python scalar, a numpy scalar
    floats = any(isinstance(v, float) for v in values)
    dtypes = ["<f8", ">f8", "<f4"] if floats else ["<i8", ">i8", "<u8", "<u4", "<i4"]
    for dtype in dtypes:
        if floats:
            with np.errstate(all="ignore"):
                array = np.asarray(values).astype(dtype)
            same = np.array_equal(array.astype(np.float64), np.asarray(values, dtype=np.float64))
        else:
            # Integers exactly: through numpy's floats, 2**53 + 1 beside 2**63 would become
            # 2**53, another column.
            try:
                array = np.array(values, dtype=dtype)
            except OverflowError:
                continue
            same = array.tolist() == list(values)
        if same:
            out.append(array)
    # Not contiguous, of the first array above that holds the values (numpy makes floats of
    # a list like [0, 2**63]: that would be another column, not another spelling).
    arrays = [a for a in out if isinstance(a, np.ndarray) and a.ndim == 1]
    base = arrays[0] if arrays else np.asarray(values)
    out.append(np.repeat(base, 2)[::2])
    return out


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(-3, 2**64 + 3), min_size=1, max_size=3),
    prices=st.floats(allow_nan=True, allow_infinity=True, width=64),
    flag=st.booleans(),
)
# Python ints past int64 beside smaller ones: numpy makes floats of such a list.
@example(sizes=[0, 2**63], prices=0.0, flag=False)
@example(sizes=[-1, 2**63], prices=0.0, flag=False)
@example(sizes=[2**53 + 1, 2**63], prices=0.0, flag=False)
def test_every_column_spelling_encodes_alike(sizes: list[int], prices: float, flag: bool) -> None:
    """Scalars and contiguous int64/uint64/float64 arrays take a path of their own (no numpy
    call); each spelling of the same values gives the same wire bytes, or the same error."""
    enc = EventEncoder()
    c = enc.add_contract("STOCK", "AAPL")

    def encode(size: Any, price: Any) -> bytes | str:
        try:
            return enc.encode_trades(c, 1, 2, size, 0, price, 0, 20250321, framing="jsonl")
        except EventEncodeError as error:
            return str(error)

    expected = encode(list(sizes), [prices] * len(sizes))
    for size in _spellings(sizes) if max(sizes) < 2**64 and min(sizes) >= -(2**63) else []:
        assert encode(size, [prices] * len(sizes)) == expected, (size, expected)
    for price in _spellings([prices] * len(sizes)):
        assert encode(list(sizes), price) == expected, (price, expected)
    # A bool is not an integer, whichever way it comes.
    message = "size: expected integers, got dtype bool"
    assert encode(flag, prices) == message
    assert encode(np.asarray([flag]), prices) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("BOND", "X"), 'sec_type: expected "STOCK", "OPTION" or "INDEX", got "BOND"'),
        (("STOCK", "aapl"), "symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got 'a'"),
        (
            ("STOCK", "AAPL", 20250321),
            "expiration, strike and right are only for OPTION contracts, not STOCK",
        ),
        (("OPTION", "SPY", 20250230, 1, "C"), "expiration: expected a calendar date YYYYMMDD"),
        (
            ("OPTION", "SPY", 20250321, 0, "C"),
            "strike: expected a positive integer (thousandths of a dollar)",
        ),
        (("OPTION", "SPY", 20250321, 1, "X"), 'right: expected "C" or "P"'),
    ],
)
def test_add_contract_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(EventEncodeError) as info:
        EventEncoder().add_contract(*args)
    assert str(info.value) == message


# --- decoding -----------------------------------------------------------------------------------


def test_decode_spec_trade_frame() -> None:
    dec = EventDecoder()
    batch = dec.feed(frame(SPEC_TRADE))
    assert len(batch) == 1
    assert batch.kinds.tolist() == [EventKind.TRADE]
    t = batch.trades
    assert list(t) == [
        "contract_id",
        "id",
        "ms_of_day",
        "sequence",
        "size",
        "condition",
        "price",
        "exchange",
        "date",
    ]
    assert {k: v.tolist() for k, v in t.items()} == {
        "contract_id": [0],
        "id": [0],
        "ms_of_day": [34200123],
        "sequence": [8812],
        "size": [3],
        "condition": [0],
        "price": [4.15],
        "exchange": [5],
        "date": [20250321],
    }
    assert [str(v.dtype) for v in t.values()] == [
        "uint32",
        "uint64",
        "uint32",
        "int64",
        "uint32",
        "uint32",
        "float64",
        "uint32",
        "uint32",
    ]
    assert batch.new_contracts == [(0, "OPTION", "SPY", 20250321, 570000, "C")]
    assert dec.contracts == [("OPTION", "SPY", 20250321, 570000, "C")]
    assert dec.contract(0) == ("OPTION", "SPY", 20250321, 570000, "C")
    with pytest.raises(KeyError):
        dec.contract(1)
    assert batch.quotes["bid"].dtype == np.float64 and len(batch.quotes["bid"]) == 0
    assert batch.errors == [] and batch.other == [] and batch.acks == [] and batch.control == []
    assert batch.protocol_error is None


def test_reordered_keys_whitespace_unknown_fields() -> None:
    messy = b"""\t{ "future" : {"nested": [1, {"a": "}]"}], "s": "\\"}"} ,
        "quote" : { "date" : 20250321 , "ask_condition":1, "ask": 10 , "ask_exchange": 2,
          "ask_size": 3, "bid_condition": 4, "bid": 9.99, "bid_exchange": 5, "bid_size": 6,
          "ms_of_day": 7, "extra": null, "more": true },
        "contract" : { "symbol" : "AAPL", "security_type" : "STOCK", "exchange_hint": 1 },
        "header" : { "status" : "CONNECTED", "id" : 42, "type" : "QUOTE", "new": false }
    }\r\n"""
    dec = EventDecoder()
    dec.push_payload(messy)
    batch = dec.take_batch()
    assert batch.errors == []
    assert {k: v.tolist() for k, v in batch.quotes.items()} == {
        "contract_id": [0],
        "id": [42],
        "ms_of_day": [7],
        "bid_size": [6],
        "bid_exchange": [5],
        "bid": [9.99],
        "bid_condition": [4],
        "ask_size": [3],
        "ask_exchange": [2],
        "ask": [10.0],
        "ask_condition": [1],
        "date": [20250321],
    }
    assert batch.new_contracts == [(0, "STOCK", "AAPL", None, None, None)]


def with_trade(old: bytes, new: bytes) -> bytes:
    assert old in SPEC_TRADE
    return SPEC_TRADE.replace(old, new)


MALFORMED = [
    (with_trade(b"4.15", b'"4.15"'), "trade.price: expected a number at byte 228"),
    (with_trade(b'"size":3,', b""), "trade.size: required field is missing"),
    (
        with_trade(b'"size":3', b'"size":3.0'),
        "trade.size: expected an integer in 0..=4294967295 at byte 204",
    ),
    (
        with_trade(b'"size":3', b'"size":-3'),
        "trade.size: expected an integer in 0..=4294967295 at byte 204",
    ),
    (
        with_trade(b'"sequence":8812', b'"sequence":true'),
        "trade.sequence: expected an integer in "
        "-9223372036854775808..=9223372036854775807 at byte 192",
    ),
    (
        with_trade(b'"price":4.15', b'"price":1e999'),
        "trade.price: number out of the range of a 64-bit float at byte 228",
    ),
    (
        with_trade(b"SPY", b"spy"),
        "contract.symbol: must be 1-16 characters of A-Z 0-9 . / ^ -, got 's' at byte 94",
    ),
    (with_trade(b'"right":"C"', b'"right":"X"'), 'contract.right: expected "C" or "P" at byte 146'),
    (
        with_trade(b'"OPTION"', b'"FUTURE"'),
        'contract.security_type: expected "STOCK", "OPTION" or "INDEX" at byte 76',
    ),
    (with_trade(b',"strike":570000', b""), "contract.strike: required field is missing"),
    (
        with_trade(b"20250321,", b"20250231,"),
        "contract.expiration: expected a calendar date YYYYMMDD at byte 113",
    ),
    (
        with_trade(b'"contract":{', b'"contract":[').replace(b'"C"}', b'"C"]'),
        "contract: expected an object at byte 59",
    ),
    (SPEC_TRADE[:150], "json: unexpected end of input at byte 150"),
    (SPEC_TRADE + b"x", "json: trailing characters after the object at byte 263"),
    (
        with_trade(b'"date":20250321}}', b'"date":20250321}'),
        "json: unexpected end of input at byte 262",
    ),
    (b"not json", "json: expected '{' at byte 0"),
    (
        b'{"header":{"type":"OHLC"},"contract":{"security_type":"STOCK","symbol":"A"}}',
        "ohlc: required object is missing",
    ),
    (b'{"header":{"type":"TRADE"},"trade":{}}', "trade.ms_of_day: required field is missing"),
]


@pytest.mark.parametrize(("payload", "message"), MALFORMED)
def test_malformed_event_listed_neighbours_decode(payload: bytes, message: str) -> None:
    dec = EventDecoder()
    batch = dec.feed(frame(SPEC_TRADE) + frame(payload) + frame(SPEC_TRADE))
    assert batch.kinds.tolist() == [EventKind.TRADE, EventKind.ERROR, EventKind.TRADE]
    assert batch.errors == [(1, message)]
    assert batch.trades["price"].tolist() == [4.15, 4.15]
    assert dec.received == 2


def test_acks_status_other_and_control() -> None:
    wire = b"".join(
        [
            frame(
                b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"OK","req_id":1}}'
            ),
            frame(
                b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"ERROR","req_id":null,'
                b'"message":"json: expected \\"{\\" at byte 0 \\u00e9"}}'
            ),
            frame(SPEC_TRADE),
            frame(b"ping!", opcode=0x9),
            frame(
                b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":1,"dropped":0}}'
            ),
            frame(b'{"header":{"type":"STATUS","status":"CONNECTED"}}'),
            frame(b'{"header":{"type":"NEWS","status":"CONNECTED"},"news":{"headline":"x"}}'),
            frame(b"\x00\x01", opcode=0x2),
            frame(SPEC_TRADE),
            frame(
                b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":3,"dropped":1}}'
            ),
            frame(b"\x03\xe8replaced by a new client connection", opcode=0x8),
            frame(SPEC_TRADE),  # after close: ignored
        ]
    )
    dec = EventDecoder()
    batch = dec.feed(wire)
    K = EventKind
    assert batch.kinds.tolist() == [
        K.ACK,
        K.ACK,
        K.TRADE,
        K.CONTROL,
        K.STATUS,
        K.STATUS,
        K.OTHER,
        K.OTHER,
        K.TRADE,
        K.STATUS,
        K.CONTROL,
    ]
    assert batch.acks == [
        (1, "OK", None, None),
        (None, "ERROR", 'json: expected "{" at byte 0 é', None),
    ]
    assert {k: v.tolist() for k, v in batch.status.items()} == {
        "sent": [1, -1, 3],
        "dropped": [0, -1, 1],
        "received": [1, 1, 2],
        "connected": [1, 1, 1],
        "end_of_snapshot": [0, 0, 0],
    }
    assert batch.other == [
        b'{"header":{"type":"NEWS","status":"CONNECTED"},"news":{"headline":"x"}}',
        b"\x00\x01",
    ]
    assert batch.control == [(0x9, b"ping!"), (0x8, b"\x03\xe8replaced by a new client connection")]
    assert dec.closed
    assert len(dec.feed(frame(SPEC_TRADE))) == 0


def test_protocol_error_keeps_earlier_events() -> None:
    masked = bytes([0x81, 0x80 | 2, 1, 2, 3, 4]) + bytes([ord("{") ^ 1, ord("}") ^ 2])
    dec = EventDecoder()
    batch = dec.feed(frame(SPEC_TRADE) + masked + frame(SPEC_TRADE))
    assert batch.trades["price"].tolist() == [4.15]
    assert batch.protocol_error is not None
    assert batch.protocol_error[1] == 1002
    assert dec.feed(frame(SPEC_TRADE)).protocol_error == batch.protocol_error


def test_contract_interning_across_batches() -> None:
    dec = EventDecoder()
    first = dec.feed(frame(SPEC_TRADE))
    assert first.new_contracts == [(0, "OPTION", "SPY", 20250321, 570000, "C")]
    respelled = with_trade(b'"symbol":"SPY"', b'"root":"SPY"').replace(
        b'"right":"C"', b'"right" : "C"'
    )
    put = with_trade(b'"right":"C"', b'"right":"P"')
    second = dec.feed(frame(respelled) + frame(put) + frame(SPEC_TRADE))
    assert second.trades["contract_id"].tolist() == [0, 1, 0]
    assert second.new_contracts == [(1, "OPTION", "SPY", 20250321, 570000, "P")]
    assert dec.contracts == [
        ("OPTION", "SPY", 20250321, 570000, "C"),
        ("OPTION", "SPY", 20250321, 570000, "P"),
    ]


def test_batch_columns_move_out_once() -> None:
    dec = EventDecoder()
    batch = dec.feed(frame(SPEC_TRADE) * 3)
    trades = batch.trades
    assert batch.trades is trades
    assert trades["price"].flags.owndata or trades["price"].base is not None
    assert batch.kinds is batch.kinds
    assert repr(batch) == "EventBatch(messages=3, errors=0, new_contracts=1)"


# --- round trip --------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**63 - 1)
# Finite doubles of any magnitude (subnormals, huge, -0.0), plus typical cent/decimal prices.
prices = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(1, 1_000_000).map(lambda c: c / 100),
    st.decimals(min_value="0.0001", max_value="10000", places=6, allow_nan=False).map(float),
)
contracts = st.one_of(
    st.tuples(
        st.sampled_from(["STOCK", "INDEX"]), st.from_regex(r"[A-Z0-9./^-]{1,16}", fullmatch=True)
    ),
    st.tuples(
        st.just("OPTION"),
        st.sampled_from(["SPY", "QQQ", "BRK.B"]),
        st.sampled_from([20250321, 20240229, 20261218]),
        st.integers(1, 2**32 - 1),
        st.sampled_from(["C", "P"]),
    ),
)
events = st.one_of(
    st.tuples(
        st.just("trade"),
        st.tuples(u32, st.integers(-(2**63), 2**63 - 1), u32, u32, prices, u32, u32),
    ),
    st.tuples(st.just("quote"), st.tuples(u32, u32, u32, prices, u32, u32, u32, prices, u32, u32)),
    st.tuples(st.just("ohlc"), st.tuples(u32, prices, prices, prices, prices, u64, u64, u32)),
    st.tuples(st.just("open_interest"), st.tuples(u32, u64, u32)),
    st.tuples(st.just("status"), st.tuples(u64, u64)),
)
FIELDS = {
    "trade": ["ms_of_day", "sequence", "size", "condition", "price", "exchange", "date"],
    "quote": [
        "ms_of_day",
        "bid_size",
        "bid_exchange",
        "bid",
        "bid_condition",
        "ask_size",
        "ask_exchange",
        "ask",
        "ask_condition",
        "date",
    ],
    "ohlc": ["ms_of_day", "open", "high", "low", "close", "volume", "count", "date"],
    "open_interest": ["ms_of_day", "open_interest", "date"],
}
ENCODE = {
    "trade": EventEncoder.encode_trades,
    "quote": EventEncoder.encode_quotes,
    "ohlc": EventEncoder.encode_ohlc,
    "open_interest": EventEncoder.encode_open_interest,
}
BATCH_ATTR = {
    "trade": "trades",
    "quote": "quotes",
    "ohlc": "ohlc",
    "open_interest": "open_interest",
}


def bits(values: list[Any]) -> list[Any]:
    return [v.hex() if isinstance(v, float) else v for v in values]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(contracts, events, st.one_of(st.none(), u64)), min_size=1, max_size=40),
    st.lists(st.integers(1, 700), min_size=1, max_size=20),
)
def test_round_trip_any_chunking(items: list[Any], cuts: list[int]) -> None:
    enc = EventEncoder()
    wire = b""
    expected: dict[str, list[list[Any]]] = {name: [] for name in FIELDS}
    expected_status: list[tuple[int, int]] = []
    kinds = []
    keys = []
    for contract, (kind, values), event_id in items:
        if kind == "status":
            wire += enc.encode_status(*values)
            expected_status.append(values)
            kinds.append(EventKind.STATUS)
            continue
        cid = enc.add_contract(*contract)
        ids = None if event_id is None else [event_id]
        wire += ENCODE[kind](enc, cid, *values, ids=ids)
        expected[kind].append([event_id or 0, *values])
        keys.append((kind, contract))
        kinds.append(list(FIELDS).index(kind))
    # Arbitrary chunking of the stream.
    dec = EventDecoder()
    batches = []
    pos = 0
    for cut in cuts:
        batches.append(dec.feed(wire[pos : pos + cut]))
        pos += cut
    batches.append(dec.feed(wire[pos:]))
    assert [b.errors for b in batches if b.errors] == []
    assert np.concatenate([b.kinds for b in batches]).tolist() == kinds
    for kind, rows in expected.items():
        cols = [getattr(b, BATCH_ATTR[kind]) for b in batches]
        got = {
            name: np.concatenate([c[name] for c in cols]).tolist() for name in ["id", *FIELDS[kind]]
        }
        assert bits([r[0] for r in rows]) == got["id"]
        for i, name in enumerate(FIELDS[kind]):
            assert bits([r[i + 1] for r in rows]) == bits(got[name]), name
    status = [b.status for b in batches]
    assert np.concatenate([s["sent"] for s in status]).tolist() == [s for s, _ in expected_status]
    assert np.concatenate([s["dropped"] for s in status]).tolist() == [
        d for _, d in expected_status
    ]
    # Contract ids resolve to the contracts that were encoded.
    resolved = []
    for b in batches:
        k = b.kinds.tolist()
        cursors = dict.fromkeys(FIELDS, 0)
        for code in k:
            if code < EventKind.STATUS:
                kind = list(FIELDS)[code]
                cid = int(getattr(b, BATCH_ATTR[kind])["contract_id"][cursors[kind]])
                cursors[kind] += 1
                c = dec.contract(cid)
                resolved.append((kind, c[:2] if c[0] != "OPTION" else c))
    assert resolved == keys


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_prices_match_json_parsers(price: float) -> None:
    enc = EventEncoder()
    wire = enc.encode_trades(
        enc.add_contract("STOCK", "X"), 0, 0, 0, 0, price, 0, 20250321, framing="jsonl"
    )
    (payload,) = jsonl(wire)
    assert json.loads(payload)["trade"]["price"].hex() == price.hex()
    dec = EventDecoder()
    dec.push_payload(payload)
    assert dec.take_batch().trades["price"][0].hex() == price.hex()
