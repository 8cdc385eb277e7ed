//! File backends + database backends → the one list the supervisor runs.
//!
//! A database row that cannot become a spec (its credential does not decrypt, a value this version
//! does not understand, a name the config file also uses) is left out and its reason kept, so the
//! rest keep running and the admin API can show why that one is not.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::draft::AuthKind;
use crate::secrets::SecretBox;
use crate::spec::{
    BackendAuth, BackendSpec, BackendTransport, SecretString, SpecOrigin, StdioIsolation,
};
use crate::storage::backends::StoredBackend;

/// The outcome of one merge.
pub(crate) struct Merged {
    pub specs: Vec<BackendSpec>,
    /// Database rows left out, by id, with the reason.
    pub problems: BTreeMap<i64, String>,
    /// Names used by a file backend and a database backend.
    pub clashes: Vec<String>,
}

pub(crate) fn merge(file: &[BackendSpec], stored: &[StoredBackend], secrets: &SecretBox) -> Merged {
    let file_names: BTreeSet<&str> = file.iter().map(|s| s.name.as_str()).collect();
    let mut specs = file.to_vec();
    let mut problems = BTreeMap::new();
    let mut clashes = Vec::new();
    for row in stored {
        if file_names.contains(row.record.name.as_str()) {
            clashes.push(row.record.name.clone());
            problems.insert(
                row.id,
                format!(
                    "the config file also defines a backend named `{}`; rename one of them",
                    row.record.name
                ),
            );
            continue;
        }
        match to_spec(row, secrets) {
            Ok(spec) => specs.push(spec),
            Err(reason) => {
                problems.insert(row.id, reason);
            }
        }
    }
    Merged {
        specs,
        problems,
        clashes,
    }
}

/// One stored row as a runnable spec; the error is a sentence for the API and the log.
pub(crate) fn to_spec(row: &StoredBackend, secrets: &SecretBox) -> Result<BackendSpec, String> {
    let r = &row.record;
    let url = r
        .url
        .as_deref()
        .ok_or("the stored backend has no url")
        .and_then(|u| url::Url::parse(u).map_err(|_| "the stored url is not a valid URL"))?;
    let transport = match r.transport.as_str() {
        "streamable-http" => BackendTransport::StreamableHttp { url },
        "sse" => BackendTransport::Sse { url },
        other => {
            return Err(format!(
                "transport `{other}` cannot be defined in the database (stdio backends belong in \
                 the config file)"
            ));
        }
    };
    let auth = match (&r.credential, &r.oauth) {
        (None, None) => None,
        (None, Some(oauth)) => Some(BackendAuth::OAuth(super::oauth::to_spec(oauth, secrets)?)),
        (Some(credential), _) => {
            let token = secrets
                .open(&credential.token)
                .map_err(|e| format!("the backend credential cannot be used: {e}"))?;
            Some(backend_auth(
                &credential.auth_type,
                credential.auth_header.as_deref(),
                token,
            )?)
        }
    };
    Ok(BackendSpec {
        name: r.name.clone(),
        transport,
        tool_prefix: r
            .tool_prefix
            .clone()
            .unwrap_or_else(|| format!("{}_", r.name)),
        enabled: r.enabled,
        timeout: Duration::from_millis(u64::try_from(r.timeout_ms).unwrap_or(1).max(1)),
        health_interval: Duration::from_secs(
            u64::try_from(r.health_interval_s).unwrap_or(1).max(1),
        ),
        auth,
        headers: Default::default(),
        // Database backends are HTTP: isolation is a stdio setting.
        isolation: StdioIsolation::Shared,
        origin: SpecOrigin::Database,
    })
}

fn backend_auth(
    kind: &str,
    header: Option<&str>,
    token: SecretString,
) -> Result<BackendAuth, String> {
    match (AuthKind::parse(kind), header) {
        (Some(AuthKind::Bearer), _) => Ok(BackendAuth::Bearer(token)),
        (Some(AuthKind::Basic), _) => Ok(BackendAuth::basic(&token)),
        (Some(AuthKind::Header), Some(name)) => Ok(BackendAuth::Header {
            name: name.to_string(),
            value: token,
        }),
        (Some(AuthKind::Header), None) => Err("auth_type `header` without a header name".into()),
        (
            Some(AuthKind::None | AuthKind::OAuthClientCredentials | AuthKind::OAuthRefreshToken)
            | None,
            _,
        ) => Err(format!("unknown stored auth_type `{kind}`")),
    }
}
