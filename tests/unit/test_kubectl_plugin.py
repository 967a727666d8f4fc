"""`kubectl hopper` on the command line: flags anywhere, kubectl's passed through, errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hopper_operator.cli import completion
from hopper_operator.cli.kubectl_plugin import complete_main, main, parser, split_kubectl_flags


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in kubectl on $KUBECTL that records its argument lists, one JSON line each."""
    log = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if 'name' in sys.argv:\n"
        "    print('hopperinstance.hopper.dev/acme\\nhopperinstance.hopper.dev/acme-web')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("KUBECTL", str(fake))
    return log


def recorded(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_kubectl_flags_are_taken_from_anywhere_on_the_line() -> None:
    flags, rest = split_kubectl_flags(
        ["-n", "team-a", "pause", "acme", "--context=dev", "--as", "jane", "--wait"]
    )
    assert flags == ("-n", "team-a", "--context=dev", "--as", "jane")
    assert rest == ["pause", "acme", "--wait"]


def test_pause_after_its_name_with_namespace_and_context(calls: Path) -> None:
    assert main(["pause", "acme", "-n", "team-a", "--context", "dev"]) == 0
    (call,) = recorded(calls)
    assert call[:4] == ["-n", "team-a", "--context", "dev"]
    assert call[4:7] == ["patch", "hopperinstances.hopper.dev", "acme"]
    assert json.loads(call[-1]) == {"spec": {"state": "Paused"}}


def test_several_names_and_errors_in_kubectl_words(
    calls: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["stop", "a", "b"]) == 0
    assert [call[2] for call in recorded(calls)] == ["a", "b"]
    monkeypatch.setenv("KUBECTL", "/nonexistent/kubectl")
    assert main(["stop", "a"]) == 2
    assert (
        capsys.readouterr().err
        == "error: cannot run /nonexistent/kubectl: No such file or directory\n"
    )


def test_a_wrong_command_line_is_said_as_kubectl_says_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["pause", "acme", "--bogus"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown flag: --bogus\nSee 'kubectl hopper")
    with pytest.raises(SystemExit):
        main(["pause"])
    assert "error: the following arguments are required: NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["paus", "acme"])
    assert capsys.readouterr().err.startswith('error: unknown command "paus" for "kubectl hopper"')


def test_completion_scripts_and_candidates(calls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for shell in completion.SHELLS:
        assert main(["completion", shell]) == 0
        assert "kubectl-hopper __complete" in capsys.readouterr().out
    assert completion.complete(["pa"], parser(), lambda: []) == ["pause"]
    assert completion.complete(["pause", "--w"], parser(), lambda: []) == ["--wait"]
    assert completion.complete(["tree", "--a"], parser(), lambda: []) == ["--all-namespaces"]
    assert complete_main(["-n", "team-a", "pause", "acme-"]) == 0
    assert capsys.readouterr().out.splitlines() == ["acme-web", ":4"]
    assert recorded(calls)[-1][:3] == ["-n", "team-a", "get"]  # names from that namespace


def test_the_bash_script_completes_through_the_installed_plugin(calls: Path) -> None:
    bin_dir = Path(sys.executable).parent  # where kubectl-hopper is installed
    script = completion.script("bash")
    probe = f"""{script}
COMP_WORDS=(kubectl-hopper -n team-a res); COMP_CWORD=3; _kubectl_hopper
echo "${{COMPREPLY[*]}}"
COMP_WORDS=(kubectl-hopper pause acme-w); COMP_CWORD=2; _kubectl_hopper
echo "${{COMPREPLY[*]}}"
"""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["restart resume", "acme-web"]
