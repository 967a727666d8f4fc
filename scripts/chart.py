"""The Helm chart is the one source of the deployment manifests; this renders it.

    python -m scripts.chart manifests        manifests/*.yaml and docs/install.md's values table
    python -m scripts.chart release 0.2.0    dist/hopper-operator-0.2.0.yaml (one file to
                                             apply) and dist/hopper-operator-0.2.0.tgz

Both run the helm built from the module pinned in tools/helm (`make manifests`, `make
release` and the tests all go through here, so what they check is what ships).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from hopper_operator.api.crd import CRD_FILE

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "hopper-operator"
VALUES = CHART / "values.yaml"
CRD = ROOT / CRD_FILE
MANIFESTS = ROOT / "manifests"
VALUES_PAGE = ROOT / "docs" / "install.md"  # holds the values table
DIST = ROOT / "dist"
RELEASE = "hopper-operator"
NAMESPACE = "hopper-system"
# manifests/ and the release bundle are applied with kubectl, not Helm: they carry the
# namespace themselves (Helm users pass --create-namespace or bring their own).
BUNDLE_VALUES = ("--set", "namespace.create=true")
GENERATED = (
    "# Generated from charts/hopper-operator by `make manifests`: edit the chart, not this file.\n"
)
TABLE_START, TABLE_END = "<!-- values-table:start -->", "<!-- values-table:end -->"
SEMVER = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


def tool(name: str) -> Path:
    """A pinned tool (tools/NAME/build.sh builds it once per machine and prints its path)."""
    built = subprocess.run(
        [str(ROOT / "tools" / name / "build.sh")], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise RuntimeError(f"tools/{name}/build.sh failed:\n{built.stderr}")
    return Path(built.stdout.strip().splitlines()[-1])


def helm(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(tool("helm")), *args], capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)}:\n{result.stderr}")
    return result.stdout


def template(
    *values: str, chart: Path = CHART, namespace: str = NAMESPACE, release: str = RELEASE
) -> str:
    """`helm template` of the release as manifests/ and the bundle have it, CRD included."""
    return helm(
        "template", release, str(chart), "--namespace", namespace, "--include-crds", *values
    )


def documents(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def by_source(rendered: str) -> dict[str, str]:
    """Rendered documents grouped by the chart file they come from (helm's `# Source:`)."""
    files: dict[str, list[str]] = {}
    for chunk in re.split(r"^---\n", rendered, flags=re.MULTILINE):
        source = re.match(r"# Source: [^/\n]+/(?:templates|crds)/(\S+)\n", chunk)
        if source is None:
            if chunk.strip():
                raise ValueError(f"a rendered document without a source: {chunk[:200]}")
            continue
        body = chunk[source.end() :].strip("\n")
        if any(line.strip() and not line.lstrip().startswith("#") for line in body.splitlines()):
            files.setdefault(Path(source[1]).name, []).append(body + "\n")
    return {name: GENERATED + "---\n".join(docs) for name, docs in files.items()}


def kustomization(names: Sequence[str]) -> str:
    resources = "".join(f"  - {name}\n" for name in names)
    return (
        GENERATED
        + "# `kubectl apply -k manifests/` installs the operator: the CRD, its namespace,\n"
        + "# RBAC (its own, the Lease's, the metrics reader's, the user roles), the Deployment,\n"
        + "# its metrics Service, PodDisruptionBudget and admission webhooks (Service and\n"
        + "# configurations). manifests/samples/ (example\n"
        + "# HopperInstances) is deliberately not included: apply it on its own.\n"
        + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + resources
    )


def rendered_manifests() -> dict[str, str]:
    """What manifests/*.yaml must hold: the chart with its default values, CRD first."""
    files = by_source(template(*BUNDLE_VALUES))
    order = sorted(files, key=lambda name: (name != CRD.name, name != "namespace.yaml", name))
    return {name: files[name] for name in order} | {"kustomization.yaml": kustomization(order)}


# -- the values table (docs/install.md) ----------------------------------------------------


def documented_values(text: str) -> Iterator[tuple[str, str]]:
    """(dotted key, description) for each key with a `# --` comment above it."""
    path: list[tuple[int, str]] = []
    doc: str | None = None
    for line in text.splitlines():
        comment = re.match(r"\s*# -- (.*)", line)
        if comment:
            doc = comment[1]
            continue
        key = re.match(r"(\s*)([A-Za-z_][\w]*):", line)
        if key is None:
            continue
        indent = len(key[1])
        path = [(level, name) for level, name in path if level < indent] + [(indent, key[2])]
        if doc is not None:
            yield ".".join(name for _, name in path), doc
            doc = None


def values_table(text: str) -> str:
    values = yaml.safe_load(text)
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for key, description in documented_values(text):
        default: Any = values
        for part in key.split("."):
            default = default[part]
        shown = json.dumps(default, separators=(", ", ": "))
        rows.append(f"| `{key}` | `{_cell(shown)}` | {_cell(description)} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def with_values_table(page: str, table: str) -> str:
    start, end = page.index(TABLE_START) + len(TABLE_START), page.index(TABLE_END)
    return page[:start] + "\n" + table + page[end:]


# -- commands --------------------------------------------------------------------------------


def write_manifests() -> None:
    files = rendered_manifests()
    for stale in set(MANIFESTS.glob("*.yaml")) - {MANIFESTS / name for name in files}:
        stale.unlink()
    for name, text in files.items():
        (MANIFESTS / name).write_text(text)
    write_values_table()


def write_values_table() -> None:
    page = VALUES_PAGE.read_text()
    VALUES_PAGE.write_text(with_values_table(page, values_table(VALUES.read_text())))


def release(version: str, dist: Path = DIST) -> tuple[Path, Path]:
    """The one-file bundle and the packaged chart, both pinned to `version` (image included)."""
    if not SEMVER.fullmatch(version):
        raise SystemExit(f"VERSION must be x.y.z (semantic version), not {version!r}")
    dist.mkdir(exist_ok=True)
    helm(
        "package",
        str(CHART),
        "--version",
        version,
        "--app-version",
        version,
        "--destination",
        str(dist),
    )
    chart = dist / f"{RELEASE}-{version}.tgz"
    bundle = dist / f"{RELEASE}-{version}.yaml"
    header = (
        f"# hopper-operator {version}: the CRD, the {NAMESPACE} namespace, RBAC, the operator\n"
        f"# Deployment, its metrics Service and PodDisruptionBudget, rendered from the\n"
        f"# packaged chart {chart.name} with its default values.\n"
        f"# Install: kubectl apply --server-side -f {bundle.name}\n"
    )
    bundle.write_text(header + template(*BUNDLE_VALUES, chart=chart))
    return bundle, chart


def main(argv: Sequence[str]) -> int:
    match list(argv):
        case ["manifests"]:
            write_manifests()
        case ["readme"]:
            write_values_table()
        case ["release", version]:
            for path in release(version):
                print(path.relative_to(ROOT))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
