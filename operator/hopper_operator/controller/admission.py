"""Admission webhooks: a wrong-rank parent refused at apply, the tree metadata stamped at create.

Kopf's part fits and is used: `@kopf.on.validate` / `@kopf.on.mutate` handlers, its
admission engine (the AdmissionReview parsed, `patch` turned into a JSON Patch, an
`AdmissionError` turned into a refusal) and its request handler for aiohttp. Kopf's part
that does not fit is left out: its `WebhookServer` makes a certificate per process or reads
files, and restarts its listener to renew; its managed configurations are written by every
replica with its own caBundle and removed when any one stops. Here every replica serves
(Kopf runs standalone, the Lease only gates writes) with the one certificate of a Secret,
hot-swapped (`controller/certificates.py`), and the chart owns the configurations.

Decisions are `core/admission.py`'s, on the World the reconciler would build from the warm
indexes: no API request on the admission path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import kopf
from aiohttp import web

from hopper_operator.controller.context import Context
from hopper_operator.controller.handlers import INSTANCES  # also: its startup runs first
from hopper_operator.controller.leader import lease_namespace, new_identity
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.settings import WebhookSettings
from hopper_operator.core.admission import awaiting_ancestor, refusal, stamp
from hopper_operator.core.views import InstanceView, instance_view
from hopper_operator.core.world import World
from hopper_operator.kube.client import Kube
from hopper_operator.resources.patches import metadata_patch

if TYPE_CHECKING:  # imported when the server starts: cryptography costs memory
    from hopper_operator.controller.certificates import CertificateKeeper

logger = logging.getLogger(__name__)

VALIDATE = "parent-rank"  # the handler ids, and so the paths the configurations call
MUTATE = "tree-metadata"
PARENT_WAIT = 1.0  # seconds a create may wait for its ancestors to reach the index
PARENT_POLL = 0.02


# Kopf passes `old` but its WebhookFn protocol does not name it.
@kopf.on.validate(*INSTANCES, id=VALIDATE, operations=["CREATE", "UPDATE"])  # type: ignore[arg-type]
async def parent_rank(*, body: kopf.Body, old: kopf.Body | None, memo: Context, **_: Any) -> None:
    world = memo.running.reconciler.world(instance_view(body))
    problem = refusal(world, old=instance_view(old) if old is not None else None)
    if problem:
        raise kopf.AdmissionError(problem, code=422)


@kopf.on.mutate(*INSTANCES, id=MUTATE, operations=["CREATE"])
async def tree_metadata(*, body: kopf.Body, patch: kopf.Patch, memo: Context, **_: Any) -> None:
    view = instance_view(body)
    change = stamp(await _world_once_linked(memo.running.reconciler, view))
    if change is not None:
        patch.setdefault("metadata", {}).update(metadata_patch(view, change))


async def _world_once_linked(reconciler: Reconciler, view: InstanceView) -> World:
    """The create's World, once its ancestors are in the index or PARENT_WAIT is over.

    Parents applied a moment before (a tree applied at once) reach the index within tens
    of milliseconds: waiting for them here saves the operator's metadata patch. A parent
    that does not exist costs the create this wait, well within the configuration's
    timeout, and is then allowed as always. The index is read, never the API server.
    """
    world = reconciler.world(view)
    deadline = time.monotonic() + PARENT_WAIT
    while awaiting_ancestor(world) and time.monotonic() < deadline:
        await asyncio.sleep(PARENT_POLL)
        world = reconciler.world(view)
    return world


class RefusalsAreNotErrors(logging.Filter):
    """Kopf logs every refusal at ERROR ("Webhook ... failed permanently"): a user's bad
    apply is not the operator's error, and would wake log-based alerting. Said at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(f"Webhook {VALIDATE!r} failed permanently"):
            return True
        logger.info("Refused: %s", record.getMessage().partition(": ")[2])
        return False


class AdmissionServer:
    """Kopf's webhook-server protocol: serves HTTPS with the keeper's certificate, keeping
    it fresh for as long as Kopf runs it (Kopf cancels it on shutdown)."""

    def __init__(self, keeper: CertificateKeeper, settings: WebhookSettings) -> None:
        self.keeper, self.settings = keeper, settings
        self.serving = False

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        while self.keeper.loaded is None:  # cert-manager may not have issued it yet
            try:
                await self.keeper.refresh()
            except Exception as error:
                logger.warning("Webhook certificate not loaded yet: %s", error)
            if self.keeper.loaded is None:
                await asyncio.sleep(min(self.settings.check_interval, 2.0))

        async def review(request: web.Request) -> web.Response:
            # Kopf's own AdmissionReview <-> handlers glue: reused, not copied.
            return await kopf.WebhookServer._serve(fn, request)

        app = web.Application()
        app.add_routes([web.post("/{id:.*}", review)])
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(
                runner, self.settings.address, self.settings.port, ssl_context=self.keeper.context
            )
            await site.start()
            self.serving = True
            logger.info("Webhook server: serving on port %d", self.settings.port)
            url = f"https://{self.settings.hosts[0]}:{self.settings.port}"
            yield kopf.WebhookClientConfig(url=url)  # unused: the chart owns the configurations
            await self.keeper.keep()
        finally:
            self.serving = False
            await runner.cleanup()
            await self.keeper.kube.close()

    def unready(self) -> str | None:
        return None if self.serving else "webhook server not serving yet"


async def _no_server(fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
    """Webhooks disabled: Kopf insists on a server once admission handlers exist."""
    await asyncio.Event().wait()
    yield kopf.WebhookClientConfig()  # never reached


@kopf.on.startup()
async def start_admission(*, memo: Context, settings: kopf.OperatorSettings, **_: Any) -> None:
    webhook = memo.settings.webhook
    if webhook is None:
        settings.admission.server = _no_server
        return
    from hopper_operator.controller.certificates import CertificateKeeper

    namespace = webhook.namespace or lease_namespace(
        memo.settings.lease_namespace, list(memo.settings.namespaces)
    )
    # A client of its own, never refused: a standby keeps the certificate too. It lives as
    # long as the server, which Kopf runs and cancels.
    keeper = CertificateKeeper(Kube(identity=new_identity()), webhook, namespace)
    server = AdmissionServer(keeper, webhook)
    memo.running.readiness.add_check(server.unready)
    logging.getLogger("kopf.objects").addFilter(RefusalsAreNotErrors())
    settings.admission.server = server
