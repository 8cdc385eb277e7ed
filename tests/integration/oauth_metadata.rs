//! Discovery documents: every metadata URL names the same issuer, the authorization server
//! metadata has what MCP clients (and the TypeScript SDK's schemas) require, and each backend
//! has protected-resource metadata with its own `resource`.

use serde_json::Value;

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;

const AS_PATHS: &[&str] = &[
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/oauth-authorization-server/mcp/alpha",
];
const OIDC_PATHS: &[&str] = &[
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
    "/oauth/token/.well-known/openid-configuration",
];

async fn fetch(gw: &TestGateway, path: &str) -> Value {
    let reply = http::get(&gw.url(path), None).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    assert!(
        reply
            .header("cache-control")
            .is_some_and(|c| c.contains("max-age")),
        "{path} has no cache lifetime"
    );
    reply.body
}

fn strings(doc: &Value, field: &str) -> Vec<String> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is not a list in {doc}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[actix_rt::test]
async fn every_metadata_document_names_the_same_issuer() {
    let backend = HttpFixture::start(1);
    let gw = TestGateway::start(&format!(
        "[[backends]]\nname = \"alpha\"\nurl = \"{}\"\nhealth_interval_s = 60\n",
        backend.url()
    ))
    .await;
    let issuer = gw.base_url.clone();
    assert!(!issuer.ends_with('/'));

    for path in AS_PATHS.iter().chain(OIDC_PATHS) {
        let doc = fetch(&gw, path).await;
        assert_eq!(doc["issuer"], issuer.as_str(), "{path}");
        assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
        assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth/token"));
        assert_eq!(
            doc["registration_endpoint"],
            format!("{issuer}/oauth/register")
        );
        assert_eq!(doc["revocation_endpoint"], format!("{issuer}/oauth/revoke"));
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{issuer}/oauth/introspect")
        );
        assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(strings(&doc, "response_types_supported"), ["code"]);
        assert_eq!(strings(&doc, "response_modes_supported"), ["query"]);
        assert_eq!(strings(&doc, "code_challenge_methods_supported"), ["S256"]);
        assert_eq!(
            strings(&doc, "grant_types_supported"),
            ["authorization_code", "refresh_token", "client_credentials"]
        );
        assert_eq!(
            strings(&doc, "token_endpoint_auth_methods_supported"),
            ["none", "client_secret_basic", "client_secret_post"]
        );
        assert!(
            strings(&doc, "revocation_endpoint_auth_methods_supported").contains(&"none".into())
        );
        assert!(
            !strings(&doc, "introspection_endpoint_auth_methods_supported")
                .contains(&"none".into())
        );
        let scopes = strings(&doc, "scopes_supported");
        for scope in [
            "mcp",
            "mcp:tools",
            "mcp:prompts",
            "mcp:resources",
            "openid",
            "profile",
            "email",
            "offline_access",
        ] {
            assert!(scopes.contains(&scope.to_string()), "{path} lacks {scope}");
        }
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["client_id_metadata_document_supported"], true);
    }
    for path in OIDC_PATHS {
        // What OpenID Connect Discovery (and the SDK's OpenIdProviderMetadataSchema) require.
        let doc = fetch(&gw, path).await;
        assert_eq!(
            strings(&doc, "subject_types_supported"),
            ["public"],
            "{path}"
        );
        assert_eq!(
            strings(&doc, "id_token_signing_alg_values_supported"),
            ["HS256"]
        );
        assert!(strings(&doc, "claims_supported").contains(&"sub".into()));
    }

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let prm = fetch(&gw, path).await;
        assert_eq!(prm["resource"], format!("{issuer}/mcp"), "{path}");
        assert_eq!(strings(&prm, "authorization_servers"), [issuer.as_str()]);
        assert_eq!(strings(&prm, "bearer_methods_supported"), ["header"]);
        assert_eq!(
            strings(&prm, "scopes_supported"),
            ["mcp", "mcp:tools", "mcp:prompts", "mcp:resources"]
        );
    }
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn each_backend_has_its_own_protected_resource_metadata() {
    let backend = HttpFixture::start(1);
    let gw = TestGateway::start(&format!(
        "[[backends]]\nname = \"alpha\"\nurl = \"{}\"\nhealth_interval_s = 60\n",
        backend.url()
    ))
    .await;
    gw.wait_online(1).await;
    let issuer = gw.base_url.clone();
    let prm = fetch(&gw, "/.well-known/oauth-protected-resource/mcp/alpha").await;
    assert_eq!(prm["resource"], format!("{issuer}/mcp/alpha"));
    assert_eq!(strings(&prm, "authorization_servers"), [issuer.as_str()]);
    assert_eq!(prm["resource_name"], "authmcp-gateway: alpha");

    let unknown = http::get(
        &gw.url("/.well-known/oauth-protected-resource/mcp/nope"),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body["detail"].as_str().unwrap().contains("nope"));
    assert_eq!(unknown.header("cache-control").as_deref(), Some("no-store"));
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn switches_show_in_the_metadata() {
    let gw = TestGateway::start("[oauth]\ndcr_enabled = false\ncimd_enabled = false\n").await;
    for path in AS_PATHS[..2].iter().chain(OIDC_PATHS) {
        let doc = fetch(&gw, path).await;
        assert!(doc.get("registration_endpoint").is_none(), "{path}: {doc}");
        assert_eq!(
            doc["client_id_metadata_document_supported"], false,
            "{path}"
        );
    }
    gw.stop().await.unwrap();
}
