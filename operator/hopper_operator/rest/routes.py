"""The routes of the Instance API, mounted twice: under /api/v1/instances (the installed
namespace) and /api/v1/namespaces/{namespace}/instances. Each is a few lines into the pure
mapping, the store and the lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from hopper_operator.api.enums import Phase, Scope
from hopper_operator.api.meta import restart_token
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.core.verbs import Verb
from hopper_operator.kube.client import ConflictError, NotFoundError
from hopper_operator.rest import lifecycle, mapping
from hopper_operator.rest.access import requires
from hopper_operator.rest.errors import ApiError, InvalidError
from hopper_operator.rest.schemas import (
    AnyCaseScope,
    AnyCaseStatus,
    ErrorDetail,
    FieldError,
    Hierarchy,
    Instance,
    InstanceCreate,
    InstanceList,
    InstanceStatus,
    InstanceUpdate,
    SortBy,
    SortOrder,
    ValidationErrorBody,
)
from hopper_operator.rest.store import Store

logger = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail} for code in (400, 401, 403, 404, 409, 412, 413, 503)
}
ERRORS[422] = {"model": ValidationErrorBody}


async def in_namespace(namespace: Annotated[str, Path()]) -> None:
    """Declares {namespace} for the OpenAPI document; `requires` checks and uses it."""


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]
Wait = Annotated[bool, Query(description="wait until the instance gets there")]
Timeout = Annotated[
    float, Query(alias="timeout", gt=0, le=300, description="seconds to wait before a 202")
]


async def _read(
    store: Store, request: Request, name: str, *, fresh: bool = False
) -> mapping.Object:
    """The instance, from the cache; `fresh` (for a write): from the API server."""
    try:
        if fresh:
            return await store.get(request.state.namespace, name)
        return await store.read(request.state.namespace, name)
    except NotFoundError:
        raise ApiError(404, f"Instance {name} not found") from None


def _answer(response: Response, obj: mapping.Object, done: bool = True) -> Instance:
    response.headers["ETag"] = f'"{obj["metadata"].get("resourceVersion", "")}"'
    if not done:
        response.status_code = 202
    return mapping.to_instance(obj)


async def create_instance(
    *,
    body: InstanceCreate,
    request: Request,
    response: Response,
    store: StoreDep,
    user: Annotated[str, Depends(requires("create"))],
) -> Instance:
    """Create an instance: `created`, not started (POST .../{id}/start starts it)."""
    namespace = request.state.namespace
    if body.parent_id:
        try:
            parent = await store.get(namespace, body.parent_id)
        except NotFoundError:
            raise ApiError(404, f"Parent instance {body.parent_id} not found") from None
        problem = parent_scope_error(body.scope, Scope(parent["spec"]["scope"]))
        if problem:
            field = FieldError(field="body -> parent_id", message=problem, type="parent_scope")
            raise InvalidError([field])
    name = body.id or mapping.new_id(body.scope)
    try:
        created = await store.create(namespace, mapping.to_manifest(body, name=name, caller=user))
    except ConflictError:
        raise ApiError(409, f"Instance {name} already exists") from None
    logger.info("%s created instance %s/%s", user, namespace, name)
    return _answer(response, created)


async def list_instances(
    *,
    request: Request,
    store: StoreDep,
    _: Annotated[str, Depends(requires("list"))],
    scope: Annotated[list[AnyCaseScope], Query()] = [],  # noqa: B006  FastAPI copies it
    status: Annotated[list[AnyCaseStatus], Query()] = [],  # noqa: B006
    parent_id: str | None = None,
    root_only: bool = False,
    sort_by: SortBy = SortBy.CREATED_AT,
    sort_order: SortOrder = SortOrder.DESC,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> InstanceList:
    """List instances: filters combine, `total` counts every match."""
    query = mapping.ListQuery(
        frozenset(scope), frozenset(status), parent_id, root_only, sort_by, sort_order, skip, limit
    )
    objects = await store.list(request.state.namespace)
    return mapping.page(objects, query)


async def get_instance(
    *,
    id: str,
    request: Request,
    response: Response,
    store: StoreDep,
    _: Annotated[str, Depends(requires("get"))],
) -> Instance:
    """One instance; its ETag is its resourceVersion (for If-Match on PUT)."""
    return _answer(response, await _read(store, request, id))


async def update_instance(
    *,
    id: str,
    body: InstanceUpdate,
    request: Request,
    response: Response,
    store: StoreDep,
    user: Annotated[str, Depends(requires("update"))],
    if_match: Annotated[str | None, Header()] = None,
    wait: Wait = True,
    within: Timeout = 30.0,
) -> Instance:
    """Change an instance; a `status` is a lifecycle request, as the verb to that status.
    The whole request is judged before one write: a refused one changes nothing."""
    obj = await _read(store, request, id, fresh=True)
    version = obj["metadata"]["resourceVersion"]
    expected = if_match.removeprefix("W/").strip('"') if if_match else None
    if expected is not None and expected != version:
        raise ApiError(412, f"Instance {id} changed: If-Match {if_match}, now {version}")
    verb = lifecycle.put_verb(body.status.phase if body.status else None, obj)
    token = restart_token()
    try:
        obj = await lifecycle.write(
            store,
            obj,
            verb,
            token,
            fields=lambda seen: mapping.update_patch(body, seen),
            # With If-Match, only onto the version the caller read.
            attempts=1 if expected else lifecycle.ATTEMPTS,
        )
    except ConflictError:
        code = 412 if expected else 409
        raise ApiError(code, f"Instance {id} changed meanwhile; read it again") from None
    done = True
    if verb is not None:
        obj, done = await lifecycle.follow(store, obj, verb, token, wait=wait, within=within)
    logger.info("%s updated instance %s/%s", user, request.state.namespace, id)
    return _answer(response, obj, done)


async def delete_instance(
    *,
    id: str,
    request: Request,
    store: StoreDep,
    user: Annotated[str, Depends(requires("delete"))],
    purge: bool = False,
) -> Response:
    """The original's soft delete: terminate and keep; `purge=true` removes the object."""
    namespace = request.state.namespace
    obj = await _read(store, request, id, fresh=True)
    children = mapping.children_of(await store.list(namespace), id)
    refused = lifecycle.delete_refusal(obj, len(children))
    if refused:
        raise ApiError(*refused)
    if mapping.phase_of(obj) is not Phase.TERMINATED:
        await lifecycle.perform(store, obj, Verb.TERMINATE, wait=False, within=1)
    if purge:
        await store.delete(namespace, id)
    logger.info("%s deleted instance %s/%s (purge: %s)", user, namespace, id, purge)
    return Response(status_code=204)


async def list_children(
    *,
    id: str,
    request: Request,
    store: StoreDep,
    _: Annotated[str, Depends(requires("list"))],
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> InstanceList:
    """The direct children, oldest first."""
    await _read(store, request, id)
    children = mapping.children_of(await store.list(request.state.namespace), id)
    query = mapping.ListQuery(sort_order=SortOrder.ASC, skip=skip, limit=limit)
    return mapping.page(children, query)


async def get_hierarchy(
    *,
    id: str,
    request: Request,
    store: StoreDep,
    _: Annotated[str, Depends(requires("list"))],
) -> Hierarchy:
    """The subtree under the instance, itself at depth 0."""
    root = await _read(store, request, id)
    tree, total = mapping.hierarchy(root, await store.list(request.state.namespace))
    return Hierarchy(root=tree, total_instances=total)


async def get_status(
    *,
    id: str,
    request: Request,
    store: StoreDep,
    _: Annotated[str, Depends(requires("get"))],
) -> InstanceStatus:
    """The status and the Ready condition's verdict."""
    return mapping.status_body(await _read(store, request, id))


def _verb_route(verb: Verb) -> Callable[..., Awaitable[Instance]]:
    async def act(
        *,
        id: str,
        request: Request,
        response: Response,
        store: StoreDep,
        user: Annotated[str, Depends(requires("patch"))],
        wait: Wait = True,
        within: Timeout = 30.0,
    ) -> Instance:
        obj = await _read(store, request, id, fresh=True)
        logger.info("%s: %s instance %s/%s", user, verb.value, request.state.namespace, id)
        obj, done = await lifecycle.perform(store, obj, verb, wait=wait, within=within)
        return _answer(response, obj, done)

    act.__name__ = f"{verb.value}_instance"
    act.__doc__ = (
        f"{verb.value.capitalize()} the instance: 200 once it got there (Ready, the latest "
        "spec observed), 202 if `timeout` passed first (or `wait=false`), 409 at once "
        "with the Stalled condition's message if it is stalled."
    )
    return act


def router(prefix: str, *, namespaced: bool = False) -> APIRouter:
    """Every route under `prefix`, each registered with its whole path (what the metrics
    name a route by)."""
    dependencies = [Depends(in_namespace)] if namespaced else []
    routes = APIRouter(prefix=prefix, responses=ERRORS, dependencies=dependencies)
    for path in ("", "/"):  # the original served both; only one is documented
        shown = path == ""
        routes.add_api_route(path, create_instance, methods=["POST"], status_code=201,
                             include_in_schema=shown)  # fmt: skip
        routes.add_api_route(path, list_instances, methods=["GET"], include_in_schema=shown)
    routes.add_api_route("/{id}", get_instance, methods=["GET"])
    routes.add_api_route("/{id}", update_instance, methods=["PUT"])
    routes.add_api_route("/{id}", delete_instance, methods=["DELETE"], status_code=204)
    routes.add_api_route("/{id}/children", list_children, methods=["GET"])
    routes.add_api_route("/{id}/hierarchy", get_hierarchy, methods=["GET"])
    routes.add_api_route("/{id}/status", get_status, methods=["GET"])
    for verb in Verb:
        routes.add_api_route(f"/{{id}}/{verb.value}", _verb_route(verb), methods=["POST"])
    return routes
