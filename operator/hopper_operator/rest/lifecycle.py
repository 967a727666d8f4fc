"""Lifecycle requests through the REST face: judged by `core.verbs` on the observed phase,
written as one merge patch onto the version judged, then followed until `core.verbs` says
done or stalled. This module only translates: the original's status codes and the
`{"detail": ...}` bodies."""

from __future__ import annotations

from collections.abc import Callable

from hopper_operator.api.enums import Phase
from hopper_operator.api.meta import restart_token
from hopper_operator.api.wire import Json
from hopper_operator.core.config import deep_merge
from hopper_operator.core.verbs import (
    STOP_BEFORE_DELETE,
    Judgement,
    Progress,
    Verb,
    judge,
    progress_of,
    refusal,
    request,
    stalled_message,
    verb_towards,
)
from hopper_operator.kube.client import ConflictError
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.mapping import Object, body, phase_of
from hopper_operator.rest.store import Store

ATTEMPTS = 3  # judged afresh when the object changed between the read and the write
CODES = {Judgement.NOT_ALLOWED: 400, Judgement.ALREADY: 409}  # the original's


def refuse_unless_allowed(verb: Verb, obj: Object) -> None:
    """A 400 or 409 in the original's words unless `verb` may be asked of `obj` now."""
    judgement = judge(verb, phase_of(obj))
    if judgement is not Judgement.PROCEED:
        raise ApiError(CODES[judgement], refusal(verb, obj["metadata"]["name"], phase_of(obj)))


def _no_fields(_: Object) -> Json:
    return {}


async def write(
    store: Store,
    obj: Object,
    verb: Verb | None,
    token: str,
    *,
    fields: Callable[[Object], Json] = _no_fields,
    attempts: int = ATTEMPTS,
) -> Object:
    """Judge the whole request on `obj`, then write it as one merge patch (`fields(obj)`
    and what `verb` asks for) onto the version judged: a refused request writes nothing,
    and a concurrent change (another client's verb) cannot slip between the verdict and
    the write. On a conflict it is judged again on the newer object, `attempts` times in
    all; then the ConflictError is the caller's to answer."""
    for _ in range(attempts - 1):
        try:
            return await _write_once(store, obj, verb, token, fields(obj))
        except ConflictError:
            obj = await store.get(obj["metadata"]["namespace"], obj["metadata"]["name"])
    return await _write_once(store, obj, verb, token, fields(obj))


async def _write_once(
    store: Store, obj: Object, verb: Verb | None, token: str, patch: Json
) -> Object:
    if verb is not None:
        refuse_unless_allowed(verb, obj)
        patch = deep_merge(patch, request(verb, token))
    if not patch:
        return obj
    meta = obj["metadata"]
    return await store.patch(
        meta["namespace"], meta["name"], patch, version=meta["resourceVersion"]
    )


async def follow(
    store: Store, obj: Object, verb: Verb, token: str, *, wait: bool, within: float
) -> tuple[Object, bool]:
    """The instance once `verb` (asked with `token`) is done, and whether it was done
    within `within` seconds (False: a 202, still on its way; or `wait` is False). A
    stalled instance will not get there by itself: a 409 with the Stalled message, at once.
    """

    def judged(seen: Object) -> Progress:
        return progress_of(verb, body(seen), token)

    if not wait:
        return obj, judged(obj) is Progress.DONE
    last, done = await store.wait(obj, lambda seen: judged(seen) is not Progress.UNDERWAY, within)
    if done and judged(last) is Progress.STALLED:
        raise ApiError(409, stalled_message(body(last)))
    return last, done


async def perform(
    store: Store, obj: Object, verb: Verb, *, wait: bool, within: float
) -> tuple[Object, bool]:
    """Ask for `verb` and follow it (see `write` and `follow`)."""
    token = restart_token()
    try:
        obj = await write(store, obj, verb, token)
    except ConflictError:
        raise ApiError(409, f"Instance {obj['metadata']['name']} keeps changing; retry") from None
    return await follow(store, obj, verb, token, wait=wait, within=within)


def delete_refusal(obj: Object, children: int) -> tuple[int, str] | None:
    """Why the original's soft delete refuses, as (status code, detail), or None."""
    if children:
        return (
            422,
            f"Cannot delete instance with {children} child instances. Delete children first.",
        )
    if phase_of(obj) in STOP_BEFORE_DELETE:
        return 400, "Cannot delete running instance. Stop it first."
    return None


def put_verb(target: Phase | None, obj: Object) -> Verb | None:
    """The verb a PUT of status `target` asks for (None: no status in the PUT); a 400 when
    no request can ask for that status."""
    if target is None:
        return None
    verb = verb_towards(target, phase_of(obj))
    if verb is None:
        now = phase_of(obj).value.lower()
        raise ApiError(400, f"Invalid status transition from {now} to {target.value.lower()}")
    return verb
