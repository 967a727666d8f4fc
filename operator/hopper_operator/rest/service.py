"""What the Instance API does, once the caller is known and allowed: the functions the REST
routes and the MCP tools both call, so that a refusal reads the same from every face.

Each takes the store and the namespace, and raises `ApiError` or `InvalidError` with the
original's message; HTTP (status codes, ETags, headers) is the routes' business."""

from __future__ import annotations

import logging

from hopper_operator.api.enums import Phase, Scope
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.core.verbs import Verb
from hopper_operator.kube.client import ConflictError, NotFoundError
from hopper_operator.rest import lifecycle, mapping
from hopper_operator.rest.errors import ApiError, InvalidError
from hopper_operator.rest.schemas import FieldError, Hierarchy, InstanceCreate, InstanceList
from hopper_operator.rest.store import Store

logger = logging.getLogger(__name__)


async def read(store: Store, namespace: str, name: str, *, fresh: bool = False) -> mapping.Object:
    """The instance, from the cache; `fresh` (for a write): from the API server."""
    try:
        if fresh:
            return await store.get(namespace, name)
        return await store.read(namespace, name)
    except NotFoundError:
        raise ApiError(404, f"Instance {name} not found") from None


async def create(
    store: Store, namespace: str, body: InstanceCreate, *, user: str, field: str = "body"
) -> mapping.Object:
    """Create an instance, `created` and not started; `field`: how the caller's input is
    named in a refusal (`body` over REST)."""
    if body.parent_id:
        try:
            parent = await store.get(namespace, body.parent_id)
        except NotFoundError:
            raise ApiError(404, f"Parent instance {body.parent_id} not found") from None
        problem = parent_scope_error(body.scope, Scope(parent["spec"]["scope"]))
        if problem:
            where = f"{field} -> parent_id"
            raise InvalidError([FieldError(field=where, message=problem, type="parent_scope")])
    name = body.id or mapping.new_id(body.scope)
    try:
        created = await store.create(namespace, mapping.to_manifest(body, name=name, caller=user))
    except ConflictError:
        raise ApiError(409, f"Instance {name} already exists") from None
    logger.info("%s created instance %s/%s", user, namespace, name)
    return created


async def page(store: Store, namespace: str, query: mapping.ListQuery) -> InstanceList:
    return mapping.page(await store.list(namespace), query)


async def hierarchy(store: Store, namespace: str, name: str) -> Hierarchy:
    root = await read(store, namespace, name)
    tree, total = mapping.hierarchy(root, await store.list(namespace))
    return Hierarchy(root=tree, total_instances=total)


async def act(
    store: Store, namespace: str, name: str, verb: Verb, *, user: str, wait: bool,
    within: float,
) -> tuple[mapping.Object, bool]:  # fmt: skip
    """Carry out `verb`: the instance, and whether it was done within `within` seconds (a
    stalled instance: ApiError 409 with the Stalled message, at once)."""
    obj = await read(store, namespace, name, fresh=True)
    logger.info("%s: %s instance %s/%s", user, verb.value, namespace, name)
    return await lifecycle.perform(store, obj, verb, wait=wait, within=within)


async def delete(store: Store, namespace: str, name: str, *, user: str, purge: bool) -> None:
    """The original's soft delete: terminate and keep; `purge` removes the object."""
    obj = await read(store, namespace, name, fresh=True)
    children = mapping.children_of(await store.list(namespace), name)
    refused = lifecycle.delete_refusal(obj, len(children))
    if refused:
        raise ApiError(*refused)
    if mapping.phase_of(obj) is not Phase.TERMINATED:
        await lifecycle.perform(store, obj, Verb.TERMINATE, wait=False, within=1)
    if purge:
        await store.delete(namespace, name, uid=obj["metadata"]["uid"])
    logger.info("%s deleted instance %s/%s (purge: %s)", user, namespace, name, purge)
