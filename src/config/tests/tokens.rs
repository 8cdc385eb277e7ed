//! The token settings of `[auth]`: algorithms and key files, static bearer tokens, the
//! original's variables (JWT_ALGORITHM, ALLOW_REGISTRATION, JWT_ENFORCE_SINGLE_SESSION,
//! STATIC_BEARER_TOKENS).

use std::time::Duration;

use actors::auth::keys::KeyAlgorithm;
use actors::auth::opaque;

use super::{Scratch, env, keys_of, with_file};

fn key_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name);
    path.display().to_string()
}

#[test]
fn token_settings_default_to_hs256_and_everything_off() {
    let cfg = Scratch::new().load_toml("").unwrap();
    assert_eq!(cfg.auth.jwt_algorithm, KeyAlgorithm::HS256);
    assert_eq!(cfg.auth.jwt_private_key_file, None);
    assert!(cfg.auth.jwt_previous_key_files.is_empty());
    assert_eq!(cfg.auth.refresh_reuse_grace, Duration::from_secs(10));
    assert!(!cfg.auth.allow_registration);
    assert!(!cfg.auth.enforce_single_session);
    assert!(cfg.auth.static_bearer_token_hashes.is_empty());
}

#[test]
fn es256_with_rotation_loads_and_relative_paths_resolve_against_the_working_directory() {
    let scratch = Scratch::new();
    std::fs::copy(key_file("es256-b.pem"), scratch.path().join("new.pem")).unwrap();
    let cfg = scratch
        .load_toml(&format!(
            "[auth]\njwt_algorithm = \"es256\"\njwt_private_key_file = \"new.pem\"\n\
             jwt_previous_key_files = [{:?}]\n",
            key_file("es256-a.pub.pem")
        ))
        .unwrap();
    assert_eq!(cfg.auth.jwt_algorithm, KeyAlgorithm::ES256);
    assert_eq!(
        cfg.auth.jwt_private_key_file.as_deref(),
        Some(scratch.path().join("new.pem").as_path())
    );
    assert_eq!(cfg.auth.jwt_previous_key_files.len(), 1);
}

#[test]
fn key_problems_are_reported_with_their_key() {
    let scratch = Scratch::new();
    let cases = [
        (
            "jwt_algorithm = \"RS256\"",
            "auth.jwt_private_key_file",
            "needs a PEM",
        ),
        (
            "jwt_algorithm = \"PS512\"",
            "auth.jwt_algorithm",
            "HS256, RS256 or ES256",
        ),
        (
            "jwt_private_key_file = \"x.pem\"",
            "auth.jwt_private_key_file",
            "only used with RS256",
        ),
        (
            "jwt_algorithm = \"ES256\"\njwt_private_key_file = \"missing.pem\"",
            "auth.jwt_private_key_file",
            "cannot read",
        ),
        (
            &format!(
                "jwt_algorithm = \"ES256\"\njwt_private_key_file = {:?}",
                key_file("rs256-a.pem")
            ),
            "auth.jwt_private_key_file",
            "ES256",
        ),
        (
            &format!("jwt_previous_key_files = [{:?}]", key_file("es256-a.pem")),
            "auth.jwt_previous_key_files",
            "RS256 or ES256",
        ),
    ];
    for (text, key, words) in cases {
        let report = scratch.load_toml(&format!("[auth]\n{text}\n")).unwrap_err();
        let error = report
            .errors
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no {key} error for {text:?}:\n{report}"));
        assert!(error.message.contains(words), "{text:?}: {}", error.message);
    }
}

#[test]
fn static_tokens_need_a_user_and_length_and_are_kept_only_as_hashes() {
    let scratch = Scratch::new();
    let report = scratch
        .load_toml("[auth]\nstatic_bearer_tokens = [\"0123456789abcdef-token\"]\n")
        .unwrap_err();
    assert!(keys_of(&report).contains(&"auth.static_bearer_tokens_user".to_string()));
    let report = scratch
        .load_toml(
            "[auth]\nstatic_bearer_tokens = [\"short\", \"a.b.c-long-enough-xxxx\"]\n\
             static_bearer_tokens_user = \"ci\"\n",
        )
        .unwrap_err();
    let keys = keys_of(&report);
    assert!(
        keys.contains(&"auth.static_bearer_tokens[0]".to_string()),
        "{report}"
    );
    assert!(
        keys.contains(&"auth.static_bearer_tokens[1]".to_string()),
        "{report}"
    );
    assert!(
        !report.to_string().contains("short"),
        "the token is never echoed: {report}"
    );

    let cfg = scratch
        .load(
            &with_file(scratch.write("gw.toml", "")),
            &env(&[
                (
                    "STATIC_BEARER_TOKENS",
                    "first-token-0123456789, second-token-0123456789",
                ),
                ("AUTHMCP__AUTH__STATIC_BEARER_TOKENS_USER", "ci"),
            ]),
        )
        .unwrap();
    assert_eq!(
        cfg.auth.static_bearer_token_hashes,
        vec![
            opaque::sha256("first-token-0123456789"),
            opaque::sha256("second-token-0123456789")
        ]
    );
    assert_eq!(cfg.auth.static_bearer_tokens_user.as_deref(), Some("ci"));
    assert!(
        !format!("{cfg:?}").contains("first-token"),
        "no token in Debug output"
    );
}

#[test]
fn the_originals_variables_map_to_auth_keys() {
    let scratch = Scratch::new();
    let cfg = scratch
        .load(
            &with_file(scratch.write("gw.toml", "")),
            &env(&[
                ("JWT_ALGORITHM", "HS256"),
                ("ALLOW_REGISTRATION", "true"),
                ("JWT_ENFORCE_SINGLE_SESSION", "yes"),
            ]),
        )
        .unwrap();
    assert!(cfg.auth.allow_registration);
    assert!(cfg.auth.enforce_single_session);
    let report = scratch
        .load(
            &with_file(scratch.write("gw.toml", "")),
            &env(&[("JWT_ALGORITHM", "ES256")]),
        )
        .unwrap_err();
    assert!(keys_of(&report).contains(&"auth.jwt_private_key_file".to_string()));
}
