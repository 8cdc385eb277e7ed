//! Discovery documents: where MCP clients learn how to get a token.
//!
//! - RFC 9728 protected-resource metadata for `/mcp` and for each `/mcp/{server}` (its own
//!   `resource`, 404 for a backend that does not exist), plus the root variant older clients use.
//! - RFC 8414 authorization-server metadata at `/.well-known/oauth-authorization-server`, with
//!   the path-suffixed variants clients derive from the resource path.
//! - OpenID Connect discovery at `/.well-known/openid-configuration`, its path-suffixed and
//!   path-prefixed variants, and the original gateway's alias under `/oauth/token/`.
//!
//! `issuer` is the public URL without a trailing slash in every document, and it is the one entry
//! of every `authorization_servers` list, so a client that validates the issuer against the URL
//! it derived the metadata location from always finds them equal. The documents change only on
//! restart (the per-server ones when backends change), so caches may keep them a few minutes.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use actors::auth::client_metadata::{AuthMethod, GrantType};
use actors::auth::scopes;

use crate::state::{AppState, WebSettings};

const CACHE: &str = "public, max-age=300";

/// `/.well-known/oauth-protected-resource/mcp` (and the root variant): the aggregated endpoint.
async fn protected_resource_mcp(state: web::Data<AppState>) -> HttpResponse {
    let settings = state.settings.load();
    cached(resource_document(
        &settings,
        &format!("{}/mcp", settings.public_url),
        "authmcp-gateway",
    ))
}

/// `/.well-known/oauth-protected-resource/mcp/{server}`: one backend's endpoint. Answered from
/// the supervisor's status snapshot (no database, no actor call).
async fn protected_resource_server(
    state: web::Data<AppState>,
    server: web::Path<String>,
) -> HttpResponse {
    let Some(gateway) = state.gateway.get() else {
        return HttpResponse::ServiceUnavailable()
            .insert_header(("cache-control", "no-store"))
            .json(json!({ "error": "not_ready", "detail": "The gateway is starting; retry shortly." }));
    };
    let server = server.into_inner();
    if !gateway.statuses().iter().any(|s| s.name == server) {
        return HttpResponse::NotFound()
            .insert_header(("cache-control", "no-store"))
            .json(json!({
                "error": "not_found",
                "detail": format!("No backend named `{server}` is configured, so /mcp/{server} is not a protected resource here."),
            }));
    }
    let settings = state.settings.load();
    let resource = format!("{}/mcp/{server}", settings.public_url);
    cached(resource_document(
        &settings,
        &resource,
        &format!("authmcp-gateway: {server}"),
    ))
}

async fn authorization_server(state: web::Data<AppState>) -> HttpResponse {
    cached(authorization_server_document(&state))
}

async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    cached(openid_document(&state))
}

fn cached(document: Map<String, Value>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", CACHE))
        .json(document)
}

/// RFC 9728: this gateway's authorization server first (unless `oauth.enabled = false`), then
/// the configured external issuers.
fn resource_document(settings: &WebSettings, resource: &str, name: &str) -> Map<String, Value> {
    let doc = json!({
        "resource": resource,
        "authorization_servers": settings.authorization_servers(),
        "scopes_supported": scopes::resource_scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    });
    into_map(doc)
}

/// RFC 8414 §2, with MCP's additions (CIMD support, RFC 9207 `iss`).
fn authorization_server_document(state: &AppState) -> Map<String, Value> {
    let issuer = state.settings.load().public_url.clone();
    let oauth = &state.oauth.settings;
    let mut grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    if state.oauth.authorization.settings().password_grant_enabled {
        grants.push("password");
    }
    let client_auth: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_auth: Vec<&str> = AuthMethod::ALL
        .iter()
        .filter(|m| m.is_confidential())
        .map(|m| m.as_str())
        .collect();
    let mut doc = into_map(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "scopes_supported": scopes::supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": confidential_auth,
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": oauth.cimd_enabled,
    }));
    if state.settings.load().dcr_enabled {
        doc.insert(
            "registration_endpoint".into(),
            json!(format!("{issuer}/oauth/register")),
        );
    }
    doc
}

/// OpenID Connect Discovery 1.0 §3: the same server, plus the fields OIDC requires.
fn openid_document(state: &AppState) -> Map<String, Value> {
    let mut doc = authorization_server_document(state);
    doc.insert("subject_types_supported".into(), json!(["public"]));
    doc.insert(
        "id_token_signing_alg_values_supported".into(),
        json!([state.oauth.settings.id_token_signing_alg]),
    );
    doc.insert(
        "claims_supported".into(),
        json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "preferred_username",
            "email"
        ]),
    );
    doc
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get = web::get;
    cfg.route(
        "/.well-known/oauth-protected-resource",
        get().to(protected_resource_mcp),
    )
    .route(
        "/.well-known/oauth-protected-resource/mcp",
        get().to(protected_resource_mcp),
    )
    .route(
        "/.well-known/oauth-protected-resource/mcp/{server}",
        get().to(protected_resource_server),
    );
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/oauth-authorization-server/mcp/{server}",
    ] {
        cfg.route(path, get().to(authorization_server));
    }
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration/mcp",
        "/.well-known/openid-configuration/mcp/{server}",
        "/mcp/.well-known/openid-configuration",
        "/oauth/token/.well-known/openid-configuration",
    ] {
        cfg.route(path, get().to(openid_configuration));
    }
}
