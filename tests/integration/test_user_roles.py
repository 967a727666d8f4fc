"""The shipped hopper-instances-* ClusterRoles reach users through the built-in view, edit
and admin roles (aggregated by the real kube-controller-manager), in their namespace only."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import ROOT, instance, wait_for

USER_ROLES = ROOT / "manifests" / "user-roles.yaml"
READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")


def can(kubectl: Kubectl, user: str, verb: str, resource: str, namespace: str) -> bool:
    name, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, f"{name}.hopper.dev", f"--as={user}", "-n", namespace]
    args += [f"--subresource={subresource}"] if subresource else []
    result = kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert (result.returncode, answer) in ((0, "yes"), (1, "no")), result
    return answer == "yes"


@pytest.mark.usefixtures("crd")
def test_built_in_roles_grant_instances_in_their_namespace_only(
    kubectl: Kubectl, namespace: str, other_namespace: str
) -> None:
    kubectl("apply", "-f", str(USER_ROLES))
    # Unique users: bindings of other tests on the shared control plane cannot help them.
    viewer, editor, admin = (f"{role}-{uuid.uuid4().hex[:6]}" for role in ("v", "e", "a"))
    for user, role in ((viewer, "view"), (editor, "edit"), (admin, "admin")):
        kubectl("create", "rolebinding", user, f"--clusterrole={role}", f"--user={user}",
                "-n", namespace)  # fmt: skip

    # The aggregation controller and the authorizer's watch both take a moment.
    wait_for(
        lambda: (
            can(kubectl, admin, "patch", "hopperinstances/status", namespace)
            and can(kubectl, viewer, "list", "hopperinstances", namespace)
        ),
        timeout=30,
        what="the aggregated roles to take effect",
    )
    instances, status = "hopperinstances", "hopperinstances/status"
    for user in (viewer, editor, admin):
        for verb in READ:
            assert can(kubectl, user, verb, instances, namespace), (user, verb)
            assert not can(kubectl, user, verb, instances, other_namespace), (user, verb)
    for verb in WRITE:
        assert not can(kubectl, viewer, verb, instances, namespace), verb
        for user in (editor, admin):
            assert can(kubectl, user, verb, instances, namespace), (user, verb)
            assert not can(kubectl, user, verb, instances, other_namespace), (user, verb)
    # Status is the operator's: only admin may repair it by hand.
    for user in (viewer, editor):
        assert not can(kubectl, user, "patch", status, namespace), user
    assert can(kubectl, admin, "update", status, namespace)
    assert not can(kubectl, admin, "patch", status, other_namespace)

    # And the real thing, not only the authorizer's answer: the editor creates one.
    manifest = json.dumps(instance("by-editor"))
    kubectl("create", "-n", namespace, "-f", "-", f"--as={editor}", input=manifest)
    refused = kubectl(
        "create", "-n", other_namespace, "-f", "-", f"--as={editor}", input=manifest, check=False
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    refused = kubectl(
        "create", "-n", namespace, "-f", "-", f"--as={viewer}", input=manifest, check=False
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr
