#!/usr/bin/env python3
"""A load run over several hosts, for real on one machine: each host a network namespace.

    nice -n 19 .venv/bin/python scripts/multihost_run.py --duration 60s --workers 2 --out DIR

Builds a throwaway topology (perf._internal.netns: a private bridge, one namespace per host,
addresses 10.213.0.x of its own) and runs on it, each on its own host:

    service   perf serve --host <its address>   (its LLM stub on the host's loopback)
    master    perf load --host http://service:P --expect-workers N   (the Locust master, the
              request-log merge, monitor.json, monitor_history.jsonl, the manifest)
    workerK   locust --worker --master-host <master>   (the users; a request log each)
    redis     with --redis: redis-server, the service's second cache tier (PERF_CACHE_BACKEND)

The run folder has the shape of a `perf load` run's. The workers write their request logs into
it (the folder is shared: one file system here, NFS between real hosts). Everything is stopped
and the namespaces deleted at the end, also on a failure or Ctrl-C. Needs root and `ip`.
Prints progress lines, then the run folder's path as the last line; exits with perf load's code.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from perf._internal.netns import (
    DEFAULT_PREFIX,
    NetnsUnavailable,
    Topology,
    check_netns,
    topology,
)
from perf._internal.processes import handling_signal, start_process, stop_process
from perf.errors import ConfigurationError
from perf.loadgen.load_run import LoadOptions, locust_worker_command, parse_duration
from perf.loadgen.workload import parse_workload
from perf.results.files import REQUEST_LOG, SERVICE_LOG, TOKEN_LOG, worker_request_log_glob
from perf.results.runs import create_run

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PORT = 8000
REDIS_PORT = 6379
_WAIT = """
import socket, sys, time
from perf._internal.processes import wait_for_http
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
if sys.argv[4] == "http":
    wait_for_http(f"http://{host}:{port}/health", timeout_seconds=float(sys.argv[3]))
    sys.exit(0)
while True:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"nothing answers on {host}:{port}")
        time.sleep(0.1)
"""


def say(message: str) -> None:
    print(f"[multihost] {message}", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="60s", help="Locust's run time (default 60s)")
    parser.add_argument("--workers", type=int, default=2, help="worker hosts (default 2)")
    parser.add_argument("--users", type=int, default=20, help="simulated users over all workers")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per s")
    parser.add_argument("--open-rate", type=float, help="open model: total requests per second")
    parser.add_argument("--workload", action="append", default=[], metavar="KEY=VALUE",
                        help="a workload parameter, as for perf load (repeatable)")  # fmt: skip
    parser.add_argument("--targets", help="TOML with the targets (default: pyproject.toml)")
    parser.add_argument("--progress", type=float, default=2.0, help="progress every N s")
    parser.add_argument("--redis", action="store_true",
                        help="a redis-server host as the service's second cache tier")  # fmt: skip
    parser.add_argument("--out", help="the run folder (default: a new run under "
                        "$PERF_RESULTS_DIR, else results/)")  # fmt: skip
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="namespace name prefix")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 50:
        parser.error(f"--workers must be within 1..50, got {args.workers}")
    return args


def load_options(args: argparse.Namespace) -> tuple[LoadOptions, list[str]]:
    """The options (for the workers' commands) and the same as `perf load` arguments."""
    params = parse_workload(args.workload)
    options = LoadOptions(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=parse_duration(args.duration),
        host="http://service",  # validation only; the master gets the real URL
        open_rate=args.open_rate,
        expect_workers=args.workers,
        workload=params,
        targets=Path(args.targets).resolve() if args.targets else None,
        progress_seconds=args.progress,
    )
    arguments = ["--users", str(args.users), "--spawn-rate", f"{args.spawn_rate:g}",
                 "--duration", args.duration, "--progress", f"{args.progress:g}",
                 "--expect-workers", str(args.workers)]  # fmt: skip
    if args.open_rate:
        arguments += ["--open-rate", f"{args.open_rate:g}"]
    if options.targets:
        arguments += ["--targets", str(options.targets)]
    for item in args.workload:
        arguments += ["--workload", item]
    return options, arguments


def wait_until_up(net: Topology, client: str, host: str, port: int, kind: str,
                  server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:  # fmt: skip
    """Wait until ``host:port`` answers from ``client``'s host, or ``server`` exits."""
    probe = subprocess.Popen(
        net[client].command([sys.executable, "-c", _WAIT, net[host].address, str(port),
                             f"{timeout:g}", kind]),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        while probe.poll() is None:
            if server.poll() is not None:
                raise RuntimeError(f"the {host} process exited with code {server.returncode}")
            time.sleep(0.2)
    finally:
        if probe.poll() is None:
            probe.kill()
        probe.wait()
    if probe.returncode:
        raise RuntimeError(f"{host}:{port} did not answer from {client}: "
                           f"{probe.stderr.read().decode().strip()[-500:]}")  # fmt: skip


def established_peers(pid: int, port: int) -> set[str]:
    """Remote IPv4 addresses of the established TCP connections to local ``port``, as seen
    in process ``pid``'s network namespace (/proc/PID/net/tcp)."""
    peers = set()
    try:
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return peers
    for line in lines:
        local, remote, state = line.split()[1:4]
        if state == "01" and int(local.split(":")[1], 16) == port:
            packed = bytes.fromhex(remote.split(":")[0])[::-1]  # little-endian
            peers.add(".".join(str(b) for b in packed))
    return peers


def service_env(run: Path, scratch: Path, token: str, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "PERF_ADMIN_TOKEN": token, "PERF_TOKEN_LOG_PATH": str(run / TOKEN_LOG)}
    if not (env.get("PERF_DATABASE_PATH") or env.get("PERF_DATABASE_URL")):
        env["PERF_DATABASE_PATH"] = str(scratch / "home.sqlite")
    env.setdefault("PERF_CACHE_DIR", str(scratch / "cache"))
    if redis_url:
        env.update(PERF_CACHE_BACKEND="redis", PERF_REDIS_URL=redis_url)
    return env


def run(args: argparse.Namespace, options: LoadOptions, load_arguments: list[str]) -> int:
    out = Path(args.out).resolve() if args.out else None
    results = Path(os.environ.get("PERF_RESULTS_DIR") or ROOT / "results")  # as perf load's
    folder = create_run(results, repo=ROOT, run_dir=out)
    run_dir = folder.path
    workers = [f"worker{k}" for k in range(1, args.workers + 1)]
    hosts = ["service", "master", *workers, *(["redis"] if args.redis else [])]
    # By host; stopped master first: its perf load ends the Locust run as on Ctrl-C (the
    # workers told to quit, their logs merged, the manifest finished), then the rest.
    started: dict[str, subprocess.Popen[bytes]] = {}
    code = 1
    with (
        handling_signal(signal.SIGTERM, _interrupt),
        tempfile.TemporaryDirectory(prefix="perf-multihost-") as scratch_dir,
        topology(hosts, prefix=args.prefix) as net,
        (run_dir / SERVICE_LOG).open("ab") as service_log,
    ):
        scratch = Path(scratch_dir)
        say("hosts: " + ", ".join(f"{h.name} {h.address}" for h in net.hosts.values()))
        try:
            redis_url = None
            if args.redis:
                redis_url = start_redis(net, scratch, started)
            token = secrets.token_urlsafe(32)
            address = net["service"].address
            service = start_process(
                net["service"].command([sys.executable, "-m", "perf.service", "serve",
                                        "--host", address, "--port", str(SERVICE_PORT)]),
                env=service_env(run_dir, scratch, token, redis_url), cwd=ROOT, log=service_log,
            )  # fmt: skip
            started["service"] = service
            url = f"http://{address}:{SERVICE_PORT}"
            say(f"service (pid {service.pid}) starting on {url}; waiting for /health")
            wait_until_up(net, "master", "service", SERVICE_PORT, "http", service)

            master_address = net["master"].address
            master = start_process(
                net["master"].command([sys.executable, "-m", "perf.cli", "load", "--host", url,
                                       "--run-dir", str(run_dir), "--master-bind-host",
                                       master_address, *load_arguments]),
                env={**os.environ, "PERF_ADMIN_TOKEN": token}, cwd=ROOT,
            )  # fmt: skip
            started["master"] = master
            say(f"Locust master (pid {master.pid}) on {master_address}; starting {len(workers)} "
                "workers")  # fmt: skip
            command = locust_worker_command(run_dir, master_address, options, ROOT)
            say(f"each worker runs: {shlex.join(command)}")
            for name in workers:
                worker = start_process(
                    net[name].command([*command, "--loglevel", "WARNING"]), env=os.environ,
                    cwd=ROOT,
                )  # fmt: skip
                started[name] = worker
                say(f"{name} (pid {worker.pid}) on {net[name].address}")

            peers: set[str] = set()
            while master.poll() is None:
                peers |= established_peers(service.pid, SERVICE_PORT)
                time.sleep(0.5)
            code = master.returncode
            names = {h.address: h.name for h in net.hosts.values()}
            seen = ", ".join(f"{names.get(p, '?')} {p}" for p in sorted(peers))
            say(f"the service had connections from: {seen or 'no one'}")
            deadline = time.monotonic() + 30  # a worker quits when its master does
            for worker in (started[name] for name in workers):
                try:
                    worker.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say(f"worker pid {worker.pid} did not quit with the master: stopping it")
        except KeyboardInterrupt:
            say("interrupted: stopping every host's processes")
            code = 130
        except RuntimeError as exc:
            say(f"failed: {exc}; see {run_dir / SERVICE_LOG}")
        finally:
            with handling_signal(signal.SIGINT, signal.SIG_IGN):
                for name in ["master", *workers, "service", "redis"]:
                    if name in started:  # perf load's cleanup may wait for Locust and the logs
                        grace = 120.0 if name == "master" else 20.0
                        stop_process(started[name], grace_seconds=grace)
    left = sorted(p.name for p in run_dir.glob(worker_request_log_glob()))
    if left:
        say(f"request logs not merged into {REQUEST_LOG}: {left}")
    say(f"namespaces removed; run folder {run_dir}")
    print(run_dir)
    return code


def start_redis(net: Topology, scratch: Path, started: dict[str, subprocess.Popen[bytes]]) -> str:
    binary = shutil.which("valkey-server") or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("--redis needs redis-server or valkey-server (Debian packages)")
    address = net["redis"].address
    with (scratch / "redis.log").open("wb") as log:  # the child keeps its own copy
        redis = start_process(
            net["redis"].command([binary, "--bind", address, "--port", str(REDIS_PORT),
                                  "--protected-mode", "no", "--dir", str(scratch), "--save", "",
                                  "--appendonly", "no", "--maxmemory", "256mb",
                                  "--maxmemory-policy", "allkeys-lru", "--loglevel", "warning"]),
            env=os.environ, cwd=ROOT, log=log,
        )  # fmt: skip
    started["redis"] = redis
    wait_until_up(net, "service", "redis", REDIS_PORT, "tcp", redis)
    say(f"redis (pid {redis.pid}) on {address}:{REDIS_PORT}")
    return f"redis://{address}:{REDIS_PORT}/0"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        options, load_arguments = load_options(args)
        check_netns()
        return run(args, options, load_arguments)
    except (ConfigurationError, NetnsUnavailable, FileExistsError) as exc:
        print(f"multihost_run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
