"""`hopper-operator`: run the operator, print the CRD, or bring up a local dev cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from hopper_operator.api.crd import crd_yaml


def _run(args: argparse.Namespace) -> int:
    import kopf

    from hopper_operator.controller import handlers  # noqa: F401  registers the handlers
    from hopper_operator.controller.settings import Settings

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = Settings(workers=args.workers, peering=args.peering)
    namespaces = args.namespace or []
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=options.peering is None,
            peering_name=options.peering,
            liveness_endpoint=args.liveness,
            memo=kopf.Memo(options=options),
        )
    )
    return 0


def _crd(_: argparse.Namespace) -> int:
    sys.stdout.write(crd_yaml())
    return 0


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
    run.add_argument("--workers", type=int, default=8, help="concurrent reconciles (default 8)")
    run.add_argument(
        "--peering",
        default=None,
        help="Kopf peering object for several replicas; default: standalone",
    )
    run.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_run)
    crd = commands.add_parser("crd", help="print the generated CustomResourceDefinition YAML")
    crd.set_defaults(func=_crd)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
