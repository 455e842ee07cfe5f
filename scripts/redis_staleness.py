"""The staleness window of cross-process invalidation, between real processes.

A reader process holds a key in the memory tier of its TwoTierCache (Redis second tier) and
reads it in a tight loop; this process (the writer) overwrites or deletes the key through its
own TwoTierCache; the window is from the moment the writer's call returns to the moment the
reader stops seeing the old value. A third process writes other keys of the same namespace
all along (``--background``), so the reader's subscriber works through a stream of other
processes' messages, as under load. CLOCK_MONOTONIC is one clock for every process here.

The reader's subscriber is a thread: while the reader's main thread runs Python without a
pause (``--poll-every 0``, the default and the worst case), each hand-over of the GIL to it
waits up to ``sys.getswitchinterval()`` (5 ms). ``--poll-every 0.0001`` reads every 100 µs,
as a service that waits on I/O between requests does.

    eval "$(scripts/start-redis.sh /tmp/perf-redis)"
    .venv/bin/python scripts/redis_staleness.py --url "$PERF_TEST_REDIS_URL" --rounds 500

Prints a JSON summary (milliseconds; ``missed``: rounds where the reader still saw the old
value after ``--give-up`` seconds). Exits 1 if any round was missed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid

from perf.cache import TwoTierCache


def reader(url: str, namespace: str, give_up: float, poll_every: float) -> None:
    """Per command line ``key old``: hold ``old`` in memory, say ready, poll, report when."""
    cache = TwoTierCache(redis_url=url, redis_namespace=namespace)
    for line in sys.stdin:
        key, old = line.split()
        while not (cache.get(key) == old and cache.memory.peek(key) is not None):
            time.sleep(0.0005)  # until the value is in this process's memory tier
        print("ready", flush=True)
        deadline = time.monotonic() + give_up
        polls = 0
        while cache.get(key) == old:
            polls += 1
            if poll_every:
                time.sleep(poll_every)
            if time.monotonic() > deadline:
                print("missed", polls, flush=True)
                break
        else:
            print("seen", time.monotonic(), polls, flush=True)
    cache.close()


def background(url: str, namespace: str, rate: float) -> None:
    """Writes to other keys of the namespace, ``rate`` per second, until killed."""
    cache = TwoTierCache(redis_url=url, redis_namespace=namespace)
    pause = 1.0 / rate
    i = 0
    while True:
        cache.set(f"noise:{i % 1000}", i)
        i += 1
        time.sleep(pause)


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def measure(
    url: str, rounds: int, give_up: float, background_rate: float, poll_every: float = 0.0
) -> dict[str, object]:
    namespace = f"staleness:{uuid.uuid4().hex[:8]}:"
    writer = TwoTierCache(redis_url=url, redis_namespace=namespace)
    child = spawn("--url", url, "--namespace", namespace, "--reader", "--give-up", str(give_up),
                  "--poll-every", str(poll_every))  # fmt: skip
    noise = (
        spawn("--url", url, "--namespace", namespace, "--background", str(background_rate))
        if background_rate > 0
        else None
    )
    assert child.stdin is not None and child.stdout is not None
    windows, missed, kinds = [], 0, {"overwrite": [], "delete": []}
    try:
        for i in range(rounds):
            key, old = f"k{i % 50}", f"old{i}"
            writer.set(key, old)
            child.stdin.write(f"{key} {old}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ready"
            time.sleep(random.uniform(0.001, 0.005))
            kind = "overwrite" if i % 2 == 0 else "delete"
            if kind == "overwrite":
                writer.set(key, f"new{i}")
            else:
                writer.delete(key)
            done = time.monotonic()
            answer = child.stdout.readline().split()
            if answer[0] == "missed":
                missed += 1
                continue
            window_ms = (float(answer[1]) - done) * 1000
            windows.append(window_ms)
            kinds[kind].append(window_ms)
    finally:
        child.stdin.close()
        child.wait(10)
        if noise is not None:
            noise.kill()
            noise.wait()
        writer.clear()
        writer.close()
    return {
        "rounds": rounds,
        "missed": missed,
        "background_writes_per_s": background_rate,
        "reader_polls_every_s": poll_every,
        "window_ms": summary(windows),
        "by_kind_ms": {kind: summary(values) for kind, values in kinds.items()},
    }


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {"n": len(values), "median": round(statistics.median(values), 3), "p90": q(0.9),
            "p99": q(0.99), "max": round(ordered[-1], 3), "min": round(ordered[0], 3)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--give-up", type=float, default=5.0)
    parser.add_argument("--background", type=float, default=500.0, help="writes/s; 0: none")
    parser.add_argument(
        "--poll-every", type=float, default=0.0,
        help="the reader's pause between reads, s; 0: a busy loop that never yields the GIL "
        "on its own (the worst case for the subscriber thread)",
    )  # fmt: skip
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(args.url, args.namespace, args.give_up, args.poll_every)
        return 0
    if args.namespace:
        background(args.url, args.namespace, args.background)
        return 0
    result = measure(args.url, args.rounds, args.give_up, args.background, args.poll_every)
    print(json.dumps(result, indent=2))
    return 1 if result["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
