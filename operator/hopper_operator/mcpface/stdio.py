"""`hopper-operator mcp`: the tools over stdio, for a desktop agent, acting as the
kubeconfig's user: every request is that user's, judged by the API server with their RBAC."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mcp.server.stdio import stdio_server

from hopper_operator.kube.client import Kube, KubeError
from hopper_operator.kube.informer import Informers
from hopper_operator.mcpface.follow import Followers
from hopper_operator.mcpface.identity import Kubeconfig
from hopper_operator.mcpface.server import Context, Face, build
from hopper_operator.mcpface.source import InformerSource
from hopper_operator.rest.store import Store

logger = logging.getLogger(__name__)

SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass(frozen=True)
class StdioSettings:
    namespace: str
    read_only: bool = False
    max_subscriptions: int = 100


async def whoami(kube: Kube) -> str:
    """The kubeconfig user's name as the API server knows it (what `created_by` records)."""
    try:
        review = await kube.create(
            SELF_REVIEWS,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except KubeError as error:
        logger.warning("who am I: the API server did not say (%s)", error.message)
        return "kubeconfig user"
    name: str = ((review.get("status") or {}).get("userInfo") or {}).get("username") or ""
    return name or "kubeconfig user"


async def serve(settings: StdioSettings) -> None:
    """Until the client closes stdin."""
    async with Kube(identity="mcp stdio") as kube:
        informers = Informers(kube)  # one list-watch per namespace: reads, waits, following
        store = Store(kube, informers)
        caller = Kubeconfig(await whoami(kube))

        def identify(_: Context) -> Kubeconfig:
            return caller

        source = InformerSource(informers)
        followers = Followers(source, max_subscriptions=settings.max_subscriptions)
        face = Face(store, settings.namespace, identify, followers, settings.read_only)
        server = build(face)
        try:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
        finally:
            await followers.close()
            await informers.close()
