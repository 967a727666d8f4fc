"""The ConfigMap and Deployment an instance owns, built from plain values.

Each carries a hash of what it was built from, so the reconciler compares one annotation
with what it would build instead of diffing server-defaulted objects.
"""

from __future__ import annotations

from hopper_operator.api.meta import MANAGER, Annotation, Label
from hopper_operator.api.runtime import Probe, Runtime
from hopper_operator.core.config import canonical_json, config_hash, config_map_name
from hopper_operator.core.views import OwnerReference
from hopper_operator.core.workload import workload_hash
from hopper_operator.resources.patches import owner_reference

MANAGED_BY = {Label.MANAGED_BY: MANAGER}
CONFIG_FILE = "config.json"
CONFIG_MOUNT = "/etc/hopper"


def _metadata(
    name: str, namespace: str, owner: str, owner_uid: str, **annotations: str
) -> dict[str, object]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {Label.INSTANCE: owner, **MANAGED_BY},
        "annotations": annotations,
        "ownerReferences": [owner_reference(OwnerReference.to_instance(owner, owner_uid))],
    }


def config_map(
    *, instance: str, namespace: str, uid: str, config: dict[str, object]
) -> dict[str, object]:
    digest = config_hash(config)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            config_map_name(instance), namespace, instance, uid, **{Annotation.CONFIG_HASH: digest}
        ),
        "data": {CONFIG_FILE: canonical_json(config)},
    }


def _probe(probe: Probe | None) -> dict[str, object] | None:
    return probe.model_dump(by_alias=True, exclude_none=True) if probe else None


def _container(runtime: Runtime) -> dict[str, object]:
    container: dict[str, object] = {
        "name": "hopper",
        "image": runtime.image,
        "env": [{"name": e.name, "value": e.value} for e in runtime.env],
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}],
        "resources": runtime.resources.model_dump(exclude_defaults=True),
        # The container half of the `restricted` Pod Security Standard; never optional.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    optional = {
        "command": list(runtime.command),
        "args": list(runtime.args),
        "readinessProbe": _probe(runtime.readiness_probe),
        "livenessProbe": _probe(runtime.liveness_probe),
    }
    return container | {key: value for key, value in optional.items() if value}


def pod_spec(instance: str, runtime: Runtime) -> dict[str, object]:
    """The pod: `restricted` by construction, a ServiceAccount token only when one is named."""
    security: dict[str, object] = {
        # runAsUser 0 is an explicit request for root: the pod then does not claim
        # non-root (the kubelet would refuse it), and restricted namespaces refuse it.
        "runAsNonRoot": runtime.run_as_user != 0,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    ids = {
        "runAsUser": runtime.run_as_user,
        "runAsGroup": runtime.run_as_group,
        "fsGroup": runtime.fs_group,
    }
    security |= {key: value for key, value in ids.items() if value is not None}
    spec: dict[str, object] = {
        "securityContext": security,
        "containers": [_container(runtime)],
        "volumes": [{"name": "config", "configMap": {"name": config_map_name(instance)}}],
    }
    if runtime.service_account_name:
        # Left to the ServiceAccount's own automountServiceAccountToken (true by default).
        spec["serviceAccountName"] = runtime.service_account_name
    else:
        spec["automountServiceAccountToken"] = False
    optional = {
        "imagePullSecrets": [{"name": secret.name} for secret in runtime.image_pull_secrets],
        "nodeSelector": dict(runtime.node_selector),
        "tolerations": [
            t.model_dump(by_alias=True, exclude_none=True) for t in runtime.tolerations
        ],
    }
    return spec | {key: value for key, value in optional.items() if value}


def deployment(
    *,
    instance: str,
    namespace: str,
    uid: str,
    runtime: Runtime,
    replicas: int,
    config_digest: str,
) -> dict[str, object]:
    """The workload; `config_digest` in the pod template rolls it when the config changes."""
    selector = {Label.INSTANCE: instance}
    template = {
        "metadata": {
            "labels": {**selector, **MANAGED_BY},
            "annotations": {Annotation.CONFIG_HASH: config_digest},
        },
        "spec": pod_spec(instance, runtime),
    }
    spec = {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(
            instance,
            namespace,
            instance,
            uid,
            **{Annotation.SPEC_HASH: workload_hash(runtime, replicas, config_digest)},
        ),
        "spec": spec,
    }
