//! The scope vocabulary of the gateway's authorization server, defined once.
//!
//! `mcp` grants all MCP use and is what a client gets when it asks for nothing; `mcp:tools`,
//! `mcp:prompts` and `mcp:resources` narrow it to one kind of item (the policy engine enforces
//! that); `mcp:admin` lets an administrator's token use an administrator's rights on `/mcp`
//! within the kinds its other scopes give (without it, an administrator's OAuth token is held to
//! the policies like anyone's; for other users it adds nothing: admin is a role, the scope only
//! lets a token carry it); `openid`, `profile` and `email` are OpenID Connect's; `offline_access` asks for a
//! refresh token. Scope strings follow RFC 6749 §3.3: space-separated, case-sensitive tokens.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Mcp,
    McpAdmin,
    McpTools,
    McpPrompts,
    McpResources,
    OpenId,
    Profile,
    Email,
    OfflineAccess,
}

impl Scope {
    /// Every scope, in the order the metadata documents list them.
    pub const ALL: [Scope; 9] = [
        Scope::Mcp,
        Scope::McpAdmin,
        Scope::McpTools,
        Scope::McpPrompts,
        Scope::McpResources,
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::OfflineAccess,
    ];

    /// The scopes that describe access to the MCP resource itself (what a protected-resource
    /// metadata document advertises). Not `mcp:admin`: clients that ask for every advertised
    /// scope must not carry an administrator's rights by default; it is in the server's list.
    pub const RESOURCE: [Scope; 4] = [
        Scope::Mcp,
        Scope::McpTools,
        Scope::McpPrompts,
        Scope::McpResources,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Mcp => "mcp",
            Scope::McpAdmin => "mcp:admin",
            Scope::McpTools => "mcp:tools",
            Scope::McpPrompts => "mcp:prompts",
            Scope::McpResources => "mcp:resources",
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::OfflineAccess => "offline_access",
        }
    }

    pub fn parse(token: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == token)
    }

    /// True for the scopes that grant MCP access (the others only shape tokens).
    pub fn is_mcp(self) -> bool {
        self == Scope::McpAdmin || Scope::RESOURCE.contains(&self)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope a client gets when its request names none.
pub const DEFAULT_SCOPE: Scope = Scope::Mcp;

/// Longest scope string accepted anywhere (request or registration).
pub const MAX_SCOPE_LEN: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
    /// RFC 6749 §3.3: printable ASCII except space, `"` and `\`.
    #[error("scope {0:?} contains a character RFC 6749 does not allow in a scope")]
    Syntax(String),
    #[error("scope {0:?} is not supported; supported scopes: {supported}", supported = supported_list())]
    Unknown(String),
}

/// A set of scopes in canonical order, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        ScopeSet(v)
    }

    /// Strict parse: every token must be a known scope.
    pub fn parse(text: &str) -> Result<ScopeSet, ScopeError> {
        let mut scopes = Vec::new();
        for token in tokens(text)? {
            scopes.push(Scope::parse(token).ok_or_else(|| ScopeError::Unknown(token.into()))?);
        }
        Ok(ScopeSet::new(scopes))
    }

    /// Lenient parse for client registration (RFC 7591 §2 lets the server replace requested
    /// values): unknown tokens are dropped, malformed strings are still refused.
    pub fn parse_known(text: &str) -> Result<ScopeSet, ScopeError> {
        Ok(ScopeSet::new(tokens(text)?.filter_map(Scope::parse)))
    }

    /// What an authorization request asks for: its scope, or [`DEFAULT_SCOPE`] when it names
    /// none (absent or blank).
    pub fn requested_or_default(text: Option<&str>) -> Result<ScopeSet, ScopeError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(ScopeSet::new([DEFAULT_SCOPE])),
            Some(t) => ScopeSet::parse(t),
        }
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(*s))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether any scope grants MCP access.
    pub fn grants_mcp(&self) -> bool {
        self.0.iter().any(|s| s.is_mcp())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

/// Every supported scope's name, in metadata order.
pub fn supported() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

/// The scopes a protected-resource metadata document lists.
pub fn resource_scopes() -> Vec<&'static str> {
    Scope::RESOURCE.iter().map(|s| s.as_str()).collect()
}

fn supported_list() -> String {
    supported().join(", ")
}

/// Splits on spaces after checking length and RFC 6749's scope-token characters.
fn tokens(text: &str) -> Result<impl Iterator<Item = &str>, ScopeError> {
    if text.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::TooLong);
    }
    let allowed =
        |c: char| c == '\x21' || ('\x23'..='\x5b').contains(&c) || ('\x5d'..='\x7e').contains(&c);
    if let Some(bad) = text.split(' ').find(|t| !t.chars().all(allowed)) {
        return Err(ScopeError::Syntax(bad.to_string()));
    }
    Ok(text.split(' ').filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_canonicalises_and_prints() {
        let set = ScopeSet::parse("openid mcp:tools  mcp mcp").unwrap();
        assert_eq!(set.to_string(), "mcp mcp:tools openid");
        assert!(set.contains(Scope::OpenId));
        assert!(set.grants_mcp());
        assert!(!ScopeSet::parse("openid email").unwrap().grants_mcp());
    }

    #[test]
    fn empty_request_means_the_default_scope() {
        for text in [None, Some(""), Some("   ")] {
            assert_eq!(
                ScopeSet::requested_or_default(text).unwrap().to_string(),
                "mcp"
            );
        }
        assert_eq!(
            ScopeSet::requested_or_default(Some("mcp:prompts"))
                .unwrap()
                .to_string(),
            "mcp:prompts"
        );
    }

    #[test]
    fn unknown_and_malformed_scopes_are_refused_with_the_reason() {
        let err = ScopeSet::parse("mcp admin").unwrap_err();
        assert_eq!(err, ScopeError::Unknown("admin".into()));
        assert!(
            err.to_string()
                .contains("supported scopes: mcp, mcp:admin, mcp:tools")
        );
        assert_eq!(
            ScopeSet::parse("mcp bad\"quote").unwrap_err(),
            ScopeError::Syntax("bad\"quote".into())
        );
        assert_eq!(
            ScopeSet::parse("tab\tseparated").unwrap_err(),
            ScopeError::Syntax("tab\tseparated".into())
        );
        assert_eq!(
            ScopeSet::parse(&"m".repeat(MAX_SCOPE_LEN + 1)).unwrap_err(),
            ScopeError::TooLong
        );
    }

    #[test]
    fn registration_parse_drops_unknown_scopes() {
        let set = ScopeSet::parse_known("claudeai mcp offline_access").unwrap();
        assert_eq!(set.to_string(), "mcp offline_access");
        assert!(ScopeSet::parse_known("bad\\slash").is_err());
    }

    #[test]
    fn subset_and_vocabulary() {
        let wide = ScopeSet::parse("mcp openid").unwrap();
        assert!(ScopeSet::parse("mcp").unwrap().is_subset_of(&wide));
        assert!(!ScopeSet::parse("email").unwrap().is_subset_of(&wide));
        assert_eq!(supported().len(), 9);
        assert_eq!(
            resource_scopes(),
            ["mcp", "mcp:tools", "mcp:prompts", "mcp:resources"]
        );
        assert!(Scope::McpAdmin.is_mcp());
    }
}
