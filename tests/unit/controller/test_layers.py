"""A reconcile step crosses each layer once: decide (core), render (resources), send (kube).

Traced, not assumed: every call the controller makes into a module-level function of
another layer is recorded while one key is reconciled.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from hopper_operator.resources.paths import instance_path
from tests.unit.builders import body
from tests.unit.controller.harness import Cluster

FAKE_CLIENT = "tests.unit.controller.fakes"


# Reading a resourceVersion as a number is bookkeeping, not a request: not a crossing.
NOT_CROSSINGS = {"hopper_operator.kube.versions"}


def _layer(module: str) -> str | None:
    if module == FAKE_CLIENT:
        return "kube"
    if module in NOT_CROSSINGS:
        return None
    parts = module.split(".")
    return parts[1] if parts[0] == "hopper_operator" and len(parts) > 1 else None


@contextmanager
def crossings() -> Iterator[list[str]]:
    """Calls from controller code into another layer, as 'layer.function'."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        caller = _layer(frame.f_back.f_globals.get("__name__", ""))
        callee = _layer(frame.f_globals.get("__name__", ""))
        code = frame.f_code
        # Module-level functions and the client's methods; not properties of views,
        # generated dataclass code, or the fake's own helpers.
        public = not code.co_name.startswith("_") and code.co_filename != "<string>"
        function = "." not in code.co_qualname or callee == "kube"
        if caller == "controller" and callee not in (None, "controller") and public and function:
            seen.append(f"{callee}.{code.co_name}")

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)


async def test_one_step_goes_down_each_layer_once() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    await controller.process(key)  # to Running, with finalizer, labels and ConfigMap
    cluster.kube.objects[instance_path(*key)]["spec"]["state"] = "Paused"
    cluster.sync()
    with crossings() as seen:
        await controller.process(key)
    assert seen == [
        "core.decide",
        "resources.render",
        "kube.merge_patch",  # status: Running -> Paused
        "core.instance_view",  # what was written, fed back
        "core.advance",
        "core.decide",  # at rest now
        "resources.render",  # nothing to send
        "core.one_per_pass",  # the pass's Events, said once
        "resources.render",
    ]


async def test_a_pass_of_three_steps_is_three_such_rounds() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    with crossings() as seen:
        await controller.process(key)
    rounds = " ".join(seen).split("core.decide")[1:]
    assert len(rounds) == 3
    for step in rounds[:2]:  # two transitions, each fed back into the next step
        words = step.split()
        assert words[0] == "resources.render"
        assert words[-2:] == ["core.instance_view", "core.advance"]
        assert {w.split(".")[0] for w in words[1:-2]} == {"kube"}
    # At rest: nothing to send; then the pass's one Event.
    assert rounds[2].split() == ["resources.render", "core.one_per_pass", "resources.render"]
