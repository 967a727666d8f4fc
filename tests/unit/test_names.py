"""Name-like strings: what each kind accepts, checked by the models (CEL does the same)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hopper_operator.api.names import (
    DNS_SUBDOMAIN,
    ENV_NAME,
    HTTP_PATH,
    IMAGE,
    INSTANCE_NAME,
    LABEL_KEY,
    LABEL_VALUE,
    QUANTITY,
    RESOURCE_NAME,
    NameKind,
    quantity,
)

PREFIX_254 = ".".join(["a" * 63] * 4) + "bb"  # 254 characters, a valid subdomain otherwise

# (kind, accepted, refused)
CASES: list[tuple[NameKind, list[str], list[str]]] = [
    (
        DNS_SUBDOMAIN,
        ["a", "my-name", "example.com", "a1.b-2.c3", "x" * 253],
        ["", "A", "my_name", "-a", "a-", "a..b", "a.-b", ".a", "a b", "x" * 254],
    ),
    (INSTANCE_NAME, ["acme-web", "x" * 63], ["x" * 64, "Acme", "acme web"]),
    (ENV_NAME, ["A", "_x", "LOG_LEVEL", "a1"], ["", "1A", "A-B", "A.B", "A B", "A=B", "É"]),
    (
        IMAGE,
        [
            "app",
            "app:1.2",
            "team/app",
            "registry.example.com/team/app:1.2",
            "localhost:5000/app",
            "registry.example.com:5000/a/b/c:latest",
            "app@sha256:" + "a" * 64,
            "ghcr.io/hopper-dev/hopper-operator:0.1.0@sha256:" + "0f" * 32,
            "a__b/c---d",
        ],
        [
            "",
            "app :1",
            " app",
            "app\n",
            "App",
            "team/App",
            "app:",
            "app:-x",
            "app@sha256:short",
            "registry.example.com:port/app",
            "a//b",
            "app:" + "t" * 129,
        ],
    ),
    (
        LABEL_KEY,
        ["disktype", "kubernetes.io/arch", "a.b/C_d.e-f", "x" * 63, "x" * 253 + "/n"],
        ["", "/a", "a/", "a b", "Example.com/a", "-a", "a/b/c", "x" * 64, PREFIX_254 + "/n"],
    ),
    (LABEL_VALUE, ["", "amd64", "A_b.c-D", "x" * 63], ["-a", "a-", "a b", "a/b", "x" * 64]),
    (
        RESOURCE_NAME,
        ["cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/gpu"],
        ["gpu", "CPU", "hugepages-", "example.com/", "nvidia gpu"],
    ),
    (
        QUANTITY,
        ["1", "100m", "0.5", ".5", "1.", "64Mi", "1G", "1e3", "2E", "1E-3"],
        ["", "-1", "+1", "lots", "1 Gi", "1gi", "1.2.3", "Mi"],
    ),
    (HTTP_PATH, ["/", "/healthz", "/a/b?c=d"], ["", "healthz", "/a b", "/é"]),
]


@pytest.mark.parametrize(
    ("kind", "accepted", "refused"),
    CASES,
    ids=[
        "subdomain",
        "instance",
        "env",
        "image",
        "label-key",
        "label-value",
        "resource",
        "quantity",
        "http-path",
    ],
)
def test_each_kind_accepts_and_refuses(
    kind: NameKind, accepted: list[str], refused: list[str]
) -> None:
    wrongly_refused = [v for v in accepted if kind.problem(v, "x")]
    wrongly_accepted = [v for v in refused if not kind.problem(v, "x")]
    assert not wrongly_refused and not wrongly_accepted, (wrongly_refused, wrongly_accepted)


def test_patterns_are_portable_between_re2_and_python() -> None:
    # CEL's RE2 and Python must read the patterns alike: no constructs where they differ
    # (lookarounds, backreferences, \w or \s, which are Unicode-aware in Python, or \Z).
    for kind, _, _ in CASES:
        for pattern in (kind.pattern, *(kind.refused or ())[:1]):
            for construct in ("(?=", "(?!", "(?<", "\\w", "\\s", "\\d", "\\Z", "\\1"):
                assert construct not in pattern, (kind.what, construct)


def test_quantities_compare_by_value() -> None:
    assert quantity("100m") == Decimal("0.1")
    assert quantity("1Gi") == 1024**3
    assert quantity("1G") < quantity("1Gi")
    assert quantity("1e3") == quantity("1k")
    assert quantity("512Mi") < quantity("1Gi")
