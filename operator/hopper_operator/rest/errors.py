"""Errors in the original's shapes: `{"detail": ...}` for 4xx, the ValidationError body for
422 (the API server's schema and CEL refusals included, with the fields they name), a
request id and nothing internal for 5xx, 503 + Retry-After when the API server is away."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict

import aiohttp
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hopper_operator.kube.client import KubeError
from hopper_operator.rest.schemas import FieldError, ValidationErrorBody

logger = logging.getLogger(__name__)

RETRY_AFTER = 2  # seconds, when the API server gave no Retry-After of its own

# spec (and metadata) fields -> the original's body fields.
_FIELDS = {
    "metadata.name": "id",
    "metadata.annotations": "runtime_metadata",
    "spec.displayName": "name",
    "spec.parentRef": "parent_id",
    "spec.instanceType": "instance_type",
    "spec.state": "status",
    "spec": "",
}


class Cause(TypedDict, total=False):
    """One cause of the API server's 422 (a metav1.StatusCause)."""

    field: str
    message: str
    reason: str


class ApiError(Exception):
    """A 4xx with the original's `{"detail": ...}` body."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, dict(headers or {})


class InvalidError(Exception):
    """A 422 in the ValidationError shape."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


def body_field(path: str) -> str:
    """`spec.displayName` -> `body -> name`; `spec.config.a` -> `body -> config -> a`."""
    for prefix, name in sorted(_FIELDS.items(), key=lambda item: -len(item[0])):
        if path == prefix or path.startswith(prefix + "."):
            rest = path[len(prefix) + 1 :].split(".") if path != prefix else []
            if prefix == "spec.parentRef":
                rest = []  # parentRef.name is the one parent_id
            return " -> ".join(["body", *([name] if name else []), *rest])
    parts = path.removeprefix("spec.").split(".") if path else []
    return " -> ".join(["body", *parts])


def refused_fields(error: KubeError) -> list[FieldError]:
    """The causes of the API server's 422 (schema, CEL), as the original's errors."""
    causes: Iterable[Cause] = error.details.get("causes") or ()
    found = [
        FieldError(
            field=body_field(str(cause.get("field") or "")),
            message=str(cause.get("message") or ""),
            type=str(cause.get("reason") or "FieldValueInvalid"),
        )
        for cause in causes
    ]
    return found or [FieldError(field="body", message=error.message, type="Invalid")]


UNAVAILABLE = "The Kubernetes API server cannot be reached now; retry later."


def retry_after(error: KubeError | None = None) -> int:
    return int(error.retry_after if error and error.retry_after else RETRY_AFTER)


def unavailable(error: KubeError | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(retry_after(error))},
    )


def internal(request: Request, error: BaseException) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "")
    logger.error("request %s failed: %r", request_id, error, exc_info=error)
    return JSONResponse(
        {"detail": f"Internal server error (request id {request_id})"},
        status_code=500,
    )


def expected(error: KubeError) -> ApiError | InvalidError | None:
    """A KubeError no route expected, as what the caller is told: refused input (422), the
    server away (503), gone (404), changed (409); None: our own fault."""
    if error.status == 422:
        return InvalidError(refused_fields(error))
    if error.status == 429 or error.status >= 500:
        return ApiError(503, UNAVAILABLE, {"Retry-After": str(retry_after(error))})
    if error.status == 404:
        return ApiError(404, "Instance not found")
    if error.status == 409:
        return ApiError(409, "The instance changed meanwhile; retry")
    # 400, and 401/403 to our own ServiceAccount: a fault here, never the caller's.
    return None


def from_kube(request: Request, error: KubeError) -> JSONResponse:
    told = expected(error)
    if isinstance(told, InvalidError):
        return validation(told.errors)
    if isinstance(told, ApiError):
        return JSONResponse({"detail": told.detail}, told.status, headers=told.headers)
    return internal(request, error)


def validation(errors: Sequence[FieldError]) -> JSONResponse:
    body = ValidationErrorBody(errors=list(errors))
    return JSONResponse(body.model_dump(), status_code=422)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error its shape."""

    async def on_api_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return JSONResponse({"detail": error.detail}, error.status, headers=error.headers)

    async def on_invalid(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidError)
        return validation(error.errors)

    async def on_request_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return validation(
            [
                FieldError(
                    field=" -> ".join(str(part) for part in e["loc"]),
                    message=e["msg"],
                    type=e["type"],
                )
                for e in error.errors()
            ]
        )

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return JSONResponse({"detail": error.detail}, error.status_code, headers=error.headers)

    async def on_kube(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, KubeError)
        return from_kube(request, error)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(InvalidError, on_invalid)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(KubeError, on_kube)

    async def on_unreachable(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "")
        logger.warning("request %s: the API server cannot be reached: %r", request_id, error)
        return unavailable()

    # aiohttp's connection errors are OSErrors too; a refused or reset connection is one.
    for kind in (aiohttp.ClientError, OSError):
        app.add_exception_handler(kind, on_unreachable)
