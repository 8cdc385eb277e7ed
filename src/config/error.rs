//! The validation report: every problem found in one pass, each naming where it came from.
//!
//! Operators fix configuration in rounds; reporting only the first error turns one round into
//! many, so loading collects everything it can find before it gives up.

use std::fmt;

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the offending value came from: a file path, `environment variable PORT`,
    /// `variable PORT in FILE`, `--port` or `built-in defaults`.
    pub source: String,
    /// The configuration key, e.g. `backends[1].url`; empty when the error concerns a whole source.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        source: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            source: source.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.key, self.message)
        }
    }
}

/// Everything wrong with a configuration. Never empty when returned by `load`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigReport {
    pub errors: Vec<ConfigError>,
}

impl ConfigReport {
    pub fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// True when some error names this key (tests and callers that react to one key).
    pub fn mentions_key(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigReport {}
