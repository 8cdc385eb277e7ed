//! `policies`, `groups` and `user_groups` through `actors::storage`, and the policy service's
//! snapshot following them — on both databases.

use actors::auth::policy::{
    Effect, FilePolicies, ItemKind, PolicyChange, PolicyError, PolicyId, PolicyRule, PolicyService,
    PolicySubject,
};
use actors::storage::users::{self, NewUser, Role};
use actors::storage::{Database, DbConn, StorageError, groups, policies};

use crate::fixture::TestDb;

fn user(conn: &mut DbConn, name: &str) -> i64 {
    users::create(
        conn,
        NewUser {
            username: name,
            email: "x@example.com",
            password_hash: "$2b$04$x",
            role: Role::User,
        },
    )
    .expect("create user")
    .id
}

fn rule(subject: &str, tools: Option<&[&str]>) -> PolicyRule {
    PolicyRule {
        subject: subject.parse().unwrap(),
        effect: Effect::Allow,
        backends: vec!["git*".into()],
        tools: tools.map(|t| t.iter().map(|s| s.to_string()).collect()),
        prompts: Some(vec![]),
        resources: None,
        description: "test".into(),
    }
}

fn policies_round_trip_with_null_and_empty_lists(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let before = policies::revision(conn)?;
        let a = policies::create(conn, &rule("user:alice", Some(&["github_*"])))?;
        let b = policies::create(conn, &rule("group:ops", None))?;
        assert_eq!(a.rule.tools, Some(vec!["github_*".to_string()]));
        assert_eq!(b.rule.tools, None, "NULL stays 'every tool'");
        assert_eq!(b.rule.prompts, Some(vec![]), "[] stays 'no prompt'");
        assert_eq!(policies::list(conn)?, vec![a.clone(), b.clone()]);

        let mut changed = a.rule.clone();
        changed.effect = Effect::Deny;
        changed.subject = PolicySubject::Role(Role::User);
        let replaced = policies::replace(conn, a.id, &changed)?;
        assert_eq!(replaced.rule, changed);
        assert_eq!(policies::find(conn, a.id)?.unwrap().rule, changed);
        assert_eq!(policies::delete(conn, b.id)?.id, b.id);
        assert!(matches!(
            policies::delete(conn, b.id),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            policies::replace(conn, 999_999, &changed),
            Err(StorageError::NotFound(_))
        ));
        assert_eq!(
            policies::revision(conn)?,
            before + 4,
            "insert ×2, update, delete"
        );
        Ok(())
    })
    .expect("policies");
}

fn groups_members_and_cascades(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let alice = user(conn, "alice");
        let bob = user(conn, "bob");
        let before = policies::revision(conn)?;
        let ops = groups::create(conn, "ops", "operators")?;
        assert!(matches!(
            groups::create(conn, "ops", ""),
            Err(StorageError::Conflict(m)) if m.contains("ops")
        ));
        let ops = groups::set_members(conn, ops.id, &[bob, alice, bob])?;
        assert_eq!(ops.members, vec![alice, bob]);
        assert!(matches!(
            groups::set_members(conn, ops.id, &[alice, 424_242]),
            Err(StorageError::NotFound(m)) if m.contains("424242")
        ));
        assert_eq!(
            groups::find(conn, ops.id)?.unwrap().members,
            vec![alice, bob]
        );
        let devs = groups::create(conn, "devs", "")?;
        groups::add_member(conn, devs.id, alice)?;
        groups::add_member(conn, devs.id, alice)?;
        assert_eq!(
            groups::memberships(conn)?,
            vec![
                (alice, "devs".to_string()),
                (alice, "ops".to_string()),
                (bob, "ops".to_string())
            ]
        );
        assert!(
            policies::revision(conn)? > before,
            "group changes bump 'policies'"
        );

        // Deleting a user removes their memberships (ON DELETE CASCADE).
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("DELETE FROM users WHERE id = {bob}")),
            conn,
        )?;
        assert_eq!(groups::find(conn, ops.id)?.unwrap().members, vec![alice]);
        let renamed = groups::update(conn, ops.id, Some("operators"), None)?;
        assert_eq!(
            (renamed.name.as_str(), renamed.description.as_str()),
            ("operators", "operators")
        );
        assert!(matches!(
            groups::update(conn, ops.id, Some("devs"), None),
            Err(StorageError::Conflict(_))
        ));
        groups::remove_member(conn, devs.id, alice)?;
        assert!(matches!(
            groups::remove_member(conn, devs.id, alice),
            Err(StorageError::NotFound(_))
        ));
        groups::delete(conn, ops.id)?;
        assert_eq!(groups::memberships(conn)?, vec![]);
        assert_eq!(groups::list(conn)?.len(), 1);
        Ok(())
    })
    .expect("groups");
}

/// The console's membership checkboxes: one user's groups replaced as a whole. A save naming a
/// group that no longer exists fails after the removals were made, and those are rolled back.
fn user_groups_are_saved_all_or_nothing(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let alice = user(conn, "alice");
        let ops = groups::create(conn, "ops", "")?;
        let devs = groups::create(conn, "devs", "")?;
        let qa = groups::create(conn, "qa", "")?;
        assert!(groups::set_user_groups(conn, alice, &[ops.id, devs.id])?);
        assert!(!groups::set_user_groups(conn, alice, &[devs.id, ops.id])?);
        let groups_of = |conn: &mut DbConn| -> Result<Vec<String>, StorageError> {
            let mut names: Vec<String> = groups::memberships(conn)?
                .into_iter()
                .filter(|(u, _)| *u == alice)
                .map(|(_, name)| name)
                .collect();
            names.sort();
            Ok(names)
        };
        assert_eq!(groups_of(conn)?, vec!["devs", "ops"]);

        // Leave ops, join qa and a group deleted meanwhile: refused, nothing changed.
        let gone = groups::create(conn, "gone", "")?;
        groups::delete(conn, gone.id)?;
        let failed = groups::set_user_groups(conn, alice, &[devs.id, qa.id, gone.id]);
        assert!(
            matches!(&failed, Err(StorageError::NotFound(m)) if m.contains(&gone.id.to_string())),
            "{failed:?}"
        );
        assert_eq!(groups_of(conn)?, vec!["devs", "ops"]);
        // An unknown user is refused too.
        assert!(matches!(
            groups::set_user_groups(conn, 424_242, &[ops.id]),
            Err(StorageError::NotFound(_))
        ));

        assert!(groups::set_user_groups(conn, alice, &[qa.id])?);
        assert_eq!(groups_of(conn)?, vec!["qa"]);
        Ok(())
    })
    .expect("user groups");
}

fn service_follows_changes_from_another_process(t: &TestDb) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let alice = t.db.run_blocking(|c| Ok(user(c, "alice"))).unwrap();
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let service = PolicyService::new(t.db.clone(), FilePolicies::default(), log)
            .await
            .unwrap();
        let subject = |s: &PolicyService| {
            let snapshot = s.snapshot();
            snapshot.grants(&snapshot.subject(alice, "alice", Role::User, None))
        };
        assert!(!subject(&service).allows("github", ItemKind::Tool, "github_x"));

        // Another process (the CLI, another instance) writes; the service notices on refresh.
        let other = Database::connect(&t.url, 1).unwrap();
        other
            .run_blocking(|c| {
                let group = groups::create(c, "ops", "")?;
                groups::add_member(c, group.id, alice)?;
                policies::create(c, &rule("group:ops", Some(&["github_*"])))
            })
            .unwrap();
        let generation = service.snapshot().generation();
        assert!(service.refresh().await.unwrap(), "revision moved");
        assert!(!service.refresh().await.unwrap(), "nothing new");
        assert_eq!(service.snapshot().generation(), generation + 1);
        let grants = subject(&service);
        assert!(grants.allows("github", ItemKind::Tool, "github_x"));
        assert!(!grants.allows("github", ItemKind::Prompt, "github_p"));

        // In-process changes rebuild at once; file rules are listed first and read-only.
        let file = FilePolicies {
            default: Default::default(),
            rules: vec![rule("user:alice", None)],
        };
        service.reload_file(file).await.unwrap();
        let listed = service.list().await.unwrap();
        assert_eq!(listed[0].id, PolicyId::File(0));
        assert!(matches!(
            service.delete(&PolicyId::File(0), "admin").await,
            Err(PolicyError::ReadOnly(_))
        ));
        let id = listed[1].id.clone();
        let change = PolicyChange {
            effect: Some("deny".into()),
            tools: Some(Some(vec!["github_x".into()])),
            ..PolicyChange::default()
        };
        service.update(&id, change, "admin").await.unwrap();
        assert!(!subject(&service).allows("github", ItemKind::Tool, "github_x"));
        let bad = PolicyChange {
            subject: Some("team:x".into()),
            backends: Some(vec![]),
            ..PolicyChange::default()
        };
        match service.update(&id, bad, "admin").await {
            Err(PolicyError::Invalid(problems)) => assert_eq!(problems.len(), 1, "{problems:?}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        let granted = service.grant_all_backends(alice, "admin").await.unwrap();
        assert_eq!(granted.rule, PolicyRule::all_backends_for("alice"));
        assert!(matches!(
            service.grant_all_backends(9_999_999, "admin").await,
            Err(PolicyError::NotFound(_))
        ));
    });
}

crate::on_both_backends!(
    policies_round_trip_with_null_and_empty_lists,
    groups_members_and_cascades,
    user_groups_are_saved_all_or_nothing,
    service_follows_changes_from_another_process,
);
