"""Tail latency of two or more versions of `digitrec serve`, side by side, in alternating runs.

On a shared machine one load test says as much about the neighbours as about the code.
This starts one ``digitrec serve --workers 2`` per source tree, all at once on their own
loopback ports (an idle server costs nothing), then runs the issue's load test
(``hey -c 64 -q 5``: 64 clients each offering 5 requests/s, a 280x280 canvas PNG, the
body `bench_server.py` sends) against each in turn, ``--rounds`` times, the order
reversed every other round: each version meets the same minutes of the machine.
Prints each run, then per version the median, lowest and highest p99 and p50.

A source tree is a ``src`` folder holding the ``digitrec`` package, e.g. a
``git worktree`` of an older commit::

    git worktree add /tmp/before HEAD~3
    python benchmarks/ab_server.py before=/tmp/before/src now=src --rounds 6
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import canvas_png, free_port, load  # noqa: E402


def start(src: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    command = [sys.executable, "-m", "digitrec", "serve", "--port", str(port), "--workers", "2", "--quiet"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port: int, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with status {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"the server on port {port} did not start within {seconds:.0f} s")


def burst_run(port: int, body: Path, requests: int) -> dict:
    command = ["hey", "-n", str(requests), "-c", "64", "-q", "5", "-m", "POST", "-T", "image/png", "-D", str(body),
               f"http://127.0.0.1:{port}/v1/recognize"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentile = {p: float(re.search(rf"{p}% in ([\d.]+) secs", out).group(1)) * 1000 for p in (50, 99)}
    ok = re.search(r"\[200\]\s+(\d+) responses", out)
    return {"p50": percentile[50], "p99": percentile[99], "ok": int(ok.group(1)) if ok else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", metavar="NAME=SRC", help="a name and a src folder holding digitrec")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2560, help="per run (64 clients: 40 bursts of 64)")
    args = parser.parse_args(argv)
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install hey)")
    versions = {}
    for item in args.versions:
        name, _, src = item.partition("=")
        if not src or not (Path(src) / "digitrec" / "__init__.py").is_file():
            raise SystemExit(f"{item!r}: give NAME=SRC, SRC a folder holding the digitrec package")
        versions[name] = Path(src)
    servers = {}
    try:
        for name, src in versions.items():
            port = free_port()
            servers[name] = (start(src, port), port)
        for process, port in servers.values():
            wait_ready(port, process)
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / "canvas.png"
            body.write_bytes(canvas_png())
            print(f"# ab_server: {', '.join(f'{n}={s}' for n, s in versions.items())}; "
                  f"{args.rounds} rounds of {args.requests} requests; {os.cpu_count()} CPUs; {load()}\n")
            for _, port in servers.values():  # warm: each worker's first requests are slow
                burst_run(port, body, 640)
            runs: dict[str, list[dict]] = {name: [] for name in servers}
            print("| round | version | p50 (ms) | p99 (ms) | answered 200 | machine |\n|---:|---|---:|---:|---:|---|")
            for r in range(args.rounds):
                order = list(servers) if r % 2 == 0 else list(reversed(servers))
                for name in order:
                    run = burst_run(servers[name][1], body, args.requests)
                    runs[name].append(run)
                    row = f"| {r + 1} | {name} | {run['p50']:.1f} | {run['p99']:.1f} | {run['ok']} | {load()} |"
                    print(row, flush=True)
        print("\n| version | p99 median (ms) | p99 lowest | p99 highest | runs with p99 < 100 ms | p50 median (ms) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, results in runs.items():
            p99 = [x["p99"] for x in results]
            under = sum(p < 100 for p in p99)
            print(f"| {name} | {statistics.median(p99):.1f} | {min(p99):.1f} | {max(p99):.1f} | "
                  f"{under} of {len(p99)} | {statistics.median(x['p50'] for x in results):.1f} |")
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
