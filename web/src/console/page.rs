//! Rendering console pages: the compiled-in tera templates and the headers every page gets —
//! a CSP that allows only this origin's stylesheet and script (no inline script, no framing),
//! no caching, no sniffing.
//!
//! `console.template_dir` overrides templates: a file there named like an embedded template
//! (`admin/users.html` is `<template_dir>/admin/users.html`) replaces it. Overrides are read
//! once at boot ([`install_overrides`]); one that does not parse stops the boot with its name.
//! The override is process-wide (one gateway per process).

use std::path::Path;
use std::sync::{LazyLock, OnceLock};

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use tera::{Context, Tera};

static TEMPLATES: LazyLock<Tera> = LazyLock::new(|| {
    let mut tera = Tera::default();
    tera.add_raw_templates(vec![
        (
            "admin/base.html",
            include_str!("../../../templates/admin/base.html"),
        ),
        (
            "admin/login.html",
            include_str!("../../../templates/admin/login.html"),
        ),
        (
            "admin/setup.html",
            include_str!("../../../templates/admin/setup.html"),
        ),
        (
            "admin/dashboard.html",
            include_str!("../../../templates/admin/dashboard.html"),
        ),
        (
            "admin/users.html",
            include_str!("../../../templates/admin/users.html"),
        ),
        (
            "admin/permissions.html",
            include_str!("../../../templates/admin/permissions.html"),
        ),
        (
            "admin/confirm.html",
            include_str!("../../../templates/admin/confirm.html"),
        ),
        (
            "admin/servers.html",
            include_str!("../../../templates/admin/servers.html"),
        ),
        (
            "admin/server.html",
            include_str!("../../../templates/admin/server.html"),
        ),
        (
            "admin/mcp_activity.html",
            include_str!("../../../templates/admin/mcp_activity.html"),
        ),
        (
            "admin/mcp_request.html",
            include_str!("../../../templates/admin/mcp_request.html"),
        ),
        (
            "admin/security_logs.html",
            include_str!("../../../templates/admin/security_logs.html"),
        ),
        (
            "admin/audit_logs.html",
            include_str!("../../../templates/admin/audit_logs.html"),
        ),
        (
            "admin/settings.html",
            include_str!("../../../templates/admin/settings.html"),
        ),
        (
            "admin/mcp_audit.html",
            include_str!("../../../templates/admin/mcp_audit.html"),
        ),
        (
            "admin/oauth_clients.html",
            include_str!("../../../templates/admin/oauth_clients.html"),
        ),
        (
            "admin/oauth_client.html",
            include_str!("../../../templates/admin/oauth_client.html"),
        ),
        (
            "admin/mcp_tokens.html",
            include_str!("../../../templates/admin/mcp_tokens.html"),
        ),
        (
            "admin/shown_once.html",
            include_str!("../../../templates/admin/shown_once.html"),
        ),
        (
            "admin/error.html",
            include_str!("../../../templates/admin/error.html"),
        ),
    ])
    .expect("the compiled-in console templates parse (checked by a test)");
    tera
});

/// The embedded templates with the operator's overrides, when `console.template_dir` is set.
static OVERRIDDEN: OnceLock<Tera> = OnceLock::new();

fn templates() -> &'static Tera {
    OVERRIDDEN.get().unwrap_or(&TEMPLATES)
}

/// The embedded templates with each one found in `dir` replaced by the file's text; the
/// error names every file that cannot be read or does not parse.
pub(crate) fn with_overrides(dir: &Path) -> Result<(Tera, Vec<String>), String> {
    let mut tera = TEMPLATES.clone();
    let mut replaced = Vec::new();
    let mut problems = Vec::new();
    let names: Vec<String> = TEMPLATES.get_template_names().map(str::to_string).collect();
    for name in names {
        let file = dir.join(&name);
        if !file.is_file() {
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(text) => match tera.add_raw_template(&name, &text) {
                Ok(()) => replaced.push(name),
                Err(error) => problems.push(format!("{}: {}", file.display(), parse_error(&error))),
            },
            Err(error) => problems.push(format!("{}: {error}", file.display())),
        }
    }
    if problems.is_empty() {
        Ok((tera, replaced))
    } else {
        Err(format!(
            "console template override(s) cannot be used: {}",
            problems.join("; ")
        ))
    }
}

/// A tera error with its causes (the parser's message with the line is in the source).
fn parse_error(error: &tera::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Boot: applies `console.template_dir`'s overrides for the rest of the process; returns the
/// names replaced. An error names each broken file.
pub fn install_overrides(dir: &Path) -> Result<Vec<String>, String> {
    let (tera, replaced) = with_overrides(dir)?;
    if OVERRIDDEN.set(tera).is_err() {
        return Err("console templates were already overridden in this process".into());
    }
    Ok(replaced)
}

/// Every console page's Content-Security-Policy.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The signed-in administrator's part of a page: the nav, their name and the CSRF token the
/// sign-out form (and any other form) carries.
pub(crate) struct Chrome<'a> {
    pub username: &'a str,
    pub csrf_token: &'a str,
    /// The nav entry to mark as current.
    pub current: &'a str,
}

/// Renders `template` with `context` plus the shared parts.
pub(crate) fn render(
    status: StatusCode,
    template: &str,
    mut context: Context,
    chrome: Option<&Chrome<'_>>,
) -> HttpResponse {
    context.insert("assets", &super::assets::urls());
    match chrome {
        Some(c) => {
            context.insert("user", c.username);
            context.insert("csrf_token", c.csrf_token);
            context.insert("current", c.current);
            context.insert("nav", super::NAV);
        }
        None => context.insert("user", &Option::<&str>::None),
    }
    match templates().render(template, &context) {
        Ok(html) => secured(HttpResponse::build(status))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(_) => secured(HttpResponse::InternalServerError())
            .content_type("text/plain; charset=utf-8")
            .body("The page could not be rendered."),
    }
}

/// The security headers of every console answer.
pub(crate) fn secured(
    mut builder: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
    builder
}

/// A page that says what went wrong, with an optional way on.
pub(crate) fn error(
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let mut c = Context::new();
    c.insert("title", title);
    c.insert("message", message);
    c.insert(
        "link",
        &link.map(|(href, label)| serde_json::json!({ "href": href, "label": label })),
    );
    render(status, "admin/error.html", c, None)
}

/// The 404 page for something that is not (or no longer) there, as the `Err` of a lookup.
pub(crate) fn missing(title: &str, message: &str, back: (&str, &str)) -> Box<HttpResponse> {
    Box::new(error(StatusCode::NOT_FOUND, title, message, Some(back)))
}

/// A new secret or token, shown on the page answering the form that made it and nowhere else
/// (every console page is `no-store`).
pub(crate) struct ShownOnce<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// `[{label, name, value, secret}]`; `secret` values are set in `<code data-secret=name>`.
    pub fields: serde_json::Value,
    pub warning: &'a str,
    pub back: &'a str,
    pub back_label: &'a str,
}

pub(crate) fn shown_once(shown: ShownOnce<'_>, chrome: &Chrome<'_>) -> HttpResponse {
    let mut c = Context::new();
    c.insert("title", shown.title);
    c.insert("message", shown.message);
    c.insert("fields", &shown.fields);
    c.insert("warning", shown.warning);
    c.insert("back", shown.back);
    c.insert("back_label", shown.back_label);
    render(StatusCode::OK, "admin/shown_once.html", c, Some(chrome))
}

/// The no-script confirm step before a deletion: `question`, and a button posting to `action`.
pub(crate) struct Confirm<'a> {
    pub title: &'a str,
    pub question: &'a str,
    pub action: &'a str,
    pub confirm_label: &'a str,
    pub back: &'a str,
}

pub(crate) fn confirm(confirm: Confirm<'_>, chrome: &Chrome<'_>) -> HttpResponse {
    let mut c = Context::new();
    c.insert("title", confirm.title);
    c.insert("question", confirm.question);
    c.insert("action", confirm.action);
    c.insert("confirm_label", confirm.confirm_label);
    c.insert("back", confirm.back);
    render(StatusCode::OK, "admin/confirm.html", c, Some(chrome))
}

/// `303 See Other` to `location` (after a form, or to send a browser elsewhere), setting
/// `cookies`.
pub(crate) fn see_other(location: &str, cookies: &[String]) -> HttpResponse {
    let mut response = secured(HttpResponse::SeeOther());
    response.insert_header((header::LOCATION, location));
    for cookie in cookies {
        response.append_header((header::SET_COOKIE, cookie.as_str()));
    }
    response.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: HttpResponse) -> String {
        let bytes = actix_web::body::MessageBody::try_into_bytes(response.into_body()).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn pages_escape_and_carry_the_security_headers() {
        let response = error(
            StatusCode::FORBIDDEN,
            "<b>t</b>",
            "<script>alert(1)</script>",
            Some(("/admin/login", "Sign in")),
        );
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap();
        let csp = csp.to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = body(response);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        // No inline script or style anywhere: only the hashed files.
        assert!(
            !html.contains("<script>") && !html.contains("<style"),
            "{html}"
        );
        assert!(html.contains("/admin/static/console."), "{html}");
    }

    #[test]
    fn a_secret_is_shown_once_escaped() {
        let chrome = Chrome {
            username: "root",
            csrf_token: "t",
            current: "/admin/mcp-tokens",
        };
        let html = body(shown_once(
            ShownOnce {
                title: "New",
                message: "Made.",
                fields: serde_json::json!([
                    { "label": "Token", "name": "api_token", "value": "s3<cr>et", "secret": true },
                    { "label": "Expires", "name": "expires", "value": "never", "secret": false },
                ]),
                warning: "Copy it now.",
                back: "/admin/mcp-tokens",
                back_label: "Back",
            },
            &chrome,
        ));
        assert!(
            html.contains("data-secret=\"api_token\">s3&lt;cr&gt;et</code>"),
            "{html}"
        );
        assert!(html.contains("data-field=\"expires\">never<"), "{html}");
    }

    #[test]
    fn the_templates_parse() {
        // Forces the LazyLock: a template that does not parse fails here, not at a request.
        assert_eq!(TEMPLATES.get_template_names().count(), 20);
    }

    #[test]
    fn a_file_in_the_template_dir_replaces_the_embedded_template() {
        let dir = std::env::temp_dir().join(format!("authmcp-tpl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("admin")).unwrap();
        std::fs::write(dir.join("admin/error.html"), "<p>Custom: {{ title }}</p>").unwrap();
        let (tera, replaced) = with_overrides(&dir).unwrap();
        assert_eq!(replaced, vec!["admin/error.html".to_string()]);
        let mut c = Context::new();
        c.insert("title", "Oops");
        assert_eq!(
            tera.render("admin/error.html", &c).unwrap(),
            "<p>Custom: Oops</p>"
        );
        // A broken one is refused with the file's name.
        std::fs::write(dir.join("admin/users.html"), "{% if %}").unwrap();
        let error = with_overrides(&dir).unwrap_err();
        assert!(error.contains("admin/users.html"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
