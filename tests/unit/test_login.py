"""The login's pure parts: kubectl's merge and precedence, the context, when to refresh,
one fetch shared by every client; and the in-cluster path never loading the official
client (its memory)."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import kopf
import pytest
import yaml

from hopper_operator.kube import official_client
from hopper_operator.kube.login import (
    REFRESH_MARGIN,
    Credentials,
    KubeconfigError,
    LoginOptions,
    context_name,
    kubeconfig_files,
    kubeconfig_login,
    merge,
    read_kubeconfigs,
    refresh_at,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def entry(name: str, field: str, **body: object) -> dict[str, object]:
    return {"name": name, field: body}


def test_the_first_file_to_name_an_entry_wins_it_whole() -> None:
    first = {
        "current-context": "a",
        "users": [entry("u", "user", token="one")],
        "clusters": [entry("c", "cluster", server="https://first")],
    }
    second = {
        "current-context": "b",
        "users": [entry("u", "user", token="two", username="extra"), entry("v", "user")],
        "contexts": [entry("b", "context", cluster="c", user="v")],
    }
    merged = merge([(Path("/one/config"), first), (Path("/two/config"), second)])
    assert merged["current-context"] == "a"
    assert merged["users"] == [entry("u", "user", token="one"), entry("v", "user")]
    assert merged["clusters"] == [entry("c", "cluster", server="https://first")]
    assert merged["contexts"] == [entry("b", "context", cluster="c", user="v")]


def test_a_later_file_sets_current_context_when_the_first_does_not() -> None:
    merged = merge([(Path("/a"), {"users": []}), (Path("/b"), {"current-context": "x"})])
    assert merged["current-context"] == "x"


def test_file_paths_are_relative_to_the_file_that_gives_them() -> None:
    config = {
        "clusters": [entry("c", "cluster", **{"certificate-authority": "ca.crt"})],
        "users": [
            entry("rel", "user", tokenFile="t", **{"client-key": "/abs/key"}),
            entry("plugin", "user", exec={"command": "bin/plugin"}),
            entry("onpath", "user", exec={"command": "aws"}),
        ],
    }
    merged = merge([(Path("/etc/kube/config"), config)])
    assert merged["clusters"][0]["cluster"]["certificate-authority"] == "/etc/kube/ca.crt"
    users = {user["name"]: user["user"] for user in merged["users"]}
    assert users["rel"] == {"tokenFile": "/etc/kube/t", "client-key": "/abs/key"}
    assert users["plugin"]["exec"]["command"] == "/etc/kube/bin/plugin"
    assert users["onpath"]["exec"]["command"] == "aws"  # looked up on PATH, as kubectl does
    assert config["users"][1]["user"] == {"exec": {"command": "bin/plugin"}}  # not modified


def test_precedence_is_controller_runtimes() -> None:
    home = Path("~/.kube/config").expanduser()
    env = {"KUBECONFIG": f"/a{os.pathsep}{os.pathsep}/b"}
    explicit = LoginOptions(kubeconfig="/x")
    assert kubeconfig_files(explicit, env, in_cluster=True) == [Path("/x")]
    assert kubeconfig_files(LoginOptions(), env, in_cluster=True) == [Path("/a"), Path("/b")]
    assert kubeconfig_files(LoginOptions(), {}, in_cluster=True) is None
    assert kubeconfig_files(LoginOptions(), {}, in_cluster=False) == [home]
    assert kubeconfig_files(LoginOptions(context="c"), {}, in_cluster=True) == [home]


def test_a_missing_file_is_skipped_unless_named(tmp_path: Path) -> None:
    assert read_kubeconfigs([tmp_path / "absent"], explicit=False) == []
    with pytest.raises(KubeconfigError, match=r"^stat .*absent: no such file or directory$"):
        read_kubeconfigs([tmp_path / "absent"], explicit=True)


def test_the_context_in_kubectls_words() -> None:
    config = merge([(Path("/c"), {"contexts": [entry("a", "context")], "current-context": "a"})])
    assert context_name(config, None) == "a"
    with pytest.raises(KubeconfigError) as raised:
        context_name(config, "nowhere")
    assert str(raised.value) == (
        "Error in configuration: context was not found for specified context: nowhere"
    )
    with pytest.raises(KubeconfigError, match="no configuration has been provided"):
        context_name(merge([]), None)


@pytest.mark.parametrize(
    ("left", "early"),
    [
        (datetime.timedelta(hours=1), REFRESH_MARGIN),
        (datetime.timedelta(seconds=20), datetime.timedelta(seconds=4)),
        (datetime.timedelta(seconds=3), datetime.timedelta(0)),  # too near: at its end
    ],
)
def test_a_credential_is_replaced_before_it_expires(
    left: datetime.timedelta, early: datetime.timedelta
) -> None:
    assert refresh_at(NOW + left, NOW) == NOW + left - early
    assert refresh_at(None, NOW) is None


def info(token: str, expires_in: float | None = None) -> kopf.ConnectionInfo:
    now = datetime.datetime.now(datetime.UTC)
    expiration = None if expires_in is None else now + datetime.timedelta(seconds=expires_in)
    return kopf.ConnectionInfo(server="https://k", token=token, expiration=expiration)


class Source:
    """Hands out token-1, token-2, ...: a credential source that counts its calls."""

    def __init__(self, expires_in: float | None = None) -> None:
        self.calls = 0
        self.expires_in = expires_in

    def __call__(self) -> kopf.ConnectionInfo:
        self.calls += 1
        return info(f"token-{self.calls}", self.expires_in)


async def test_one_fetch_serves_every_client_until_refused() -> None:
    source = Source()
    credentials = Credentials(source)
    first = await asyncio.gather(*(credentials.get() for _ in range(10)))
    assert source.calls == 1 and {i.token for i in first} == {"token-1"}
    # Ten requests refused at once: one new fetch for all of them.
    again = await asyncio.gather(*(credentials.get(failed=first[0]) for _ in range(10)))
    assert source.calls == 2 and {i.token for i in again} == {"token-2"}


async def test_an_expired_credential_is_fetched_again() -> None:
    source = Source(expires_in=-1)
    credentials = Credentials(source)
    assert (await credentials.get()).token == "token-1"
    assert (await credentials.get()).token == "token-2"


async def test_kopf_never_gets_back_what_it_gave_up() -> None:
    source = Source()
    credentials = Credentials(source)
    mine = await credentials.get()
    assert await credentials.for_kopf() is mine  # first login: the shared one
    assert (await credentials.for_kopf()).token == "token-2"  # it asks again: 401
    assert source.calls == 2


def test_a_token_file_and_an_exec_plugins_expiry_reach_the_connection(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc\n")
    plugin = tmp_path / "plugin"
    status = {"token": "xyz", "expirationTimestamp": "2030-01-01T00:00:00Z"}
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": status,
    }
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(0o755)
    exec_ = {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin"}
    config = {
        "clusters": [entry("c", "cluster", server="https://127.0.0.1:6443")],
        "users": [entry("file", "user", tokenFile="token"), entry("exec", "user", exec=exec_)],
        "contexts": [
            entry("file", "context", cluster="c", user="file", namespace="ns"),
            entry("exec", "context", cluster="c", user="exec"),
        ],
    }
    merged = merge([(tmp_path / "config", config)])
    by_file = kubeconfig_login(merged, "file", now=NOW)
    assert by_file.as_http_headers() == {"Authorization": "Bearer abc"}  # trimmed, as kubectl
    assert (by_file.server, by_file.default_namespace) == ("https://127.0.0.1:6443", "ns")
    assert by_file.expiration is None
    by_exec = kubeconfig_login(merged, "exec", now=NOW)
    assert by_exec.token == "xyz"
    expiry = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    assert by_exec.expiration == expiry - REFRESH_MARGIN


def test_a_failing_exec_plugin_is_an_error_not_an_anonymous_login(tmp_path: Path) -> None:
    exec_ = {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/false"}
    config = {
        "clusters": [entry("c", "cluster", server="https://127.0.0.1:6443")],
        "users": [entry("exec", "user", exec=exec_)],
        "contexts": [entry("exec", "context", cluster="c", user="exec")],
    }
    with pytest.raises(KubeconfigError, match="exec plugin '/bin/false' gave no credential"):
        kubeconfig_login(merge([(tmp_path / "config", config)]), "exec")


def test_without_the_official_client_a_kubeconfig_login_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image leaves the client out (it runs in pods); a workstation may lack it too."""

    def not_installed() -> object:
        raise ImportError("No module named 'kubernetes'")

    monkeypatch.setattr(official_client, "load", not_installed)
    config = {
        "clusters": [entry("c", "cluster", server="https://127.0.0.1:6443")],
        "users": [entry("u", "user", token="t")],
        "contexts": [entry("x", "context", cluster="c", user="u")],
    }
    with pytest.raises(KubeconfigError, match=r"pip install 'hopper-operator\[kubeconfig\]'"):
        kubeconfig_login(merge([(Path("config"), config)]), "x")


# The operator's entry point and handlers, then a login: where is the official client?
LOGIN = textwrap.dedent(
    """
    import json, pathlib, sys
    import hopper_operator.cli.main
    from hopper_operator.controller import handlers
    from hopper_operator.kube import login
    login.SERVICE_ACCOUNT = pathlib.Path(sys.argv[1])
    info = login.connection_info()
    loaded = sys.modules.get("kubernetes") is not None
    print(json.dumps({"server": info.server, "token": info.token, "loaded": loaded}))
    """
)


def login_in_subprocess(directory: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", LOGIN, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "HOME"))}


def test_in_a_pod_the_official_client_is_never_imported(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    (tmp_path / "token").write_text("pod-token\n")
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    result = login_in_subprocess(tmp_path, {**clean_env, **pod, "HOME": str(tmp_path)})
    assert result == {"server": "https://10.0.0.1:443", "token": "pod-token", "loaded": False}


def test_outside_a_pod_a_kubeconfig_login_loads_it(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    config = {
        "clusters": [entry("c", "cluster", server="https://127.0.0.1:6443")],
        "users": [entry("u", "user", token="t")],
        "contexts": [entry("x", "context", cluster="c", user="u")],
        "current-context": "x",
    }
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    env = {**clean_env, "KUBECONFIG": str(tmp_path / "config"), "HOME": str(tmp_path)}
    result = login_in_subprocess(tmp_path / "no-service-account", env)
    assert result == {"server": "https://127.0.0.1:6443", "token": "t", "loaded": True}
