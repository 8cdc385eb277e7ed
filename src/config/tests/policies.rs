//! `[[policies]]` and `auth.default_policy`: every problem reported with its key; valid tables
//! become rules with the documented defaults.

use actors::auth::policy::{DefaultPolicy, Effect, PolicySubject};
use actors::storage::users::Role;

use super::{Scratch, keys_of};

#[test]
fn every_bad_policy_field_is_reported_at_once() {
    let scratch = Scratch::new();
    let text = r#"
        [auth]
        default_policy = "maybe"

        [[policies]]
        effect = "permit"
        backends = []
        tools = ["ok", ""]

        [[policies]]
        subject = "team:x"
        effect = "allow"
        prompts = "all"
        colour = "red"

        [[policies]]
        subject = "group:a b"
        effect = "deny"
        resources = [1]
    "#;
    let report = scratch.load_toml(text).unwrap_err();
    let mut keys = keys_of(&report);
    keys.sort();
    assert_eq!(
        keys,
        [
            "auth.default_policy",
            "policies[0].backends",
            "policies[0].effect",
            "policies[0].subject",
            "policies[0].tools[1]",
            "policies[1].colour",
            "policies[1].prompts",
            "policies[1].subject",
            "policies[2].resources[0]",
            "policies[2].subject",
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(text.contains("unknown default policy \"maybe\""), "{text}");
    assert!(text.contains("unknown effect \"permit\""), "{text}");
}

#[test]
fn valid_policies_become_rules_with_defaults() {
    let scratch = Scratch::new();
    let cfg = scratch
        .load_toml(
            r#"
            [auth]
            default_policy = "allow"

            [[policies]]
            subject = "role:user"
            effect = "deny"
            tools = ["db_drop_*"]

            [[policies]]
            subject = "user:alice"
            effect = "allow"
            backends = ["github"]
            prompts = []
            description = "Alice's grant."
            "#,
        )
        .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(cfg.auth.default_policy, DefaultPolicy::Allow);
    let [deny, allow] = cfg.policies.as_slice() else {
        panic!("two policies expected: {:?}", cfg.policies);
    };
    assert_eq!(deny.subject, PolicySubject::Role(Role::User));
    assert_eq!(deny.effect, Effect::Deny);
    assert_eq!(deny.backends, ["*"], "backends default to every backend");
    assert_eq!(deny.tools.as_deref(), Some(&["db_drop_*".to_string()][..]));
    assert_eq!(deny.prompts, None, "absent means every prompt");
    assert_eq!(allow.subject, PolicySubject::User("alice".into()));
    assert_eq!(allow.prompts, Some(vec![]), "[] means none");
    assert_eq!(allow.description, "Alice's grant.");

    let defaults = scratch.load_toml("").unwrap();
    assert_eq!(defaults.auth.default_policy, DefaultPolicy::Deny);
    assert!(defaults.policies.is_empty());
}

#[test]
fn default_policy_comes_from_the_environment_too() {
    let scratch = Scratch::new();
    let file = scratch.write("gateway.toml", "");
    let env = super::env(&[("AUTHMCP__AUTH__DEFAULT_POLICY", "allow")]);
    let cfg = scratch.load(&super::with_file(file), &env).unwrap();
    assert_eq!(cfg.auth.default_policy, DefaultPolicy::Allow);
}
