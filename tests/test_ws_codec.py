"""The sans-I/O WebSocket codec: golden and malformed frames, chunking, handshake, interop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import struct

import fastfeed
import pytest
import websockets
from fastfeed import (
    HandshakeError,
    ProtocolError,
    WSClientHandshake,
    WSFrameDecoder,
    ws_accept_key,
    ws_close_payload,
    ws_encode_frames,
    ws_parse_close_payload,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
RFC_NONCE = b"the sample nonce"


def frame(b0: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """A raw frame, built independently of the codec so tests can also build illegal ones."""
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def decode(role: str, data: bytes, max_size: int = 4096) -> list[tuple[int, bytes]]:
    return WSFrameDecoder(role, max_size).feed(data)  # type: ignore[arg-type]


# --- golden frames ----------------------------------------------------------------------------

BIN256 = bytes(range(256))
BIN64K = bytes((i * 7) & 0xFF for i in range(65536))

GOLDEN = [
    # (name, receiving role, wire, messages, mask for single-frame re-encoding or "n/a")
    ("rfc unmasked text", "client", bytes.fromhex("810548656c6c6f"), [(TEXT, b"Hello")], None),
    (
        "rfc masked text",
        "server",
        bytes.fromhex("818537fa213d7f9f4d5158"),
        [(TEXT, b"Hello")],
        KEY,
    ),
    (
        "rfc fragmented text",
        "client",
        bytes.fromhex("010348656c80026c6f"),
        [(TEXT, b"Hello")],
        "n/a",
    ),
    ("rfc unmasked ping", "client", bytes.fromhex("890548656c6c6f"), [(PING, b"Hello")], None),
    (
        "rfc masked pong",
        "server",
        bytes.fromhex("8a8537fa213d7f9f4d5158"),
        [(PONG, b"Hello")],
        KEY,
    ),
    (
        "rfc 256 bytes, 16-bit length",
        "client",
        b"\x82\x7e\x01\x00" + BIN256,
        [(BINARY, BIN256)],
        None,
    ),
    (
        "rfc 64 KiB, 64-bit length",
        "client",
        b"\x82\x7f" + struct.pack("!Q", 65536) + BIN64K,
        [(BINARY, BIN64K)],
        None,
    ),
    (
        "masked 16-bit",
        "server",
        b"\x81\xfe\x00\xc8" + KEY + bytes(0x78 ^ KEY[i % 4] for i in range(200)),
        [(TEXT, b"x" * 200)],
        KEY,
    ),
    ("close 1000 bye", "client", b"\x88\x05\x03\xe8bye", [(CLOSE, b"\x03\xe8bye")], None),
    (
        "fragmented with interleaved ping",
        "client",
        b"\x01\x03Hel" + b"\x89\x00" + b"\x80\x02lo",
        [(PING, b""), (TEXT, b"Hello")],
        "n/a",
    ),
    (
        "masked fragments with interleaved pong",
        "server",
        frame(0x02, b"ab", KEY) + frame(0x8A, b"p", b"\x01\x02\x03\x04") + frame(0x80, b"cd", KEY),
        [(PONG, b"p"), (BINARY, b"abcd")],
        "n/a",
    ),
]


@pytest.mark.parametrize(
    ("name", "role", "wire", "messages", "mask"), GOLDEN, ids=[row[0] for row in GOLDEN]
)
def test_golden_frames(
    name: str, role: str, wire: bytes, messages: list[tuple[int, bytes]], mask: object
) -> None:
    assert decode(role, wire, 1 << 20) == messages
    bytewise = WSFrameDecoder(role, 1 << 20)  # type: ignore[arg-type]
    assert [m for i in range(len(wire)) for m in bytewise.feed(wire[i : i + 1])] == messages
    if mask != "n/a":
        assert isinstance(mask, bytes | None)
        opcode, payload = messages[0]
        assert ws_encode_frames(opcode, [payload], mask) == wire


def test_encode_many_frames_in_one_buffer() -> None:
    assert ws_encode_frames(TEXT, [b"a", b"", b"bc"]) == b"\x81\x01a\x81\x00\x81\x02bc"
    masked = ws_encode_frames(BINARY, [b"ab", b"ab"], b"\x01\x02\x03\x04")
    assert masked == (b"\x82\x82\x01\x02\x03\x04\x60\x60") * 2
    payloads = [bytes([i % 251]) * i for i in range(0, 3000, 7)]
    assert decode("server", ws_encode_frames(BINARY, payloads, KEY)) == [
        (BINARY, p) for p in payloads
    ]


def test_encode_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^opcode must be 1, 2, 8, 9 or 10, got 0$"):
        ws_encode_frames(0, [b""])
    with pytest.raises(ValueError, match=r"^mask_key must be 4 bytes, got 3$"):
        ws_encode_frames(TEXT, [b""], b"abc")
    with pytest.raises(ValueError, match=r"^control frame payload of 126 bytes exceeds 125$"):
        ws_encode_frames(PING, [b"x" * 126])


def test_close_payload_helpers() -> None:
    assert ws_close_payload(1000, "bye") == b"\x03\xe8bye"
    assert ws_close_payload(4000) == b"\x0f\xa0"
    assert len(ws_close_payload(1000, "é" * 100)) == 2 + 122
    assert ws_parse_close_payload(b"\x03\xe8bye") == (1000, "bye")
    assert ws_parse_close_payload(b"") == (None, "")
    with pytest.raises(ValueError, match=r"^close code 1005 may not be sent"):
        ws_close_payload(1005)
    with pytest.raises(ProtocolError) as bad:
        ws_parse_close_payload(b"\x03\xe8\xff")
    assert bad.value.close_code == 1007
    with pytest.raises(ProtocolError) as short:
        ws_parse_close_payload(b"\x03")
    assert (short.value.close_code, str(short.value)) == (1002, "close payload of 1 byte")


# --- malformed frames -------------------------------------------------------------------------


def long_header(b0: int, length: int) -> bytes:
    return bytes([b0, 127]) + struct.pack("!Q", length)


def close_frame(code: int) -> bytes:
    return frame(0x88, struct.pack("!H", code))


MALFORMED = [
    # (name, receiving role, wire, close code, message)
    (
        "2^63-1 length",
        "client",
        long_header(0x82, 2**63 - 1),
        1009,
        "message of 9223372036854775807 bytes exceeds the 4096-byte limit",
    ),
    (
        "64-bit length with high bit",
        "client",
        long_header(0x82, 2**63),
        1002,
        "64-bit payload length has its most significant bit set",
    ),
    ("unmasked client frame", "server", frame(0x81, b"hi"), 1002, "client frame is not masked"),
    ("masked server frame", "client", frame(0x81, b"hi", KEY), 1002, "server frame is masked"),
    (
        "RSV1",
        "client",
        frame(0xC1, b"hi"),
        1002,
        "reserved bits set (RSV 0b100) without a negotiated extension",
    ),
    (
        "RSV2",
        "client",
        frame(0xA1, b"hi"),
        1002,
        "reserved bits set (RSV 0b010) without a negotiated extension",
    ),
    (
        "RSV3",
        "server",
        frame(0x91, b"hi", KEY),
        1002,
        "reserved bits set (RSV 0b001) without a negotiated extension",
    ),
    ("unknown opcode 3", "client", frame(0x83, b""), 1002, "unknown opcode 0x3"),
    ("unknown opcode 0xF", "client", frame(0x8F, b""), 1002, "unknown opcode 0xf"),
    *[
        (f"close code {code}", "client", close_frame(code), 1002, f"invalid close code {code}")
        for code in (999, 1004, 1005, 1006, 1015, 2999, 5000)
    ],
    ("1-byte close payload", "client", frame(0x88, b"\x03"), 1002, "close payload of 1 byte"),
    (
        "invalid UTF-8 close reason",
        "client",
        frame(0x88, b"\x03\xe8\xed\xa0\x80"),
        1007,
        "invalid UTF-8 in close reason",
    ),
    (
        "invalid UTF-8 single frame",
        "client",
        frame(0x81, b"caf\xc3\x28"),
        1007,
        "invalid UTF-8 in text message",
    ),
    (
        "invalid UTF-8 across fragments",
        "client",
        frame(0x01, b"ab\xf0\x9f") + frame(0x80, b"A"),
        1007,
        "invalid UTF-8 in text message",
    ),
    (
        "surrogate in masked text",
        "server",
        frame(0x81, b"\xed\xa0\x80", KEY),
        1007,
        "invalid UTF-8 in text message",
    ),
    (
        "control frame of 126 bytes",
        "client",
        frame(0x89, b"x" * 126),
        1002,
        "control frame payload longer than 125 bytes",
    ),
    ("fragmented ping", "client", frame(0x09, b"x"), 1002, "fragmented control frame"),
    (
        "continuation without start",
        "client",
        frame(0x80, b"x"),
        1002,
        "continuation frame without a message to continue",
    ),
    (
        "new message inside fragmented one",
        "client",
        frame(0x01, b"a") + frame(0x82, b"b"),
        1002,
        "new data frame while a fragmented message is open",
    ),
    (
        "oversized single frame",
        "client",
        frame(0x81, b"a" * 4097),
        1009,
        "message of 4097 bytes exceeds the 4096-byte limit",
    ),
    (
        "oversized fragmented total",
        "server",
        frame(0x01, b"a" * 4000, KEY) + frame(0x89, b"", KEY) + frame(0x80, b"a" * 97, KEY),
        1009,
        "message of 4097 bytes exceeds the 4096-byte limit",
    ),
]


@pytest.mark.parametrize(
    ("name", "role", "wire", "code", "message"), MALFORMED, ids=[row[0] for row in MALFORMED]
)
@pytest.mark.parametrize("chunk", [0, 1], ids=["one-shot", "bytewise"])
def test_malformed_frames(
    name: str, role: str, wire: bytes, code: int, message: str, chunk: int
) -> None:
    decoder = WSFrameDecoder(role)  # type: ignore[arg-type]
    step = chunk or len(wire)
    with pytest.raises(ProtocolError) as caught:
        for i in range(0, len(wire), step):
            decoder.feed(wire[i : i + step])
    assert (caught.value.close_code, str(caught.value)) == (code, message)
    # Sticky: the decoder stays failed with the same error.
    with pytest.raises(ProtocolError) as again:
        decoder.feed(b"\x81\x00")
    assert (again.value.close_code, str(again.value)) == (code, message)


def test_huge_length_refused_without_waiting_for_payload() -> None:
    decoder = WSFrameDecoder("server")
    # Header of a masked 2^63-1 frame, without its mask key: refused already.
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(bytes([0x82, 0xFF]) + struct.pack("!Q", 2**63 - 1))
    assert caught.value.close_code == 1009


def test_reject_binary() -> None:
    decoder = WSFrameDecoder("server", reject_binary=True)
    assert decoder.reject_binary
    assert decoder.feed(frame(0x81, b"ok", KEY)) == [(TEXT, b"ok")]
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(frame(0x82, b"bin", KEY)[:1])
    assert (caught.value.close_code, str(caught.value)) == (
        1003,
        "binary messages are not accepted",
    )
    assert decode("server", frame(0x82, b"bin", KEY)) == [(BINARY, b"bin")]


def test_configuration_and_close_state() -> None:
    decoder = WSFrameDecoder("client", max_message_size=10)
    assert (decoder.role, decoder.max_message_size, decoder.reject_binary) == ("client", 10, False)
    assert decoder.feed(frame(0x81, b"0123456789")) == [(TEXT, b"0123456789")]
    assert not decoder.closed
    assert decoder.feed(frame(0x88, b"\x03\xe9") + b"\xff\xff") == [(CLOSE, b"\x03\xe9")]
    assert decoder.closed
    assert decoder.feed(frame(0x81, b"ignored")) == []
    with pytest.raises(ValueError, match=r'^role must be "server" or "client", got "peer"$'):
        WSFrameDecoder("peer")  # type: ignore[arg-type]


def test_split_multibyte_character_at_every_fragment_boundary() -> None:
    text = "☃€𝄞".encode()
    for cut in range(len(text) + 1):
        wire = frame(0x01, text[:cut]) + frame(0x89, b"") + frame(0x80, text[cut:])
        assert decode("client", wire) == [(PING, b""), (TEXT, text)]


# --- chunking invariance ----------------------------------------------------------------------


def mixed_stream(count: int, masked: bool, seed: int) -> tuple[bytes, list[tuple[int, bytes]]]:
    """Texts, binaries, pings, pongs and fragmented texts (splitting characters), then a close."""
    state = seed or 1
    parts: list[bytes] = []
    expected: list[tuple[int, bytes]] = []

    def rand(n: int) -> int:
        nonlocal state
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        return state % n

    def key() -> bytes | None:
        return bytes([rand(256) for _ in range(4)]) if masked else None

    alphabet = "tick€☃𝄞 "
    for i in range(count):
        size = [0, 5, 60, 125, 126, 300, 1500][rand(7)]
        kind = rand(5)
        if kind == 0:
            text = "".join(alphabet[(i + j) % len(alphabet)] for j in range(size // 2)).encode()
            parts.append(frame(0x81, text, key()))
            expected.append((TEXT, text))
        elif kind == 1:
            data = bytes((i + j) & 0xFF for j in range(size))
            parts.append(frame(0x82, data, key()))
            expected.append((BINARY, data))
        elif kind == 2:
            data = bytes(range(min(size, 125)))
            opcode = PING if rand(2) else PONG
            parts.append(frame(0x80 | opcode, data, key()))
            expected.append((opcode, data))
        else:
            text = "".join(alphabet[(i * j) % len(alphabet)] for j in range(size // 3 + 1)).encode()
            cuts = sorted(rand(len(text) + 1) for _ in range(rand(3) + 1))
            bounds = [0, *cuts, len(text)]
            pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
            for k, piece in enumerate(pieces):
                fin = 0x80 if k == len(pieces) - 1 else 0
                parts.append(frame(fin | (TEXT if k == 0 else 0), piece, key()))
                if not fin and rand(2):
                    parts.append(frame(0x89, b"hb", key()))
                    expected.append((PING, b"hb"))
            expected.append((TEXT, text))
    parts.append(frame(0x88, b"\x03\xe8done", key()))
    expected.append((CLOSE, b"\x03\xe8done"))
    return b"".join(parts), expected


@pytest.mark.parametrize("role", ["client", "server"])
def test_byte_at_a_time_long_stream(role: str) -> None:
    wire, expected = mixed_stream(3000, masked=role == "server", seed=11)
    assert len(expected) > 3000
    one_shot = WSFrameDecoder(role)  # type: ignore[arg-type]
    assert one_shot.feed(wire) == expected
    bytewise = WSFrameDecoder(role)  # type: ignore[arg-type]
    got: list[tuple[int, bytes]] = []
    for i in range(len(wire)):
        got += bytewise.feed(wire[i : i + 1])
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=1, max_value=2**31 - 1),
    masked=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10**9), max_size=40),
)
def test_any_chunking_decodes_the_same(seed: int, masked: bool, cuts: list[int]) -> None:
    wire, expected = mixed_stream(150, masked, seed)
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    decoder = WSFrameDecoder("server" if masked else "client")
    got: list[tuple[int, bytes]] = []
    for a, b in itertools.pairwise(bounds):
        got += decoder.feed(wire[a:b])
    assert got == expected


# --- counting ---------------------------------------------------------------------------------


def split_counted(
    messages: list[tuple[int, bytes]], min_size: int
) -> tuple[int, list[tuple[int, bytes]]]:
    """What ``count`` must return for the messages ``feed`` returned."""
    counted = [m for m in messages if m[0] == TEXT and len(m[1]) >= min_size]
    return len(counted), [m for m in messages if not (m[0] == TEXT and len(m[1]) >= min_size)]


def test_count_returns_what_it_did_not_count() -> None:
    decoder = WSFrameDecoder("client")
    wire = ws_encode_frames(TEXT, [b"x" * 300, b"short", b"y" * 200]) + frame(0x89, b"hb")
    assert decoder.count(wire, 200) == (2, [(TEXT, b"short"), (PING, b"hb")])
    # min_size defaults to 0: every text message counts, even an empty one.
    assert decoder.count(frame(0x81, b"") + frame(0x82, b"bin")) == (1, [(BINARY, b"bin")])
    assert decoder.count(b"") == (0, [])
    assert decoder.count(frame(0x88, b"\x03\xe8") + frame(0x81, b"after")) == (
        0,
        [(CLOSE, b"\x03\xe8")],
    )
    assert decoder.closed


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=1, max_value=2**31 - 1),
    masked=st.booleans(),
    min_size=st.integers(min_value=0, max_value=1600),
    cuts=st.lists(st.integers(min_value=0, max_value=10**9), max_size=40),
    feeds=st.lists(st.booleans(), min_size=41, max_size=41),
)
def test_count_matches_feed_under_any_chunking(
    seed: int, masked: bool, min_size: int, cuts: list[int], feeds: list[bool]
) -> None:
    wire, expected = mixed_stream(150, masked, seed)
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    decoder = WSFrameDecoder("server" if masked else "client")
    counted = 0
    others: list[tuple[int, bytes]] = []
    # ``feed`` and ``count`` alternate freely on one decoder.
    for (a, b), use_feed in zip(itertools.pairwise(bounds), feeds, strict=False):
        if use_feed:
            n, rest = split_counted(decoder.feed(wire[a:b]), min_size)
        else:
            n, rest = decoder.count(wire[a:b], min_size)
        counted += n
        others += rest
    assert (counted, others) == split_counted(expected, min_size)


@pytest.mark.parametrize(
    ("name", "role", "wire", "code", "message"), MALFORMED, ids=[row[0] for row in MALFORMED]
)
@pytest.mark.parametrize("chunk", [0, 1], ids=["one-shot", "bytewise"])
def test_count_fails_as_feed_does(
    name: str, role: str, wire: bytes, code: int, message: str, chunk: int
) -> None:
    decoder = WSFrameDecoder(role)  # type: ignore[arg-type]
    step = chunk or len(wire)
    with pytest.raises(ProtocolError) as caught:
        for i in range(0, len(wire), step):
            decoder.count(wire[i : i + step], 1)
    assert (caught.value.close_code, str(caught.value)) == (code, message)
    for sticky in (decoder.count, decoder.feed):
        with pytest.raises(ProtocolError) as again:
            sticky(b"\x81\x00")
        assert (again.value.close_code, str(again.value)) == (code, message)


# --- handshake --------------------------------------------------------------------------------


def response(accept: str, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode()


RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_key_rfc_example() -> None:
    assert ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == RFC_ACCEPT
    key = base64.b64encode(b"0123456789abcdef").decode()
    reference = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert ws_accept_key(key) == base64.b64encode(reference).decode()


def test_request_shape() -> None:
    handshake = WSClientHandshake(
        "127.0.0.1", 25520, "/v1/events", RFC_NONCE, [("Origin", "http://localhost")]
    )
    assert handshake.key == "dGhlIHNhbXBsZSBub25jZQ=="
    assert handshake.expected_accept == RFC_ACCEPT
    assert handshake.request == (
        b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:25520\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\r\n"
    )
    assert not handshake.done


def test_request_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"^key must be 16 bytes, got 3$"):
        WSClientHandshake("h", 80, "/", b"abc")
    with pytest.raises(HandshakeError, match=r"^header Origin has a value with CR, LF or NUL$"):
        WSClientHandshake("h", 80, "/", RFC_NONCE, [("Origin", "x\r\nEvil: 1")])


def test_response_byte_by_byte_with_leftover() -> None:
    handshake = WSClientHandshake("localhost", 80, "/", RFC_NONCE)
    wire = response(RFC_ACCEPT) + b"\x81\x02hi"
    head = len(wire) - 4
    for i in range(head - 1):
        assert handshake.feed(wire[i : i + 1]) is None
    assert handshake.feed(wire[head - 1 :]) == b"\x81\x02hi"
    assert handshake.done
    # Without trailing frames the leftover is empty, not None.
    assert WSClientHandshake("localhost", 80, "/", RFC_NONCE).feed(response(RFC_ACCEPT)) == b""


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            b"HTTP/1.1 403 Forbidden\r\n\r\n",
            'server answered "HTTP/1.1 403 Forbidden", expected HTTP/1.1 101 Switching Protocols',
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n",
            "missing Sec-WebSocket-Accept header",
        ),
        (
            response("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            f'Sec-WebSocket-Accept is "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", expected "{RFC_ACCEPT}"',
        ),
        (
            response(RFC_ACCEPT, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            'server selected extensions "permessage-deflate" that were not offered',
        ),
    ],
    ids=["bad status", "missing accept", "bad accept", "unoffered extension"],
)
def test_bad_responses(wire: bytes, message: str) -> None:
    handshake = WSClientHandshake("localhost", 80, "/", RFC_NONCE)
    with pytest.raises(HandshakeError) as caught:
        handshake.feed(wire)
    assert str(caught.value) == message
    with pytest.raises(HandshakeError):
        handshake.feed(b"\r\n")


def test_oversized_response_head() -> None:
    handshake = WSClientHandshake("localhost", 80, "/", RFC_NONCE)
    handshake.feed(b"HTTP/1.1 101 Switching Protocols\r\n")
    filler = b"X-Filler: " + b"a" * 90 + b"\r\n"
    with pytest.raises(HandshakeError, match=r"^response head exceeds 16384 bytes$"):
        for _ in range(200):
            assert handshake.feed(filler) is None


# --- interop with an independent peer (websockets) --------------------------------------------

TIMEOUT = 10.0


async def _echo(connection: ServerConnection) -> None:
    async for message in connection:
        if message == "fragments please":
            await connection.send(["frag", "men", "ted €"])
        elif message == "big please":
            await connection.send("€" * 1000)
        else:
            await connection.send(message)


async def _read_messages(
    reader: asyncio.StreamReader, decoder: WSFrameDecoder, want: int
) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    while len(got) < want:
        chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
        assert chunk, "peer closed early"
        got += decoder.feed(chunk)
    return got


async def _client_session() -> None:
    async with ws_serve(_echo, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        try:
            handshake = WSClientHandshake("127.0.0.1", port, "/v1/events", b"k" * 16)
            writer.write(handshake.request)
            leftover = None
            while leftover is None:
                leftover = handshake.feed(await asyncio.wait_for(reader.read(1024), TIMEOUT))
            assert leftover == b""
            decoder = WSFrameDecoder("client")

            key = b"\x0a\x0b\x0c\x0d"
            # One exchange at a time: the peer answers pings ahead of its echo handler.
            writer.write(ws_encode_frames(TEXT, [b"hello", "π≈3.14".encode()], key))
            assert await _read_messages(reader, decoder, 2) == [
                (TEXT, b"hello"),
                (TEXT, "π≈3.14".encode()),
            ]
            writer.write(ws_encode_frames(PING, [b"are you there"], key))
            assert await _read_messages(reader, decoder, 1) == [(PONG, b"are you there")]
            writer.write(ws_encode_frames(TEXT, [b"fragments please", b"big please"], key))
            assert await _read_messages(reader, decoder, 2) == [
                (TEXT, "fragmented €".encode()),
                (TEXT, ("€" * 1000).encode()),
            ]

            writer.write(ws_encode_frames(CLOSE, [ws_close_payload(1000, "bye")], key))
            got = await _read_messages(reader, decoder, 1)
            assert got == [(CLOSE, ws_close_payload(1000, "bye"))]
            assert decoder.closed
        finally:
            writer.close()


def test_interop_client_against_websockets_server() -> None:
    asyncio.run(asyncio.wait_for(_client_session(), 3 * TIMEOUT))


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal server from the codec: reply 101, echo texts, answer pings, echo the close."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {ws_accept_key(key)}\r\n\r\n".encode()
    )
    decoder = WSFrameDecoder("server", reject_binary=True)
    while not decoder.closed:
        chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
        if not chunk:
            break
        try:
            messages = decoder.feed(chunk)
        except ProtocolError as error:
            writer.write(ws_encode_frames(CLOSE, [ws_close_payload(error.close_code, str(error))]))
            break
        for opcode, payload in messages:
            if opcode == TEXT:
                writer.write(ws_encode_frames(TEXT, [payload.upper()]))
            elif opcode == PING:
                writer.write(ws_encode_frames(PONG, [payload]))
            elif opcode == CLOSE:
                writer.write(ws_encode_frames(CLOSE, [payload]))
    await writer.drain()
    writer.close()


async def _server_session() -> list[str]:
    server = await asyncio.start_server(_serve_one, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    replies: list[str] = []
    try:
        async with ws_connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            await ws.send("hello")
            await ws.send(["frag", "mented"])
            replies.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            replies.append(str(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            await asyncio.wait_for(await ws.ping(b"x"), TIMEOUT)
            await ws.send(b"binary is refused")
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None
            replies.append(f"{closed.value.rcvd.code} {closed.value.rcvd.reason}")
    finally:
        server.close()
        await server.wait_closed()
    return replies


def test_interop_websockets_client_against_codec_server() -> None:
    replies = asyncio.run(asyncio.wait_for(_server_session(), 3 * TIMEOUT))
    assert replies == ["HELLO", "FRAGMENTED", "1003 binary messages are not accepted"]


def test_exports() -> None:
    for name in (
        "WSClientHandshake",
        "WSFrameDecoder",
        "ws_accept_key",
        "ws_close_payload",
        "ws_encode_frames",
        "ws_parse_close_payload",
    ):
        assert name in fastfeed.__all__
        assert getattr(fastfeed, name) is getattr(fastfeed._core, name)


@pytest.mark.parametrize("role", ["server", "client"])
def test_messages_before_a_violation_travel_on_the_error(role: str) -> None:
    """Everything decoded before the first bad byte of a read is delivered: on the error."""
    mask = b"\x01\x02\x03\x04" if role == "server" else None
    good = frame(0x81, b'{"id":1}', mask) + frame(0x89, b"p", mask) + frame(0x81, b"two", mask)
    bad = frame(0x83, b"x", mask)  # reserved opcode 3
    decoder = WSFrameDecoder(role)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(good + bad + frame(0x81, b"after", mask))
    assert caught.value.close_code == 1002
    assert caught.value.messages == [(1, b'{"id":1}'), (9, b"p"), (1, b"two")]
    # An error on the first byte carries nothing; other errors carry an empty list too.
    with pytest.raises(ProtocolError) as again:
        decoder.feed(frame(0x81, b"later", mask))
    assert again.value.messages == []
