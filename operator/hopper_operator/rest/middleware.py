"""Around every request: a request id, the 1 MiB body limit, the metrics, and a 500 with
nothing internal in it for whatever escaped every handler."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopper_operator.rest.metrics import ApiMetrics

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # 1 MiB: far above any instance the API server would store


class Guard:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started, answered = time.perf_counter(), [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            if _declared_length(scope) > MAX_BODY:
                await _reply(sending, 413, {"detail": _TOO_LARGE})
            else:
                await self.app(scope, _limited(receive), sending)
        except Exception as error:
            logger.error("request %s failed: %r", request_id, error, exc_info=error)
            if not answered[0]:
                detail = f"Internal server error (request id {request_id})"
                await _reply(sending, 500, {"detail": detail})
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - started
            self.metrics.observe(path, scope["method"], answered[0] or 500, seconds)


_TOO_LARGE = f"Request body too large: at most {MAX_BODY} bytes"


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _limited(receive: Receive) -> Receive:
    """A chunked body has no Content-Length to refuse early: count it as it arrives."""
    received = [0]

    async def receiving() -> Message:
        message = await receive()
        received[0] += len(message.get("body", b""))
        if received[0] > MAX_BODY:
            raise HTTPException(413, _TOO_LARGE)
        return message

    return receiving


async def _reply(send: Send, status: int, body: Mapping[str, str]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
