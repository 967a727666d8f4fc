"""The REST Instance API case (`logs` must exist): reads through the API against the same reads straight from
kube-apiserver (same run, interleaved), concurrent lifecycle requests, and the API's RSS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hopper_localcluster import ControlPlane, free_ports
from hopperbench.api import Api, instances_path, tls_from_kubeconfig
from hopperbench.errors import BenchError
from hopperbench.operator import OperatorProcess, operator_command
from hopperbench.procstat import memory_mb

ROLE = "hopper-bench-rest"
GLOBAL = "g"


class ApiProcess(OperatorProcess):
    """`hopper-operator api --plain-http` (TLS would time the handshake, not the API)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        script = Path(sys.executable).parent / "hopper-operator"
        super().__init__([str(script), "api"], env, log)
        self.port = free_ports(1)[0]

    def start(self, namespace: str, extra: list[str] | None = None) -> None:
        self._spawn(["-n", namespace, "--plain-http", f"--port={self.port}", *(extra or [])])


def percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}


async def timed(request: Callable[[], Awaitable[httpx.Response]]) -> float:
    started = time.perf_counter()
    response = await request()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise BenchError(
            f"{response.request.url} answered {response.status_code}: {response.text[:300]}"
        )
    return elapsed


async def compare(
    reads: int,
    through_api: Callable[[], Awaitable[httpx.Response]],
    direct: Callable[[], Awaitable[httpx.Response]],
) -> dict[str, Any]:
    """The same read both ways, alternately, `reads` times each (after 10 unrecorded)."""
    for _ in range(10):
        await timed(through_api)
        await timed(direct)
    api_times, direct_times = [], []
    for _ in range(reads):
        api_times.append(await timed(through_api))
        direct_times.append(await timed(direct))
    api, straight = percentiles(api_times), percentiles(direct_times)
    return {
        "api": api,
        "direct": straight,
        "p50_ratio": round(api["p50_ms"] / straight["p50_ms"], 2),
    }


def mcp_call(
    api: httpx.AsyncClient, tool: str, arguments: dict[str, Any]
) -> Callable[[], Awaitable[httpx.Response]]:
    """A tools/call POSTed to /mcp as an agent's client sends it once initialized (the server
    is stateless: no session to open first). A refusal (isError) fails the bench."""
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}  # fmt: skip

    async def call() -> httpx.Response:
        response = await api.post("/mcp", json=body, headers=headers)
        if '"isError":true' in response.text.replace(" ", ""):
            raise BenchError(f"{tool} refused: {response.text[:300]}")
        return response

    return call


async def idle_sessions_memory(api: httpx.AsyncClient, pid: int, sessions: int) -> dict[str, Any]:
    """The API's RSS before and after `sessions` clients initialized and went idle (stateless:
    the server keeps nothing for them)."""
    before = memory_mb(pid)
    headers = {"Accept": "application/json, text/event-stream"}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "1"}}}  # fmt: skip
    answers = await asyncio.gather(
        *(api.post("/mcp", json=hello, headers=headers) for _ in range(sessions))
    )
    if any(answer.status_code != 200 for answer in answers):
        raise BenchError(f"initialize answered {Counter(a.status_code for a in answers)}")
    return {"sessions": sessions, "rss_before_mb": before, "rss_after_mb": memory_mb(pid)}


async def setup(control: Api, namespace: str) -> str:
    """The namespace, and a token of a ServiceAccount allowed everything on instances in it
    (through a RoleBinding: each request still costs the API its reviews, cached)."""
    await control.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": ROLE},
        "rules": [{"apiGroups": ["hopper.dev"], "resources": ["hopperinstances"], "verbs": ["*"]}],
    }
    await control.request(
        "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", role, ok=(409,)
    )
    base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    await control.request("POST", base, {"metadata": {"name": "bench"}})
    binding = {
        "metadata": {"name": "bench"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": namespace}],
    }
    await control.request(
        "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", binding
    )
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    answer = await control.request("POST", f"{base}/bench/token", request)
    return str(answer["status"]["token"])


def manifest(
    name: str, scope: str, parent: str | None = None, state: str = "Stopped"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"scope": scope, "state": state}
    if parent:
        spec["parentRef"] = {"name": parent}
    return {"apiVersion": "hopper.dev/v1alpha1", "kind": "HopperInstance",
            "metadata": {"name": name}, "spec": spec}  # fmt: skip


async def create_all(control: Api, namespace: str, objects: list[dict[str, Any]]) -> None:
    gate = asyncio.Semaphore(32)

    async def one(obj: dict[str, Any]) -> None:
        async with gate:
            await control.request("POST", instances_path(namespace), obj)

    await asyncio.gather(*map(one, objects))


async def labelled(control: Api, namespace: str, count: int, within: float) -> None:
    """Until the operator has labelled every PROJECT (the direct read selects by label)."""
    deadline = time.monotonic() + within
    query = "?labelSelector=hopper.dev/scope%3DPROJECT"
    while time.monotonic() < deadline:
        listed = await control.request("GET", instances_path(namespace) + query)
        if len(listed["items"]) >= count:
            return
        await asyncio.sleep(1)
    raise BenchError(f"the operator did not label {count} PROJECTs within {within}s")


async def lifecycle(
    api: httpx.AsyncClient, control: Api, namespace: str, concurrent: int
) -> dict[str, Any]:
    """`concurrent` start requests at once, each waiting for Running."""
    names = [f"c{i}" for i in range(concurrent)]
    await create_all(control, namespace, [manifest(name, "GLOBAL") for name in names])
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(api.post(f"/api/v1/instances/{name}/start", params={"timeout": 300}) for name in names),
        return_exceptions=True,
    )
    seconds = time.perf_counter() - started
    codes = Counter(
        a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers
    )
    return {"requests": concurrent, "codes": dict(codes), "seconds": round(seconds, 2),
            "errors": sum(n for code, n in codes.items() if code != 200)}  # fmt: skip


@dataclass
class Deployed:
    """The operator and the API on one namespace, and the bench's two ways in."""

    namespace: str
    server: str  # kube-apiserver's URL
    tls: ssl.SSLContext
    control: Api  # the admin, straight to kube-apiserver
    operator: OperatorProcess
    served: ApiProcess
    token: str  # a ServiceAccount's, for the API


@contextlib.asynccontextmanager
async def deployed(plane: ControlPlane, kind: str, logs: Path) -> AsyncIterator[Deployed]:
    """A fresh namespace, the operator and `hopper-operator api` on it; all gone after."""
    namespace = f"{kind}-{int(time.time())}"
    server, tls = tls_from_kubeconfig(plane.kubeconfig)
    control = Api(server, tls, "hopper-bench/1", 40)
    operator = OperatorProcess(operator_command(None), plane.env(), logs / f"{kind}-operator.log")
    served = ApiProcess(plane.env(), logs / f"{kind}-api.log")
    try:
        token = await setup(control, namespace)
        operator.start(namespace)
        served.start(namespace)
        yield Deployed(namespace, server, tls, control, operator, served, token)
    finally:
        served.stop()
        operator.stop()
        await control.request("DELETE", f"/api/v1/namespaces/{namespace}", ok=(404,))
        await control.close()


def tree(n: int, state: str = "Stopped") -> list[dict[str, Any]]:
    """A GLOBAL and n - 1 PROJECTs under it."""
    return [manifest(GLOBAL, "GLOBAL", state=state)] + [
        manifest(f"p{i}", "PROJECT", GLOBAL, state=state) for i in range(n - 1)
    ]


async def run_rest(
    plane: ControlPlane, n: int, reads: int, concurrent: int, logs: Path
) -> dict[str, Any]:
    async with deployed(plane, "rest", logs) as on:
        namespace, control, operator, served = on.namespace, on.control, on.operator, on.served
        await create_all(control, namespace, tree(n))
        await operator.guard(labelled(control, namespace, n - 1, 120 + n * 0.3))
        headers = {"Authorization": f"Bearer {on.token}"}
        limits = httpx.Limits(max_connections=concurrent + 10)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}", headers=headers,
                              timeout=400, limits=limits) as api,
            httpx.AsyncClient(base_url=on.server, verify=on.tls, timeout=60) as direct,
        ):  # fmt: skip
            await served.guard(_up(api))
            one = await compare(
                reads,
                lambda: api.get(f"/api/v1/instances/{GLOBAL}"),
                lambda: direct.get(instances_path(namespace, GLOBAL)),
            )
            listed = await compare(
                reads,
                lambda: api.get("/api/v1/instances", params={"scope": "PROJECT", "limit": 100}),
                lambda: direct.get(
                    instances_path(namespace),
                    params={"labelSelector": "hopper.dev/scope=PROJECT", "limit": 100},
                ),
            )
            # The MCP face, against the same REST routes in the same run (issue 28).
            mcp_get = await compare(
                reads,
                mcp_call(api, "hopper_get_instance", {"id": GLOBAL}),
                lambda: api.get(f"/api/v1/instances/{GLOBAL}"),
            )
            mcp_list = await compare(
                reads,
                mcp_call(api, "hopper_list_instances", {"scope": ["PROJECT"], "limit": 100}),
                lambda: api.get("/api/v1/instances", params={"scope": "PROJECT", "limit": 100}),
            )
            idle = await idle_sessions_memory(api, served.pid, 100)
            verbs = await served.guard(lifecycle(api, control, namespace, concurrent))
        return {"kind": "rest", "n": n, "reads": reads, "get_one": one, "list_filtered": listed,
                "mcp_get_one": mcp_get, "mcp_list_filtered": mcp_list, "mcp_idle": idle,
                "lifecycle": verbs, "api_memory_mb": memory_mb(served.pid)}  # fmt: skip


async def _up(api: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await api.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise BenchError("the API did not get ready within 60 s")
