"""The operator's wheel holds the operator alone: the local cluster is tooling, never shipped."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_holds_the_operator_and_nothing_of_the_local_cluster(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), "."],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("hopper_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("hopper_operator-")}
    assert packages == {"hopper_operator"}
    assert "hopper_operator/controller/reconciler.py" in names
    left = [n for n in names if any(w in n for w in ("controlplane", "launcher", "node.py"))]
    assert left == []
