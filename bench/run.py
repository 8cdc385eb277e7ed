#!/usr/bin/env python3
"""The proxy benchmark: the fast backend measured directly and through the gateway, in one run.

Builds the release binaries (unless --no-build), starts `mcp-fast-backend` (one backend with a
few tools, and a second process serving 100 backends x 50 tools), starts the release gateway
twice with authentication on (one instance in front of the single backend, one in front of the
hundred), creates an administrator and an ordinary user granted every backend by a policy, logs
the user in for a bearer token, then drives `mcp-load` and prints
every figure with its target. While the gateway's `/mcp` does not answer MCP yet, the gateway
rows say "gateway /mcp not available" and the direct figures (the baseline) are still printed.

The machine has two cores shared by the load generator, the gateway and the backend: direct and
gateway are always measured in the same run and the CPU of each process is printed, so a
reader can see who was the bottleneck. See bench/README.md.

Usage: python3 bench/run.py [--no-build] [--duration S] [--rounds N] [--latency-rounds N]
                            [--calls N] [--sessions N]
                            [--gateway-log-level L] [--audit on|off]
"""
import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from report import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
GATEWAY = os.path.join(RELEASE, "authmcp-gateway")
BACKEND = os.path.join(RELEASE, "mcp-fast-backend")
LOAD = os.path.join(RELEASE, "mcp-load")
ADMIN_PASSWORD = "Bench-Passw0rd!"

# Appended to every generated gateway config. Raise per-user / total session caps here once the
# gateway has such keys (unknown keys are errors, so nothing is guessed).
# The bench holds 10,000 sessions of one user, and lists 100 x 50 tools in one page.
# The load runs as an ordinary user granted every backend by a policy (the path real clients take:
# policy-filtered views), registered through /auth/register, which the bench config switches on.
GATEWAY_EXTRA_CONFIG = (
    "[mcp]\nmax_sessions = 20000\nmax_sessions_per_user = 20000\npage_size = 5000\n"
    "[auth]\nallow_registration = true\n"
    '[[policies]]\nsubject = "user:load"\neffect = "allow"\nbackends = ["*"]\n'
)
LOAD_USER = "load"
# --rate-limits: every /mcp limit on (per user, per user×tool, per backend) but far above the
# load, so the numbers show what checking them costs, not refusals.
RATE_LIMITS_ON = {"enabled": False}
RATE_LIMIT_HIGH = 1_000_000_000


class Unavailable(Exception):
    """The gateway (or its /mcp) cannot be measured; the message says why."""


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def build():
    for args in (["-p", "authmcp-bench"], ["--bin", "authmcp-gateway"]):
        cmd = ["cargo", "build", "--release", "--locked", *args]
        log(" ".join(cmd))
        subprocess.run(cmd, cwd=ROOT, check=True)


def rss_mb(pid):
    """Resident memory of `pid` in MB (10^6 bytes), children excluded."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def measure_streamed(args, workdir, rows, notes, cleanup):
    """Section 1c: sequential calls and throughput against a backend that answers every request
    as a one-event stream, as the SDK servers (rmcp, TypeScript, Python) do by default; the
    fast backend of the other sections answers JSON. A streamed answer is read differently, and
    its connection is reusable only once the stream was read to its end."""
    backend, (port,) = start_backend(1, 8, "--event-stream-answers")
    cleanup.append(backend)
    gw = Gateway(workdir, "gw-streamed", [port], args.gateway_log_level)
    cleanup.append(gw)
    try:
        gw.start()
        gw.probe()
    except (Unavailable, OSError, urllib.error.URLError) as e:
        notes.append(f"streamed answers: {e}")
        gw.stop()
        return
    direct = f"http://127.0.0.1:{port}/mcp"
    on_backend = [("backend", backend.pid)]
    on_gateway = on_backend + [("gateway", gw.pid)]
    log(f"streamed answers: sequential tools/call, {args.latency_rounds} rounds, then throughput")
    rounds = {"streamed_direct": [], "streamed_gateway": []}
    for _ in range(args.latency_rounds):
        rounds["streamed_direct"].append(run_load("call", direct, "--calls", str(args.calls), pids=on_backend))
        rounds["streamed_gateway"].append(run_load("call", gw.url, "--calls", str(args.calls),
                                                   token=gw.token, pids=on_gateway))
    for key, reports in rounds.items():
        rows[key] = median_round(reports)
        rows[key + "_p50s"] = [r["latency"]["p50_us"] for r in reports]
    tp = ["--connections", "64", "--duration", str(args.duration)]
    best = lambda row, key: max((row, rows.get(key)), key=lambda r: r["calls_per_s"] if r else -1)
    for _ in range(args.rounds):
        rows["streamed_tp_direct"] = best(run_load("throughput", direct, *tp, pids=on_backend),
                                          "streamed_tp_direct")
        rows["streamed_tp_gateway"] = best(run_load("throughput", gw.url, *tp, token=gw.token,
                                                    pids=on_gateway), "streamed_tp_gateway")
    gw.stop()


def start_backend(backends, tools, *extra):
    proc = subprocess.Popen(
        [BACKEND, "--backends", str(backends), "--tools", str(tools), "--exit-on-stdin-close", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    words = proc.stdout.readline().split()
    if not words or words[0] != "LISTENING":
        raise RuntimeError(f"mcp-fast-backend did not start: {words}")
    return proc, [int(p) for p in words[1:]]


def run_load(mode, url, *extra, token=None, pids=()):
    cmd = [LOAD, mode, "--url", url, "--json", *extra]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    for name, pid in pids:
        cmd += ["--pid", f"{name}={pid}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise Unavailable(done.stderr.strip() or f"mcp-load {mode} exited {done.returncode}")
    return json.loads(done.stdout)


def http_json(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


class Gateway:
    """A release gateway with its own data dir and config, auth on, and a policy-granted user's token."""

    # `--audit off` switches the audit trail off in every generated config (it is on by default).
    audit_enabled = True
    # More `[audit]` keys (bench/audit.py sets the batch size, flush interval and queue).
    audit_settings = ""

    def __init__(self, workdir, name, backend_ports, log_level):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.expected_backends = len(backend_ports)
        self.config = os.path.join(self.dir, "gateway.toml")
        with open(self.config, "w") as f:
            f.write(f'[logging]\nlevel = "{log_level}"\n')
            f.write(GATEWAY_EXTRA_CONFIG)
            f.write(f"[audit]\nenabled = {'true' if Gateway.audit_enabled else 'false'}\n")
            f.write(Gateway.audit_settings)
            for i, port in enumerate(backend_ports):
                backend = "fast" if len(backend_ports) == 1 else f"b{i:03}"
                f.write(f'\n[[backends]]\nname = "{backend}"\nurl = "http://127.0.0.1:{port}/mcp"\n')
            if RATE_LIMITS_ON["enabled"]:
                f.write(f"\n[rate_limit]\nmcp_max = {RATE_LIMIT_HIGH}\ntool_max = {RATE_LIMIT_HIGH}\n")
                for i in range(len(backend_ports)):
                    backend = "fast" if len(backend_ports) == 1 else f"b{i:03}"
                    f.write(f'[[rate_limit.backends]]\nname = "{backend}"\nmax = {RATE_LIMIT_HIGH}\n')
        self.proc = None
        self.token = None
        self.base = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return f"{self.base}/mcp"

    def auth_header(self):
        return ["--header", f"Authorization: Bearer {self.token}"]

    def start(self):
        data = os.path.join(self.dir, "data")
        common = ["--config", self.config, "--data-dir", data]
        created = subprocess.run([GATEWAY, "create-admin", "--username", "bench", "--email",
                                  "bench@example.com", "--password", ADMIN_PASSWORD, *common],
                                 capture_output=True, text=True, cwd=self.dir)
        if created.returncode != 0:
            raise Unavailable(f"create-admin failed: {created.stderr.strip()}")
        sock_path = os.path.join(self.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(0.5)
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w")
        env = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": sock_path}
        self.proc = subprocess.Popen([GATEWAY, "start", *common, "--host", "127.0.0.1", "--port", "0"],
                                     env=env, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 60
        try:
            while self.base is None:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise Unavailable(f"gateway did not become ready (exit status {self.proc.poll()}); "
                                      f"see {self.stderr.name}")
                try:
                    msg = sock.recv(4096).decode()
                except socket.timeout:
                    continue
                status = [l for l in msg.splitlines() if l.startswith("STATUS=Serving on ")]
                if "READY=1" in msg and status:
                    self.base = "http://" + status[0].split()[-1]
        finally:
            sock.close()
        self.wait_backends_online()
        http_json(f"{self.base}/auth/register",
                  {"username": LOAD_USER, "email": "load@example.com", "password": ADMIN_PASSWORD})
        self.token = http_json(f"{self.base}/auth/login",
                               {"username": LOAD_USER, "password": ADMIN_PASSWORD})["access_token"]
        return self

    def wait_backends_online(self):
        online = -1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                online = http_json(f"{self.base}/health/ready")["backends"]["online"]
            except (urllib.error.URLError, KeyError, ValueError):
                online = -1
            if online == self.expected_backends:
                return
            time.sleep(0.05)
        log(f"warning: only {online}/{self.expected_backends} backends online after 60 s")

    def probe(self):
        """Raises Unavailable("gateway /mcp not available (…)") unless /mcp serves MCP."""
        done = subprocess.run([LOAD, "probe", "--url", self.url, *self.auth_header()],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            reason = done.stderr.strip().removeprefix("mcp-load: ")
            raise Unavailable(f"gateway /mcp not available ({reason})")
        log(f"gateway {self.url}: {done.stdout.strip()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.stderr.close()


def hold_sessions(gateway, count, backend_pid):
    """Opens `count` sessions through the gateway; RSS after opening and after one call each."""
    cmd = [LOAD, "sessions", "--url", gateway.url, "--json", "--count", str(count), "--touch",
           *gateway.auth_header()]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    try:
        opened = json.loads(lines.get(timeout=120))
        rss_open = rss_mb(gateway.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        touched = json.loads(lines.get(timeout=120))
        rss_touched = rss_mb(gateway.pid)
        return {"opened": opened, "rss_open": rss_open, "touched": touched,
                "rss_touched": rss_touched, "backend_rss": rss_mb(backend_pid)}
    except (queue.Empty, json.JSONDecodeError):
        proc.kill()
        raise Unavailable("the sessions run stalled or failed: " + proc.stderr.read().strip())
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def hold_streams(gateway, count):
    """`count` sessions, one connection each, then each session's idle GET /mcp stream: RSS
    before and after the streams (and the gateway's idle RSS before any session)."""
    rss_idle = rss_mb(gateway.pid)
    cmd = [LOAD, "streams", "--url", gateway.url, "--json", "--count", str(count), *gateway.auth_header()]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    try:
        opened = json.loads(lines.get(timeout=120))
        time.sleep(0.5)  # let the sessions' allocations settle before reading memory
        rss_sessions = rss_mb(gateway.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        streamed = json.loads(lines.get(timeout=120))
        time.sleep(0.5)
        rss_streams = rss_mb(gateway.pid)
        return {"opened": opened, "streamed": streamed, "rss_idle": rss_idle,
                "rss_sessions": rss_sessions, "rss_streams": rss_streams}
    except (queue.Empty, json.JSONDecodeError):
        proc.kill()
        raise Unavailable("the GET streams run stalled or failed: " + proc.stderr.read().strip())
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def measure_progress(args, workdir, rows, notes, cleanup):
    """Section 5: relayed progress events and idle GET streams, on a fresh gateway in front of a
    fresh backend with the `progress` tool (sections 1-4 leave 10,000 sessions behind)."""
    backend, (port,) = start_backend(1, 8, "--progress-tool")
    cleanup.append(backend)
    direct = f"http://127.0.0.1:{port}/mcp"
    gw = Gateway(workdir, "gw-progress", [port], args.gateway_log_level)
    cleanup.append(gw)
    gw.start()
    time.sleep(1.0)
    gw.probe()
    log(f"{args.progress_sessions:,} idle GET streams on the gateway")
    try:
        rows["streams"] = hold_streams(gw, args.progress_sessions)
    except Unavailable as e:
        notes.append(f"GET streams: {e}")
    plan = ["--sessions", str(args.progress_sessions), "--events", str(args.progress_events),
            "--interval-ms", str(args.progress_interval_ms)]
    log(f"progress: {args.progress_sessions:,} sessions x {args.progress_events} events, "
        f"{args.progress_rounds} rounds, direct and gateway interleaved")
    rounds = {"progress_direct": [], "progress_gateway": []}
    for _ in range(args.progress_rounds):
        rounds["progress_direct"].append(run_load("progress", direct, *plan, pids=[("backend", backend.pid)]))
        rounds["progress_gateway"].append(run_load("progress", gw.url, *plan, token=gw.token,
                                                   pids=[("gateway", gw.pid), ("backend", backend.pid)]))
    for key, reports in rounds.items():
        rows[key] = median_round(reports)
        rows[key + "_p50s"] = [r["latency"]["p50_us"] if r.get("latency") else None for r in reports]
    gw.stop()


def audit_check(gw, rows, notes):
    """After the latency and throughput sections: the audit trail's counters; drops are a failure."""
    try:
        admin = http_json(f"{gw.base}/auth/login", {"username": "bench", "password": ADMIN_PASSWORD})
        request = urllib.request.Request(f"{gw.base}/admin/api/mcp-stats?window_minutes=1",
                                         headers={"Authorization": f"Bearer {admin['access_token']}"})
        with urllib.request.urlopen(request, timeout=30) as r:
            queue_stats = json.load(r)["queue"]
    except (OSError, urllib.error.URLError, KeyError, ValueError) as e:
        notes.append(f"audit: could not read the counters ({e})")
        return
    rows["audit"] = queue_stats
    log(f"audit: accepted {queue_stats['accepted']:,}, written {queue_stats['written']:,}, "
        f"queued {queue_stats['queued']:,}, dropped {queue_stats['dropped']:,}, batches {queue_stats['batches']:,}")
    if queue_stats["dropped"]:
        notes.append(f"AUDIT DROPS: {queue_stats['dropped']:,} records dropped during the proxy sections")
    else:
        notes.append(f"audit on: {queue_stats['written']:,} records written, none dropped")


def median_round(reports):
    """The round whose p50 is the median: other processes on the machine make single rounds noisy."""
    ordered = sorted(reports, key=lambda r: r["latency"]["p50_us"] if r.get("latency") else float("inf"))
    return ordered[(len(ordered) - 1) // 2]


def measure(args, workdir, rows, notes, cleanup):
    backend, (port,) = start_backend(1, 8)
    cleanup.append(backend)
    fan, fan_ports = start_backend(100, 50)
    cleanup.append(fan)
    direct = f"http://127.0.0.1:{port}/mcp"
    on_backend = [("backend", backend.pid)]

    gw, gw_reason = None, None
    try:
        if not os.path.exists(GATEWAY):
            raise Unavailable(f"{GATEWAY} is missing")
        gw = Gateway(workdir, "gw1", [port], args.gateway_log_level)
        cleanup.append(gw)
        gw.start()
        time.sleep(1.0)  # let start-up allocations settle before reading idle memory
        rows["rss_idle"] = rss_mb(gw.pid)
        gw.probe()
    except (Unavailable, OSError, urllib.error.URLError) as e:
        gw_reason = str(e)
        log(gw_reason)
    on_gateway = on_backend + ([("gateway", gw.pid)] if gw_reason is None else [])

    log(f"sequential tools/call, {args.latency_rounds} rounds, direct and gateway interleaved")
    rounds = {"call_direct": [], "call_gateway": []}
    for _ in range(args.latency_rounds):
        rounds["call_direct"].append(run_load("call", direct, "--calls", str(args.calls), pids=on_backend))
        if gw_reason is None:
            rounds["call_gateway"].append(run_load("call", gw.url, "--calls", str(args.calls),
                                                   token=gw.token, pids=on_gateway))
    for key, reports in rounds.items():
        if reports:
            rows[key] = median_round(reports)
            rows[key + "_p50s"] = [r["latency"]["p50_us"] for r in reports]

    # The same with a large argument (echoed back, so the result is as large): what the gateway's
    # per-payload work (payload scan, audit sizes, name lookups, copies) costs when payloads grow.
    if args.payload_bytes:
        log(f"sequential tools/call with a {args.payload_bytes:,}-byte argument, {args.latency_rounds} rounds")
        big = ["--calls", str(args.payload_calls), "--warmup", "100", "--text-bytes", str(args.payload_bytes)]
        rounds = {"big_direct": [], "big_gateway": []}
        for _ in range(args.latency_rounds):
            rounds["big_direct"].append(run_load("call", direct, *big, pids=on_backend))
            if gw_reason is None:
                rounds["big_gateway"].append(run_load("call", gw.url, *big, token=gw.token, pids=on_gateway))
        for key, reports in rounds.items():
            if reports:
                rows[key] = median_round(reports)
                rows[key + "_p50s"] = [r["latency"]["p50_us"] for r in reports]

    if args.streamed and gw_reason is None:
        measure_streamed(args, workdir, rows, notes, cleanup)

    log(f"throughput, 64 connections, {args.rounds} x {args.duration:g} s each, interleaved")
    tp = ["--connections", "64", "--duration", str(args.duration)]
    best = lambda row, key: max((row, rows.get(key)), key=lambda r: r["calls_per_s"] if r else -1)
    for _ in range(args.rounds):
        rows["tp_direct"] = best(run_load("throughput", direct, *tp, pids=on_backend), "tp_direct")
        if gw_reason is None:
            rows["tp_gateway"] = best(run_load("throughput", gw.url, *tp, token=gw.token, pids=on_gateway),
                                      "tp_gateway")

    if gw_reason is None and Gateway.audit_enabled:
        audit_check(gw, rows, notes)

    log("tools/list")
    rows["list_direct"] = run_load("list", f"http://127.0.0.1:{fan_ports[0]}/mcp",
                                   pids=[("backend", fan.pid)])
    # The same list size straight from one backend: what a client pays to receive and parse
    # 5,000 tools without any gateway (the baseline for the fan-out figure).
    big, (big_port,) = start_backend(1, 100 * 50)
    cleanup.append(big)
    rows["list_direct_big"] = run_load("list", f"http://127.0.0.1:{big_port}/mcp",
                                       pids=[("backend", big.pid)])
    if gw is not None and gw.base is not None:
        gw100 = Gateway(workdir, "gw100", fan_ports, args.gateway_log_level)
        cleanup.append(gw100)
        try:
            gw100.start()
            time.sleep(1.0)
            rows["rss_idle_100"] = rss_mb(gw100.pid)
            if gw_reason is None:
                gw100.probe()
                rows["list_gateway"] = run_load(
                    "list", gw100.url, token=gw100.token,
                    pids=[("gateway", gw100.pid), ("backend", fan.pid)])
        except (Unavailable, OSError, urllib.error.URLError) as e:
            notes.append(f"100x50 gateway: {e}")
        gw100.stop()

    if gw_reason is None:
        log(f"holding {args.sessions:,} sessions")
        try:
            rows["sessions"] = hold_sessions(gw, args.sessions, backend.pid)
        except Unavailable as e:
            notes.append(f"sessions: {e}")
    return gw_reason


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-build", action="store_true", help="use the existing target/release binaries")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    ap.add_argument("--rounds", type=int, default=2,
                    help="throughput rounds, direct and gateway interleaved; the best of each is kept")
    ap.add_argument("--latency-rounds", type=int, default=5,
                    help="sequential rounds, direct and gateway interleaved; the median round is kept")
    ap.add_argument("--calls", type=int, default=5000, help="sequential tools/call samples")
    ap.add_argument("--payload-bytes", type=int, default=65536,
                    help="section 1b: the large argument's size in bytes (0 skips the section)")
    ap.add_argument("--payload-calls", type=int, default=1000, help="section 1b: samples per round")
    ap.add_argument("--no-streamed", dest="streamed", action="store_false",
                    help="skip section 1c (a backend answering every request as an event stream)")
    ap.add_argument("--sessions", type=int, default=10_000, help="sessions to open and hold")
    ap.add_argument("--gateway-log-level", default="info", help="the gateway's logging.level")
    ap.add_argument("--progress-sessions", type=int, default=1000,
                    help="section 5: concurrent SSE answers, and idle GET streams")
    ap.add_argument("--progress-events", type=int, default=20, help="section 5: progress events per call")
    ap.add_argument("--progress-interval-ms", type=int, default=100,
                    help="section 5: milliseconds between a call's progress events")
    ap.add_argument("--progress-rounds", type=int, default=3,
                    help="section 5: rounds, direct and gateway interleaved; the median round is kept")
    ap.add_argument("--only-progress", action="store_true", help="run section 5 only")
    ap.add_argument("--rate-limits", action="store_true",
                    help="run the gateways with every /mcp rate limit on (set far above the load)")
    ap.add_argument("--audit", choices=("on", "off"), default="on",
                    help="the gateways' audit trail (on by default, as in production); with it on, "
                         "the audit counters are read after the throughput section and drops reported")
    args = ap.parse_args()
    RATE_LIMITS_ON["enabled"] = args.rate_limits
    Gateway.audit_enabled = args.audit == "on"
    started = time.monotonic()
    if not args.no_build:
        build()
    for binary in (BACKEND, LOAD):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: run without --no-build")

    rows, notes, cleanup = {}, [], []
    with tempfile.TemporaryDirectory(prefix="authmcp-bench-") as workdir:
        try:
            gw_reason = None
            if not args.only_progress:
                gw_reason = measure(args, workdir, rows, notes, cleanup)
            if gw_reason is None:
                try:
                    measure_progress(args, workdir, rows, notes, cleanup)
                except (Unavailable, OSError, urllib.error.URLError) as e:
                    notes.append(f"progress: {e}")
                    log(str(e))
        finally:
            for item in reversed(cleanup):
                if isinstance(item, Gateway):
                    item.stop()
                else:
                    item.stdin.close()  # the backends exit when stdin closes
                    item.wait(timeout=10)
    report(rows, gw_reason, notes, args, time.monotonic() - started)


if __name__ == "__main__":
    main()
