//! `<data_dir>/audit/audit.jsonl`: every committed row as one JSON line, size-rotated
//! (`audit.jsonl.1` is the newest rotated file). Written after the database commit, so the file
//! never holds a row the database does not; one write per batch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::storage::audit_records::AuditRow;

/// Readable by the service's group (operators), not by others.
const FILE_MODE: u32 = 0o640;
pub const FILE_NAME: &str = "audit.jsonl";

pub(crate) struct JsonLines {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: File,
    size: u64,
}

impl JsonLines {
    pub(crate) fn open(dir: &Path, max_bytes: u64, max_files: u32) -> io::Result<JsonLines> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(JsonLines {
            path,
            max_bytes: max_bytes.max(1),
            max_files,
            file,
            size,
        })
    }

    pub(crate) fn append(&mut self, rows: &[AuditRow]) -> io::Result<()> {
        let mut lines = Vec::with_capacity(rows.len() * 256);
        for row in rows {
            serde_json::to_writer(&mut lines, row)?;
            lines.push(b'\n');
        }
        if self.size > 0 && self.size + lines.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.max_files == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs::rename(&from, numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}
