//! The real binary keeps the C libraries (SQLite, libpq, OpenSSL) on one glibc malloc arena
//! (`src/memory.rs`): without it, every blocking-pool thread that touched the database grew an
//! arena of its own, about 1.3 MB of an idle gateway's RSS.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::binary::{create_admin, login, write};
use crate::daemon::Daemon;

/// glibc reserves each extra arena as one 64 MiB, 64 MiB-aligned anonymous region, mapped as a
/// read-write head and an inaccessible tail (`malloc/arena.c`, HEAP_MAX_SIZE on 64-bit).
const ARENA_SIZE: u64 = 64 << 20;

/// The extra (mmapped) glibc arenas in `pid`'s address space: 64 MiB-aligned anonymous regions
/// whose consecutive `rw-p` + `---p` mappings add up to exactly 64 MiB. The main arena lives
/// in `[heap]` and is not counted.
fn mmapped_arenas(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let regions: Vec<(u64, u64, String, bool)> = maps
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (lo, hi) = fields[0].split_once('-').unwrap();
            let lo = u64::from_str_radix(lo, 16).unwrap();
            let hi = u64::from_str_radix(hi, 16).unwrap();
            (lo, hi, fields[1].to_string(), fields.len() < 6)
        })
        .collect();
    regions
        .iter()
        .enumerate()
        .filter(|(_, (lo, _, perms, anonymous))| {
            *anonymous && lo % ARENA_SIZE == 0 && perms == "rw-p"
        })
        .filter(|(i, (lo, hi, _, _))| {
            let tail = regions.get(i + 1);
            let end = match tail {
                Some((tlo, thi, perms, true)) if tlo == hi && perms == "---p" => *thi,
                _ => *hi,
            };
            end - lo == ARENA_SIZE
        })
        .count()
}

#[test]
fn c_libraries_share_one_malloc_arena_in_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "[logging]\nlevel = \"warning\"\n");
    create_admin(dir.path(), &config, "ops");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    // Logins run their queries on the blocking pool: in parallel, several of its threads use
    // SQLite at once, which is what made glibc hand out more arenas.
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| assert!(!login(&daemon.base_url, "ops").is_empty()));
        }
    });
    let pid = daemon.child.id();
    assert_eq!(
        mmapped_arenas(pid),
        0,
        "glibc arenas beside the main one:\n{}",
        std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap()
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}
