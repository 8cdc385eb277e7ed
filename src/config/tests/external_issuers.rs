//! `[[auth.external_issuers]]` and `oauth.enabled`: defaults, every problem reported at once.

use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::{Scratch, keys_of};

#[test]
fn an_issuer_with_only_its_url_gets_the_documented_defaults() {
    let cfg = Scratch::new()
        .load_toml(
            "[[auth.external_issuers]]\nissuer = \"https://sso.example.com/realms/main\"\n\
             group_mapping = { \"/Dev Team\" = \"developers\" }\n",
        )
        .unwrap();
    assert!(cfg.oauth.enabled);
    let [issuer] = cfg.auth.external_issuers.as_slice() else {
        panic!("one issuer expected");
    };
    assert_eq!(issuer.issuer, "https://sso.example.com/realms/main");
    assert_eq!(issuer.jwks_uri, None);
    assert_eq!(issuer.audiences, None);
    assert_eq!(issuer.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
    assert_eq!(issuer.username_claim, "preferred_username");
    assert_eq!(issuer.email_claim, "email");
    assert_eq!(issuer.groups_claim, "groups");
    assert_eq!(issuer.role_claim, None);
    assert!(issuer.admin_values.is_empty());
    assert!(!issuer.auto_provision);
    assert_eq!(
        issuer.group_mapping.get("/Dev Team").map(String::as_str),
        Some("developers"),
        "external group names keep their case and spaces"
    );
    assert_eq!(issuer.scopes_claim.as_deref(), Some("scope"));
    assert_eq!(issuer.jwks_refresh, Duration::from_secs(300));
    assert_eq!(issuer.jwks_cooldown, Duration::from_secs(10));
}

#[test]
fn every_bad_issuer_field_is_reported_at_once() {
    let report = Scratch::new()
        .load_toml(
            r#"
            [server]
            public_url = "https://gw.example.com"
            [[auth.external_issuers]]
            issuer = "http://sso.example.com"
            jwks_uri = "ftp://keys"
            algorithms = ["HS256", "none", "ES256"]
            admin_values = ["admin"]
            group_mapping = { "devs" = "not a group" }
            jwks_cooldown_s = 0
            colour = "red"
            [[auth.external_issuers]]
            issuer = "https://gw.example.com"
            audiences = []
            [[auth.external_issuers]]
            username_claim = ""
            "#,
        )
        .unwrap_err();
    let mut keys = keys_of(&report);
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "auth.external_issuers[0].admin_values",
            "auth.external_issuers[0].algorithms[0]",
            "auth.external_issuers[0].algorithms[1]",
            "auth.external_issuers[0].colour",
            "auth.external_issuers[0].group_mapping.devs",
            "auth.external_issuers[0].issuer",
            "auth.external_issuers[0].jwks_cooldown_s",
            "auth.external_issuers[0].jwks_uri",
            "auth.external_issuers[1].audiences",
            "auth.external_issuers[1].issuer",
            "auth.external_issuers[2].issuer",
            "auth.external_issuers[2].username_claim",
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(text.contains("never accepted"), "{text}");
    assert!(text.contains("own issuer"), "{text}");
}

#[test]
fn the_built_in_server_can_be_switched_off_only_with_an_external_issuer() {
    let report = Scratch::new()
        .load_toml("[oauth]\nenabled = false\n")
        .unwrap_err();
    assert_eq!(keys_of(&report), vec!["oauth.enabled"], "{report}");
    let cfg = Scratch::new()
        .load_toml(
            "[oauth]\nenabled = false\n[[auth.external_issuers]]\nissuer = \"http://127.0.0.1:9\"\n\
             scopes_claim = \"\"\n",
        )
        .unwrap();
    assert!(!cfg.oauth.enabled);
    assert_eq!(cfg.auth.external_issuers[0].scopes_claim, None);
}

#[test]
fn the_same_issuer_twice_is_refused() {
    let report = Scratch::new()
        .load_toml(
            "[[auth.external_issuers]]\nissuer = \"https://a.example\"\n\
             [[auth.external_issuers]]\nissuer = \"https://a.example\"\n",
        )
        .unwrap_err();
    assert_eq!(
        keys_of(&report),
        vec!["auth.external_issuers[1].issuer"],
        "{report}"
    );
}
