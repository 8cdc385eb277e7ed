//! Opaque bearer secrets (refresh tokens, API tokens): 256 random bits, base64url, behind a
//! prefix that says what the string is (so a leaked one is recognisable in a secret scanner and
//! never mistaken for a JWT). Only their SHA-256 is ever stored or held in memory: the tokens carry
//! full entropy, so a fast hash suffices (bcrypt is for low-entropy passwords).

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "amr_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "amk_";

/// `prefix` + 43 base64url characters (256 bits).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A new API token: the secret (shown once), its stored hash and the prefix lists display.
#[derive(Clone)]
pub struct MintedApiToken {
    pub token: String,
    pub hash_hex: String,
    pub display_prefix: String,
}

/// The prefix and the first 4 random characters: enough to tell tokens apart, useless to guess.
const DISPLAY_PREFIX_LEN: usize = API_TOKEN_PREFIX.len() + 4;

pub fn mint_api_token() -> MintedApiToken {
    let token = new_token(API_TOKEN_PREFIX);
    MintedApiToken {
        hash_hex: sha256_hex(&token),
        display_prefix: token[..DISPLAY_PREFIX_LEN].to_string(),
        token,
    }
}

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex of the SHA-256, the stored form.
pub fn sha256_hex(token: &str) -> String {
    hex(&sha256(token))
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Parses 64 hex digits back into a digest; `None` for anything else.
pub fn parse_hex_digest(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// Constant-time equality of two digests.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_round_trips() {
        let a = new_token(REFRESH_PREFIX);
        let b = new_token(REFRESH_PREFIX);
        assert!(a.starts_with("amr_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, b);
        let hex = sha256_hex(&a);
        assert_eq!(hex.len(), 64);
        assert_eq!(parse_hex_digest(&hex), Some(sha256(&a)));
        assert!(digests_equal(&sha256(&a), &sha256(&a)));
        assert!(!digests_equal(&sha256(&a), &sha256(&b)));
        assert_eq!(parse_hex_digest("zz"), None);
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
