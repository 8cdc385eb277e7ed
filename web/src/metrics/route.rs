//! `GET /metrics`: the Prometheus (OpenMetrics text) exposition.
//!
//! Who may scrape: an administrator (login or API token; `authn` refuses OAuth clients' tokens
//! here) or a scraper presenting `metrics.scrape_token`, which `authn` recognises and marks with
//! [`Scraper`]. A user without the admin role gets 403; nobody else gets anything.

use actix_web::http::header::ContentType;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::authn::Caller;
use crate::error::WebError;
use crate::state::AppState;

/// Put into the request extensions by `authn` when the bearer token is the scrape token.
#[derive(Debug, Clone, Copy)]
pub struct Scraper;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    if !state.metrics.settings().enabled {
        return Ok(crate::not_found(req).await);
    }
    let scraper = req.extensions().get::<Scraper>().is_some();
    if !scraper {
        match req.extensions().get::<Caller>() {
            Some(Caller::User(p)) if p.is_admin() => {}
            Some(Caller::User(_)) => {
                return Err(WebError::Forbidden(
                    "Metrics need an administrator's account or the scrape token (metrics.scrape_token)."
                        .into(),
                ));
            }
            // Also with auth.required = false: the numbers describe every user's traffic.
            Some(Caller::Anonymous) | None => {
                return Err(WebError::Unauthorized {
                    detail: "Metrics need an administrator's bearer token or the scrape token \
                             (metrics.scrape_token)."
                        .into(),
                    invalid_token: false,
                    resource_metadata: state.settings.load().resource_metadata_url(),
                });
            }
        }
    }
    let body = state
        .metrics
        .render()
        .map_err(|e| WebError::Internal(format!("could not encode the metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType(
            OPENMETRICS
                .parse()
                .map_err(|_| WebError::Internal("bad metrics content type".into()))?,
        ))
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(scrape)));
}
