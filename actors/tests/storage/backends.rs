//! The `backends` and `backend_credentials` tables through `actors::storage::backends`, with
//! credentials sealed by a real `SecretBox`.

use actors::secrets::{SecretBox, SecretsError};
use actors::storage::StorageError;
use actors::storage::backends::{self, BackendRecord, StoredCredential};
use diesel::RunQueryDsl;

use crate::fixture::TestDb;

const TOKEN: &str = "backend-token-7f3a9c";

fn record(name: &str, secrets: Option<&SecretBox>) -> BackendRecord {
    BackendRecord {
        name: name.to_string(),
        display_name: None,
        transport: "streamable-http".to_string(),
        url: Some("http://127.0.0.1:9/mcp".to_string()),
        tool_prefix: None,
        enabled: true,
        timeout_ms: 30_000,
        health_interval_s: 30,
        credential: secrets.map(|s| StoredCredential {
            auth_type: "bearer".to_string(),
            auth_header: None,
            token: s.seal(TOKEN),
        }),
        oauth: None,
    }
}

fn create_list_replace_delete(t: &TestDb) {
    let secrets = SecretBox::new(&[3; 32]);
    t.db.run_blocking(|c| {
        let before = backends::revision(c)?;
        let plain = backends::create(c, &record("plain", None))?;
        let with_token = backends::create(c, &record("secured", Some(&secrets)))?;
        assert!(with_token.id > plain.id);
        assert!(backends::revision(c)? > before, "writes bump the revision");
        assert_eq!(plain.record, record("plain", None));
        assert!(plain.created_at_ms > 1_700_000_000_000);
        let credential = with_token
            .record
            .credential
            .clone()
            .expect("stored credential");
        assert_eq!(secrets.open(&credential.token).unwrap().expose(), TOKEN);

        let all = backends::list(c)?;
        assert_eq!(all, vec![plain.clone(), with_token.clone()]);
        assert_eq!(backends::find(c, with_token.id)?, Some(with_token.clone()));
        assert_eq!(backends::find(c, 999_999)?, None);

        // Replace: new name and settings, credential removed.
        let mut changed = record("renamed", None);
        changed.display_name = Some("Renamed — for people".into());
        changed.transport = "sse".into();
        changed.tool_prefix = Some(String::new());
        changed.enabled = false;
        changed.timeout_ms = 1500;
        let replaced = backends::replace(c, with_token.id, &changed)?;
        assert_eq!(replaced.record, changed, "the display name is stored too");
        assert_eq!(backends::find(c, with_token.id)?.unwrap().record, changed);
        assert_eq!(replaced.created_at_ms, with_token.created_at_ms);
        let count: i64 = actors_count_credentials(c);
        assert_eq!(count, 0, "the credential row went with the change");

        let removed = backends::delete(c, plain.id)?;
        assert_eq!(removed.record.name, "plain");
        assert_eq!(backends::list(c)?.len(), 1);
        Ok(())
    })
    .expect("backend round trip");
}

fn actors_count_credentials(c: &mut actors::storage::DbConn) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT COUNT(*) AS n FROM backend_credentials")
        .get_result::<Count>(c)
        .expect("count")
        .n
}

fn names_are_unique_and_missing_rows_are_reported(t: &TestDb) {
    t.db.run_blocking(|c| {
        let first = backends::create(c, &record("one", None))?;
        let other = backends::create(c, &record("two", None))?;
        match backends::create(c, &record("one", None)) {
            Err(StorageError::Conflict(m)) => assert!(m.contains("`one` already exists"), "{m}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        match backends::replace(c, other.id, &record("one", None)) {
            Err(StorageError::Conflict(m)) => assert!(m.contains("`one`"), "{m}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(matches!(
            backends::replace(c, 424_242, &record("x", None)),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            backends::delete(c, 424_242),
            Err(StorageError::NotFound(_))
        ));
        assert_eq!(backends::find(c, first.id)?.unwrap().record.name, "one");
        Ok(())
    })
    .expect("constraints");
}

/// The token is nowhere in the stored row; a different key gets a clear error, not garbage.
fn stored_ciphertext_hides_the_token_and_needs_the_key(t: &TestDb) {
    let secrets = SecretBox::new(&[9; 32]);
    let stored =
        t.db.run_blocking(|c| backends::create(c, &record("sealed", Some(&secrets))))
            .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Raw {
        #[diesel(sql_type = diesel::sql_types::Text)]
        token_ciphertext: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        token_nonce: String,
    }
    let raw =
        t.db.run_blocking(|c| {
            Ok(
                diesel::sql_query("SELECT token_ciphertext, token_nonce FROM backend_credentials")
                    .get_result::<Raw>(c)?,
            )
        })
        .unwrap();
    assert!(!raw.token_ciphertext.contains(TOKEN));
    assert!(!raw.token_ciphertext.contains("7f3a9c"));
    assert!(!raw.token_nonce.is_empty());

    let token = stored.record.credential.unwrap().token;
    let wrong = SecretBox::new(&[10; 32]);
    let error = wrong.open(&token).unwrap_err();
    assert!(matches!(error, SecretsError::WrongKey));
    assert!(
        error.to_string().contains("different secrets key"),
        "{error}"
    );
}

/// OAuth credentials and rotated refresh tokens are stored sealed, and one re-seal moves every
/// secret (static tokens, client secrets, configured and rotated refresh tokens) to a new key.
fn oauth_rows_and_token_state_are_sealed_and_resealed(t: &TestDb) {
    use actors::storage::backend_token_state::{self as token_state, StoredTokenState};
    use actors::storage::backends::StoredOAuth;
    let old = SecretBox::new(&[4; 32]);
    let new = SecretBox::new(&[5; 32]);
    let mut oauth_backend = record("oauth", None);
    oauth_backend.oauth = Some(StoredOAuth {
        grant: "refresh_token".into(),
        token_url: Some("https://as.example/token".into()),
        client_id: "gw".into(),
        client_secret: Some(old.seal("client-secret-1")),
        scope: Some("mcp".into()),
        resource: None,
        refresh_token: Some(old.seal("rt-configured")),
    });
    t.db.run_blocking(|c| {
        assert!(!backends::has_credentials(c)?);
        let stored = backends::create(c, &oauth_backend)?;
        assert_eq!(stored.record, oauth_backend);
        assert_eq!(backends::list(c)?[0].record.oauth, oauth_backend.oauth);
        assert!(backends::has_credentials(c)?);
        backends::create(c, &record("static", Some(&old)))?;
        assert_eq!(token_state::find(c, "file-backend")?, None);
        let state = StoredTokenState {
            configured_fingerprint: "f".repeat(64),
            refresh_token: old.seal("rt-rotated-2"),
        };
        token_state::save(c, "file-backend", &state)?;
        token_state::save(c, "file-backend", &state)?;
        assert_eq!(token_state::find(c, "file-backend")?, Some(state));

        let count = backends::reseal_credentials(c, |s| actors::secrets::reseal(&old, &new, s))?;
        assert_eq!(
            count, 4,
            "static token, client secret, configured and rotated tokens"
        );
        let oauth = backends::find(c, stored.id)?.unwrap().record.oauth.unwrap();
        for (sealed, clear) in [
            (oauth.client_secret.unwrap(), "client-secret-1"),
            (oauth.refresh_token.unwrap(), "rt-configured"),
            (
                token_state::find(c, "file-backend")?.unwrap().refresh_token,
                "rt-rotated-2",
            ),
        ] {
            assert!(old.open(&sealed).is_err());
            assert_eq!(new.open(&sealed).unwrap().expose(), clear);
        }
        // A renamed backend keeps its latest token; a deleted one takes it (and its OAuth row)
        // along.
        let state = StoredTokenState {
            configured_fingerprint: "e".repeat(64),
            refresh_token: new.seal("rt-of-oauth"),
        };
        token_state::save(c, "oauth", &state)?;
        let mut renamed = backends::find(c, stored.id)?.unwrap().record;
        renamed.name = "oauth-renamed".into();
        backends::replace(c, stored.id, &renamed)?;
        assert_eq!(token_state::find(c, "oauth")?, None);
        assert_eq!(token_state::find(c, "oauth-renamed")?, Some(state));
        backends::delete(c, stored.id)?;
        assert_eq!(token_state::find(c, "oauth-renamed")?, None);
        let oauth_rows = backends::list(c)?
            .into_iter()
            .filter(|b| b.record.oauth.is_some())
            .count();
        assert_eq!(oauth_rows, 0);
        assert!(token_state::find(c, "file-backend")?.is_some());
        Ok(())
    })
    .expect("OAuth rows");
}

crate::on_both_backends!(
    oauth_rows_and_token_state_are_sealed_and_resealed,
    create_list_replace_delete,
    names_are_unique_and_missing_rows_are_reported,
    stored_ciphertext_hides_the_token_and_needs_the_key,
);
