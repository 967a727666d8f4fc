"""Build the krew archive and manifest of `kubectl hopper`: `make krew`.

The plugin uses the standard library only, so it ships as one executable zip of its
modules (`python3 kubectl-hopper ...`), in a tar.gz. The manifest is
tools/krew/hopper.yaml with the version, the archive's address and its sha256 filled in.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import string
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "hopper_operator"
# The plugin's modules, and nothing that needs a third-party package.
MODULES = (
    "__init__.py",
    "api/__init__.py",
    "api/enums.py",
    "api/meta.py",
    "api/wire.py",
    "cli/__init__.py",
    "cli/completion.py",
    "cli/kubectl_plugin.py",
    "cli/tree.py",
    "cli/watching.py",
    "core/__init__.py",
    "core/lifecycle.py",
    "core/verbs.py",
)
MAIN = "from hopper_operator.cli.kubectl_plugin import main\n\nraise SystemExit(main())\n"
EXECUTABLE = 0o755
READABLE = 0o644
# Fixed timestamps: the same sources give the same archive, and the same sha256.
EPOCH = (1980, 1, 1, 0, 0, 0)


def zipapp() -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", EPOCH), MAIN)
        for module in MODULES:
            info = zipfile.ZipInfo(f"hopper_operator/{module}", EPOCH)
            archive.writestr(info, (PACKAGE / module).read_bytes())
    return buffer.getvalue()


def tarball(plugin: bytes) -> bytes:
    """The plugin and the licence it is distributed under (krew indexes ask for one)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content, mode in (
            ("kubectl-hopper", plugin, EXECUTABLE),
            ("LICENSE", (ROOT / "LICENSE").read_bytes(), READABLE),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 0
            archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def build(out: Path, uri: str | None) -> tuple[Path, Path]:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "kubectl-hopper.tar.gz"
    archive.write_bytes(tarball(zipapp()))
    manifest = out / "hopper.yaml"
    template = (Path(__file__).parent / "hopper.yaml").read_text()
    manifest.write_text(
        string.Template(template).substitute(
            version=version,
            uri=uri or archive.name,
            sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
        )
    )
    return archive, manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--uri", help="where the archive will be published")
    args = parser.parse_args()
    for path in build(args.out, args.uri):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
