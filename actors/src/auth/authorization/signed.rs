//! Small values the authorization server hands to a browser and must get back unchanged: the
//! pending authorization request (a hidden form field and the login redirect), the login
//! session cookie, and CSRF tokens. Each is `base64url(payload).base64url(HMAC-SHA256)`, keyed
//! with a key derived from the gateway secret and a purpose label, so a value made for one
//! purpose is never accepted for another, and every instance sharing the secret accepts it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What a signed value is for; part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PendingRequest,
    Session,
    Csrf,
    /// The admin console's CSRF tokens, bound to the console session's token family.
    ConsoleCsrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::PendingRequest => b"pending-request",
            Purpose::Session => b"session",
            Purpose::Csrf => b"csrf",
            Purpose::ConsoleCsrf => b"console-csrf",
        }
    }
}

/// HMAC keys derived from one secret.
#[derive(Clone)]
pub struct Signer {
    root: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

/// Longest signed value accepted back (a pending request carries a client id URL, a redirect
/// URI and a state, each bounded).
pub const MAX_SIGNED_LEN: usize = 16 * 1024;

impl Signer {
    /// `secret` is the gateway's secret (the JWT secret file or setting); only a digest of it is
    /// kept, separated from its other uses by a label.
    pub fn new(secret: &[u8]) -> Signer {
        let mut hasher = Sha256::new();
        hasher.update(b"authmcp-gateway authorization server\0");
        hasher.update(secret);
        Signer {
            root: hasher.finalize().into(),
        }
    }

    fn mac(&self, purpose: Purpose) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.root).expect("HMAC takes any key length");
        mac.update(purpose.label());
        mac.update(b"\0");
        mac
    }

    pub fn sign(&self, purpose: Purpose, payload: &[u8]) -> String {
        let mut mac = self.mac(purpose);
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The payload, when `value` was signed by this key for `purpose` (compared in constant
    /// time); `None` for anything else.
    pub fn verify(&self, purpose: Purpose, value: &str) -> Option<Vec<u8>> {
        if value.len() > MAX_SIGNED_LEN {
            return None;
        }
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac(purpose);
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        Some(payload)
    }

    /// A token that only someone holding this key could derive from `binding` (the CSRF token
    /// of a browser session: HMAC of the session's id).
    pub fn derive(&self, purpose: Purpose, binding: &str) -> String {
        let mut mac = self.mac(purpose);
        mac.update(binding.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `presented` is [`Signer::derive`] of `binding`, in constant time.
    pub fn check_derived(&self, purpose: Purpose, binding: &str, presented: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        let mut mac = self.mac(purpose);
        mac.update(binding.as_bytes());
        mac.verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_round_trip_only_for_their_purpose_and_key() {
        let signer = Signer::new(b"secret");
        let value = signer.sign(Purpose::Session, b"payload");
        assert_eq!(
            signer.verify(Purpose::Session, &value).as_deref(),
            Some(&b"payload"[..])
        );
        assert_eq!(signer.verify(Purpose::PendingRequest, &value), None);
        assert_eq!(Signer::new(b"other").verify(Purpose::Session, &value), None);
        let (payload, tag) = value.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"payloaX"));
        assert_eq!(signer.verify(Purpose::Session, &forged), None);
        assert_eq!(signer.verify(Purpose::Session, payload), None);
        assert_eq!(signer.verify(Purpose::Session, "garbage"), None);
    }

    #[test]
    fn derived_tokens_check_against_their_binding() {
        let signer = Signer::new(b"secret");
        let csrf = signer.derive(Purpose::Csrf, "session-a");
        assert!(signer.check_derived(Purpose::Csrf, "session-a", &csrf));
        assert!(!signer.check_derived(Purpose::Csrf, "session-b", &csrf));
        assert!(!signer.check_derived(Purpose::Csrf, "session-a", ""));
        assert!(!signer.check_derived(Purpose::Csrf, "session-a", "!!"));
        assert!(!format!("{signer:?}").contains("secret"));
    }
}
