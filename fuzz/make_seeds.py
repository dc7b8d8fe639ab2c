"""Writes the seed corpora (fuzz/seeds/<target>/) from the Rust tests' own inputs: the raw-string
literals of the envelope, event and JSON stream tests, the replay tests' files, and frames built
as the codec tests build them. Deterministic; run from the repository root:

    python3 fuzz/make_seeds.py
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "rust" / "core" / "src"
SEEDS = ROOT / "fuzz" / "seeds"
RAW = re.compile(r'r#"(.*?)"#', re.S)

TRADE = (
    b'{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK",'
    b'"symbol":"AAPL"},"trade":{"ms_of_day":1,"sequence":2,"size":3,"condition":0,"price":4.5,'
    b'"exchange":5,"date":20250321}}'
)


def literals(*files: str) -> list[bytes]:
    out = []
    for name in files:
        for text in RAW.findall((SRC / name).read_text()):
            if text.lstrip().startswith(("{", "[")) or "'" in text:
                out.append(text.encode())
    return out


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    head = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


def frame_streams(mask: bytes | None) -> list[bytes]:
    def f(opcode: int, payload: bytes, fin: bool = True) -> bytes:
        return frame(opcode, payload, fin=fin, mask=mask)

    return [
        f(1, b'{"msg_type":"STOP","id":1}') + f(9, b"hb") + f(8, struct.pack(">H", 1000) + b"bye"),
        f(1, "héllo €".encode(), fin=False) + f(9, b"") + f(0, b" world") + f(0, b"!", True),
        f(2, bytes(range(256))) + f(10, b"pong"),
        f(1, b"x" * 300) + f(1, b"y" * 5000),
        f(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", fin=False) + f(0, b"\xed\xa0\x80"),
        f(8, b"\x03"),
        f(8, struct.pack(">H", 1005)),
        # A header announcing 2^62 bytes, then nothing.
        bytes([0x81, (0x80 if mask else 0) | 127]) + struct.pack(">Q", 1 << 62) + (mask or b""),
        f(1, TRADE) + f(1, b'{"trade":') + f(1, TRADE),
    ]


def assembler_frames() -> list[bytes]:
    def f(fin: bool, rsv: int, opcode: int, payload: bytes) -> bytes:
        return bytes([(0x80 if fin else 0) | rsv << 4 | opcode, len(payload)]) + payload

    return [
        b"\x01" + f(True, 0, 1, b"hello") + f(True, 0, 9, b"p") + f(True, 0, 8, b"\x03\xe8ok"),
        b"\x01" + f(False, 0, 1, "é".encode()[:1]) + f(True, 0, 0, "é".encode()[1:]),
        b"\x00" + f(False, 0, 2, b"ab") + f(False, 0, 0, b"cd") + f(True, 0, 0, b"ef"),
        b"\x81" + f(True, 0, 2, b"bin"),
        b"\x01" + f(True, 4, 1, b"rsv") + f(True, 0, 3, b"") + f(False, 0, 9, b""),
    ]


def handshakes() -> list[bytes]:
    accept = "ICX+Yqv66kxgM0FcWaLWlFLwTAI="  # base64(SHA-1(base64(16 zero bytes) + GUID))
    ok = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
    )
    return [
        (ok + "\r\n").encode() + frame(1, b"hi"),
        (ok + "Sec-WebSocket-Protocol: chat\r\n\r\n").encode(),
        (ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode(),
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 OK\nUpgrade: websocket\n\n",
    ]


def requests() -> list[bytes]:
    """Opening handshakes as a client sends them (the Rust tests' valid one), and refusals."""
    ok = (
        "GET /v1/events?x=1 HTTP/1.1\r\nHost: 127.0.0.1:25520\r\nUpgrade: WebSocket\r\n"
        "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    return [
        ok.encode() + frame(1, b"hi"),
        ok.replace("GET", "POST").encode(),
        ok.replace("Upgrade: WebSocket", "Upgrade: h2c").encode(),
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\nX: " + b"a" * 100 + b"\n\n",
        b"\x16\x03\x01\x02\x00\x01\x00",
    ]


def http_bodies(events: list[bytes]) -> list[bytes]:
    """HTTP streaming bodies: repeated events (the decoder's fast path takes a spelling it has
    seen), seed 002's control objects, stray bytes, and the event tests' objects."""
    controls = [b'{"StreamStatus":"EndSnapshot"}', b'{"Error":"Throttled","Message":"x"}']
    return [
        b"\n".join([TRADE] * 4),
        TRADE + TRADE + b" " + controls[0] + TRADE + b"\r\n]x" + TRADE + controls[1] + TRADE,
        b"\n".join(events),
    ]


def replay_files() -> dict[str, list[bytes]]:
    jsonl = b"\n".join([TRADE, b"", b'{"header":{"type":"STATUS","status":"CONNECTED"}}', TRADE])
    quotes = (
        b"date,ms_of_day,symbol,bid,ask,bid_size,ask_size,bid_exchange,ask_exchange,"
        b"bid_condition,ask_condition,sec_type,expiration,strike,right\r\n"
        b"20250321,34200000,SPY,4.1,4.2,10,12,1,2,3,4,OPTION,20250321,570000,C\r\n"
        b"20250321,34200001,AAPL,227.49,227.51,,,,,,,,,,\r\n"
    )
    trades = (
        "\ufeffsymbol, price ,date,ms_of_day,size,sec_type,expiration,strike,right,sequence\n"
        "AAPL,227.5,20250321,34200000,100,,,,,\n\n"
        "SPY,4.15,20250321,34200001,3,OPTION,20250321,570000,C,8812\n"
        'SPX,5700.25,20250321,34200002,0,INDEX,,,,-1\n"AAPL",1,20250321,1,1,,,,,\n'
    ).encode()
    events = [t for t in literals("event/tests.rs") if t.startswith(b"{")][:20]
    return {
        "replay_jsonl": [jsonl, gzip.compress(jsonl, mtime=0), b"\n".join(events)],
        "replay_csv": [quotes, trades, gzip.compress(trades, mtime=0)],
    }


def main() -> None:
    terminal = literals("envelope/tests.rs", "envelope/terminal_tests.rs")
    stream = literals("envelope/stream/tests.rs")
    events = [*literals("event/tests.rs"), TRADE]
    splits = [*literals("json_stream/tests.rs"), TRADE + b"\n" + TRADE + b" ]{"]
    server, client = frame_streams(b"\x01\x02\x03\x04"), frame_streams(None)
    corpora: dict[str, list[bytes]] = {
        "ws_decoder_server": [bytes([c]) + s for s in server for c in (0x01, 0x3D)],
        "ws_decoder_client": [bytes([c]) + s for s in client for c in (0x01, 0x3E)],
        "ws_assembler": assembler_frames(),
        "handshake_request": [b"\x00" + r for r in requests()] + [b"\x18" + requests()[0]],
        "handshake_response": [b"\x00" + h for h in handshakes()] + [b"\x18" + handshakes()[0]],
        "command_terminal": terminal,
        "command_strict": terminal,
        "command_stream": stream,
        "event_decode": events,
        "event_batch": [b"\x08" + frame(1, e) for e in events[:10]]
        + [b"\x00" + b"\n".join(events)],
        "json_stream": [bytes([c]) + s for s in splits for c in (0x02, 0x0A)],
        "hub_ingest": [b"\n".join(events), b"\n".join(events[:5]) + b"\x00" + TRADE],
        "event_stream": [bytes([c]) + s for s in http_bodies(events) for c in (0x01, 0x03, 0x2A)],
        **replay_files(),
    }
    shutil.rmtree(SEEDS, ignore_errors=True)
    for target, inputs in corpora.items():
        folder = SEEDS / target
        folder.mkdir(parents=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"{target}: {len(set(inputs))} seeds")


if __name__ == "__main__":
    main()
