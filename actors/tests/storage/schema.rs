//! Migrations, settings and the revision counters.

use actors::storage::{settings, users};

use crate::fixture::{Backend, TestDb};

fn migrating_twice_applies_nothing_the_second_time(backend: Backend) {
    let t = TestDb::fresh(backend);
    let first = t.db.migrate().expect("first migrate");
    // Every embedded migration, oldest (the initial schema) first.
    let (embedded, _) = actors::storage::embedded_migration_names();
    assert_eq!(first, embedded);
    assert_eq!(first[0], "2026-11-26-000001_initial");
    let second = t.db.migrate().expect("second migrate");
    assert!(second.is_empty(), "nothing pending, got {second:?}");
    // And a second handle (another process, e.g. `init-db` beside a running gateway) agrees.
    let other = actors::storage::Database::connect(&t.url, 1).expect("second handle");
    assert!(
        other
            .migrate()
            .expect("migrate from second handle")
            .is_empty()
    );
}

#[test]
fn migrate_is_idempotent_sqlite() {
    migrating_twice_applies_nothing_the_second_time(Backend::Sqlite);
}

#[test]
fn migrate_is_idempotent_postgres() {
    migrating_twice_applies_nothing_the_second_time(Backend::Postgres);
}

#[test]
fn migration_folders_have_the_same_names() {
    let (sqlite, postgres) = actors::storage::embedded_migration_names();
    assert_eq!(sqlite, postgres);
}

fn settings_put_inserts_then_replaces(t: &TestDb) {
    t.db.run_blocking(|conn| {
        assert_eq!(settings::get(conn, "jwt_key_id")?, None);
        settings::put(conn, "jwt_key_id", "k1")?;
        assert_eq!(settings::get(conn, "jwt_key_id")?.as_deref(), Some("k1"));
        settings::put(conn, "jwt_key_id", "k2")?;
        assert_eq!(settings::get(conn, "jwt_key_id")?.as_deref(), Some("k2"));
        Ok(())
    })
    .expect("settings round trip");
}

fn kind_names_the_database(t: &TestDb) {
    let expected = if t.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgresql"
    };
    assert_eq!(t.db.kind().to_string(), expected);
}

fn revision_is_visible_to_another_handle(t: &TestDb) {
    // The gateway polls the revision through its pool while the CLI writes through its own.
    let gateway = &t.db;
    let cli = actors::storage::Database::connect(&t.url, 1).expect("CLI handle");
    let before = gateway.run_blocking(users::revision).expect("revision");
    cli.run_blocking(|conn| {
        users::create(
            conn,
            users::NewUser {
                username: "admin",
                email: "admin@example.com",
                password_hash: "$2b$04$x",
                role: users::Role::Admin,
            },
        )
    })
    .expect("create through the CLI handle");
    let after = gateway.run_blocking(users::revision).expect("revision");
    assert!(after > before, "revision {before} -> {after}");
    let found = gateway
        .run_blocking(|conn| users::find_by_username(conn, "admin"))
        .expect("find");
    assert!(found.is_some_and(|u| u.enabled));
}

crate::on_both_backends!(
    settings_put_inserts_then_replaces,
    kind_names_the_database,
    revision_is_visible_to_another_handle,
);
