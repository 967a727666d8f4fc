"""The operator logs in with every kubeconfig kubectl accepts: an exec credential plugin
(refreshed before it expires), a tokenFile (read again on 401), --context, KUBECONFIG's
files merged; and refuses an unknown context in kubectl's words."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import Operator, apply, instance, wait_for, wait_for_phases

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.certs import create_client_cert

# The plugin: its first credential is a client certificate, every later one the token
# in its directory; each says it expires LIFETIME seconds on. Every call is logged.
PLUGIN = """#!{python}
import datetime, json, pathlib

here = pathlib.Path(__file__).parent
calls = here / "calls.log"
first = not calls.exists()
with calls.open("a") as log:
    log.write("certificate\\n" if first else "token\\n")
now = datetime.datetime.now(datetime.timezone.utc)
expires = now + datetime.timedelta(seconds={lifetime})
status = {{"expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}
if first:
    status["clientCertificateData"] = (here / "client.crt").read_text()
    status["clientKeyData"] = (here / "client.key").read_text()
else:
    status["token"] = (here / "token").read_text().strip()
kind = {{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}}
print(json.dumps({{**kind, "status": status}}))
"""
LIFETIME = 20


def cluster(control_plane: ControlPlane) -> dict[str, Any]:
    """The control plane's cluster entry (server and CA), as its admin kubeconfig has it."""
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    return dict(config["clusters"][0]["cluster"])


def kubeconfig(
    path: Path,
    users: dict[str, dict[str, Any]],
    contexts: dict[str, tuple[str, str]],
    clusters: dict[str, dict[str, Any]],
    current: str | None = None,
) -> Path:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": body} for name, body in clusters.items()],
        "users": [{"name": name, "user": body} for name, body in users.items()],
        "contexts": [
            {"name": name, "context": {"cluster": c, "user": u}}
            for name, (c, u) in contexts.items()
        ],
    }
    if current:
        config["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def run_kubectl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl_path()), *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def admin_account(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """A ServiceAccount bound to cluster-admin (the operator's own role is narrower; the
    login is what is tested here)."""
    kubectl("create", "serviceaccount", "login", "-n", namespace)
    binding = f"login-{namespace}"
    kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:login",
    )
    yield "login"
    kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)


def bound_token(kubectl: Kubectl, namespace: str, account: str, secret: str) -> str:
    """A token of `account` valid while the Secret `secret` exists."""
    kubectl("create", "secret", "generic", secret, "-n", namespace)
    return kubectl(
        "create",
        "token",
        account,
        "-n",
        namespace,
        "--bound-object-kind=Secret",
        f"--bound-object-name={secret}",
        "--duration=1h",
    ).stdout.strip()


def start(operator: Operator) -> Operator:
    operator.start()
    return operator


@pytest.fixture
def operators(control_plane: ControlPlane, crd: None, tmp_path: Path) -> Iterator[list[Operator]]:
    """Operators a test starts, stopped at its end (their logs shown if it failed)."""
    started: list[Operator] = []
    yield started
    for running in started:
        running.stop()
        print("\n".join(running.log().splitlines()[-150:]))


def test_an_exec_plugin_logs_in_and_is_run_again_before_its_credential_expires(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    admin_account: str,
    operators: list[Operator],
    tmp_path: Path,
) -> None:
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    user = f"exec-{uuid.uuid4().hex[:8]}"
    cert, key = create_client_cert(control_plane.pki, user, user=user, group="login-tests")
    (plugin_dir / "client.crt").write_text(cert.read_text())
    (plugin_dir / "client.key").write_text(key.read_text())
    (plugin_dir / "token").write_text(bound_token(kubectl, namespace, admin_account, "exec"))
    plugin = plugin_dir / "credential"
    plugin.write_text(PLUGIN.format(python=sys.executable, lifetime=LIFETIME))
    plugin.chmod(0o755)
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "plugin/credential",  # relative to the kubeconfig, as kubectl has it
            "interactiveMode": "Never",
        }
    }
    config = kubeconfig(
        tmp_path / "exec.yaml",
        {"exec": exec_user},
        {"hopper": ("hopper", "exec")},
        {"hopper": cluster(control_plane)},
        current="hopper",
    )
    binding = f"{user}-admin"
    kubectl(
        "create", "clusterrolebinding", binding, "--clusterrole=cluster-admin", f"--user={user}"
    )
    try:
        operator = start(
            Operator(
                control_plane,
                namespace,
                tmp_path / "operator.log",
                "--metrics-port=0",
                f"--kubeconfig={config}",
            )
        )
        operators.append(operator)
        apply(kubectl, namespace, instance("first"))
        wait_for_phases(kubectl, namespace, {"first": "Running"})

        # The Lease is renewed every 2 s: the certificate, then each token, is replaced
        # before the 20 s it claims are over.
        calls = plugin_dir / "calls.log"
        wait_for(
            lambda: calls.read_text().split().count("token") >= 2,
            timeout=120,
            what="the plugin run again, twice, for a token",
        )
    finally:
        # From here the certificate is worth nothing: whatever still used it would fail.
        kubectl("delete", "clusterrolebinding", binding)
    # Kopf's watches end with the API server; the new ones need Kopf's vault to have
    # dropped the expired certificate for the shared token.
    control_plane.restart_apiserver()
    apply(kubectl, namespace, instance("second"))
    wait_for_phases(kubectl, namespace, {"first": "Running", "second": "Running"}, timeout=120)
    assert calls.read_text().split()[0] == "certificate"
    assert operator.process is not None and operator.process.poll() is None


def test_a_token_file_is_read_again_when_the_api_server_refuses_the_token(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    admin_account: str,
    operators: list[Operator],
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "config" / "token"
    token_file.parent.mkdir()
    token_file.write_text(bound_token(kubectl, namespace, admin_account, "first") + "\n")
    config = kubeconfig(
        tmp_path / "config" / "kubeconfig",
        {"sa": {"tokenFile": "token"}},  # relative to the kubeconfig, as kubectl has it
        {"hopper": ("hopper", "sa")},
        {"hopper": cluster(control_plane)},
        current="hopper",
    )
    env = {"KUBECONFIG": str(config)}
    whoami = run_kubectl({**control_plane.env(), **env}, "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"].endswith(":login")
    operator = start(
        Operator(control_plane, namespace, tmp_path / "operator.log", "--metrics-port=0", env=env)
    )
    operators.append(operator)
    apply(kubectl, namespace, instance("first"))
    wait_for_phases(kubectl, namespace, {"first": "Running"})

    # Rotated, as the kubelet rotates a projected token: the file holds a new one, and the
    # old one is refused from now on (401).
    old = token_file.read_text().strip()
    token_file.write_text(bound_token(kubectl, namespace, admin_account, "second") + "\n")
    kubectl("delete", "secret", "first", "-n", namespace)
    # The API server caches a token it accepted for 10 s: wait until it is refused.
    server = ("--kubeconfig=/dev/null", f"--server={control_plane.server_url}")
    refused = (*server, "--insecure-skip-tls-verify", f"--token={old}", "auth", "whoami")
    wait_for(
        lambda: "Unauthorized" in run_kubectl(control_plane.env(), *refused).stderr,
        what="the old token refused",
    )
    apply(kubectl, namespace, instance("second"))
    wait_for_phases(kubectl, namespace, {"first": "Running", "second": "Running"}, timeout=90)
    # The 401 was answered by reading the file again and retrying: no reconcile saw it.
    assert "401" not in operator.log()
    assert operator.process is not None and operator.process.poll() is None


def test_context_picks_one_of_kubeconfigs_merged_as_kubectl_merges_them(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    operators: list[Operator],
    tmp_path: Path,
) -> None:
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())["users"][0]["user"]
    real = cluster(control_plane)
    # The first file's current context cannot log in; its cluster "hopper" is the real one.
    first = kubeconfig(
        tmp_path / "a" / "config",
        {"nobody": {"token": "not-a-token"}},
        {"broken": ("hopper", "nobody")},
        {"hopper": real},
        current="broken",
    )
    # The second names "hopper" too, wrongly: the first file's wins, whole. Its own
    # current-context is ignored: the first file set one.
    second = kubeconfig(
        tmp_path / "b" / "config",
        {"admin": admin},
        {"working": ("hopper", "admin")},
        {"hopper": {**real, "server": "https://127.0.0.1:1"}},
        current="working",
    )
    env = {"KUBECONFIG": f"{first}:{tmp_path / 'absent'}:{second}"}
    kubectl_env = {**control_plane.env(), **env}
    assert run_kubectl(kubectl_env, "get", "namespaces").returncode != 0  # "broken"
    assert run_kubectl(kubectl_env, "--context=working", "get", "namespaces").returncode == 0

    operator = start(
        Operator(
            control_plane,
            namespace,
            tmp_path / "operator.log",
            "--metrics-port=0",
            "--context=working",
            env=env,
        )
    )
    operators.append(operator)
    apply(kubectl, namespace, instance("picked"))
    wait_for_phases(kubectl, namespace, {"picked": "Running"})


@pytest.mark.parametrize(
    "flags",
    [["--context=nowhere"], ["--kubeconfig={absent}"]],
    ids=["unknown context", "missing kubeconfig"],
)
def test_a_kubeconfig_kubectl_refuses_is_refused_in_its_words(
    control_plane: ControlPlane, flags: list[str], tmp_path: Path
) -> None:
    flags = [flag.format(absent=tmp_path / "absent") for flag in flags]
    env = control_plane.env()
    theirs = run_kubectl(env, *flags, "get", "namespaces")
    ours = subprocess.run(
        [sys.executable, "-m", "hopper_operator.cli.main", "run", *flags],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert theirs.returncode != 0 and ours.returncode != 0
    assert ours.stderr == theirs.stderr, (ours.stderr, theirs.stderr)
    assert "Traceback" not in ours.stderr
