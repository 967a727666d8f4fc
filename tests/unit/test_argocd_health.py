"""The Argo CD health check for HopperInstance, run under Argo CD's restricted Lua 5.1.

Argo CD runs health scripts from `argocd-cm` in gopher-lua (Lua 5.1) with only the base,
table and package libraries and a two-function `os` (time, date). Here the script runs in
lupa's Lua 5.1 with everything else removed, so a script that would fail in Argo CD (for
instance one calling `string.find`) fails here too. The object reaches the script as Argo
CD passes it: nested tables, every number a float (gopher-lua's LNumber), JSON nulls absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from hopper_operator.api.enums import Reason

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "manifests" / "gitops" / "argocd-health.lua"
CM_PATCH = ROOT / "manifests" / "gitops" / "argocd-cm-patch.yaml"
CM_KEY = "resource.customizations.health.hopper.dev_HopperInstance"
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# Removes what Argo CD's argocd-cm scripts do not get. The string metatable goes too: in
# gopher-lua without the string library, ("x"):find(...) fails as well. The loaders
# (load*, dofile, require) go although gopher-lua's base and package libraries have them:
# a health check has no business loading code.
_SANDBOX = """
local safe_os = {time = os.time, date = os.date}
debug.setmetatable("", nil)
for _, name in ipairs({
  "string", "io", "os", "debug", "math", "coroutine", "package", "module", "require",
  "load", "loadstring", "loadfile", "dofile", "newproxy", "gcinfo", "python",
}) do
  _G[name] = nil
end
os = safe_os
"""


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            if item is not None:
                table[key] = _to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = _to_lua(lua, item)
        return table
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def run_health_script(obj: dict[str, Any], script: str | None = None) -> dict[str, str]:
    """What Argo CD would show for `obj`: {"status": ..., "message": ...}."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute(_SANDBOX)
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script if script is not None else SCRIPT.read_text())
    assert lua.eval("type")(result) == "table", f"the script returned {result!r}, not a table"
    health = dict(result.items())
    assert set(health) <= {"status", "message"}, health
    assert health.get("status") in HEALTH_STATUSES, health
    return {"status": health["status"], "message": health.get("message", "")}


def argocd_health(obj: dict[str, Any]) -> dict[str, str]:
    """Argo CD's verdict: it shows an object being deleted as Progressing itself."""
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return {"status": "Progressing", "message": "Pending deletion"}
    return run_health_script(obj)


def _cond(
    kind: str, status: str, reason: Reason, message: str, generation: int = 1
) -> dict[str, Any]:
    """A condition as the operator writes it: only reasons it has can be fed."""
    return {
        "type": kind,
        "status": status,
        "reason": reason.value,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


def _instance(
    *,
    generation: int = 1,
    observed: int | None = 1,
    phase: str | None = "Running",
    conditions: list[dict[str, Any]] | None = None,
    status: bool = True,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "hopper.dev/v1alpha1",
        "kind": "HopperInstance",
        "metadata": {"name": "acme", "namespace": "hopper", "generation": generation},
        "spec": {"scope": "GLOBAL", "state": "Running", "config": {}, "parentRef": None},
    }
    if status:
        obj["status"] = {
            "phase": phase,
            "observedGeneration": observed,
            "depth": 0,
            "conditions": conditions or [],
        }
    return obj


PARENT_OK = _cond("ParentReady", "True", Reason.ROOT_INSTANCE, "a root instance")
READY = _cond("Ready", "True", Reason.RECONCILED, "Running as desired (Running)")

CASES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "generation not yet observed": (
        _instance(generation=3, observed=2, conditions=[READY, PARENT_OK]),
        {
            "status": "Progressing",
            "message": "Waiting for the operator to observe generation 3 "
            "(status describes generation 2)",
        },
    ),
    "stalled": (
        _instance(
            phase="Created",
            conditions=[
                _cond("Ready", "False", Reason.PARENT_SCOPE_INVALID, "parent acme-web is PROJECT"),
                _cond(
                    "ParentReady",
                    "False",
                    Reason.PARENT_SCOPE_INVALID,
                    "parent acme-web is PROJECT",
                ),
                _cond("Stalled", "True", Reason.PARENT_SCOPE_INVALID, "parent acme-web is PROJECT"),
            ],
        ),
        {"status": "Degraded", "message": "parent acme-web is PROJECT"},
    ),
    "reconciling": (
        _instance(
            phase="Created",
            conditions=[
                _cond("Ready", "False", Reason.PARENT_NOT_FOUND, "parent acme does not exist"),
                _cond(
                    "ParentReady", "False", Reason.PARENT_NOT_FOUND, "parent acme does not exist"
                ),
                _cond("Reconciling", "True", Reason.PARENT_NOT_FOUND, "parent acme does not exist"),
            ],
        ),
        {"status": "Progressing", "message": "parent acme does not exist"},
    ),
    "paused": (
        _instance(
            generation=2,
            observed=2,
            phase="Paused",
            conditions=[
                _cond("Ready", "True", Reason.RECONCILED, "Paused as desired (Paused)", 2),
                PARENT_OK,
            ],
        ),
        {"status": "Suspended", "message": "Paused as desired (Paused)"},
    ),
    "running and ready": (
        _instance(conditions=[READY, PARENT_OK]),
        {"status": "Healthy", "message": "Running as desired (Running)"},
    ),
    "error": (
        _instance(
            phase="Error",
            conditions=[
                _cond("Ready", "False", Reason.DEPLOYMENT_FAILED, "image pull failed"),
                PARENT_OK,
            ],
        ),
        {"status": "Degraded", "message": "image pull failed"},
    ),
    "no status": (
        _instance(status=False),
        {"status": "Progressing", "message": "Waiting for status"},
    ),
    # Beyond the required table: the corners where kstatus and Argo CD could part ways.
    "status without observedGeneration": (
        _instance(observed=None, conditions=[READY]),
        {"status": "Progressing", "message": "Waiting for status"},
    ),
    "ready false without reconciling": (
        _instance(phase="Starting", conditions=[_cond("Ready", "False", Reason.WALKING, "x")]),
        {"status": "Progressing", "message": "Waiting for status"},
    ),
    "stalled wins over a stale ready": (
        _instance(conditions=[READY, _cond("Stalled", "True", Reason.DEPLOYMENT_FAILED, "")]),
        {"status": "Degraded", "message": "DeploymentFailed"},
    ),
    "error with stalled": (
        _instance(
            phase="Error",
            conditions=[
                _cond("Ready", "False", Reason.DEPLOYMENT_FAILED, "the workload failed"),
                _cond(
                    "Stalled", "True", Reason.DEPLOYMENT_FAILED, "Deployment exceeded its deadline"
                ),
            ],
        ),
        {"status": "Degraded", "message": "Deployment exceeded its deadline"},
    ),
    "paused but not settled": (
        _instance(
            phase="Running",
            conditions=[
                _cond("Ready", "False", Reason.WALKING, "walking from Running towards Paused"),
                _cond("Reconciling", "True", Reason.WALKING, "walking from Running towards Paused"),
            ],
        ),
        {"status": "Progressing", "message": "walking from Running towards Paused"},
    ),
    "being deleted": (
        {
            **_instance(conditions=[READY]),
            "metadata": {"name": "a", "generation": 1, "deletionTimestamp": "2025-01-01T00:00:00Z"},
        },
        {"status": "Progressing", "message": "Pending deletion"},
    ),
}


@pytest.mark.parametrize(("obj", "expected"), CASES.values(), ids=CASES.keys())
def test_health(obj: dict[str, Any], expected: dict[str, str]) -> None:
    assert run_health_script(obj) == expected


def test_numbers_reach_the_script_as_floats() -> None:
    # gopher-lua has one number type (float64); 2 and 2.0 must compare equal in the script.
    obj = _instance(generation=2, observed=2, conditions=[READY])
    obj["status"]["observedGeneration"] = 2.0
    assert run_health_script(obj)["status"] == "Healthy"


@pytest.mark.parametrize(
    "call",
    ['string.find("Paused", "Pause")', '("Paused"):find("Pause")', 'require("string")'],
)
def test_the_sandbox_has_no_string_library(call: str) -> None:
    script = f'local found = {call}\nreturn {{status = "Healthy", message = "found"}}'
    with pytest.raises(lua51.LuaError):
        run_health_script(_instance(conditions=[READY]), script)


def test_the_sandbox_keeps_what_argocd_offers() -> None:
    script = """
    local parts = {}
    for _, c in ipairs(obj.status.conditions) do table.insert(parts, c.type) end
    assert(os.time() > 0 and os.date("!%Y") ~= nil and os.execute == nil and io == nil)
    return {status = "Healthy", message = table.concat(parts, ",") .. " " .. tostring(#parts)}
    """
    health = run_health_script(_instance(conditions=[READY, PARENT_OK]), script)
    assert health == {"status": "Healthy", "message": "Ready,ParentReady 2"}


def test_script_uses_no_library_argocd_lacks() -> None:
    # Belt and braces beside the sandbox: the text names none of the missing libraries.
    code = "\n".join(line.split("--", 1)[0] for line in SCRIPT.read_text().splitlines())
    for name in ("string.", ":find", ":sub", ":match", ":gsub", "require", "io.", "math."):
        assert name not in code, name


def test_argocd_cm_patch_embeds_the_script_verbatim() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"][CM_KEY] == SCRIPT.read_text()
