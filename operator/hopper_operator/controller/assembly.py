"""The operator's parts, built once at startup: each finished when built, none patched after.

The order follows what needs what: clients (and the election that gates writes), metrics,
the queue that reports to them, the reconciler and the controller around it, the workers
that run it while this replica leads, the wakeups that feed the queue, and the admission
webhooks' server, which judges on the reconciler's world.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hopper_operator.controller.admission_server import AdmissionServer
from hopper_operator.controller.context import Parts
from hopper_operator.controller.executor import Executor
from hopper_operator.controller.indexes import Indexes
from hopper_operator.controller.leader import LeaderElector, new_identity
from hopper_operator.controller.loop import Controller
from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.metrics_server import serve_metrics
from hopper_operator.controller.queue import WorkQueue
from hopper_operator.controller.readiness import Readiness
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.records import Key, Records
from hopper_operator.controller.settings import Settings, WebhookSettings
from hopper_operator.controller.wakeups import Recount, Wakeups
from hopper_operator.controller.workers import Supervisor, Workers
from hopper_operator.kube.client import Kube
from hopper_operator.kube.login import own_namespace


@dataclass(frozen=True)
class Clients:
    kube: Kube  # changes the cluster: refused while not sure to lead
    # Never refused: the Lease itself (and a renewal never queues behind the workers'
    # requests), token and access reviews of metrics callers, reads.
    aside: Kube
    elector: LeaderElector | None

    def leading(self) -> bool:
        return self.elector is None or self.elector.leading()


def clients(options: Settings) -> Clients:
    identity = new_identity()
    aside = Kube(identity=identity)
    if not options.leader_election:
        return Clients(Kube(identity=identity), aside, None)
    elector = LeaderElector(
        aside,
        namespace=own_namespace(options.lease_namespace, list(options.namespaces)),
        name=options.lease_name,
        identity=identity,
        timings=options.lease,
    )
    return Clients(Kube(identity=identity, may_write=elector.leading), aside, elector)


def supervisor(
    options: Settings,
    clients: Clients,
    queue: WorkQueue[Key],
    controller: Controller,
    readiness: Readiness,
) -> Supervisor[Key]:
    """The workers, run while this replica leads; a new term starts from every instance."""
    indexes = controller.reconciler.indexes
    workers = Workers(
        queue=queue,
        handle=controller.process,
        count=options.workers,
        keys=lambda: [view.key for view in indexes.every_instance()],
        synced=readiness.wait,
    )
    return Supervisor(workers, clients.elector, controller.reconciler.drain)


def admission_server(
    options: Settings, webhook: WebhookSettings, reconciler: Reconciler
) -> AdmissionServer:
    """Served by every replica, leader or not, with a client of its own that is never
    refused: a standby keeps the certificate too."""
    from hopper_operator.controller.certificates import CertificateKeeper  # cryptography

    namespace = webhook.namespace or own_namespace(
        options.lease_namespace, list(options.namespaces)
    )
    keeper = CertificateKeeper(Kube(identity=new_identity()), webhook, namespace)
    return AdmissionServer(keeper, webhook, reconciler)


async def assemble(options: Settings, indexes: Indexes) -> Parts:
    made = clients(options)
    metrics = Metrics(indexes.every_instance, workers=options.workers, leading=made.leading)
    queue = WorkQueue[Key](observer=metrics.queue)
    records = Records()
    reconciler = Reconciler(
        Executor(made.kube), indexes, records, metrics, parent_grace=options.parent_grace_seconds
    )
    controller = Controller(reconciler, queue, metrics)
    readiness = Readiness()
    metrics_server = await serve_metrics(options, made.aside, metrics)
    if options.readiness_port:
        await readiness.serve(options.readiness_port)
    background = [asyncio.create_task(readiness.check_empty(made.aside, options.namespaces))]
    if options.webhook is not None:
        server = admission_server(options, options.webhook, reconciler)
        readiness.add_check(server.unready)
        background.append(asyncio.create_task(server.serve()))
    return Parts(
        kube=made.kube,
        aside=made.aside,
        reconciler=reconciler,
        wakeups=Wakeups(queue, indexes.children, Recount(queue), records),
        supervisor=supervisor(options, made, queue, controller, readiness),
        readiness=readiness,
        background=tuple(background),
        metrics_server=metrics_server,
    )
