//! `application/x-www-form-urlencoded` parameters as OAuth reads them: RFC 6749 §3.1 says a
//! parameter must not appear twice, and an empty value counts as absent.

use std::collections::HashMap;

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

/// Largest form body accepted by the OAuth endpoints (a code, a verifier, URIs, a state).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the parameter `{0}` appears more than once")]
    Duplicate(String),
    #[error("send the parameters as `application/x-www-form-urlencoded`")]
    ContentType,
    #[error("the request body is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    #[error("the request body could not be read")]
    Unreadable,
}

impl Params {
    /// Parses a query string or form body.
    pub fn parse(text: &[u8]) -> Result<Params, FormError> {
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(text) {
            if value.is_empty() {
                continue;
            }
            if map.insert(key.to_string(), value.to_string()).is_some() {
                return Err(FormError::Duplicate(key.to_string()));
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The names sent (in no particular order).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Reads a form body (content type checked, size bounded) into parameters.
pub async fn read(req: &HttpRequest, mut payload: web::Payload) -> Result<Params, FormError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(FormError::ContentType);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| FormError::Unreadable)?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(FormError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Params::parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_and_empty_values_are_absent() {
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(
            Params::parse(b"a=1&a=2").unwrap_err(),
            FormError::Duplicate("a".into())
        );
    }
}
