//! Access tokens and signing keys: every claim, and every way a forged or misused token is refused.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;
use crate::auth::keys::{KeyAlgorithm, KeyError, SigningKeys};

const ES_A: &[u8] = include_bytes!("../../../tests/keys/es256-a.pem");
const ES_A_PUB: &[u8] = include_bytes!("../../../tests/keys/es256-a.pub.pem");
const ES_B: &[u8] = include_bytes!("../../../tests/keys/es256-b.pem");
const RS_A: &[u8] = include_bytes!("../../../tests/keys/rs256-a.pem");
const RS_A_PUB: &[u8] = include_bytes!("../../../tests/keys/rs256-a.pub.pem");
const P384: &[u8] = include_bytes!("../../../tests/keys/p384.pem");

const SECRET: &[u8] = b"s3cret-s3cret-s3cret-s3cret-s3cret";

fn hs(url: &str) -> TokenKeys {
    TokenKeys::new(
        Arc::new(SigningKeys::hs256(SECRET)),
        url,
        Duration::from_secs(60),
    )
}

fn asym(alg: KeyAlgorithm, pem: &[u8], previous: &[(&str, &[u8])]) -> TokenKeys {
    let previous: Vec<(String, Vec<u8>)> = previous
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_vec()))
        .collect();
    let keys = SigningKeys::asymmetric(alg, "active.pem", pem, &previous).expect("load keys");
    TokenKeys::new(Arc::new(keys), "http://gw.test", Duration::from_secs(60))
}

fn grant<'a>(aud: &'a str) -> AccessGrant<'a> {
    AccessGrant {
        user_id: 7,
        username: "alice",
        audience: aud,
        scope: None,
        client_id: None,
        sid: "family-1",
    }
}

fn header_of(token: &str) -> serde_json::Value {
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn payload_of(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn login_token_carries_every_claim_and_no_oauth_ones() {
    let k = hs("http://gw.test/");
    let t = k.issue_access(&grant("http://gw.test/mcp")).unwrap();
    let c = k.verify_access(&t.token).unwrap();
    assert_eq!(c.user_id(), Some(7));
    assert_eq!(c.iss, "http://gw.test");
    assert_eq!(c.aud, "http://gw.test/mcp");
    assert_eq!(c.exp - c.iat, 60);
    assert_eq!(c.jti.len(), 32);
    assert_eq!(c.sid, "family-1");
    assert_eq!(c.username, "alice");
    assert_eq!(c.scope, None);
    assert_eq!(c.client_id, None);
    let raw = payload_of(&t.token);
    assert!(
        raw.get("scope").is_none() && raw.get("client_id").is_none(),
        "{raw}"
    );
    let header = header_of(&t.token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], k.signing_keys().active_kid());
    assert_eq!(t.expires_in, Duration::from_secs(60));
}

#[test]
fn oauth_token_carries_scope_client_and_its_resource() {
    let k = hs("http://gw.test");
    let g = AccessGrant {
        scope: Some("mcp mcp:tools"),
        client_id: Some("client-1"),
        ..grant("http://gw.test/mcp/files")
    };
    let c = k.verify_access(&k.issue_access(&g).unwrap().token).unwrap();
    assert_eq!(c.scope.as_deref(), Some("mcp mcp:tools"));
    assert_eq!(c.client_id.as_deref(), Some("client-1"));
    assert_eq!(c.aud, "http://gw.test/mcp/files");
}

#[test]
fn audience_must_be_one_of_this_gateways_resources() {
    let k = hs("http://gw.test");
    for aud in [
        "http://gw.test/mcpx",
        "http://gw.test/mcp/a/b",
        "http://gw.test/mcp/",
        "http://other.test/mcp",
        "http://gw.test/auth/refresh",
    ] {
        let t = k.issue_access(&grant(aud)).unwrap().token;
        assert_eq!(
            k.verify_access(&t),
            Err(TokenError::Invalid("wrong audience".into())),
            "{aud}"
        );
    }
    assert!(k.is_resource("http://gw.test/mcp"));
    assert!(k.is_resource("http://gw.test/mcp/files"));
}

#[test]
fn other_issuers_secrets_and_garbage_are_rejected() {
    let a = hs("http://a.test");
    let b = hs("http://b.test");
    let other = TokenKeys::new(
        Arc::new(SigningKeys::hs256(b"another-secret-another-secret-xx")),
        "http://a.test",
        Duration::from_secs(60),
    );
    let t = a.issue_access(&grant("http://a.test/mcp")).unwrap().token;
    assert_eq!(
        b.verify_access(&t),
        Err(TokenError::Invalid("wrong issuer".into()))
    );
    // Another secret has another kid: refused before any signature check.
    assert_eq!(
        other.verify_access(&t),
        Err(TokenError::Invalid("unknown key id".into()))
    );
    assert!(matches!(
        a.verify_access("not-a-jwt"),
        Err(TokenError::Invalid(_))
    ));
}

#[test]
fn expired_tokens_are_rejected() {
    let k = hs("http://gw.test");
    let now = unix_now();
    let claims = AccessClaims {
        iss: "http://gw.test".into(),
        sub: "7".into(),
        aud: "http://gw.test/mcp".into(),
        exp: now - 120,
        iat: now - 180,
        jti: random_id(),
        scope: None,
        client_id: None,
        sid: "f".into(),
        username: "alice".into(),
    };
    let t = k.signing_keys().sign(ACCESS_TOKEN_TYP, &claims).unwrap();
    assert_eq!(k.verify_access(&t), Err(TokenError::Expired));
}

#[test]
fn alg_none_is_rejected() {
    let k = hs("http://a.test");
    let t = k.issue_access(&grant("http://a.test/mcp")).unwrap().token;
    let payload = t.split('.').nth(1).unwrap();
    let kid = k.signing_keys().active_kid();
    let header = format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#);
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header);
    assert!(k.verify_access(&format!("{header}.{payload}.")).is_err());
}

#[test]
fn a_token_without_the_access_type_is_rejected() {
    let k = hs("http://gw.test");
    let t = k.issue_access(&grant("http://gw.test/mcp")).unwrap().token;
    let claims = payload_of(&t);
    // Same key, same claims, but typ JWT (an ID token, say) must not pass as an access token.
    let id_token = k.signing_keys().sign("JWT", &claims).unwrap();
    assert_eq!(
        k.verify_access(&id_token),
        Err(TokenError::Invalid("not an access token".into()))
    );
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let k = asym(KeyAlgorithm::RS256, RS_A, &[]);
    let good = k.issue_access(&grant("http://gw.test/mcp")).unwrap().token;
    assert!(k.verify_access(&good).is_ok());
    let claims = payload_of(&good);
    // The classic confusion: HMAC keyed with the public key the gateway publishes.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(k.signing_keys().active_kid().to_string());
    for key in [RS_A_PUB, RS_A] {
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap();
        assert_eq!(
            k.verify_access(&forged),
            Err(TokenError::Invalid("algorithm not accepted".into()))
        );
    }
}

#[test]
fn unknown_kid_is_rejected_and_a_missing_kid_only_passes_for_hs256() {
    let es = asym(KeyAlgorithm::ES256, ES_A, &[]);
    let other = asym(KeyAlgorithm::ES256, ES_B, &[]);
    let t = other
        .issue_access(&grant("http://gw.test/mcp"))
        .unwrap()
        .token;
    assert_eq!(
        es.verify_access(&t),
        Err(TokenError::Invalid("unknown key id".into()))
    );
    let claims = payload_of(&t);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    let no_kid =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(ES_A).unwrap()).unwrap();
    assert_eq!(
        es.verify_access(&no_kid),
        Err(TokenError::Invalid("no key id".into()))
    );
}

#[test]
fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_kid() {
    let old = asym(KeyAlgorithm::ES256, ES_A, &[]);
    let old_token = old
        .issue_access(&grant("http://gw.test/mcp"))
        .unwrap()
        .token;
    // ES256 (new) with the old key given as a public PEM, and an RSA public key too.
    let new = asym(
        KeyAlgorithm::ES256,
        ES_B,
        &[("old.pub.pem", ES_A_PUB), ("rsa.pub.pem", RS_A_PUB)],
    );
    assert!(new.verify_access(&old_token).is_ok());
    let new_token = new
        .issue_access(&grant("http://gw.test/mcp"))
        .unwrap()
        .token;
    let new_kid = header_of(&new_token)["kid"].as_str().unwrap().to_string();
    assert_eq!(new_kid, new.signing_keys().active_kid());
    assert_ne!(new_kid, old.signing_keys().active_kid());
    assert!(old.verify_access(&new_token).is_err());
    let jwks = serde_json::to_value(new.signing_keys().jwks()).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[0], new_kid, "the active key comes first");
    assert!(kids.contains(&old.signing_keys().active_kid()));
    // A private PEM as previous key yields the same kid as its public PEM.
    let via_private = asym(KeyAlgorithm::ES256, ES_B, &[("old.pem", ES_A)]);
    assert!(via_private.verify_access(&old_token).is_ok());
}

#[test]
fn jwks_publishes_public_keys_only_and_nothing_for_hs256() {
    assert!(hs("http://gw.test").signing_keys().jwks().keys.is_empty());
    let rs = asym(KeyAlgorithm::RS256, RS_A, &[]);
    let jwks = serde_json::to_value(rs.signing_keys().jwks()).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none() && key.get("p").is_none(), "{key}");
    let es = asym(KeyAlgorithm::ES256, ES_A, &[]);
    let key = serde_json::to_value(&es.signing_keys().jwks().keys[0]).unwrap();
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert!(key.get("d").is_none(), "{key}");
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    let es = asym(KeyAlgorithm::ES256, ES_A, &[]);
    let key = serde_json::to_value(&es.signing_keys().jwks().keys[0]).unwrap();
    // RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256, base64url.
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        key["x"].as_str().unwrap(),
        key["y"].as_str().unwrap()
    );
    use sha2::Digest as _;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(canonical.as_bytes()));
    assert_eq!(es.signing_keys().active_kid(), expected);
}

#[test]
fn wrong_key_types_are_clear_errors() {
    let err = |alg, pem: &[u8]| {
        SigningKeys::asymmetric(alg, "k.pem", pem, &[])
            .err()
            .expect("refused")
    };
    assert!(matches!(
        err(KeyAlgorithm::ES256, P384),
        KeyError::Format { .. }
    ));
    assert!(matches!(
        err(KeyAlgorithm::ES256, RS_A),
        KeyError::Format { .. }
    ));
    assert!(matches!(
        err(KeyAlgorithm::RS256, ES_A),
        KeyError::Format { .. }
    ));
    assert!(matches!(
        err(KeyAlgorithm::RS256, RS_A_PUB),
        KeyError::Format { .. }
    ));
    assert!(matches!(
        err(KeyAlgorithm::ES256, b"not a pem"),
        KeyError::Format { .. }
    ));
    let message = err(KeyAlgorithm::ES256, P384).to_string();
    assert!(
        message.contains("k.pem") && message.contains("P-256"),
        "{message}"
    );
    let previous = SigningKeys::asymmetric(
        KeyAlgorithm::ES256,
        "k.pem",
        ES_A,
        &[("junk.pem".into(), b"junk".to_vec())],
    );
    assert!(previous.err().unwrap().to_string().contains("junk.pem"));
}
