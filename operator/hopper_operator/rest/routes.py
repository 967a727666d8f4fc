"""The routes of the Instance API, mounted twice: under /api/v1/instances (the installed
namespace) and /api/v1/namespaces/{namespace}/instances. Each is a few lines into the pure
mapping, the store and the lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from hopper_operator.api.meta import restart_token
from hopper_operator.core.verbs import Verb
from hopper_operator.kube.client import ConflictError
from hopper_operator.rest import lifecycle, mapping, service
from hopper_operator.rest.access import requires, requires_read
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.schemas import (
    AnyCaseScope,
    AnyCaseStatus,
    ErrorDetail,
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
from hopper_operator.rest.stream import EventStream, Streams, token

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
Watch = Annotated[
    bool,
    Query(description="stream the changes as server-sent events (docs/instance-api.md)"),
]
LastEventId = Annotated[
    str | None, Header(description="with `watch`: resume after this event's id")
]
STREAMED = ERRORS | {
    200: {"content": {"text/event-stream": {}}, "description": "the instance(s), or a stream"}
}


async def _stream(
    request: Request, store: Store, where: Callable[[mapping.Object], bool] | None, *,
    single: bool, last_event_id: str | None,
) -> EventStream:  # fmt: skip
    streams: Streams = request.app.state.streams
    namespace = request.state.namespace
    informer, since = store.cache.informer(namespace), store.cache.newest_write(namespace)
    return await streams.open(
        informer, after=token(last_event_id), where=where, single=single, since=since
    )


async def _read(
    store: Store, request: Request, name: str, *, fresh: bool = False
) -> mapping.Object:
    return await service.read(store, request.state.namespace, name, fresh=fresh)


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
    created = await service.create(store, request.state.namespace, body, user=user)
    return _answer(response, created)


async def list_instances(
    *,
    request: Request,
    store: StoreDep,
    _: Annotated[str, Depends(requires_read("list"))],
    scope: Annotated[list[AnyCaseScope], Query()] = [],  # noqa: B006  FastAPI copies it
    status: Annotated[list[AnyCaseStatus], Query()] = [],  # noqa: B006
    parent_id: str | None = None,
    root_only: bool = False,
    sort_by: SortBy = SortBy.CREATED_AT,
    sort_order: SortOrder = SortOrder.DESC,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    watch: Watch = False,
    last_event_id: LastEventId = None,
) -> InstanceList | EventStream:
    """List instances: filters combine, `total` counts every match. With `watch=true`:
    the matching instances and their changes as server-sent events (no sort or page)."""
    query = mapping.ListQuery(
        frozenset(scope), frozenset(status), parent_id, root_only, sort_by, sort_order, skip, limit
    )
    if watch:
        filtered = scope or status or parent_id is not None or root_only
        where = (lambda obj: mapping.matches(mapping.Row.of(obj), query)) if filtered else None
        return await _stream(request, store, where, single=False, last_event_id=last_event_id)
    return await service.page(store, request.state.namespace, query)


async def get_instance(
    *,
    id: str,
    request: Request,
    response: Response,
    store: StoreDep,
    _: Annotated[str, Depends(requires_read("get"))],
    watch: Watch = False,
    last_event_id: LastEventId = None,
) -> Instance | EventStream:
    """One instance; its ETag is its resourceVersion (for If-Match on PUT). With
    `watch=true`: it and its changes as server-sent events, until it is deleted."""
    obj = await _read(store, request, id)
    if watch:
        where = lambda seen: seen["metadata"]["name"] == id  # noqa: E731
        return await _stream(request, store, where, single=True, last_event_id=last_event_id)
    return _answer(response, obj)


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
    await service.delete(store, request.state.namespace, id, user=user, purge=purge)
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
    return await service.hierarchy(store, request.state.namespace, id)


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
        done, arrived = await service.act(
            store,
            request.state.namespace,
            id,
            Verb(verb.value),
            user=user,
            wait=wait,
            within=within,
        )
        return _answer(response, done, arrived)

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
        routes.add_api_route(path, list_instances, methods=["GET"], include_in_schema=shown,
                             response_model=InstanceList, responses=STREAMED)  # fmt: skip
    routes.add_api_route(
        "/{id}", get_instance, methods=["GET"], response_model=Instance, responses=STREAMED
    )
    routes.add_api_route("/{id}", update_instance, methods=["PUT"])
    routes.add_api_route("/{id}", delete_instance, methods=["DELETE"], status_code=204)
    routes.add_api_route("/{id}/children", list_children, methods=["GET"])
    routes.add_api_route("/{id}/hierarchy", get_hierarchy, methods=["GET"])
    routes.add_api_route("/{id}/status", get_status, methods=["GET"])
    for verb in Verb:
        routes.add_api_route(f"/{{id}}/{verb.value}", _verb_route(verb), methods=["POST"])
    return routes
