"""The shared webhook certificate: a replica that loses the race to create it serves the
winner's at once (readiness waits for a loaded certificate; a replica reached without a
Service in front of it would otherwise present none until its next round)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from hopper_operator.controller.certificates import CertificateKeeper
from hopper_operator.controller.settings import WebhookSettings
from hopper_operator.kube.client import ConflictError, NotFoundError
from hopper_operator.kube.tls import issue


class SecretCreatedMeanwhile:
    """The API as the loser sees it: no Secret at its first read, then the winner's."""

    def __init__(self, winners: dict[str, Any]) -> None:
        self.winners = winners
        self.reads = 0

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if "webhookconfigurations" in path:
            raise NotFoundError(404, "not installed")
        self.reads += 1
        if self.reads == 1:
            raise NotFoundError(404, "secrets not found")
        return self.winners

    async def create(self, path: str, body: Any) -> dict[str, Any]:
        raise ConflictError(409, "already exists")


async def test_the_loser_of_the_create_serves_the_winners_certificate_at_once() -> None:
    settings = WebhookSettings(validity=timedelta(days=30))
    ca = issue("winner-ca", validity=timedelta(days=3650))
    serving = issue("localhost", hosts=settings.hosts, validity=settings.validity, issuer=ca)
    data = {"ca.crt": ca.cert, "ca.key": ca.key, "tls.crt": serving.cert, "tls.key": serving.key}
    winners = {
        "metadata": {"resourceVersion": "7"},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    api = SecretCreatedMeanwhile(winners)
    keeper = CertificateKeeper(api, settings, "hopper-system")  # type: ignore[arg-type]

    await keeper.refresh()  # one round

    assert keeper.loaded == serving.cert  # the winner's, not a certificate of its own
    assert api.reads == 2
