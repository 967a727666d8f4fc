"""The Instance API as an ASGI application over one Kube client."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from hopper_operator.kube.client import Kube
from hopper_operator.kube.informer import Informers
from hopper_operator.kube.reviews import Gate
from hopper_operator.rest import errors, health, routes
from hopper_operator.rest.metrics import ApiMetrics
from hopper_operator.rest.middleware import Guard
from hopper_operator.rest.store import Store
from hopper_operator.rest.stream import Streams, StreamSettings

DESCRIPTION = """The original Hopper Instance API, served over HopperInstance objects.

Present a Kubernetes bearer token; a request may do what RBAC lets its user do to
hopperinstances in that namespace with kubectl. `/api/v1/instances` serves the namespace
the API was installed for; `/api/v1/namespaces/{namespace}/instances` any other."""


STATIC = "/static-docs"


def create_app(kube: Kube, *, namespace: str, stream: StreamSettings | None = None) -> FastAPI:
    # /docs and /redoc with their scripts, stylesheet and favicon served from the package
    # (under STATIC): FastAPI's own pages load them from public CDNs, blank when air-gapped.
    app = FastAPIOffline(
        title="Hopper Instance API", version="1", description=DESCRIPTION, static_url=STATIC
    )
    metrics = ApiMetrics()
    app.state.informers = informers = Informers(kube)
    app.state.store, app.state.gate = Store(kube, informers), Gate(kube)
    app.state.namespace, app.state.metrics = namespace, metrics
    app.state.streams = Streams(stream or StreamSettings())
    errors.install(app)
    app.include_router(routes.router("/api/v1/instances"), tags=["instances"])
    app.include_router(
        routes.router("/api/v1/namespaces/{namespace}/instances", namespaced=True),
        tags=["instances in a namespace"],
    )
    app.include_router(health.router)
    app.add_middleware(Guard, metrics=metrics)
    return app
