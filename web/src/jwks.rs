//! `GET /.well-known/jwks.json`: the public keys that verify this gateway's tokens (RFC 7517),
//! the active key first, then previous keys still in rotation. With HS256 there is nothing to
//! publish (the secret is never shown): `{"keys": []}`.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        // Clients cache it; a rotation is announced by a new kid, which makes them refetch.
        .insert_header(("cache-control", "public, max-age=300"))
        .json(state.identity.signing_keys().jwks())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(jwks);
}
