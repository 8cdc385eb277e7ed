//! RFC 9728 protected-resource metadata for `/mcp`. Minimal for now: the OAuth issue adds scopes
//! and the authorization server's own metadata.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::AppState;

#[get("/.well-known/oauth-protected-resource/mcp")]
async fn protected_resource_mcp(state: web::Data<AppState>) -> HttpResponse {
    document(&state)
}

/// Clients that strip the path (older SDKs) look here.
#[get("/.well-known/oauth-protected-resource")]
async fn protected_resource_root(state: web::Data<AppState>) -> HttpResponse {
    document(&state)
}

fn document(state: &AppState) -> HttpResponse {
    let settings = state.settings.load();
    HttpResponse::Ok().json(json!({
        "resource": format!("{}/mcp", settings.public_url),
        "authorization_servers": settings.authorization_servers(),
        "bearer_methods_supported": ["header"],
        "resource_name": "authmcp-gateway",
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(protected_resource_mcp)
        .service(protected_resource_root);
}
