"""`hopper-operator api`: the REST Instance API (docs/instance-api.md)."""

from __future__ import annotations

import argparse

from hopper_operator.cli.process import configure_logging, event_loop_runner
from hopper_operator.kube.login import own_namespace
from hopper_operator.rest.server import ApiSettings, serve
from hopper_operator.rest.stream import StreamSettings

STREAM = StreamSettings()


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    api = commands.add_parser("api", help="serve the REST Instance API over HopperInstances")
    api.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="the namespace /api/v1/instances serves (default: the pod's, else default)",
    )
    api.add_argument("--address", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    api.add_argument("--port", type=int, default=8443, help="listen port (default 8443)")
    api.add_argument(
        "--cert-dir",
        default=None,
        help="directory with tls.crt and tls.key; default: a self-signed certificate",
    )
    api.add_argument(
        "--plain-http",
        action="store_true",
        help="serve plain HTTP (development and tests only: bearer tokens travel in clear)",
    )
    stream = api.add_argument_group("event streams (?watch=true)")
    for flag, kind, default, what in (
        ("--stream-heartbeat", float, STREAM.heartbeat, "seconds of quiet before a heartbeat"),
        ("--stream-lifetime", float, STREAM.lifetime, "seconds a stream lives at most"),
        ("--stream-buffer", int, STREAM.buffer, "events a slow client may fall behind"),
        ("--max-streams", int, STREAM.limit, "open streams per replica, 503 beyond"),
    ):
        stream.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:g})")
    api.add_argument("--log-format", choices=("plain", "json"), default="plain")
    api.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return api


def run(args: argparse.Namespace) -> int:
    configure_logging(verbose=args.verbose, json_logs=args.log_format == "json")
    settings = ApiSettings(
        namespace=own_namespace(args.namespace, []),
        address=args.address,
        port=args.port,
        cert_dir=args.cert_dir,
        stream=StreamSettings(
            heartbeat=args.stream_heartbeat,
            lifetime=args.stream_lifetime,
            buffer=args.stream_buffer,
            limit=args.max_streams,
        ),
    )
    # Imported here: cryptography costs memory that `run`, which parses these flags too, never needs.
    from hopper_operator.kube.tls import self_signed_context

    tls = None if args.plain_http or args.cert_dir else self_signed_context("hopper-operator-api")
    from hopper_operator.cli.mcp import api_add_ons

    with event_loop_runner() as runner:
        runner.run(serve(settings, tls=tls, add_ons=api_add_ons(args)))
    return 0
