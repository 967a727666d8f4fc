"""Many clients of the Instance API's event stream, in a process of their own:
`python -m hopperbench.consumers URL TOKEN COUNT OUT`.

Each stream is read as it comes and each event's id, kind and arrival time
(`time.monotonic()`, the machine's clock: comparable with the bench's own) is kept; the data
is not parsed, so the readers cost little beside what they measure. On stdin: nothing until
every stream has said `synced` (then `synced` is printed); then `until VERSION SECONDS`:
wait until every stream has delivered an id at or after VERSION (at most SECONDS), write
what each got (and this process's CPU seconds) to OUT as JSON, print `done` and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

READ_CHUNK = 1 << 16


@dataclass
class Reader:
    """One stream: its events after `synced` as [id, kind, arrival], and how it ended."""

    synced: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # has `until`, or ended
    until: float = float("inf")
    events: list[tuple[int, str, float]] = field(default_factory=list)
    snapshot: int = 0
    resets: int = 0
    last: int = 0
    ended: str | None = None

    def take(self, frame: bytes, arrived: float) -> None:
        ident, kind = b"", b""
        for line in frame.split(b"\n"):
            if line.startswith(b"id:"):
                ident = line[3:].strip()
            elif line.startswith(b"event:"):
                kind = line[6:].strip()
        if not kind:
            return  # a heartbeat
        if kind == b"synced":
            self.synced.set()
        elif kind == b"reset":
            self.resets += 1
        elif not self.synced.is_set():
            self.snapshot += 1
        else:
            self.last = int(ident)
            self.events.append((self.last, kind.decode(), arrived))
            if self.last >= self.until:
                self.reached.set()

    async def read(self, session: aiohttp.ClientSession, url: str) -> None:
        try:
            async with session.get(url, params={"watch": "true"}) as response:
                if response.status != 200:
                    self.ended = f"{response.status}: {(await response.text())[:200]}"
                    return
                rest = b""
                async for chunk in response.content.iter_chunked(READ_CHUNK):
                    arrived = time.monotonic()
                    *frames, rest = (rest + chunk).split(b"\n\n")
                    for frame in frames:
                        self.take(frame, arrived)
                self.ended = "closed by the server"
        except aiohttp.ClientError as error:
            self.ended = f"{type(error).__name__}: {error}"
        finally:
            self.synced.set()  # an ended stream is not waited for
            self.reached.set()


async def consume(url: str, token: str, count: int) -> list[dict[str, Any]]:
    readers = [Reader() for _ in range(count)]
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
    ) as session:
        tasks = [asyncio.create_task(r.read(session, url)) for r in readers]
        await asyncio.gather(*(r.synced.wait() for r in readers))
        print("synced", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        _, version, seconds = line.split()
        for reader in readers:
            reader.until = int(version)
            if reader.last >= reader.until:
                reader.reached.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(seconds)):
                await asyncio.gather(*(r.reached.wait() for r in readers))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [
        {"snapshot": r.snapshot, "resets": r.resets, "ended": r.ended, "events": r.events}
        for r in readers
    ]


if __name__ == "__main__":
    url, token, count, out = sys.argv[1:]
    streams = asyncio.run(consume(url, token, int(count)))
    Path(out).write_text(json.dumps({"cpu_s": time.process_time(), "streams": streams}))
    print("done", flush=True)
