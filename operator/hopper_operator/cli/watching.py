"""`kubectl hopper tree --watch`: follow a `kubectl get -w` and show each change as it comes.

kubectl prints the current instances, then every change, as JSON texts written back to
back (`--output-watch-events -o json`); nothing here asks the API server on a timer. On a
terminal the tree is redrawn in place; piped, one line per change, as `kubectl get -w`.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, TextIO, TypedDict

from hopper_operator.api.wire import InstanceBody
from hopper_operator.cli.tree import change_line, draw_scoped

Key = tuple[str, str]  # namespace, name
CLEAR = "\x1b[H\x1b[2J"  # cursor home, then erase the screen: the next frame replaces it
_TEXT = re.compile(r"\S")


class WatchEvent(TypedDict):
    type: str  # ADDED, MODIFIED, DELETED (BOOKMARK and ERROR carry no instance)
    object: InstanceBody


def key(obj: InstanceBody) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class JsonStream:
    """The JSON texts of a byte stream that writes them back to back, each once complete."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder()
        self._buffer = ""

    def feed(self, chunk: bytes) -> list[WatchEvent]:
        self._buffer += self._utf8.decode(chunk)
        found: list[WatchEvent] = []
        position = 0
        while (text := _TEXT.search(self._buffer, position)) is not None:
            try:
                event, position = self._decoder.raw_decode(self._buffer, text.start())
            except json.JSONDecodeError:
                break  # the rest of this text is still on its way
            found.append(event)
        self._buffer = self._buffer[position:]
        return found


@dataclass
class Forest:
    """The instances the watch has shown, and the last line said about each."""

    objects: dict[Key, InstanceBody] = field(default_factory=dict)
    said: dict[Key, str] = field(default_factory=dict)

    def take(self, event: WatchEvent) -> str | None:
        """Apply one event: its line, or None when no column of that line changed."""
        kind = event.get("type")
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return None
        obj = event["object"]
        if kind == "DELETED":
            self.objects.pop(key(obj), None)
        else:
            self.objects[key(obj)] = obj
        return self._say(key(obj), change_line(obj, deleted=kind == "DELETED"))

    def keep(self, listed: Iterable[InstanceBody]) -> list[str]:
        """After a relist, forget what was deleted while no watch ran: a line for each."""
        present = {key(obj) for obj in listed}
        gone = [self.objects.pop(k) for k in list(self.objects) if k not in present]
        return [
            line for obj in gone if (line := self._say(key(obj), change_line(obj, deleted=True)))
        ]

    def _say(self, at: Key, line: str) -> str | None:
        # A restarted kubectl lists everything again: what was said already is not repeated.
        if self.said.get(at) == line:
            return None
        self.said[at] = line
        return line


@dataclass
class Screen:
    """Where changes go: the whole tree redrawn on a terminal, else one line per change."""

    out: TextIO
    terminal: bool
    all_namespaces: bool
    forest: Forest = field(default_factory=Forest)
    frame: list[str] = field(default_factory=list)

    def show(self, lines: Iterable[str | None]) -> None:
        if not self.terminal:
            self.out.writelines(f"{line}\n" for line in lines if line)
        elif (
            frame := draw_scoped(self.forest.objects.values(), self.all_namespaces)
        ) != self.frame:
            self.frame = frame
            self.out.write(CLEAR + "".join(f"{line}\n" for line in frame))
        self.out.flush()


@dataclass
class Child:
    """A running `kubectl get -w`: its output, and the file its error messages go to."""

    process: subprocess.Popen[bytes]
    errors: IO[bytes]

    def pump(self, screen: Screen) -> int:
        """Show what kubectl prints until it ends; its exit code."""
        assert self.process.stdout is not None
        stream, output = JsonStream(), self.process.stdout.fileno()
        while chunk := os.read(output, 1 << 16):
            screen.show([screen.forest.take(event) for event in stream.feed(chunk)])
        return self.process.wait()

    def message(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace").strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


def follow(
    start: Callable[[], Child], relist: Callable[[], list[InstanceBody]], screen: Screen
) -> int:
    """Until interrupted (0) or kubectl fails (2, its message on stderr).

    A watch kubectl ends on its own (its request timeout) starts again; the list taken
    after it starts tells which instances went meanwhile, and its replay of the current
    ones says nothing already said.
    """
    try:
        while True:
            child = start()
            try:
                listed = relist()
                if (gone := screen.forest.keep(listed)) or not listed:
                    screen.show(gone)  # else kubectl's own list is on its way: draw that
                code = child.pump(screen)
                failure = child.message() or f"error: kubectl exited with {code}"
            finally:
                child.stop()
            if code == -signal.SIGINT:
                return 0  # Ctrl-C reached kubectl first
            if code != 0:
                print(failure, file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        return 0
