//! What the admin API and the console ask of the binary's configuration wiring: the runtime
//! settings stored in the database, and reloads.
//!
//! This crate cannot see the configuration types or the run loop (they live in the binary), so
//! the binary implements [`ConfigControl`] and sets it in [`AppState::config_control`] at boot.
//! A change to a runtime setting and `POST /admin/api/reload` both end in the same reload the
//! SIGHUP handler runs; the answer is that reload's outcome.
//!
//! [`AppState::config_control`]: crate::AppState::config_control

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A boxed future, so the trait stays object-safe.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One key of the runtime allow-list with its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeSetting {
    pub key: String,
    pub description: String,
    /// `integer` or `boolean`.
    pub kind: &'static str,
    /// The value in force (from the database when `override` is set, else from the other layers).
    pub effective: serde_json::Value,
    /// The database override, if any: it wins over the file, and a SIGHUP keeps it.
    #[serde(rename = "override")]
    pub stored: Option<StoredOverride>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOverride {
    pub value: serde_json::Value,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied,
    /// The running configuration was kept; every reason.
    Failed(Vec<String>),
}

/// Why a change to the runtime settings was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// Unknown keys or values the file's rules refuse; every problem.
    Invalid(Vec<String>),
    /// The database failed.
    Storage(String),
}

pub trait ConfigControl: Send + Sync {
    /// Every runtime key with its effective value and override, in the console's order.
    fn runtime_settings(&self) -> Pending<'_, Result<Vec<RuntimeSetting>, String>>;

    /// Validates `changes` (key → value, or `None` to clear) together with the stored overrides
    /// by the file's rules, stores them, then reloads; the reload's outcome.
    fn change_runtime(
        &self,
        changes: BTreeMap<String, Option<serde_json::Value>>,
        by: String,
    ) -> Pending<'_, Result<ReloadOutcome, ChangeError>>;

    /// The SIGHUP reload: re-read the file (the database overrides still win), apply, answer.
    fn reload(&self) -> Pending<'_, ReloadOutcome>;
}
