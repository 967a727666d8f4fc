"""Sends rendered requests in order and hands back what the API server wrote.

It decides nothing: which writes to make was settled by `decide`, how to spell them by
`render`. Its only judgement is the one the API server gives: a refused precondition
(409) stops the pass, unless the request names a fallback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hopper_operator.kube.client import ConflictError
from hopper_operator.kube.versions import guarded, resource_version
from hopper_operator.resources.patches import JsonMapping
from hopper_operator.resources.render import Method, Request, Requests, Target

logger = logging.getLogger(__name__)

# The last response for each object written, e.g. the instance after its status patch.
Written = dict[Target, JsonMapping]


class Writer(Protocol):
    """The writes of `kube.client.Kube`: what the executor needs of a client."""

    async def create(self, path: str, body: JsonMapping) -> JsonMapping: ...

    async def merge_patch(self, path: str, body: JsonMapping) -> JsonMapping: ...

    async def apply(self, path: str, body: JsonMapping) -> JsonMapping: ...

    async def delete(self, path: str, *, preconditions: JsonMapping | None = None) -> None: ...


@dataclass
class Executor:
    kube: Writer
    _posting: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, requests: Requests) -> Written:
        written: Written = {}
        for request in requests.writes:
            body = _guarded(request, written)
            result = await self._send(request, body)
            if result is not None:
                written[request.target] = result
        for note in requests.events:
            # Events are a record, not a step: post them beside the walk, not in its way.
            task = asyncio.create_task(self._post(note))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        return written

    async def drain(self) -> None:
        """Let Events still being posted finish (at shutdown)."""
        await asyncio.gather(*self._posting, return_exceptions=True)

    async def _send(self, request: Request, body: JsonMapping | None) -> JsonMapping | None:
        """Send `request` with `body` (its guarded body); on 409, its fallback as it is."""
        try:
            return await self._call(request.method, request.path, body)
        except ConflictError:
            fallback = request.fallback
            if fallback is None:
                raise
            return await self._call(fallback.method, fallback.path, fallback.body)

    async def _call(
        self, method: Method, path: str, body: JsonMapping | None
    ) -> JsonMapping | None:
        if method is Method.DELETE:
            preconditions = (body or {}).get("preconditions")
            await self.kube.delete(
                path, preconditions=preconditions if isinstance(preconditions, Mapping) else None
            )
            return None
        send = {
            Method.CREATE: self.kube.create,
            Method.MERGE_PATCH: self.kube.merge_patch,
            Method.APPLY: self.kube.apply,
        }[method]
        return await send(path, body or {})

    async def _post(self, request: Request) -> None:
        try:
            await self._call(request.method, request.path, request.body)
        except Exception as error:  # an Event is a courtesy: never fail a step over one
            logger.warning("could not post Event at %s: %r", request.path, error)


def _guarded(request: Request, written: Written) -> JsonMapping | None:
    """The body with its precondition: the version decided from, or our own last write."""
    body = request.body
    if request.precondition is None or body is None:
        return body
    version = request.precondition
    if request.target in written:
        version = resource_version(written[request.target])
    if request.method is Method.DELETE:  # DeleteOptions carry it among their preconditions
        preconditions = body.get("preconditions")
        held = preconditions if isinstance(preconditions, Mapping) else {}
        return {**body, "preconditions": {**held, "resourceVersion": version}}
    return guarded(body, version)
