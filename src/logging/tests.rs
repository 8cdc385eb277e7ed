//! Tests of the whole pipeline against real files in a temp dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;
use slog::Level;

use super::pipeline::Pipeline;
use super::rotating_file::RotatingFile;
use super::*;

/// `init` changes process-wide state (slog-scope, `log`, the panic hook): one such test at a time.
static GLOBAL_STATE: Mutex<()> = Mutex::new(());

fn settings(dir: &Path, level: Level) -> LogSettings {
    LogSettings {
        level,
        dir: Some(dir.join("logs")),
        max_file_bytes: 1024 * 1024,
        max_files: 3,
    }
}

fn json_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn messages(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["msg"].as_str().unwrap()).collect()
}

#[test]
fn json_lines_carry_ts_level_msg_and_key_values() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::build(&settings(tmp.path(), Level::Info), false).unwrap();
    let logger = pipeline.logger.new(slog::o!("backend" => "github"));
    slog::info!(logger, "Backend is online."; "tools" => 12, "latency_ms" => 3.5);
    slog::error!(logger, "Backend went offline."; "error" => "connection refused");
    drop(pipeline.flush_guard);

    let lines = json_lines(&tmp.path().join("logs").join(LOG_FILE_NAME));
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["level"], "info");
    assert_eq!(first["msg"], "Backend is online.");
    assert_eq!(first["backend"], "github");
    assert_eq!(first["tools"], 12);
    assert_eq!(first["latency_ms"], 3.5);
    assert_eq!(first["module"], module_path!());
    let ts = first["ts"].as_str().unwrap();
    // RFC 3339 in UTC, e.g. 2026-05-01T12:00:00.123456789Z.
    assert!(
        ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
        "{ts}"
    );
    assert_eq!(lines[1]["level"], "error");
    assert_eq!(lines[1]["error"], "connection refused");
}

#[test]
fn records_below_the_level_are_dropped_until_set_level_lowers_it() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::build(&settings(tmp.path(), Level::Warning), false).unwrap();
    let logger = &pipeline.logger;
    slog::info!(logger, "hidden info");
    slog::warn!(logger, "shown warning");
    slog::crit!(logger, "shown critical");
    pipeline.level.set_level(Level::Debug);
    slog::debug!(logger, "shown debug");
    slog::trace!(logger, "hidden trace");
    pipeline.level.set_level(Level::Error);
    slog::warn!(logger, "hidden warning");
    drop(pipeline.flush_guard);

    let lines = json_lines(&tmp.path().join("logs").join(LOG_FILE_NAME));
    assert_eq!(
        messages(&lines),
        ["shown warning", "shown critical", "shown debug"]
    );
    assert_eq!(lines[2]["level"], "debug");
}

#[test]
fn the_pipeline_rotates_and_keeps_max_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), Level::Info);
    settings.max_file_bytes = 1000;
    settings.max_files = 2;
    let pipeline = Pipeline::build(&settings, false).unwrap();
    for n in 0..100 {
        slog::info!(pipeline.logger, "Record number {}.", n; "padding" => "x".repeat(40));
    }
    drop(pipeline.flush_guard);

    let dir = tmp.path().join("logs");
    let current = dir.join(LOG_FILE_NAME);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["gateway.log", "gateway.log.1", "gateway.log.2"]);
    let newest = json_lines(&current);
    assert_eq!(newest.last().unwrap()["msg"], "Record number 99.");
    let mut kept = 0;
    for path in [
        current.clone(),
        RotatingFile::rotated_path(&current, 1),
        RotatingFile::rotated_path(&current, 2),
    ] {
        assert!(fs::metadata(&path).unwrap().len() <= 1000);
        kept += json_lines(&path).len();
    }
    // Whole records only, newest kept, the oldest deleted.
    assert!(kept < 100, "{kept}");
    let older = json_lines(&RotatingFile::rotated_path(&current, 2));
    let first_kept = format!("Record number {}.", 100 - kept);
    assert_eq!(older[0]["msg"], first_kept.as_str());
}

#[test]
fn log_dir_is_created_with_mode_0750() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::build(&settings(tmp.path(), Level::Info), false).unwrap();
    drop(pipeline.flush_guard);
    let mode = fs::metadata(tmp.path().join("logs"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode & !0o750, 0, "mode {mode:o}");
    assert_eq!(mode & 0o700, 0o700);
}

#[test]
fn an_unusable_log_dir_is_a_clear_error_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where the directory should be: fails even for root, unlike a chmod.
    let blocker = tmp.path().join("data");
    fs::write(&blocker, b"not a directory").unwrap();
    let mut settings = settings(tmp.path(), Level::Info);
    settings.dir = Some(blocker.join("logs"));
    let error = Pipeline::build(&settings, false).err().unwrap();
    let text = error.to_string();
    assert!(matches!(error, LoggingError::CreateDir { .. }));
    assert!(
        text.starts_with(&format!(
            "cannot create log directory {}/logs: ",
            blocker.display()
        )),
        "{text}"
    );

    // The log file's name taken by a directory.
    let dir = tmp.path().join("logs2");
    fs::create_dir_all(dir.join(LOG_FILE_NAME)).unwrap();
    settings.dir = Some(dir.clone());
    let error = Pipeline::build(&settings, false).err().unwrap();
    assert!(matches!(error, LoggingError::OpenFile { .. }));
    assert!(
        error
            .to_string()
            .contains(&dir.join(LOG_FILE_NAME).display().to_string())
    );
}

#[test]
fn init_bridges_log_records_logs_panics_and_drops_safely() {
    let _serial = GLOBAL_STATE.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let guard = init(&settings(tmp.path(), Level::Info)).unwrap();

    log::info!(target: "actix_server::builder", "Starting 2 workers");
    log::debug!("hidden bridged debug");
    guard.set_level(Level::Debug);
    log::debug!("shown bridged debug");
    guard.set_level(Level::Info);
    slog_scope::info!("Through the scope logger.");
    // ractor reports through `tracing`, whose `log` feature turns events into `log` records.
    tracing::warn!(actor = "backend-github", "Supervisor restarting child");
    tracing::debug!("hidden tracing debug");

    let panicked = std::panic::catch_unwind(|| panic!("backend actor exploded"));
    assert!(panicked.is_err());
    drop(guard);

    // After the guard: nothing panics, records are discarded.
    slog_scope::info!("after the guard");
    log::error!("after the guard");

    let lines = json_lines(&tmp.path().join("logs").join(LOG_FILE_NAME));
    let msgs = messages(&lines);
    assert_eq!(
        msgs[..3],
        [
            "Starting 2 workers",
            "shown bridged debug",
            "Through the scope logger.",
        ]
    );
    // tracing appends the event's fields to the message text.
    assert!(
        msgs[3].starts_with("Supervisor restarting child"),
        "{msgs:?}"
    );
    assert!(msgs[3].contains("backend-github"), "{msgs:?}");
    assert_eq!(lines[3]["level"], "warning");
    let panic_line = &lines[4];
    assert_eq!(panic_line["level"], "critical");
    assert_eq!(panic_line["msg"], "A thread panicked.");
    assert_eq!(panic_line["message"], "backend actor exploded");
    let location = panic_line["location"].as_str().unwrap();
    assert!(location.starts_with("src/logging/tests.rs:"), "{location}");
    assert!(panic_line["thread"].as_str().is_some());
    assert_eq!(lines.len(), 5, "{msgs:?}");
}

#[test]
fn init_twice_in_one_process_keeps_working() {
    let _serial = GLOBAL_STATE.lock().unwrap_or_else(|e| e.into_inner());
    for round in 0..2 {
        let tmp = tempfile::tempdir().unwrap();
        let guard = init(&settings(tmp.path(), Level::Info)).unwrap();
        log::warn!("bridged in round {round}");
        slog::info!(guard.logger(), "direct in round {round}");
        drop(guard);
        let lines = json_lines(&tmp.path().join("logs").join(LOG_FILE_NAME));
        assert_eq!(
            messages(&lines),
            [
                format!("bridged in round {round}"),
                format!("direct in round {round}")
            ]
        );
    }
}
