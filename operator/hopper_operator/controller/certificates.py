"""The webhook server's certificate: one for every replica, kept in a Secret.

Every replica serves admission, leader or not, so none may wait for an election to get a
certificate: whichever replica finds the Secret missing creates it (a create is atomic: the
others read the winner's), and whichever finds it due renews it with a resourceVersion
precondition (one wins, the others read). The serving certificate is signed by a CA kept in
the same Secret, so a renewal leaves the CA in the webhook configurations' caBundle as it
is: the API server trusts the old and the new certificate alike while replicas reload.

With cert-manager (`manage=False`) the Secret is cert-manager's and the caBundle its
cainjector's: the replicas only read and reload.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hopper_operator.controller.settings import WebhookSettings
from hopper_operator.kube.client import ConflictError, Kube, KubeError, NotFoundError
from hopper_operator.kube.tls import KeyPair, issue, load_into, renewal_due, server_context
from hopper_operator.kube.versions import guarded

logger = logging.getLogger(__name__)

CA_VALIDITY = timedelta(days=3650)
RENEW_BEFORE = 1 / 3  # of the lifetime: renewed with a third left, as cert-manager does
CONFIGURATIONS = (
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _secret_data(secret: Mapping[str, object]) -> dict[str, bytes]:
    data = secret.get("data")
    items = data.items() if isinstance(data, Mapping) else ()
    return {str(k): base64.b64decode(str(v)) for k, v in items}


class CertificateKeeper:
    """Reads the shared certificate into this replica's TLS context, and (when managing)
    creates, renews and publishes it."""

    def __init__(self, kube: Kube, settings: WebhookSettings, namespace: str) -> None:
        self.kube, self.settings = kube, settings
        self.path = f"/api/v1/namespaces/{namespace}/secrets/{settings.secret}"
        self._collection = f"/api/v1/namespaces/{namespace}/secrets"
        self._version = ""  # of the Secret last read: the precondition of a renewal
        self.context: ssl.SSLContext = server_context()
        self.loaded: bytes | None = None  # the serving certificate now presented

    async def refresh(self) -> None:
        """One round: read (create, renew) the Secret, load a new certificate, publish the CA."""
        data = await self._read()
        if data is None:
            return
        if self.settings.manage and self._due(data):
            data = await self._renew(data)
            if data is None:
                return
        if data["tls.crt"] != self.loaded:
            load_into(self.context, KeyPair(data["tls.crt"], data["tls.key"]))
            logger.info("Webhook server: serving the certificate of Secret %s", self.path)
            self.loaded = data["tls.crt"]
        if self.settings.manage:
            for collection in CONFIGURATIONS:
                await self._publish(collection, data["ca.crt"])

    async def keep(self) -> None:
        """Refresh forever; an API error waits for the next round (the last certificate
        stays loaded, and one that can no longer be renewed is still valid for a third of
        its life)."""
        while True:
            try:
                await self.refresh()
            except (KubeError, OSError, ValueError) as error:
                logger.warning("Webhook certificate: %s", error)
            await asyncio.sleep(self.settings.check_interval)

    def _due(self, data: dict[str, bytes]) -> bool:
        now = datetime.now(UTC)
        return any(k not in data for k in ("ca.crt", "ca.key", "tls.key")) or renewal_due(
            data.get("tls.crt", b""),
            now=now,
            renew_before=self.settings.validity * RENEW_BEFORE,
            hosts=self.settings.hosts,
        )

    async def _read(self) -> dict[str, bytes] | None:
        try:
            secret = await self.kube.request("GET", self.path)
        except NotFoundError:
            if not self.settings.manage:
                logger.info("Webhook certificate: waiting for Secret %s", self.path)
                return None
            created = await self._create()
            if created is not None:
                return created
            # Another replica created it a moment before us: read theirs now, rather than
            # serve nothing until the next round.
            secret = await self.kube.request("GET", self.path)
        self._version = secret["metadata"]["resourceVersion"]
        data = _secret_data(secret)
        if self.settings.manage or ("tls.crt" in data and "tls.key" in data):
            return data  # managed and incomplete: found due, and renewed
        return None

    def _issue(self, ca: KeyPair | None) -> dict[str, bytes]:
        ca = ca or issue("hopper-operator-webhook-ca", validity=CA_VALIDITY)
        serving = issue(
            self.settings.hosts[0],
            hosts=self.settings.hosts,
            validity=self.settings.validity,
            issuer=ca,
        )
        return {
            "ca.crt": ca.cert,
            "ca.key": ca.key,
            "tls.crt": serving.cert,
            "tls.key": serving.key,
        }

    def _body(self, data: dict[str, bytes]) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": self.settings.secret},
            "data": {k: _b64(v) for k, v in data.items()},
        }

    async def _create(self) -> dict[str, bytes] | None:
        data = self._issue(None)
        try:
            await self.kube.create(self._collection, self._body(data))
        except ConflictError:
            return None  # another replica was first
        logger.info("Webhook certificate: created Secret %s", self.path)
        return data

    async def _renew(self, data: dict[str, bytes]) -> dict[str, bytes] | None:
        ca = KeyPair(data["ca.crt"], data["ca.key"]) if "ca.key" in data else None
        renewed = self._issue(ca)
        body = guarded(self._body(renewed), self._version)
        try:
            await self.kube.request("PUT", self.path, body=body)
        except ConflictError:
            return None  # another replica renewed it: read theirs next round
        logger.info("Webhook certificate: renewed Secret %s", self.path)
        return renewed

    async def _publish(self, collection: str, ca: bytes) -> None:
        """Put the CA into every webhook of the configuration, if it is not there yet."""
        path = f"{collection}/{self.settings.configuration}"
        try:
            configuration = await self.kube.request("GET", path)
        except NotFoundError:
            return  # not installed (a local run): nothing calls us through it
        bundle, stale = _b64(ca), False
        for webhook in configuration.get("webhooks") or ():
            client = webhook.setdefault("clientConfig", {})
            if client.get("caBundle") != bundle:
                client["caBundle"], stale = bundle, True
        if not stale:
            return
        try:
            await self.kube.request("PUT", path, body=configuration)
        except ConflictError:
            return  # changed meanwhile: judged again next round
        logger.info("Webhook certificate: CA published in %s", path)
