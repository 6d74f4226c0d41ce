#!/usr/bin/env python3
"""Instructions per request: checkoff, a bare axum router and the bare hyper ceiling answering
the same requests with the same bytes, each counted by valgrind's callgrind.

Usage (normally through bench/instructions, which builds the binaries and installs valgrind):

    python3 bench/instructions.py [--requests 2000] [--out bench/last-run-instructions.md]
    python3 bench/instructions.py --checkoff /tmp/checkoff-before --out /tmp/before.md

Why: this machine's CPU time per request moves by ±40 % from one minute to the next (a shared
host), so two builds compared by wrk need many alternating rounds to tell 5 % apart. The
user-space instructions a request costs do not move: the same build counts the same to within
1 % (other threads' timers add a little), so one run tells whether a change made the hot path
cheaper, and by how much.

`--checkoff` counts another build of checkoff (a copy of an earlier `target/release/checkoff`):
the way to compare two builds step by step.

What it is not: a throughput figure. The kernel's part (a third to a half of a request's CPU on
this machine: the socket calls) is not counted, nor cache misses or contention between cores; one
client sends one request at a time on one connection. bench/run measures those.

Each server runs under callgrind on a free port of 127.0.0.1; the client warms it up, zeroes the
counters (callgrind_control -z), sends the requests, and dumps the counters (-d): the dump's
total over the requests is the figure. Every process started here is stopped at the end.

Python 3 standard library only. Needs: valgrind (callgrind_control), target/release/checkoff,
target/release/examples/ceiling and target/release/examples/axum_floor.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the binaries' paths, free ports, cleanup on every way out)

TODOS = 20
WARM_UP = 200


class Client:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(self, method: str, path: str, body=None, token: str | None = None):
        headers = {"content-type": "application/json"} if body is not None else {}
        if token:
            headers["authorization"] = f"Bearer {token}"
        # As wrk sends it (bench/run's load): no Accept-Encoding, which http.client would
        # otherwise add as `identity`.
        data = json.dumps(body).encode() if body is not None else None
        self.conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            self.conn.putheader(name, value)
        if data is not None:
            self.conn.putheader("content-length", str(len(data)))
        self.conn.endheaders(data)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:200]!r}")
        return data


class Counted:
    """A server under callgrind, counting only between `zero` and `dump`."""

    def __init__(self, name: str, argv: list, port: int, workdir: Path, env=None):
        self.name, self.port, self.workdir = name, port, workdir
        self.out = workdir / f"{name}.callgrind"
        self.log = open(workdir / f"{name}.log", "w")
        self.proc = b.spawn(["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}",
                             "--dump-instr=no", *argv],
                            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: "
                                       f"{(workdir / f'{name}.log').read_text()[-2000:]}")
                time.sleep(0.2)

    def count(self, label: str, requests: int, send) -> float:
        """Instructions per request of `requests` calls of `send` after a warm-up."""
        for _ in range(WARM_UP):
            send()
        self.control("-z")
        for _ in range(requests):
            send()
        before = set(self.workdir.glob(f"{self.out.name}.*"))
        self.control("-d", label)
        dump = wait_for_new(self.workdir, self.out.name, before)
        return total_instructions(dump) / requests

    def control(self, *args) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True,
                       capture_output=True, timeout=120)

    def close(self) -> None:
        b.stop(self.proc, timeout=30)
        self.log.close()


def wait_for_new(workdir: Path, stem: str, before: set) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(workdir.glob(f"{stem}.*")) - before
        if new:
            dump = max(new, key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
            time.sleep(0.5)  # written at once, but let the writer close it
            return dump
        time.sleep(0.1)
    raise RuntimeError("callgrind wrote no dump")


def total_instructions(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        m = re.match(r"^(?:summary|totals):\s+(\d+)", line)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no total in {dump}")


def measure(checkoff: Path, requests: int, workdir: Path) -> dict:
    """{scenario: {product: instructions per request}}."""
    data = workdir / "checkoff"
    subprocess.run([checkoff, "--data-dir", data, "users", "create", "bench",
                    "--password-stdin"], input=b.PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    results: dict = {}
    # Quotas and the write rate off: only reads are counted, and the setup writes freely.
    env = {**os.environ, "CHECKOFF_WRITE_RATE": "0"}
    variants = [("as served", {}, []), ("no access log", {"RUST_LOG": "warn"}, []),
                ("list cache off", {}, ["--list-cache-kib", "0"])]
    paths = {}
    token = ""
    for number, (variant, extra, flags) in enumerate(variants):
        port = b.free_port()
        b.log(f"checkoff ({variant})")
        server = Counted(f"checkoff-{number}", [checkoff, "--data-dir", data, "serve",
                                                "--addr", f"127.0.0.1:{port}", *flags],
                         port, workdir, env={**env, **extra})
        try:
            client = Client(port)
            if not paths:
                token = json.loads(client.send("POST", "/login",
                                               {"username": "bench", "password": b.PASSWORD}))["token"]
                for i in range(TODOS):
                    uid = json.loads(client.send("POST", "/todos", {"description": f"todo {i}"},
                                                 token))["uid"]
                paths = {"list 20": f"/todos?limit={TODOS}", "get": f"/todos/{uid}"}
            for scenario, path in paths.items():
                body = client.send("GET", path, token=token)
                (workdir / f"{scenario}.json").write_bytes(body)
                figure = server.count(scenario.replace(" ", "-"), requests,
                                      lambda: client.send("GET", path, token=token))
                name = scenario if variant == "as served" else f"{scenario}, {variant}"
                results.setdefault(name, {})["checkoff"] = figure
                b.log(f"  {name}: {figure:,.0f} instructions per request")
        finally:
            server.close()
    for product, binary in (("axum", b.AXUM_FLOOR_BIN), ("hyper", b.CEILING_BIN)):
        for scenario, path in paths.items():
            port = b.free_port()
            b.log(f"{product} answering {scenario}'s bytes")
            server = Counted(f"{product}-{scenario.replace(' ', '-')}",
                             [binary, f"127.0.0.1:{port}", workdir / f"{scenario}.json"],
                             port, workdir)
            try:
                client = Client(port)
                # The same request as checkoff's, token included.
                figure = server.count(scenario.replace(" ", "-"), requests,
                                      lambda: client.send("GET", path, token=token))
                results[scenario][product] = figure
                b.log(f"  {figure:,.0f} instructions per request")
            finally:
                server.close()
    return results


def report(results: dict, checkoff: Path, requests: int, started: float) -> str:
    commit = subprocess.run(["git", "-C", str(b.ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    if checkoff != b.CHECKOFF_BIN:
        commit = f"{checkoff} (another build)"
    lines = [f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, checkoff {commit} "
             f"(store: sqlite); callgrind, {requests:,} requests per figure after {WARM_UP} to "
             f"warm up, one connection; whole run {time.monotonic() - started:.0f} s.", "",
             "User-space instructions per request (the kernel's part is not counted):", "",
             "| request | checkoff | bare axum router | hyper ceiling | checkoff / axum "
             "| checkoff / ceiling |",
             "|---|---:|---:|---:|---:|---:|"]
    for scenario, figures in results.items():
        co, ax, hy = (figures.get(p) for p in ("checkoff", "axum", "hyper"))
        lines.append(f"| {scenario} | {co:,.0f} | "
                     + (f"{ax:,.0f} | {hy:,.0f} | {co / ax:.2f}× | {co / hy:.2f}× |"
                        if ax and hy else "— | — | — | — |"))
    plain, quiet = results.get("list 20", {}).get("checkoff"), results.get(
        "list 20, no access log", {}).get("checkoff")
    if plain and quiet:
        lines += ["", f"The access log's line costs {plain - quiet:,.0f} instructions per list "
                      f"request ({(plain - quiet) / plain * 100:.1f} % of it)."]
    lines += ["", "The three answer the same request (token included) with the same body: the "
                  "ceiling is hyper alone, the bare router adds axum's routing and response "
                  "types, checkoff adds everything it does (authorizer, revocation check, kept "
                  "answers, request id and line, security headers, deadline, body limit, "
                  "compression layer)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--out", default=str(b.ROOT / "bench" / "last-run-instructions.md"))
    ap.add_argument("--checkoff", type=Path, default=b.CHECKOFF_BIN,
                    help="the checkoff binary to count (default: target/release/checkoff)")
    args = ap.parse_args()
    for binary in (args.checkoff, b.CEILING_BIN, b.AXUM_FLOOR_BIN):
        if not binary.exists():
            sys.exit(f"{binary} is missing: run bench/instructions, which builds it")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="checkoff-instructions-") as tmp:
        results = measure(args.checkoff, args.requests, Path(tmp))
    text = report(results, args.checkoff, args.requests, started)
    Path(args.out).write_text(text)
    print(text, end="")
    b.log(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
