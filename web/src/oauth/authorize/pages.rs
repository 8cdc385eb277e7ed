//! The login, consent and error pages: plain HTML forms that work without JavaScript, rendered
//! from tera templates compiled into the binary (`templates/oauth/`), with one small embedded
//! stylesheet allowed by its hash. Every page forbids framing (clickjacking), caching and any
//! script, and lets forms post only to this gateway — and, because a browser applies
//! `form-action` to the redirect that follows a form, to the client's redirect origin.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tera::{Context, Tera};

const CSS: &str = include_str!("../../../../templates/oauth/authorize.css");

static TEMPLATES: LazyLock<Tera> = LazyLock::new(|| {
    let mut tera = Tera::default();
    tera.add_raw_templates(vec![
        (
            "oauth/base.html",
            include_str!("../../../../templates/oauth/base.html"),
        ),
        (
            "oauth/login.html",
            include_str!("../../../../templates/oauth/login.html"),
        ),
        (
            "oauth/consent.html",
            include_str!("../../../../templates/oauth/consent.html"),
        ),
        (
            "oauth/error.html",
            include_str!("../../../../templates/oauth/error.html"),
        ),
    ])
    .expect("the compiled-in OAuth templates parse (checked by a test)");
    tera
});

/// `'sha256-…'` of the stylesheet, as CSP wants it for an inline `<style>`.
static CSS_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(CSS.as_bytes()))
    )
});

/// The origin a form's redirect may go to: `scheme://host[:port]` for http(s), or the scheme
/// alone for a native app's private-use scheme (`com.example.app:`).
pub fn redirect_origin(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// A page with the security headers; `form_target` is the redirect origin forms may lead to.
fn page(
    status: StatusCode,
    template: &str,
    context: &mut Context,
    form_target: Option<&str>,
) -> HttpResponse {
    context.insert("css", CSS);
    let html = match TEMPLATES.render(template, context) {
        Ok(html) => html,
        Err(_) => {
            return HttpResponse::InternalServerError()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("The page could not be rendered.");
        }
    };
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'none'".to_string(),
    };
    let csp = format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; \
         base-uri 'none'",
        *CSS_HASH
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub request: &'a str,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
    pub redirect_origin: Option<&'a str>,
}

pub fn login(status: StatusCode, p: &LoginPage<'_>) -> HttpResponse {
    let mut c = Context::new();
    c.insert("client_name", p.client_name);
    c.insert("request", p.request);
    c.insert("csrf_token", p.csrf_token);
    c.insert("error", &p.error);
    page(status, "oauth/login.html", &mut c, p.redirect_origin)
}

#[derive(serde::Serialize)]
pub struct ScopeLine {
    pub name: &'static str,
    pub description: &'static str,
}

pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    /// For a metadata-document client: the host that published it.
    pub client_host: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub resource: &'a str,
    pub scopes: Vec<ScopeLine>,
    pub username: &'a str,
    pub request: &'a str,
    pub csrf_token: &'a str,
    pub redirect_origin: Option<&'a str>,
}

pub fn consent(p: &ConsentPage<'_>) -> HttpResponse {
    let mut c = Context::new();
    c.insert("client_name", p.client_name);
    c.insert("client_id", p.client_id);
    c.insert("client_host", &p.client_host);
    c.insert("redirect_uri", p.redirect_uri);
    c.insert("resource", p.resource);
    c.insert("scopes", &p.scopes);
    c.insert("username", p.username);
    c.insert("request", p.request);
    c.insert("csrf_token", p.csrf_token);
    page(
        StatusCode::OK,
        "oauth/consent.html",
        &mut c,
        p.redirect_origin,
    )
}

pub fn error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let mut c = Context::new();
    c.insert("title", title);
    c.insert("message", message);
    page(status, "oauth/error.html", &mut c, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_escaped_with_the_security_headers() {
        let response = login(
            StatusCode::OK,
            &LoginPage {
                client_name: "<script>x</script>",
                request: "r",
                csrf_token: "t",
                error: None,
                redirect_origin: Some("http://127.0.0.1:9"),
            },
        );
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap();
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:9"),
            "{csp}"
        );
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert_eq!(
            response.headers().get(header::X_FRAME_OPTIONS).unwrap(),
            "DENY"
        );
        let body = actix_web::body::MessageBody::try_into_bytes(response.into_body()).unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains(&format!("<style>{CSS}</style>")));
        let e = error(StatusCode::BAD_REQUEST, "T", "M");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn redirect_origins() {
        assert_eq!(
            redirect_origin("http://127.0.0.1:4711/cb?x").as_deref(),
            Some("http://127.0.0.1:4711")
        );
        assert_eq!(
            redirect_origin("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
