//! The data plane: every limit's buckets in shared concurrent maps, read and updated directly by
//! request handlers. The settings are an `ArcSwap` snapshot the `RateLimitActor` replaces on
//! reload; the buckets outlive restarts of the actor and reloads that leave a limit as it was,
//! so nobody gets a fresh allowance from a restart or an unrelated SIGHUP. A limit that does
//! change starts everyone afresh under it (a raised limit must help at once: a GCRA state
//! earned under the old quota would otherwise hold keys back for up to a window).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::settings::{RateLimitSettings, Subject};
use super::{Decision, KeyedGcra, Quota};

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Sign-in attempts per client IP.
    Login,
    /// `/oauth/token` requests per client IP.
    Token,
    /// `/oauth/register` per client IP.
    Register,
    /// `/mcp` requests per user.
    Mcp,
    /// Calls per user per tool.
    Tool,
    /// Requests forwarded to one backend.
    Backend,
}

impl LimitKind {
    pub const ALL: [LimitKind; 6] = [
        LimitKind::Login,
        LimitKind::Token,
        LimitKind::Register,
        LimitKind::Mcp,
        LimitKind::Tool,
        LimitKind::Backend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Login => "login",
            LimitKind::Token => "token",
            LimitKind::Register => "register",
            LimitKind::Mcp => "user",
            LimitKind::Tool => "tool",
            LimitKind::Backend => "backend",
        }
    }
}

/// A refusal: which limit, its quota, and how long until the next request would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub kind: LimitKind,
    pub quota: Quota,
    pub retry_after: Duration,
}

impl Rejection {
    /// Whole seconds for `Retry-After` (at least 1: `0` would invite an immediate retry).
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_millis() as u64).div_ceil(1000).max(1)
    }

    /// Milliseconds for `data.retry_after_ms` (at least 1).
    pub fn retry_after_ms(&self) -> u64 {
        (self.retry_after.as_micros() as u64).div_ceil(1000).max(1)
    }
}

/// Rejections by kind since start, for the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitStats {
    pub rejected_by_kind: BTreeMap<&'static str, u64>,
    /// Keys currently tracked over every limit (bounded by reaping).
    pub tracked_keys: usize,
}

/// `KeyedGcra` checks here always pass the current quota, so the limiter's own is unused.
const UNUSED: Quota = Quota {
    max: 1,
    window: Duration::from_secs(1),
};

pub struct RateLimiter {
    settings: ArcSwap<RateLimitSettings>,
    login: KeyedGcra<IpAddr>,
    token: KeyedGcra<IpAddr>,
    register: KeyedGcra<IpAddr>,
    mcp: KeyedGcra<i64>,
    tool: KeyedGcra<(i64, Box<str>)>,
    backend: KeyedGcra<Box<str>>,
    rejected: [AtomicU64; LimitKind::ALL.len()],
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        RateLimiter {
            settings: ArcSwap::from_pointee(settings),
            login: KeyedGcra::new(UNUSED),
            token: KeyedGcra::new(UNUSED),
            register: KeyedGcra::new(UNUSED),
            mcp: KeyedGcra::new(UNUSED),
            tool: KeyedGcra::new(UNUSED),
            backend: KeyedGcra::new(UNUSED),
            rejected: Default::default(),
        }
    }

    /// The limits in force.
    pub fn settings(&self) -> Arc<RateLimitSettings> {
        self.settings.load_full()
    }

    /// Replaces the limits; the actor's job (on reload), so not public. The buckets of each
    /// limit that changed are emptied.
    pub(crate) fn apply(&self, settings: RateLimitSettings) {
        let old = self.settings.swap(Arc::new(settings));
        let new = self.settings.load();
        let per_user_changed = old.overrides != new.overrides;
        if old.login != new.login {
            self.login.clear();
        }
        if old.token != new.token {
            self.token.clear();
        }
        if old.register != new.register {
            self.register.clear();
        }
        if per_user_changed || old.mcp != new.mcp {
            self.mcp.clear();
        }
        if per_user_changed || old.tool != new.tool {
            self.tool.clear();
        }
        if old.backends != new.backends {
            self.backend.clear();
        }
    }

    /// One sign-in attempt from `ip`.
    pub fn check_login(&self, ip: IpAddr) -> Result<(), Rejection> {
        let quota = self.settings.load().login;
        self.count(
            LimitKind::Login,
            &self.login,
            &ip,
            Some(quota),
            Instant::now(),
        )
    }

    /// One `/oauth/token` request from `ip`.
    pub fn check_token(&self, ip: IpAddr) -> Result<(), Rejection> {
        let quota = self.settings.load().token;
        self.count(
            LimitKind::Token,
            &self.token,
            &ip,
            Some(quota),
            Instant::now(),
        )
    }

    /// One client registration from `ip`.
    pub fn check_register(&self, ip: IpAddr) -> Result<(), Rejection> {
        let quota = self.settings.load().register;
        self.count(
            LimitKind::Register,
            &self.register,
            &ip,
            Some(quota),
            Instant::now(),
        )
    }

    /// One `/mcp` request by `who`.
    pub fn check_user(&self, who: &Subject<'_>) -> Result<(), Rejection> {
        self.check_user_at(who, Instant::now())
    }

    /// [`RateLimiter::check_user`] at `now` (tests pass their own clock).
    pub fn check_user_at(&self, who: &Subject<'_>, now: Instant) -> Result<(), Rejection> {
        let quota = self.settings.load().mcp_quota(who);
        self.count(LimitKind::Mcp, &self.mcp, &who.user_id, quota, now)
    }

    /// One call of `tool` (the name the client used) by `who`.
    pub fn check_tool(&self, who: &Subject<'_>, tool: &str) -> Result<(), Rejection> {
        let Some(quota) = self.settings.load().tool_quota(who) else {
            return Ok(());
        };
        let key = (who.user_id, Box::from(tool));
        self.count(
            LimitKind::Tool,
            &self.tool,
            &key,
            Some(quota),
            Instant::now(),
        )
    }

    /// One request forwarded to `backend` (every user together).
    pub fn check_backend(&self, backend: &str) -> Result<(), Rejection> {
        let settings = self.settings.load();
        let Some(quota) = settings.backends.get(backend).copied() else {
            return Ok(());
        };
        self.count(
            LimitKind::Backend,
            &self.backend,
            &Box::from(backend),
            Some(quota),
            Instant::now(),
        )
    }

    fn count<K: Eq + std::hash::Hash + Clone>(
        &self,
        kind: LimitKind,
        buckets: &KeyedGcra<K>,
        key: &K,
        quota: Option<Quota>,
        now: Instant,
    ) -> Result<(), Rejection> {
        let Some(quota) = quota else {
            return Ok(());
        };
        match buckets.check_quota_at(key, quota, now) {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => {
                self.rejected[kind as usize].fetch_add(1, Ordering::Relaxed);
                Err(Rejection {
                    kind,
                    quota,
                    retry_after,
                })
            }
        }
    }

    /// Forgets every key that is back to a full allowance at `now`; returns how many.
    pub fn reap_at(&self, now: Instant) -> usize {
        self.login.prune_at(now)
            + self.token.prune_at(now)
            + self.register.prune_at(now)
            + self.mcp.prune_at(now)
            + self.tool.prune_at(now)
            + self.backend.prune_at(now)
    }

    /// Keys tracked over every limit.
    pub fn tracked_keys(&self) -> usize {
        self.login.len()
            + self.token.len()
            + self.register.len()
            + self.mcp.len()
            + self.tool.len()
            + self.backend.len()
    }

    /// Rejections by kind since start (plain counters: reading them never waits).
    pub fn stats(&self) -> RateLimitStats {
        RateLimitStats {
            rejected_by_kind: LimitKind::ALL
                .iter()
                .map(|k| {
                    (
                        k.as_str(),
                        self.rejected[*k as usize].load(Ordering::Relaxed),
                    )
                })
                .collect(),
            tracked_keys: self.tracked_keys(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::settings::{LimitOverride, OverrideLimit, OverrideSubject};
    use crate::storage::users::Role;

    fn quota(max: u32, window_s: u64) -> Quota {
        Quota {
            max,
            window: Duration::from_secs(window_s),
        }
    }

    fn user(user_id: i64, username: &str) -> Subject<'_> {
        Subject {
            user_id,
            username,
            role: Some(Role::User),
        }
    }

    #[test]
    fn reaping_removes_only_idle_keys_with_an_injected_clock() {
        let limiter = RateLimiter::new(RateLimitSettings {
            mcp: Some(quota(2, 60)),
            ..RateLimitSettings::default()
        });
        let t0 = Instant::now();
        // "idle" used one 30 s slot at t0; "busy" used both slots at t0+50 s.
        assert!(limiter.check_user_at(&user(1, "idle"), t0).is_ok());
        let later = t0 + Duration::from_secs(50);
        for _ in 0..2 {
            assert!(limiter.check_user_at(&user(2, "busy"), later).is_ok());
        }
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(limiter.reap_at(t0 + Duration::from_secs(40)), 1);
        assert_eq!(limiter.tracked_keys(), 1);
        // The busy user's state survived the reaping: still limited.
        let refused = limiter
            .check_user_at(&user(2, "busy"), later)
            .expect_err("still over the limit");
        assert_eq!(refused.kind, LimitKind::Mcp);
        // Once everyone is idle, nothing is left.
        assert_eq!(limiter.reap_at(t0 + Duration::from_secs(600)), 1);
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn a_new_limit_applies_to_existing_buckets_and_rejections_are_counted() {
        let limiter = RateLimiter::new(RateLimitSettings {
            mcp: Some(quota(1, 3600)),
            ..RateLimitSettings::default()
        });
        let alice = user(1, "alice");
        assert!(limiter.check_user(&alice).is_ok());
        let refused = limiter.check_user(&alice).expect_err("over 1 per hour");
        assert!(refused.retry_after_secs() > 3000);
        assert!(refused.retry_after_ms() > 3_000_000);
        limiter.apply(RateLimitSettings {
            mcp: Some(quota(1000, 3600)),
            ..RateLimitSettings::default()
        });
        assert!(limiter.check_user(&alice).is_ok());
        // An unrelated change keeps the spent allowance.
        for _ in 0..999 {
            assert!(limiter.check_user(&alice).is_ok());
        }
        limiter.apply(RateLimitSettings {
            mcp: Some(quota(1000, 3600)),
            login: quota(99, 60),
            ..RateLimitSettings::default()
        });
        assert!(limiter.check_user(&alice).is_err());
        // Off: nothing is counted or tracked for the user any more.
        limiter.apply(RateLimitSettings::default());
        let before = limiter.tracked_keys();
        assert!(limiter.check_user(&user(7, "carol")).is_ok());
        assert_eq!(limiter.tracked_keys(), before);
        assert_eq!(limiter.stats().rejected_by_kind["user"], 2);
        assert_eq!(limiter.stats().rejected_by_kind["tool"], 0);
    }

    #[test]
    fn tools_and_backends_have_their_own_buckets() {
        let limiter = RateLimiter::new(RateLimitSettings {
            tool: Some(quota(1, 3600)),
            backends: [("fragile".to_string(), quota(2, 3600))].into(),
            overrides: vec![LimitOverride {
                subject: OverrideSubject::User("root".into()),
                mcp: OverrideLimit::Inherit,
                tool: OverrideLimit::Unlimited,
            }],
            ..RateLimitSettings::default()
        });
        let alice = user(1, "alice");
        assert!(limiter.check_tool(&alice, "echo").is_ok());
        assert_eq!(
            limiter.check_tool(&alice, "echo").map_err(|r| r.kind),
            Err(LimitKind::Tool)
        );
        assert!(limiter.check_tool(&alice, "add").is_ok());
        assert!(limiter.check_tool(&user(2, "bob"), "echo").is_ok());
        for _ in 0..5 {
            assert!(limiter.check_tool(&user(3, "root"), "echo").is_ok());
        }
        assert!(limiter.check_backend("fragile").is_ok());
        assert!(limiter.check_backend("fragile").is_ok());
        assert_eq!(
            limiter.check_backend("fragile").map_err(|r| r.kind),
            Err(LimitKind::Backend)
        );
        assert!(limiter.check_backend("sturdy").is_ok());
        let stats = limiter.stats();
        assert_eq!(stats.rejected_by_kind["tool"], 1);
        assert_eq!(stats.rejected_by_kind["backend"], 1);
    }
}
