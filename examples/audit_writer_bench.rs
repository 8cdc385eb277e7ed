//! The audit writer's own capacity, without the gateway in front: how many records per second
//! the AuditActor commits to a database when the queue never runs dry. `bench/audit.py
//! --writer` runs it (release build) against SQLite and PostgreSQL; the through-the-gateway
//! figure is bounded by the gateway's call rate, this one shows the headroom above it.
//!
//! ```text
//! audit_writer_bench DATABASE_URL [--records N] [--batch-size N] [--queue-capacity N]
//! ```
//! Prints one JSON object: records, seconds, records_per_s, batches, dropped.

use std::time::Instant;

use actors::audit::{AuditEvent, AuditHandle, AuditKind, AuditSettings};
use actors::storage::Database;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        user_id: Some(1),
        username: Some("bench".into()),
        client_id: Some("bench-client".into()),
        session_id: Some("0123456789abcdef0123456789abcdef".into()),
        method: Some("tools/call".into()),
        backend: Some("fast".into()),
        item: Some(format!("tool_{}", n % 8)),
        latency_us: Some(250),
        request_bytes: Some(120),
        response_bytes: Some(90),
        ip: Some("127.0.0.1".into()),
        user_agent: Some("audit-writer-bench".into()),
        ..AuditEvent::now(AuditKind::Mcp, "ok")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        eprintln!(
            "usage: audit_writer_bench DATABASE_URL [--records N] [--batch-size N] [--queue-capacity N]"
        );
        std::process::exit(2);
    };
    let records = arg(&args, "--records", 200_000);
    let settings = AuditSettings {
        batch_size: arg(&args, "--batch-size", 500),
        queue_capacity: arg(&args, "--queue-capacity", 10_000),
        retention: None,
        max_rows: None,
        ..AuditSettings::default()
    };
    let db = Database::connect(url, 4).expect("open the database");
    db.migrate().expect("migrate");
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let audit = AuditHandle::new(db, settings, log);
    let actor = audit
        .spawn_actor(None)
        .await
        .expect("start the audit actor");
    let started = Instant::now();
    let mut sent = 0;
    while sent < records {
        // Keep the queue full without overflowing it: wait (yield) while it is.
        if audit.stats().queued as usize >= audit.settings().queue_capacity {
            tokio::task::yield_now().await;
            continue;
        }
        audit.record(event(sent));
        sent += 1;
    }
    audit.flush().await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = audit.stats();
    actor.stop_and_wait(None, None).await.ok();
    println!(
        "{}",
        serde_json::json!({
            "records": stats.written,
            "seconds": seconds,
            "records_per_s": stats.written as f64 / seconds,
            "batches": stats.batches,
            "dropped": stats.dropped,
        })
    );
}
