"""Throwaway hosts on one machine: network namespaces on a private bridge (``ip netns``).

One namespace per host, each with loopback up and an ``eth0`` on a Linux bridge that lives in a
namespace of its own (the switch): the machine's own interfaces, addresses and routes never
change, and two topologies built at once cannot see each other. Namespaces are named
``<prefix><pid>-<n>-<host>``; building a topology first removes those of a run with the same
prefix whose process is gone (a crash, a SIGKILL). Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)
and the ``ip`` command (Debian: iproute2).

    with topology(["service", "master", "worker1"]) as net:
        subprocess.run(net["service"].command(["python", "-m", "http.server"]))
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from perf._internal.processes import pid_alive

__all__ = [
    "DEFAULT_PREFIX",
    "Host",
    "NetnsUnavailable",
    "Topology",
    "check_netns",
    "namespaces",
    "remove_stale",
    "topology",
]

DEFAULT_PREFIX = "perfnet-"
_HOST_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_SWITCH = "switch"
_sequence = itertools.count(1)


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    namespace: str
    address: str  # on the topology's bridge, e.g. 10.213.0.2

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass(frozen=True, slots=True)
class Topology:
    hosts: Mapping[str, Host]
    switch: str  # the namespace holding the bridge

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    @property
    def namespaces(self) -> list[str]:
        return [self.switch, *(h.namespace for h in self.hosts.values())]


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if done.returncode and check:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def check_netns() -> None:
    """Raise ``NetnsUnavailable`` unless this process may create namespaces with ``ip``."""
    if shutil.which("ip") is None:
        raise NetnsUnavailable(
            "no `ip` command: install iproute2 (Debian: apt-get install iproute2)"
        )
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (CAP_NET_ADMIN): run as root")


def namespaces(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The named network namespaces whose name starts with ``prefix``."""
    names = (line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip())
    return sorted(n for n in names if n.startswith(prefix))


def _remove(namespace: str) -> None:
    """Kill what still runs in ``namespace`` (ours: a safety net), then delete it."""
    for pid in _ip("netns", "pids", namespace, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    _ip("netns", "delete", namespace, check=False)


def remove_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Delete the namespaces ``<prefix><pid>-...`` whose process ``pid`` is gone."""
    owner = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    stale = [
        n for n in namespaces(prefix) if (m := owner.match(n)) and not pid_alive(int(m.group(1)))
    ]
    for name in stale:
        _remove(name)
    return stale


@contextmanager
def topology(
    hosts: Sequence[str], *, prefix: str = DEFAULT_PREFIX, subnet: str = "10.213.0"
) -> Iterator[Topology]:
    """One namespace per name in ``hosts`` on one bridge, ``subnet``.2, .3, ... in order;
    everything is deleted on exit, also after an error or Ctrl-C."""
    check_netns()
    bad = [h for h in hosts if not _HOST_NAME.match(h) or h == _SWITCH]
    if bad or len(set(hosts)) != len(hosts) or not 0 < len(hosts) <= 200:
        raise ValueError(
            f"host names must be unique, lowercase letters and digits, at most 16 characters "
            f"and not {_SWITCH!r}; got {list(hosts)}"
        )
    remove_stale(prefix)
    base = f"{prefix}{os.getpid()}-{next(_sequence)}-"
    created: list[str] = []

    def add(namespace: str) -> str:
        _ip("netns", "add", namespace)
        created.append(namespace)
        _ip("-n", namespace, "link", "set", "lo", "up")
        return namespace

    try:
        try:
            switch = add(base + _SWITCH)
        except NetnsUnavailable as exc:
            raise NetnsUnavailable(
                f"cannot create a network namespace here ({exc}): a container needs "
                "CAP_SYS_ADMIN and CAP_NET_ADMIN (e.g. docker run --privileged)"
            ) from exc
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        found: dict[str, Host] = {}
        for number, name in enumerate(hosts, 2):
            namespace = add(base + name)
            port = f"port{number}"
            _ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", namespace)  # fmt: skip
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", namespace, "addr", "add", f"{subnet}.{number}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            found[name] = Host(name, namespace, f"{subnet}.{number}")
        yield Topology(found, switch)
    finally:
        for namespace in reversed(created):
            _remove(namespace)
