"""Fault drills during a fan-out: connections reset, kube-apiserver killed and restarted,
etcd frozen. Whatever happens, the tree converges, only legal steps are taken, nothing stays
stuck, and the operator process never exits. The reset-connection drill is the one that
catches a dropped key: a reconcile that failed on a reset and was not retried has no later
event to wake it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import set_state, wait_for, wait_for_phases
from tests.integration.ha import (
    Replica,
    WatchingRecorder,
    all_in,
    control_plane,
    tree,
)

from hopper_localcluster import ControlPlane

__all__ = ["control_plane"]  # the module's own plane, overriding the session's

COUNT = 1 + 5 + 5 * 20  # 106 instances: a fan-out of a hundred
SEED = 9


class ResettingProxy:
    """A TCP proxy on loopback, in a thread of its own. While `faulty`, it cuts a share of
    new connections after a short random time, and every half second a share of the open
    ones: requests in flight, pooled keep-alive connections and watches alike. Half the
    cuts are resets (RST: the client sees ECONNRESET), half are closes (FIN mid-response:
    aiohttp's ServerDisconnectedError, the exception that used to drop a key)."""

    def __init__(self, upstream: int, share: float = 0.3) -> None:
        self._upstream, self._share = upstream, share
        self._random = random.Random(SEED)
        self.faulty = False
        self.resets = 0
        self.connections = 0
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> ResettingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._chaos = asyncio.create_task(self._reset_some_open_ones())

    async def _close(self) -> None:
        self._chaos.cancel()
        self._server.close()
        for pair in list(self._open):
            self._reset(pair, count=False)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            client_w.transport.abort()
            return
        pair = (client_w, server_w)
        self._open.add(pair)
        self.connections += 1
        if self.faulty and self._random.random() < self._share:
            self._loop.call_later(self._random.uniform(0.05, 1.5), self._reset, pair)
        await asyncio.gather(
            self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True
        )
        self._open.discard(pair)
        for writer in pair:
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _reset_some_open_ones(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.faulty:
                for pair in list(self._open):
                    if self._random.random() < self._share / 2:
                        self._reset(pair)

    def _reset(
        self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter], count: bool = True
    ) -> None:
        if pair not in self._open:
            return
        self._open.discard(pair)
        self.resets += count
        client, server = pair
        server.transport.abort()
        if self._random.random() < 0.5:
            client.close()  # FIN: the server "went away" mid-response
            return
        sock = client.get_extra_info("socket")
        if sock is not None:  # linger 0: the close sends RST, not FIN
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.transport.abort()


def kubeconfig_via(plane: ControlPlane, port: int, path: Path) -> Path:
    config = yaml.safe_load(plane.kubeconfig.read_text())
    # 127.0.0.1 is in the serving certificate: TLS verifies through the proxy as it did.
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def recorder(control_plane: ControlPlane, namespace: str) -> Iterator[WatchingRecorder]:
    watching = WatchingRecorder(control_plane, namespace)
    try:
        yield watching
    finally:
        watching.stop()
    assert not watching.illegal_steps(), watching.illegal_steps()


@pytest.fixture
def operator(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[Replica]:
    running = Replica(control_plane, namespace, tmp_path / "operator.log", "op-drill")
    running.start()
    try:
        yield running
    finally:
        assert running.process is not None
        alive = running.process.poll() is None
        running.stop()
        print(running.tail(150))
        assert alive, "the operator exited during the drill"


def fan_out_under_way(kubectl: Kubectl, namespace: str, recorder: WatchingRecorder) -> None:
    """A converged tree of COUNT, then its root paused: returns once a few have followed."""
    kubectl("apply", "-f", "-", input=tree(namespace, 5, 20))
    all_in(kubectl, namespace, "Running", COUNT, timeout=90)
    set_state(kubectl, namespace, "root", "Paused")
    wait_for(
        lambda: sum(seen[-1:] == ["Paused"] for seen in recorder.phases.values()) >= 5,
        interval=0.05,
        what="the walk to Paused to be under way",
    )


def test_reset_connections_lose_no_key(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    recorder = WatchingRecorder(control_plane, namespace)
    apiserver = int(control_plane.server_url.rsplit(":", 1)[1])
    with ResettingProxy(apiserver) as proxy:
        kubeconfig = kubeconfig_via(control_plane, proxy.port, tmp_path / "kubeconfig")
        running = Replica(
            control_plane, namespace, tmp_path / "operator.log", "op-proxied", kubeconfig=kubeconfig
        )
        running.start()
        try:
            kubectl("apply", "-f", "-", input=tree(namespace, 5, 20))
            all_in(kubectl, namespace, "Running", COUNT, timeout=90)
            proxy.faulty = True
            # Walks under way through the whole window, not one walk that may be over
            # before the first cut (on a fast machine a walk of 106 takes about a second).
            states = itertools.cycle(("Paused", "Running"))
            faults_end = time.monotonic() + 15
            while time.monotonic() < faults_end:
                state = next(states)
                set_state(kubectl, namespace, "root", state)
                time.sleep(min(3.0, max(0.0, faults_end - time.monotonic())))
            proxy.faulty = False
            resets, connections = proxy.resets, proxy.connections
            started = time.monotonic()
            wait_for_phases(kubectl, namespace, state, timeout=90)  # Ready too: nothing stuck
            print(
                f"\nRESET DRILL: {resets} connections reset of {connections} in 15 s; "
                f"converged {time.monotonic() - started:.1f} s after the faults stopped"
            )
            assert resets >= 10, "the drill reset too little to prove anything"
            log = running.log()
            retried = log.count("retry in")
            print(
                f"reconciles retried: {retried} ({log.count('ServerDisconnectedError')} "
                f"ServerDisconnectedError, {log.count('Connection reset by peer')} resets)"
            )
            assert retried, "no reconcile met a fault: the drill proved nothing"
            # And back, with no fault: every key still served.
            state = next(states)
            set_state(kubectl, namespace, "root", state)
            wait_for_phases(kubectl, namespace, state, timeout=60)
            assert running.process is not None and running.process.poll() is None
        finally:
            running.stop()
            recorder.stop()
            print(running.tail(150))
    assert not recorder.illegal_steps(), recorder.illegal_steps()


def test_apiserver_killed_and_restarted_mid_fan_out(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    operator: Replica,
    recorder: WatchingRecorder,
) -> None:
    fan_out_under_way(kubectl, namespace, recorder)
    started = time.monotonic()
    control_plane.restart_apiserver(signal.SIGKILL)
    down = time.monotonic() - started
    wait_for_phases(kubectl, namespace, "Paused", timeout=90)
    print(
        f"\nAPISERVER DRILL: kube-apiserver SIGKILLed and back in {down:.1f} s; converged "
        f"{time.monotonic() - started:.1f} s after the kill"
    )


def test_etcd_frozen_for_ten_seconds_mid_fan_out(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    operator: Replica,
    recorder: WatchingRecorder,
) -> None:
    fan_out_under_way(kubectl, namespace, recorder)
    etcd = control_plane.processes["etcd"]
    os.kill(etcd, signal.SIGSTOP)
    try:
        time.sleep(10)
    finally:
        os.kill(etcd, signal.SIGCONT)
    thawed = time.monotonic()
    wait_for_phases(kubectl, namespace, "Paused", timeout=90)
    print(f"\nETCD DRILL: frozen 10 s; converged {time.monotonic() - thawed:.1f} s after the thaw")
