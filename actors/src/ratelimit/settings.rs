//! What the limits are: the per-IP quotas of the auth endpoints, the per-user, per-user×tool
//! and per-backend quotas of `/mcp`, and the overrides per role or user. Plain data, built by
//! the root crate from `[rate_limit]` and swapped whole on reload.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Quota;
use crate::storage::users::Role;

/// Whose requests an override applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideSubject {
    Role(Role),
    User(String),
}

impl std::str::FromStr for OverrideSubject {
    type Err = String;

    /// `role:admin`, `role:user` or `user:<username>`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("role", role)) => role
                .parse::<Role>()
                .map(OverrideSubject::Role)
                .map_err(|_| format!("unknown role `{role}` (use role:admin or role:user)")),
            Some(("user", name)) if !name.trim().is_empty() => {
                Ok(OverrideSubject::User(name.to_string()))
            }
            _ => Err("must be `role:<admin|user>` or `user:<username>`".to_string()),
        }
    }
}

/// One of an override's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverrideLimit {
    /// Not set in the override: the next matching override, or the global limit, applies.
    #[default]
    Inherit,
    /// No limit for this subject (`max = 0`).
    Unlimited,
    Limited(Quota),
}

/// `[[rate_limit.overrides]]`: the per-user and per-user×tool limits of one role or user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOverride {
    pub subject: OverrideSubject,
    pub mcp: OverrideLimit,
    pub tool: OverrideLimit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Sign-in attempts per client IP (login, register, the `/authorize` login page, password
    /// grant).
    pub login: Quota,
    /// Requests to `/oauth/token` per client IP (every grant).
    pub token: Quota,
    /// Client registrations (`POST /oauth/register`) per client IP.
    pub register: Quota,
    /// `/mcp` requests per user; `None` = off.
    pub mcp: Option<Quota>,
    /// Calls per user per tool; `None` = off.
    pub tool: Option<Quota>,
    /// Requests forwarded to each named backend, all users together.
    pub backends: BTreeMap<String, Quota>,
    /// User overrides win over role overrides, which win over the global limits.
    pub overrides: Vec<LimitOverride>,
}

impl Default for RateLimitSettings {
    /// The config file's defaults: the auth endpoints limited per IP, `/mcp` unlimited.
    fn default() -> Self {
        RateLimitSettings {
            login: Quota {
                max: 10,
                window: Duration::from_secs(300),
            },
            token: Quota {
                max: 120,
                window: Duration::from_secs(60),
            },
            register: Quota {
                max: 10,
                window: Duration::from_secs(3600),
            },
            mcp: None,
            tool: None,
            backends: BTreeMap::new(),
            overrides: Vec::new(),
        }
    }
}

/// Who a `/mcp` request counts against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// 0 for anonymous callers (when `auth.required` is off): they share one allowance.
    pub user_id: i64,
    pub username: &'a str,
    pub role: Option<Role>,
}

impl RateLimitSettings {
    /// The per-user `/mcp` quota of `who` (`None`: unlimited).
    pub fn mcp_quota(&self, who: &Subject<'_>) -> Option<Quota> {
        self.resolve(who, |o| o.mcp, self.mcp)
    }

    /// The per-user×tool quota of `who` (`None`: unlimited).
    pub fn tool_quota(&self, who: &Subject<'_>) -> Option<Quota> {
        self.resolve(who, |o| o.tool, self.tool)
    }

    fn resolve(
        &self,
        who: &Subject<'_>,
        pick: impl Fn(&LimitOverride) -> OverrideLimit,
        global: Option<Quota>,
    ) -> Option<Quota> {
        if self.overrides.is_empty() {
            return global;
        }
        let matching = |wanted: &dyn Fn(&OverrideSubject) -> bool| {
            self.overrides
                .iter()
                .filter(|o| wanted(&o.subject))
                .map(&pick)
                .find(|l| *l != OverrideLimit::Inherit)
        };
        let by_user = matching(&|s| matches!(s, OverrideSubject::User(n) if n == who.username));
        let by_role =
            || matching(&|s| matches!(s, OverrideSubject::Role(r) if Some(*r) == who.role));
        match by_user.or_else(by_role) {
            Some(OverrideLimit::Limited(quota)) => Some(quota),
            Some(OverrideLimit::Unlimited) => None,
            Some(OverrideLimit::Inherit) | None => global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(max: u32) -> Quota {
        Quota {
            max,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn user_overrides_win_over_role_overrides_over_the_global_limit() {
        let settings = RateLimitSettings {
            mcp: Some(quota(10)),
            tool: Some(quota(5)),
            overrides: vec![
                LimitOverride {
                    subject: OverrideSubject::Role(Role::Admin),
                    mcp: OverrideLimit::Limited(quota(100)),
                    tool: OverrideLimit::Unlimited,
                },
                LimitOverride {
                    subject: OverrideSubject::User("alice".into()),
                    mcp: OverrideLimit::Limited(quota(3)),
                    tool: OverrideLimit::Inherit,
                },
            ],
            ..RateLimitSettings::default()
        };
        let who = |username, role| Subject {
            user_id: 1,
            username,
            role: Some(role),
        };
        let admin = who("root", Role::Admin);
        assert_eq!(settings.mcp_quota(&admin), Some(quota(100)));
        assert_eq!(settings.tool_quota(&admin), None);
        let alice_admin = who("alice", Role::Admin);
        assert_eq!(settings.mcp_quota(&alice_admin), Some(quota(3)));
        // alice's override leaves the tool limit to her role's.
        assert_eq!(settings.tool_quota(&alice_admin), None);
        let bob = who("bob", Role::User);
        assert_eq!(settings.mcp_quota(&bob), Some(quota(10)));
        assert_eq!(settings.tool_quota(&bob), Some(quota(5)));
    }

    #[test]
    fn subjects_parse_or_say_what_is_wrong() {
        assert_eq!(
            "role:admin".parse::<OverrideSubject>(),
            Ok(OverrideSubject::Role(Role::Admin))
        );
        assert_eq!(
            "user:alice".parse::<OverrideSubject>(),
            Ok(OverrideSubject::User("alice".into()))
        );
        assert!("role:owner".parse::<OverrideSubject>().is_err());
        assert!("user:".parse::<OverrideSubject>().is_err());
        assert!("alice".parse::<OverrideSubject>().is_err());
    }
}
