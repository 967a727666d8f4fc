"""The krew archive: its manifest names it by sha256, and the plugin in it needs no package."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml
from tools.krew.build import build


def test_the_archive_matches_its_manifest_and_runs_on_the_standard_library(
    tmp_path: Path,
) -> None:
    archive, manifest = build(tmp_path / "dist", "https://releases.invalid/kubectl-hopper.tar.gz")
    plugin = yaml.safe_load(manifest.read_text())
    assert plugin["kind"] == "Plugin" and plugin["metadata"]["name"] == "hopper"
    (platform,) = plugin["spec"]["platforms"]
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert platform["uri"] == "https://releases.invalid/kubectl-hopper.tar.gz"
    with tarfile.open(archive) as opened:
        opened.extractall(tmp_path / "installed", filter="data")
    # krew installs what the manifest lists: the plugin and the licence it declares
    assert {f["from"] for f in platform["files"]} == {"kubectl-hopper", "LICENSE"}
    licence = (tmp_path / "installed" / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    binary = tmp_path / "installed" / platform["bin"]
    # -I -S: no site-packages, no user paths: only what the archive carries.
    for args in (["--help"], ["completion", "bash"], ["__complete", "pa"]):
        run = subprocess.run(
            [sys.executable, "-I", "-S", str(binary), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["pause", ":4"]
    assert build(tmp_path / "again", None)[0].read_bytes() != b""
    again = hashlib.sha256((tmp_path / "again" / "kubectl-hopper.tar.gz").read_bytes())
    assert again.hexdigest() == platform["sha256"]  # the same sources, the same archive
