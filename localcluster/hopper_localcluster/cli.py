"""`hopper-localcluster`: the local cluster the project develops and tests against.

`dev` brings up a control plane with the CRD, the samples, a stand-in kubelet, the
operator (its admission webhooks registered) and the REST API in the foreground. Flags it does not know go to `hopper-operator run` as they are
(`hopper-localcluster dev --workers 4 -v`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from hopper_localcluster.dev import dev


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hopper-localcluster", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "dev",
        help="local control plane + CRD + samples + operator, in the foreground",
        description="Any other flag is passed to `hopper-operator run`.",
    )
    up.add_argument(
        "--dev-namespace", default="default", help="namespace for the samples (default: default)"
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args, operator_args = parser().parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return dev(operator_args, namespace=args.dev_namespace)


if __name__ == "__main__":
    raise SystemExit(main())
