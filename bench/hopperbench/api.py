"""A small aiohttp client for the local control plane, as its admin user."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from hopper_operator.api.meta import API_VERSION, PLURAL

MERGE_PATCH = "application/merge-patch+json"
RETRIED_STATUSES = (429, 500, 502, 503, 504)
ATTEMPTS = 5
GROUP_PATH = f"/apis/{API_VERSION}"


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:300]}")
        self.status = status


def instances_path(namespace: str, name: str = "") -> str:
    base = f"{GROUP_PATH}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


def tls_from_kubeconfig(kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    """(server URL, TLS context with the client certificate) of the current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(str(cert), str(key))
    return cluster["server"], context


class Api:
    """JSON requests with retries on overload; one connection pool per user agent."""

    def __init__(self, server: str, tls: ssl.SSLContext, user_agent: str, pool: int) -> None:
        self._server = server
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=tls, limit=pool),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            read_bufsize=2**20,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """Send; retry on overload; raise ApiError on failure unless the status is in `ok`."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type}
        for attempt in range(1, ATTEMPTS + 1):
            async with self._session.request(
                method,
                self._server + path,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as response:
                text = await response.text()
                if response.status < 400 or response.status in ok:
                    return json.loads(text) if text else {}
                if response.status not in RETRIED_STATUSES or attempt == ATTEMPTS:
                    raise ApiError(method, path, response.status, text)
            await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body, MERGE_PATCH)

    async def stream(self, path: str) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, decoded, until the server ends it."""
        async with self._session.get(
            self._server + path, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
        ) as response:
            if response.status != 200:
                raise ApiError("GET", path, response.status, await response.text())
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
