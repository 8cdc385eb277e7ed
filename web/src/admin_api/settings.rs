//! The effective configuration, for administrators:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/settings` | the configuration in force (after the last SIGHUP reload) as JSON, every secret masked |
//!
//! The binary renders the view (this crate cannot see its config types) into
//! [`AppState::config_view`] at start and on each reload; secrets are masked there (the JWT
//! secret, passwords in URLs, backend credentials, header values, the DCR and scrape tokens).
//! Where each value came from is not recorded by the loader; `sources` says so.

use actix_web::{HttpRequest, HttpResponse, get, web};

use super::{AdminApiError, admin_caller};
use crate::state::AppState;

#[get("/admin/api/settings")]
async fn settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let _admin = admin_caller(&req, &state)?;
    let view = state.config_view.load_full();
    if view.is_null() {
        return Err(AdminApiError::Unavailable(
            "The gateway is still starting; retry in a moment.".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(view.as_ref()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(settings);
}
