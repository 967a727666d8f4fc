"""Who may do what: the caller's bearer token, reviewed by the API server per request
(TokenReview, then a SubjectAccessReview for the kubectl verb the request amounts to),
through the same short-lived cache as /metrics. The API then acts as its own
ServiceAccount; a caller can do here exactly what RBAC lets them do with kubectl."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import Request

from hopper_operator.api.meta import GROUP, PLURAL
from hopper_operator.kube.reviews import Decision, Gate, resource
from hopper_operator.rest.errors import ApiError

logger = logging.getLogger(__name__)

Check = Callable[[Request], Awaitable[str]]


def requires(verb: str) -> Check:
    """A dependency: the caller's user name once `verb` on hopperinstances in the request's
    namespace is allowed; 401 or 403 otherwise. The token itself is never logged."""

    async def check(request: Request) -> str:
        gate: Gate = request.app.state.gate
        namespace: str = request.state.namespace
        question = resource(verb, GROUP, PLURAL, namespace)
        decision, user = await gate.review(request.headers.get("Authorization"), question)
        if decision is Decision.UNAUTHENTICATED:
            raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        if decision is Decision.FORBIDDEN:
            logger.info("refused: %s may not %s %s in %s", user, verb, PLURAL, namespace)
            raise ApiError(
                403,
                f'User "{user}" cannot {verb} resource "{PLURAL}" in API group "{GROUP}" '
                f'in the namespace "{namespace}"',
            )
        request.state.user = user
        return user

    return check
