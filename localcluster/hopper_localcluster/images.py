"""The images a node runs, built locally by scripts/images/build.sh (no registry needed)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hopper_localcluster.binaries import ControlPlaneError, repo_root

BUILD_SCRIPT = Path("scripts/images/build.sh")


class Role(StrEnum):
    OPERATOR = "operator"
    PAUSE = "pause"
    WORKLOAD = "workload"


@dataclass(frozen=True)
class Image:
    name: str
    archive: Path


def build_images() -> dict[Role, Image]:
    """Build (or find cached) every image; the script's progress goes to stderr."""
    root = repo_root()
    if root is None:
        raise ControlPlaneError("The images are built from a checkout (Dockerfile, scripts/).")
    result = subprocess.run(
        [str(root / BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    images = {}
    for line in result.stdout.splitlines():
        role, name, archive = line.split()
        images[Role(role)] = Image(name=name, archive=Path(archive))
    missing = set(Role) - set(images)
    if missing:
        raise ControlPlaneError(f"{BUILD_SCRIPT} built no {', '.join(sorted(missing))} image")
    return images
