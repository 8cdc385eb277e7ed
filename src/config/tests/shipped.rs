//! The files shipped in `config/`: the documented defaults and the examples.

use std::collections::HashMap;

use super::{Scratch, defaults, repo_file, with_file};
use crate::config::external_issuers::EXTERNAL_ISSUER_KEYS;
use crate::config::keys::{BACKEND_KEYS, POLICY_KEYS, SCALAR_KEYS};
use crate::config::restart_only_changes;

#[test]
fn shipped_file_equals_the_built_in_defaults() {
    let scratch = Scratch::new();
    let shipped = scratch
        .load(
            &with_file(repo_file("config/authmcp-gateway.toml")),
            &HashMap::new(),
        )
        .unwrap_or_else(|report| panic!("shipped file invalid:\n{report}"));
    // Same values; the origins differ by design (the file sets every key, the defaults none).
    assert_ne!(shipped.sources, defaults(&scratch).sources);
    let values_only = |c: crate::config::GatewayConfig| crate::config::GatewayConfig {
        sources: Default::default(),
        ..c
    };
    assert_eq!(values_only(shipped), values_only(defaults(&scratch)));
}

#[test]
fn shipped_file_documents_every_key() {
    let text = std::fs::read_to_string(repo_file("config/authmcp-gateway.toml")).unwrap();
    for key in SCALAR_KEYS {
        let leaf = key.path.rsplit('.').next().unwrap_or(key.path);
        let documented = text
            .lines()
            .map(|l| l.trim_start_matches(['#', ' ']))
            .any(|l| l.starts_with(&format!("{leaf} =")));
        assert!(
            documented,
            "{} is not documented in the shipped file",
            key.path
        );
    }
    for key in BACKEND_KEYS {
        assert!(
            text.contains(&format!("# {key} =")),
            "backend key {key} is not documented"
        );
    }
    for key in EXTERNAL_ISSUER_KEYS {
        assert!(
            text.contains(&format!("# {key} =")),
            "external issuer key {key} is not documented"
        );
    }
    for key in POLICY_KEYS {
        assert!(
            text.contains(&format!("# {key} =")),
            "policy key {key} is not documented"
        );
    }
}

#[test]
fn every_example_validates() {
    let dir = repo_file("config/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let scratch = Scratch::new();
        let cfg = scratch
            .load(&with_file(path.clone()), &HashMap::new())
            .unwrap_or_else(|report| panic!("{} is invalid:\n{report}", path.display()));
        assert!(
            !cfg.backends.is_empty(),
            "{} declares no backend",
            path.display()
        );
    }
    assert!(seen >= 5, "expected at least five examples, found {seen}");
}

#[test]
fn restart_only_changes_names_exactly_the_changed_fields() {
    let scratch = Scratch::new();
    let old = defaults(&scratch);
    assert!(restart_only_changes(&old, &old).is_empty());

    let mut new = old.clone();
    new.server.max_body_bytes += 1;
    new.logging.level = "debug".into();
    new.backends.clear();
    assert!(
        restart_only_changes(&old, &new).is_empty(),
        "reloadable fields flagged"
    );

    new.server.host = "127.0.0.1".into();
    new.server.port = 9;
    new.database.url = "postgres://u@h/db".into();
    new.data_dir = "/elsewhere".into();
    assert_eq!(
        restart_only_changes(&old, &new),
        vec!["server.host", "server.port", "data_dir", "database.url"]
    );
}
