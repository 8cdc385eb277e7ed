//! Link the `authmcp-gateway` binary with packed relative relocations (DT_RELR, `-z
//! pack-relative-relocs`): a position-independent binary of this size carries about 2 MB of
//! `R_X86_64_RELATIVE` entries that the dynamic loader reads at every start, and those pages
//! stayed resident (measured in the idle RSS, bench/README.md). Packed, they take a few KB. The
//! binary stays PIE (ASLR unchanged). Needs GNU ld ≥ 2.38 to link and glibc ≥ 2.36 to run
//! (Debian 12 and later).
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
