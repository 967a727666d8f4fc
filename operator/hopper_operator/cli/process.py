"""What every long-running command sets up for its process: logging, and the event loop."""

from __future__ import annotations

import asyncio
import logging


def configure_logging(*, verbose: bool, json_logs: bool) -> None:
    import kopf

    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL
    )
    if not verbose:
        # Kopf logs every handled event at INFO: thousands of lines saying nothing.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def event_loop_runner() -> asyncio.Runner:
    """uvloop's event loop when it is installed (a dependency; Kopf picks it the same way).

    Its loop and transports (TLS included) cost markedly less CPU per watch event and per
    request than asyncio's own; every millisecond the operator saves goes to kube-apiserver
    on a busy machine. Without it, asyncio's loop runs the same code.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)
