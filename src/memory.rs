//! Process-wide memory settings, applied once at `start` before any thread exists.
#![allow(unsafe_code)]

/// One glibc malloc arena instead of up to eight per core.
///
/// Rust code allocates through mimalloc (`main.rs`); glibc malloc serves only the C libraries:
/// SQLite, libpq and OpenSSL. By default glibc gives every thread that calls it its own arena
/// (64 MB reserved, a few hundred KB touched each), and those libraries run on whichever
/// blocking-pool thread uses the database: about 1.3 MB of an idle gateway's RSS went to
/// arenas (bench/README.md, "Idle memory"). Their allocations are few and short (a statement,
/// a result), so one shared arena costs no measurable lock wait.
pub fn use_one_c_heap_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called before other threads start.
        let applied = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        debug_assert_eq!(applied, 1, "mallopt(M_ARENA_MAX) is supported by glibc");
    }
}
