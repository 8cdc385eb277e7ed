//! The `users` table through `actors::storage::users`.

use actors::storage::users::{self, NewUser, Role};
use actors::storage::{DbConn, StorageError};

use crate::fixture::TestDb;

fn new_user<'a>(username: &'a str, role: Role) -> NewUser<'a> {
    NewUser {
        username,
        email: "someone@example.com",
        password_hash: "$2b$04$abcdefghijklmnopqrstuu5Y6bV3e2lFv2KxQvJ7w5d7h5O0b1nUy",
        role,
    }
}

fn create(conn: &mut DbConn, username: &str, role: Role) -> users::User {
    users::create(conn, new_user(username, role)).expect("create user")
}

fn create_find_and_list(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let alice = create(conn, "alice", Role::Admin);
        assert!(alice.id > 0);
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.email, "someone@example.com");
        assert_eq!(alice.role, Role::Admin);
        assert!(alice.enabled);
        assert!(alice.created_at_ms > 1_700_000_000_000, "unix millis");
        assert_eq!(alice.created_at_ms, alice.updated_at_ms);
        assert_eq!(alice.last_login_at_ms, None);
        let bob = create(conn, "bob", Role::User);

        assert_eq!(users::find_by_username(conn, "alice")?, Some(alice.clone()));
        assert_eq!(users::find_by_id(conn, bob.id)?, Some(bob.clone()));
        assert_eq!(users::find_by_username(conn, "carol")?, None);
        assert_eq!(users::find_by_id(conn, 999_999)?, None);

        let all = users::list(conn)?;
        assert_eq!(all, vec![alice, bob]);
        Ok(())
    })
    .expect("create/find/list");
}

fn duplicate_username_is_a_conflict(t: &TestDb) {
    t.db.run_blocking(|conn| {
        create(conn, "alice", Role::Admin);
        let err = users::create(conn, new_user("alice", Role::User)).unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        assert_eq!(err.to_string(), "user `alice` already exists");
        assert_eq!(users::list(conn)?.len(), 1);
        Ok(())
    })
    .expect("duplicate check");
}

fn a_new_account_needs_an_email_no_other_account_has(t: &TestDb) {
    t.db.run_blocking(|conn| {
        // Written before the rule (no unique index): both rows load and stay usable.
        create(conn, "old1", Role::User);
        create(conn, "old2", Role::User);
        assert_eq!(users::list(conn)?.len(), 2);
        let clash = NewUser {
            email: "SomeOne@Example.COM",
            ..new_user("carol", Role::User)
        };
        let err =
            actors::storage::in_transaction(conn, |c| users::create_with_unused_email(c, clash))
                .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "email `SomeOne@Example.COM` is already the address of another account"
        );
        let fresh = NewUser {
            email: "carol@example.com",
            ..new_user("carol", Role::User)
        };
        let carol =
            actors::storage::in_transaction(conn, |c| users::create_with_unused_email(c, fresh))?;
        assert_eq!(carol.email, "carol@example.com");
        assert_eq!(
            users::email_owner(conn, "CAROL@example.com", None)?,
            Some("carol".to_string())
        );
        assert_eq!(
            users::email_owner(conn, "CAROL@example.com", Some(carol.id))?,
            None
        );
        // No address is no conflict: accounts without one (auto-provisioned) can be several.
        for name in ["nomail1", "nomail2"] {
            let without = NewUser {
                email: "",
                ..new_user(name, Role::User)
            };
            let created = actors::storage::in_transaction(conn, |c| {
                users::create_with_unused_email(c, without)
            })?;
            assert_eq!(created.email, "");
        }
        Ok(())
    })
    .expect("email uniqueness");
}

fn enable_disable_and_not_found(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let alice = create(conn, "alice", Role::User);
        users::set_enabled(conn, "alice", false)?;
        let disabled = users::find_by_id(conn, alice.id)?.expect("alice");
        assert!(!disabled.enabled);
        assert!(disabled.updated_at_ms >= alice.updated_at_ms);
        users::set_enabled(conn, "alice", true)?;
        assert!(users::find_by_id(conn, alice.id)?.expect("alice").enabled);

        let err = users::set_enabled(conn, "nobody", false).unwrap_err();
        assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
        assert_eq!(err.to_string(), "no user named `nobody`");
        let err = users::set_password_hash(conn, "nobody", "$2b$04$x").unwrap_err();
        assert_eq!(err.to_string(), "no user named `nobody`");
        let err = users::record_login(conn, 424_242).unwrap_err();
        assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
        Ok(())
    })
    .expect("enable/disable");
}

fn password_hash_and_login_are_recorded(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let alice = create(conn, "alice", Role::User);
        users::set_password_hash(conn, "alice", "$2b$04$new")?;
        users::record_login(conn, alice.id)?;
        let now = users::find_by_id(conn, alice.id)?.expect("alice");
        assert_eq!(now.password_hash, "$2b$04$new");
        assert!(
            now.last_login_at_ms
                .is_some_and(|t| t >= alice.created_at_ms)
        );
        Ok(())
    })
    .expect("password and login");
}

fn revision_bumps_on_every_change(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let mut last = users::revision(conn)?;
        let mut bumped = |conn: &mut DbConn, what: &str| -> Result<(), StorageError> {
            let now = users::revision(conn)?;
            assert!(
                now > last,
                "{what} did not bump the revision ({last} -> {now})"
            );
            last = now;
            Ok(())
        };
        let alice = create(conn, "alice", Role::User);
        bumped(conn, "create")?;
        users::set_enabled(conn, "alice", false)?;
        bumped(conn, "disable")?;
        users::set_enabled(conn, "alice", true)?;
        bumped(conn, "enable")?;
        users::set_password_hash(conn, "alice", "$2b$04$other")?;
        bumped(conn, "set password")?;
        users::record_login(conn, alice.id)?;
        bumped(conn, "login")?;
        // Reads don't bump it.
        users::list(conn)?;
        users::statuses(conn)?;
        assert_eq!(users::revision(conn)?, last);
        Ok(())
    })
    .expect("revisions");
}

fn admins_are_counted_only_when_enabled(t: &TestDb) {
    t.db.run_blocking(|conn| {
        assert_eq!(users::count_admins(conn)?, 0);
        create(conn, "root", Role::Admin);
        create(conn, "bob", Role::User);
        assert_eq!(users::count_admins(conn)?, 1);
        create(conn, "ops", Role::Admin);
        assert_eq!(users::count_admins(conn)?, 2);
        users::set_enabled(conn, "ops", false)?;
        assert_eq!(users::count_admins(conn)?, 1);
        Ok(())
    })
    .expect("count admins");
}

fn statuses_reflect_role_and_enabled(t: &TestDb) {
    t.db.run_blocking(|conn| {
        let root = create(conn, "root", Role::Admin);
        let bob = create(conn, "bob", Role::User);
        users::set_enabled(conn, "bob", false)?;
        let statuses = users::statuses(conn)?;
        assert_eq!(
            statuses,
            vec![
                users::UserStatus {
                    id: root.id,
                    enabled: true,
                    role: Role::Admin
                },
                users::UserStatus {
                    id: bob.id,
                    enabled: false,
                    role: Role::User
                },
            ]
        );
        Ok(())
    })
    .expect("statuses");
}

fn async_run_uses_blocking_threads(t: &TestDb) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = t.db.clone();
    let found = runtime.block_on(async move {
        db.run(|conn| users::create(conn, new_user("async", Role::User)))
            .await?;
        db.run(|conn| users::find_by_username(conn, "async")).await
    });
    assert!(found.expect("async run").is_some());
}

fn user_debug_output_hides_the_hash(t: &TestDb) {
    let user =
        t.db.run_blocking(|conn| Ok(create(conn, "alice", Role::User)))
            .unwrap();
    let debug = format!("{user:?}");
    assert!(!debug.contains("$2b$"), "{debug}");
    assert!(debug.contains("alice"));
}

crate::on_both_backends!(
    create_find_and_list,
    duplicate_username_is_a_conflict,
    a_new_account_needs_an_email_no_other_account_has,
    enable_disable_and_not_found,
    password_hash_and_login_are_recorded,
    revision_bumps_on_every_change,
    admins_are_counted_only_when_enabled,
    statuses_reflect_role_and_enabled,
    async_run_uses_blocking_threads,
    user_debug_output_hides_the_hash,
);
