"""A client's second Close (Autobahn 7.1.2): ignored by the server, as RFC 6455 §5.5.1 wants,
whether it arrives after the first was handled or in the same read."""

from __future__ import annotations

import asyncio

from fastfeed import ws_close_payload
from server_support import RawClient, run, started

_CLOSE = 8


def test_a_second_close_after_the_first_is_ignored() -> None:
    async def body() -> None:
        async with started() as server:
            raw, status = await RawClient.connect(server.port)
            assert status == 101
            raw.send_frame(_CLOSE, ws_close_payload(1000))
            await asyncio.sleep(0.2)
            raw.send_frame(_CLOSE, b"")
            _, code, _ = await raw.read_until_close()
            await raw.close()
            assert code == 1000

    run(body)


def test_two_closes_in_one_read_are_answered_with_the_first_code() -> None:
    async def body() -> None:
        async with started() as server:
            raw, _ = await RawClient.connect(server.port)
            raw.send_frame(_CLOSE, ws_close_payload(1000))
            raw.send_frame(_CLOSE, b"")
            _, code, _ = await raw.read_until_close()
            await raw.close()
            assert code == 1000

    run(body)
