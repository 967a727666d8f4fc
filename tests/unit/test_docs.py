"""The documentation holds together: every relative link lands on a file (and a heading,
when it names one), none leaves the repository, and the README's dependency table gives
each dependency the range pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OTHER_PAGES = ("README.md", "manifests/gitops/README.md", "bench/RESULTS.md")
PAGES = sorted([*(ROOT / name for name in OTHER_PAGES), *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
REQUIREMENT = re.compile(r"(?P<name>[\w.-]+)(\[[\w,]+\])?(?P<range>.*)")


def prose(text: str) -> str:
    """The text without code blocks and code spans, where a bracket is not a link."""
    return CODE.sub("", FENCE.sub("", text))


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text()))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped,
    spaces turned to hyphens, a repeat suffixed -1, -2..."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def test_the_pages_link_to_something() -> None:
    """So that a change of the pattern cannot make every other test here pass on nothing."""
    assert all(page.exists() for page in PAGES)
    assert sum(len(links(page)) for page in PAGES) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands(page: Path) -> None:
    broken = []
    for target in links(page):
        if SCHEME.match(target):
            broken.append(f"{target}: links outside the repository")
            continue
        path, _, anchor = target.partition("#")
        landing = (page.parent / path).resolve() if path else page
        if not landing.exists():
            broken.append(f"{target}: no such file")
        elif not landing.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif anchor and (landing.suffix != ".md" or anchor not in anchors(landing)):
            broken.append(f"{target}: no heading #{anchor} in {landing.relative_to(ROOT)}")
    assert not broken


def test_anchors_are_made_as_github_makes_them(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## The node tier (`make e2e`)\n\n```\n# not a heading\n```\n"
        "## The webhooks' certificate\n\n## Title\n"
    )
    expected = {"title", "the-node-tier-make-e2e", "the-webhooks-certificate", "title-1"}
    assert anchors(page) == expected


def pinned() -> dict[str, str]:
    """Every dependency pyproject.toml pins (the operator's, its extras', the local
    cluster's), by name: its range as written there."""
    found: dict[str, str] = {}
    for project in (ROOT / "pyproject.toml", ROOT / "localcluster" / "pyproject.toml"):
        table = tomllib.loads(project.read_text())["project"]
        requirements = [*table.get("dependencies", ())]
        for extra in table.get("optional-dependencies", {}).values():
            requirements += extra
        for requirement in requirements:
            parsed = REQUIREMENT.fullmatch(requirement)
            assert parsed, requirement
            if not parsed["name"].startswith("hopper-"):  # this repository's own
                found[parsed["name"]] = parsed["range"].replace(" ", "")
    return found


def test_the_readme_names_every_dependency_with_its_range() -> None:
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| ")]
    dependencies = pinned()
    assert {"kopf", "pydantic", "pytest"} <= set(dependencies)
    missing = [
        f"{name} {spec}"
        for name, spec in dependencies.items()
        if not any(f"`{name}` {spec} " in row for row in rows)
    ]
    assert not missing, "add a row to the README's dependency table: `name` range | why |"
