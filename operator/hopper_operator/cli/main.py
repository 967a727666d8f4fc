"""`hopper-operator`: run the operator, print the CRD, or bring up a local dev cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence

from hopper_operator.api.crd import crd_yaml
from hopper_operator.controller.settings import MetricsAuth, Settings


def _configure_logging(*, verbose: bool, json_logs: bool) -> None:
    import kopf

    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL
    )
    if not verbose:
        # Kopf logs every handled event at INFO: thousands of lines saying nothing.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def name_this_process() -> None:
    """Give Kopf its identity through POD_ID, its documented setting, if it has none.

    Without it Kopf calls getpass.getuser(), which raises for a uid with no passwd
    entry: any uid a cluster assigns (runAsUser, OpenShift's ranges), the image's own
    included. The manifests set POD_ID from the pod's name; elsewhere host and pid do.
    """
    if not os.environ.get("POD_ID"):
        os.environ["POD_ID"] = f"{socket.gethostname()}-{os.getpid()}"


def run_operator(options: Settings, namespaces: Sequence[str], liveness: str | None) -> None:
    """Run until SIGINT/SIGTERM (Kopf installs the handlers and stops gracefully)."""
    import kopf

    from hopper_operator.controller import handlers  # noqa: F401  registers the handlers
    from hopper_operator.controller.context import Context

    name_this_process()
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=options.peering is None,
            peering_name=options.peering,
            liveness_endpoint=liveness,
            memo=Context(options),
        )
    )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        workers=args.workers,
        peering=args.peering,
        metrics_port=args.metrics_port,
        metrics_auth=MetricsAuth(args.metrics_auth),
        metrics_cert_dir=args.metrics_cert_dir,
    )


def _run(args: argparse.Namespace) -> int:
    _configure_logging(verbose=args.verbose, json_logs=args.log_format == "json")
    run_operator(_settings(args), args.namespace or [], args.liveness)
    return 0


def _dev(args: argparse.Namespace) -> int:
    from hopper_operator.cli.dev import dev

    _configure_logging(verbose=args.verbose, json_logs=args.log_format == "json")
    return dev(_settings(args), namespace=args.dev_namespace)


def _crd(_: argparse.Namespace) -> int:
    sys.stdout.write(crd_yaml())
    return 0


def _operator_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--workers", type=int, default=16, help="concurrent reconciles (default 16)"
    )
    command.add_argument(
        "--peering",
        default=None,
        help="Kopf peering object, for several replicas with distinct priorities; "
        "default: standalone (run one replica, strategy Recreate)",
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
    command.add_argument("--log-format", choices=("plain", "json"), default="plain")
    command.add_argument("-v", "--verbose", action="store_true", help="debug logging")


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
    _operator_flags(run)
    run.set_defaults(func=_run)
    dev = commands.add_parser(
        "dev", help="local control plane + CRD + samples + operator, in the foreground"
    )
    dev.add_argument(
        "--dev-namespace", default="default", help="namespace for the samples (default: default)"
    )
    _operator_flags(dev)
    dev.set_defaults(func=_dev, metrics_port=0)
    crd = commands.add_parser("crd", help="print the generated CustomResourceDefinition YAML")
    crd.set_defaults(func=_crd)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
