"""`hopper-operator`: run the operator, serve the REST Instance API or the MCP face, or print
the CRD."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from datetime import timedelta

from hopper_operator.kube import official_client

# Before anything imports Kopf, which imports the official `kubernetes` client whenever it is
# installed: deferred, only a kubeconfig login loads it, so an operator in a pod never
# carries it (see kube.official_client).
official_client.defer()

from hopper_operator.api.crd import crd_yaml  # noqa: E402
from hopper_operator.cli.process import configure_logging, event_loop_runner  # noqa: E402
from hopper_operator.controller.leader import DEFAULT_LEASE_NAME, LeaseTimings  # noqa: E402
from hopper_operator.controller.settings import (  # noqa: E402
    MetricsAuth,
    Settings,
    WebhookSettings,
)
from hopper_operator.core.world import DEFAULT_PARENT_GRACE_SECONDS  # noqa: E402
from hopper_operator.kube import login  # noqa: E402


def name_this_process() -> None:
    """Give Kopf its identity through POD_ID, its documented setting, if it has none.

    Without it Kopf calls getpass.getuser(), which raises for a uid with no passwd
    entry: any uid a cluster assigns (runAsUser, OpenShift's ranges), the image's own
    included. The pod's name (POD_NAME, from the downward API, which the leader election
    reads too) is the identity in a cluster; elsewhere host and pid are.
    """
    if not os.environ.get("POD_ID"):
        pod_name = os.environ.get("POD_NAME")
        os.environ["POD_ID"] = pod_name or f"{socket.gethostname()}-{os.getpid()}"


def run_operator(options: Settings, liveness: str | None) -> None:
    """Run until SIGINT/SIGTERM: the workers stop and the Lease is released first, then
    Kopf stops its watches."""
    import kopf

    from hopper_operator.controller import handlers  # noqa: F401  registers the handlers
    from hopper_operator.controller.context import Context
    from hopper_operator.controller.workers import take_over_signals

    name_this_process()

    async def operate() -> None:
        # kopf.operator() in its two public halves, to replace its signal handlers between.
        existing = set(asyncio.all_tasks())
        stop, memo = asyncio.Event(), Context(options)
        tasks = await kopf.spawn_tasks(
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            standalone=True,
            liveness_endpoint=liveness,
            stop_flag=stop,
            memo=memo,
        )
        take_over_signals(memo.shutdown, stop.set)
        await kopf.run_tasks(tasks, ignored=existing)

    with event_loop_runner() as runner:
        runner.run(operate())


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        workers=args.workers,
        metrics_port=args.metrics_port,
        metrics_auth=MetricsAuth(args.metrics_auth),
        metrics_cert_dir=args.metrics_cert_dir,
        readiness_port=args.readiness_port,
        parent_grace_seconds=args.parent_grace_seconds,
        namespaces=tuple(getattr(args, "namespace", None) or ()),
        leader_election=args.leader_elect,
        lease_name=args.leader_election_id,
        lease_namespace=args.leader_election_namespace,
        lease=LeaseTimings(
            lease_duration=args.leader_election_lease_duration,
            renew_deadline=args.leader_election_renew_deadline,
            retry_period=args.leader_election_retry_period,
        ),
        webhook=_webhook_settings(args),
    )


def _webhook_settings(args: argparse.Namespace) -> WebhookSettings | None:
    if not args.webhook_port:
        return None
    return WebhookSettings(
        port=args.webhook_port,
        secret=args.webhook_secret,
        namespace=args.webhook_secret_namespace,
        hosts=tuple(args.webhook_host or WebhookSettings.hosts),
        configuration=args.webhook_configuration,
        manage=args.webhook_manage_certificate,
        validity=timedelta(seconds=args.webhook_cert_validity),
        check_interval=args.webhook_cert_check_interval,
    )


def _logged_in(args: argparse.Namespace) -> bool:
    """Check --kubeconfig and --context now, as kubectl would, and use them from here on."""
    options = login.LoginOptions(kubeconfig=args.kubeconfig, context=args.context)
    try:
        login.kubeconfig(options, os.environ)  # a missing file, an unknown context: now
    except login.KubeconfigError as error:
        message = str(error)
        prefixed = message.startswith(("error:", "Error in configuration:"))
        sys.stderr.write(f"{message if prefixed else f'error: {message}'}\n")
        return False
    login.use(options)
    return True


def _run(args: argparse.Namespace) -> int:
    if not _logged_in(args):
        return 1
    configure_logging(verbose=args.verbose, json_logs=args.log_format == "json")
    run_operator(_settings(args), args.liveness)
    return 0


def _api(args: argparse.Namespace) -> int:
    from hopper_operator.cli import api

    return api.run(args) if _logged_in(args) else 1


def _mcp(args: argparse.Namespace) -> int:
    from hopper_operator.cli import mcp

    return mcp.run(args) if _logged_in(args) else 1


def _crd(_: argparse.Namespace) -> int:
    sys.stdout.write(crd_yaml())
    return 0


def _operator_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--workers", type=int, default=16, help="concurrent reconciles (default 16)"
    )
    command.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus metrics port; 0 disables"
    )
    command.add_argument(
        "--metrics-auth",
        choices=[auth.value for auth in MetricsAuth],
        default=MetricsAuth.KUBERNETES.value,
        help="kubernetes (default): HTTPS, and only callers whose bearer token may `get` "
        "/metrics (TokenReview + SubjectAccessReview); none: plain HTTP, open",
    )
    command.add_argument(
        "--metrics-cert-dir",
        default=None,
        help="directory with tls.crt and tls.key for the metrics endpoint; "
        "default: a self-signed certificate made at start",
    )
    command.add_argument(
        "--readiness-port",
        type=int,
        default=0,
        help="serve /readyz (200 once the indexes are synced) on this port; 0 disables",
    )
    command.add_argument(
        "--parent-grace-seconds",
        type=float,
        default=DEFAULT_PARENT_GRACE_SECONDS,
        metavar="SECONDS",
        help="how long a new child whose parent is absent or still starting writes no "
        "status, to spare a write when a whole tree is applied at once; 0: report at once "
        f"(default {DEFAULT_PARENT_GRACE_SECONDS:g})",
    )
    _leader_election_flags(command)
    _webhook_flags(command)
    command.add_argument("--log-format", choices=("plain", "json"), default="plain")
    command.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _login_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--kubeconfig",
        default=None,
        metavar="PATH",
        help="log in with this kubeconfig file alone (default, as kubectl: $KUBECONFIG, its "
        "files merged; in a pod, its ServiceAccount; else ~/.kube/config)",
    )
    command.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="the kubeconfig context to use (default: its current-context)",
    )


def _leader_election_flags(command: argparse.ArgumentParser) -> None:
    timings = LeaseTimings()
    command.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="elect a leader on a Lease: only the leader writes, the others stand by warm "
        "(default: on; --no-leader-elect for a single replica that writes at once)",
    )
    command.add_argument(
        "--leader-election-id", default=DEFAULT_LEASE_NAME, help="the Lease's name"
    )
    command.add_argument(
        "--leader-election-namespace",
        default=None,
        help="the Lease's namespace (default: the pod's, from POD_NAMESPACE or the "
        "ServiceAccount mount; outside a cluster the first -n namespace, else default)",
    )
    for name, default, what in (
        ("lease-duration", timings.lease_duration, "how long standbys wait before taking over"),
        ("renew-deadline", timings.renew_deadline, "how long the leader retries renewing"),
        ("retry-period", timings.retry_period, "between attempts to acquire or renew"),
    ):
        command.add_argument(
            f"--leader-election-{name}",
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"{what} (default {default:g})",
        )


def _webhook_flags(command: argparse.ArgumentParser) -> None:
    defaults = WebhookSettings()
    command.add_argument(
        "--webhook-port",
        type=int,
        default=0,
        help="serve the admission webhooks over HTTPS on this port; 0 (default) disables",
    )
    command.add_argument(
        "--webhook-secret",
        default=defaults.secret,
        help=f"the Secret with the webhook certificate (default {defaults.secret})",
    )
    command.add_argument(
        "--webhook-secret-namespace",
        default=None,
        help="the Secret's namespace (default: the Lease's)",
    )
    command.add_argument(
        "--webhook-host",
        action="append",
        help="a DNS name or IP the certificate is for (repeatable; default localhost, 127.0.0.1)",
    )
    command.add_argument(
        "--webhook-configuration",
        default=defaults.configuration,
        help="the Validating- and MutatingWebhookConfiguration whose caBundle is kept "
        f"(default {defaults.configuration})",
    )
    command.add_argument(
        "--webhook-manage-certificate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create and renew the Secret and caBundles (default); --no-...: cert-manager "
        "does, the replicas only read",
    )
    command.add_argument(
        "--webhook-cert-validity",
        type=float,
        default=defaults.validity.total_seconds(),
        metavar="SECONDS",
        help="lifetime of a serving certificate; renewed with a third left (default 1 year)",
    )
    command.add_argument(
        "--webhook-cert-check-interval",
        type=float,
        default=defaults.check_interval,
        metavar="SECONDS",
        help=f"how often the Secret is read (default {defaults.check_interval:g})",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hopper-operator", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    run.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    _login_flags(run)
    _operator_flags(run)
    run.set_defaults(func=_run)
    crd = commands.add_parser("crd", help="print the generated CustomResourceDefinition YAML")
    crd.set_defaults(func=_crd)
    from hopper_operator.cli.api import add_command as add_api

    api = add_api(commands)
    _login_flags(api)
    api.set_defaults(func=_api)
    from hopper_operator.cli import mcp

    mcp.api_flags(api)
    agents = mcp.add_command(commands)
    _login_flags(agents)
    agents.set_defaults(func=_mcp)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
