//! Evaluation: a compiled snapshot of every rule, and the [`Grants`] of one subject.
//!
//! An administrator may use everything. For anyone else an item is allowed when at least one of
//! their allow rules matches it and none of their deny rules does (deny wins); an item no rule
//! of theirs matches is decided by the default policy. Token scopes (when the token has any)
//! narrow the kinds further: `mcp` keeps every kind, `mcp:tools`, `mcp:prompts` and
//! `mcp:resources` one each, and a token without an MCP scope reaches nothing — whatever the role.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use super::glob::Glob;
use super::rule::{Effect, PolicyRule, PolicySubject};
use crate::storage::users::Role;

/// What decides an item no rule of the user's matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultPolicy {
    /// Nothing until granted: the default for new installs.
    #[default]
    Deny,
    /// Everything not denied: the original gateway's behaviour.
    Allow,
}

impl DefaultPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::Deny => "deny",
            DefaultPolicy::Allow => "allow",
        }
    }
}

impl FromStr for DefaultPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<DefaultPolicy, String> {
        match text {
            "deny" => Ok(DefaultPolicy::Deny),
            "allow" => Ok(DefaultPolicy::Allow),
            other => Err(format!(
                "unknown default policy {other:?}; use \"deny\" (nothing until granted) or \"allow\" (the original gateway's behaviour)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Tool,
    Prompt,
    Resource,
    ResourceTemplate,
}

/// Who is asking, as the engine sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub groups: Vec<String>,
    /// The token's scopes; `None` means the token is not scope-restricted (a login token).
    pub scopes: Option<Vec<String>>,
}

/// How much of one backend a subject may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendAccess {
    /// Nothing: `/mcp/{server}` answers 403.
    None,
    /// Some items: lists are filtered and calls checked one by one.
    Partial,
    /// Every item of every kind: nothing to filter.
    Full,
}

struct CompiledRule {
    subject: PolicySubject,
    effect: Effect,
    backends: Vec<Glob>,
    tools: Option<Vec<Glob>>,
    prompts: Option<Vec<Glob>>,
    resources: Option<Vec<Glob>>,
}

fn compile(patterns: &[String]) -> Vec<Glob> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

impl CompiledRule {
    fn new(rule: &PolicyRule) -> CompiledRule {
        CompiledRule {
            subject: rule.subject.clone(),
            effect: rule.effect,
            backends: compile(&rule.backends),
            tools: rule.tools.as_deref().map(compile),
            prompts: rule.prompts.as_deref().map(compile),
            resources: rule.resources.as_deref().map(compile),
        }
    }

    fn applies_to(&self, subject: &Subject) -> bool {
        match &self.subject {
            PolicySubject::Role(role) => *role == subject.role,
            PolicySubject::Group(name) => subject.groups.iter().any(|g| g == name),
            PolicySubject::User(name) => *name == subject.username,
        }
    }

    fn matches_backend(&self, backend: &str) -> bool {
        self.backends.iter().any(|g| g.matches(backend))
    }

    fn matches(&self, backend: &str, kind: ItemKind, name: &str) -> bool {
        let list = match kind {
            ItemKind::Tool => &self.tools,
            ItemKind::Prompt => &self.prompts,
            ItemKind::Resource | ItemKind::ResourceTemplate => &self.resources,
        };
        self.matches_backend(backend)
            && list
                .as_ref()
                .is_none_or(|globs| globs.iter().any(|g| g.matches(name)))
    }

    /// Every item of every kind on the backends it names.
    fn covers_whole_backends(&self) -> bool {
        self.tools.is_none() && self.prompts.is_none() && self.resources.is_none()
    }
}

/// Every rule (config file first, then database), compiled, with group memberships. Immutable;
/// a change builds a new one with the next generation.
pub struct PolicySnapshot {
    generation: u64,
    default: DefaultPolicy,
    rules: Vec<Arc<CompiledRule>>,
    groups_of: HashMap<i64, Vec<String>>,
}

impl PolicySnapshot {
    pub fn build(
        generation: u64,
        default: DefaultPolicy,
        rules: &[PolicyRule],
        memberships: Vec<(i64, String)>,
    ) -> PolicySnapshot {
        let mut groups_of: HashMap<i64, Vec<String>> = HashMap::new();
        for (user, group) in memberships {
            groups_of.entry(user).or_default().push(group);
        }
        PolicySnapshot {
            generation,
            default,
            rules: rules
                .iter()
                .map(|r| Arc::new(CompiledRule::new(r)))
                .collect(),
            groups_of,
        }
    }

    /// Increases with every rebuild; per-user decisions are cached against it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn default_policy(&self) -> DefaultPolicy {
        self.default
    }

    /// The groups `user_id` belongs to.
    pub fn groups_of(&self, user_id: i64) -> &[String] {
        self.groups_of.get(&user_id).map_or(&[], Vec::as_slice)
    }

    /// The subject for a user, with their groups from this snapshot.
    pub fn subject(
        &self,
        user_id: i64,
        username: &str,
        role: Role,
        scopes: Option<Vec<String>>,
    ) -> Subject {
        Subject {
            user_id,
            username: username.to_string(),
            role,
            groups: self.groups_of(user_id).to_vec(),
            scopes,
        }
    }

    /// What `subject` may use: their rules picked out once, so each check only walks those.
    pub fn grants(&self, subject: &Subject) -> Grants {
        Grants {
            // Admin is a role; an OAuth token carries it only with `mcp:admin` (least privilege
            // for clients an administrator signs in to). Login and API tokens (no scopes) do.
            admin: subject.role == Role::Admin
                && subject
                    .scopes
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == "mcp:admin")),
            kinds: KindSet::from_scopes(subject.scopes.as_deref()),
            rules: self
                .rules
                .iter()
                .filter(|r| r.applies_to(subject))
                .cloned()
                .collect(),
            default: self.default,
        }
    }
}

/// The kinds a token's scopes reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KindSet {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl KindSet {
    const ALL: KindSet = KindSet {
        tools: true,
        prompts: true,
        resources: true,
    };

    fn from_scopes(scopes: Option<&[String]>) -> KindSet {
        let Some(scopes) = scopes else {
            return KindSet::ALL;
        };
        let mut set = KindSet {
            tools: false,
            prompts: false,
            resources: false,
        };
        for scope in scopes {
            match scope.as_str() {
                "mcp" => set = KindSet::ALL,
                "mcp:tools" => set.tools = true,
                "mcp:prompts" => set.prompts = true,
                "mcp:resources" => set.resources = true,
                _ => {}
            }
        }
        set
    }

    fn has(self, kind: ItemKind) -> bool {
        match kind {
            ItemKind::Tool => self.tools,
            ItemKind::Prompt => self.prompts,
            ItemKind::Resource | ItemKind::ResourceTemplate => self.resources,
        }
    }

    fn any(self) -> bool {
        self.tools || self.prompts || self.resources
    }
}

/// One subject's permissions under one snapshot. Cheap to check, meant to be cached per user
/// and snapshot generation.
#[derive(Clone)]
pub struct Grants {
    admin: bool,
    kinds: KindSet,
    rules: Vec<Arc<CompiledRule>>,
    default: DefaultPolicy,
}

impl Grants {
    /// No restriction at all: requests when authentication is switched off.
    pub fn everything() -> Grants {
        Grants {
            admin: true,
            kinds: KindSet::ALL,
            rules: Vec::new(),
            default: DefaultPolicy::Allow,
        }
    }

    /// Whether `name` (a client-visible tool or prompt name, or a resource URI or URI template)
    /// of `kind` on `backend` may be listed and used.
    pub fn allows(&self, backend: &str, kind: ItemKind, name: &str) -> bool {
        self.kinds.has(kind) && self.rules_allow(backend, kind, name)
    }

    /// The scope a token lacks for an item its rules allow (MCP step-up): `Some` only when the
    /// token's scopes are the one reason the item is refused, so a step-up challenge never
    /// reveals an item the user could not use anyway.
    pub fn missing_scope(&self, backend: &str, kind: ItemKind, name: &str) -> Option<&'static str> {
        (!self.kinds.has(kind) && self.rules_allow(backend, kind, name)).then_some(match kind {
            ItemKind::Tool => "mcp:tools",
            ItemKind::Prompt => "mcp:prompts",
            ItemKind::Resource | ItemKind::ResourceTemplate => "mcp:resources",
        })
    }

    /// `Some("mcp")` when the token reaches no kind of item at all while the rules grant some of
    /// `backend`: the scope is what keeps the caller out of `/mcp/{server}`.
    pub fn missing_backend_scope(&self, backend: &str) -> Option<&'static str> {
        if self.kinds.any() {
            return None;
        }
        let unscoped = Grants {
            kinds: KindSet::ALL,
            ..self.clone()
        };
        (unscoped.backend_access(backend) != BackendAccess::None).then_some("mcp")
    }

    /// The role and rules' verdict, scopes aside.
    fn rules_allow(&self, backend: &str, kind: ItemKind, name: &str) -> bool {
        if self.admin {
            return true;
        }
        let mut allowed = None;
        for rule in self.rules.iter().filter(|r| r.matches(backend, kind, name)) {
            match rule.effect {
                Effect::Deny => return false,
                Effect::Allow => allowed = Some(true),
            }
        }
        allowed.unwrap_or(self.default == DefaultPolicy::Allow)
    }

    /// How much of `backend` these grants reach (see [`BackendAccess`]).
    pub fn backend_access(&self, backend: &str) -> BackendAccess {
        if !self.kinds.any() {
            return BackendAccess::None;
        }
        let every_kind = self.kinds == KindSet::ALL;
        if self.admin {
            return if every_kind {
                BackendAccess::Full
            } else {
                BackendAccess::Partial
            };
        }
        let on_backend = || self.rules.iter().filter(|r| r.matches_backend(backend));
        let denies = || on_backend().filter(|r| r.effect == Effect::Deny);
        let allows = || on_backend().filter(|r| r.effect == Effect::Allow);
        if denies().any(|r| r.covers_whole_backends()) {
            return BackendAccess::None;
        }
        let default_allows = self.default == DefaultPolicy::Allow;
        if allows().next().is_none() && !default_allows {
            return BackendAccess::None;
        }
        let everything_allowed = default_allows || allows().any(|r| r.covers_whole_backends());
        if every_kind && everything_allowed && denies().next().is_none() {
            BackendAccess::Full
        } else {
            BackendAccess::Partial
        }
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Every item of every backend, whatever the rules: lists need no filtering.
    pub fn unrestricted(&self) -> bool {
        self.admin && self.kinds == KindSet::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(subject: &str, effect: Effect, backends: &[&str]) -> PolicyRule {
        PolicyRule {
            subject: subject.parse().unwrap(),
            effect,
            backends: backends.iter().map(|s| s.to_string()).collect(),
            tools: None,
            prompts: None,
            resources: None,
            description: String::new(),
        }
    }

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    fn user(name: &str, role: Role, scopes: Option<&[&str]>) -> Subject {
        Subject {
            user_id: 7,
            username: name.into(),
            role,
            groups: Vec::new(),
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }

    fn grants(default: DefaultPolicy, rules: &[PolicyRule], subject: &Subject) -> Grants {
        PolicySnapshot::build(1, default, rules, vec![(7, "ops".into())]).grants(&Subject {
            groups: vec!["ops".into()],
            ..subject.clone()
        })
    }

    #[test]
    fn default_deny_gives_nothing_until_granted() {
        let alice = user("alice", Role::User, None);
        let g = grants(DefaultPolicy::Deny, &[], &alice);
        assert!(!g.allows("github", ItemKind::Tool, "github_search"));
        assert_eq!(g.backend_access("github"), BackendAccess::None);

        let g = grants(
            DefaultPolicy::Deny,
            &[rule("user:alice", Effect::Allow, &["*"])],
            &alice,
        );
        assert!(g.allows("github", ItemKind::Tool, "github_search"));
        assert!(g.allows("files", ItemKind::Resource, "file:///etc/motd"));
        assert_eq!(g.backend_access("github"), BackendAccess::Full);
    }

    #[test]
    fn default_allow_gives_everything_not_denied() {
        let bob = user("bob", Role::User, None);
        let mut deny = rule("role:user", Effect::Deny, &["github"]);
        deny.tools = list(&["github_delete_*"]);
        let g = grants(DefaultPolicy::Allow, &[deny], &bob);
        assert!(g.allows("github", ItemKind::Tool, "github_search"));
        assert!(!g.allows("github", ItemKind::Tool, "github_delete_repo"));
        assert!(g.allows("other", ItemKind::Prompt, "p"));
        assert_eq!(g.backend_access("github"), BackendAccess::Partial);
        assert_eq!(g.backend_access("other"), BackendAccess::Full);
    }

    #[test]
    fn deny_wins_over_allow_from_any_subject() {
        let carol = user("carol", Role::User, None);
        let allow = rule("user:carol", Effect::Allow, &["*"]);
        let mut deny = rule("group:ops", Effect::Deny, &["db"]);
        deny.tools = list(&["db_drop"]);
        let g = grants(DefaultPolicy::Deny, &[allow, deny], &carol);
        assert!(g.allows("db", ItemKind::Tool, "db_query"));
        assert!(!g.allows("db", ItemKind::Tool, "db_drop"));
        assert_eq!(g.backend_access("db"), BackendAccess::Partial);
        let whole = rule("group:ops", Effect::Deny, &["d?"]);
        let g = grants(
            DefaultPolicy::Deny,
            &[rule("user:carol", Effect::Allow, &["*"]), whole],
            &carol,
        );
        assert!(!g.allows("db", ItemKind::Prompt, "anything"));
        assert_eq!(g.backend_access("db"), BackendAccess::None);
        assert_eq!(g.backend_access("dbx"), BackendAccess::Full);
    }

    #[test]
    fn kinds_absent_lists_mean_all_and_empty_lists_none() {
        let dave = user("dave", Role::User, None);
        let mut allow = rule("user:dave", Effect::Allow, &["git*"]);
        allow.tools = list(&["github_get_?", "gitlab_*"]);
        allow.prompts = Some(vec![]);
        let g = grants(DefaultPolicy::Deny, &[allow], &dave);
        assert!(g.allows("github", ItemKind::Tool, "github_get_x"));
        assert!(!g.allows("github", ItemKind::Tool, "github_get_xy"));
        assert!(g.allows("gitlab", ItemKind::Tool, "gitlab_mr"));
        assert!(!g.allows("github", ItemKind::Prompt, "github_review"));
        assert!(g.allows("github", ItemKind::Resource, "repo://x"));
        assert!(g.allows("github", ItemKind::ResourceTemplate, "repo://{id}"));
        assert!(!g.allows("jira", ItemKind::Resource, "repo://x"));
        assert_eq!(g.backend_access("github"), BackendAccess::Partial);
        assert_eq!(g.backend_access("jira"), BackendAccess::None);
    }

    #[test]
    fn rules_of_other_subjects_do_not_apply() {
        let erin = user("erin", Role::User, None);
        let rules = [
            rule("user:frank", Effect::Allow, &["*"]),
            rule("role:admin", Effect::Allow, &["*"]),
            rule("group:devs", Effect::Allow, &["*"]),
        ];
        let g = grants(DefaultPolicy::Deny, &rules, &erin);
        assert!(!g.allows("any", ItemKind::Tool, "t"));
        let g = grants(
            DefaultPolicy::Deny,
            &[rule("group:ops", Effect::Allow, &["*"])],
            &erin,
        );
        assert!(g.allows("any", ItemKind::Tool, "t"), "erin is in ops");
        let g = grants(
            DefaultPolicy::Deny,
            &[rule("role:user", Effect::Allow, &["any"])],
            &erin,
        );
        assert!(g.allows("any", ItemKind::Tool, "t"));
    }

    #[test]
    fn admins_use_everything_even_against_deny_rules() {
        let root = user("root", Role::Admin, None);
        let rules = [rule("role:admin", Effect::Deny, &["*"])];
        let g = grants(DefaultPolicy::Deny, &rules, &root);
        assert!(g.allows("db", ItemKind::Tool, "db_drop"));
        assert_eq!(g.backend_access("db"), BackendAccess::Full);
        assert!(Grants::everything().allows("x", ItemKind::Prompt, "y"));
    }

    #[test]
    fn step_up_names_the_missing_scope_only_when_rules_allow() {
        let snapshot = PolicySnapshot::build(
            1,
            DefaultPolicy::Deny,
            &[rule("user:alice", Effect::Allow, &["alpha"])],
            vec![],
        );
        let prompts_only = snapshot.grants(&user("alice", Role::User, Some(&["mcp:prompts"])));
        assert_eq!(
            prompts_only.missing_scope("alpha", ItemKind::Tool, "alpha_echo"),
            Some("mcp:tools")
        );
        assert_eq!(
            prompts_only.missing_scope("alpha", ItemKind::Prompt, "p"),
            None
        );
        // Not granted by any rule: no step-up, the item stays invisible.
        assert_eq!(
            prompts_only.missing_scope("beta", ItemKind::Tool, "beta_x"),
            None
        );
        let nothing = snapshot.grants(&user("alice", Role::User, Some(&["openid"])));
        assert_eq!(nothing.missing_backend_scope("alpha"), Some("mcp"));
        assert_eq!(nothing.missing_backend_scope("beta"), None);
        assert_eq!(prompts_only.missing_backend_scope("alpha"), None);
    }

    #[test]
    fn an_admins_oauth_token_carries_the_role_only_with_mcp_admin() {
        let rules = [rule("user:a", Effect::Allow, &["mine"])];
        let plain = user("a", Role::Admin, Some(&["mcp"]));
        let g = grants(DefaultPolicy::Deny, &rules, &plain);
        assert!(
            !g.is_admin(),
            "without mcp:admin the token is held to the policies"
        );
        assert!(g.allows("mine", ItemKind::Tool, "x"));
        assert!(!g.allows("other", ItemKind::Tool, "x"));

        let elevated = user("a", Role::Admin, Some(&["mcp", "mcp:admin"]));
        let g = grants(DefaultPolicy::Deny, &rules, &elevated);
        assert!(g.is_admin());
        assert!(g.allows("other", ItemKind::Tool, "x"));

        let not_admin = user("u", Role::User, Some(&["mcp", "mcp:admin"]));
        let g = grants(DefaultPolicy::Deny, &[], &not_admin);
        assert!(!g.is_admin(), "the scope never makes anyone an admin");
        assert!(!g.allows("other", ItemKind::Tool, "x"));

        let login = user("a", Role::Admin, None);
        assert!(grants(DefaultPolicy::Deny, &[], &login).is_admin());
    }

    #[test]
    fn scopes_narrow_the_kinds_for_everyone() {
        let all = [rule("role:user", Effect::Allow, &["*"])];
        let tools_only = user("t", Role::User, Some(&["openid", "mcp:tools"]));
        let g = grants(DefaultPolicy::Deny, &all, &tools_only);
        assert!(g.allows("b", ItemKind::Tool, "x"));
        assert!(!g.allows("b", ItemKind::Prompt, "x"));
        assert!(!g.allows("b", ItemKind::ResourceTemplate, "x"));
        assert_eq!(g.backend_access("b"), BackendAccess::Partial);

        let full = user("f", Role::User, Some(&["mcp"]));
        let g = grants(DefaultPolicy::Deny, &all, &full);
        assert_eq!(g.backend_access("b"), BackendAccess::Full);

        let none = user("n", Role::User, Some(&["openid", "profile"]));
        let g = grants(DefaultPolicy::Deny, &all, &none);
        assert!(!g.allows("b", ItemKind::Tool, "x"));
        assert_eq!(g.backend_access("b"), BackendAccess::None);

        let admin = user("a", Role::Admin, Some(&["mcp:admin", "mcp:resources"]));
        let g = grants(DefaultPolicy::Deny, &[], &admin);
        assert!(g.allows("b", ItemKind::Resource, "u://x"));
        assert!(
            !g.allows("b", ItemKind::Tool, "x"),
            "a scope limits admins too"
        );
        assert_eq!(g.backend_access("b"), BackendAccess::Partial);
    }
}
