//! The administrator's console session: a cookie holding a login access token issued by the
//! identity service, and the CSRF token bound to that session's token family.
//!
//! Session cookie: `__Host-authmcp_console` on an https public URL (`Secure`), `authmcp_console`
//! on plain http; always `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Max-Age` the token's life.
//! CSRF (the original's scheme): the token is HMAC(family id), handed out in the `csrf_token`
//! cookie (readable by the console's script) and in every form; cookie-authenticated changes
//! must send it back as `X-CSRF-Token` or as the form field `csrf_token`.

use actix_web::http::header::HeaderMap;
use actors::auth::authorization::signed::{Purpose, Signer};

/// The session cookie's name for this public URL.
pub(crate) fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-authmcp_console"
    } else {
        "authmcp_console"
    }
}

/// The cookie (and header and form field) carrying the CSRF token, named as in the original.
pub(crate) const CSRF_COOKIE: &str = "csrf_token";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name && !v.is_empty()).then_some(v))
}

/// The CSRF token of the session whose token family is `sid`.
pub(crate) fn csrf_token(signer: &Signer, sid: &str) -> String {
    signer.derive(Purpose::ConsoleCsrf, sid)
}

/// Whether `presented` is the CSRF token of session `sid` (constant time).
pub(crate) fn csrf_matches(signer: &Signer, sid: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|t| signer.check_derived(Purpose::ConsoleCsrf, sid, t))
}

/// `Set-Cookie` values that start a session: the token and the CSRF token.
pub(crate) fn start_cookies(
    access_token: &str,
    csrf: &str,
    max_age_s: u64,
    https: bool,
) -> Vec<String> {
    let secure = if https { "; Secure" } else { "" };
    vec![
        format!(
            "{}={access_token}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}",
            cookie_name(https)
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age_s}; SameSite=Strict{secure}"),
    ]
}

/// `Set-Cookie` values that end the session in the browser.
pub(crate) fn end_cookies(https: bool) -> Vec<String> {
    let secure = if https { "; Secure" } else { "" };
    vec![
        format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
            cookie_name(https)
        ),
        format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict{secure}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{COOKIE, HeaderValue};

    #[test]
    fn cookies_follow_the_scheme() {
        let https = start_cookies("t", "c", 60, true);
        assert_eq!(
            https[0],
            "__Host-authmcp_console=t; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            https[1],
            "csrf_token=c; Path=/; Max-Age=60; SameSite=Strict; Secure"
        );
        let http = start_cookies("t", "c", 60, false);
        assert!(http[0].starts_with("authmcp_console=t;"), "{}", http[0]);
        assert!(!http[0].contains("Secure"));
        assert!(end_cookies(false)[0].contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_bind_to_the_session() {
        let signer = Signer::new(b"k");
        let token = csrf_token(&signer, "family-a");
        assert!(csrf_matches(&signer, "family-a", Some(&token)));
        assert!(!csrf_matches(&signer, "family-b", Some(&token)));
        assert!(!csrf_matches(&signer, "family-a", None));
        // Not interchangeable with the authorization server's CSRF tokens.
        let oauth = signer.derive(Purpose::Csrf, "family-a");
        assert!(!csrf_matches(&signer, "family-a", Some(&oauth)));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; authmcp_console=tok; b=2"),
        );
        assert_eq!(cookie(&headers, "authmcp_console"), Some("tok"));
        assert_eq!(cookie(&headers, "csrf_token"), None);
    }
}
