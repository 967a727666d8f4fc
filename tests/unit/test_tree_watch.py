"""`kubectl hopper tree --watch`: kubectl's stream read, each change said once, errors shown."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hopper_operator.cli.kubectl_plugin import Kubectl, listed, main
from hopper_operator.cli.tree import NONE_FOUND, change_line
from hopper_operator.cli.watching import CLEAR, Forest, JsonStream, Screen, WatchEvent, follow


def instance(name: str, phase: str, *, parent: str | None = None, ns: str = "team-a") -> Any:
    ready = "True" if phase in ("Running", "Paused") else "False"
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"scope": "PROJECT" if parent else "GLOBAL", "parentRef": {"name": parent}},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": ready, "reason": "Reconciled"}],
        },
    }


def event(kind: str, obj: Any) -> WatchEvent:
    return {"type": kind, "object": obj}


def test_json_texts_are_read_back_to_back_however_the_bytes_are_cut() -> None:
    events = [event("ADDED", instance("acmé", "Running")), event("DELETED", instance("b", "x"))]
    # kubectl indents each text and writes them one after the other
    written = "".join(json.dumps(e, indent=4, ensure_ascii=False) + "\n" for e in events)
    stream, found = JsonStream(), []
    for byte in written.encode():  # one byte at a time: the é is cut in two
        found += stream.feed(bytes([byte]))
    assert found == events
    assert JsonStream().feed(written.encode()) == events


def test_each_change_is_said_once_and_a_relist_says_what_went() -> None:
    forest = Forest()
    assert forest.take(event("ADDED", instance("acme", "Running"))) == (
        "team-a/acme Running True Reconciled"
    )
    assert forest.take(event("MODIFIED", instance("acme", "Running"))) is None  # same columns
    assert forest.take(event("ADDED", instance("web", "Starting", parent="acme"))) == (
        "team-a/web Starting False Reconciled"
    )
    assert forest.take({"type": "BOOKMARK", "object": {"metadata": {"name": ""}}}) is None
    assert forest.keep([instance("acme", "Running")]) == ["team-a/web Deleted - -"]
    assert list(forest.objects) == [("team-a", "acme")]
    assert forest.take(event("DELETED", instance("acme", "Running"))) == "team-a/acme Deleted - -"
    assert forest.objects == {}


def test_the_line_of_a_stalled_or_unreconciled_instance() -> None:
    stalled = instance("wrong", "Created", parent="acme")
    stalled["status"]["conditions"].append(
        {"type": "Stalled", "status": "True", "reason": "ParentScopeInvalid"}
    )
    assert change_line(stalled) == "team-a/wrong Created False ParentScopeInvalid"
    fresh = {"metadata": {"name": "new", "namespace": "team-a"}, "spec": {}}
    assert change_line(fresh) == "team-a/new Created - -"


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in kubectl on $KUBECTL: each `get -w` prints the next of `watches` and exits
    with its code; each list prints the next of `lists`. Returns the directory of both."""
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, pathlib, sys\n"
        f"here = pathlib.Path({str(tmp_path)!r})\n"
        "kind = 'watches' if '--watch' in sys.argv else 'lists'\n"
        "queue = json.loads((here / kind).read_text())\n"
        "(here / kind).write_text(json.dumps(queue[1:]))\n"
        "out, err, code = queue[0]\n"
        "sys.stdout.write(out); sys.stderr.write(err); sys.exit(code)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("KUBECTL", str(fake))
    return tmp_path


def script(directory: Path, watches: list[tuple[list[WatchEvent], str, int]], lists: Any) -> None:
    (directory / "watches").write_text(
        json.dumps(
            [["".join(json.dumps(e, indent=4) for e in es), err, c] for es, err, c in watches]
        )
    )
    items = [[json.dumps({"items": objects}), "", 0] for objects in lists]
    (directory / "lists").write_text(json.dumps(items))


def test_piped_a_line_per_change_across_a_restart_then_kubectl_s_error(
    kubectl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acme, web = instance("acme", "Running"), instance("web", "Running", parent="acme")
    paused = instance("acme", "Paused")
    first = [event("ADDED", acme), event("ADDED", web), event("MODIFIED", paused)]
    # kubectl's own timeout ended the first watch (exit 0); web went before the second
    # listed anything; the second replays acme, then fails.
    again = [event("ADDED", paused), event("ADDED", instance("data", "Starting"))]
    script(
        kubectl,
        [(first, "", 0), (again, "error: the server is gone\n", 1)],
        [[acme, web], [paused]],
    )
    assert main(["tree", "-w", "-n", "team-a"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "team-a/acme Running True Reconciled",
        "team-a/web Running True Reconciled",
        "team-a/acme Paused True Reconciled",
        "team-a/web Deleted - -",
        "team-a/data Starting False Reconciled",
    ]
    assert err == "error: the server is gone\n"


def test_on_a_terminal_the_tree_is_redrawn_on_each_change(kubectl: Path) -> None:
    acme = instance("acme", "Running")
    script(
        kubectl,
        [([event("ADDED", acme), event("MODIFIED", instance("acme", "Paused"))], "", 1)],
        [[acme]],
    )
    screen = Screen(io.StringIO(), terminal=True, all_namespaces=False)
    cluster = Kubectl(("-n", "team-a"))
    start = lambda: cluster.stream("get", "--watch")  # noqa: E731
    assert follow(start, lambda: listed(cluster, False), screen) == 2
    assert (
        screen.out.getvalue().split(CLEAR)[-1] == "acme [GLOBAL] Paused (desired Running) ready\n"
    )


def test_an_empty_namespace_is_said_at_once_and_a_missing_kubectl_is_an_error(
    kubectl: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script(kubectl, [([], "", 1)], [[]])
    screen = Screen(io.StringIO(), terminal=True, all_namespaces=True)
    cluster = Kubectl()
    assert follow(lambda: cluster.stream("--watch"), lambda: listed(cluster, True), screen) == 2
    assert screen.out.getvalue() == f"{CLEAR}{NONE_FOUND}\n"
    assert capsys.readouterr().err == "error: kubectl exited with 1\n"
    monkeypatch.setenv("KUBECTL", "/nonexistent/kubectl")
    assert main(["tree", "--watch"]) == 2
    assert "error: cannot run /nonexistent/kubectl" in capsys.readouterr().err


def test_ctrl_c_ends_the_watch_with_0() -> None:
    def interrupted() -> Any:
        raise KeyboardInterrupt

    assert follow(interrupted, list, Screen(io.StringIO(), False, False)) == 0
