"""/healthz, /readyz and /metrics: what the kubelet and Prometheus ask."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from hopper_operator.kube.client import KubeError
from hopper_operator.kube.metrics_gate import METRICS_PATH, scrape
from hopper_operator.kube.probes import lists_any
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.metrics import ApiMetrics

LIST_WAIT = 2.0  # seconds /readyz waits for the first list (the kubelet's probe waits 5)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok\n")


@router.get("/readyz")
async def readyz(request: Request) -> PlainTextResponse:
    """Ready once the instances are listed (the Service then routes a resuming stream
    only to a replica that can replay it), and while the API server answers the API's
    own ServiceAccount: a read it needs."""
    store = request.app.state.store
    try:
        async with asyncio.timeout(LIST_WAIT):
            await store.cache.informers.synced()
    except TimeoutError:
        return PlainTextResponse("the instances are not listed yet\n", status_code=503)
    try:
        await lists_any(store.kube, instance_path(request.app.state.namespace))
    except (KubeError, OSError) as error:
        return PlainTextResponse(f"the API server does not answer: {error}\n", status_code=503)
    return PlainTextResponse("ok\n")


@router.get(METRICS_PATH)
async def metrics(request: Request) -> Response:
    """Behind the same review as the operator's metrics: `get` on /metrics."""
    registry = request.app.state.metrics
    assert isinstance(registry, ApiMetrics)
    authorization = request.headers.get("Authorization")
    answer = await scrape(request.app.state.gate, authorization, registry.registry)
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
