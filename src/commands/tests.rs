//! The database commands end to end against real SQLite files and a real PostgreSQL database.

use std::collections::HashMap;
use std::path::Path;

use actors::auth::passwords::PasswordHasher;
use actors::storage::Database;
use actors::storage::users::{self, Role};
use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::cli::{CreateAdminArgs, SetPasswordArgs, SourceArgs, UserAction, UserNameArgs};
use crate::config::{GatewayConfig, Sources, load_in_dir};

/// The built-in defaults (loaded the real way) with a given database and cheap bcrypt.
fn config(data_dir: &Path, url: String) -> GatewayConfig {
    let sources = Sources {
        data_dir: Some(data_dir.to_path_buf()),
        ..Sources::default()
    };
    let cwd = data_dir.parent().unwrap_or(data_dir);
    let mut cfg = load_in_dir(&sources, &HashMap::new(), cwd).expect("the defaults are valid");
    cfg.database.url = url;
    cfg.database.pool_size = 2;
    cfg.auth.bcrypt_cost = 4;
    cfg.auth.max_concurrent_hashes = 2;
    cfg
}

/// A config whose SQLite database lives in a not-yet-created `data/` under a temp dir.
fn sqlite_config(tmp: &tempfile::TempDir) -> GatewayConfig {
    let data = tmp.path().join("data");
    let url = format!("sqlite://{}", data.join("authmcp.db").display());
    config(&data, url)
}

fn create_admin_args(username: &str, email: &str, password: &str) -> CreateAdminArgs {
    CreateAdminArgs {
        sources: SourceArgs::default(),
        username: username.into(),
        email: email.into(),
        password: Some(password.into()),
    }
}

fn name_args(username: &str) -> UserNameArgs {
    UserNameArgs {
        sources: SourceArgs::default(),
        username: username.into(),
    }
}

fn open(cfg: &GatewayConfig) -> Database {
    Database::connect(&cfg.database.url, 1).expect("open the test database")
}

#[test]
fn init_db_creates_the_data_dir_and_is_repeatable() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(&tmp);
    super::init_db::run(&cfg).expect("first init-db");
    assert!(cfg.data_dir.join("authmcp.db").is_file());
    super::init_db::run(&cfg).expect("second init-db");
    assert!(open(&cfg).migrate().unwrap().is_empty());
}

#[test]
fn create_admin_makes_an_enabled_admin_whose_password_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(&tmp);
    let args = create_admin_args("root", "root@example.com", "Corr3ct-horse");
    super::create_admin::run(&cfg, &args).expect("create-admin");
    let root = open(&cfg)
        .run_blocking(|conn| users::find_by_username(conn, "root"))
        .unwrap()
        .expect("root exists");
    assert_eq!(root.role, Role::Admin);
    assert!(root.enabled);
    let hasher = PasswordHasher::new(4, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(hasher.verify("Corr3ct-horse", &root.password_hash))
            .unwrap()
    );

    let err = super::create_admin::run(&cfg, &args)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("user `root` already exists;"), "{err}");

    // The address is root's in another case: refused before a password is asked for.
    let err = super::create_admin::run(
        &cfg,
        &create_admin_args("root2", "ROOT@Example.com", "Corr3ct-horse"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("email `ROOT@Example.com` is already the address of user `root`;"),
        "{err}"
    );
    assert_eq!(open(&cfg).run_blocking(users::list).unwrap().len(), 1);
}

#[test]
fn create_admin_rejects_weak_passwords_and_bad_emails_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(&tmp);
    let err = super::create_admin::run(
        &cfg,
        &create_admin_args("root", "root@example.com", "short"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("password rejected: it must be at least 8 characters"),
        "{err}"
    );
    assert!(err.contains("it must contain a digit"), "{err}");
    let err = super::create_admin::run(
        &cfg,
        &create_admin_args("root", "root.example.com", "Corr3ct-horse"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not an email address"), "{err}");
    let err = super::create_admin::run(
        &cfg,
        &create_admin_args("a b", "a@example.com", "Corr3ct-horse"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("must not contain spaces"), "{err}");
    assert!(open(&cfg).run_blocking(users::list).unwrap().is_empty());
}

#[test]
fn user_commands_change_the_account_and_name_missing_users() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(&tmp);
    super::create_admin::run(
        &cfg,
        &create_admin_args("root", "root@example.com", "Corr3ct-horse"),
    )
    .unwrap();
    super::create_admin::run(
        &cfg,
        &create_admin_args("ops", "ops@example.com", "Corr3ct-horse"),
    )
    .unwrap();
    let db = open(&cfg);
    let enabled = |name: &'static str| {
        db.run_blocking(move |conn| users::find_by_username(conn, name))
            .unwrap()
            .unwrap()
            .enabled
    };

    super::users::run(&cfg, &UserAction::Disable(name_args("ops"))).expect("disable");
    assert!(!enabled("ops"));
    // root is now the only enabled admin: disabling it would lock everyone out.
    let err = super::users::run(&cfg, &UserAction::Disable(name_args("root")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("only enabled administrator"), "{err}");
    assert!(enabled("root"));
    super::users::run(&cfg, &UserAction::Enable(name_args("ops"))).expect("enable");
    assert!(enabled("ops"));

    let before = db
        .run_blocking(|c| users::find_by_username(c, "ops"))
        .unwrap()
        .unwrap();
    let set = SetPasswordArgs {
        sources: SourceArgs::default(),
        username: "ops".into(),
        password: Some("N3w-password".into()),
    };
    super::users::run(&cfg, &UserAction::SetPassword(set)).expect("set-password");
    let after = db
        .run_blocking(|c| users::find_by_username(c, "ops"))
        .unwrap()
        .unwrap();
    assert_ne!(before.password_hash, after.password_hash);

    super::users::run(&cfg, &UserAction::List(SourceArgs::default())).expect("list");
    for action in [
        UserAction::Disable(name_args("ghost")),
        UserAction::Enable(name_args("ghost")),
        UserAction::SetPassword(SetPasswordArgs {
            sources: SourceArgs::default(),
            username: "ghost".into(),
            password: Some("N3w-password".into()),
        }),
    ] {
        let err = super::users::run(&cfg, &action).unwrap_err().to_string();
        assert_eq!(err, "no user named `ghost`");
    }
}

#[test]
fn user_commands_refuse_a_missing_database_without_creating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(&tmp);
    let err = super::users::run(&cfg, &UserAction::List(SourceArgs::default()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no database at `"), "{err}");
    assert!(err.contains("init-db"), "{err}");
    assert!(!cfg.data_dir.exists());
}

#[test]
fn init_db_and_create_admin_work_on_postgresql() {
    let admin_url = std::env::var("AUTHMCP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {admin_url}: {err}\nStart it with:\n  \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    });
    let name = format!("authmcp_cli_{:016x}", rand::random::<u64>());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), format!("{server}/{name}"));
    let outcome = (|| {
        super::init_db::run(&cfg)?;
        super::create_admin::run(
            &cfg,
            &create_admin_args("root", "root@example.com", "Corr3ct-horse"),
        )?;
        let taken = super::create_admin::run(
            &cfg,
            &create_admin_args("root2", "Root@EXAMPLE.com", "Corr3ct-horse"),
        )
        .map_err(|err| err.to_string());
        let admins = open(&cfg).run_blocking(users::count_admins)?;
        anyhow::Ok((admins, taken))
    })();
    let _ = diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin);
    let (admins, taken) = outcome.expect("init-db and create-admin on PostgreSQL");
    assert_eq!(admins, 1);
    let err = taken.expect_err("a second admin with root's address in another case");
    assert!(err.contains("already the address of user `root`"), "{err}");
}
