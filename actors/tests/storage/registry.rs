//! `BackendRegistry` over a real database (no supervisor attached: what it would apply is read
//! through `desired`). The running gateway's side is in tests/integration/admin_api.rs.

use std::sync::Arc;
use std::time::Duration;

use actors::registry::{AuthKind, BackendDraft, BackendId, BackendRegistry, RegistryError};
use actors::secrets::SecretBox;
use actors::spec::{
    BackendAuth, BackendSpec, BackendTransport, OAuthClientSpec, OAuthGrant, SecretString,
    SpecOrigin,
};

use crate::fixture::TestDb;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn file_spec(name: &str) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        transport: BackendTransport::StreamableHttp {
            url: url::Url::parse("http://127.0.0.1:9/mcp").unwrap(),
        },
        tool_prefix: format!("{name}_"),
        enabled: true,
        timeout: Duration::from_secs(5),
        health_interval: Duration::from_secs(30),
        auth: None,
        headers: Default::default(),
        isolation: Default::default(),
        origin: SpecOrigin::ConfigFile,
    }
}

fn draft(name: &str) -> BackendDraft {
    BackendDraft {
        name: Some(name.into()),
        url: Some(url::Url::parse("http://127.0.0.1:9/mcp").unwrap()),
        ..BackendDraft::default()
    }
}

async fn registry(t: &TestDb, key: u8, file: Vec<BackendSpec>) -> Arc<BackendRegistry> {
    let secrets = Arc::new(SecretBox::new(&[key; 32]));
    BackendRegistry::load(t.db.clone(), secrets, file, quiet())
        .await
        .expect("load the registry")
}

fn create_merges_with_file_backends_and_never_shows_the_token(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![file_spec("from_file")]).await;
        let mut d = draft("from_db");
        d.auth_token = Some(Some(SecretString::new("tok-123")));
        let created = reg.create(d, "admin").await.unwrap();
        let BackendId::Database(id) = created.id else {
            panic!("database ids are numeric")
        };
        assert_eq!(
            created.auth_type, "bearer",
            "a token without a type is bearer"
        );
        assert!(created.has_auth_token);
        assert_eq!(created.tool_prefix, "from_db_");
        assert!(!format!("{created:?}").contains("tok-123"));

        let desired = reg.desired().await;
        let names: Vec<_> = desired.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["from_file", "from_db"]);
        assert_eq!(desired[1].origin, SpecOrigin::Database);
        assert_eq!(
            desired[1].auth,
            Some(BackendAuth::Bearer(SecretString::new("tok-123")))
        );
        let list = reg.list().await;
        assert_eq!(list[0].id, BackendId::File("from_file".into()));
        assert_eq!(list[1].id, BackendId::Database(id));

        // Partial update keeps the token; switching to a header credential needs its name.
        let patch = BackendDraft {
            timeout: Some(Duration::from_secs(7)),
            ..BackendDraft::default()
        };
        let updated = reg
            .update(&BackendId::Database(id), patch, "admin")
            .await
            .unwrap();
        assert_eq!(updated.timeout, Duration::from_secs(7));
        assert!(updated.has_auth_token);
        let header = BackendDraft {
            auth_type: Some(AuthKind::Header),
            ..BackendDraft::default()
        };
        match reg.update(&BackendId::Database(id), header, "admin").await {
            Err(RegistryError::Invalid(problems)) => {
                assert!(
                    problems[0].starts_with("auth_header: required"),
                    "{problems:?}"
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let header = BackendDraft {
            auth_type: Some(AuthKind::Header),
            auth_header: Some(Some("X-API-Key".into())),
            ..BackendDraft::default()
        };
        reg.update(&BackendId::Database(id), header, "admin")
            .await
            .unwrap();
        let spec = reg.desired().await.pop().unwrap();
        assert_eq!(
            spec.auth,
            Some(BackendAuth::Header {
                name: "X-API-Key".into(),
                value: SecretString::new("tok-123")
            })
        );

        let removed = reg.delete(&BackendId::Database(id), "admin").await.unwrap();
        assert_eq!(removed.name, "from_db");
        assert_eq!(reg.desired().await.len(), 1);
    });
}

fn bad_requests_get_the_right_errors(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![file_spec("taken")]).await;
        match reg.create(BackendDraft::default(), "admin").await {
            Err(RegistryError::Invalid(problems)) => {
                assert_eq!(problems.len(), 2, "{problems:?}");
                assert!(problems[0].starts_with("name: required"));
                assert!(problems[1].starts_with("url: required"));
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let error = reg.create(draft("taken"), "admin").await.unwrap_err();
        assert!(matches!(&error, RegistryError::NameTaken(m) if m.contains("config file")));
        reg.create(draft("db_one"), "admin").await.unwrap();
        let error = reg.create(draft("db_one"), "admin").await.unwrap_err();
        assert!(matches!(&error, RegistryError::NameTaken(m) if m.contains("already exists")));

        let file_id = BackendId::File("taken".into());
        let error = reg.update(&file_id, draft("x"), "admin").await.unwrap_err();
        assert!(matches!(error, RegistryError::ReadOnly(_)));
        assert!(error.to_string().contains("edit the file"));
        let error = reg.delete(&file_id, "admin").await.unwrap_err();
        assert!(matches!(error, RegistryError::ReadOnly(_)));
        let unknown = BackendId::Database(987_654);
        assert!(matches!(
            reg.delete(&unknown, "admin").await,
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            reg.update(&unknown, draft("y"), "admin").await,
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            reg.get(&BackendId::File("nope".into())).await,
            Err(RegistryError::NotFound(_))
        ));
    });
}

fn a_name_on_both_sides_refuses_reload_and_boot(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![file_spec("kept")]).await;
        reg.create(draft("shared"), "admin").await.unwrap();
        let error = reg
            .reload_file_backends(vec![file_spec("kept"), file_spec("shared")])
            .await
            .unwrap_err();
        assert!(matches!(&error, RegistryError::Clash(names) if names == &["shared"]));
        assert!(error.to_string().contains("`shared`"), "{error}");
        let names: Vec<_> = reg.desired().await.into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["kept", "shared"],
            "the refused reload changed nothing"
        );

        let secrets = Arc::new(SecretBox::new(&[1; 32]));
        let boot =
            BackendRegistry::load(t.db.clone(), secrets, vec![file_spec("shared")], quiet()).await;
        assert!(matches!(boot, Err(RegistryError::Clash(_))));
    });
}

/// Restarting with another secrets key: the backend is left out with a clear reason, the rest run.
fn a_wrong_key_leaves_the_backend_out_with_a_reason(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![]).await;
        let mut d = draft("secured");
        d.auth_token = Some(Some(SecretString::new("tok")));
        reg.create(d, "admin").await.unwrap();
        reg.create(draft("open"), "admin").await.unwrap();

        let other_key = registry(t, 2, vec![]).await;
        let names: Vec<_> = other_key
            .desired()
            .await
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["open"]);
        let entry = other_key
            .list()
            .await
            .into_iter()
            .find(|e| e.name == "secured")
            .unwrap();
        let problem = entry.problem.expect("a reason");
        assert!(problem.contains("different secrets key"), "{problem}");
    });
}

/// OAuth drafts: the spec the token loop runs, the view (settings, never secrets), partial
/// updates that keep the secrets, and the rules (client_id required, refresh_token only with
/// its grant, static fields refused, switching back to a static kind drops the OAuth row).
fn oauth_drafts_become_oauth_specs(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![]).await;
        let mut d = draft("remote");
        d.auth_type = Some(AuthKind::OAuthClientCredentials);
        d.client_id = Some("gw-client".into());
        d.client_secret = Some(Some(SecretString::new("cs-secret-1")));
        d.scope = Some(Some("mcp:tools".into()));
        let created = reg.create(d, "admin").await.unwrap();
        let id = created.id.clone();
        assert_eq!(created.auth_type, "oauth_client_credentials");
        assert!(!created.has_auth_token);
        let view = created.oauth.clone().expect("an OAuth view");
        assert_eq!(view.client_id, "gw-client");
        assert!(view.has_client_secret && !view.has_refresh_token);
        assert_eq!(view.token_url, None, "discovered");
        assert!(!format!("{created:?}").contains("cs-secret-1"));
        let spec = reg.desired().await.pop().unwrap();
        assert_eq!(
            spec.auth,
            Some(BackendAuth::OAuth(OAuthClientSpec {
                grant: OAuthGrant::ClientCredentials,
                token_url: None,
                client_id: "gw-client".into(),
                client_secret: Some(SecretString::new("cs-secret-1")),
                scope: Some("mcp:tools".into()),
                resource: None,
            }))
        );

        // The refresh-token grant needs its token; the client secret is kept.
        let switch = BackendDraft {
            auth_type: Some(AuthKind::OAuthRefreshToken),
            token_url: Some(Some(url::Url::parse("https://as.example/token").unwrap())),
            ..BackendDraft::default()
        };
        match reg.update(&id, switch.clone(), "admin").await {
            Err(RegistryError::Invalid(problems)) => {
                assert_eq!(
                    problems,
                    ["refresh_token: required for auth_type \"oauth_refresh_token\""]
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let switch = BackendDraft {
            refresh_token: Some(Some(SecretString::new("rt-configured"))),
            ..switch
        };
        let updated = reg.update(&id, switch, "admin").await.unwrap();
        let view = updated.oauth.unwrap();
        assert_eq!(view.grant, "refresh_token");
        assert!(view.has_client_secret && view.has_refresh_token);
        let Some(BackendAuth::OAuth(oauth)) = reg.desired().await.pop().unwrap().auth else {
            panic!("an OAuth spec")
        };
        assert_eq!(
            oauth.grant,
            OAuthGrant::RefreshToken(SecretString::new("rt-configured"))
        );
        assert_eq!(oauth.client_secret, Some(SecretString::new("cs-secret-1")));
        assert_eq!(
            oauth.token_url.map(|u| u.to_string()),
            Some("https://as.example/token".into())
        );

        // Static fields do not mix with OAuth, nor OAuth fields with static kinds.
        let mixed = BackendDraft {
            auth_token: Some(Some(SecretString::new("static"))),
            ..BackendDraft::default()
        };
        match reg.update(&id, mixed, "admin").await {
            Err(RegistryError::Invalid(problems)) => {
                assert!(
                    problems[0].starts_with("auth_token: does not apply"),
                    "{problems:?}"
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let mut bad = draft("bad");
        bad.auth_type = Some(AuthKind::OAuthClientCredentials);
        bad.refresh_token = Some(Some(SecretString::new("rt")));
        match reg.create(bad, "admin").await {
            Err(RegistryError::Invalid(problems)) => assert_eq!(
                problems,
                [
                    "client_id: required for auth_type \"oauth_client_credentials\"",
                    "refresh_token: only applies to auth_type \"oauth_refresh_token\""
                ]
            ),
            other => panic!("expected Invalid, got {other:?}"),
        }
        let mut bad = draft("bad");
        bad.auth_token = Some(Some(SecretString::new("tok")));
        bad.client_id = Some("x".into());
        match reg.create(bad, "admin").await {
            Err(RegistryError::Invalid(problems)) => {
                assert!(
                    problems[0].starts_with("client_id: only applies"),
                    "{problems:?}"
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }

        // Back to a static credential: the OAuth settings go.
        let back = BackendDraft {
            auth_type: Some(AuthKind::Bearer),
            auth_token: Some(Some(SecretString::new("tok-b"))),
            ..BackendDraft::default()
        };
        let updated = reg.update(&id, back, "admin").await.unwrap();
        assert_eq!(updated.auth_type, "bearer");
        assert!(updated.oauth.is_none());
        assert_eq!(
            reg.desired().await.pop().unwrap().auth,
            Some(BackendAuth::Bearer(SecretString::new("tok-b")))
        );
    });
}

/// The latest refresh token is used only while the configured one is the token it grew from.
fn a_stored_refresh_token_follows_its_configured_token(t: &TestDb) {
    block_on(async {
        let reg = registry(t, 1, vec![]).await;
        let tokens = reg.persisted_tokens();
        let configured = SecretString::new("rt-configured-a");
        assert_eq!(tokens.latest("b", &configured).await.unwrap(), None);
        let latest = SecretString::new("rt-rotated-1");
        tokens.save("b", &configured, &latest).await.unwrap();
        assert_eq!(
            tokens.latest("b", &configured).await.unwrap(),
            Some(latest.clone())
        );
        // The operator configured another token: start over from it.
        let replaced = SecretString::new("rt-configured-b");
        assert_eq!(tokens.latest("b", &replaced).await.unwrap(), None);
        // Another backend with the same configured token has its own state.
        assert_eq!(tokens.latest("c", &configured).await.unwrap(), None);
        // Another key cannot open it: a clear error, and the loop falls back to the configured.
        let other = registry(t, 2, vec![]).await.persisted_tokens();
        let error = other.latest("b", &configured).await.unwrap_err();
        assert!(error.contains("different secrets key"), "{error}");
        assert!(!error.contains("rt-"), "{error}");
    });
}

crate::on_both_backends!(
    a_stored_refresh_token_follows_its_configured_token,
    oauth_drafts_become_oauth_specs,
    create_merges_with_file_backends_and_never_shows_the_token,
    bad_requests_get_the_right_errors,
    a_name_on_both_sides_refuses_reload_and_boot,
    a_wrong_key_leaves_the_backend_out_with_a_reason,
);
