"""Printing of bench/run.py's figures, each beside its target (bench/README.md explains them)."""
import os

from report_progress import report_progress

TARGET_ADDED_P50_US = 150.0
TARGET_RATIO = 0.26
TARGET_RATIO_STRETCH = 0.5
TARGET_LIST_P50_US = 2000.0
TARGET_RSS_IDLE_MB = 25.0
TARGET_RSS_SESSIONS_MB = 250.0


def us(v):
    return "—" if v is None else f"{v:,.1f} µs"


def verdict(ok, miss):
    return "met" if ok else f"MISSED {miss}"


def lat(row, key):
    return row["latency"][key] if row and row.get("latency") else None


def failures(row):
    f = row["failures"]
    total = f["transport"] + f["http_status"] + f["json_rpc"] + f["malformed"]
    return f"{total}" if total == 0 else f"{total} (first: {f['first_error']})"


def cpu(row, name):
    return next((c for c in row.get("cpu", []) if c["name"] == name), None)


def cpu_line(row):
    return ", ".join(f"{c['name']} {c['utilization']:.2f}" for c in row.get("cpu", []))


def per_call_us(row, name, calls):
    c = cpu(row, name)
    return c["cpu_s"] / calls * 1e6 if c and calls else None


def spread(rows, key):
    return ", ".join(f"{v:.1f}" for v in rows.get(key + "_p50s", []))


def report(rows, gw_reason, notes, args, elapsed):
    na = "n/a (gateway /mcp not available)" if gw_reason else "n/a"
    out = []
    p = out.append
    p("")
    p(f"authmcp-gateway proxy benchmark — release builds, auth on (bearer JWT), {os.cpu_count()} cores "
      "shared by load generator, gateway and backend; CPU figures are cores busy over the window")
    load1, load5, _ = os.getloadavg()
    p(f"machine load average before the report: {load1:.2f} (1 min), {load5:.2f} (5 min) — other work on "
      "the machine makes absolute figures noisy; compare direct and gateway rows of the same run")
    if gw_reason:
        p(f"GATEWAY: {gw_reason}: only the direct baseline is measured")
    p("")
    if "call_direct" in rows:
        report_proxy(rows, gw_reason, notes, args, p, na)
    report_progress(rows, args, p)
    for note in notes if "call_direct" not in rows else ():
        p(f"   note: {note}")
    p(f"whole run: {elapsed:.0f} s")
    print("\n".join(out))


def report_streamed(rows, args, p):
    """Section 1c, under section 1: the backend answers as an event stream (no target)."""
    sd, sg = rows.get("streamed_direct"), rows.get("streamed_gateway")
    if not (sd and sg):
        return
    p("   with every answer streamed (a one-event text/event-stream, the SDK servers' default; "
      "no target, for reference):")
    p(f"   direct : p50 {us(lat(sd, 'p50_us'))}  p99 {us(lat(sd, 'p99_us'))}  failures {failures(sd)}"
      f"   ({spread(rows, 'streamed_direct')})")
    p(f"   gateway: p50 {us(lat(sg, 'p50_us'))}  p99 {us(lat(sg, 'p99_us'))}  failures {failures(sg)}"
      f"   [CPU {cpu_line(sg)}]  ({spread(rows, 'streamed_gateway')})")
    p(f"   added  : p50 {us(lat(sg, 'p50_us') - lat(sd, 'p50_us'))}")
    td, tg = rows.get("streamed_tp_direct"), rows.get("streamed_tp_gateway")
    if td and tg and td["calls_per_s"]:
        cpu = per_call_us(tg, "gateway", tg["ok_calls"])
        cpu = f"; gateway CPU per forwarded call {cpu:.1f} µs" if cpu is not None else ""
        p(f"   throughput, 64 connections: direct {td['calls_per_s']:,.0f} calls/s, gateway "
          f"{tg['calls_per_s']:,.0f} calls/s ({tg['calls_per_s'] / td['calls_per_s']:.2f}×{cpu}), "
          f"failures {failures(td)} / {failures(tg)}")


def report_proxy(rows, gw_reason, notes, args, p, na):
    """Sections 1-4."""
    cd, cg = rows["call_direct"], rows.get("call_gateway")
    p(f"1. Sequential tools/call on one session ({args.calls} calls after 500 warm-up; the median of "
      f"{args.latency_rounds} interleaved rounds, every round's p50 in parentheses)")
    p(f"   direct : p50 {us(lat(cd, 'p50_us'))}  p99 {us(lat(cd, 'p99_us'))}  failures {failures(cd)}"
      f"   [CPU {cpu_line(cd)}]  ({spread(rows, 'call_direct')})")
    if cg:
        added = lat(cg, "p50_us") - lat(cd, "p50_us")
        added99 = lat(cg, "p99_us") - lat(cd, "p99_us")
        p(f"   gateway: p50 {us(lat(cg, 'p50_us'))}  p99 {us(lat(cg, 'p99_us'))}  failures {failures(cg)}"
          f"   [CPU {cpu_line(cg)}]  ({spread(rows, 'call_gateway')})")
        p(f"   added  : p50 {us(added)}  p99 {us(added99)}   target added p50 ≤ 150 µs: "
          f"{verdict(added <= TARGET_ADDED_P50_US, f'by {added - TARGET_ADDED_P50_US:.1f} µs')}")
    else:
        p(f"   gateway: {na}   (target: added p50 ≤ 150 µs)")
    bd, bg = rows.get("big_direct"), rows.get("big_gateway")
    if bd:
        p(f"   with a {args.payload_bytes:,}-byte argument, echoed back ({args.payload_calls} calls per round; "
          f"no target, for reference):")
        p(f"   direct : p50 {us(lat(bd, 'p50_us'))}  p99 {us(lat(bd, 'p99_us'))}  failures {failures(bd)}"
          f"   ({spread(rows, 'big_direct')})")
        if bg:
            p(f"   gateway: p50 {us(lat(bg, 'p50_us'))}  p99 {us(lat(bg, 'p99_us'))}  failures {failures(bg)}"
              f"   [CPU {cpu_line(bg)}]  ({spread(rows, 'big_gateway')})")
            p(f"   added  : p50 {us(lat(bg, 'p50_us') - lat(bd, 'p50_us'))}")
    report_streamed(rows, args, p)
    p("")

    td, tg = rows["tp_direct"], rows.get("tp_gateway")
    p(f"2. Throughput, 64 connections, one MCP session each, {args.duration:g} s "
      f"(best of {args.rounds} interleaved rounds)")
    p(f"   direct : {td['calls_per_s']:,.0f} calls/s  p50 {us(lat(td, 'p50_us'))}  "
      f"p99 {us(lat(td, 'p99_us'))}  failures {failures(td)}  sessions {td['sessions_ready']}/64"
      f"   [CPU {cpu_line(td)}]")
    for name in ("backend", "load"):
        v = per_call_us(td, name, td["ok_calls"])
        if v is not None:
            p(f"            {name} CPU per call: {v:.1f} µs")
    if tg:
        ratio = tg["calls_per_s"] / td["calls_per_s"] if td["calls_per_s"] else float("nan")
        p(f"   gateway: {tg['calls_per_s']:,.0f} calls/s  p50 {us(lat(tg, 'p50_us'))}  "
          f"p99 {us(lat(tg, 'p99_us'))}  failures {failures(tg)}  sessions {tg['sessions_ready']}/64"
          f"   [CPU {cpu_line(tg)}]")
        for name in ("gateway", "backend", "load"):
            v = per_call_us(tg, name, tg["ok_calls"])
            if v is not None:
                p(f"            {name} CPU per {'forwarded ' if name == 'gateway' else ''}call: {v:.1f} µs")
        stretch = "; stretch 0.5× met" if ratio >= TARGET_RATIO_STRETCH else ""
        p(f"   ratio  : {ratio:.2f}× direct   target ≥ 0.26×: "
          f"{verdict(ratio >= TARGET_RATIO, f'({ratio:.2f}×)')}{stretch}")
    else:
        p(f"   gateway: {na}   (target: ≥ 0.26× direct, stretch 0.5×)")
        p(f"   gateway CPU per forwarded call: {na}")
    p("")

    ld, lg = rows["list_direct"], rows.get("list_gateway")
    p("3. tools/list, the full list (every page), sequential on one session")
    p(f"   direct, 1 backend × 50 tools: p50 {us(lat(ld, 'p50_us'))}  p99 {us(lat(ld, 'p99_us'))}  "
      f"({ld['tools_listed']} tools, {ld['pages']} page)")
    lb = rows.get("list_direct_big")
    if lb:
        p(f"   direct, 1 backend × {lb['tools_listed']} tools: p50 {us(lat(lb, 'p50_us'))}  "
          f"p99 {us(lat(lb, 'p99_us'))}  ({lb['pages']} page; the same list size with no gateway)")
    if lg:
        p50 = lat(lg, "p50_us")
        p(f"   gateway, 100 backends × 50 tools: p50 {us(p50)}  p99 {us(lat(lg, 'p99_us'))}  "
          f"({lg['tools_listed']} tools in {lg['pages']} pages, failures {failures(lg)})   [CPU {cpu_line(lg)}]")
        if lb:
            p(f"   added over the same-size direct list: p50 {us(p50 - lat(lb, 'p50_us'))}")
        p(f"   target p50 ≤ 2 ms: {verdict(p50 <= TARGET_LIST_P50_US, f'by {p50 - TARGET_LIST_P50_US:.0f} µs')}")
    else:
        p(f"   gateway, 100 backends × 50 tools: {na}   (target p50 ≤ 2 ms)")
    p("")

    p("4. Gateway resident memory (RSS; MB = 10^6 bytes)")
    if "rss_idle" in rows:
        idle = rows["rss_idle"]
        p(f"   idle, 1 backend: {idle:.1f} MB   target ≤ 25 MB: "
          f"{verdict(idle <= TARGET_RSS_IDLE_MB, f'by {idle - TARGET_RSS_IDLE_MB:.1f} MB')}")
    else:
        p(f"   idle: {na}   (target ≤ 25 MB)")
    if "rss_idle_100" in rows:
        p(f"   idle, 100 backends × 50 tools: {rows['rss_idle_100']:.1f} MB (for reference)")
    s = rows.get("sessions")
    if s:
        worst = max(s["rss_open"], s["rss_touched"])
        p(f"   {s['opened']['ok']:,}/{s['opened']['requested']:,} sessions opened: {s['rss_open']:.1f} MB; "
          f"after one tools/call on each ({s['touched']['ok']:,} ok): {s['rss_touched']:.1f} MB")
        p(f"   target ≤ 250 MB at 10,000 sessions: "
          f"{verdict(worst <= TARGET_RSS_SESSIONS_MB, f'by {worst - TARGET_RSS_SESSIONS_MB:.1f} MB')}; "
          f"open failures {failures(s['opened'])}, call failures {failures(s['touched'])}; "
          f"backend RSS {s['backend_rss']:.1f} MB")
    else:
        p(f"   with {args.sessions:,} sessions: {na}   (target ≤ 250 MB)")
    for note in notes:
        p(f"   note: {note}")
    p("")
