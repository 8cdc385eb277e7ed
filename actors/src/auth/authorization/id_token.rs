//! OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6): who logged in, for which client, signed
//! with the gateway's active key (RS256/ES256 when configured, published in the JWKS). An ID
//! token is never an access token: its header `typ` is `JWT` (access tokens need `at+jwt`) and
//! its audience is the client, not a resource, so `/mcp` refuses it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::keys::SigningKeys;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::auth::tokens::{TokenError, unix_now};
use crate::storage::users::User;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    /// With the `profile` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// With the `email` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What an ID token is minted from.
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a User,
    pub scopes: &'a ScopeSet,
    /// Unix seconds of the user's authentication.
    pub auth_time: u64,
    pub nonce: Option<&'a str>,
    /// The access token issued with it (for `at_hash`).
    pub access_token: &'a str,
    pub lifetime_s: u64,
}

/// OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url. (Every
/// algorithm the gateway signs with uses SHA-256.)
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

pub fn claims(input: &IdTokenInput<'_>) -> IdTokenClaims {
    let iat = unix_now();
    IdTokenClaims {
        iss: input.issuer.to_string(),
        sub: input.user.id.to_string(),
        aud: input.client_id.to_string(),
        exp: iat + input.lifetime_s,
        iat,
        auth_time: input.auth_time,
        nonce: input.nonce.map(str::to_string),
        at_hash: at_hash(input.access_token),
        preferred_username: input
            .scopes
            .contains(Scope::Profile)
            .then(|| input.user.username.clone()),
        email: input
            .scopes
            .contains(Scope::Email)
            .then(|| input.user.email.clone()),
    }
}

pub fn mint(keys: &SigningKeys, input: &IdTokenInput<'_>) -> Result<String, TokenError> {
    keys.sign("JWT", &claims(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a3…; its first 16 bytes, base64url.
        assert_eq!(at_hash("abc"), "ungWv48Bz-pBQUDeXa4iIw");
    }
}
