"""The answer to a /metrics scrape, whichever server gives it (the operator's, the REST
API's): the metrics, to a bearer token allowed `get` on the non-resource URL /metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hopper_operator.kube.client import KubeError
from hopper_operator.kube.reviews import Decision, Gate, non_resource

METRICS_PATH = "/metrics"
READ_METRICS = non_resource("get", METRICS_PATH)
PLAIN_TEXT = "text/plain; charset=utf-8"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


async def scrape(gate: Gate, authorization: str | None, registry: CollectorRegistry) -> Answer:
    try:
        decision = await gate.decision(authorization, READ_METRICS)
    except KubeError as error:
        # Not cached: the next scrape asks again.
        logger.warning("Cannot review a metrics scrape's token: %s", error)
        return Answer(503, b"cannot review the token now\n", PLAIN_TEXT)
    if decision is not Decision.ALLOWED:
        return Answer(decision, f"{decision.name.lower()}\n".encode(), PLAIN_TEXT)
    return Answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
