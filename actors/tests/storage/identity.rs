//! The identity service on a real database (both backends): token families, refresh rotation and
//! reuse detection, revocation reaching `authenticate`, single session per client, API tokens,
//! static tokens, registration, bcrypt rehash, introspection.

use std::sync::Arc;
use std::time::Duration;

use actors::auth::identity::{
    AuthError, CredentialKind, Identity, IdentitySettings, NewAccount, NewApiTokenRequest,
    Registration, TokenGrant,
};
use actors::auth::keys::SigningKeys;
use actors::auth::opaque;
use actors::auth::passwords::PasswordHasher;
use actors::auth::tokens::TokenKeys;
use actors::storage::api_tokens::ApiTokenInfo;
use actors::storage::users::{self, NewUser, Role};

use crate::fixture::TestDb;

const URL: &str = "http://gw.test";
const PASSWORD: &str = "Correct-Horse-9";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn add_user(t: &TestDb, name: &str, cost: u32) -> i64 {
    let hash = PasswordHasher::new(cost, 1)
        .hash_blocking(PASSWORD)
        .unwrap();
    t.db.run_blocking(|c| {
        users::create(
            c,
            NewUser {
                username: name,
                email: "x@example.test",
                password_hash: &hash,
                role: Role::User,
            },
        )
    })
    .unwrap()
    .id
}

async fn identity(t: &TestDb, settings: IdentitySettings) -> Arc<Identity> {
    let keys = TokenKeys::new(
        Arc::new(SigningKeys::hs256(b"test-secret-test-secret-test-secret")),
        URL,
        Duration::from_secs(600),
    );
    Identity::new(t.db.clone(), PasswordHasher::new(4, 2), keys, settings)
        .await
        .expect("identity")
}

fn grant(user_id: i64, client: Option<&str>, resource: &str) -> TokenGrant {
    TokenGrant {
        user_id,
        client_id: client.map(str::to_string),
        scope: client.map(|_| "mcp".to_string()),
        resource: resource.to_string(),
        with_refresh: true,
        family: None,
    }
}

/// A new API token `ci` of user `user_id`, without expiry.
async fn ci_token(id: &Identity, user_id: i64) -> (String, ApiTokenInfo) {
    id.create_api_token(NewApiTokenRequest {
        user_id,
        name: "ci".into(),
        expires_in: None,
    })
    .await
    .unwrap()
}

fn revoked(result: Result<actors::auth::identity::Principal, AuthError>) -> bool {
    matches!(result, Err(AuthError::Revoked))
}

fn refresh_rotates_and_reuse_revokes_the_family(t: &TestDb) {
    add_user(t, "alice", 4);
    runtime().block_on(async {
        let settings = IdentitySettings {
            refresh_reuse_grace: Duration::ZERO,
            ..IdentitySettings::default()
        };
        let id = identity(t, settings).await;
        let (_, first) = id.login("alice", PASSWORD).await.unwrap();
        let refresh1 = first.refresh_token.clone().unwrap();
        assert!(refresh1.starts_with(opaque::REFRESH_PREFIX));
        let p = id.authenticate(&first.access_token).unwrap();
        assert_eq!(p.credential, CredentialKind::Login);
        assert_eq!(p.scopes, None);
        assert_eq!(p.client_id, None);
        assert_eq!(p.sid.as_deref(), Some(first.sid.as_str()));

        let second = id.refresh(&refresh1, None).await.unwrap();
        assert_eq!(second.sid, first.sid, "same family");
        let refresh2 = second.refresh_token.clone().unwrap();
        assert_ne!(refresh2, refresh1, "rotated");
        assert!(id.authenticate(&second.access_token).is_ok());

        // The used token comes back: a copy exists somewhere. The whole family goes.
        let reuse = id.refresh(&refresh1, None).await.unwrap_err();
        assert!(matches!(reuse, AuthError::InvalidGrant(_)), "{reuse:?}");
        assert!(revoked(id.authenticate(&second.access_token)));
        assert!(revoked(id.authenticate(&first.access_token)));
        assert!(matches!(
            id.refresh(&refresh2, None).await,
            Err(AuthError::InvalidGrant("revoked"))
        ));
        // Only the hash is stored.
        let stored =
            t.db.run_blocking(|c| {
                actors::storage::tokens::find_refresh_token(c, &opaque::sha256_hex(&refresh2))
            })
            .unwrap();
        assert!(stored.is_some());
    });
}

fn a_retry_within_the_grace_window_gets_a_fresh_pair(t: &TestDb) {
    add_user(t, "alice", 4);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let (_, first) = id.login("alice", PASSWORD).await.unwrap();
        let refresh1 = first.refresh_token.unwrap();
        let a = id.refresh(&refresh1, None).await.unwrap();
        let b = id.refresh(&refresh1, None).await.unwrap();
        assert_eq!(a.sid, b.sid);
        assert_ne!(a.refresh_token, b.refresh_token);
        assert!(id.authenticate(&a.access_token).is_ok());
        assert!(id.authenticate(&b.access_token).is_ok());
        assert!(id.refresh(&b.refresh_token.unwrap(), None).await.is_ok());
    });
}

fn refresh_tokens_are_bound_to_their_client(t: &TestDb) {
    let uid = add_user(t, "alice", 4);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let issued = id
            .issue_tokens(grant(uid, Some("client-a"), "http://gw.test/mcp/files"))
            .await
            .unwrap();
        assert_eq!(issued.scope.as_deref(), Some("mcp"));
        let p = id.authenticate(&issued.access_token).unwrap();
        assert_eq!(p.credential, CredentialKind::OAuth);
        assert_eq!(p.client_id.as_deref(), Some("client-a"));
        assert_eq!(p.scopes, Some(vec!["mcp".to_string()]));
        assert_eq!(p.audience.as_deref(), Some("http://gw.test/mcp/files"));
        let token = issued.refresh_token.unwrap();
        for other in [None, Some("client-b")] {
            assert!(matches!(
                id.refresh(&token, other).await,
                Err(AuthError::InvalidGrant("issued to another client"))
            ));
            assert!(id.revoke_refresh_token(&token, other).await.is_err());
        }
        let rotated = id.refresh(&token, Some("client-a")).await.unwrap();
        assert_eq!(rotated.scope.as_deref(), Some("mcp"));
        let claims = id.introspect(&rotated.access_token).await.unwrap();
        assert_eq!(claims.aud, "http://gw.test/mcp/files", "resource kept");
        assert_eq!(claims.client_id.as_deref(), Some("client-a"));
        // Revoking names whose grant ended (the audit trail records it); an unknown token none.
        let rotated_refresh = rotated.refresh_token.unwrap();
        assert_eq!(
            id.revoke_refresh_token(&rotated_refresh, Some("client-a"))
                .await
                .unwrap(),
            Some(uid)
        );
        assert!(revoked(id.authenticate(&rotated.access_token)));
        assert_eq!(
            id.revoke_refresh_token("amr_unknown", Some("client-a"))
                .await
                .unwrap(),
            None
        );

        assert!(matches!(
            id.issue_tokens(grant(uid, Some("c"), "http://evil.test/mcp"))
                .await,
            Err(AuthError::InvalidRequest(_))
        ));
        // An access-only grant (no refresh token) is still a revocable family.
        let access_only = id
            .issue_tokens(TokenGrant {
                with_refresh: false,
                ..grant(uid, Some("client-a"), "http://gw.test/mcp")
            })
            .await
            .unwrap();
        assert!(access_only.refresh_token.is_none());
        id.revoke_family(&access_only.sid).await.unwrap();
        assert!(revoked(id.authenticate(&access_only.access_token)));
    });
}

fn single_session_is_scoped_per_client(t: &TestDb) {
    let uid = add_user(t, "alice", 4);
    runtime().block_on(async {
        let settings = IdentitySettings {
            enforce_single_session: true,
            ..IdentitySettings::default()
        };
        let id = identity(t, settings).await;
        let (_, laptop) = id.login("alice", PASSWORD).await.unwrap();
        let client_a = id
            .issue_tokens(grant(uid, Some("a"), "http://gw.test/mcp"))
            .await
            .unwrap();
        let (_, desktop) = id.login("alice", PASSWORD).await.unwrap();
        assert!(
            revoked(id.authenticate(&laptop.access_token)),
            "same client: signed out"
        );
        assert!(id.authenticate(&desktop.access_token).is_ok());
        assert!(
            id.authenticate(&client_a.access_token).is_ok(),
            "other client untouched"
        );
        let client_a2 = id
            .issue_tokens(grant(uid, Some("a"), "http://gw.test/mcp"))
            .await
            .unwrap();
        assert!(revoked(id.authenticate(&client_a.access_token)));
        assert!(id.authenticate(&client_a2.access_token).is_ok());
        assert!(id.authenticate(&desktop.access_token).is_ok());
        // A refresh continues the family: it never signs the session itself out.
        let next = id
            .refresh(&desktop.refresh_token.unwrap(), None)
            .await
            .unwrap();
        assert!(id.authenticate(&next.access_token).is_ok());
    });
}

fn logout_and_revoke_user_reach_authenticate_at_once(t: &TestDb) {
    let uid = add_user(t, "alice", 4);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let (_, one) = id.login("alice", PASSWORD).await.unwrap();
        let (_, two) = id.login("alice", PASSWORD).await.unwrap();
        let p = id.authenticate(&one.access_token).unwrap();
        id.logout(&p, two.refresh_token.as_deref()).await.unwrap();
        assert!(revoked(id.authenticate(&one.access_token)));
        assert!(
            revoked(id.authenticate(&two.access_token)),
            "its refresh token's family"
        );
        assert!(
            id.introspect(one.refresh_token.as_deref().unwrap())
                .await
                .is_none()
        );

        let (_, three) = id.login("alice", PASSWORD).await.unwrap();
        let oauth = id
            .issue_tokens(grant(uid, Some("a"), "http://gw.test/mcp"))
            .await
            .unwrap();
        assert!(id.introspect(&oauth.access_token).await.is_some());
        assert!(
            id.introspect(oauth.refresh_token.as_deref().unwrap())
                .await
                .is_some()
        );
        let (api_token, _) = ci_token(&id, uid).await;
        assert!(id.authenticate(&api_token).is_ok());
        let ended = id.revoke_user(uid).await.unwrap();
        assert_eq!((ended.sessions, ended.api_tokens), (2, 1));
        assert!(id.authenticate(&api_token).is_err(), "the API token too");
        assert!(revoked(id.authenticate(&three.access_token)));
        assert!(revoked(id.authenticate(&oauth.access_token)));
        assert!(id.introspect(&oauth.access_token).await.is_none());
    });
}

fn api_tokens_act_as_their_user_until_revoked(t: &TestDb) {
    let uid = add_user(t, "bot", 4);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let (token, info) = ci_token(&id, uid).await;
        assert!(token.starts_with(opaque::API_TOKEN_PREFIX));
        assert!(token.starts_with(&info.prefix) && info.prefix.len() < 12);
        let p = id.authenticate(&token).unwrap();
        assert_eq!(p.user_id, uid);
        assert_eq!(p.username, "bot");
        assert_eq!(p.role, Role::User, "the user's role, never more");
        assert_eq!(p.credential, CredentialKind::ApiToken);
        assert_eq!((p.scopes, p.sid, p.audience), (None, None, None));
        assert!(id.authenticate("amk_not-a-real-token").is_err());

        t.db.run_blocking(|c| users::set_enabled(c, "bot", false))
            .unwrap();
        id.refresh_directory().await.unwrap();
        assert!(matches!(
            id.authenticate(&token),
            Err(AuthError::AccountDisabled)
        ));
        t.db.run_blocking(|c| users::set_enabled(c, "bot", true))
            .unwrap();
        id.refresh_directory().await.unwrap();
        assert!(id.authenticate(&token).is_ok());

        let listed = id.list_api_tokens(None).await.unwrap();
        assert_eq!(listed.len(), 1);
        id.revoke_api_token(info.id).await.unwrap();
        assert!(id.authenticate(&token).is_err());
        assert!(matches!(
            id.revoke_api_token(9999).await,
            Err(AuthError::NotFound(_))
        ));
        let (expiring, _) = id
            .create_api_token(NewApiTokenRequest {
                user_id: uid,
                name: "short".into(),
                expires_in: Some(Duration::from_millis(1)),
            })
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while id.authenticate(&expiring).is_ok() {
            assert!(std::time::Instant::now() < deadline, "never expired");
            tokio::task::yield_now().await;
        }
    });
}

fn static_tokens_map_to_their_user(t: &TestDb) {
    runtime().block_on(async {
        let settings = IdentitySettings {
            static_token_hashes: vec![opaque::sha256("static-token-0123456789")],
            static_tokens_user: Some("ci".into()),
            ..IdentitySettings::default()
        };
        let id = identity(t, settings).await;
        // Named but not a user yet: the token opens nothing (never a bypass).
        assert_eq!(id.missing_static_tokens_user(), Some("ci"));
        assert!(id.authenticate("static-token-0123456789").is_err());
        let uid = add_user(t, "ci", 4);
        id.refresh_directory().await.unwrap();
        assert_eq!(id.missing_static_tokens_user(), None);
        let p = id.authenticate("static-token-0123456789").unwrap();
        assert_eq!((p.user_id, p.credential), (uid, CredentialKind::ApiToken));
        assert_eq!(p.role, Role::User);
        assert!(id.authenticate("static-token-0123456780").is_err());
        t.db.run_blocking(|c| users::set_enabled(c, "ci", false))
            .unwrap();
        id.refresh_directory().await.unwrap();
        assert!(matches!(
            id.authenticate("static-token-0123456789"),
            Err(AuthError::AccountDisabled)
        ));
    });
}

fn registration_checks_rules_and_duplicates(t: &TestDb) {
    add_user(t, "taken", 4);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let weak = id
            .register(Registration {
                username: "new user!".into(),
                email: "nope".into(),
                password: "short".into(),
            })
            .await
            .unwrap_err();
        let AuthError::InvalidAccount(problems) = weak else {
            panic!("{weak:?}")
        };
        assert!(problems.iter().any(|p| p.starts_with("username")));
        assert!(problems.iter().any(|p| p.starts_with("email")));
        assert!(problems.iter().any(|p| p.contains("at least 8")));
        let dup = id
            .register(Registration {
                username: "taken".into(),
                email: "t@example.test".into(),
                password: PASSWORD.into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(dup, AuthError::Conflict(_)), "{dup:?}");
        let user = id
            .register(Registration {
                username: "newbie".into(),
                email: "n@example.test".into(),
                password: PASSWORD.into(),
            })
            .await
            .unwrap();
        assert_eq!(user.role, Role::User);
        let (_, tokens) = id.login("newbie", PASSWORD).await.unwrap();
        assert!(id.authenticate(&tokens.access_token).is_ok());
    });
}

fn every_creation_refuses_an_email_in_use(t: &TestDb) {
    add_user(t, "first", 4); // x@example.test
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let in_use = |err: AuthError| match err {
            AuthError::Conflict(m) => {
                assert_eq!(
                    m,
                    "email `X@Example.TEST` is already the address of another account"
                );
            }
            other => panic!("{other:?}"),
        };
        let registration = |username: &str| Registration {
            username: username.into(),
            email: " X@Example.TEST ".into(),
            password: PASSWORD.into(),
        };
        in_use(id.register(registration("r")).await.unwrap_err());
        in_use(
            id.create_account(NewAccount {
                username: "a".into(),
                email: "X@Example.TEST".into(),
                password: PASSWORD.into(),
                role: Role::Admin,
            })
            .await
            .unwrap_err(),
        );
        in_use(id.create_first_admin(registration("w")).await.unwrap_err());
        assert_eq!(id.users().await.unwrap().len(), 1);
        let admin = id
            .create_first_admin(Registration {
                email: "w@example.test".into(),
                ..registration("w")
            })
            .await
            .unwrap();
        assert_eq!(admin.role, Role::Admin);
        let late = id
            .create_first_admin(Registration {
                email: "late@example.test".into(),
                ..registration("late")
            })
            .await
            .unwrap_err();
        assert!(matches!(late, AuthError::AdministratorExists), "{late:?}");
    });
}

/// An external issuer's user whose email a local account already has gets an account without
/// one (never the other account's address, never a refusal); a free address is kept.
fn provisioning_never_takes_an_email_in_use(t: &TestDb) {
    add_user(t, "first", 4); // x@example.test
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let clash = id
            .provision_external_user("ext-a", Some("X@Example.TEST"), Role::User)
            .await
            .unwrap();
        assert_eq!(clash.email, "");
        let free = id
            .provision_external_user("ext-b", Some("b@example.test"), Role::User)
            .await
            .unwrap();
        assert_eq!(free.email, "b@example.test");
        let none = id
            .provision_external_user("ext-c", None, Role::User)
            .await
            .unwrap();
        assert_eq!(none.email, "");
        assert_eq!(id.users().await.unwrap().len(), 4);
    });
}

fn login_rehashes_a_password_of_another_cost(t: &TestDb) {
    add_user(t, "old", 5);
    runtime().block_on(async {
        let id = identity(t, IdentitySettings::default()).await;
        let before =
            t.db.run_blocking(|c| users::find_by_username(c, "old"))
                .unwrap()
                .unwrap();
        assert!(before.password_hash.starts_with("$2b$05$"));
        id.login("old", PASSWORD).await.unwrap();
        let after =
            t.db.run_blocking(|c| users::find_by_username(c, "old"))
                .unwrap()
                .unwrap();
        assert!(after.password_hash.starts_with("$2b$04$"), "{after:?}");
        id.login("old", PASSWORD).await.unwrap();
    });
}

crate::on_both_backends!(
    refresh_rotates_and_reuse_revokes_the_family,
    a_retry_within_the_grace_window_gets_a_fresh_pair,
    refresh_tokens_are_bound_to_their_client,
    single_session_is_scoped_per_client,
    logout_and_revoke_user_reach_authenticate_at_once,
    api_tokens_act_as_their_user_until_revoked,
    static_tokens_map_to_their_user,
    registration_checks_rules_and_duplicates,
    every_creation_refuses_an_email_in_use,
    provisioning_never_takes_an_email_in_use,
    login_rehashes_a_password_of_another_cost,
);

mod housekeeping {
    use actors::storage::tokens::{self, NewFamily, NewRefreshToken};
    use actors::storage::unix_ms_now;

    use crate::fixture::TestDb;

    fn family(t: &TestDb, sid: &str, user_id: i64, expires_at_ms: i64) {
        t.db.run_blocking(|c| {
            tokens::create_family(
                c,
                &NewFamily {
                    sid,
                    user_id,
                    client_id: None,
                    expires_at_ms,
                },
            )?;
            tokens::insert_refresh_token(
                c,
                &NewRefreshToken {
                    token_hash: &format!("{sid}-hash"),
                    family_id: sid,
                    user_id,
                    client_id: None,
                    scope: None,
                    resource: "http://gw.test/mcp",
                    expires_at_ms,
                },
            )
            .map(|_| ())
        })
        .unwrap();
    }

    /// Expired families and refresh tokens are deleted; live ones and their revocations stay.
    fn prune_and_revocation_window(t: &TestDb) {
        let uid = super::add_user(t, "alice", 4);
        let now = unix_ms_now();
        family(t, "old", uid, now - 1_000);
        family(t, "live", uid, now + 600_000);
        let removed = t.db.run_blocking(|c| tokens::prune(c, now)).unwrap();
        assert_eq!(removed, 2, "the old family and its refresh token");
        let live =
            t.db.run_blocking(|c| tokens::find_refresh_token(c, "live-hash"))
                .unwrap();
        assert!(live.is_some());
        assert!(
            t.db.run_blocking(|c| tokens::find_refresh_token(c, "old-hash"))
                .unwrap()
                .is_none()
        );

        let before = t.db.run_blocking(tokens::revocations_revision).unwrap();
        assert!(
            t.db.run_blocking(|c| tokens::revoke_family(c, "live"))
                .unwrap()
        );
        assert!(
            !t.db
                .run_blocking(|c| tokens::revoke_family(c, "live"))
                .unwrap()
        );
        assert!(t.db.run_blocking(tokens::revocations_revision).unwrap() > before);
        let recent =
            t.db.run_blocking(|c| tokens::revoked_families(c, now - 60_000))
                .unwrap();
        assert_eq!(recent, vec!["live".to_string()]);
        let later =
            t.db.run_blocking(|c| tokens::revoked_families(c, unix_ms_now() + 1))
                .unwrap();
        assert!(later.is_empty(), "older revocations age out of the window");
    }

    crate::on_both_backends!(prune_and_revocation_window);
}
