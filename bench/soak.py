#!/usr/bin/env python3
"""checkoff's soak: a mixed load held for 10 minutes, watching the server's memory and errors.

Usage (normally through bench/soak, which builds checkoff and installs wrk first):

    python3 bench/soak.py [--out bench/last-run-soak.md]
    SOAK_DURATION=2m bench/soak            # shorter (default 10m)
    SOAK_CONNECTIONS=16                    # default 16 (2 wrk threads)
    SOAK_LOGIN_EVERY=1000                  # a login every N requests per wrk thread

One release `checkoff serve` (SQLite) on a free port of 127.0.0.1, one user with 20 todos, then
one wrk run of bench/lua/soak.lua for the whole duration: 40 % list, 20 % get, 15 % update,
25 % create or delete (about half each: the number of todos stays level), and a login every
1,000 requests per wrk thread whose token the thread uses from then on. The server's RSS is sampled
every SOAK_SAMPLE (default 5s).

Fails (exit 1) if:
- RSS at the end exceeds RSS at the end of the warm-up (the first half of the run) by more than
  RSS_TOLERANCE (10 %, and at least 3 MB: mimalloc's arenas and SQLite's page caches move by a
  few MB with the load's phase). The warm-up is long because the bounded caches fill for minutes
  under this login-heavy load (verified tokens, up to 4,096 of about 1 KiB; SQLite's page cache
  per connection, as the sessions table grows; the list cache): a leak keeps climbing in the
  second half, a full cache does not;
- any 5xx or socket error (connect, read, write, timeout) appeared, or the server died.
4xx answers are counted and reported (none are expected).

The report (Markdown) goes to standard output and to bench/last-run-soak.md. Not run in CI.
Reuses bench.py's way of starting servers and wrk; Python 3 stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the servers, wrk, and cleanup on every way out)

RSS_TOLERANCE = 0.10        # of the RSS at the end of the warm-up
RSS_TOLERANCE_MIN_KB = 3000  # ... and never less than 3 MB
WARMUP_SHARE = 0.5           # of the run
LOGIN_EVERY = int(os.environ.get("SOAK_LOGIN_EVERY", "1000"))


class RssTimeline(threading.Thread):
    """(seconds since start, VmRSS kB, RssAnon kB, RssFile kB) every `interval` seconds."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int, int]] = []
        self.died = False
        self._halt = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while True:
            rss = b.proc_status_kb(self.pid, "VmRSS")
            if rss is None:
                self.died = True
                return
            self.samples.append((time.monotonic() - t0, rss,
                                 b.proc_status_kb(self.pid, "RssAnon") or 0,
                                 b.proc_status_kb(self.pid, "RssFile") or 0))
            if self._halt.wait(self.interval):
                return

    def finish(self):
        self._halt.set()
        self.join()


def slope_mb_per_min(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, kB) in MB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if not den else sum((t - mx) * (v - my) for t, v in points) / den * 60 * 1.024e-3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default=os.environ.get("SOAK_DURATION", "10m"),
                    help="how long the load is held (default $SOAK_DURATION or 10m)")
    ap.add_argument("--connections", type=int,
                    default=int(os.environ.get("SOAK_CONNECTIONS", "16")))
    ap.add_argument("--sample", default=os.environ.get("SOAK_SAMPLE", "5s"),
                    help="RSS sampling interval (default $SOAK_SAMPLE or 5s)")
    ap.add_argument("--out", default=str(b.ROOT / "bench" / "last-run-soak.md"),
                    help="where to write the report as well")
    args = ap.parse_args()
    seconds = b.parse_duration(args.duration)
    interval = b.parse_duration(args.sample)
    warmup = seconds * WARMUP_SHARE
    if not b.CHECKOFF_BIN.exists():
        ap.error(f"missing {b.CHECKOFF_BIN} (run bench/soak, which builds it)")
    started = time.monotonic()
    load0 = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="checkoff-soak-") as tmp:
        workdir = Path(tmp)
        co = b.Checkoff("sqlite", workdir)
        data = workdir / "checkoff"
        co.create_user(data, "soak")
        server = co.serve(data)
        try:
            port = server.port
            auth = "Bearer " + co.login(port, "soak")
            b.create_todos(port, auth)
            login_body = json.dumps({"username": "soak", "password": b.PASSWORD})
            req = b.Req("GET", "/", body=json.dumps({"description": "soak"}), auth=auth,
                        script="soak.lua",
                        env={"BENCH_LIST_PATH": "/todos?limit=20", "BENCH_LOGIN_BODY": login_body,
                             "BENCH_LOGIN_EVERY": str(LOGIN_EVERY)})
            b.expect_2xx("list", b.call(port, "GET", "/todos?limit=20", auth=auth))
            b.expect_2xx("login", b.call(port, "POST", "/login", login_body))
            timeline = RssTimeline(server.proc.pid, interval)
            timeline.start()
            b.log(f"soak: {b.wrk_duration(seconds)}, {args.connections} connections, RSS every "
                  f"{interval:g} s (warm-up {warmup:.0f} s)")
            try:
                load = b.wrk(port, req, seconds, connections=args.connections)
            finally:
                timeline.finish()
            alive = server.proc.poll() is None
            hwm = b.proc_status_kb(server.proc.pid, "VmHWM")
            todos_left = len(b.listed_uids(port, auth)) if alive else None
        finally:
            server.close()
        db_kb = sum(p.stat().st_size for p in data.glob("checkoff.db*")) // 1024

    m = re.search(r"^BENCH_COUNT (\{.*\})$", load.output, re.M)
    counts = json.loads(m.group(1)) if m else None
    samples = timeline.samples
    after = [s for s in samples if s[0] >= warmup] or samples[-1:]
    base, last = after[0], samples[-1]
    peak = max(samples, key=lambda s: s[1])
    tolerance_kb = max(RSS_TOLERANCE_MIN_KB, int(base[1] * RSS_TOLERANCE))
    growth_kb = last[1] - base[1]
    slope = slope_mb_per_min([(t, v) for t, v, _, _ in after])
    load1 = os.getloadavg()

    commit = subprocess.run(["git", "-C", str(b.ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    mb = b.fmt_mb
    lines = [
        f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, checkoff {commit} "
        f"(store: sqlite), {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"wrk {b.THREADS} threads, {args.connections} connections, {b.wrk_duration(seconds)} of "
        f"bench/lua/soak.lua (40 % list, 20 % get, 15 % update, 25 % create or delete, a "
        f"login every {LOGIN_EVERY:,} requests per thread); RSS every {interval:g} s; load "
        f"average before {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f} (1/5/15 min), after "
        f"{load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}; whole run "
        f"{time.monotonic() - started:.0f} s.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| requests | {load.requests:,} ({load.rps:,.0f}/s) |",
        f"| latency p50 / p99 | {b.fmt_ms(load.p50_ms)} / {b.fmt_ms(load.p99_ms)} |",
    ]
    if counts:
        lines += [
            f"| answers 2xx / 4xx / 5xx / other | {counts['status_2xx']:,} / "
            f"{counts['status_4xx']:,} / {counts['status_5xx']:,} / {counts['other']:,} |",
            f"| logins (token renewed) | {counts['logins']:,} |",
        ]
    lines += [
        f"| non-2xx (wrk) | {load.non2xx:,} |",
        f"| socket errors (connect, read, write, timeout) | {load.socket_errors:,} |",
        f"| RSS first sample / at the end of warm-up ({base[0]:.0f} s) | {mb(samples[0][1])} / "
        f"{mb(base[1])} |",
        f"| RSS max ({peak[0]:.0f} s) / last ({last[0]:.0f} s) | {mb(peak[1])} / {mb(last[1])} |",
        f"| … last: anonymous / mapped files | {mb(last[2])} / {mb(last[3])} |",
        f"| peak RSS (VmHWM) | {mb(hwm)} |",
        f"| RSS growth after warm-up (last − warm-up end) | {growth_kb * 1.024e-3:+.1f} MB "
        f"(tolerance {mb(tolerance_kb)}) |",
        f"| RSS trend after warm-up (least squares) | {slope:+.3f} MB/min |",
        f"| todos left / database files at the end | "
        f"{todos_left if todos_left is not None else '—'} / {db_kb / 1000:.1f} MB |",
        "",
        "RSS over the run (one sample a minute, or ten over a shorter run):",
        "",
        "| t | VmRSS | anonymous | mapped files |",
        "|---:|---:|---:|---:|",
    ]
    step = 60.0 if seconds >= 600 else seconds / 10
    shown, mark = [], 0.0
    for s in samples:
        if s[0] >= mark:
            shown.append(s)
            mark = s[0] - s[0] % step + step
    if shown[-1] is not last:
        shown.append(last)
    lines += [f"| {t:.0f} s | {mb(v)} | {mb(a)} | {mb(f)} |" for t, v, a, f in shown]
    lines += ["", "Checks:", ""]

    checks = []

    def check(text, value, ok):
        checks.append(ok)
        lines.append(f"- [{'x' if ok else ' '}] **{'PASS' if ok else 'FAIL'}** {text}: {value}")

    check("server alive to the end", "yes" if alive and not timeline.died else "no",
          alive and not timeline.died)
    check(f"RSS growth after warm-up ≤ {RSS_TOLERANCE:.0%} (at least "
          f"{RSS_TOLERANCE_MIN_KB / 1000:.0f} MB)",
          f"{growth_kb * 1.024e-3:+.1f} MB of {mb(tolerance_kb)} allowed",
          growth_kb <= tolerance_kb)
    s5 = counts["status_5xx"] if counts else -1
    check("no 5xx", f"{s5:,}" if counts else "no count (BENCH_COUNT missing)", s5 == 0)
    check("no socket errors", f"{load.socket_errors:,}", load.socket_errors == 0)
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    b.log(f"report written to {args.out}")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
