"""A thin async REST client: one aiohttp session, the credentials Kopf logs in with
(kube.login's, shared: fetched once for Kopf's watches and every `Kube`).

The reconciler reads through Kopf's watches and writes here; the leader election, the
certificates, the readiness probe, the metrics reviews and the REST API read, watch and
write through it too. It speaks raw JSON paths: no generated model classes are built per
request, and every write is one request with exactly the body we mean.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, TypedDict, cast

import aiohttp
import kopf

from hopper_operator.api.meta import MANAGER
from hopper_operator.kube.login import Credentials, shared_credentials

# Re-exported: the REST layer and others find the login here, beside the client.
from hopper_operator.kube.login import connection_info as connection_info  # noqa: PLC0414

USER_AGENT = "hopper-operator/0.1"

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class StatusCause(TypedDict, total=False):
    """One refused field of a Status' details (a 422 names each)."""

    reason: str
    message: str
    field: str


class StatusDetails(TypedDict, total=False):
    name: str
    group: str
    kind: str
    causes: list[StatusCause]


class Status(TypedDict, total=False):
    """The API server's answer to a failed request (the fields read here)."""

    message: str
    reason: str
    details: StatusDetails


class KubeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        details: Status | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        # Seconds the server asked us to wait (429 and some 5xx carry Retry-After).
        self.retry_after = retry_after
        # The Status' `reason` and `details` (a 422's causes name the refused fields).
        self.reason = str((details or {}).get("reason") or "")
        self.details: StatusDetails = (details or {}).get("details") or {}


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    """A resourceVersion precondition failed: the object changed since we read it."""


# Failures of the API or of the way to it, worth another try: the one definition, for the
# reconciler and the leader election alike.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    KubeError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)


class WriteRefusedError(Exception):
    """A write was refused here, before any request: this replica is not sure it leads."""


READ_METHODS = frozenset({"GET", "HEAD"})


class Kube:
    """One connection pool. `identity` goes into the User-Agent, so that the API server's
    audit log tells which replica wrote what; `may_write`, checked before every request
    that is not a read, refuses writes while it says no (a replica not sure it leads)."""

    def __init__(
        self,
        login: Callable[[], kopf.ConnectionInfo] | None = None,
        *,
        identity: str = "",
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        """`login`: where credentials come from; default: the process's shared ones."""
        self._credentials = shared_credentials() if login is None else Credentials(login)
        self._user_agent = f"{USER_AGENT} ({identity})" if identity else USER_AGENT
        self._may_write = may_write
        self._session: aiohttp.ClientSession | None = None
        self._info: kopf.ConnectionInfo | None = None
        self._server = ""
        self._headers: dict[str, str] = {"User-Agent": self._user_agent}
        self._proxy: str | None = None
        self._ssl: ssl.SSLContext | None = None

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

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env off: with it, aiohttp reads ~/.netrc and looks up proxy variables
            # on worker threads for every request (measured: a fifth of the operator's CPU).
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def _login(self, *, failed: kopf.ConnectionInfo | None = None) -> kopf.ConnectionInfo:
        """The current credentials; new ones if `failed` (refused with 401) still is."""
        info = await self._credentials.get(failed=failed)
        if info is not self._info:
            if self._ssl is None or _tls(info) != _tls(self._info):
                # A new pool key: connections with the old client certificate are not reused.
                self._ssl = info.as_ssl_context()
            self._info, self._server, self._proxy = info, info.server.rstrip("/"), info.proxy_url
            self._headers = {**info.as_http_headers(), "User-Agent": self._user_agent}
        return info

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        if method not in READ_METHODS and self._may_write is not None and not self._may_write():
            raise WriteRefusedError(f"{method} {path}: not the leader")
        self._open()
        data = None if body is None else json.dumps(body)
        info = await self._login()
        status, raw, retry_after = await self._send(method, path, data, content_type, query)
        # 401: expired or revoked (a rotated token, a plugin's credential): log in again and
        # retry once. The same credentials again mean a refusal no retry here can cure.
        if status == 401 and await self._login(failed=info) != info:
            status, raw, retry_after = await self._send(method, path, data, content_type, query)
        payload: dict[str, Any] = json.loads(raw) if raw else {}
        if status >= 400:
            raise _error(status, cast(Status, payload), retry_after)
        return payload

    async def _send(
        self,
        method: str,
        path: str,
        data: str | None,
        content_type: str,
        query: Mapping[str, str] | None,
    ) -> tuple[int, bytes, str | None]:
        assert self._session is not None
        headers = {**self._headers, "Content-Type": content_type, "Accept": "application/json"}
        async with self._session.request(
            method,
            f"{self._server}{path}",
            params=query,
            headers=headers,
            data=data,
            proxy=self._proxy,
            ssl=self._ssl if self._ssl is not None else True,
        ) as response:
            return response.status, await response.read(), response.headers.get("Retry-After")

    async def watch(
        self, path: str, query: Mapping[str, str], *, opened: Callable[[], None] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of a watch on `path` (`watch=1` added), until the server ends it;
        `opened` is called once the server has accepted it (a quiet watch sends nothing)."""
        session = self._open()
        # No read timeout: a watch is quiet until something changes; `timeoutSeconds` in
        # the query (or the caller's own deadline) bounds it.
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        info = await self._login()
        for attempt in range(2):
            async with session.get(
                f"{self._server}{path}",
                params={**query, "watch": "1"},
                headers={**self._headers, "Accept": "application/json"},
                proxy=self._proxy,
                timeout=timeout,
                ssl=self._ssl if self._ssl is not None else True,
            ) as response:
                # A 401 at the start: log in again once, as a request does.
                if (
                    response.status == 401
                    and attempt == 0
                    and await self._login(failed=info) != info
                ):
                    continue
                if response.status >= 400:
                    raw = await response.read()
                    payload = cast(Status, json.loads(raw) if raw else {})
                    raise _error(response.status, payload, response.headers.get("Retry-After"))
                if opened is not None:
                    opened()
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
                return

    async def merge_patch(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def apply(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        """Server-side apply: create or update in one request, owning only our fields."""
        query = {"fieldManager": MANAGER, "force": "true"}
        return await self.request("PATCH", path, body=body, content_type=APPLY_PATCH, query=query)

    async def create(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def delete(
        self,
        path: str,
        *,
        propagation: str = "Background",
        preconditions: Mapping[str, object] | None = None,
    ) -> None:
        """Delete, treating an object already gone as deleted; `preconditions` (uid,
        resourceVersion): only that object, in that version (409 otherwise)."""
        body: dict[str, object] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if preconditions:
            body["preconditions"] = dict(preconditions)
        with contextlib.suppress(NotFoundError):
            await self.request("DELETE", path, body=body)


def _tls(info: kopf.ConnectionInfo | None) -> tuple[object, ...]:
    """What the TLS connection is made of: the CA, the client certificate and key."""
    if info is None:
        return ()
    return (
        info.ca_path,
        info.ca_data,
        info.insecure,
        info.certificate_path,
        info.certificate_data,
        info.private_key_path,
        info.private_key_data,
    )


def _error(status: int, payload: Status, retry_after: str | None) -> KubeError:
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
