"""The replay baseline: a picows server that reads a JSON Lines recording line by line and
``send()``s each line as one frame once a client sent its first command, then Close 1000
``end of replay`` — the straightforward Python replay of SPEC §5 at ``--speed max`` (it pauses
when the client does not read; it never drops).

    python benches/replay_baseline_server.py PORT FILE
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class Replayer(WSListener):
    def __init__(self, path: str) -> None:
        self.path = path
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.task: asyncio.Task[None] | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT and self.task is None:
            # The first command (a subscription) starts the replay, as in fastfeed.
            transport.send(WSMsgType.TEXT, b'{"header":{"type":"REQ_RESPONSE","status":'
                           b'"CONNECTED","response":"OK","req_id":1}}')  # fmt: skip
            self.task = asyncio.get_running_loop().create_task(self.pump(transport))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.resumed.set()

    async def pump(self, transport: WSTransport) -> None:
        send = transport.send
        text = WSMsgType.TEXT
        resumed = self.resumed
        with open(self.path, "rb") as lines:
            for i, line in enumerate(lines):
                send(text, line.rstrip(b"\n"))
                if not resumed.is_set():
                    await resumed.wait()
                elif i % 256 == 255:
                    await asyncio.sleep(0)  # let the loop read and run timers
        transport.send_close(WSCloseCode.OK, b"end of replay")


async def main(port: int, path: str) -> None:
    server = await ws_create_server(lambda _request: Replayer(path), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
