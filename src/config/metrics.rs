//! `[metrics]`: the Prometheus endpoint `GET /metrics`. Reloadable.

use std::path::Path;

use super::model::MetricsConfig;
use super::paths::absolutize;
use super::reader::TableReader;

/// A shorter scrape token would be guessable (it is a shared secret, not a user's password).
const MIN_SCRAPE_TOKEN_CHARS: usize = 16;

pub(crate) fn read_metrics(mut r: TableReader<'_>, cwd: &Path) -> Option<MetricsConfig> {
    let enabled = r.take_bool("enabled");
    let inline = if r.has("scrape_token") {
        r.take_string_with("scrape_token", |t| check_token(t).map(Some))
    } else {
        Some(None)
    };
    let from_file = if r.has("scrape_token_file") {
        r.take_string_with("scrape_token_file", |p| read_token_file(p, cwd).map(Some))
    } else {
        Some(None)
    };
    let token = match (inline, from_file) {
        (Some(Some(_)), Some(Some(_))) => {
            r.error(
                "scrape_token_file",
                None,
                "set either scrape_token or scrape_token_file, not both",
            );
            None
        }
        (Some(inline), Some(from_file)) => Some(inline.or(from_file)),
        _ => None,
    };
    r.finish();
    Some(MetricsConfig {
        enabled: enabled?,
        // Only the digest is kept: the token never sits in memory in the clear after boot.
        scrape_token_sha256: token?.map(|t| actors::auth::clients::sha256_hex(&t)),
    })
}

fn check_token(token: &str) -> Result<String, String> {
    let token = token.trim();
    if token.chars().count() < MIN_SCRAPE_TOKEN_CHARS {
        return Err(format!(
            "must be at least {MIN_SCRAPE_TOKEN_CHARS} characters (use a random token)"
        ));
    }
    Ok(token.to_string())
}

fn read_token_file(path: &str, cwd: &Path) -> Result<String, String> {
    if path.trim().is_empty() {
        return Err("must not be empty".to_string());
    }
    let path = absolutize(cwd, Path::new(path.trim()));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    check_token(&text).map_err(|m| format!("the token in {} {m}", path.display()))
}
