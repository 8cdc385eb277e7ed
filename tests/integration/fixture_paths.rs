//! Where `cargo test` put the rmcp fixture server (an example target of this package).

use std::path::PathBuf;

pub fn fixture_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("mcp_fixture_server");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (it builds examples)",
        path.display()
    );
    path
}
