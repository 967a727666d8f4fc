"""Webhook configurations that send kube-apiserver's reviews of HopperInstances to
operators on 127.0.0.1, as the chart's send them to its Service: what `dev`, the admission
tests and the bench run the operator's webhooks behind."""

from __future__ import annotations

from typing import Any

from hopper_operator.controller.admission import MUTATE, VALIDATE

REGISTRATION = "/apis/admissionregistration.k8s.io/v1"


def plural(configuration: dict[str, Any]) -> str:
    """The resource a configuration is created as (its kind, in the API's path)."""
    return f"{str(configuration['kind']).lower()}s"


def configurations(
    name: str, ports: list[int], namespace: str | None, *, timeout_seconds: int = 5
) -> list[dict[str, Any]]:
    """Both configurations as the chart writes them, one webhook per replica's port (the
    chart has one Service in front of every replica; here each replica is its own URL).
    Only for `namespace`, so no other test's instances are judged; None: every namespace,
    as the chart when it watches them all. No caBundle: the operator publishes its CA."""

    def webhook(kind: str, path: str, port: int, operations: list[str]) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": f"{path}-{port}.hopper.dev",
            "clientConfig": {"url": f"https://127.0.0.1:{port}/{path}"},
            "rules": [
                {
                    "apiGroups": ["hopper.dev"],
                    "apiVersions": ["*"],
                    "resources": ["hopperinstances"],
                    "operations": operations,
                    "scope": "Namespaced",
                }
            ],
            "failurePolicy": "Ignore",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "timeoutSeconds": timeout_seconds,
            "admissionReviewVersions": ["v1"],
        }
        if namespace is not None:
            names = {"kubernetes.io/metadata.name": namespace}
            hook["namespaceSelector"] = {"matchLabels": names}
        if kind == "MutatingWebhookConfiguration":
            hook["reinvocationPolicy"] = "Never"
        return hook

    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [webhook(kind, path, port, operations) for port in ports],
        }
        for kind, path, operations in (
            ("ValidatingWebhookConfiguration", VALIDATE, ["CREATE", "UPDATE"]),
            ("MutatingWebhookConfiguration", MUTATE, ["CREATE"]),
        )
    ]
