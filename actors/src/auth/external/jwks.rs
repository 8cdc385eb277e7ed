//! An issuer's public keys (RFC 7517 JWK Set) as the request path reads them, and the lookup
//! that picks the one key a token may have been signed with.
//!
//! Keys the gateway cannot use (encryption keys, unknown key types, malformed entries) are
//! skipped one by one, so one odd entry does not cost the issuer all its keys. The set is
//! bounded: an issuer publishing more keys than [`MAX_KEYS`] is refused as a whole.

use std::collections::HashMap;
use std::str::FromStr;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// More keys than any real issuer publishes (a few active, a few rotating).
pub const MAX_KEYS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Okp,
}

impl Family {
    fn signs(self, algorithm: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, algorithm),
            (Family::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (Family::Ec, ES256 | ES384)
                | (Family::Okp, EdDSA)
        )
    }
}

struct PublicKey {
    decoding: DecodingKey,
    family: Family,
    /// The JWK's own `alg`, when it names one: then only that algorithm verifies with it.
    algorithm: Option<Algorithm>,
}

impl PublicKey {
    fn verifies(&self, algorithm: Algorithm) -> bool {
        self.family.signs(algorithm) && self.algorithm.is_none_or(|a| a == algorithm)
    }
}

/// One issuer's usable keys, by `kid` (and those without one).
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, PublicKey>,
    unnamed: Vec<PublicKey>,
}

/// Why no key was found for a token.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyLookup {
    /// The set has no key with that `kid` (or, for a token without one, no single candidate):
    /// the issuer may have rotated, so a refetch is worth asking for.
    Unknown,
    /// The key exists but does not sign with the token's algorithm: no refetch will help.
    WrongAlgorithm,
}

impl KeySet {
    /// Parses a JWK Set document, keeping the signature keys the gateway can use.
    pub fn parse(body: &[u8]) -> Result<KeySet, String> {
        let document: Value =
            serde_json::from_slice(body).map_err(|e| format!("not a JSON document ({e})"))?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no `keys` list")?;
        if keys.len() > MAX_KEYS {
            return Err(format!(
                "{} keys (more than {MAX_KEYS}): refused",
                keys.len()
            ));
        }
        let mut set = KeySet::default();
        for entry in keys {
            if entry
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let family = match entry.get("kty").and_then(Value::as_str) {
                Some("RSA") => Family::Rsa,
                Some("EC") => Family::Ec,
                Some("OKP") => Family::Okp,
                _ => continue,
            };
            let algorithm = match entry.get("alg").and_then(Value::as_str) {
                Some(name) => match Algorithm::from_str(name) {
                    Ok(a) if family.signs(a) => Some(a),
                    _ => continue,
                },
                None => None,
            };
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let key = PublicKey {
                decoding,
                family,
                algorithm,
            };
            match jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.entry(kid).or_insert(key);
                }
                None => set.unnamed.push(key),
            }
        }
        Ok(set)
    }

    /// Usable keys (for the log line after a fetch).
    pub(crate) fn count(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    /// The key for a token with header `kid` and `alg`. A token without `kid` is accepted only
    /// when exactly one key of the set could have signed it.
    pub fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<&DecodingKey, KeyLookup> {
        match kid {
            Some(kid) => {
                let key = self.by_kid.get(kid).ok_or(KeyLookup::Unknown)?;
                if key.verifies(algorithm) {
                    Ok(&key.decoding)
                } else {
                    Err(KeyLookup::WrongAlgorithm)
                }
            }
            None => {
                let mut candidates = self
                    .by_kid
                    .values()
                    .chain(&self.unnamed)
                    .filter(|k| k.verifies(algorithm));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Ok(&key.decoding),
                    _ => Err(KeyLookup::Unknown),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1","use":"sig",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn set(keys: &str) -> Result<KeySet, String> {
        KeySet::parse(format!(r#"{{"keys":[{keys}]}}"#).as_bytes())
    }

    #[test]
    fn keys_are_found_by_kid_and_algorithm() {
        let keys = set(EC).unwrap();
        assert_eq!(keys.count(), 1);
        assert!(keys.find(Some("ec1"), Algorithm::ES256).is_ok());
        assert!(
            keys.find(None, Algorithm::ES256).is_ok(),
            "the one candidate"
        );
        assert_eq!(
            keys.find(Some("ec1"), Algorithm::RS256).err(),
            Some(KeyLookup::WrongAlgorithm)
        );
        assert_eq!(
            keys.find(Some("other"), Algorithm::ES256).err(),
            Some(KeyLookup::Unknown)
        );
    }

    #[test]
    fn unusable_entries_are_skipped_and_big_sets_refused() {
        let enc = EC.replace(r#""use":"sig""#, r#""use":"enc""#);
        let odd = r#"{"kty":"oct","k":"c2VjcmV0","kid":"hs"}"#;
        let wrong_alg = EC.replace(r#""kid":"ec1""#, r#""kid":"ec2","alg":"RS256""#);
        let keys = set(&format!("{enc},{odd},{wrong_alg},{{}}")).unwrap();
        assert_eq!(keys.count(), 0, "no usable key");
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"nope").is_err());
        let many = vec![EC; MAX_KEYS + 1].join(",");
        assert!(set(&many).err().unwrap().contains("refused"));
    }
}
