"""spec.runtime: the workload an instance runs, as a small typed subset of a pod.

No free-form PodSpec: only what people need to run a real image under the `restricted`
Pod Security Standard, each field typed and validated like its Kubernetes counterpart. The
hardening itself (non-root, no privilege escalation, no capabilities, RuntimeDefault
seccomp, no ServiceAccount token unless asked for) is not configurable here: the builder
in resources/owned.py always applies it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from hopper_operator.api.base import ApiModel, rules
from hopper_operator.api.enums import TaintEffect, TolerationOperator
from hopper_operator.api.names import (
    DNS_SUBDOMAIN,
    ENV_NAME,
    HTTP_PATH,
    IMAGE,
    LABEL_KEY,
    LABEL_VALUE,
    QUANTITY,
    RESOURCE_NAME,
    Accepts,
    quantity,
)

MAX_REPLICAS = 100
MAX_ID = 2147483647  # uids and gids are int32 in the pod API
MAX_ARGS = 64
MAX_LIST = 32

Quantity = Annotated[str, Accepts(QUANTITY, "a quantity")]
ResourceList = Annotated[
    dict[str, Quantity], Accepts(RESOURCE_NAME, "a resource name", max_keys=16)
]
Port = Annotated[int, Field(ge=1, le=65535)]
Id = Annotated[int, Field(ge=0, le=MAX_ID)]
Seconds = Annotated[int, Field(ge=1, le=3600)]


class EnvVar(ApiModel):
    """An environment variable set in the workload's container."""

    name: Annotated[str, Accepts(ENV_NAME, "an environment variable name")] = Field(
        min_length=1, description=f"Environment variable name: {ENV_NAME.what}."
    )
    value: str = Field(default="", description="Environment variable value (any text).")


class Resources(ApiModel):
    """Compute resources of each workload pod."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            (
                "!has(self.requests) || !has(self.limits) || self.limits.all(k, "
                "!(k in self.requests) || !isQuantity(self.requests[k]) "
                "|| !isQuantity(self.limits[k]) "
                "|| quantity(self.requests[k]).compareTo(quantity(self.limits[k])) <= 0)",
                "a request cannot exceed the limit of the same resource",
            )
        )
    )

    requests: ResourceList = Field(
        default_factory=dict,
        description=f"Minimum compute resources, e.g. cpu: 100m. Keys are resource names: "
        f"{RESOURCE_NAME.what}. Values are quantities: {QUANTITY.what}.",
    )
    limits: ResourceList = Field(
        default_factory=dict,
        description="Maximum compute resources, e.g. memory: 256Mi; each at least its request.",
    )

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities_as_strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name, limit in self.limits.items():
            if name in self.requests and quantity(self.requests[name]) > quantity(limit):
                raise ValueError("a request cannot exceed the limit of the same resource")
        return self


class SecretRef(ApiModel):
    """A Secret in the instance's namespace."""

    name: Annotated[str, Accepts(DNS_SUBDOMAIN, "the name of a Secret")] = Field(
        description=f"Name of the Secret: {DNS_SUBDOMAIN.what}."
    )


class Toleration(ApiModel):
    """Lets the pods run on nodes with a matching taint (as a pod's toleration)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            (
                "has(self.key) || self.operator == 'Exists'",
                "a toleration without a key tolerates every taint: it needs operator Exists",
            ),
            (
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "a toleration with operator Exists matches any value: remove its value",
            ),
            (
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds applies only to effect NoExecute",
            ),
        )
    )

    key: Annotated[str, Accepts(LABEL_KEY, "a taint key")] | None = Field(
        default=None,
        description=f"Taint key to tolerate, a label key: {LABEL_KEY.what}. Absent: every taint "
        "(operator Exists only).",
    )
    operator: TolerationOperator = Field(
        default=TolerationOperator.EQUAL,
        description="Equal (the taint's value must equal value) or Exists (any value).",
    )
    value: Annotated[str, Accepts(LABEL_VALUE, "a taint value")] | None = Field(
        default=None,
        description=f"Taint value for operator Equal, a label value: {LABEL_VALUE.what}.",
    )
    effect: TaintEffect | None = Field(
        default=None,
        description="NoSchedule, PreferNoSchedule or NoExecute; absent: every effect.",
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Only with effect NoExecute: how long the pods stay once tainted.",
    )

    @model_validator(mode="after")
    def _check_rules(self) -> Toleration:
        # The same rules as the CEL above, for objects built in Python.
        exists = self.operator is TolerationOperator.EXISTS
        if self.key is None and not exists:
            raise ValueError(
                "a toleration without a key tolerates every taint: it needs operator Exists"
            )
        if exists and self.value:
            raise ValueError(
                "a toleration with operator Exists matches any value: remove its value"
            )
        if self.toleration_seconds is not None and self.effect is not TaintEffect.NO_EXECUTE:
            raise ValueError("tolerationSeconds applies only to effect NoExecute")
        return self


class HttpGetAction(ApiModel):
    """An HTTP GET against the pod: any status from 200 to 399 passes."""

    path: Annotated[str, Accepts(HTTP_PATH, "an HTTP path")] = Field(
        default="/", description=f"Path to request: {HTTP_PATH.what}."
    )
    port: Port = Field(description="Container port to connect to (1..65535).")


class TcpSocketAction(ApiModel):
    """A TCP connection to the pod: passes when it opens."""

    port: Port = Field(description="Container port to connect to (1..65535).")


class ExecAction(ApiModel):
    """A command run in the container: passes when it exits 0."""

    command: list[str] = Field(
        min_length=1, max_length=MAX_ARGS, description="The command and its arguments."
    )


_ONE_HANDLER = "a probe has exactly one of httpGet, tcpSocket or exec"


class Probe(ApiModel):
    """A readiness or liveness check of the workload's container."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            (
                "(has(self.httpGet) ? 1 : 0) + (has(self.tcpSocket) ? 1 : 0) "
                "+ (has(self.exec) ? 1 : 0) == 1",
                _ONE_HANDLER,
            )
        )
    )

    http_get: HttpGetAction | None = Field(default=None, description="Check with HTTP GET.")
    tcp_socket: TcpSocketAction | None = Field(
        default=None, description="Check by opening a TCP connection."
    )
    exec_action: ExecAction | None = Field(
        default=None, alias="exec", description="Check by running a command."
    )
    initial_delay_seconds: int | None = Field(
        default=None, ge=0, le=3600, description="Seconds before the first check (0..3600)."
    )
    period_seconds: Seconds | None = Field(
        default=None, description="Seconds between checks (1..3600; Kubernetes default 10)."
    )
    timeout_seconds: Seconds | None = Field(
        default=None, description="Seconds a check may take (1..3600; Kubernetes default 1)."
    )
    failure_threshold: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Failures in a row that count (1..100; Kubernetes default 3).",
    )

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        handlers = (self.http_get, self.tcp_socket, self.exec_action)
        if sum(handler is not None for handler in handlers) != 1:
            raise ValueError(_ONE_HANDLER)
        return self


class Runtime(ApiModel):
    """The optional workload: a Deployment running while the instance is Running.

    Its pods always meet the `restricted` Pod Security Standard.
    """

    image: Annotated[str, Accepts(IMAGE, "a container image reference")] = Field(
        min_length=1, description=f"Container image the instance runs: {IMAGE.what}."
    )
    replicas: int = Field(
        default=1, ge=0, le=MAX_REPLICAS, description="Pods to run while Running (0..100)."
    )
    command: list[str] = Field(
        default_factory=list, max_length=MAX_ARGS, description="Container entrypoint."
    )
    args: list[str] = Field(
        default_factory=list, max_length=MAX_ARGS, description="Arguments to the entrypoint."
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=MAX_ARGS,
        description="Environment variables, each name at most once.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    resources: Resources = Field(
        default_factory=Resources, description="Compute requests and limits of each pod."
    )
    service_account_name: (
        Annotated[str, Accepts(DNS_SUBDOMAIN, "the name of a ServiceAccount")] | None
    ) = Field(
        default=None,
        description="ServiceAccount the pods run as, in the instance's namespace "
        f"({DNS_SUBDOMAIN.what}). Only when set is a ServiceAccount token mounted (as the "
        "ServiceAccount's own automountServiceAccountToken allows); absent: the namespace's "
        "default ServiceAccount, with no token.",
    )
    image_pull_secrets: list[SecretRef] = Field(
        default_factory=list,
        max_length=16,
        description="Secrets (docker-registry type) used to pull the image.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    node_selector: Annotated[
        dict[str, Annotated[str, Accepts(LABEL_VALUE, "a label value")]],
        Accepts(LABEL_KEY, "a label key", max_keys=MAX_LIST),
    ] = Field(
        default_factory=dict,
        description="Node labels the pods require (e.g. kubernetes.io/arch: amd64). Keys: "
        f"{LABEL_KEY.what}. Values: {LABEL_VALUE.what}.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=MAX_LIST, description="Taints the pods tolerate."
    )
    run_as_user: Id | None = Field(
        default=None,
        description="User id of the container process (0..2147483647); absent: the image's "
        "USER, which must then be a numeric non-root id. 0 gives up runAsNonRoot, which "
        "namespaces enforcing the restricted Pod Security Standard refuse.",
    )
    run_as_group: Id | None = Field(
        default=None, description="Primary group id of the container process (0..2147483647)."
    )
    fs_group: Id | None = Field(
        default=None,
        description="Group id owning mounted volumes, added to the process's groups "
        "(0..2147483647).",
    )
    readiness_probe: Probe | None = Field(
        default=None,
        description="When a pod counts as available (and so when Starting ends); absent: "
        "as soon as its container runs.",
    )
    liveness_probe: Probe | None = Field(
        default=None, description="When the container is restarted; absent: never for health."
    )
