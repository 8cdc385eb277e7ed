//! A size-rotated log file: `gateway.log` → `gateway.log.1` → … → `gateway.log.N`.
//!
//! Written here rather than pulled in as a crate because the behaviour we need is small and must
//! be exact: a record is never split across two files (bytes are committed whole lines at a time),
//! the oldest file beyond `max_files` is deleted, and a failing disk never takes the daemon down —
//! the first write error is reported once on stderr and later writes keep retrying.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Log files are readable by the service's group (e.g. an `adm`-like operators group), not others.
const LOG_FILE_MODE: u32 = 0o640;

pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: Option<File>,
    size: u64,
    /// Bytes of the record being written that have not reached a newline yet.
    pending: Vec<u8>,
    reported_error: bool,
}

impl RotatingFile {
    /// Opens (appending to) `path`, creating it with mode 0640.
    pub fn open(path: PathBuf, max_bytes: u64, max_files: u32) -> io::Result<Self> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            max_bytes: max_bytes.max(1),
            max_files,
            file: Some(file),
            size,
            pending: Vec::new(),
            reported_error: false,
        })
    }

    /// Path of the n-th rotated file (`gateway.log.1` is the newest).
    pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn commit(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + lines.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(open_append(&self.path)?),
        };
        file.write_all(lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.max_files == 0 {
            fs::remove_file(&self.path).or_else(ignore_not_found)?;
        } else {
            let oldest = Self::rotated_path(&self.path, self.max_files);
            fs::remove_file(&oldest).or_else(ignore_not_found)?;
            for n in (1..self.max_files).rev() {
                let from = Self::rotated_path(&self.path, n);
                fs::rename(&from, Self::rotated_path(&self.path, n + 1))
                    .or_else(ignore_not_found)?;
            }
            fs::rename(&self.path, Self::rotated_path(&self.path, 1)).or_else(ignore_not_found)?;
        }
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }

    fn report(&mut self, error: &io::Error) {
        if !self.reported_error {
            self.reported_error = true;
            eprintln!(
                "authmcp-gateway: cannot write log file {}: {error}; records are still shown here",
                self.path.display()
            );
        }
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(last_newline + 1);
            let lines = std::mem::replace(&mut self.pending, rest);
            match self.commit(&lines) {
                Ok(()) => self.reported_error = false,
                Err(error) => self.report(&error),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(file) = &mut self.file
            && let Err(error) = file.flush()
        {
            self.report(&error);
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

fn ignore_not_found(error: io::Error) -> io::Result<()> {
    if error.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn line(tag: char, len: usize) -> Vec<u8> {
        let mut bytes = vec![tag as u8; len - 1];
        bytes.push(b'\n');
        bytes
    }

    fn size(path: &Path) -> u64 {
        fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn rotates_at_the_size_limit_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        let mut file = RotatingFile::open(path.clone(), 100, 2).unwrap();

        // Two 40-byte lines fit (80 ≤ 100); the third would make 120, so it starts a new file.
        for tag in ['a', 'b', 'c', 'd', 'e', 'f', 'g'] {
            file.write_all(&line(tag, 40)).unwrap();
        }

        // Files, newest first: g | e f | c d ; a b was deleted as the third rotated file.
        assert_eq!(fs::read(&path).unwrap(), line('g', 40));
        let first = RotatingFile::rotated_path(&path, 1);
        let second = RotatingFile::rotated_path(&path, 2);
        assert_eq!(
            fs::read(&first).unwrap(),
            [line('e', 40), line('f', 40)].concat()
        );
        assert_eq!(
            fs::read(&second).unwrap(),
            [line('c', 40), line('d', 40)].concat()
        );
        assert!(!RotatingFile::rotated_path(&path, 3).exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
        for p in [&path, &first, &second] {
            assert!(size(p) <= 100, "{} is {} bytes", p.display(), size(p));
        }
    }

    #[test]
    fn a_record_written_in_pieces_is_never_split_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        let mut file = RotatingFile::open(path.clone(), 50, 3).unwrap();
        file.write_all(&line('a', 40)).unwrap();
        // A serializer writes a record as many small pieces, the newline last.
        for piece in [&b"{\"msg\":"[..], b"\"bbbbbbbbbbbbbbbb\"", b"}", b"\n"] {
            file.write_all(piece).unwrap();
        }
        assert_eq!(
            fs::read(&path).unwrap(),
            b"{\"msg\":\"bbbbbbbbbbbbbbbb\"}\n"
        );
        assert_eq!(
            fs::read(RotatingFile::rotated_path(&path, 1)).unwrap(),
            line('a', 40)
        );
    }

    #[test]
    fn an_oversized_record_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        let mut file = RotatingFile::open(path.clone(), 10, 1).unwrap();
        file.write_all(&line('a', 5)).unwrap();
        file.write_all(&line('b', 30)).unwrap();
        file.write_all(&line('c', 5)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), line('c', 5));
        assert_eq!(
            fs::read(RotatingFile::rotated_path(&path, 1)).unwrap(),
            line('b', 30)
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn zero_max_files_truncates_instead_of_keeping_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        let mut file = RotatingFile::open(path.clone(), 10, 0).unwrap();
        file.write_all(&line('a', 8)).unwrap();
        file.write_all(&line('b', 8)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), line('b', 8));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn reopening_appends_and_counts_the_existing_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        RotatingFile::open(path.clone(), 100, 1)
            .unwrap()
            .write_all(&line('a', 60))
            .unwrap();
        let mut reopened = RotatingFile::open(path.clone(), 100, 1).unwrap();
        reopened.write_all(&line('b', 60)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), line('b', 60));
        assert_eq!(
            fs::read(RotatingFile::rotated_path(&path, 1)).unwrap(),
            line('a', 60)
        );
    }

    #[test]
    fn files_are_created_with_mode_0640() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.log");
        let mut file = RotatingFile::open(path.clone(), 10, 1).unwrap();
        file.write_all(&line('a', 8)).unwrap();
        file.write_all(&line('b', 8)).unwrap();
        for p in [path.clone(), RotatingFile::rotated_path(&path, 1)] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            // The process umask can only remove bits, never add group write or world read.
            assert_eq!(mode & !0o640, 0, "{} has mode {mode:o}", p.display());
            assert_eq!(mode & 0o600, 0o600);
        }
    }
}
