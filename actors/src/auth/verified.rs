//! Access tokens this process has already verified, so a client's every request does not decode
//! and check the same JWT again (base64, two JSON parses and an HMAC or signature check: about
//! 8% of the gateway's CPU per proxied `tools/call` in `bench/run.py`).
//!
//! Only the cryptographic verdict is remembered. Expiry is checked again on every hit, and the
//! caller still checks the token's user, session revocation and audience binding each time. A
//! cache belongs to one [`TokenKeys`](super::tokens::TokenKeys): new keys start an empty one.
//!
//! Entries are found by a keyed hash of the token (random per process) and hold the whole
//! token, compared in constant time, so a lookup reveals nothing about a token it did not get.
//! Memory is bounded: a shard that is full is emptied and refills with the tokens in use.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use subtle::ConstantTimeEq;

use super::tokens::AccessClaims;

const SHARDS: usize = 8;
/// Tokens per shard: 8 × 1,024 clients' current tokens.
const MAX_PER_SHARD: usize = 1024;

/// Keyed hash of a token → the token itself and its claims.
type Shard = HashMap<u64, (Box<str>, AccessClaims)>;

pub(crate) struct VerifiedTokens {
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[key as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The claims of `token` if it was verified before and its expiry (with `leeway_s`) has
    /// not passed at `now` (unix seconds). An expired entry is dropped.
    pub fn get(&self, token: &str, now: u64, leeway_s: u64) -> Option<AccessClaims> {
        let key = self.hasher.hash_one(token);
        let mut shard = self.shard(key);
        let (known, claims) = shard.get(&key)?;
        if !same_bytes(known.as_bytes(), token.as_bytes()) {
            return None;
        }
        if claims.exp.saturating_add(leeway_s) < now {
            shard.remove(&key);
            return None;
        }
        Some(claims.clone())
    }

    /// Remembers a token that passed verification.
    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        let key = self.hasher.hash_one(token);
        let mut shard = self.shard(key);
        if shard.len() >= MAX_PER_SHARD {
            shard.clear();
        }
        shard.insert(key, (token.into(), claims.clone()));
    }
}

/// Equality that looks at every byte whatever the content (lengths are not secret: a token's
/// length is visible on the wire). subtle's slice `ct_eq` puts each byte through an optimisation
/// barrier, which for a ~300-byte JWT was 1–1.6% of the gateway's CPU per proxied call in
/// `perf`; folding the differences first and guarding only the result is as constant-time.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    bool::from(difference.ct_eq(&0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> AccessClaims {
        AccessClaims {
            iss: "https://gw".into(),
            sub: "7".into(),
            aud: "https://gw/mcp".into(),
            exp,
            iat: 0,
            jti: "j".into(),
            scope: None,
            client_id: None,
            sid: "s".into(),
            username: "ann".into(),
        }
    }

    #[test]
    fn a_remembered_token_is_found_until_it_expires() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims(100));
        assert_eq!(cache.get("a.b.c", 100, 0), Some(claims(100)));
        assert_eq!(
            cache.get("a.b.c", 120, 30),
            Some(claims(100)),
            "within the leeway"
        );
        assert_eq!(cache.get("a.b.c", 131, 30), None, "past exp + leeway");
        assert_eq!(
            cache.get("a.b.c", 100, 0),
            None,
            "the expired entry was dropped"
        );
    }

    #[test]
    fn same_bytes_needs_every_byte_equal() {
        assert!(same_bytes(b"", b""));
        assert!(same_bytes(b"eyJ.a.b", b"eyJ.a.b"));
        assert!(!same_bytes(b"eyJ.a.b", b"eyJ.a.c"), "last byte");
        assert!(!same_bytes(b"fyJ.a.b", b"eyJ.a.b"), "first byte");
        assert!(!same_bytes(b"eyJ.a.b", b"eyJ.a.bb"), "length");
    }

    #[test]
    fn only_the_same_token_matches() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims(100));
        assert_eq!(cache.get("a.b.d", 0, 0), None);
        assert_eq!(cache.get("a.b.c.", 0, 0), None);
    }

    #[test]
    fn a_full_shard_is_emptied_not_grown() {
        let cache = VerifiedTokens::default();
        for i in 0..(SHARDS * MAX_PER_SHARD * 2) {
            cache.insert(&format!("t{i}"), &claims(100));
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * MAX_PER_SHARD, "{held} entries held");
    }
}
