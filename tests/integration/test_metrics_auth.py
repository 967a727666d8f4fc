"""The metrics endpoint answers only whom the API server authenticates and authorises."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import ROOT, Operator, wait_for

from hopper_localcluster import ControlPlane, free_ports

READER = "hopper-operator-metrics-reader"
# The certificate is self-signed (no --metrics-cert-dir): this test is about who may read,
# so it does not verify the server, as a ServiceMonitor with insecureSkipVerify would not.
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


def reader_role() -> str:
    docs = yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
    (role,) = [d for d in docs if d["metadata"]["name"] == READER]
    return yaml.safe_dump(role)


def scrape(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=UNVERIFIED) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def secure_operator(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[int]:
    (port,) = free_ports(1)
    running = Operator(
        control_plane, namespace, tmp_path / "operator.log", "--metrics-port", str(port)
    )
    running.start()
    try:
        yield port
    finally:
        running.stop()
        print("\n".join(running.log().splitlines()[-100:]))


def test_only_authorised_tokens_read_metrics(
    kubectl: Kubectl, namespace: str, secure_operator: int
) -> None:
    url = f"https://127.0.0.1:{secure_operator}/metrics"
    kubectl("apply", "-f", "-", input=reader_role())
    binding = f"scraper-{uuid.uuid4().hex[:8]}"
    for account in ("scraper", "stranger"):
        kubectl("create", "serviceaccount", account, "-n", namespace)
    kubectl("create", "clusterrolebinding", binding, f"--clusterrole={READER}",
            f"--serviceaccount={namespace}:scraper")  # fmt: skip
    try:
        scraper, stranger = (
            kubectl("create", "token", account, "-n", namespace).stdout.strip()
            for account in ("scraper", "stranger")
        )
        # Up once the endpoint answers at all (an anonymous scrape is refused, not failed).
        wait_for(lambda: _answers(url), timeout=60, what="the metrics endpoint")
        assert scrape(url)[0] == 401  # no token
        assert scrape(url, "not-a-token")[0] == 401  # the API server does not know it
        assert scrape(url, stranger)[0] == 403  # known, but not allowed get /metrics
        # The binding reaches the authorizer through a watch: allow it a moment.
        _, body = wait_for(
            lambda: (answer := scrape(url, scraper))[0] == 200 and answer,
            timeout=30,
            what="the scraper's binding to take effect",
        )
        assert "workqueue_depth" in body and "hopper_instances" in body
        assert scrape(url, stranger)[0] == 403  # still not, from the cache or not
        # Nothing is served in the clear.
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{secure_operator}/metrics", timeout=5)
    finally:
        kubectl("delete", "clusterrolebinding", binding, check=False)


def _answers(url: str) -> bool:
    try:
        return scrape(url)[0] == 401
    except (urllib.error.URLError, ConnectionError):
        return False
