"""A thin async REST client: one aiohttp session, the credentials Kopf logs in with.

The operator reads through watches (Kopf) and only writes here, so the wrapper speaks raw
JSON paths: no generated model classes are built per request, and every write is one
request with exactly the body we mean.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import kopf

from hopper_operator.api.meta import MANAGER

USER_AGENT = "hopper-operator/0.1"

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class KubeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        # Seconds the server asked us to wait (429 and some 5xx carry Retry-After).
        self.retry_after = retry_after
        # The Status' `reason` and `details` (a 422's causes name the refused fields).
        self.reason = str((details or {}).get("reason") or "")
        self.details: Mapping[str, Any] = (details or {}).get("details") or {}


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    """A resourceVersion precondition failed: the object changed since we read it."""


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """The API server as the kubelet announces it to every pod, as client-go reads it.

    Kopf's in-cluster login names https://kubernetes.default.svc, which needs the
    cluster's DNS; these variables need nothing (and DNS may be down, or absent).
    """
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class WriteRefusedError(Exception):
    """A write was refused here, before any request: this replica is not sure it leads."""


READ_METHODS = frozenset({"GET", "HEAD"})


def connection_info() -> kopf.ConnectionInfo:
    """In-cluster credentials when running in a pod, the kubeconfig otherwise.

    Kopf's own readers of both, called when asked (not once at import time), and the same
    for Kopf's watches (controller.handlers registers this as its login) and our writes.
    """
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings)
    if info is not None:
        server = in_cluster_server(os.environ)
        return info if server is None else dataclasses.replace(info, server=server)
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no ServiceAccount token and no kubeconfig to log in with")
    return info


class Kube:
    """One connection pool. `identity` goes into the User-Agent, so that the API server's
    audit log tells which replica wrote what; `may_write`, checked before every request
    that is not a read, refuses writes while it says no (a replica not sure it leads)."""

    def __init__(
        self,
        login: Callable[[], kopf.ConnectionInfo] = connection_info,
        *,
        identity: str = "",
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self._login = login
        self._user_agent = f"{USER_AGENT} ({identity})" if identity else USER_AGENT
        self._may_write = may_write
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._headers: dict[str, str] = {}
        self._proxy: str | None = None

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _connect(self) -> aiohttp.ClientSession:
        info = self._login()
        self._server, self._proxy = info.server.rstrip("/"), info.proxy_url
        self._headers = {**info.as_http_headers(), "User-Agent": self._user_agent}
        if self._session is None:
            # trust_env off: with it, aiohttp reads ~/.netrc and looks up proxy variables
            # on worker threads for every request (measured: a fifth of the operator's CPU).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()), trust_env=False
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        if method not in READ_METHODS and self._may_write is not None and not self._may_write():
            raise WriteRefusedError(f"{method} {path}: not the leader")
        session = self._session or self._connect()
        for attempt in range(2):
            headers = {**self._headers, "Content-Type": content_type, "Accept": "application/json"}
            async with session.request(
                method,
                f"{self._server}{path}",
                params=query,
                headers=headers,
                data=None if body is None else json.dumps(body),
                proxy=self._proxy,
            ) as response:
                raw, status = await response.read(), response.status
                retry_after = response.headers.get("Retry-After")
            if status == 401 and attempt == 0:
                self._connect()  # a rotated token: read the credentials again, once
                continue
            break
        payload: dict[str, Any] = json.loads(raw) if raw else {}
        if status >= 400:
            raise _error(status, payload, retry_after)
        return payload

    async def watch(self, path: str, query: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The events of a watch on `path` (`watch=1` added), until the server ends it."""
        session = self._session or self._connect()
        headers = {**self._headers, "Accept": "application/json"}
        # No read timeout: a watch is quiet until something changes; `timeoutSeconds` in
        # the query (or the caller's own deadline) bounds it.
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with session.get(
            f"{self._server}{path}",
            params={**query, "watch": "1"},
            headers=headers,
            proxy=self._proxy,
            timeout=timeout,
        ) as response:
            if response.status >= 400:
                raw = await response.read()
                payload = json.loads(raw) if raw else {}
                raise _error(response.status, payload, response.headers.get("Retry-After"))
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def apply(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply: create or update in one request, owning only our fields."""
        query = {"fieldManager": MANAGER, "force": "true"}
        return await self.request("PATCH", path, body=body, content_type=APPLY_PATCH, query=query)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def delete(self, path: str, *, propagation: str = "Background") -> None:
        """Delete, treating an object already gone as deleted."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        with contextlib.suppress(NotFoundError):
            await self.request("DELETE", path, body=body)


def _error(status: int, payload: Mapping[str, Any], retry_after: str | None) -> KubeError:
    message = str(payload.get("message") or payload)
    if status == 404:
        return NotFoundError(status, message, details=payload)
    if status == 409:
        return ConflictError(status, message, details=payload)
    return KubeError(status, message, _seconds(retry_after), details=payload)


def _seconds(retry_after: str | None) -> float | None:
    # The API server sends delta-seconds, never an HTTP date.
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None
