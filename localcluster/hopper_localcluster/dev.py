"""`hopper-localcluster dev`: the whole product on this machine, in one command.

Starts a local control plane, installs the CRD, applies the samples, runs a stand-in
kubelet (so workloads become available), the operator, watching every namespace and
serving the admission webhooks as the deployed one does (both webhook configurations
registered, calling it on 127.0.0.1), and the REST Instance API (plain HTTP on localhost),
in the foreground. Ctrl-C, SIGTERM or SIGHUP (a closed terminal) stop the operator, then
everything else; nothing is left running or on disk (the webhook configurations live in
the control plane's etcd, removed with it).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from hopper_localcluster import ControlPlane, ControlPlaneError, find_binary, free_ports
from hopper_localcluster.admission import configurations
from hopper_localcluster.binaries import repo_root
from hopper_localcluster.crd import install_crd
from hopper_localcluster.kubelet import StandInKubelet

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
OPERATOR_STOP_SECONDS = 20
API_PORT = 8180  # the REST Instance API of `dev`, on 127.0.0.1 only
DEV_ACCOUNT = "dev"  # a ServiceAccount bound to `edit` in the samples' namespace: its token works
WEBHOOKS = "hopper-operator"  # both webhook configurations' name, as the chart names them


class Stopped(BaseException):
    """A stop signal arrived: unwinds like Ctrl-C, through every cleanup on the way."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> None:
    result = subprocess.run(
        [str(find_binary("kubectl")), *args],
        env=plane.env(),
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")


def _paste_line(plane: ControlPlane) -> str:
    # The kubectl built with the control plane, and the `kubectl hopper` plugin beside
    # this Python, first on PATH: nothing else needs installing to try it.
    paths = [str(find_binary("kubectl").parent), str(Path(sys.executable).parent)]
    return f'export KUBECONFIG={plane.kubeconfig} PATH="{":".join(paths)}:$PATH"'


def _register_webhooks(plane: ControlPlane, port: int) -> None:
    """Both webhook configurations, for every namespace, calling the operator on `port`.

    Registered before the operator serves: until it does, failurePolicy Ignore lets every
    apply through, as in a cluster whose operator is down. The operator publishes its CA
    into both (their caBundle), and kube-apiserver calls it from then on.
    """
    for body in configurations(WEBHOOKS, [port], None):
        _kubectl(plane, "create", "-f", "-", input=json.dumps(body))


def _start_operator(
    plane: ControlPlane, operator_args: Sequence[str], webhook_port: int
) -> subprocess.Popen[bytes]:
    """`hopper-operator run` in a child process, as it is deployed: every namespace, the
    admission webhooks served (its certificate for 127.0.0.1 and localhost by default).

    No metrics port unless asked for, the webhooks on a free port: a second `dev` on the
    machine must not collide.
    """
    command = [sys.executable, "-m", "hopper_operator.cli.main", "run", "--metrics-port=0"]
    command += ["--webhook-port", str(webhook_port), "--webhook-configuration", WEBHOOKS]
    return subprocess.Popen([*command, *operator_args], env=plane.env())


def _start_api(plane: ControlPlane, namespace: str) -> subprocess.Popen[bytes]:
    """`hopper-operator api` for the samples' namespace, plain HTTP on localhost (a
    development convenience: the deployed one serves HTTPS)."""
    command = [sys.executable, "-m", "hopper_operator.cli.main", "api", "-n", namespace]
    command += ["--plain-http", "--address", "127.0.0.1", "--port", str(API_PORT)]
    return subprocess.Popen(command, env=plane.env())


def _curl_line(namespace: str) -> str:
    token = f"$(kubectl create token {DEV_ACCOUNT} -n {namespace})"
    return (
        f'curl -s -H "Authorization: Bearer {token}" '
        f"http://127.0.0.1:{API_PORT}/api/v1/instances/acme/hierarchy"
    )


def _stop_operator(operator: subprocess.Popen[bytes]) -> None:
    if operator.poll() is None:
        operator.send_signal(signal.SIGTERM)  # a `kill` reaches only us: pass it on
    try:
        operator.wait(timeout=OPERATOR_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        operator.kill()
        operator.wait()


def _bring_up(
    plane: ControlPlane, kubelet: StandInKubelet, root: Path, namespace: str, webhook_port: int
) -> None:
    plane.start()
    install_crd(plane.env())
    if namespace != "default":
        _kubectl(plane, "create", "namespace", namespace)
    _kubectl(plane, "apply", "-n", namespace, "-k", str(root / "manifests" / "samples"))
    # The user roles (aggregated into edit) and an account whose token the API accepts.
    _kubectl(plane, "apply", "-f", str(root / "manifests" / "user-roles.yaml"))
    _kubectl(plane, "create", "serviceaccount", DEV_ACCOUNT, "-n", namespace)
    _kubectl(plane, "create", "rolebinding", DEV_ACCOUNT, "--clusterrole=edit",
             f"--serviceaccount={namespace}:{DEV_ACCOUNT}", "-n", namespace)  # fmt: skip
    _register_webhooks(plane, webhook_port)
    kubelet.start()
    print(
        "\nhopper-localcluster dev is up. In another terminal, paste:\n\n"
        f"  {_paste_line(plane)}\n\n"
        "then try: kubectl get hopper -A; kubectl hopper tree -A; kubectl hopper pause acme\n"
        "and the REST Instance API (docs/instance-api.md):\n\n"
        f"  {_curl_line(namespace)}\n\n"
        f"The samples are in namespace {namespace}; the operator watches every namespace and\n"
        f"serves the admission webhooks (https://127.0.0.1:{webhook_port}, registered as\n"
        f"{WEBHOOKS}), as in a cluster: an apply under a parent of the wrong rank is refused.\n"
        "Ctrl-C here stops everything.\n",
        flush=True,
    )


def dev(operator_args: Sequence[str], *, namespace: str) -> int:
    """Run until stopped; `operator_args` go to `hopper-operator run` as they are."""
    root = repo_root()
    if root is None:
        print("hopper-localcluster dev runs from a checkout (it applies manifests/samples/)")
        return 2
    plane = ControlPlane()
    kubelet = StandInKubelet(plane)
    operator: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    (webhook_port,) = free_ports(1)
    code = 0
    with _stop_on_signals():
        try:
            _bring_up(plane, kubelet, root, namespace, webhook_port)
            operator = _start_operator(plane, operator_args, webhook_port)
            api = _start_api(plane, namespace)
            operator.wait()
        except (KeyboardInterrupt, Stopped):
            pass
        except ControlPlaneError as error:
            print(f"The local control plane did not start:\n{error}", file=sys.stderr)
            code = 1
        finally:
            for sig in STOP_SIGNALS:  # a second signal must not cut the cleanup short
                signal.signal(sig, signal.SIG_IGN)
            for child in (api, operator):
                if child is not None:
                    _stop_operator(child)
            kubelet.stop()
            plane.stop()
    return code
