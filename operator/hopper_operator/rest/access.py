"""Who may do what: the caller's bearer token, reviewed by the API server per request
(TokenReview, then a SubjectAccessReview for the kubectl verb the request amounts to),
through the same short-lived cache as /metrics. The API then acts as its own
ServiceAccount; a caller can do here exactly what RBAC lets them do with kubectl."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from hopper_operator.api.meta import GROUP, PLURAL
from hopper_operator.kube.reviews import Decision, Gate, resource
from hopper_operator.rest.errors import ApiError, InvalidError
from hopper_operator.rest.schemas import FieldError

logger = logging.getLogger(__name__)

Check = Callable[..., Awaitable[str]]

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


async def namespace_of(request: Request) -> str:
    """The request's namespace: its path's, else the one the API was installed for."""
    namespace: str = request.path_params.get("namespace") or request.app.state.namespace
    request.state.namespace = checked_namespace(namespace, "path -> namespace")
    return namespace


def checked_namespace(namespace: str, field: str) -> str:
    """`namespace`, once it is a DNS-1123 label; InvalidError naming `field` otherwise."""
    if not re.fullmatch(DNS_LABEL, namespace):
        message = "a namespace is a DNS-1123 label: lowercase letters, digits and '-'"
        raise InvalidError([FieldError(field=field, message=message, type="value_error")])
    return namespace


async def judge(gate: Gate, authorization: str | None, verb: str, namespace: str) -> str:
    """The caller's user name once `verb` on hopperinstances in `namespace` is allowed;
    ApiError 401 or 403 otherwise. The token itself is never logged."""
    question = resource(verb, GROUP, PLURAL, namespace)
    decision, user = await gate.review(authorization, question)
    if decision is Decision.UNAUTHENTICATED:
        raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    if decision is Decision.FORBIDDEN:
        logger.info("refused: %s may not %s %s in %s", user, verb, PLURAL, namespace)
        raise ApiError(
            403,
            f'User "{user}" cannot {verb} resource "{PLURAL}" in API group "{GROUP}" '
            f'in the namespace "{namespace}"',
        )
    return user


def requires(verb: str) -> Check:
    """A dependency: the caller's user name once `verb` on hopperinstances in the request's
    namespace is allowed (`judge`)."""

    async def check(request: Request, namespace: Annotated[str, Depends(namespace_of)]) -> str:
        gate: Gate = request.app.state.gate
        user = await judge(gate, request.headers.get("Authorization"), verb, namespace)
        request.state.user = user
        return user

    return check


def requires_read(verb: str) -> Check:
    """`requires(verb)`, or `requires("watch")` when the request asks for a stream
    (`?watch=true`): a stream of what `verb` reads is a watch to RBAC."""
    reading, watching = requires(verb), requires("watch")

    async def check(request: Request, namespace: Annotated[str, Depends(namespace_of)]) -> str:
        streams = request.query_params.get("watch", "").lower() in ("true", "1")
        return await (watching if streams else reading)(request, namespace)

    return check
