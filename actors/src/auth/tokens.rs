//! Access tokens: JWTs (RFC 9068 `at+jwt`) bound to this gateway and to one resource.
//!
//! Every access token names this gateway as issuer (`iss` = public URL) and the resource it may be
//! used on as audience: login tokens `<public_url>/mcp`, OAuth tokens the exact resource they were
//! issued for (`<public_url>/mcp` or `<public_url>/mcp/<server>`, RFC 8707). The web layer checks
//! that audience against the path. `sid` names the token family (login session or OAuth grant)
//! so a revoked family's tokens can be refused. Verification is CPU-only (no I/O).
//!
//! Refresh tokens are not JWTs: they are opaque random strings stored hashed (see
//! [`super::opaque`] and `storage::tokens`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::keys::SigningKeys;

/// The JWT header `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    /// The user id, as a decimal string (JWT `sub` is a string).
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// Space-separated OAuth scopes; absent for login tokens (unrestricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OAuth client the token was issued to; absent for login tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The token family: the login session or OAuth grant this token belongs to.
    pub sid: String,
    /// Login name, for logs and the console; authorisation always re-reads the user's state.
    pub username: String,
}

impl AccessClaims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid for this gateway: {0}")]
    Invalid(String),
    #[error("cannot sign a token: {0}")]
    Signing(String),
}

/// A freshly issued token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: Duration,
}

/// What an access token is issued for.
#[derive(Debug, Clone)]
pub struct AccessGrant<'a> {
    pub user_id: i64,
    pub username: &'a str,
    pub audience: &'a str,
    pub scope: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub sid: &'a str,
}

/// Issues and verifies this gateway's access tokens.
pub struct TokenKeys {
    keys: Arc<SigningKeys>,
    issuer: String,
    /// `<issuer>/mcp`: the audience of login tokens and the prefix of every resource.
    mcp_resource: String,
    access_ttl: Duration,
    /// One per algorithm a key may use, built once: verification runs on every request.
    validations: HashMap<Algorithm, Validation>,
    /// Tokens that passed `verify_access`, so repeat requests skip decoding and the signature.
    verified: super::verified::VerifiedTokens,
}

/// Clock skew allowed on `exp` (seconds), in verification and for remembered tokens alike.
const LEEWAY_S: u64 = 30;

/// Issuer, expiry and subject required; the audience is checked by [`TokenKeys::verify_access`]
/// (it may be any of this gateway's resources) and by the web layer against the path.
fn validation(algorithm: Algorithm, issuer: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_S;
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

impl TokenKeys {
    /// `public_url` without a trailing slash, e.g. `https://gw.example.com`.
    pub fn new(keys: Arc<SigningKeys>, public_url: &str, access_ttl: Duration) -> Self {
        let issuer = public_url.trim_end_matches('/').to_string();
        let validations = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256]
            .into_iter()
            .map(|alg| (alg, validation(alg, &issuer)))
            .collect();
        TokenKeys {
            keys,
            mcp_resource: format!("{issuer}/mcp"),
            issuer,
            access_ttl,
            validations,
            verified: Default::default(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `<public_url>/mcp`, the audience of login tokens.
    pub fn access_audience(&self) -> &str {
        &self.mcp_resource
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn signing_keys(&self) -> &Arc<SigningKeys> {
        &self.keys
    }

    /// `<p>/mcp` or `<p>/mcp/<server>` (one path segment, no query or fragment).
    pub fn is_resource(&self, uri: &str) -> bool {
        match uri.strip_prefix(self.mcp_resource.as_str()) {
            Some("") => true,
            Some(rest) => rest.strip_prefix('/').is_some_and(|server| {
                !server.is_empty()
                    && !server.contains(['/', '?', '#'])
                    && server.chars().all(|c| c.is_ascii_graphic())
            }),
            None => false,
        }
    }

    pub fn issue_access(&self, grant: &AccessGrant<'_>) -> Result<IssuedToken, TokenError> {
        let iat = unix_now();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.user_id.to_string(),
            aud: grant.audience.to_string(),
            exp: iat + self.access_ttl.as_secs(),
            iat,
            jti: random_id(),
            scope: grant.scope.map(str::to_string),
            client_id: grant.client_id.map(str::to_string),
            sid: grant.sid.to_string(),
            username: grant.username.to_string(),
        };
        Ok(IssuedToken {
            token: self.keys.sign(ACCESS_TOKEN_TYP, &claims)?,
            expires_in: self.access_ttl,
        })
    }

    /// Checks header type, key id, algorithm (the key's own), signature, issuer, expiry, and
    /// that the audience is one of this gateway's resources.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.verified.get(token, unix_now(), LEEWAY_S) {
            return Ok(claims);
        }
        let header = decode_header(token).map_err(|e| TokenError::Invalid(describe(e.kind())))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP))
        {
            return Err(TokenError::Invalid("not an access token".into()));
        }
        let (key, algorithm) = self.keys.verifier(&header)?;
        let validation = self
            .validations
            .get(&algorithm)
            .ok_or_else(|| TokenError::Invalid("algorithm not accepted".into()))?;
        let data = decode::<AccessClaims>(token, key, validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            other => TokenError::Invalid(describe(other)),
        })?;
        if !self.is_resource(&data.claims.aud) {
            return Err(TokenError::Invalid("wrong audience".into()));
        }
        self.verified.insert(token, &data.claims);
        Ok(data.claims)
    }
}

/// Short, non-leaking reasons; never echo the token.
fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => "bad signature".into(),
        K::InvalidAudience => "wrong audience".into(),
        K::InvalidIssuer => "wrong issuer".into(),
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not accepted".into(),
        K::MissingRequiredClaim(c) => format!("missing claim `{c}`"),
        K::ImmatureSignature => "not valid yet".into(),
        _ => "malformed token".into(),
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 128 random bits, hex: token ids, family ids, request ids, setup tokens.
pub fn random_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
