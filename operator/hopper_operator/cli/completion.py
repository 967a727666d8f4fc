"""Shell completion for `kubectl hopper`: one engine, three ways in.

- `kubectl hopper completion bash|zsh` prints a script completing `kubectl-hopper`, which
  asks `kubectl-hopper __complete WORDS...`;
- kubectl itself (1.26+) completes `kubectl hopper ...` by running the executable
  `kubectl_complete-hopper`, installed with the package;
- both ask `kubectl_plugin.complete_main`, which answers as kubectl's own completion
  does (cobra's protocol): one candidate a line, then `:4` (no file names).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

SHELLS = ("bash", "zsh")
NO_FILE_COMPLETION = 4  # cobra's ShellCompDirectiveNoFileComp

_BASH = """\
# bash completion for kubectl-hopper; kubectl 1.26+ completes `kubectl hopper` by itself
_kubectl_hopper() {
    local IFS=$'\\n'
    COMPREPLY=($(kubectl-hopper __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null \\
        | grep -v '^:'))
}
complete -F _kubectl_hopper kubectl-hopper"""

_ZSH = """\
#compdef kubectl-hopper
# zsh completion for kubectl-hopper; kubectl 1.26+ completes `kubectl hopper` by itself
_kubectl_hopper() {
    local -a candidates
    candidates=("${(@f)$(kubectl-hopper __complete "${(@)words[2,CURRENT]}" 2>/dev/null \\
        | grep -v '^:')}")
    compadd -a candidates
}
compdef _kubectl_hopper kubectl-hopper"""


def script(shell: str) -> str:
    return {"bash": _BASH, "zsh": _ZSH}[shell]


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and action.help is not argparse.SUPPRESS
    )


def complete(
    words: Sequence[str],
    parser: argparse.ArgumentParser,
    names: Callable[[], list[str]],
) -> list[str]:
    """Candidates for the last of `words` (the word being typed, maybe empty); `names()`
    lists the instances, asked only when a name is what comes next."""
    *before, current = words or [""]
    verbs = _verbs(parser)
    typed = [word for word in before if not word.startswith("-")]
    verb = next((word for word in typed if word in verbs), None)
    if current.startswith("-"):
        candidates = _flags(verbs[verb] if verb else parser)
    elif verb is None:
        candidates = sorted(verbs)
    elif verb == "completion":
        candidates = list(SHELLS)
    elif verb == "tree":
        candidates = []
    else:
        candidates = names()
    return [c for c in candidates if c.startswith(current)]


def answer(candidates: list[str]) -> str:
    return "\n".join([*candidates, f":{NO_FILE_COMPLETION}"])
