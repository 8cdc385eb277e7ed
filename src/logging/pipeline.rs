//! The drain chain: level filter → async queue → (terminal, JSON file).
//!
//! Built without touching any process-wide state so tests can build several side by side;
//! [`super::init`] then makes one of them global.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use slog::{Drain, FnValue, Logger, PushFnValue, Record, o};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::level::{DynamicLevelFilter, LevelHandle, level_name};
use super::rotating_file::RotatingFile;
use super::{LogSettings, LoggingError};

/// Name of the current JSON log file inside the log directory.
pub const LOG_FILE_NAME: &str = "gateway.log";
/// Only the service user and its group may list the logs.
const LOG_DIR_MODE: u32 = 0o750;
/// Records queued for the writer thread before new ones are dropped (and the drop counted in the
/// log) — logging must never stall a request.
const QUEUE_LEN: usize = 4096;

pub struct Pipeline {
    pub logger: Logger,
    pub level: LevelHandle,
    /// Dropping it flushes the queue and joins the writer thread.
    pub flush_guard: slog_async::AsyncGuard,
}

impl Pipeline {
    pub fn build(settings: &LogSettings, terminal: bool) -> Result<Self, LoggingError> {
        let file = match &settings.dir {
            Some(dir) => Some(open_log_file(dir, settings)?),
            None => None,
        };
        let terminal = terminal.then(|| {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            slog_term::FullFormat::new(decorator).build().ignore_res()
        });
        let json = file.map(|file| {
            slog_json::Json::new(file)
                .add_key_value(o!(
                    "ts" => FnValue(|_: &Record| OffsetDateTime::now_utc().format(&Rfc3339).ok()),
                    "level" => FnValue(|record: &Record| level_name(record.level())),
                    "msg" => PushFnValue(|record: &Record, ser| ser.emit(record.msg())),
                    "module" => FnValue(|record: &Record| record.module()),
                ))
                .build()
                .ignore_res()
        });
        let both = slog::Duplicate::new(OptionalDrain(terminal), OptionalDrain(json)).ignore_res();
        let (queued, flush_guard) = slog_async::Async::new(both)
            .chan_size(QUEUE_LEN)
            .thread_name("slog-writer".to_owned())
            .build_with_guard();
        let level = LevelHandle::new(settings.level);
        // ignore_res: after the guard has closed the queue, late records are dropped, not a panic.
        let filtered = DynamicLevelFilter::new(queued.ignore_res(), level.clone()).ignore_res();
        Ok(Self {
            logger: Logger::root(filtered, o!()),
            level,
            flush_guard,
        })
    }
}

fn open_log_file(dir: &Path, settings: &LogSettings) -> Result<RotatingFile, LoggingError> {
    DirBuilder::new()
        .recursive(true)
        .mode(LOG_DIR_MODE)
        .create(dir)
        .map_err(|source| LoggingError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    let path = dir.join(LOG_FILE_NAME);
    RotatingFile::open(path.clone(), settings.max_file_bytes, settings.max_files)
        .map_err(|source| LoggingError::OpenFile { path, source })
}

/// A drain that may be absent (terminal off in tests, no log directory for CLI commands).
struct OptionalDrain<D>(Option<D>);

impl<D: Drain<Ok = (), Err = slog::Never>> Drain for OptionalDrain<D> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        match &self.0 {
            Some(drain) => drain.log(record, values),
            None => Ok(()),
        }
    }
}
