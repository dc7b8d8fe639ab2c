"""What the picows baseline servers of ``bench`` share: a listener that pumps frames from a task,
pausing while the transport's buffer is full, answering Close and stopping on disconnect."""

from __future__ import annotations

import asyncio

from picows import WSFrame, WSListener, WSMsgType, WSTransport

__all__ = ["PumpingListener"]


class PumpingListener(WSListener):
    """Subclasses write :meth:`pump` (awaiting :attr:`resumed` when it is clear) and call
    :meth:`start`; :meth:`on_text` sees the client's text frames."""

    def __init__(self) -> None:
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.task: asyncio.Task[None] | None = None

    def start(self, transport: WSTransport) -> None:
        self.task = asyncio.get_running_loop().create_task(self.pump(transport))

    async def pump(self, transport: WSTransport) -> None:
        raise NotImplementedError

    def on_text(self, transport: WSTransport, frame: WSFrame) -> None:
        """A text frame from the client (ignored unless overridden)."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            self.on_text(transport, frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.resumed.set()
