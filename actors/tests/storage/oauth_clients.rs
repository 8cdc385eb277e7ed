//! The client registry (`actors::auth::clients`) over the `oauth_clients` table.

use actors::auth::client_metadata::{self, AuthMethod, ClientSource, GrantType};
use actors::auth::clients::{ClientError, ClientRegistry};
use serde_json::json;

use crate::fixture::TestDb;

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn metadata(auth: &str) -> client_metadata::ClientMetadata {
    client_metadata::validate(
        &json!({
            "client_name": "Storage test",
            "redirect_uris": ["http://127.0.0.1/cb", "https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": auth,
            "scope": "mcp openid",
            "logo_uri": "https://app.example.com/logo.png",
        }),
        false,
    )
    .unwrap()
}

fn register_get_update_delete(t: &TestDb) {
    let registry = ClientRegistry::new(t.db.clone(), 100);
    block_on(async {
        let reg = registry
            .register(metadata("none"), ClientSource::Dcr)
            .await
            .unwrap();
        let id = reg.client.client_id.clone();
        assert!(reg.client_secret.is_none());
        let token = reg.registration_access_token.clone().unwrap();
        let got = registry.get(&id).await.unwrap().unwrap();
        assert_eq!(got, reg.client);
        assert_eq!(
            got.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(got.scope.as_deref(), Some("mcp openid"));
        assert_eq!(got.metadata["logo_uri"], "https://app.example.com/logo.png");
        assert_eq!(got.source, ClientSource::Dcr);
        assert_eq!(got.last_used_at_ms, None);

        // The registration token is checked against its digest only.
        assert!(
            registry
                .check_registration_token(&id, Some(&token))
                .await
                .is_ok()
        );
        for wrong in [None, Some("x"), Some(&token[1..])] {
            assert!(matches!(
                registry.check_registration_token(&id, wrong).await,
                Err(ClientError::InvalidRegistrationToken)
            ));
        }

        registry.touch_last_used(&id).await.unwrap();
        let used = registry.get(&id).await.unwrap().unwrap();
        assert!(used.last_used_at_ms.unwrap() >= used.created_at_ms);

        let mut changed = metadata("none");
        changed.client_name = Some("Renamed".into());
        let updated = registry.update(&id, changed).await.unwrap();
        assert_eq!(updated.client_name.as_deref(), Some("Renamed"));
        assert_eq!(updated.created_at_ms, used.created_at_ms);
        assert!(
            registry
                .check_registration_token(&id, Some(&token))
                .await
                .is_ok(),
            "token kept"
        );
        assert!(matches!(
            registry.update(&id, metadata("client_secret_post")).await,
            Err(ClientError::Metadata(_))
        ));

        registry.delete(&id).await.unwrap();
        assert!(registry.get(&id).await.unwrap().is_none());
        assert!(matches!(
            registry.delete(&id).await,
            Err(ClientError::NotFound(_))
        ));
    });
}

fn confidential_clients_authenticate_with_their_secret_and_method(t: &TestDb) {
    let registry = ClientRegistry::new(t.db.clone(), 100);
    block_on(async {
        let reg = registry
            .register(metadata("client_secret_basic"), ClientSource::Dcr)
            .await
            .unwrap();
        let id = &reg.client.client_id;
        let secret = reg.client_secret.as_deref().unwrap();
        let basic = AuthMethod::ClientSecretBasic;
        assert!(
            registry
                .authenticate_client(id, Some(secret), basic)
                .await
                .is_ok()
        );
        for (presented, method) in [
            (Some("nope"), basic),
            (None, basic),
            // Only the registered method is accepted.
            (Some(secret), AuthMethod::ClientSecretPost),
            (None, AuthMethod::None),
        ] {
            assert!(matches!(
                registry.authenticate_client(id, presented, method).await,
                Err(ClientError::InvalidClient)
            ));
        }
        assert!(matches!(
            registry
                .authenticate_client("unknown", Some(secret), AuthMethod::ClientSecretBasic)
                .await,
            Err(ClientError::InvalidClient)
        ));
        // A public client must not present a secret.
        let public = registry
            .register(metadata("none"), ClientSource::Dcr)
            .await
            .unwrap();
        let pid = &public.client.client_id;
        assert!(
            registry
                .authenticate_client(pid, None, AuthMethod::None)
                .await
                .is_ok()
        );
        assert!(
            registry
                .authenticate_client(pid, Some("x"), AuthMethod::None)
                .await
                .is_err()
        );
    });
}

fn the_cap_counts_every_client_and_lists_are_ordered(t: &TestDb) {
    let registry = ClientRegistry::new(t.db.clone(), 2);
    block_on(async {
        let a = registry
            .register(metadata("none"), ClientSource::Dcr)
            .await
            .unwrap();
        let doc_id = "https://client.example.com/meta.json";
        let doc = registry
            .upsert_document_client(doc_id, metadata("none"))
            .await
            .unwrap();
        assert_eq!(doc.client_id, doc_id);
        assert_eq!(doc.source, ClientSource::Cimd);
        // Refreshing a document client replaces it in place (no new row).
        let mut renamed = metadata("none");
        renamed.client_name = Some("v2".into());
        let doc = registry
            .upsert_document_client(doc_id, renamed)
            .await
            .unwrap();
        assert_eq!(doc.client_name.as_deref(), Some("v2"));
        assert!(matches!(
            registry.register(metadata("none"), ClientSource::Dcr).await,
            Err(ClientError::TooManyClients(2))
        ));
        let ids: Vec<String> = registry
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&a.client.client_id) && ids.contains(&doc_id.to_string()));
    });
}

crate::on_both_backends!(
    register_get_update_delete,
    confidential_clients_authenticate_with_their_secret_and_method,
    the_cap_counts_every_client_and_lists_are_ordered,
);
