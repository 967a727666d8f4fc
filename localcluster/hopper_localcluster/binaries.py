"""Finding (and, on request, building) the control plane's binaries.

The binaries are built from the Go module in tools/controlplane, whose go.mod pins the
Kubernetes and etcd versions; the build cache directory is named after those versions so
that bumping a pin can never silently reuse binaries of the old one.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

GO_MOD = Path("tools/controlplane/go.mod")
BUILD_SCRIPT = Path("tools/controlplane/build.sh")

HOW_TO_GET = (
    "Build them with `make controlplane` (or `tools/controlplane/build.sh` from the "
    "repository root; the first build takes 20-30 minutes), or set KUBEBUILDER_ASSETS to a "
    "directory holding etcd, kube-apiserver, kube-controller-manager and kubectl."
)


class ControlPlaneError(RuntimeError):
    """The control plane cannot be found, built, started or stopped."""


class PinnedVersions(NamedTuple):
    kubernetes: str
    etcd: str


def repo_root(start: Path | None = None) -> Path | None:
    """The checkout this package runs from, if it runs from one (not from a wheel)."""
    here = (start or Path(__file__)).resolve()
    for directory in (here, *here.parents):
        if (directory / GO_MOD).is_file():
            return directory
    return None


def _required_version(go_mod: str, module: str) -> str | None:
    # Matches both `require m vX` and a line inside a `require (...)` block, but not a
    # `replace m => ...` line (the arrow is not a version).
    pattern = rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)"
    match = re.search(pattern, go_mod, flags=re.MULTILINE)
    return match.group(1) if match else None


def pinned_versions(root: Path | None = None) -> PinnedVersions | None:
    """Kubernetes and etcd versions pinned in tools/controlplane/go.mod."""
    root = root or repo_root()
    if root is None:
        return None
    text = (root / GO_MOD).read_text()
    kubernetes = _required_version(text, "k8s.io/kubernetes")
    etcd = _required_version(text, "go.etcd.io/etcd/server/v3")
    if kubernetes is None or etcd is None:
        return None
    return PinnedVersions(kubernetes=kubernetes, etcd=etcd)


def cache_dir() -> Path | None:
    """Where tools/controlplane/build.sh puts the binaries (must match its `out=`)."""
    versions = pinned_versions()
    if versions is None:
        return None
    xdg_cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(os.environ.get("HOPPER_CACHE_DIR") or Path(xdg_cache) / "hopper-operator")
    return root / "controlplane" / f"kubernetes-{versions.kubernetes}-etcd-{versions.etcd}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(name: str) -> Path:
    """Locate `name` (e.g. "kube-apiserver") the way envtest users expect, then our cache."""
    variable = "TEST_ASSET_" + name.upper().replace("-", "_")
    explicit = os.environ.get(variable)
    if explicit:
        # An explicit per-binary path that is wrong is a mistake to report, not to paper
        # over with some other binary found further down the list.
        if not _is_executable(Path(explicit)):
            raise ControlPlaneError(f"{variable}={explicit} is not an executable file.")
        return Path(explicit)

    candidates: list[Path] = []
    for dir_variable in ("KUBEBUILDER_ASSETS", "HOPPER_CONTROLPLANE_BIN"):
        directory = os.environ.get(dir_variable)
        if directory:
            candidates.append(Path(directory) / name)
    cached = cache_dir()
    if cached is not None:
        candidates.append(cached / name)

    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no directory configured)"
    raise ControlPlaneError(f"Cannot find {name}; looked in {looked}. {HOW_TO_GET}")


def ensure_built() -> Path:
    """Run tools/controlplane/build.sh (a no-op when built) and return its output dir."""
    root = repo_root()
    if root is None:
        raise ControlPlaneError(
            "Cannot build the control plane: tools/controlplane is not next to this package "
            "(installed from a wheel?). Set KUBEBUILDER_ASSETS to a directory holding "
            "etcd, kube-apiserver, kube-controller-manager and kubectl."
        )
    # stderr is inherited: the script's progress lines go straight to the person waiting.
    result = subprocess.run(
        [str(root / BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} failed with exit code {result.returncode}; see its output above."
        )
    return Path(lines[-1].strip())
