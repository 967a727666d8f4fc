"""`/readyz`: 200 once the indexes are synced, so a rollout waits for a warm standby.

Kopf runs no resource handler before every index has been filled from its initial list,
so the first event handled proves the indexes synced; a cluster with no instance at all
has nothing to index, which one cheap LIST (limit=1) at start-up tells.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from hopper_operator.api.meta import GROUP, PLURAL, VERSION
from hopper_operator.kube.client import Kube
from hopper_operator.kube.probes import lists_any
from hopper_operator.resources.paths import instance_path

logger = logging.getLogger(__name__)


class Readiness:
    def __init__(self) -> None:
        self._synced = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._checks: list[Callable[[], str | None]] = []

    def add_check(self, unready: Callable[[], str | None]) -> None:
        """Another condition of readiness: `unready()` says why not, or None (the webhook
        server: a replica is ready once it also answers admission)."""
        self._checks.append(unready)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def mark_synced(self) -> None:
        self._synced.set()

    async def wait(self) -> None:
        await self._synced.wait()

    async def check_empty(self, kube: Kube, namespaces: tuple[str, ...]) -> None:
        """Synced at once when there is no instance to index where we watch."""
        paths = [instance_path(ns) for ns in namespaces] or [f"/apis/{GROUP}/{VERSION}/{PLURAL}"]
        try:
            for path in paths:
                if await lists_any(kube, path):
                    return
        except Exception as error:  # the events will tell
            logger.debug("readiness: could not list instances: %r", error)
            return
        self.mark_synced()

    async def serve(self, port: int, address: str = "0.0.0.0") -> None:
        async def readyz(_: web.Request) -> web.Response:
            if not self.synced:
                return web.Response(status=503, text="indexes not synced yet\n")
            problems = [p for p in (check() for check in self._checks) if p]
            if problems:
                return web.Response(status=503, text="\n".join(problems) + "\n")
            return web.Response(text="ok\n")

        app = web.Application()
        app.router.add_get("/readyz", readyz)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, address, port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
