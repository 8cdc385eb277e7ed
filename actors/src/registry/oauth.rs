//! OAuth client credentials of database backends (auth_type `oauth_client_credentials` or
//! `oauth_refresh_token`): how a draft lands on the stored credential ([`resolve`]), how a stored
//! one becomes the spec the backend's token loop runs ([`to_spec`]), and what the API may show
//! of it ([`OAuthView`]: never a secret, only whether each is set). The same keys and rules as a
//! `[[backends]]` table's (`src/config/backend_auth.rs`).

use super::draft::{AuthKind, BackendDraft};
use crate::secrets::SecretBox;
use crate::spec::{OAuthClientSpec, OAuthGrant, SecretString};
use crate::storage::backends::StoredOAuth;

const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// An OAuth credential as the API shows it: settings in clear, secrets as `has_*` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthView {
    /// `client_credentials` or `refresh_token`.
    pub grant: &'static str,
    /// `None`: discovered.
    pub token_url: Option<String>,
    pub client_id: String,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub has_client_secret: bool,
    pub has_refresh_token: bool,
}

impl OAuthView {
    pub(crate) fn of_spec(spec: &OAuthClientSpec) -> OAuthView {
        OAuthView {
            grant: match spec.grant {
                OAuthGrant::ClientCredentials => GRANT_CLIENT_CREDENTIALS,
                OAuthGrant::RefreshToken(_) => GRANT_REFRESH_TOKEN,
            },
            token_url: spec.token_url.as_ref().map(|u| u.to_string()),
            client_id: spec.client_id.clone(),
            scope: spec.scope.clone(),
            resource: spec.resource.clone(),
            has_client_secret: spec.client_secret.is_some(),
            has_refresh_token: matches!(spec.grant, OAuthGrant::RefreshToken(_)),
        }
    }

    pub(crate) fn of_stored(stored: &StoredOAuth) -> OAuthView {
        OAuthView {
            grant: if stored.grant == GRANT_REFRESH_TOKEN {
                GRANT_REFRESH_TOKEN
            } else {
                GRANT_CLIENT_CREDENTIALS
            },
            token_url: stored.token_url.clone(),
            client_id: stored.client_id.clone(),
            scope: stored.scope.clone(),
            resource: stored.resource.clone(),
            has_client_secret: stored.client_secret.is_some(),
            has_refresh_token: stored.refresh_token.is_some(),
        }
    }
}

/// The names of the OAuth-only fields a draft sets to a value (null is harmless anywhere).
fn oauth_fields_given(draft: &BackendDraft) -> Vec<&'static str> {
    [
        (matches!(draft.token_url, Some(Some(_))), "token_url"),
        (draft.client_id.is_some(), "client_id"),
        (
            matches!(draft.client_secret, Some(Some(_))),
            "client_secret",
        ),
        (matches!(draft.scope, Some(Some(_))), "scope"),
        (matches!(draft.resource, Some(Some(_))), "resource"),
        (
            matches!(draft.refresh_token, Some(Some(_))),
            "refresh_token",
        ),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect()
}

/// A static or no credential: OAuth fields with a value are mistakes, say so.
pub(crate) fn refuse_oauth_fields(draft: &BackendDraft, problems: &mut Vec<String>) {
    for field in oauth_fields_given(draft) {
        problems.push(format!(
            "{field}: only applies to auth_type \"oauth_client_credentials\" or \
             \"oauth_refresh_token\""
        ));
    }
}

/// `draft` on top of `stored` for OAuth kind `kind`; new secrets are sealed here.
pub(crate) fn resolve(
    stored: Option<&StoredOAuth>,
    draft: &BackendDraft,
    kind: AuthKind,
    secrets: &SecretBox,
    problems: &mut Vec<String>,
) -> Option<StoredOAuth> {
    if matches!(draft.auth_token, Some(Some(_))) {
        problems.push(format!(
            "auth_token: does not apply to auth_type \"{}\": the gateway obtains access tokens \
             itself (give client_id, client_secret{})",
            kind.as_str(),
            if kind == AuthKind::OAuthRefreshToken {
                ", refresh_token"
            } else {
                ""
            }
        ));
    }
    if matches!(draft.auth_header, Some(Some(_))) {
        problems.push("auth_header: only applies to auth_type \"header\"".to_string());
    }
    let client_id = match (&draft.client_id, stored) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(s)) => Some(s.client_id.clone()),
        (None, None) => {
            problems.push(format!(
                "client_id: required for auth_type \"{}\"",
                kind.as_str()
            ));
            None
        }
    };
    let seal =
        |value: &Option<Option<SecretString>>, kept: Option<&crate::secrets::Sealed>| match value {
            Some(Some(secret)) if !secret.expose().is_empty() => {
                Some(secrets.seal(secret.expose()))
            }
            Some(_) => None,
            None => kept.cloned(),
        };
    let client_secret = seal(
        &draft.client_secret,
        stored.and_then(|s| s.client_secret.as_ref()),
    );
    let refresh_token = match kind {
        AuthKind::OAuthRefreshToken => {
            let token = seal(
                &draft.refresh_token,
                stored.and_then(|s| s.refresh_token.as_ref()),
            );
            if token.is_none() {
                problems.push(
                    "refresh_token: required for auth_type \"oauth_refresh_token\"".to_string(),
                );
            }
            token
        }
        _ => {
            if matches!(draft.refresh_token, Some(Some(_))) {
                problems.push(
                    "refresh_token: only applies to auth_type \"oauth_refresh_token\"".to_string(),
                );
            }
            None
        }
    };
    // An empty scope or resource is the same as none (the default).
    let kept = |value: &Option<Option<String>>, old: Option<&String>| match value {
        Some(v) => v.clone().filter(|v| !v.is_empty()),
        None => old.cloned(),
    };
    Some(StoredOAuth {
        grant: if kind == AuthKind::OAuthRefreshToken {
            GRANT_REFRESH_TOKEN
        } else {
            GRANT_CLIENT_CREDENTIALS
        }
        .to_string(),
        token_url: match &draft.token_url {
            Some(url) => url.as_ref().map(|u| u.to_string()),
            None => stored.and_then(|s| s.token_url.clone()),
        },
        client_id: client_id?,
        client_secret,
        scope: kept(&draft.scope, stored.and_then(|s| s.scope.as_ref())),
        resource: kept(&draft.resource, stored.and_then(|s| s.resource.as_ref())),
        refresh_token,
    })
}

/// A stored credential as the token loop's spec; the error is a sentence for the API and log.
pub(crate) fn to_spec(
    stored: &StoredOAuth,
    secrets: &SecretBox,
) -> Result<OAuthClientSpec, String> {
    let open = |sealed: &crate::secrets::Sealed, what: &str| {
        secrets
            .open(sealed)
            .map_err(|e| format!("the backend's OAuth {what} cannot be used: {e}"))
    };
    let grant = match (stored.grant.as_str(), &stored.refresh_token) {
        (GRANT_CLIENT_CREDENTIALS, _) => OAuthGrant::ClientCredentials,
        (GRANT_REFRESH_TOKEN, Some(token)) => {
            OAuthGrant::RefreshToken(open(token, "refresh token")?)
        }
        (GRANT_REFRESH_TOKEN, None) => {
            return Err("the refresh-token grant is stored without a refresh token".into());
        }
        (other, _) => return Err(format!("unknown stored OAuth grant `{other}`")),
    };
    let token_url = match &stored.token_url {
        Some(url) => {
            Some(url::Url::parse(url).map_err(|_| "the stored token_url is not a valid URL")?)
        }
        None => None,
    };
    let client_secret = match &stored.client_secret {
        Some(sealed) => Some(open(sealed, "client secret")?),
        None => None,
    };
    Ok(OAuthClientSpec {
        grant,
        token_url,
        client_id: stored.client_id.clone(),
        client_secret,
        scope: stored.scope.clone(),
        resource: stored.resource.clone(),
    })
}
