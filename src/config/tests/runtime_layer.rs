//! The database's runtime settings as the top layer, and each key's recorded source.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{Scratch, env, with_file};
use crate::config::{DATABASE_SOURCE, ValueSource};

fn runtime(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn sources_name_the_file_the_variable_and_the_default() {
    let s = Scratch::new();
    let file = s.write("gw.toml", "[rate_limit]\nmcp_max = 7\n");
    let dotenv = s.write("gw.env", "RATE_LIMIT_LOGIN_MAX=3\n");
    let sources = crate::config::Sources {
        env_file: Some(dotenv.clone()),
        ..with_file(file.clone())
    };
    let cfg = s
        .load(
            &sources,
            &env(&[("PORT", "9001"), ("AUTHMCP__MCP__PAGE_SIZE", "5")]),
        )
        .unwrap();
    let of = |k: &str| cfg.sources.get(k).cloned();
    assert_eq!(
        of("rate_limit.mcp_max"),
        Some(ValueSource::File(file.display().to_string()))
    );
    assert_eq!(of("server.port"), Some(ValueSource::Env("PORT".into())));
    assert_eq!(
        of("mcp.page_size"),
        Some(ValueSource::Env("AUTHMCP__MCP__PAGE_SIZE".into()))
    );
    assert_eq!(
        of("rate_limit.login_max"),
        Some(ValueSource::Dotenv {
            name: "RATE_LIMIT_LOGIN_MAX".into(),
            file: dotenv.display().to_string()
        })
    );
    assert_eq!(of("rate_limit.tool_max"), Some(ValueSource::Default));
}

#[test]
fn a_runtime_setting_beats_the_file_and_the_environment() {
    let s = Scratch::new();
    let file = s.write(
        "gw.toml",
        "[rate_limit]\nmcp_max = 7\n[auth]\nallow_registration = false\n",
    );
    let sources = crate::config::Sources {
        runtime: runtime(&[
            ("rate_limit.mcp_max", json!(2)),
            ("auth.allow_registration", json!(true)),
            ("oauth.dcr_window_s", json!(120)),
        ]),
        ..with_file(file)
    };
    let cfg = s
        .load(&sources, &env(&[("RATE_LIMIT_MCP_MAX", "9")]))
        .unwrap();
    assert_eq!(cfg.rate_limit.mcp_max, 2);
    assert!(cfg.auth.allow_registration);
    assert_eq!(cfg.oauth.dcr_window, Duration::from_secs(120));
    assert_eq!(
        cfg.sources.get("rate_limit.mcp_max"),
        Some(&ValueSource::Database)
    );
}

#[test]
fn runtime_values_are_checked_with_the_files_rules() {
    let s = Scratch::new();
    let file = s.write("gw.toml", "");
    let sources = crate::config::Sources {
        runtime: runtime(&[
            ("rate_limit.login_max", json!(0)),
            ("rate_limit.mcp_window_s", json!(true)),
            ("server.port", json!(1)),
        ]),
        ..with_file(file)
    };
    let report = s.load(&sources, &env(&[])).unwrap_err();
    // Every problem at once, each naming the database as its source.
    for key in [
        "rate_limit.login_max",
        "rate_limit.mcp_window_s",
        "server.port",
    ] {
        assert!(report.mentions_key(key), "{key} missing from {report}");
    }
    assert!(report.errors.iter().all(|e| e.source == DATABASE_SOURCE));
}
