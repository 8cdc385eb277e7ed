//! Protocol revisions the client-facing endpoint speaks.

/// Legacy-era revisions we answer `initialize` with, newest first.
pub const SUPPORTED: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// What a request without `MCP-Protocol-Version` is assumed to speak (spec: 2025-03-26).
pub const DEFAULT_WHEN_ABSENT: &str = "2025-03-26";

/// The 2026-07-28 (modern, stateless) revision: recognised so such clients get a clear answer
/// that makes dual-era clients fall back to `initialize`.
pub const MODERN: &str = "2026-07-28";

pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
}

/// The client's version when we support it, else our latest (the client then decides).
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| SUPPORTED.iter().find(|v| **v == r))
        .copied()
        .unwrap_or(SUPPORTED[0])
}

/// Batches exist only in 2025-03-26.
pub fn allows_batches(version: &str) -> bool {
    version == "2025-03-26"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_answers_the_clients_version_or_our_latest() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2024-11-05")), "2025-11-25");
        assert_eq!(negotiate(Some("garbage")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
        assert!(allows_batches("2025-03-26") && !allows_batches("2025-06-18"));
    }
}
