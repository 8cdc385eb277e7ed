//! `[audit]`: defaults, the original's environment names, and a bad redaction pattern.

use std::time::Duration;

use super::{Scratch, defaults, env, with_file};

#[test]
fn audit_defaults_and_seed_variables() {
    let scratch = Scratch::new();
    let cfg = defaults(&scratch);
    let a = &cfg.audit;
    assert!(a.enabled && !a.capture_payloads && !a.file);
    assert_eq!((a.queue_capacity, a.batch_size), (10_000, 500));
    assert_eq!(a.flush_interval, Duration::from_millis(200));
    assert_eq!((a.retention_days, a.max_rows), (90, 1_000_000));
    assert_eq!(
        a.redact_patterns.len(),
        actors::audit::redact::DEFAULT_PATTERNS.len()
    );

    let file = scratch.write("gw.toml", "");
    let vars = env(&[
        ("MCP_LOG_DB_DAYS_TO_KEEP", "7"),
        ("MCP_LOG_DB_MAX_ROWS", "5000"),
    ]);
    let cfg = scratch.load(&with_file(file), &vars).unwrap();
    assert_eq!((cfg.audit.retention_days, cfg.audit.max_rows), (7, 5000));
}

#[test]
fn a_bad_redaction_pattern_is_reported_with_the_others() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "gw.toml",
        "[audit]\nredact_patterns = [\"(unclosed\"]\nbatch_size = 0\n",
    );
    let report = scratch
        .load(&with_file(file), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(report.contains("audit.redact_patterns"), "{report}");
    assert!(report.contains("(unclosed"), "{report}");
    assert!(report.contains("audit.batch_size"), "{report}");
}
