//! Findings and the report: what the scanner prints and what `--json` writes.

use serde::Serialize;

/// The security events' scale, so the console shows both alike.
pub use crate::security::Severity;

/// One thing the scanner found: a stable id (`area.what`), how bad it is, what it saw and how
/// to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    pub fix: String,
}

impl Finding {
    pub fn new(
        id: &'static str,
        severity: Severity,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            id,
            severity,
            title: title.into(),
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub authenticated: bool,
    pub scanned_at_ms: i64,
    /// The checks that ran (a check that needs a token it was not given is listed as skipped).
    pub checks: Vec<String>,
    pub skipped: Vec<String>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(target: &str, authenticated: bool) -> Self {
        Report {
            target: target.to_string(),
            authenticated,
            scanned_at_ms: crate::storage::unix_ms_now(),
            checks: Vec::new(),
            skipped: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn ran(&mut self, check: &str) {
        self.checks.push(check.to_string());
    }

    pub fn skipped(&mut self, check: &str, why: &str) {
        self.skipped.push(format!("{check}: {why}"));
    }

    pub(crate) fn finish(&mut self) {
        self.findings
            .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    }

    /// The worst severity found (`None` for a clean report).
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// High or critical findings make the command exit non-zero.
    pub fn fails(&self) -> bool {
        self.worst().is_some_and(|s| s >= Severity::High)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut out = format!("MCP security scan of {}\n", self.target);
        out.push_str(&format!(
            "{} checks run{}\n\n",
            self.checks.len(),
            if self.authenticated {
                " (with a token)"
            } else {
                " (without a token)"
            }
        ));
        if self.findings.is_empty() {
            out.push_str("No findings.\n");
        }
        for f in &self.findings {
            out.push_str(&format!(
                "[{}] {} ({})\n    {}\n    Fix: {}\n\n",
                f.severity.as_str().to_ascii_uppercase(),
                f.title,
                f.id,
                f.detail,
                f.fix
            ));
        }
        for s in &self.skipped {
            out.push_str(&format!("Skipped: {s}\n"));
        }
        let summary: Vec<String> = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ]
        .iter()
        .map(|s| format!("{} {}", self.count(*s), s.as_str()))
        .collect();
        out.push_str(&format!("\nSummary: {}\n", summary.join(", ")));
        out
    }
}
