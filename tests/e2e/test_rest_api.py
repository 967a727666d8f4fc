"""The chart's REST Instance API as users reach it: its Deployment from `kubectl apply -k
manifests/`, through its Service, with a ServiceAccount token bound to `edit`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from hopper_localcluster import kubectl_path
from hopper_localcluster.nodeconfig import NODE_NAME as NODE
from hopper_operator.cli.watching import JsonStream
from tests.conftest import Kubectl
from tests.e2e.conftest import Cluster, get_json, wait_for
from tests.integration.conftest import apply, instance

ROOT = Path(__file__).parents[2]
OPERATOR_NAMESPACE = "hopper-system"
API = "hopper-operator-api"
CLIENTS = "hopper-e2e-rest"
INSTANCES = f"/api/v1/namespaces/{CLIENTS}/instances"
API_PODS = "app.kubernetes.io/component=api"
TIMEOUT = 120


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[Kubectl]:
    kubectl = cluster.kubectl
    kubectl("apply", "-k", str(ROOT / "manifests"))
    kubectl("create", "namespace", CLIENTS)
    try:
        kubectl(
            "wait", "-n", OPERATOR_NAMESPACE, "--for=condition=Available",
            "deployment/hopper-operator", f"deployment/{API}", f"--timeout={TIMEOUT}s",
        )  # fmt: skip
        yield kubectl
    finally:
        for args in (
            ("get", "all,hopperinstances", "-A", "-o", "wide"),
            ("logs", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=api",
             "--tail=100", "--prefix"),
        ):  # fmt: skip
            print(kubectl(*args, check=False).stdout)
        kubectl("delete", "hopperinstances", "--all", "-n", CLIENTS, f"--timeout={TIMEOUT}s",
                check=False)  # fmt: skip
        kubectl("delete", "-k", str(ROOT / "manifests"), f"--timeout={TIMEOUT}s", check=False)
        kubectl("delete", "namespace", CLIENTS, "--wait=false", check=False)


def answers(client: httpx.Client, url: str) -> bool:
    """The Service answers with 200. Until kube-proxy has programmed the new Service's rules
    (its endpoints are ready before that), a connection to its IP is refused: not yet."""
    try:
        return client.get(url).status_code == 200
    except httpx.ConnectError:
        return False


def editor_token(kubectl: Kubectl, account: str) -> str:
    """A token of a new ServiceAccount bound to `edit` in the clients' namespace, once the
    role has reached it (through aggregation and the authorizer's watch)."""
    kubectl("create", "serviceaccount", account, "-n", CLIENTS)
    kubectl("create", "rolebinding", account, "--clusterrole=edit",
            f"--serviceaccount={CLIENTS}:{account}", "-n", CLIENTS)  # fmt: skip
    user = f"system:serviceaccount:{CLIENTS}:{account}"
    wait_for(
        lambda: kubectl("auth", "can-i", "create", "hopperinstances.hopper.dev",
                        f"--as={user}", "-n", CLIENTS, check=False).returncode == 0,
        timeout=TIMEOUT,
        what=f"edit to reach {account}",
    )  # fmt: skip
    return kubectl("create", "token", account, "-n", CLIENTS).stdout.strip()


def service_url(kubectl: Kubectl, path: str) -> str:
    service = get_json(kubectl, "service", API, "-n", OPERATOR_NAMESPACE)
    port = service["spec"]["ports"][0]["port"]
    return f"https://{service['spec']['clusterIP']}:{port}{path}"


def test_the_api_creates_and_starts_an_instance_through_its_service(installed: Kubectl) -> None:
    kubectl = installed
    base = service_url(kubectl, f"/api/v1/namespaces/{CLIENTS}/instances")
    token = editor_token(kubectl, "client")
    # From this host, through kube-proxy's rules for the Service's IP, to an API pod; the
    # certificate is the API's self-signed one (no api.certSecret).
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, verify=False, timeout=TIMEOUT + 10
    ) as client:
        wait_for(lambda: answers(client, base), timeout=TIMEOUT, what="the API")
        made = client.post(base, json={"id": "via-api", "name": "Via the API", "scope": "GLOBAL"})
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "created"
        started = client.post(f"{base}/via-api/start", params={"timeout": TIMEOUT})
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "running"
        # Two replicas behind the Service, each reading from its own watch: the other
        # one may see the last write a moment later.
        ready = {"id": "via-api", "status": "running", "ready": True}
        wait_for(
            lambda: ready.items() <= client.get(f"{base}/via-api/status").json().items(),
            timeout=TIMEOUT,
            what="the status through the API",
        )
        assert client.get(base, headers={"Authorization": "Bearer garbage"}).status_code == 401
    instance = get_json(kubectl, "hopperinstance", "via-api", "-n", CLIENTS)
    assert instance["spec"]["displayName"] == "Via the API"
    created_by = instance["metadata"]["annotations"]["hopper.dev/created-by"]
    assert created_by == f"system:serviceaccount:{CLIENTS}:client"


def test_mcp_through_the_service_outlives_the_pod_that_served(installed: Kubectl) -> None:
    """Two API replicas serve /mcp statelessly: after the pod that served a tool call is
    deleted, the same client session's next call is served by the other."""
    kubectl = installed
    url = service_url(kubectl, "/mcp")
    token = editor_token(kubectl, "agent")
    with httpx.Client(verify=False) as probe:
        wait_for(lambda: answers(probe, service_url(kubectl, "/readyz")), timeout=TIMEOUT,
                 what="the API")  # fmt: skip

    def served_by() -> str:
        """The API pod whose log says it created the instance (the one that served)."""
        pods = get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l",
                        "app.kubernetes.io/component=api")["items"]  # fmt: skip
        for pod in pods:
            name = pod["metadata"]["name"]
            log = kubectl("logs", "-n", OPERATOR_NAMESPACE, name, check=False).stdout
            if f"created instance {CLIENTS}/via-mcp" in log:
                return str(name)
        return ""

    async def agent() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, verify=False, timeout=TIMEOUT) as client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            arguments = {"id": "via-mcp", "name": "Via MCP", "scope": "GLOBAL",
                         "namespace": CLIENTS}  # fmt: skip
            made = await session.call_tool("hopper_create_instance", arguments)
            assert isinstance(made, types.CallToolResult) and not made.is_error, made
            serving = await asyncio.to_thread(
                wait_for, served_by, timeout=30, what="the pod that served"
            )
            await asyncio.to_thread(kubectl, "delete", "pod", serving, "-n", OPERATOR_NAMESPACE)
            got = await session.call_tool("hopper_get_instance", {"id": "via-mcp",
                                                                  "namespace": CLIENTS})  # fmt: skip
            assert isinstance(got, types.CallToolResult) and not got.is_error, got
            assert got.structured_content and got.structured_content["id"] == "via-mcp"

    asyncio.run(agent())


@dataclass(frozen=True)
class Event:
    kind: str
    id: int | None
    name: str | None  # the instance's id in the data


class Listening:
    """One event stream, read in a thread of its own as a browser's EventSource would."""

    def __init__(self, client: httpx.Client, url: str, *, last: int | None = None) -> None:
        self.events: list[Event] = []
        self.status: int | None = None
        self.local: tuple[str, int] | None = None  # this end of the connection
        self.answered = threading.Event()  # the status is known, or the request failed
        self.ended = threading.Event()
        self.error = ""
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        threading.Thread(target=self._read, args=(client, url, headers), daemon=True).start()

    def _read(self, client: httpx.Client, url: str, headers: dict[str, str]) -> None:
        timeout = httpx.Timeout(TIMEOUT, read=None)
        try:
            with client.stream("GET", url, params={"watch": "true"}, headers=headers,
                               timeout=timeout) as response:  # fmt: skip
                self.local = response.extensions["network_stream"].get_extra_info("client_addr")
                self.status = response.status_code
                self.answered.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                    elif not line and fields:
                        data = json.loads(fields.get("data") or "{}")
                        ident = int(fields["id"]) if fields.get("id") else None
                        self.events.append(Event(fields["event"], ident, data.get("id")))
                        fields = {}
        except httpx.HTTPError as error:
            self.error = repr(error)
        finally:
            self.answered.set()
            self.ended.set()

    def has(self, version: int) -> bool:
        return any(e.id == version for e in list(self.events))

    def synced(self) -> bool:
        return "synced" in [e.kind for e in list(self.events)]

    def after_synced(self) -> list[Event]:
        kinds = [e.kind for e in self.events]
        return self.events[kinds.index("synced") + 1 :] if "synced" in kinds else []


class Reference:
    """`kubectl get -w` on the namespace: every change with its resourceVersion."""

    def __init__(self, kubectl_env: dict[str, str], namespace: str) -> None:
        self.changes: list[tuple[str, str, int]] = []  # kind, name, resourceVersion
        self.latest: dict[str, dict[str, Any]] = {}
        self._process = subprocess.Popen(
            [str(kubectl_path()), "get", "hopperinstances", "-n", namespace, "--watch",
             "--output-watch-events", "-o", "json"],
            env=kubectl_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        stream, output = JsonStream(), self._process.stdout.fileno()
        while chunk := os.read(output, 1 << 16):
            for event in stream.feed(chunk):
                obj = event["object"]
                name, version = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
                self.changes.append((event["type"].lower(), name, int(version)))
                if event["type"] == "DELETED":
                    self.latest.pop(name, None)
                else:
                    self.latest[name] = dict(obj)

    def settled(self, name: str, phase: str) -> bool:
        obj = self.latest.get(name, {})
        status = obj.get("status") or {}
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", ())
        )
        current = status.get("observedGeneration") == obj.get("metadata", {}).get("generation")
        return status.get("phase") == phase and ready and current

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def serving_pod(kubectl: Kubectl, listening: Listening, service_ip: str) -> str:
    """The API pod kube-proxy sent this connection to, from the host's connection tracking."""
    assert listening.local is not None
    for line in Path("/proc/net/nf_conntrack").read_text().splitlines():
        tuples = re.findall(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)", line)
        if len(tuples) == 2 and tuples[0][1:3] == (service_ip, str(listening.local[1])):
            pod_ip = tuples[1][0]
            break
    else:
        raise AssertionError(f"no tracked connection from {listening.local} to {service_ip}")
    pods = get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l", API_PODS)["items"]
    (name,) = [p["metadata"]["name"] for p in pods if p["status"].get("podIP") == pod_ip]
    return str(name)


def api_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    """The API's pods that are Ready and not on their way out."""
    pods = get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l", API_PODS)["items"]
    return [
        pod
        for pod in pods
        if "deletionTimestamp" not in pod["metadata"]
        and any(c["type"] == "Ready" and c["status"] == "True"
                for c in pod["status"].get("conditions", ()))
    ]  # fmt: skip


def test_a_stream_resumes_through_the_service_when_its_replica_is_deleted(
    installed: Kubectl, cluster: Cluster
) -> None:
    kubectl = installed
    service = get_json(kubectl, "service", API, "-n", OPERATOR_NAMESPACE)
    service_ip, base = service["spec"]["clusterIP"], service_url(kubectl, INSTANCES)
    token = editor_token(kubectl, "streamer")
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, verify=False) as client:
        # Each replica keeps one list-watch per namespace it was asked about: ask both (by their
        # pod IPs; a test before may have replaced one) so that either can tell what came
        # after a version.
        pods = wait_for(lambda: len(api_pods(kubectl)) == 2 and api_pods(kubectl), timeout=TIMEOUT,
                        what="two API replicas Ready")  # fmt: skip
        for pod in pods:
            port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
            direct = f"https://{pod['status']['podIP']}:{port}{INSTANCES}"
            wait_for(partial(answers, client, direct), timeout=TIMEOUT, what=f"{direct} to answer")
        apply(kubectl, CLIENTS, instance("kept"), instance("dropped"))
        reference = Reference(cluster.plane.env(), CLIENTS)
        try:
            wait_for(lambda: reference.settled("kept", "Running") and reference.settled(
                "dropped", "Running"), timeout=TIMEOUT, what="both Running")  # fmt: skip
            first = Listening(client, base)
            wait_for(first.synced, timeout=TIMEOUT, what="the snapshot")
            start = max(e.id or 0 for e in first.events)
            # a live change on the first stream
            kubectl("patch", "hopperinstance", "kept", "-n", CLIENTS, "--type=merge",
                    "-p", '{"spec": {"description": "seen live"}}')  # fmt: skip
            wait_for(lambda: reference.settled("kept", "Running") and first.has(
                reference.changes[-1][2]), timeout=TIMEOUT, what="the live change")  # fmt: skip
            # The node cordoned, the Deployment's replacement stays Pending: the Service has
            # the other replica only.
            kubectl("cordon", NODE)
            try:
                serving = serving_pod(kubectl, first, service_ip)
                kubectl("delete", "pod", serving, "-n", OPERATOR_NAMESPACE, f"--timeout={TIMEOUT}s")
                assert first.ended.wait(TIMEOUT), "the stream outlived its replica"
                last = [e.id for e in first.events if e.id is not None][-1]
                # while no stream is open
                kubectl("patch", "hopperinstance", "kept", "-n", CLIENTS, "--type=merge",
                        "-p", '{"spec": {"state": "Paused"}}')  # fmt: skip
                apply(kubectl, CLIENTS, instance("added"))
                kubectl("delete", "hopperinstance", "dropped", "-n", CLIENTS, "--wait=false")
                wait_for(lambda: reference.settled("kept", "Paused") and reference.settled(
                    "added", "Running") and "dropped" not in reference.latest,
                    timeout=TIMEOUT, what="the changes made meanwhile")  # fmt: skip
                second = resume(client, base, last)
                assert serving_pod(kubectl, second, service_ip) != serving
                wait_for(lambda: second.has(reference.changes[-1][2]), timeout=TIMEOUT,
                         what="the resumed stream to catch up")  # fmt: skip
            finally:
                kubectl("uncordon", NODE)
        finally:
            reference.stop()
        told = [e for e in first.after_synced() + second.events if e.kind != "synced"]
        expected = [change for change in reference.changes if change[2] > start]
        assert [(e.kind, e.name, e.id) for e in told] == expected
        # resumed: no reset, no snapshot, nothing at or before the last event id replayed
        assert all(e.kind != "reset" and (e.id is None or e.id > last) for e in second.events)


def resume(client: httpx.Client, url: str, last: int) -> Listening:
    """Reconnect with Last-Event-ID; until kube-proxy has dropped the deleted pod, a
    connection may still go there and fail: try again."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        listening = Listening(client, url, last=last)
        assert listening.answered.wait(TIMEOUT)
        if listening.status == 200:
            return listening
        assert time.monotonic() < deadline, listening.error or listening.status
        time.sleep(0.5)
