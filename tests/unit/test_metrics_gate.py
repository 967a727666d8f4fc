"""Who may read /metrics: the gate's decisions and how long it trusts them.

The API server's answers come from a small in-memory stand-in here; the real TokenReview
and SubjectAccessReview are exercised in tests/integration/test_metrics_auth.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from hopper_operator.kube import reviews as review_module
from hopper_operator.kube.client import Kube
from hopper_operator.kube.metrics_gate import READ_METRICS
from hopper_operator.kube.reviews import ACCESS_REVIEWS, TOKEN_REVIEWS, Decision, Gate


class Reviews:
    """Answers TokenReviews from `users` (token -> name) and SubjectAccessReviews from
    `readers` (names allowed get /metrics); counts every request."""

    def __init__(self, users: dict[str, str], readers: set[str]) -> None:
        self.users, self.readers, self.requests = users, readers, 0

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        spec = body["spec"]
        if path == TOKEN_REVIEWS:
            name = self.users.get(spec["token"])
            user = {"username": name, "groups": ["system:authenticated"]} if name else {}
            return {"status": {"authenticated": bool(name), "user": user}}
        assert path == ACCESS_REVIEWS
        assert spec["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
        assert spec["groups"] == ["system:authenticated"]
        return {"status": {"allowed": spec["user"] in self.readers}}


@pytest.fixture
def reviews() -> Reviews:
    return Reviews({"t-reader": "prometheus", "t-other": "someone"}, {"prometheus"})


@pytest.fixture
def gate(reviews: Reviews) -> Gate:
    return Gate(cast(Kube, reviews), READ_METRICS)


async def test_decisions(gate: Gate, reviews: Reviews) -> None:
    assert await gate.decision(None) is Decision.UNAUTHENTICATED
    assert await gate.decision("Basic dXNlcjpwYXNz") is Decision.UNAUTHENTICATED
    assert await gate.decision("Bearer ") is Decision.UNAUTHENTICATED
    assert reviews.requests == 0  # no token, no question to the API server
    assert await gate.decision("Bearer unknown") is Decision.UNAUTHENTICATED
    assert await gate.decision("Bearer t-other") is Decision.FORBIDDEN
    assert await gate.decision("bearer t-reader") is Decision.ALLOWED


async def test_decisions_are_cached_briefly(
    gate: Gate, reviews: Reviews, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(review_module.time, "monotonic", lambda: now[0])
    assert await gate.decision("Bearer t-reader") is Decision.ALLOWED
    assert await gate.decision("Bearer t-other") is Decision.FORBIDDEN
    asked = reviews.requests
    assert await gate.decision("Bearer t-reader") is Decision.ALLOWED
    assert await gate.decision("Bearer t-other") is Decision.FORBIDDEN
    assert reviews.requests == asked  # both from the cache
    # A refusal is forgotten sooner, so a new binding takes effect within DENY_TTL.
    reviews.readers.add("someone")
    now[0] += review_module.DENY_TTL + 0.1
    assert await gate.decision("Bearer t-other") is Decision.ALLOWED
    # A grant is trusted for ALLOW_TTL, then asked again (a revoked binding ends it).
    reviews.readers.clear()
    assert await gate.decision("Bearer t-reader") is Decision.ALLOWED
    now[0] += review_module.ALLOW_TTL
    assert await gate.decision("Bearer t-reader") is Decision.FORBIDDEN


async def test_garbage_tokens_cannot_grow_the_cache_without_bound(gate: Gate) -> None:
    for n in range(review_module.MAX_CACHED * 2 + 5):
        assert await gate.decision(f"Bearer junk-{n}") is Decision.UNAUTHENTICATED
    assert len(gate._cache) <= review_module.MAX_CACHED
