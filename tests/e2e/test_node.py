"""The node itself: pods really run, the kubelet answers, Services route, one node a machine."""

from __future__ import annotations

import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hopper_localcluster import ControlPlaneError
from hopper_localcluster.images import Role
from hopper_localcluster.node import Node
from tests.conftest import Kubectl
from tests.e2e.conftest import Cluster, get_json, wait_for

# What a pod needs to be admitted under the `restricted` Pod Security Standard.
RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# Asks the API server for its version through the `kubernetes` Service (kube-proxy's
# rules), verifying it with the ServiceAccount's CA and authenticating with its token.
WHOAMI = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
request = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
    data=b'{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}',
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read(),
             "Content-Type": "application/json"},
)
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
review = json.load(urllib.request.urlopen(request, context=context))
print(host, review["status"]["userInfo"]["username"])
"""


def image_files(archive: Path) -> set[str]:
    """Every path in a docker-archive's layers (each layer is a tar inside the tar)."""
    files: set[str] = set()
    with tarfile.open(archive) as image:
        manifest = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=image.extractfile(layer)) as content:
                files.update("/" + name.removeprefix("./") for name in content.getnames())
    return files


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def pod(name: str, image: str, args: list[str], *, command: list[str] | None = None) -> str:
    container = {
        "name": "main",
        "image": image,
        "args": args,
        "securityContext": {**RESTRICTED, "runAsUser": 65532, "readOnlyRootFilesystem": True},
    }
    if command:
        container["command"] = command
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "restartPolicy": "Never"},
    }
    return json.dumps(manifest)


def test_node_is_ready_and_reports_what_it_runs(cluster: Cluster, kubectl: Kubectl) -> None:
    node = get_json(kubectl, "node", cluster.node.name)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert not node["spec"].get("taints")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.plane.version()["gitVersion"]


def test_a_pod_runs_from_a_local_image_and_its_log_comes_back(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    image = cluster.node.image(Role.WORKLOAD)
    kubectl(
        "apply", "-n", namespace, "-f", "-", input=pod("idle", image, ["--config", "/etc/hostname"])
    )
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/idle", "--timeout=90s")

    # Through the API server to the kubelet, from the container's stdout.
    assert kubectl("logs", "-n", namespace, "idle").stdout.strip() == "config /etc/hostname: idle"
    status = get_json(kubectl, "pod", "idle", "-n", namespace)["status"]
    assert status["podIP"].startswith("10.244.")
    assert status["containerStatuses"][0]["state"].get("running")


def test_a_pod_reaches_the_api_through_the_kubernetes_service(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    image = cluster.node.image(Role.OPERATOR)
    manifest = pod("whoami", image, ["-c", WHOAMI], command=["python"])
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

    def finished() -> str | None:
        phase = get_json(kubectl, "pod", "whoami", "-n", namespace)["status"].get("phase")
        return phase if phase in {"Succeeded", "Failed"} else None

    phase = wait_for(finished, timeout=90, what="the whoami pod to finish")
    log = kubectl("logs", "-n", namespace, "whoami").stdout.strip()
    assert phase == "Succeeded", log
    assert log == f"10.0.0.1 system:serviceaccount:{namespace}:default"


def test_exec_reaches_a_running_container(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    image = cluster.node.image(Role.OPERATOR)
    manifest = pod("shell", image, ["-c", "import time; time.sleep(600)"], command=["python"])
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/shell", "--timeout=90s")

    result = kubectl(
        "exec", "-n", namespace, "shell", "--", "python", "-c", "import os; print(os.getuid())"
    )

    assert result.stdout.strip() == "65532"


def test_a_second_node_is_refused_while_one_runs(cluster: Cluster) -> None:
    with pytest.raises(ControlPlaneError, match="Another node tier is running on this machine"):
        Node(cluster.plane, cluster.images).start()
    # The refusal touched nothing: the running node still serves.
    assert cluster.node.processes.keys() >= {"containerd", "kubelet", "kube-proxy"}


def test_the_operator_image_holds_no_local_cluster_code(cluster: Cluster) -> None:
    """The image built from the Dockerfile carries the operator alone (issue: the launcher
    and the node tier were once in the wheel, so in every user's cluster)."""
    files = image_files(cluster.images[Role.OPERATOR].archive)
    site = [f for f in files if "/site-packages/" in f]
    assert any(f.endswith("/site-packages/hopper_operator/controller/reconciler.py") for f in site)
    shipped = [f for f in site if "hopper_localcluster" in f or "hopper_operator/controlplane" in f]
    assert shipped == []
