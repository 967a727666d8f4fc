"""/readyz: synced indexes, and every added check (the webhook server serving)."""

from __future__ import annotations

import aiohttp

from hopper_localcluster import free_ports
from hopper_operator.controller.readiness import Readiness


async def test_ready_only_once_synced_and_every_check_passes() -> None:
    (port,) = free_ports(1)
    readiness, serving = Readiness(), False
    readiness.add_check(lambda: None if serving else "webhook server not serving yet")
    await readiness.serve(port, "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:

            async def probe() -> tuple[int, str]:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as answer:
                    return answer.status, await answer.text()

            assert await probe() == (503, "indexes not synced yet\n")
            readiness.mark_synced()
            assert await probe() == (503, "webhook server not serving yet\n")
            serving = True
            assert await probe() == (200, "ok\n")
    finally:
        await readiness.close()
