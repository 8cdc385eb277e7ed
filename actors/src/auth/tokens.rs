//! Access and refresh tokens: HS256 JWTs bound to this gateway.
//!
//! Every token names this gateway as issuer (`iss` = public URL) and carries an audience that
//! says where it may be used: access tokens are for `<public_url>/mcp` (RFC 8707 resource), refresh
//! tokens only for `<public_url>/auth/refresh`, so one can never stand in for the other.
//! Verification is CPU-only (no I/O) so the request path never waits on it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Which kind of token a JWT is; checked on verify so the two can't be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims this gateway puts in its tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a decimal string (JWT `sub` is a string).
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub typ: TokenKind,
    /// Login name, for logs and the console; authorisation always re-reads the user's state.
    pub username: String,
}

impl Claims {
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

/// Signs and verifies this gateway's tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    access_audience: String,
    refresh_audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Built once: verification runs on every request.
    access_validation: Validation,
    refresh_validation: Validation,
}

/// HS256 only; issuer, audience, expiry and subject required.
fn validation(issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 30;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

impl TokenKeys {
    /// `public_url` without a trailing slash, e.g. `https://gw.example.com`.
    pub fn new(
        secret: &[u8],
        public_url: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        let issuer = public_url.trim_end_matches('/').to_string();
        let access_audience = format!("{issuer}/mcp");
        let refresh_audience = format!("{issuer}/auth/refresh");
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_validation: validation(&issuer, &access_audience),
            refresh_validation: validation(&issuer, &refresh_audience),
            access_audience,
            refresh_audience,
            issuer,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn access_audience(&self) -> &str {
        &self.access_audience
    }

    pub fn issue(
        &self,
        kind: TokenKind,
        user_id: i64,
        username: &str,
    ) -> Result<IssuedToken, TokenError> {
        let (aud, ttl) = match kind {
            TokenKind::Access => (&self.access_audience, self.access_ttl),
            TokenKind::Refresh => (&self.refresh_audience, self.refresh_ttl),
        };
        let iat = unix_now();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: aud.clone(),
            exp: iat + ttl.as_secs(),
            iat,
            jti: random_id(),
            typ: kind,
            username: username.to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: ttl,
        })
    }

    /// Checks signature, algorithm (HS256 only), issuer, audience, expiry and kind.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let validation = match kind {
            TokenKind::Access => &self.access_validation,
            TokenKind::Refresh => &self.refresh_validation,
        };
        let data =
            decode::<Claims>(token, &self.decoding, validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                other => TokenError::Invalid(describe(other)),
            })?;
        if data.claims.typ != kind {
            return Err(TokenError::Invalid("wrong token type".into()));
        }
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 128 random bits, hex: token ids, request ids, setup tokens.
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
mod tests {
    use super::*;

    fn keys(secret: &[u8], url: &str) -> TokenKeys {
        TokenKeys::new(
            secret,
            url,
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn access_token_round_trips_with_all_claims() {
        let k = keys(b"s3cret-s3cret-s3cret-s3cret-s3cret", "http://gw.test/");
        let t = k.issue(TokenKind::Access, 7, "alice").unwrap();
        let c = k.verify(&t.token, TokenKind::Access).unwrap();
        assert_eq!(c.user_id(), Some(7));
        assert_eq!(c.iss, "http://gw.test");
        assert_eq!(c.aud, "http://gw.test/mcp");
        assert_eq!(c.exp - c.iat, 60);
        assert_eq!(c.jti.len(), 32);
        assert_eq!(t.expires_in, Duration::from_secs(60));
    }

    #[test]
    fn refresh_token_is_not_an_access_token() {
        let k = keys(b"secret-a-secret-a-secret-a-secret", "http://gw.test");
        let r = k.issue(TokenKind::Refresh, 1, "bob").unwrap();
        assert!(matches!(
            k.verify(&r.token, TokenKind::Access),
            Err(TokenError::Invalid(_))
        ));
        assert!(k.verify(&r.token, TokenKind::Refresh).is_ok());
    }

    #[test]
    fn other_gateways_and_secrets_are_rejected() {
        let a = keys(b"secret-a-secret-a-secret-a-secret", "http://a.test");
        let b = keys(b"secret-a-secret-a-secret-a-secret", "http://b.test");
        let c = keys(b"secret-c-secret-c-secret-c-secret", "http://a.test");
        let t = a.issue(TokenKind::Access, 1, "x").unwrap().token;
        assert_eq!(
            b.verify(&t, TokenKind::Access),
            Err(TokenError::Invalid("wrong issuer".into()))
        );
        assert_eq!(
            c.verify(&t, TokenKind::Access),
            Err(TokenError::Invalid("bad signature".into()))
        );
        assert!(matches!(
            a.verify("not-a-jwt", TokenKind::Access),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn alg_none_is_rejected() {
        let k = keys(b"secret-a-secret-a-secret-a-secret", "http://a.test");
        let t = k.issue(TokenKind::Access, 1, "x").unwrap().token;
        let payload = t.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(k.verify(&forged, TokenKind::Access).is_err());
    }
}
