"""The HTTPS server kube-apiserver calls with AdmissionReviews, in every replica.

Every replica serves, leader or not (the Lease gates writes, and admission writes
nothing), with the one certificate of a Secret, hot-swapped (`controller/certificates.py`);
the chart owns the webhook configurations. An answer that cannot be given (an error of
ours) is an HTTP 500, so the configuration's failurePolicy decides, as when the server is
down; a request that is not an AdmissionReview is a 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from hopper_operator.controller.admission import WEBHOOKS, BadReviewError, answer
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.settings import WebhookSettings

if TYPE_CHECKING:  # imported when the server starts: cryptography costs memory
    from hopper_operator.controller.certificates import CertificateKeeper

logger = logging.getLogger(__name__)


class AdmissionServer:
    def __init__(
        self, keeper: CertificateKeeper, settings: WebhookSettings, reconciler: Reconciler
    ) -> None:
        self.keeper, self.settings, self.reconciler = keeper, settings, reconciler
        self.serving = False
        self.failure: str | None = None

    async def serve(self) -> None:
        """Serve until cancelled, keeping the certificate fresh meanwhile. A failure to
        listen (the port taken) is logged and keeps the replica unready: /readyz says it."""
        try:
            await self._serve()
        except Exception as error:
            logger.exception("Webhook server stopped")
            self.failure = f"webhook server stopped: {error!r}"

    async def _serve(self) -> None:
        while self.keeper.loaded is None:  # cert-manager may not have issued it yet
            try:
                await self.keeper.refresh()
            except Exception as error:
                logger.warning("Webhook certificate not loaded yet: %s", error)
            if self.keeper.loaded is None:
                await asyncio.sleep(min(self.settings.check_interval, 2.0))
        app = web.Application()
        app.add_routes([web.post(f"/{webhook}", self._review) for webhook in WEBHOOKS])
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(
                runner, self.settings.address, self.settings.port, ssl_context=self.keeper.context
            )
            await site.start()
            self.serving = True
            logger.info("Webhook server: serving on port %d", self.settings.port)
            await self.keeper.keep()
        finally:
            self.serving = False
            await runner.cleanup()
            await self.keeper.kube.close()

    async def _review(self, request: web.Request) -> web.Response:
        webhook = request.path.lstrip("/")
        try:
            review = json.loads(await request.read())
            return web.json_response(await answer(self.reconciler, webhook, review))
        except (json.JSONDecodeError, UnicodeDecodeError, BadReviewError) as error:
            raise web.HTTPBadRequest(text=f"{error}\n") from None
        except Exception:
            logger.exception("Webhook %s: no answer, the failurePolicy decides", webhook)
            raise web.HTTPInternalServerError() from None

    def unready(self) -> str | None:
        if self.failure is not None:
            return self.failure
        return None if self.serving else "webhook server not serving yet"
