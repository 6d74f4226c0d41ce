#!/usr/bin/env python3
"""checkoff under 1,000 connections: is the load held, and is every acknowledged write kept?

Usage (normally through bench/load, which builds checkoff and installs wrk first):

    python3 bench/load.py [--duration 10s] [--connections 1000] [--out bench/last-run-load.md]

One release `checkoff serve` (SQLite, its default limits) on a free port of 127.0.0.1, one user
with 20 todos, then wrk loads (2 threads, --latency):

1. list 20 at 32 connections (bench/run's setting) and at 1,000 connections, in ROUNDS
   alternating slices of half the duration each (the host's pace drifts over a run by more than
   the 10 % looked for: one load of each, a minute apart, came out anywhere from 72 % to 106 %).
   Each row is the median slice; the ratio is the median of the rounds' ratios, and the p99 the
   median of the 1,000-connection slices' (the worst is printed beside it). Goal (issue 20): ≥ 90 % of the 32-connection
   throughput, p99 under 100 ms.
2. create at 1,000 connections (bench/lua/create_count.lua): wrk counts the 201s it saw and
   writes down their uids; afterwards the user's todos are listed through the API (paged) and
   counted in the database file once the server has stopped. Goal: every acknowledged uid is
   stored, and no 5xx or socket error. Todos stored but not acknowledged are creates whose answer
   was still on its way when wrk stopped (at most one per connection).

The report (Markdown) goes to standard output and to bench/last-run-load.md, with the load
average and the CPU that other processes took during each load (the machine is shared). Exits
1 if a goal is missed. Reuses bench.py's way of starting servers and wrk; Python 3 stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the servers, wrk, and cleanup on every way out)

TODOS = b.TODOS_PER_USER
MIN_RATIO = 0.90
ROUNDS = 5
MAX_P99_MS = 100.0


class CpuMeter:
    """CPU over an interval: the whole machine's busy time, and the part of it that was not the
    server, wrk or this script (other engineers' compilers, say), as a share of all cores."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int):
        self.pid = server_pid

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        return (sum(v[:8]) - v[3] - v[4]) / CpuMeter.TICK

    def _ours(self) -> float:
        server = b.cpu_ticks(self.pid) / self.TICK
        t = os.times()  # this script, and its waited-for children (wrk)
        return server + t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        self.t0, self.busy0, self.ours0 = time.monotonic(), self._busy(), self._ours()
        self.load0 = os.getloadavg()[0]
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.t0
        busy, ours = self._busy() - self.busy0, self._ours() - self.ours0
        cores = os.cpu_count() or 1
        self.busy_pct = 100 * busy / (wall * cores)
        self.others_pct = max(0.0, 100 * (busy - ours) / (wall * cores))
        self.load1 = os.getloadavg()[0]
        return False

    def describe(self) -> str:
        return (f"load avg {self.load0:.2f} → {self.load1:.2f}, CPU busy {self.busy_pct:.0f} %, "
                f"of it other processes {self.others_pct:.0f} %")


def load_row(label: str, conns: int, load: b.Load, cpu: CpuMeter) -> str:
    errs = f"{load.non2xx}" + (f" (+{load.socket_errors} socket)" if load.socket_errors else "")
    return (f"| {label} | {conns:,} | {load.rps:,.0f} | {b.fmt_ms(load.p50_ms)} | "
            f"{b.fmt_ms(load.p99_ms)} | {errs} | {cpu.load0:.2f} | {cpu.others_pct:.0f} % |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default=os.environ.get("BENCH_DURATION", "10s"),
                    help="each load (default $BENCH_DURATION or 10s)")
    ap.add_argument("--connections", type=int, default=1000, help="the high connection count")
    ap.add_argument("--out", default=str(b.ROOT / "bench" / "last-run-load.md"),
                    help="where to write the report as well")
    args = ap.parse_args()
    seconds = b.parse_duration(args.duration)
    if not b.CHECKOFF_BIN.exists():
        ap.error(f"missing {b.CHECKOFF_BIN} (run bench/load, which builds it)")
    high = args.connections
    started = time.monotonic()
    goals: list[tuple[str, str, bool]] = []

    with tempfile.TemporaryDirectory(prefix="checkoff-load-") as tmp:
        workdir = Path(tmp)
        co = b.Checkoff("sqlite", workdir)
        data = workdir / "checkoff"
        co.create_user(data, "bench")
        server = co.serve(data)
        try:
            port = server.port
            auth = "Bearer " + co.login(port, "bench")
            b.create_todos(port, auth)
            if len(b.listed_uids(port, auth)) != TODOS:
                raise RuntimeError(f"expected {TODOS} todos before the loads")
            lst = b.Req("GET", "/todos", auth=auth)
            b.check_request(port, "list", lst)
            b.log("warm-up: list, 32 connections, 2 s")
            b.wrk(port, lst, 2)

            slice_seconds = max(1.0, seconds / 2)
            slices: dict[int, list[tuple[b.Load, CpuMeter]]] = {b.CONNECTIONS: [], high: []}
            for r in range(ROUNDS):
                for conns in slices:
                    b.log(f"list 20 at {conns:,} connections, round {r + 1} of {ROUNDS} "
                          f"({b.wrk_duration(slice_seconds)})")
                    with CpuMeter(server.proc.pid) as cpu:
                        load = b.wrk(port, lst, slice_seconds, connections=conns)
                    slices[conns].append((load, cpu))
                    b.log(f"  {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 "
                          f"{load.p99_ms:.2f} ms, {load.non2xx} non-2xx, {load.socket_errors} "
                          "socket errors; " + cpu.describe())
            loads = {}
            for conns, runs in slices.items():
                load, cpu = sorted(runs, key=lambda run: run[0].rps)[len(runs) // 2]
                # The row counts the errors of every slice, not only the median's.
                load.non2xx = sum(x.non2xx for x, _ in runs)
                load.socket_errors = sum(x.socket_errors for x, _ in runs)
                loads[conns] = (load, cpu)
            ratios = [hi.rps / lo.rps if lo.rps else 0.0
                      for (lo, _), (hi, _) in zip(slices[b.CONNECTIONS], slices[high])]
            p99s = [x.p99_ms for x, _ in slices[high]]

            acks = workdir / "acks"
            acks.mkdir()
            create = b.Req("POST", "/todos", body=json.dumps({"description": "load"}), auth=auth,
                           script="create_count.lua", env={"BENCH_ACK_DIR": str(acks)})
            b.log(f"create at {high:,} connections ({b.wrk_duration(seconds)})")
            with CpuMeter(server.proc.pid) as ccpu:
                cload = b.wrk(port, create, seconds, connections=high)
            b.log(f"  {cload.rps:,.0f} req/s, p99 {cload.p99_ms:.2f} ms; " + ccpu.describe())
            m = re.search(r"^BENCH_COUNT (\{.*\})$", cload.output, re.M)
            if not m:
                raise RuntimeError("create_count.lua printed no BENCH_COUNT:\n" + cload.output)
            counts = json.loads(m.group(1))
            acked = [u for f in sorted(acks.glob("ack-*.txt")) for u in f.read_text().split()]
            time.sleep(0.5)  # creates whose answers wrk never read may still be committing
            via_api = b.listed_uids(port, auth)
            server.sampler.stop()
            peak_kb = b.proc_status_kb(server.proc.pid, "VmHWM")
        finally:
            server.close()  # SIGTERM: drains requests in flight, then the store is closed
        on_disk = b.stored_count(data / "checkoff.db", "bench")

    # -----------------------------------------------------------------------------------------
    (l32, c32), (lhi, chi) = loads[b.CONNECTIONS], loads[high]
    ratio = statistics.median(ratios)
    stored = set(via_api)
    lost = [u for u in acked if u not in stored]
    new_stored = len(via_api) - TODOS
    unacked = new_stored - len(set(acked))
    commit = subprocess.run(["git", "-C", str(b.ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    lines = [
        f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, checkoff {commit} "
        f"(store: sqlite, default limits), {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; wrk {b.THREADS} threads, --latency; list in {ROUNDS} alternating "
        f"rounds of {b.wrk_duration(slice_seconds)} at each connection count (rows: the median "
        f"slice), create {b.wrk_duration(seconds)}; whole run {time.monotonic() - started:.0f} s. "
        f"One user with {TODOS} todos.",
        "",
        "| load | connections | req/s | p50 | p99 | non-2xx | load avg before | CPU taken by "
        "other processes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        load_row("list 20", b.CONNECTIONS, l32, c32),
        load_row("list 20", high, lhi, chi),
        load_row("create", high, cload, ccpu),
        "",
        f"List rounds, {b.CONNECTIONS} / {high:,} connections (req/s): "
        + "; ".join(f"{lo.rps:,.0f} / {hi.rps:,.0f} ({hi.rps / lo.rps:.0%})" if lo.rps else "—"
                    for (lo, _), (hi, _) in zip(slices[b.CONNECTIONS], slices[high])) + ".",
        "",
        f"| create load at {high:,} connections | count |",
        "|---|---:|",
        f"| 201 answers wrk saw (summed over its threads) | {counts['created']:,} |",
        f"| … their uids, as written down by the threads | {len(acked):,} |",
        f"| other answers: other 2xx / 4xx / 5xx / other | {counts['other_2xx']:,} / "
        f"{counts['status_4xx']:,} / {counts['status_5xx']:,} / {counts['other']:,} |",
        f"| todos created during the load, listed through the API (paged) | {new_stored:,} |",
        f"| … counted in the database file after the server stopped | {on_disk - TODOS:,} |",
        f"| **acknowledged but not stored** | **{len(lost):,}** |",
        f"| stored, answer not read by wrk before it stopped (≤ {high:,}) | {unacked:,} |",
        "",
        f"Server peak RSS (VmHWM) over the whole run: {b.fmt_mb(peak_kb)}.",
        "",
        "Goals (ratios from this run):",
        "",
    ]

    def goal(text: str, value: str, ok: bool) -> None:
        goals.append((text, value, ok))
        lines.append(f"- [{'x' if ok else ' '}] **{'PASS' if ok else 'MISS'}** {text}: {value}")

    goal(f"list at {high:,} connections ≥ {MIN_RATIO:.0%} of its throughput at "
         f"{b.CONNECTIONS} (median of the rounds)",
         f"{ratio:.0%} (median slices {lhi.rps:,.0f} / {l32.rps:,.0f} req/s)", ratio >= MIN_RATIO)
    p99 = statistics.median(p99s)
    goal(f"list p99 at {high:,} connections < {MAX_P99_MS:.0f} ms (median of the slices)",
         f"{b.fmt_ms(p99)} (slices {b.fmt_ms(min(p99s))}–{b.fmt_ms(max(p99s))})",
         p99 < MAX_P99_MS)
    goal(f"no acknowledged write lost under {high:,}-connection creates",
         f"{len(lost):,} of {counts['created']:,} missing, {on_disk - TODOS:,} stored",
         not lost and counts["created"] == len(acked) and on_disk == len(via_api)
         and 0 <= unacked <= high)
    errors = sum(x.socket_errors for x in (l32, lhi, cload)) + counts["status_5xx"] + \
        l32.non2xx + lhi.non2xx + counts["other"] + counts["status_4xx"] + counts["other_2xx"]
    goal("no 5xx, other non-201/200 answer or socket error in any load", f"{errors:,}",
         errors == 0)
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    b.log(f"report written to {args.out}")
    return 0 if all(ok for _, _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
