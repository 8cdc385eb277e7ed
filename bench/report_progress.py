"""Printing of bench/run.py's section 5: relayed progress events and idle GET streams."""

TARGET_ADDED_EVENT_P50_US = 200.0
TARGET_STREAM_KB = 20.0


def _lat(row, key):
    return row["latency"][key] if row and row.get("latency") else None


def _cpu(row, name):
    return next((c for c in row.get("cpu", []) if c["name"] == name), None)


def _failures(row):
    f = row["failures"]
    total = f["transport"] + f["http_status"] + f["json_rpc"] + f["malformed"]
    return f"{total}" if total == 0 else f"{total} (first: {f['first_error']})"


def _verdict(ok, miss):
    return "met" if ok else f"MISSED {miss}"


def _line(name, row, p50s):
    cpu = ", ".join(f"{c['name']} {c['utilization']:.2f}" for c in row.get("cpu", []))
    spread = ", ".join("—" if v is None else f"{v:.1f}" for v in p50s)
    return (f"   {name}: p50 {_lat(row, 'p50_us') or 0:,.1f} µs  p99 {_lat(row, 'p99_us') or 0:,.1f} µs  "
            f"events {row['events_received']:,}/{row['events_expected']:,}  calls ok "
            f"{row['calls_ok']:,}/{row['sessions']:,}  failures {_failures(row)}  in {row['duration_s']:.2f} s"
            f"   [CPU {cpu}]  ({spread})")


def report_progress(rows, args, p):
    """Appends section 5's lines through `p`; nothing when the section did not run."""
    pd, pg = rows.get("progress_direct"), rows.get("progress_gateway")
    s = rows.get("streams")
    if not (pd or s):
        return
    p(f"5. Relayed progress events: {args.progress_sessions:,} concurrent SSE answers (one session and "
      f"connection each), {args.progress_events} notifications/progress each, {args.progress_interval_ms} ms "
      f"apart; latency per event = receive − send stamp (CLOCK_MONOTONIC, both processes on this machine); "
      f"the median of {args.progress_rounds} interleaved rounds, every round's p50 in parentheses")
    if pd and pg:
        p(_line("direct ", pd, rows.get("progress_direct_p50s", [])))
        p(_line("gateway", pg, rows.get("progress_gateway_p50s", [])))
        added = (_lat(pg, "p50_us") or 0) - (_lat(pd, "p50_us") or 0)
        added99 = (_lat(pg, "p99_us") or 0) - (_lat(pd, "p99_us") or 0)
        p(f"   added per relayed event: p50 {added:,.1f} µs  p99 {added99:,.1f} µs   target added p50 ≤ 200 µs: "
          f"{_verdict(added <= TARGET_ADDED_EVENT_P50_US, f'by {added - TARGET_ADDED_EVENT_P50_US:.1f} µs')}")
        if pg["duration_s"] > 1.5 * pd["duration_s"]:
            p(f"   NOTE: through the gateway the calls took {pg['duration_s']:.2f} s against {pd['duration_s']:.2f} s "
              f"direct: they did not all stream at once (calls waited before reaching the backend; the "
              f"per-event latency is stamped at the backend, so it does not include that wait)")
        gw_cpu = _cpu(pg, "gateway")
        if gw_cpu and pg["events_received"]:
            per_event = gw_cpu["cpu_s"] / pg["events_received"] * 1e6
            p(f"   gateway CPU per relayed event: {per_event:.1f} µs (gateway CPU over the window ÷ events; "
              f"the window also holds the {pg['calls_ok']:,} calls' requests and results)")
    if s:
        n = s["streamed"]["ok"]
        per_stream = (s["rss_streams"] - s["rss_sessions"]) * 1e6 / 1e3 / n if n else float("nan")
        per_both = (s["rss_streams"] - s["rss_idle"]) * 1e6 / 1e3 / n if n else float("nan")
        p(f"   gateway RSS (KB = 10^3 bytes): idle {s['rss_idle']:.1f} MB; {s['opened']['ok']:,} sessions "
          f"{s['rss_sessions']:.1f} MB; + {n:,}/{s['streamed']['requested']:,} idle GET /mcp streams "
          f"{s['rss_streams']:.1f} MB (failures: sessions {_failures(s['opened'])}, streams {_failures(s['streamed'])})")
        p(f"   RSS per idle stream: {per_stream:.1f} KB over the sessions alone; {per_both:.1f} KB over the idle "
          f"gateway (stream + its session)   target ≤ 20 KB per idle stream: "
          f"{_verdict(per_stream <= TARGET_STREAM_KB, f'by {per_stream - TARGET_STREAM_KB:.1f} KB')} "
          f"(stream alone); {_verdict(per_both <= TARGET_STREAM_KB, f'by {per_both - TARGET_STREAM_KB:.1f} KB')} "
          f"(with its session)")
    p("")
