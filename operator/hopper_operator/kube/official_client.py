"""The official `kubernetes` client: loaded for a kubeconfig login, and nowhere else.

Kopf imports the client's model classes whenever the package is installed (for isinstance
checks on objects we never pass it): thousands of generated modules, tens of MiB in every
operator process. `defer()` makes `import kubernetes` fail until `load()` undoes it, so a
process that defers before Kopf is first imported (the `hopper-operator` commands do) pays
for the client only when it logs in from a kubeconfig, never in a pod.

This module imports nothing else of ours, nor Kopf: deferring must precede them.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import cast

PACKAGE = "kubernetes"


def defer() -> None:
    """Until `load()`, `import kubernetes` raises ImportError (a None in sys.modules is
    Python's documented way to say so). A client already imported stays."""
    sys.modules.setdefault(PACKAGE, cast(ModuleType, None))


def load() -> ModuleType:
    """The `kubernetes` package (untyped: nothing of it is checked), importing it now if
    it is not yet."""
    if PACKAGE in sys.modules and sys.modules[PACKAGE] is None:
        del sys.modules[PACKAGE]
    return importlib.import_module(PACKAGE)
