"""Ask the API server who a bearer token is (TokenReview) and what they may do
(SubjectAccessReview): the delegated authentication and authorisation of a served endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hopper_operator.kube.client import Kube

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


async def authenticate(kube: Kube, token: str) -> User | None:
    """The user the token belongs to, or None when the API server does not accept it."""
    review = await kube.create(
        TOKEN_REVIEWS,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    status: dict[str, Any] = review.get("status") or {}
    if not status.get("authenticated"):
        return None
    info = status.get("user") or {}
    return User(
        name=info.get("username", ""),
        uid=info.get("uid", ""),
        groups=tuple(info.get("groups") or ()),
        extra=dict(info.get("extra") or {}),
    )


async def may(kube: Kube, user: User, verb: str, path: str) -> bool:
    """Whether `user` may `verb` the non-resource URL `path` (e.g. get /metrics)."""
    review = await kube.create(
        ACCESS_REVIEWS,
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.name,
                "uid": user.uid,
                "groups": list(user.groups),
                "extra": user.extra,
                "nonResourceAttributes": {"path": path, "verb": verb},
            },
        },
    )
    return bool((review.get("status") or {}).get("allowed"))
