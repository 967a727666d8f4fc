"""The operator as users run it: its image from our Dockerfile, `kubectl apply -k manifests/`.

One installation for the module, scenarios in order (each builds on the state the one
before left), uninstall last.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hopper_localcluster.images import Role
from tests.conftest import Kubectl
from tests.e2e.conftest import Cluster, Say, get_json, wait_for

ROOT = Path(__file__).parents[2]
OPERATOR_NAMESPACE = "hopper-system"
# The operator's pods, not the REST API's (component api, tests/e2e/test_rest_api.py).
SELECTOR = "app.kubernetes.io/name=hopper-operator,app.kubernetes.io/component=controller"
SAMPLES_NAMESPACE = "hopper-e2e"
SAMPLE_IMAGE = re.compile(r"image: registry\.example\.com/\S+")
WORKLOAD = "acme-web-release"  # the sample with a runtime (2 replicas), under acme-web
RESTRICTED_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}
TIMEOUT = 120


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[Kubectl]:
    kubectl = cluster.kubectl
    kubectl("apply", "-k", str(ROOT / "manifests"))
    try:
        yield kubectl
    finally:
        # What a failing scenario needs to be understood, in its captured output.
        for args in (
            ("get", "all,hopperinstances", "-A", "-o", "wide"),
            ("logs", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "--tail=100", "--prefix"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
        ):
            print(kubectl(*args, check=False).stdout)


def operator_pods(kubectl: Kubectl, *, terminating: bool = False) -> list[dict[str, Any]]:
    """The operator's pods; those shutting down (still running Kopf) only if asked."""
    pods = get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR)["items"]
    return [p for p in pods if terminating or not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", ())
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def workload_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    selector = f"hopper.dev/instance={WORKLOAD}"
    pods = get_json(kubectl, "pods", "-n", SAMPLES_NAMESPACE, "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def phases(kubectl: Kubectl) -> dict[str, tuple[str | None, str | None]]:
    """Each instance's (phase, Ready status)."""
    items = get_json(kubectl, "hopperinstances", "-n", SAMPLES_NAMESPACE)["items"]
    result = {}
    for item in items:
        status = item.get("status", {})
        ready = [c["status"] for c in status.get("conditions", ()) if c["type"] == "Ready"]
        result[item["metadata"]["name"]] = (status.get("phase"), ready[0] if ready else None)
    return result


def all_in(kubectl: Kubectl, phase: str) -> bool:
    seen = phases(kubectl)
    return bool(seen) and all(p == phase and ready == "True" for p, ready in seen.values())


def set_state(kubectl: Kubectl, name: str, state: str) -> None:
    patch = json.dumps({"spec": {"state": state}})
    kubectl("patch", "hopperinstance", name, "-n", SAMPLES_NAMESPACE, "--type=merge", "-p", patch)


def test_operator_pods_ready_non_root_read_only(installed: Kubectl) -> None:
    kubectl = installed
    kubectl(
        "wait", "-n", OPERATOR_NAMESPACE, "--for=condition=Available",
        "deployment/hopper-operator", f"--timeout={TIMEOUT}s",
    )  # fmt: skip
    pods = operator_pods(kubectl)
    assert pods and all(is_ready(p) for p in pods)
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

        def run(code: str, pod_name: str = name) -> str:
            argv = ("exec", "-n", OPERATOR_NAMESPACE, pod_name, "--", "python", "-c", code)
            return kubectl(*argv).stdout.strip()

        # Not root, and no passwd entry for its uid: the crash this tier first found.
        assert run("import os; print(os.getuid(), os.getgid())") == "65532 65532"
        assert (
            run("import pwd, os\ntry: pwd.getpwuid(os.getuid())\nexcept KeyError: print('none')")
            == "none"
        )
        assert "Read-only file system" in run(
            "try: open('/opt/hopper/x', 'w')\nexcept OSError as e: print(e)"
        )
        # Liveness and readiness: the probed endpoint answers, through the API server.
        health = kubectl(
            "get",
            "--raw",
            f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods/{name}:8080/proxy/healthz",
        )
        assert health.returncode == 0


def test_operator_starts_as_an_arbitrary_uid(installed: Kubectl) -> None:
    """Any uid a cluster assigns (OpenShift's ranges, say), not only the image's own."""
    kubectl = installed
    uid = 1000650000
    patch = [
        {
            "op": "replace",
            "path": f"/spec/template/spec/{path}securityContext/runAsUser",
            "value": uid,
        }
        for path in ("", "containers/0/")
    ]
    kubectl(
        "patch", "deployment", "hopper-operator", "-n", OPERATOR_NAMESPACE,
        "--type=json", "-p", json.dumps(patch),
    )  # fmt: skip
    kubectl(
        "rollout", "status", "deployment/hopper-operator", "-n", OPERATOR_NAMESPACE,
        f"--timeout={TIMEOUT}s",
    )  # fmt: skip
    for pod in operator_pods(kubectl):
        argv = ("exec", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"], "--", "python", "-c")
        assert kubectl(*argv, "import os; print(os.getuid())").stdout.strip() == str(uid)


def test_samples_converge_with_real_pods_under_restricted(
    cluster: Cluster, installed: Kubectl
) -> None:
    kubectl = installed
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": SAMPLES_NAMESPACE, "labels": RESTRICTED_LABELS},
    }
    kubectl("apply", "-f", "-", input=json.dumps(namespace))
    samples = kubectl("kustomize", str(ROOT / "manifests" / "samples")).stdout
    # The samples' image is a placeholder that no registry serves: the node's stand-in
    # workload prints its --config file and idles.
    samples = SAMPLE_IMAGE.sub(f"image: {cluster.node.image(Role.WORKLOAD)}", samples)
    kubectl("apply", "-n", SAMPLES_NAMESPACE, "-f", "-", input=samples)

    wait_for(lambda: all_in(kubectl, "Running"), timeout=TIMEOUT, what="every sample Running")

    pods = workload_pods(kubectl)
    assert len(pods) == 2 and all(is_ready(p) for p in pods)
    for pod in pods:
        assert pod["status"]["containerStatuses"][0]["state"].get("running")
        log = kubectl("logs", "-n", SAMPLES_NAMESPACE, pod["metadata"]["name"]).stdout
        # The effective config: the root's logLevel, the project's timeout, its own strategy.
        config = json.loads(log.split(": ", 1)[1])
        assert config["router"] == {"strategy": "least-loaded", "timeoutSeconds": 60}
        assert config["logLevel"] == "info"


def test_a_parent_of_the_wrong_rank_is_refused_at_apply(installed: Kubectl) -> None:
    """The chart's webhooks, called by kube-apiserver through their Service and the CA the
    operator put in the configurations: a PROJECT under an ORCHESTRATION never gets in."""
    kubectl = installed
    child = {
        "apiVersion": "hopper.dev/v1alpha1",
        "kind": "HopperInstance",
        "metadata": {"name": "wrong-rank", "namespace": SAMPLES_NAMESPACE},
        "spec": {"scope": "PROJECT", "parentRef": {"name": WORKLOAD}},
    }
    message = "needs a parent of a smaller rank, but its parent is ORCHESTRATION"
    for dry_run in ((), ("--dry-run=server",)):
        refused = kubectl("apply", *dry_run, "-f", "-", input=json.dumps(child), check=False)
        assert refused.returncode != 0 and message in refused.stderr, refused
    absent = kubectl("get", "hopperinstance", "wrong-rank", "-n", SAMPLES_NAMESPACE, check=False)
    assert absent.returncode != 0 and "NotFound" in absent.stderr


def test_pause_and_resume_fan_out(installed: Kubectl) -> None:
    kubectl = installed
    set_state(kubectl, "acme", "Paused")
    wait_for(lambda: all_in(kubectl, "Paused"), timeout=TIMEOUT, what="the whole tree Paused")
    wait_for(lambda: not workload_pods(kubectl), timeout=TIMEOUT, what="the workload scaled to 0")

    set_state(kubectl, "acme", "Running")
    wait_for(lambda: all_in(kubectl, "Running"), timeout=TIMEOUT, what="the whole tree Running")
    wait_for(
        lambda: len([p for p in workload_pods(kubectl) if is_ready(p)]) == 2,
        timeout=TIMEOUT,
        what="the workload's 2 pods Ready again",
    )


def test_config_change_at_the_root_rolls_the_grandchild(installed: Kubectl) -> None:
    kubectl = installed
    before = {p["metadata"]["name"] for p in workload_pods(kubectl)}
    patch = json.dumps({"spec": {"config": {"logLevel": "warn"}}})
    kubectl("patch", "hopperinstance", "acme", "-n", SAMPLES_NAMESPACE, "--type=merge", "-p", patch)

    def rolled() -> list[dict[str, Any]] | None:
        pods = workload_pods(kubectl)
        fresh = [p for p in pods if p["metadata"]["name"] not in before and is_ready(p)]
        return fresh if len(pods) == 2 and len(fresh) == 2 else None

    for pod in wait_for(rolled, timeout=TIMEOUT, what="two new Ready workload pods"):
        log = kubectl("logs", "-n", SAMPLES_NAMESPACE, pod["metadata"]["name"]).stdout
        assert json.loads(log.split(": ", 1)[1])["logLevel"] == "warn"
    wait_for(lambda: all_in(kubectl, "Running"), timeout=TIMEOUT, what="every sample Running")


def test_metrics_are_scraped_through_the_service(installed: Kubectl) -> None:
    """As Prometheus would: its own ServiceAccount, bound to the metrics reader role."""
    kubectl = installed
    service = get_json(kubectl, "service", "hopper-operator-metrics", "-n", OPERATOR_NAMESPACE)
    url = f"https://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/metrics"
    kubectl("create", "serviceaccount", "scraper", "-n", SAMPLES_NAMESPACE)
    kubectl(
        "create", "clusterrolebinding", "e2e-scraper",
        "--clusterrole=hopper-operator-metrics-reader",
        f"--serviceaccount={SAMPLES_NAMESPACE}:scraper",
    )  # fmt: skip
    token = kubectl("create", "token", "scraper", "-n", SAMPLES_NAMESPACE).stdout.strip()
    # The serving certificate is the operator's own self-signed one (no --metrics-cert-dir).
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE

    def scrape(bearer: str) -> tuple[int, str]:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}"})
        try:
            # From this host, through kube-proxy's rules for the Service's IP, to a pod.
            with urllib.request.urlopen(request, timeout=10, context=tls) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    try:
        status, body = scrape(token)
        assert status == 200
        assert re.search(r"^hopper_instances\b", body, re.MULTILINE), body[:500]
        assert scrape("not-a-token")[0] in {401, 403}
    finally:
        kubectl("delete", "clusterrolebinding", "e2e-scraper")


def lease_holder(kubectl: Kubectl) -> str:
    lease = get_json(kubectl, "lease", "hopper-operator", "-n", OPERATOR_NAMESPACE)
    return str(lease["spec"].get("holderIdentity") or "")


def test_failover_when_the_leading_pod_is_deleted(installed: Kubectl, say: Say) -> None:
    """Two replicas, one leads; its pod deleted, the other takes over, a change converges."""
    kubectl = installed
    wait_for(
        lambda: len([p for p in operator_pods(kubectl) if is_ready(p)]) == 2,
        timeout=TIMEOUT,
        what="two Ready operator replicas",
    )
    holder = wait_for(lambda: lease_holder(kubectl), timeout=TIMEOUT, what="a Lease holder")
    # The holder is the pod's name plus a random suffix.
    leader = holder.rsplit("_", 1)[0]
    assert leader in {p["metadata"]["name"] for p in operator_pods(kubectl)}

    started = time.monotonic()
    kubectl("delete", "pod", leader, "-n", OPERATOR_NAMESPACE, "--wait=false")
    set_state(kubectl, "acme-web-triage", "Paused")  # made while the leader goes
    new_holder = wait_for(
        lambda: (h := lease_holder(kubectl)) and not h.startswith(f"{leader}_") and h,
        timeout=TIMEOUT,
        what="another replica holding the Lease",
    )
    took_over = time.monotonic() - started
    wait_for(
        lambda: phases(kubectl).get("acme-web-triage") == ("Paused", "True"),
        timeout=TIMEOUT,
        what="the change made meanwhile converged",
    )
    converged = time.monotonic() - started
    say(
        f"failover in-cluster: leader pod deleted -> {new_holder.rsplit('_', 1)[0]} leads "
        f"after {took_over:.1f} s; the change made meanwhile converged after {converged:.1f} s"
    )
    set_state(kubectl, "acme-web-triage", "Running")
    wait_for(lambda: all_in(kubectl, "Running"), timeout=TIMEOUT, what="every sample Running")
    # Leave no pod shutting down behind: a label selector still lists it, and it is gone
    # a moment later (`kubectl logs -l` in the next test then failed with NotFound).
    wait_for(
        lambda: (
            leader not in {p["metadata"]["name"] for p in operator_pods(kubectl, terminating=True)}
        ),
        timeout=TIMEOUT,
        what="the deleted leader's pod gone",
    )


def test_operator_logs_have_no_traceback(installed: Kubectl) -> None:
    logs = installed(
        "logs", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "--tail=-1", "--prefix"
    ).stdout
    assert logs.strip()
    assert "Traceback" not in logs, logs[-3000:]


def test_uninstall_leaves_nothing_once_instances_are_deleted(installed: Kubectl) -> None:
    kubectl = installed
    kubectl("delete", "hopperinstances", "--all", "-n", SAMPLES_NAMESPACE, f"--timeout={TIMEOUT}s")

    def owned() -> str:
        return kubectl(
            "get", "deployments,configmaps", "-n", SAMPLES_NAMESPACE,
            "-l", "hopper.dev/instance", "-o", "name",
        ).stdout.strip()  # fmt: skip

    # What the instances owned goes through the garbage collector, asynchronously: wait for
    # it before the CRD goes, or the collector can no longer resolve the owners' kind.
    wait_for(lambda: not owned(), timeout=TIMEOUT, what="the instances' owned objects collected")
    kubectl("delete", "-k", str(ROOT / "manifests"), f"--timeout={TIMEOUT}s")

    assert kubectl("get", "crd", "hopperinstances.hopper.dev", check=False).returncode != 0
    assert kubectl("get", "namespace", OPERATOR_NAMESPACE, check=False).returncode != 0
    labelled = "app.kubernetes.io/part-of=hopper-operator"
    left = kubectl("get", "clusterroles,clusterrolebindings", "-l", labelled, "-o", "name")
    assert left.stdout.strip() == ""
    assert owned() == ""
    wait_for(lambda: not workload_pods(kubectl), timeout=TIMEOUT, what="the workload's pods gone")


def test_uninstall_with_the_operator_gone_first_waits_on_finalizers(installed: Kubectl) -> None:
    """Troubleshooting's case (docs/operations.md): instances left and no operator to walk
    them down.

    (`kubectl delete -k manifests/` with instances left deletes them with the CRD; the
    operator, still terminating, usually finishes their walk-down first. If it has gone
    first, as here, the CRD waits Terminating until their finalizers are removed.)
    """
    kubectl = installed
    kubectl("apply", "-k", str(ROOT / "manifests"))
    kubectl(
        "wait", "-n", OPERATOR_NAMESPACE, "--for=condition=Available",
        "deployment/hopper-operator", f"--timeout={TIMEOUT}s",
    )  # fmt: skip
    instance = {
        "apiVersion": "hopper.dev/v1alpha1",
        "kind": "HopperInstance",
        "metadata": {"name": "left-behind"},
        "spec": {"scope": "GLOBAL"},
    }
    kubectl("apply", "-n", SAMPLES_NAMESPACE, "-f", "-", input=json.dumps(instance))

    def finalized() -> bool:
        item = get_json(kubectl, "hopperinstance", "left-behind", "-n", SAMPLES_NAMESPACE)
        return bool(item["metadata"].get("finalizers"))

    wait_for(finalized, timeout=TIMEOUT, what="the operator's finalizer on the instance")
    kubectl("scale", "-n", OPERATOR_NAMESPACE, "deployment/hopper-operator", "--replicas=0")
    # Gone, not just terminating: a terminating operator still walks instances down.
    wait_for(
        lambda: not operator_pods(kubectl, terminating=True),
        timeout=TIMEOUT,
        what="no operator pod, not even a terminating one",
    )
    kubectl("delete", "-k", str(ROOT / "manifests"), "--wait=false")

    def crd_terminating() -> bool:
        crd = get_json(kubectl, "crd", "hopperinstances.hopper.dev")
        return bool(crd["metadata"].get("deletionTimestamp"))

    wait_for(crd_terminating, timeout=30, what="the CRD Terminating")

    def held() -> bool:
        item = get_json(kubectl, "hopperinstance", "left-behind", "-n", SAMPLES_NAMESPACE)
        return bool(item["metadata"].get("deletionTimestamp")) and finalized()

    # The CRD's cleanup deletes the instance; only its finalizer holds it (and the CRD).
    wait_for(held, timeout=30, what="the instance deleted but held by its finalizer")

    # The way out docs/operations.md gives: remove the finalizer by hand; the CRD then goes.
    patch = json.dumps({"metadata": {"finalizers": None}})
    kubectl(
        "patch",
        "hopperinstance",
        "left-behind",
        "-n",
        SAMPLES_NAMESPACE,
        "--type=merge",
        "-p",
        patch,
    )
    wait_for(
        lambda: kubectl("get", "crd", "hopperinstances.hopper.dev", check=False).returncode != 0,
        timeout=TIMEOUT,
        what="the CRD gone",
    )
    wait_for(
        lambda: kubectl("get", "namespace", OPERATOR_NAMESPACE, check=False).returncode != 0,
        timeout=TIMEOUT,
        what="the operator's namespace gone",
    )
