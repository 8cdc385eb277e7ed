#!/usr/bin/env python3
"""Gateway CPU per forwarded call, two release binaries head to head.

Starts one `mcp-fast-backend` and one gateway per binary in front of it (the same generated
config as bench/run.py, every /mcp rate limit on), then runs `mcp-load throughput` (64
connections) against each in turn, `rounds` times interleaved, and prints each run and the
medians. For comparing builds (a profile or allocator change): both gateways share the machine's
state, so what differs is the binary.

Usage: python3 bench/ab_cpu.py BINARY_A BINARY_B [--rounds 6] [--duration 4]
(the load tools come from target/release: `cargo build --release -p authmcp-bench`)
"""
import argparse
import os
import statistics
import tempfile

import run as bench


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs=2)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per throughput run")
    args = ap.parse_args()
    bench.RATE_LIMITS_ON["enabled"] = True
    work = tempfile.mkdtemp(prefix="ab-cpu-")
    backend, (port,) = bench.start_backend(1, 8)
    gateways = []
    try:
        for i, binary in enumerate(args.binaries):
            bench.GATEWAY = os.path.abspath(binary)
            gateway = bench.Gateway(work, f"gw{i}", [port], "info")
            gateways.append(gateway)
            gateway.start()
        results = {b: [] for b in args.binaries}
        for r in range(args.rounds):
            for binary, gateway in zip(args.binaries, gateways):
                row = bench.run_load("throughput", gateway.url, "--connections", "64",
                                     "--duration", str(args.duration), token=gateway.token,
                                     pids=[("gateway", gateway.pid)])
                cpu = next(c for c in row["cpu"] if c["name"] == "gateway")
                per_call = cpu["cpu_s"] / row["ok_calls"] * 1e6 if row["ok_calls"] else float("nan")
                results[binary].append((row["calls_per_s"], per_call))
                print(f"round {r}  {binary}: {row['calls_per_s']:,.0f} calls/s, "
                      f"{per_call:.1f} µs of gateway CPU per call", flush=True)
        for binary in args.binaries:
            rates = [x for x, _ in results[binary]]
            costs = [y for _, y in results[binary]]
            print(f"{binary}: median {statistics.median(rates):,.0f} calls/s, "
                  f"{statistics.median(costs):.1f} µs per call "
                  f"(runs: {', '.join(f'{c:.1f}' for c in costs)})")
    finally:
        for gateway in gateways:
            gateway.stop()
        backend.kill()


if __name__ == "__main__":
    main()
