"""The local control plane behaves like a real cluster in the ways the operator relies on."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from hopper_localcluster import ControlPlane
from hopper_localcluster.crd import wait_established

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

GO_MOD = Path(__file__).resolve().parents[2] / "tools" / "controlplane" / "go.mod"

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.hopper.dev
spec:
  group: test.hopper.dev
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
                color: {type: string}
            status:
              type: object
              properties:
                ready: {type: boolean}
"""


def widget(name: str, size: int, color: str) -> str:
    return json.dumps(
        {
            "apiVersion": "test.hopper.dev/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"size": size, "color": color},
        }
    )


@pytest.fixture
def widget_crd(kubectl: Kubectl, control_plane: ControlPlane) -> None:
    kubectl("apply", "-f", "-", input=WIDGET_CRD)
    wait_established(control_plane.env(), "widgets.test.hopper.dev")


def test_version_is_the_pinned_kubernetes(control_plane: ControlPlane) -> None:
    # Parsed here rather than with the launcher's own parser, so a bug there shows.
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\S+)", GO_MOD.read_text(), re.MULTILINE)
    assert match is not None, f"k8s.io/kubernetes is not required in {GO_MOD}"
    assert control_plane.version()["gitVersion"] == match.group(1)


@pytest.mark.usefixtures("widget_crd")
def test_custom_resources_are_stored_validated_and_have_status(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("-n", namespace, "create", "-f", "-", input=widget("sprocket", 3, "blue"))

    stored = json.loads(kubectl("-n", namespace, "get", "widget", "sprocket", "-o", "json").stdout)
    assert stored["spec"] == {"size": 3, "color": "blue"}
    assert stored["metadata"]["namespace"] == namespace
    assert stored["metadata"]["uid"]

    rejected = kubectl(
        "-n", namespace, "create", "-f", "-", input=widget("tiny", 0, "red"), check=False
    )
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr

    kubectl(
        "-n",
        namespace,
        "patch",
        "widget",
        "sprocket",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"ready": true}}',
    )
    patched = json.loads(kubectl("-n", namespace, "get", "widget", "sprocket", "-o", "json").stdout)
    assert patched["status"] == {"ready": True}
    assert patched["spec"] == stored["spec"]


@pytest.mark.usefixtures("widget_crd")
def test_garbage_collector_deletes_dependents_of_a_deleted_custom_resource(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("-n", namespace, "create", "-f", "-", input=widget("owner", 1, "green"))
    uid = kubectl(
        "-n", namespace, "get", "widget", "owner", "-o", "jsonpath={.metadata.uid}"
    ).stdout
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [
                {"apiVersion": "test.hopper.dev/v1", "kind": "Widget", "name": "owner", "uid": uid}
            ],
        },
        "data": {"key": "value"},
    }
    kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(config_map))

    kubectl("-n", namespace, "delete", "widget", "owner")

    # The garbage collector learns about a new CRD on its 30 s discovery refresh.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        result = kubectl("-n", namespace, "get", "configmap", "owned", check=False)
        if result.returncode != 0 and "NotFound" in result.stderr:
            return
        time.sleep(1)
    pytest.fail("the ConfigMap owned by the deleted Widget still exists after 90 s")


def test_a_second_control_plane_coexists_and_stops_cleanly(control_plane: ControlPlane) -> None:
    with ControlPlane() as second:
        assert second.server_url != control_plane.server_url
        assert second.workdir != control_plane.workdir
        assert second.version()["gitVersion"] == control_plane.version()["gitVersion"]
        processes = [psutil.Process(pid) for pid in second.processes.values()]
        assert sorted(p.name() for p in processes) == [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
        ]
        workdir = second.workdir

    # is_running() compares start times too, so a reused pid does not count as alive.
    alive = [p for p in processes if p.is_running()]
    assert alive == [], f"still running after stop(): {alive}"
    assert not workdir.exists()
    # The session's control plane was not disturbed by its neighbour's shutdown.
    assert control_plane.version()["gitVersion"]
