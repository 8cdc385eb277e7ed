#!/usr/bin/env python3
"""Audit throughput: sustained audit records/s on SQLite and PostgreSQL, through the gateway.

For each database: starts `mcp-fast-backend` and the gateway (auth on, audit on) in front of it,
drives `mcp-load throughput` (64 connections, back-to-back `tools/call`) for --duration seconds,
and reads the audit trail's counters (`GET /admin/api/mcp-stats` → `queue`: accepted, written,
dropped, queued, batches) before and after the load, then once the queue has drained and
`audit_records` row count. Prints, per database: calls/s, records written/s during the load
window, the queue depth when the load stopped, drops, batches and mean batch size, the time to
drain the backlog, and the load average of the machine (shared, busy: read the figures with it).

"Keeps up" means: no drops, and the queue at the end of the window is small next to one second
of calls (the backlog drains within a flush interval or two).

Usage: python3 bench/audit.py [--no-build] [--profile release|debug] [--duration S]
                              [--connections N] [--databases sqlite,postgres]
                              [--pg-url postgres://postgres@127.0.0.1:5432/test]
                              [--batch-size N] [--flush-interval-ms N] [--queue-capacity N]
       python3 bench/audit.py --writer [--records N] ...
`--writer` measures the AuditActor alone (examples/audit_writer_bench.rs): records/s committed
when the queue never runs dry, i.e. the writer's capacity, the headroom over the gateway figure.
The lead runs it in release mode; `--profile debug` only checks that the script works.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import run as proxy_bench

ROOT = proxy_bench.ROOT


def get_json(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


def audit_counters(gw, admin):
    return get_json(f"{gw.base}/admin/api/mcp-stats?window_minutes=1", admin)["queue"]


def create_pg_database(admin_url):
    name = f"authmcp_bench_{os.getpid()}_{int(time.time())}"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    server = admin_url.rsplit("/", 1)[0]
    return name, f"{server}/{name}"


def drop_pg_database(admin_url, name):
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   check=False)


def measure(args, workdir, db, cleanup):
    backend, (port,) = proxy_bench.start_backend(1, 8)
    cleanup.append(backend)
    proxy_bench.Gateway.audit_enabled = True
    proxy_bench.Gateway.audit_settings = (
        f"batch_size = {args.batch_size}\nflush_interval_ms = {args.flush_interval_ms}\n"
        f"queue_capacity = {args.queue_capacity}\n")
    gw = proxy_bench.Gateway(workdir, f"gw-{db}", [port], "warning")
    extra = ""
    pg_name = None
    if db == "postgres":
        pg_name, url = create_pg_database(args.pg_url)
        extra += f'[database]\nurl = "{url}"\n'
    with open(gw.config, "a") as f:
        f.write(extra)
    cleanup.append(gw)
    try:
        gw.start()
        gw.probe()
        admin = proxy_bench.http_json(f"{gw.base}/auth/login",
                                      {"username": "bench", "password": proxy_bench.ADMIN_PASSWORD})["access_token"]
        before = audit_counters(gw, admin)
        started = time.monotonic()
        load = proxy_bench.run_load("throughput", gw.url, "--connections", str(args.connections),
                                    "--duration", str(args.duration), token=gw.token,
                                    pids=[("backend", backend.pid), ("gateway", gw.pid)])
        window = time.monotonic() - started
        at_end = audit_counters(gw, admin)
        drain_started = time.monotonic()
        drained = at_end
        while drained["queued"] > 0 and time.monotonic() - drain_started < 60:
            time.sleep(args.flush_interval_ms / 1000)
            drained = audit_counters(gw, admin)
        drain_s = time.monotonic() - drain_started
        written = at_end["written"] - before["written"]
        batches = drained["batches"] - before["batches"]
        return {
            "db": db,
            "calls_per_s": load.get("calls_per_s"),
            "records_per_s": written / window,
            "window_s": window,
            "accepted": drained["accepted"] - before["accepted"],
            "written_total": drained["written"],
            "queued_at_end": at_end["queued"],
            "dropped": drained["dropped"],
            "batches": batches,
            "mean_batch": (drained["written"] - before["written"]) / batches if batches else 0,
            "drain_s": drain_s,
            "last_error": drained.get("last_error"),
            "loadavg": os.getloadavg(),
        }
    finally:
        gw.stop()
        backend.stdin.close()
        backend.wait(timeout=10)
        cleanup.remove(backend)
        cleanup.remove(gw)
        if pg_name:
            drop_pg_database(args.pg_url, pg_name)


def writer_capacity(args, example, db):
    pg_name, tmp = None, None
    if db == "postgres":
        pg_name, url = create_pg_database(args.pg_url)
    else:
        tmp = tempfile.mkdtemp(prefix="authmcp-audit-writer-")
        url = f"sqlite://{tmp}/authmcp.db"
    try:
        done = subprocess.run([example, url, "--records", str(args.records),
                               "--batch-size", str(args.batch_size),
                               "--queue-capacity", str(args.queue_capacity)],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            sys.exit(f"audit_writer_bench failed: {done.stderr.strip()}")
        result = json.loads(done.stdout)
        result["db"] = db
        result["loadavg"] = os.getloadavg()
        return result
    finally:
        if pg_name:
            drop_pg_database(args.pg_url, pg_name)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--profile", choices=("release", "debug"), default="release")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--databases", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get("AUTHMCP_TEST_PG_URL",
                                                      "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--flush-interval-ms", type=int, default=200)
    ap.add_argument("--queue-capacity", type=int, default=10000)
    ap.add_argument("--writer", action="store_true", help="measure the AuditActor alone")
    ap.add_argument("--records", type=int, default=200_000, help="--writer: records to write")
    args = ap.parse_args()
    if args.writer:
        example = os.path.join(ROOT, "target", args.profile, "examples", "audit_writer_bench")
        if args.profile == "release" and not args.no_build:
            subprocess.run(["cargo", "build", "--release", "--locked", "--example", "audit_writer_bench"],
                           cwd=ROOT, check=True)
        if not os.path.exists(example):
            sys.exit(f"{example} is missing")
        print(f"\nAudit writer capacity ({args.profile} build; {args.records:,} records, "
              f"batch_size {args.batch_size}, queue_capacity {args.queue_capacity})")
        print(f"{'db':<9} {'records/s':>10} {'seconds':>8} {'batches':>8} {'dropped':>8}  load avg (1/5/15 min)")
        for db in args.databases.split(","):
            r = writer_capacity(args, example, db.strip())
            print(f"{r['db']:<9} {r['records_per_s']:>10.0f} {r['seconds']:>8.2f} {r['batches']:>8} "
                  f"{r['dropped']:>8}  {' '.join(f'{x:.2f}' for x in r['loadavg'])}")
        return
    if args.profile == "debug":
        directory = os.path.join(ROOT, "target", "debug")
        proxy_bench.GATEWAY = os.path.join(directory, "authmcp-gateway")
        proxy_bench.BACKEND = os.path.join(directory, "mcp-fast-backend")
        proxy_bench.LOAD = os.path.join(directory, "mcp-load")
    elif not args.no_build:
        proxy_bench.build()
    for binary in (proxy_bench.GATEWAY, proxy_bench.BACKEND, proxy_bench.LOAD):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing")

    results, cleanup = [], []
    with tempfile.TemporaryDirectory(prefix="authmcp-audit-bench-") as workdir:
        try:
            for db in args.databases.split(","):
                proxy_bench.log(f"audit throughput on {db}, {args.duration:g} s at {args.connections} connections")
                results.append(measure(args, workdir, db.strip(), cleanup))
        finally:
            for item in reversed(cleanup):
                if isinstance(item, proxy_bench.Gateway):
                    item.stop()
                else:
                    item.stdin.close()
                    item.wait(timeout=10)

    print(f"\nAudit throughput ({args.profile} build; batch_size {args.batch_size}, "
          f"flush_interval_ms {args.flush_interval_ms}, queue_capacity {args.queue_capacity})")
    print(f"{'db':<9} {'calls/s':>9} {'records/s':>10} {'queued@end':>11} {'dropped':>8} "
          f"{'batches':>8} {'mean batch':>11} {'drain s':>8}  load avg (1/5/15 min)")
    for r in results:
        print(f"{r['db']:<9} {r['calls_per_s'] or 0:>9.0f} {r['records_per_s']:>10.0f} "
              f"{r['queued_at_end']:>11} {r['dropped']:>8} {r['batches']:>8} {r['mean_batch']:>11.1f} "
              f"{r['drain_s']:>8.2f}  {' '.join(f'{x:.2f}' for x in r['loadavg'])}")
        if r["last_error"]:
            print(f"  last write error: {r['last_error']}")
    verdict = all(r["dropped"] == 0 for r in results)
    print("no drops" if verdict else "DROPS: the audit queue overflowed (see dropped)")


if __name__ == "__main__":
    main()
