#!/usr/bin/env python3
"""User-space instructions per forwarded `tools/call`, counted under callgrind.

Times and CPU seconds on these shared two-core machines swing by ±10% from run to run (see
README "Latest figures"), more than most changes to the request path move them. An instruction
count barely moves: this runs each given release gateway under `valgrind --tool=callgrind` (auth
on, audit on, every /mcp rate limit on, the same generated config as bench/run.py) in front of
one `mcp-fast-backend`, warms it with sequential calls, then counts the instructions of `--calls`
more sequential `tools/call`s and prints the count per call. Kernel work (loopback TCP, most of
the gateway's CPU under load) is not counted, nor are waits: it compares the gateway's own code,
not its speed. Run-to-run spread: a few percent (the audit writer's batches follow the clock).

Usage: python3 bench/instructions.py BINARY [BINARY ...] [--calls N] [--keep]
(valgrind must be installed; the load tools come from target/release:
`cargo build --release -p authmcp-bench`). `--keep` leaves the callgrind output files (their
paths are printed) for `callgrind_annotate`.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import run as bench

REAL_POPEN = subprocess.Popen


def under_callgrind(out_dir):
    """`subprocess.Popen` for bench.Gateway that starts the gateway's `start` under callgrind,
    with instrumentation off until the measured window (start-up would take minutes)."""
    def popen(args, *rest, **kwargs):
        if args and args[0] == bench.GATEWAY and "start" in args:
            args = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={os.path.join(out_dir, 'callgrind.out.%p')}", *args]
        return REAL_POPEN(args, *rest, **kwargs)

    return popen


def control(*args):
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def count(binary, port, calls, keep):
    bench.GATEWAY = os.path.abspath(binary)
    work = tempfile.mkdtemp(prefix="instructions-")
    bench.subprocess.Popen = under_callgrind(work)
    gateway = bench.Gateway(work, "gw", [port], "info")
    try:
        gateway.start()
        pid = str(gateway.pid)
        bench.run_load("call", gateway.url, "--calls", "200", "--warmup", "0", token=gateway.token)
        control("-i", "on", pid)
        # A few calls with instrumentation on before counting: the code paths are translated.
        bench.run_load("call", gateway.url, "--calls", "50", "--warmup", "0", token=gateway.token)
        control("-z", pid)
        bench.run_load("call", gateway.url, "--calls", str(calls), "--warmup", "0",
                       token=gateway.token)
        control("-d", pid)
        control("-i", "off", pid)
        dumps = sorted(glob.glob(os.path.join(work, "callgrind.out.*")), key=os.path.getmtime)
        total = 0
        for dump in dumps:
            with open(dump) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        total = max(total, int(line.split()[1]))
        where = f"  ({dumps[-1]})" if keep and dumps else ""
        print(f"{binary}: {total / calls:,.0f} instructions per forwarded call{where}", flush=True)
    finally:
        gateway.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--calls", type=int, default=1000, help="counted sequential calls")
    ap.add_argument("--keep", action="store_true", help="keep the callgrind output files")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    bench.RATE_LIMITS_ON["enabled"] = True
    backend, (port,) = bench.start_backend(1, 8)
    try:
        for binary in args.binaries:
            count(binary, port, args.calls, args.keep)
    finally:
        backend.kill()


if __name__ == "__main__":
    main()
