"""`hopper-operator api` as deployed: a process serving HTTPS with its generated
certificate (or one from --cert-dir), its metrics behind the review /metrics has."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import wait_for
from tests.integration.rest_fixtures import BASE, Tokens

from hopper_localcluster import ControlPlane, free_ports


@pytest.fixture
def served(control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path) -> Iterator[str]:
    (port,) = free_ports(1)
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hopper_operator.cli.main", "api", "-n", namespace,
         "--address", "127.0.0.1", "--port", str(port)],
        env=control_plane.env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        print((tmp_path / "api.log").read_text())
    # A clean shutdown on SIGTERM (uvicorn raises the signal again once it has finished).
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in (tmp_path / "api.log").read_text()


def test_the_api_serves_https_and_its_metrics(
    served: str, tokens: Tokens, kubectl: Kubectl, namespace: str
) -> None:
    def up() -> bool:
        try:
            return httpx.get(f"{served}/readyz", verify=False).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=60, what="the API over HTTPS")
    # Plain HTTP to the HTTPS port is refused: the generated certificate is in use.
    with pytest.raises(httpx.TransportError):
        httpx.get(served.replace("https", "http") + "/healthz")
    headers = {"Authorization": f"Bearer {tokens('edit')}"}
    with httpx.Client(base_url=served, verify=False, headers=headers) as client:
        made = client.post(BASE, json={"id": "tls", "name": "tls", "scope": "GLOBAL"})
        assert made.status_code == 201, made.text
        assert client.get(f"{BASE}/tls").json()["status"] == "created"
        assert client.get("/metrics").status_code == 403  # edit may not get /metrics
    # A reader of /metrics sees the requests counted per route, method and code.
    kubectl("create", "serviceaccount", "scraper", "-n", namespace)
    kubectl("create", "clusterrole", f"scrape-{namespace}", "--verb=get",
            "--non-resource-url=/metrics")  # fmt: skip
    kubectl("create", "clusterrolebinding", f"scrape-{namespace}",
            f"--clusterrole=scrape-{namespace}", f"--serviceaccount={namespace}:scraper")  # fmt: skip
    try:
        token = kubectl("create", "token", "scraper", "-n", namespace).stdout.strip()
        scrape = {"Authorization": f"Bearer {token}"}

        def scraped() -> str:
            answer = httpx.get(f"{served}/metrics", headers=scrape, verify=False)
            return answer.text if answer.status_code == 200 else ""

        text = wait_for(scraped, timeout=30, what="the scraper allowed")
        assert (
            'hopper_api_requests_total{code="201",method="POST",route="/api/v1/instances"} 1.0'
            in text
        ), text
        bucket = r'_bucket\{code="200",le="[^"]+",method="GET",route="/api/v1/instances/\{id\}"\}'
        assert re.search("hopper_api_request_duration_seconds" + bucket, text), text
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", f"scrape-{namespace}", check=False)
