"""The admission webhooks in an operator case: configurations that send kube-apiserver's
reviews of the case's namespace to the operator on 127.0.0.1, as the chart's send them to
its Service, and the operator's flags that serve them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from hopper_localcluster import free_ports
from hopper_localcluster.admission import REGISTRATION, configurations, plural
from hopper_operator.api.meta import FINALIZER
from hopperbench.api import Api, ApiError, instances_path
from hopperbench.errors import BenchError

ADMITTING_TIMEOUT = 120.0


@contextlib.asynccontextmanager
async def webhooks(api: Api, namespace: str) -> AsyncIterator[list[str]]:
    """Both configurations for `namespace`; yields the operator's webhook flags."""
    (port,) = free_ports(1)
    name = f"hopper-bench-{namespace}"
    bodies = configurations(name, [port], namespace, timeout_seconds=3)
    for body in bodies:
        await api.request("POST", f"{REGISTRATION}/{plural(body)}", body)
    try:
        yield [
            *("--webhook-port", str(port), "--webhook-host", "127.0.0.1"),
            *("--webhook-configuration", name),
        ]
    finally:
        for body in bodies:
            await api.request("DELETE", f"{REGISTRATION}/{plural(body)}/{name}", ok=(404,))


async def wait_admitting(api: Api, namespace: str, probe: dict[str, Any]) -> None:
    """Until a dry-run create comes back stamped: the CA is published and kube-apiserver
    calls the webhooks (before the measured creates, which would otherwise not be)."""
    path = instances_path(namespace) + "?dryRun=All"
    try:
        async with asyncio.timeout(ADMITTING_TIMEOUT):
            while True:
                try:
                    answer = await api.request("POST", path, probe)
                except ApiError:
                    answer = {}
                if FINALIZER in (answer.get("metadata") or {}).get("finalizers", ()):
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise BenchError(f"the webhooks did not answer within {ADMITTING_TIMEOUT:g}s") from None
