#!/usr/bin/env python3
"""Start-to-ready time and idle memory of the release binary with three backends.

Starts `target/release/authmcp-gateway start` with two stdio backends and one Streamable HTTP
backend (all the rmcp fixture server from examples/), listening for sd_notify on a datagram socket
as systemd would. Prints, per run:
  - spawn → READY=1 (the gateway is serving and its supervisor tree is up),
  - spawn → all three backends online (from the public counts on /health/ready),
  - the gateway's own RSS once idle (children excluded), and the children's RSS for reference.

Usage: cargo build --release --bin authmcp-gateway --example mcp_fixture_server
       python3 bench/startup.py [runs]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY = os.path.join(ROOT, "target/release/authmcp-gateway")
FIXTURE = os.path.join(ROOT, "target/release/examples/mcp_fixture_server")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    """Child processes of every thread (stdio backends are spawned by the backend-I/O thread)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return found


def start_http_fixture():
    proc = subprocess.Popen([FIXTURE, "http", "--port", "0", "--tools", "8"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "LISTENING", line
    return proc, int(line[1])


def one_run(workdir, http_port):
    config = os.path.join(workdir, "gw.toml")
    with open(config, "w") as f:
        f.write("[logging]\nlevel = \"warning\"\n")
        for name, tools in (("alpha", 5), ("beta", 12)):
            f.write(f'[[backends]]\nname = "{name}"\ncommand = "{FIXTURE}"\n'
                    f'args = ["stdio", "--tools", "{tools}"]\n')
        f.write(f'[[backends]]\nname = "remote"\nurl = "http://127.0.0.1:{http_port}/mcp"\n')
    sock_path = os.path.join(workdir, "notify.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(60)
    env = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": sock_path}
    t0 = time.monotonic()
    proc = subprocess.Popen([GATEWAY, "start", "--config", config, "--data-dir",
                             os.path.join(workdir, "data"), "--host", "127.0.0.1", "--port", "0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        msg = sock.recv(4096).decode()
        if "READY=1" in msg:
            break
    ready_ms = (time.monotonic() - t0) * 1000
    address = [l for l in msg.splitlines() if l.startswith("STATUS=Serving on ")][0].split()[-1]
    while True:
        with urllib.request.urlopen(f"http://{address}/health/ready") as r:
            counts = json.load(r)["backends"]
        if counts["online"] == 3:
            break
        time.sleep(0.005)
    online_ms = (time.monotonic() - t0) * 1000
    time.sleep(2)  # let start-up allocations settle before reading idle memory
    own = rss_kib(proc.pid)
    kids = sum(rss_kib(c) for c in children(proc.pid))
    proc.terminate()
    code = proc.wait(timeout=30)
    sock.close()
    return ready_ms, online_ms, own, kids, code


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    fixture, port = start_http_fixture()
    results = []
    try:
        for i in range(runs):
            with tempfile.TemporaryDirectory() as workdir:
                results.append(one_run(workdir, port))
                r = results[-1]
                print(f"run {i + 1}: ready {r[0]:.1f} ms, 3 backends online {r[1]:.1f} ms, "
                      f"gateway RSS {r[2] / 1024:.1f} MiB, children RSS {r[3] / 1024:.1f} MiB, exit {r[4]}")
    finally:
        fixture.terminate()
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"median of {runs}: ready {med([r[0] for r in results]):.1f} ms, "
          f"online {med([r[1] for r in results]):.1f} ms, "
          f"gateway idle RSS {med([r[2] for r in results]) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
