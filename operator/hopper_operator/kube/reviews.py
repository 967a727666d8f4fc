"""Ask the API server who a bearer token is (TokenReview) and what they may do
(SubjectAccessReview): the delegated authentication and authorisation of a served endpoint,
with the short-lived cache every endpoint behind it shares (/metrics, the REST API)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypedDict, cast

from hopper_operator.kube.client import Kube

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"

ALLOW_TTL = 60.0  # seconds a granted token is trusted without asking again
DENY_TTL = 10.0  # a refused one: short, so a new RoleBinding takes effect soon
MAX_CACHED = 1024  # decisions remembered; garbage tokens must not grow memory without bound

# What a SubjectAccessReview asks about: its `nonResourceAttributes` or `resourceAttributes`.
Attributes = Mapping[str, Mapping[str, str]]


class UserInfo(TypedDict, total=False):
    """A TokenReview's `status.user`."""

    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class TokenReviewStatus(TypedDict, total=False):
    authenticated: bool
    user: UserInfo


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


class Decision(IntEnum):
    ALLOWED = 200
    UNAUTHENTICATED = 401
    FORBIDDEN = 403


def non_resource(verb: str, path: str) -> Attributes:
    """`verb` on a URL that is no resource, such as get /metrics."""
    return {"nonResourceAttributes": {"path": path, "verb": verb}}


def resource(verb: str, group: str, plural: str, namespace: str, name: str = "") -> Attributes:
    """`verb` on a resource, as `kubectl auth can-i verb plural.group [name] -n namespace`."""
    spec = {"verb": verb, "group": group, "resource": plural, "namespace": namespace}
    return {"resourceAttributes": {**spec, "name": name} if name else spec}


async def authenticate(kube: Kube, token: str) -> User | None:
    """The user the token belongs to, or None when the API server does not accept it."""
    review = await kube.create(
        TOKEN_REVIEWS,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    status = cast(TokenReviewStatus, review.get("status") or {})
    if not status.get("authenticated"):
        return None
    info = status.get("user") or {}
    return User(
        name=info.get("username", ""),
        uid=info.get("uid", ""),
        groups=tuple(info.get("groups") or ()),
        extra=dict(info.get("extra") or {}),
    )


async def allowed(kube: Kube, user: User, attributes: Attributes) -> bool:
    """Whether `user` may do what `attributes` describe."""
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
                **attributes,
            },
        },
    )
    return bool((review.get("status") or {}).get("allowed"))


async def may(kube: Kube, user: User, verb: str, path: str) -> bool:
    """Whether `user` may `verb` the non-resource URL `path` (e.g. get /metrics)."""
    return await allowed(kube, user, non_resource(verb, path))


@dataclass
class Gate:
    """Who may do what, as the API server says, remembered for a short while per token and
    question (only a hash of the token is kept). `attributes`: the question asked when
    `decision` is given none (an endpoint that asks only one)."""

    kube: Kube
    attributes: Attributes | None = None
    _cache: dict[str, tuple[float, Decision, str]] = field(default_factory=dict)

    async def decision(
        self, authorization: str | None, attributes: Attributes | None = None
    ) -> Decision:
        return (await self.review(authorization, attributes))[0]

    async def review(
        self, authorization: str | None, attributes: Attributes | None = None
    ) -> tuple[Decision, str]:
        """The decision and the name of the user who asked ("" when nobody is known)."""
        question = attributes or self.attributes
        assert question is not None, "a Gate with no default question needs one per call"
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Decision.UNAUTHENTICATED, ""
        asked = f"{token.strip()}\0{json.dumps(question, sort_keys=True)}"
        key = hashlib.sha256(asked.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1], cached[2]
        user = await authenticate(self.kube, token.strip())
        if user is None:
            decision = Decision.UNAUTHENTICATED
        elif await allowed(self.kube, user, question):
            decision = Decision.ALLOWED
        else:
            decision = Decision.FORBIDDEN
        name = user.name if user else ""
        self._remember(key, now, decision, name)
        return decision, name

    def _remember(self, key: str, now: float, decision: Decision, name: str) -> None:
        if len(self._cache) >= MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        ttl = ALLOW_TTL if decision is Decision.ALLOWED else DENY_TTL
        self._cache[key] = (now + ttl, decision, name)
