//! The authorization server's browser session: one signed cookie, short-lived, holding a random
//! browser id and — once the user logged in on the login page — who they are and when they
//! logged in. CSRF tokens are the HMAC of the browser id, so a form only works with the cookie
//! of the browser it was served to; logging in replaces the browser id (no session fixation).
//!
//! `__Host-` prefix, `Secure` on https public URLs; always `HttpOnly`, `SameSite=Lax`, `Path=/`.

use actix_web::HttpRequest;
use actors::auth::authorization::signed::{Purpose, Signer};
use serde::{Deserialize, Serialize};

use super::request::{now_ms, now_s};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrowserSession {
    /// Random, 128 bits; the CSRF binding.
    pub browser_id: String,
    pub user_id: Option<i64>,
    /// Unix milliseconds of the login (milliseconds so that `prompt=login` can tell a login
    /// made after the request from one made earlier in the same second).
    pub auth_time_ms: Option<u64>,
    pub expires_at: u64,
}

impl BrowserSession {
    pub fn anonymous(ttl_s: u64) -> BrowserSession {
        BrowserSession {
            browser_id: actors::auth::tokens::random_id(),
            user_id: None,
            auth_time_ms: None,
            expires_at: now_s() + ttl_s,
        }
    }

    /// A fresh session for a user who just logged in (a new browser id).
    pub fn logged_in(user_id: i64, ttl_s: u64) -> BrowserSession {
        let now = now_s();
        BrowserSession {
            browser_id: actors::auth::tokens::random_id(),
            user_id: Some(user_id),
            auth_time_ms: Some(now_ms()),
            expires_at: now + ttl_s,
        }
    }

    pub fn csrf_token(&self, signer: &Signer) -> String {
        signer.derive(Purpose::Csrf, &self.browser_id)
    }

    pub fn csrf_matches(&self, signer: &Signer, presented: Option<&str>) -> bool {
        presented.is_some_and(|t| signer.check_derived(Purpose::Csrf, &self.browser_id, t))
    }
}

/// The cookie's name for this public URL.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-authmcp_as"
    } else {
        "authmcp_as"
    }
}

/// The session the request's cookie carries, if genuine and not expired.
pub fn read(req: &HttpRequest, signer: &Signer, https: bool) -> Option<BrowserSession> {
    let name = cookie_name(https);
    let header = req.headers().get_all("cookie");
    let value = header
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))?;
    let json = signer.verify(Purpose::Session, value)?;
    let session: BrowserSession = serde_json::from_slice(&json).ok()?;
    (session.expires_at > now_s()).then_some(session)
}

/// The `Set-Cookie` value for `session`.
pub fn set_cookie(session: &BrowserSession, signer: &Signer, https: bool) -> String {
    let json = serde_json::to_vec(session).unwrap_or_default();
    let value = signer.sign(Purpose::Session, &json);
    let max_age = session.expires_at.saturating_sub(now_s());
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(https)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes_follow_the_scheme() {
        let signer = Signer::new(b"k");
        let s = BrowserSession::anonymous(60);
        let https = set_cookie(&s, &signer, true);
        assert!(https.starts_with("__Host-authmcp_as="), "{https}");
        assert!(https.contains("; Path=/; Max-Age="), "{https}");
        assert!(
            https.ends_with("; HttpOnly; SameSite=Lax; Secure"),
            "{https}"
        );
        let http = set_cookie(&s, &signer, false);
        assert!(http.starts_with("authmcp_as="), "{http}");
        assert!(!http.contains("Secure"), "{http}");
        assert!(http.contains("HttpOnly; SameSite=Lax"), "{http}");
    }

    #[test]
    fn csrf_tokens_bind_to_the_browser() {
        let signer = Signer::new(b"k");
        let a = BrowserSession::anonymous(60);
        let b = BrowserSession::anonymous(60);
        assert!(a.csrf_matches(&signer, Some(&a.csrf_token(&signer))));
        assert!(!a.csrf_matches(&signer, Some(&b.csrf_token(&signer))));
        assert!(!a.csrf_matches(&signer, None));
    }
}
