//! A `[[backends]]` table's credential: token sources (inline, file, environment), auth types,
//! custom headers, and errors that name keys and sources but never the secret.

use actors::spec::BackendAuth;

use super::{Scratch, env, with_file};

fn auth_of(cfg: &super::GatewayConfig, name: &str) -> Option<BackendAuth> {
    cfg.backends
        .iter()
        .find(|b| b.name == name)
        .unwrap()
        .auth
        .clone()
}

#[test]
fn tokens_come_inline_from_files_or_from_the_environment() {
    let scratch = Scratch::new();
    scratch.write("secrets/search.token", "file-token\n");
    scratch.write("secrets/key", "key-from-file\n");
    let file = scratch.write(
        "gateway.toml",
        r#"
        [[backends]]
        name = "inline"
        url = "http://a/mcp"
        auth_token = "inline-token"

        [[backends]]
        name = "filed"
        url = "http://a/mcp"
        auth_type = "basic"
        auth_token_file = "secrets/search.token"

        [[backends]]
        name = "envd"
        url = "http://a/mcp"
        auth_type = "header"
        auth_header = "X-Api-Key"
        auth_token_env = "ENVD_KEY"
        headers = { "X-Tenant" = "acme" }
        header_files = { "X-Other" = "secrets/key" }
        header_envs = { "X-Third" = "THIRD" }

        [[backends]]
        name = "plain"
        url = "http://a/mcp"
    "#,
    );
    let cfg = scratch
        .load(
            &with_file(file),
            &env(&[("ENVD_KEY", "env-key"), ("THIRD", "third-value")]),
        )
        .unwrap();
    match auth_of(&cfg, "inline") {
        Some(BackendAuth::Bearer(token)) => assert_eq!(token.expose(), "inline-token"),
        other => panic!("{other:?}"),
    }
    match auth_of(&cfg, "filed") {
        Some(BackendAuth::Header { name, value }) => {
            assert_eq!(name, "Authorization");
            assert_eq!(value.expose(), "Basic file-token");
        }
        other => panic!("{other:?}"),
    }
    match auth_of(&cfg, "envd") {
        Some(BackendAuth::Header { name, value }) => {
            assert_eq!(name, "X-Api-Key");
            assert_eq!(value.expose(), "env-key");
        }
        other => panic!("{other:?}"),
    }
    let envd = cfg.backends.iter().find(|b| b.name == "envd").unwrap();
    let headers: Vec<(&str, &str)> = envd
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.expose()))
        .collect();
    assert_eq!(
        headers,
        [
            ("X-Other", "key-from-file"),
            ("X-Tenant", "acme"),
            ("X-Third", "third-value")
        ]
    );
    assert!(auth_of(&cfg, "plain").is_none());
    // Debug output of the whole configuration never shows a secret.
    let shown = format!("{cfg:?}");
    for secret in [
        "inline-token",
        "file-token",
        "env-key",
        "key-from-file",
        "acme",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in Debug");
    }
}

#[test]
fn credential_mistakes_are_reported_by_key_without_the_secret() {
    let scratch = Scratch::new();
    let error = scratch
        .load_toml(
            r#"
            [[backends]]
            name = "two"
            url = "http://a/mcp"
            auth_token = "sekret-one"
            auth_token_env = "X"

            [[backends]]
            name = "missing"
            url = "http://a/mcp"
            auth_token_file = "no/such/file"

            [[backends]]
            name = "unset"
            url = "http://a/mcp"
            auth_token_env = "NOT_SET_ANYWHERE"

            [[backends]]
            name = "headerless"
            url = "http://a/mcp"
            auth_type = "header"
            auth_token = "sekret-two"

            [[backends]]
            name = "tokenless"
            url = "http://a/mcp"
            auth_type = "bearer"

            [[backends]]
            name = "kind"
            url = "http://a/mcp"
            auth_type = "digest"

            [[backends]]
            name = "clash"
            url = "http://a/mcp"
            auth_token = "sekret-three"
            headers = { "authorization" = "sekret-four" }

            [[backends]]
            name = "local"
            command = "srv"
            auth_token = "sekret-five"

            [[backends]]
            name = "reserved"
            url = "http://a/mcp"
            headers = { "Mcp-Session-Id" = "x" }
        "#,
        )
        .unwrap_err()
        .to_string();
    for expected in [
        "backends[0].auth_token: give one source, not auth_token and auth_token_env",
        "backends[1].auth_token_file: cannot read",
        "backends[2].auth_token_env: the environment variable NOT_SET_ANYWHERE is not set",
        "backends[3].auth_header: required for auth_type \"header\"",
        "backends[4].auth_token: auth_type \"bearer\" needs a token",
        "backends[5].auth_type: unknown auth_type \"digest\"",
        "backends[6].headers: the header \"authorization\" is already set",
        "backends[7].auth_token: only applies to HTTP backends",
        "backends[8].headers.Mcp-Session-Id:",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
    assert!(
        !error.contains("sekret"),
        "a secret in the report:\n{error}"
    );
}

#[test]
fn oauth_backends_read_their_client_and_refuse_stray_keys() {
    let scratch = Scratch::new();
    scratch.write("refresh", "rt-from-file\n");
    let file = scratch.write(
        "gateway.toml",
        r#"
        [[backends]]
        name = "cc"
        url = "http://a/mcp"
        auth_type = "oauth_client_credentials"
        client_id = "gw"
        client_secret_env = "CC_SECRET"
        scope = "mcp:tools"

        [[backends]]
        name = "rt"
        url = "http://a/mcp"
        auth_type = "oauth_refresh_token"
        token_url = "https://as.example/token"
        client_id = "gw"
        resource = "https://a.example/mcp"
        refresh_token_file = "refresh"
    "#,
    );
    let cfg = scratch
        .load(&with_file(file), &env(&[("CC_SECRET", "cc-secret")]))
        .unwrap();
    match auth_of(&cfg, "cc") {
        Some(BackendAuth::OAuth(o)) => {
            assert_eq!(o.grant, actors::spec::OAuthGrant::ClientCredentials);
            assert_eq!(o.client_secret.unwrap().expose(), "cc-secret");
            assert_eq!(o.scope.as_deref(), Some("mcp:tools"));
            assert!(o.token_url.is_none() && o.resource.is_none());
        }
        other => panic!("{other:?}"),
    }
    match auth_of(&cfg, "rt") {
        Some(BackendAuth::OAuth(o)) => {
            match o.grant {
                actors::spec::OAuthGrant::RefreshToken(t) => assert_eq!(t.expose(), "rt-from-file"),
                other => panic!("{other:?}"),
            }
            assert_eq!(o.token_url.unwrap().as_str(), "https://as.example/token");
            assert_eq!(o.resource.as_deref(), Some("https://a.example/mcp"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{cfg:?}").contains("cc-secret"));

    let error = scratch
        .load_toml(
            r#"
            [[backends]]
            name = "stray"
            url = "http://a/mcp"
            auth_token = "t"
            client_id = "gw"

            [[backends]]
            name = "noid"
            url = "http://a/mcp"
            auth_type = "oauth_client_credentials"

            [[backends]]
            name = "norefresh"
            url = "http://a/mcp"
            auth_type = "oauth_refresh_token"
            client_id = "gw"
        "#,
        )
        .unwrap_err()
        .to_string();
    for expected in [
        "backends[0].client_id: only applies to auth_type oauth_client_credentials",
        "backends[1].client_id: required for an OAuth backend",
        "backends[2].refresh_token: required for auth_type \"oauth_refresh_token\"",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
}
