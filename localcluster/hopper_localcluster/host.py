"""What a node changes on the host, recorded before it starts and undone after it stops.

A kubelet, containerd and kube-proxy reach well beyond their directory: kernel sysctls,
iptables chains, a bridge, network namespaces, mounts, cgroups, shim processes and their
sockets, CNI result files. `HostRecord` is written to /run before anything starts, so a
node killed before it could clean up is cleaned up by the next one to start (under the
same lock: one node per machine, since these are machine-wide).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from hopper_localcluster.binaries import ControlPlaneError
from hopper_localcluster.processes import owner_id

RUN_DIR = Path("/run/hopper-node")
LOCK_FILE = RUN_DIR / "lock"
RECORD_FILE = RUN_DIR / "record.json"
NETNS_DIR = Path("/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where libcni caches each attachment's result; containerd 1.6 offers no setting for it.
CNI_CACHE = Path("/var/lib/cni/results")
# The kubelet links every container's log here, whatever its podLogsDir says.
CONTAINER_LOG_LINKS = Path("/var/log/containers")
SHIM_SOCKETS = Path("/run/containerd/s")
# Directories outside the node's own that its parts create when missing, parents first:
# removed again if the node created them (and they are empty once it is cleaned up).
SHARED_DIRS = (
    SHIM_SOCKETS.parent,
    SHIM_SOCKETS,
    CNI_CACHE.parent,
    CNI_CACHE,
    CONTAINER_LOG_LINKS,
    NETNS_DIR,
)
KILL_TIMEOUT = 10.0

# What the kubelet, kube-proxy and the bridge plugin may set; each is put back.
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls(names: tuple[str, ...] = SYSCTLS) -> dict[str, str]:
    """Current values of those of `names` this kernel has."""
    values = {}
    for name in names:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


@dataclass
class HostRecord:
    """Enough to undo one node's changes, even from another process."""

    owner: str
    workdir: str
    containerd_socket: str
    bridge: str
    sysctls: dict[str, str]
    netns_before: list[str] = field(default_factory=list)
    cni_results_before: list[str] = field(default_factory=list)
    dirs_created: list[str] = field(default_factory=list)

    @classmethod
    def take(cls, workdir: Path, *, containerd_socket: Path, bridge: str) -> Self:
        return cls(
            owner=owner_id(),
            workdir=str(workdir),
            containerd_socket=str(containerd_socket),
            bridge=bridge,
            sysctls=read_sysctls(),
            netns_before=sorted(_netns()),
            cni_results_before=sorted(_entries(CNI_CACHE)),
            dirs_created=[str(d) for d in SHARED_DIRS if not d.exists()],
        )

    def save(self) -> None:
        RECORD_FILE.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls) -> HostRecord | None:
        try:
            return cls(**json.loads(RECORD_FILE.read_text()))
        except (OSError, ValueError, TypeError):
            return None


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Hold the one-node-per-machine lock, or refuse at once saying who holds it."""
    if os.geteuid() != 0:
        raise ControlPlaneError(
            "The node tier needs root: it runs containerd, a kubelet and kube-proxy, which "
            "mount filesystems, create network namespaces and change iptables."
        )
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = HostRecord.load()
            holder = record.owner if record else "unknown"
            raise ControlPlaneError(
                f"Another node tier is running on this machine (process {holder}). Only one "
                "can run at a time: a node changes machine-wide state (iptables, sysctls, "
                "the pod bridge). Wait for it to finish."
            ) from None
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _entries(directory: Path) -> set[str]:
    try:
        return {entry.name for entry in directory.iterdir()}
    except OSError:
        return set()


def _netns() -> set[str]:
    return _entries(NETNS_DIR)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like escaped as octal.
        point = line.split()[4].encode().decode("unicode_escape")
        points.append(point)
    return points


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _kubepods_cgroups() -> list[Path]:
    """Every cgroup the kubelet made for pods, deepest first."""
    found: list[Path] = []
    for hierarchy in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []:
        top = hierarchy / "kubepods"
        if top.is_dir() and not top.is_symlink():
            found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(set(found), key=lambda path: len(path.parts), reverse=True)


def _pids_in(cgroups: list[Path]) -> set[int]:
    pids: set[int] = set()
    for cgroup in cgroups:
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
    return pids


def kill_pods() -> None:
    """SIGKILL every process in a pod cgroup, then remove those cgroups."""
    deadline = time.monotonic() + KILL_TIMEOUT
    while pids := _pids_in(_kubepods_cgroups()):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"pod processes {sorted(pids)} survived SIGKILL")
        time.sleep(0.1)
    for cgroup in _kubepods_cgroups():
        with contextlib.suppress(FileNotFoundError):
            cgroup.rmdir()


def _shims(containerd_socket: str) -> list[int]:
    """The containerd shims serving this node's containerd."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"containerd-shim" in argv[0] and containerd_socket.encode() in argv:
                pids.append(int(proc.name))
    return pids


def _shim_sockets(workdir: Path) -> list[Path]:
    # Each task's bundle names its shim's socket, which lives outside our directory.
    sockets = []
    for address in workdir.glob("containerd/state/io.containerd.runtime.v2.task/*/*/address"):
        with contextlib.suppress(OSError):
            sockets.append(Path(address.read_text().strip().removeprefix("unix://")))
    return sockets


def stop_shims(record: HostRecord) -> None:
    sockets = _shim_sockets(Path(record.workdir))
    for pid in _shims(record.containerd_socket):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for socket_file in sockets:
        socket_file.unlink(missing_ok=True)


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def unmount_below(record: HostRecord) -> None:
    """Unmount what the node mounted: under its directory, and the pods' netns."""
    new_netns = {str(NETNS_DIR / name) for name in _netns() - set(record.netns_before)}
    points = [p for p in _mount_points() if _within(p, record.workdir) or p in new_netns]
    # Deepest first: a parent cannot go while a child is mounted on it.
    for point in sorted(set(points), key=len, reverse=True):
        if _run("umount", point).returncode != 0:
            _run("umount", "--lazy", point)
    for name in new_netns:
        Path(name).unlink(missing_ok=True)


def remove_network(record: HostRecord, kube_proxy: Path | None) -> None:
    if Path(f"/sys/class/net/{record.bridge}").exists():
        _run("ip", "link", "delete", record.bridge)
    # One result per sandbox and network (ours and containerd's own loopback); those of
    # sandboxes torn down mid-way (no CNI DEL) stay behind unless removed here.
    for name in _entries(CNI_CACHE) - set(record.cni_results_before):
        (CNI_CACHE / name).unlink(missing_ok=True)
    if kube_proxy is not None:
        _run(str(kube_proxy), "--cleanup")
    # The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY...) are not
    # kube-proxy's to clean.
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            remove_chains(tool, table, "KUBE-")


# The chains the kernel gives each table when it creates it, all at policy ACCEPT.
BUILTIN_CHAINS = {
    "filter": frozenset({"INPUT", "FORWARD", "OUTPUT"}),
    "nat": frozenset({"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}),
    "mangle": frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}),
    "raw": frozenset({"PREROUTING", "OUTPUT"}),
    "security": frozenset({"INPUT", "FORWARD", "OUTPUT"}),
}


def ruleset(save_output: str) -> list[str]:
    """What `iptables-save` printed, as `table line` entries, untouched tables left out.

    A table springs into existence the first time anything lists or changes it (the
    kubelet and kube-proxy do both), with its built-in chains at ACCEPT and no rule: it
    filters nothing, exactly as the absent table did. So such a table counts as absent,
    and a machine where iptables was never used compares equal to one a node has been
    through. Everything else a node could leave shows: a rule, a chain of its own, a
    built-in chain's policy, a table the kernel does not create empty. Packet counters
    change by themselves and are dropped.
    """
    tables: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in save_output.splitlines():
        if line.startswith("*"):
            lines = tables.setdefault(line[1:], [])
        elif line.startswith(":"):
            lines.append(line.split(" [", 1)[0])
        elif line.startswith("-"):
            lines.append(line)
    return sorted(
        f"{table} {line}"
        for table, lines in tables.items()
        if not _untouched(table, lines)
        for line in lines
    )


def _untouched(table: str, lines: list[str]) -> bool:
    """Only built-in chains, each at ACCEPT: no rule, no chain of anyone's own."""
    builtin = BUILTIN_CHAINS.get(table, frozenset())
    for line in lines:
        chain, _, policy = line.removeprefix(":").partition(" ")
        if not line.startswith(":") or chain not in builtin or policy != "ACCEPT":
            return False
    return True


def remove_chains(tool: str, table: str, prefix: str) -> None:
    """Delete the chains named `prefix*` in one table, and every rule jumping to them."""
    listing = _run(tool, "-w", "-t", table, "-S")
    if listing.returncode != 0:
        return
    chains = [
        line.split()[1]
        for line in listing.stdout.splitlines()
        if line.startswith("-N ") and line.split()[1].startswith(prefix)
    ]
    for line in listing.stdout.splitlines():
        words = line.split()
        if words[:1] == ["-A"] and any(
            target in chains for flag, target in itertools.pairwise(words) if flag == "-j"
        ):
            _run(tool, "-w", "-t", table, "-D", *words[1:])
    for chain in chains:
        _run(tool, "-w", "-t", table, "-F", chain)
    for chain in chains:
        _run(tool, "-w", "-t", table, "-X", chain)


def restore(record: HostRecord, kube_proxy: Path | None) -> None:
    """Undo everything `record` covers; safe to run again, or for a node long dead."""
    kill_pods()
    stop_shims(record)
    unmount_below(record)
    remove_network(record, kube_proxy)
    for name, value in record.sysctls.items():
        with contextlib.suppress(OSError):
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(value)
    workdir = Path(record.workdir)
    for link in CONTAINER_LOG_LINKS.glob("*.log"):
        if link.is_symlink() and str(link.readlink()).startswith(str(workdir)):
            link.unlink(missing_ok=True)
    for directory in reversed(record.dirs_created):
        with contextlib.suppress(OSError):  # not empty: someone else uses it now
            Path(directory).rmdir()
    if any(_within(p, record.workdir) for p in _mount_points()):
        raise ControlPlaneError(f"{workdir} still has mounts; not deleting it")
    shutil.rmtree(workdir, ignore_errors=True)
    RECORD_FILE.unlink(missing_ok=True)


def recover_abandoned(kube_proxy: Path | None) -> HostRecord | None:
    """Clean up after a node whose process died without doing so (call under the lock).

    A record left while the lock is free can only be an abandoned node's: a live node
    holds the lock until it has restored the host and removed its record.
    """
    record = HostRecord.load()
    if record is None:
        return None
    restore(record, kube_proxy)
    return record
