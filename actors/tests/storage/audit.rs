//! The audit trail (`actors::audit`) over the `audit_records` table: batched writes, the hash
//! chain and `verify`, continuity across restarts, retention, overflow and payload capture.

use actors::audit::verify::{ChainBreak, verify};
use actors::audit::{AuditEvent, AuditHandle, AuditKind, AuditSettings};
use actors::storage::audit_records;
use diesel::RunQueryDsl;

use crate::fixture::TestDb;

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn log() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn call(n: usize) -> AuditEvent {
    AuditEvent {
        user_id: Some(7),
        username: Some("alice".into()),
        method: Some("tools/call".into()),
        backend: Some("files".into()),
        item: Some(format!("tool_{n}")),
        latency_us: Some(1200),
        request_bytes: Some(80),
        ip: Some("127.0.0.1".into()),
        request_payload: Some(r#"{"password":"hunter2","city":"Oslo"}"#.into()),
        ..AuditEvent::now(AuditKind::Mcp, "ok")
    }
}

/// Starts an actor (no supervisor), records `n` calls, flushes and stops it.
fn write(t: &TestDb, settings: AuditSettings, n: usize) -> AuditHandle {
    block_on(async {
        let handle = AuditHandle::new(t.db.clone(), settings, log());
        let actor = handle.spawn_actor(None).await.unwrap();
        for i in 0..n {
            handle.record(call(i));
        }
        handle.flush().await;
        actor.stop_and_wait(None, None).await.unwrap();
        handle
    })
}

fn rows(t: &TestDb) -> Vec<audit_records::AuditRow> {
    t.db.run_blocking(|c| audit_records::page(c, 0, 100_000))
        .unwrap()
}

fn check(t: &TestDb) -> actors::audit::verify::VerifyReport {
    t.db.run_blocking(verify).unwrap()
}

fn sql(t: &TestDb, statement: &str) {
    let statement = statement.to_string();
    t.db.run_blocking(move |c| {
        diesel::sql_query(statement).execute(c)?;
        Ok(())
    })
    .unwrap();
}

fn batches_are_written_chained_and_verify_across_restarts(t: &TestDb) {
    let settings = AuditSettings {
        batch_size: 7,
        ..AuditSettings::default()
    };
    let first = write(t, settings.clone(), 20);
    let stats = first.stats();
    assert_eq!((stats.written, stats.dropped, stats.queued), (20, 0, 0));
    assert!(stats.batches >= 3, "20 records in batches of 7: {stats:?}");
    // A new process: the chain continues from the stored head.
    write(t, settings, 5);
    let all = rows(t);
    assert_eq!(all.len(), 25);
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        (1..=25).collect::<Vec<_>>()
    );
    let r = &all[3];
    assert_eq!(r.kind, "mcp");
    assert_eq!(r.username.as_deref(), Some("alice"));
    assert_eq!(r.item.as_deref(), Some("tool_3"));
    assert_eq!(r.latency_us, Some(1200));
    // Payloads are not stored unless asked for.
    let details: serde_json::Value = serde_json::from_str(r.details.as_deref().unwrap()).unwrap();
    assert_eq!(details["request_bytes"], 80);
    assert!(details.get("request_payload").is_none(), "{details}");
    let report = check(t);
    assert_eq!((report.checked, report.first_break), (25, None));
}

fn verify_finds_an_altered_record(t: &TestDb) {
    write(t, AuditSettings::default(), 5);
    sql(t, "UPDATE audit_records SET outcome = 'error' WHERE id = 3");
    let report = check(t);
    assert_eq!(report.first_break, Some(ChainBreak::Altered { id: 3 }));
    assert_eq!(report.checked, 2);
}

fn verify_finds_a_deleted_record(t: &TestDb) {
    write(t, AuditSettings::default(), 5);
    sql(t, "DELETE FROM audit_records WHERE id = 2");
    assert_eq!(
        check(t).first_break,
        Some(ChainBreak::Deleted { from: 2, to: 2 })
    );
}

fn verify_finds_an_inserted_record(t: &TestDb) {
    write(t, AuditSettings::default(), 5);
    // Make room after record 3 and slip in a row that links to it with a well-formed hash.
    sql(t, "UPDATE audit_records SET id = 6 WHERE id = 5");
    sql(t, "UPDATE audit_records SET id = 5 WHERE id = 4");
    let three = rows(t).into_iter().find(|r| r.id == 3).unwrap();
    let mut forged = three.clone();
    forged.id = 4;
    forged.prev_hash = three.hash.clone();
    forged.item = Some("forged".into());
    forged.hash = actors::audit::chain::row_hash(&forged);
    t.db.run_blocking(move |c| audit_records::insert_batch(c, &[forged]))
        .unwrap();
    assert_eq!(check(t).first_break, Some(ChainBreak::Inserted { id: 4 }));
}

fn pruning_keeps_the_chain_verifiable(t: &TestDb) {
    let settings = AuditSettings {
        max_rows: Some(4),
        retention: None,
        ..AuditSettings::default()
    };
    let handle = write(t, settings.clone(), 10);
    // Retention runs when an actor starts (then every ten minutes): a fresh one prunes.
    let pruned = block_on(async {
        let handle = AuditHandle::new(t.db.clone(), settings.clone(), log());
        let actor = handle.spawn_actor(None).await.unwrap();
        let again = handle.prune_now().await;
        actor.stop_and_wait(None, None).await.unwrap();
        assert_eq!(again, 0, "nothing left to prune");
        handle.stats().pruned
    });
    drop(handle);
    assert_eq!(pruned, 6);
    assert_eq!(
        rows(t).iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    let report = check(t);
    assert_eq!(
        (report.anchor_id, report.checked, report.first_break),
        (6, 4, None)
    );
    // The chain continues after a prune and a restart.
    write(t, settings, 2);
    let report = check(t);
    assert_eq!((report.checked, report.first_break), (6, None));
    // Deleting the oldest kept row is still caught.
    sql(t, "DELETE FROM audit_records WHERE id = 7");
    assert_eq!(
        check(t).first_break,
        Some(ChainBreak::Deleted { from: 7, to: 7 })
    );
}

fn a_full_queue_drops_and_counts(t: &TestDb) {
    // No actor: nothing drains the queue of two.
    let handle = AuditHandle::new(
        t.db.clone(),
        AuditSettings {
            queue_capacity: 2,
            ..AuditSettings::default()
        },
        log(),
    );
    for i in 0..5 {
        handle.record(call(i));
    }
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.queued, stats.dropped), (2, 2, 3));
    // An actor started later writes what was queued.
    block_on(async {
        let actor = handle.spawn_actor(None).await.unwrap();
        handle.flush().await;
        actor.stop_and_wait(None, None).await.unwrap();
    });
    assert_eq!(rows(t).len(), 2);
    assert_eq!(handle.stats().written, 2);
}

fn captured_payloads_are_redacted(t: &TestDb) {
    write(
        t,
        AuditSettings {
            capture_payloads: true,
            ..AuditSettings::default()
        },
        1,
    );
    let row = rows(t).pop().unwrap();
    let details: serde_json::Value = serde_json::from_str(row.details.as_deref().unwrap()).unwrap();
    let payload = details["request_payload"].as_str().unwrap();
    assert!(payload.contains("Oslo"), "{payload}");
    assert!(!payload.contains("hunter2"), "{payload}");
    assert!(payload.contains("[REDACTED]"), "{payload}");
    assert_eq!(check(t).first_break, None);
}

fn retention_by_age_prunes_old_records(t: &TestDb) {
    let settings = AuditSettings {
        retention: Some(std::time::Duration::from_secs(86_400)),
        max_rows: None,
        ..AuditSettings::default()
    };
    block_on(async {
        let handle = AuditHandle::new(t.db.clone(), settings.clone(), log());
        let actor = handle.spawn_actor(None).await.unwrap();
        for i in 0..3 {
            handle.record(AuditEvent {
                at_ms: actors::audit::now_ms() - 10 * 86_400_000,
                ..call(i)
            });
        }
        handle.record(call(3));
        handle.flush().await;
        assert_eq!(handle.prune_now().await, 3);
        actor.stop_and_wait(None, None).await.unwrap();
    });
    assert_eq!(rows(t).iter().map(|r| r.id).collect::<Vec<_>>(), vec![4]);
    let report = check(t);
    assert_eq!(
        (report.anchor_id, report.checked, report.first_break),
        (3, 1, None)
    );
}

fn the_json_lines_file_holds_every_record_and_rotates(t: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let settings = AuditSettings {
        file_dir: Some(dir.path().join("audit")),
        file_max_bytes: 4096,
        file_max_files: 2,
        batch_size: 5,
        ..AuditSettings::default()
    };
    write(t, settings, 40);
    let mut ids = Vec::new();
    for name in ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"] {
        let path = dir.path().join("audit").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Batches of five rows are far below the limit: no file goes over it.
        assert!(text.len() <= 4096, "{name} is over the limit");
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.push(row["id"].as_i64().unwrap());
        }
    }
    // The newest records, in order, whole lines only; the oldest rotated out.
    assert!(!ids.is_empty());
    assert_eq!(*ids.last().unwrap(), 40);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert!(!dir.path().join("audit/audit.jsonl.3").exists());
}

fn the_supervisor_restarts_a_stopped_audit_actor_and_the_chain_continues(t: &TestDb) {
    block_on(async {
        let audit = AuditHandle::new(t.db.clone(), AuditSettings::default(), log());
        let (gateway, _ended, join) = actors::supervisor::GatewayHandle::start_with_writers(
            Vec::new(),
            actors::session::SessionLimits::default(),
            actors::supervisor::Writers {
                audit: Some(audit.clone()),
                ..Default::default()
            },
            log(),
        )
        .await
        .unwrap();
        for i in 0..3 {
            audit.record(call(i));
        }
        audit.flush().await;
        let first = audit.actor().expect("running under the supervisor");
        first.stop(Some("test".into()));
        // Records queue while it is down, then the new incarnation writes them.
        audit.record(call(3));
        let mut waited = 0;
        while audit
            .actor()
            .is_none_or(|now| now.get_id() == first.get_id())
        {
            assert!(waited < 600, "the audit actor was not restarted");
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        audit.record(call(4));
        audit.flush().await;
        gateway.shutdown().await;
        let _ = join.await;
        assert_eq!(audit.stats().written, 5);
    });
    assert_eq!(rows(t).len(), 5);
    let report = check(t);
    assert_eq!((report.checked, report.first_break), (5, None));
}

crate::on_both_backends!(
    the_supervisor_restarts_a_stopped_audit_actor_and_the_chain_continues,
    retention_by_age_prunes_old_records,
    the_json_lines_file_holds_every_record_and_rotates,
    batches_are_written_chained_and_verify_across_restarts,
    verify_finds_an_altered_record,
    verify_finds_a_deleted_record,
    verify_finds_an_inserted_record,
    pruning_keeps_the_chain_verifiable,
    a_full_queue_drops_and_counts,
    captured_payloads_are_redacted,
);
