//! JWT signing keys: the active one that signs, and previous ones that still verify.
//!
//! HS256 (the default) signs with the gateway's secret; RS256 and ES256 with a PEM private key.
//! Every key has a `kid` — for asymmetric keys the RFC 7638 JWK thumbprint of the public key, so
//! the same key has the same id everywhere. Rotation: move the old key file to
//! `auth.jwt_previous_key_files` (its private or public PEM) and configure a new one; tokens signed
//! with the old key keep verifying until they expire, then the operator removes it.
//!
//! Verification looks the key up by the token's `kid` and accepts only that key's own algorithm:
//! `alg: none`, an HS256 token "signed" with an RSA public key's bytes (algorithm confusion) and
//! unknown kids are all refused before any signature check.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::tokens::TokenError;

/// The algorithms the gateway signs with (`auth.jwt_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    HS256,
    RS256,
    ES256,
}

impl KeyAlgorithm {
    /// Case-insensitive, as operators write it.
    pub fn parse(text: &str) -> Option<KeyAlgorithm> {
        match text.trim().to_ascii_uppercase().as_str() {
            "HS256" => Some(KeyAlgorithm::HS256),
            "RS256" => Some(KeyAlgorithm::RS256),
            "ES256" => Some(KeyAlgorithm::ES256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::ES256 => "ES256",
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::ES256 => Algorithm::ES256,
        }
    }

    pub fn is_asymmetric(self) -> bool {
        self != KeyAlgorithm::HS256
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("{what} is not a usable {expected} key in PEM form{hint}")]
    Format {
        what: String,
        expected: &'static str,
        hint: &'static str,
    },
    #[error("{0} is an HS256 secret: only RS256 and ES256 keys can be previous keys")]
    Symmetric(String),
}

/// A key that verifies tokens (and, for the active one, its public half for the JWKS).
struct VerifyingKey {
    algorithm: KeyAlgorithm,
    decoding: DecodingKey,
}

/// The gateway's signing key and every key that still verifies, by `kid`.
pub struct SigningKeys {
    active_kid: String,
    active_algorithm: KeyAlgorithm,
    encoding: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
    /// The public keys (active first), published at `/.well-known/jwks.json`. Never an HS secret.
    jwks: JwkSet,
}

impl SigningKeys {
    /// HS256 with the gateway secret: nothing to publish.
    pub fn hs256(secret: &[u8]) -> SigningKeys {
        let kid = hs256_kid(secret);
        let mut verifying = HashMap::new();
        verifying.insert(
            kid.clone(),
            VerifyingKey {
                algorithm: KeyAlgorithm::HS256,
                decoding: DecodingKey::from_secret(secret),
            },
        );
        SigningKeys {
            active_kid: kid,
            active_algorithm: KeyAlgorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            verifying,
            jwks: JwkSet::default(),
        }
    }

    /// An RS256 or ES256 private key (PEM), plus previous keys (private or public PEMs) that
    /// still verify. `name` and each previous key's name appear in errors (file paths).
    pub fn asymmetric(
        algorithm: KeyAlgorithm,
        name: &str,
        private_pem: &[u8],
        previous: &[(String, Vec<u8>)],
    ) -> Result<SigningKeys, KeyError> {
        let (encoding, jwk) = private_key(algorithm, name, private_pem)?;
        let mut keys = SigningKeys {
            active_kid: kid_of(&jwk),
            active_algorithm: algorithm,
            encoding,
            verifying: HashMap::new(),
            jwks: JwkSet::default(),
        };
        keys.add_public(algorithm, jwk, name)?;
        for (name, pem) in previous {
            let (algorithm, jwk) = any_public_key(name, pem)?;
            keys.add_public(algorithm, jwk, name)?;
        }
        Ok(keys)
    }

    /// Reads the configured files: `private_key_file` for RS256/ES256 (else the HS256 `secret`).
    pub fn load(
        algorithm: KeyAlgorithm,
        secret: &[u8],
        private_key_file: Option<&Path>,
        previous_key_files: &[impl AsRef<Path>],
    ) -> Result<SigningKeys, KeyError> {
        let previous = previous_key_files
            .iter()
            .map(|p| Ok((p.as_ref().display().to_string(), read(p.as_ref())?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        match (algorithm, private_key_file) {
            (KeyAlgorithm::HS256, _) => {
                if let Some((name, _)) = previous.first() {
                    return Err(KeyError::Symmetric(format!(
                        "the active key (HS256) cannot be combined with previous key {name}; \
                         previous keys need RS256 or ES256"
                    )));
                }
                Ok(SigningKeys::hs256(secret))
            }
            (_, Some(path)) => SigningKeys::asymmetric(
                algorithm,
                &path.display().to_string(),
                &read(path)?,
                &previous,
            ),
            (_, None) => Err(KeyError::Format {
                what: "no private key file".into(),
                expected: algorithm.as_str(),
                hint: " (set auth.jwt_private_key_file)",
            }),
        }
    }

    fn add_public(
        &mut self,
        algorithm: KeyAlgorithm,
        mut jwk: Jwk,
        name: &str,
    ) -> Result<(), KeyError> {
        let kid = kid_of(&jwk);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| format_error(name, algorithm))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(algorithm.jwt().into());
        // The same key listed twice (active and previous) is published once.
        if self.verifying.contains_key(&kid) {
            return Ok(());
        }
        self.verifying.insert(
            kid,
            VerifyingKey {
                algorithm,
                decoding,
            },
        );
        self.jwks.keys.push(jwk);
        Ok(())
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.active_algorithm
    }

    /// The public keys as a JWK Set (RFC 7517); empty for HS256.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims` with the active key; `typ` is the JWT header's type (`at+jwt` for access
    /// tokens, `JWT` for ID tokens).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(self.active_algorithm.jwt());
        header.kid = Some(self.active_kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// The key (and its algorithm) that must have signed a token with this header. A header
    /// without `kid` is accepted only while HS256 is active (tokens issued before kids existed).
    pub fn verifier(&self, header: &Header) -> Result<(&DecodingKey, Algorithm), TokenError> {
        let kid = match &header.kid {
            Some(kid) => kid.as_str(),
            None if self.active_algorithm == KeyAlgorithm::HS256 => self.active_kid.as_str(),
            None => return Err(TokenError::Invalid("no key id".into())),
        };
        let key = self
            .verifying
            .get(kid)
            .ok_or_else(|| TokenError::Invalid("unknown key id".into()))?;
        // The key decides the algorithm, never the token: this is what stops HS/RS confusion.
        if header.alg != key.algorithm.jwt() {
            return Err(TokenError::Invalid("algorithm not accepted".into()));
        }
        Ok((&key.decoding, key.algorithm.jwt()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::Read {
        path: path.display().to_string(),
        cause: e.to_string(),
    })
}

fn format_error(name: &str, algorithm: KeyAlgorithm) -> KeyError {
    let (expected, hint) = match algorithm {
        KeyAlgorithm::ES256 => (
            "ES256 (P-256)",
            " (a PKCS#8 \"PRIVATE KEY\", e.g. from `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)",
        ),
        KeyAlgorithm::RS256 => (
            "RS256",
            " (an RSA \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" of at least 2048 bits)",
        ),
        KeyAlgorithm::HS256 => ("HS256", ""),
    };
    KeyError::Format {
        what: name.to_string(),
        expected,
        hint,
    }
}

/// The encoding key and the public JWK of a private PEM of the expected algorithm.
fn private_key(
    algorithm: KeyAlgorithm,
    name: &str,
    pem: &[u8],
) -> Result<(EncodingKey, Jwk), KeyError> {
    let encoding = match algorithm {
        KeyAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
        KeyAlgorithm::HS256 => return Err(format_error(name, algorithm)),
    }
    .map_err(|_| format_error(name, algorithm))?;
    let jwk = Jwk::from_encoding_key(&encoding, algorithm.jwt())
        .map_err(|_| format_error(name, algorithm))?;
    check_curve(&jwk, algorithm, name)?;
    // Proves the key signs (a malformed key can parse and still fail here, at start, not later).
    jsonwebtoken::encode(
        &Header::new(algorithm.jwt()),
        &serde_json::json!({}),
        &encoding,
    )
    .map_err(|_| format_error(name, algorithm))?;
    Ok((encoding, jwk))
}

/// A previous key: private or public, RSA or P-256; its algorithm follows from its type.
fn any_public_key(name: &str, pem: &[u8]) -> Result<(KeyAlgorithm, Jwk), KeyError> {
    for algorithm in [KeyAlgorithm::ES256, KeyAlgorithm::RS256] {
        if let Ok((_, jwk)) = private_key(algorithm, name, pem) {
            return Ok((algorithm, jwk));
        }
        let public = match algorithm {
            KeyAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        };
        if let Ok(decoding) = public
            && let Ok(jwk) = Jwk::from_decoding_key(&decoding, Some(algorithm.jwt()))
            && check_curve(&jwk, algorithm, name).is_ok()
        {
            return Ok((algorithm, jwk));
        }
    }
    Err(KeyError::Format {
        what: name.to_string(),
        expected: "RS256 or ES256",
        hint: " (a private or public key PEM)",
    })
}

fn check_curve(jwk: &Jwk, algorithm: KeyAlgorithm, name: &str) -> Result<(), KeyError> {
    match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::EllipticCurve(ec), KeyAlgorithm::ES256)
            if ec.curve == EllipticCurve::P256 =>
        {
            Ok(())
        }
        (AlgorithmParameters::RSA(_), KeyAlgorithm::RS256) => Ok(()),
        _ => Err(format_error(name, algorithm)),
    }
}

/// RFC 7638 thumbprint (SHA-256, base64url) of the public key.
fn kid_of(jwk: &Jwk) -> String {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A stable id for the HS256 secret that reveals nothing about it (a domain-separated hash,
/// truncated; the secret carries at least 128 random bits when generated).
fn hs256_kid(secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authmcp-gateway hs256 key id\0");
    hasher.update(secret);
    let digest = hasher.finalize();
    format!(
        "hs-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    )
}
