"""Carry out a lifecycle verb: judge it against the observed phase, ask for it with one
write onto the version judged, then wait for the operator to get there."""

from __future__ import annotations

import logging

from hopper_operator.api.meta import restart_token
from hopper_operator.kube.client import ConflictError
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.mapping import Object, phase_of
from hopper_operator.rest.store import Store
from hopper_operator.rest.verbs import Answer, Verb, arrived, intent, judge, refusal

logger = logging.getLogger(__name__)

ATTEMPTS = 3  # judged afresh when the object changed between the read and the write


async def carry_out(
    store: Store, obj: Object, verb: Verb, *, wait: bool, within: float
) -> tuple[Object, bool]:
    """The instance after `verb`, and whether it got there within `within` seconds (False:
    202, still on its way).

    The write carries the resourceVersion the verdict was made on, so a concurrent change
    (another client's verb) cannot slip between; it is judged again on the newer object.
    """
    token = restart_token()
    meta = obj["metadata"]
    for _ in range(ATTEMPTS):
        answer = judge(verb, phase_of(obj))
        if answer is not Answer.PROCEED:
            raise ApiError(answer, refusal(verb, meta["name"], phase_of(obj)))
        try:
            obj = await store.patch(
                meta["namespace"], meta["name"], intent(verb, token),
                version=obj["metadata"]["resourceVersion"],
            )  # fmt: skip
            break
        except ConflictError:
            obj = await store.get(meta["namespace"], meta["name"])
    else:
        raise ApiError(409, f"Instance {meta['name']} keeps changing; retry")
    if not wait:
        return obj, arrived(verb, obj, token)
    return await store.wait(obj, lambda seen: arrived(verb, seen, token), within)
