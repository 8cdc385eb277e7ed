//! SQLite specifics: per-connection pragmas and sharing one file between processes
//! (the gateway and the CLI), which is what WAL and the busy timeout are for.

use std::sync::mpsc;
use std::time::Duration;

use actors::storage::users::{self, NewUser, Role};
use actors::storage::{ConnectOptions, Database, DbConn, StorageError};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Integer, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::fixture::{Backend, TestDb};

#[derive(QueryableByName)]
struct IntValue {
    #[diesel(sql_type = Integer)]
    value: i32,
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Text)]
    value: String,
}

fn sqlite(conn: &mut DbConn) -> &mut SqliteConnection {
    match conn {
        DbConn::Sqlite(conn) => conn,
        DbConn::Postgres(_) => panic!("expected a SQLite connection"),
    }
}

/// `column` is the pragma's result column (usually its name; `timeout` for busy_timeout).
fn pragma_int(conn: &mut SqliteConnection, name: &str, column: &str) -> i32 {
    diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{name}"))
        .get_result::<IntValue>(conn)
        .expect("read pragma")
        .value
}

#[test]
fn every_pooled_connection_has_wal_foreign_keys_and_busy_timeout() {
    let t = TestDb::migrated(Backend::Sqlite);
    // Hold several connections at once so the pool must open more than one.
    let pool = Database::connect(&t.url, 3).expect("connect");
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            let (pool, tx) = (pool.clone(), tx.clone());
            scope.spawn(move || {
                pool.run_blocking(|conn| {
                    let conn = sqlite(conn);
                    let journal =
                        diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode")
                            .get_result::<TextValue>(conn)
                            .expect("journal mode")
                            .value;
                    tx.send((
                        journal,
                        pragma_int(conn, "foreign_keys", "foreign_keys"),
                        pragma_int(conn, "busy_timeout", "timeout"),
                        pragma_int(conn, "synchronous", "synchronous"),
                    ))
                    .unwrap();
                    Ok(())
                })
                .unwrap()
            });
        }
    });
    drop(tx);
    let seen: Vec<_> = rx.iter().collect();
    assert_eq!(seen.len(), 3);
    for (journal, foreign_keys, busy_timeout, synchronous) in seen {
        assert_eq!(journal, "wal");
        assert_eq!(foreign_keys, 1, "PRAGMA foreign_keys");
        assert_eq!(busy_timeout, 5000);
        assert_eq!(synchronous, 1, "NORMAL");
    }
}

#[test]
fn foreign_keys_are_enforced() {
    let t = TestDb::migrated(Backend::Sqlite);
    let result = t.db.run_blocking(|conn| {
        let conn = sqlite(conn);
        conn.batch_execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (parent_id INTEGER NOT NULL REFERENCES parent (id));",
        )?;
        Ok(diesel::sql_query("INSERT INTO child (parent_id) VALUES (42)").execute(conn))
    });
    let err = result
        .expect("setup")
        .expect_err("orphan row must be refused");
    assert!(
        err.to_string().contains("FOREIGN KEY constraint failed"),
        "{err}"
    );
}

fn hold_write_lock(url: &str) -> SqliteConnection {
    let path = url.strip_prefix("sqlite://").unwrap();
    let mut holder = SqliteConnection::establish(path).expect("raw connection");
    holder
        .batch_execute("BEGIN IMMEDIATE;")
        .expect("take the write lock");
    holder
}

fn someone(username: &str) -> NewUser<'_> {
    NewUser {
        username,
        email: "x@example.com",
        password_hash: "$2b$04$x",
        role: Role::User,
    }
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_a_clear_error() {
    let t = TestDb::migrated(Backend::Sqlite);
    let impatient = Database::connect_with(
        &t.url,
        ConnectOptions {
            pool_size: 1,
            busy_timeout: Duration::from_millis(50),
            ..ConnectOptions::default()
        },
    )
    .expect("connect");
    let mut holder = hold_write_lock(&t.url);
    let err = impatient
        .run_blocking(|conn| users::create(conn, someone("late")))
        .unwrap_err();
    assert!(matches!(err, StorageError::Locked), "{err:?}");
    assert!(
        err.to_string().starts_with("the SQLite database is locked"),
        "{err}"
    );
    holder.batch_execute("ROLLBACK;").unwrap();
    // Readers were never blocked (WAL), and once the lock is gone writes go through.
    impatient
        .run_blocking(|conn| users::create(conn, someone("on-time")))
        .expect("write after the lock is released");
}

#[test]
fn a_writer_waits_for_another_process_to_commit() {
    let t = TestDb::migrated(Backend::Sqlite);
    let mut holder = hold_write_lock(&t.url);
    diesel::sql_query(
        "INSERT INTO users (username, email, password_hash, role, enabled, created_at, updated_at) \
         VALUES ('first', 'a@example.com', 'h', 'user', 1, 0, 0)",
    )
    .execute(&mut holder)
    .expect("insert under the lock");
    let cli = Database::connect(&t.url, 1).expect("second handle");
    let (started_tx, started_rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        // Waits (busy timeout 5 s) for the holder's commit instead of failing at once.
        cli.run_blocking(|conn| users::create(conn, someone("second")))
    });
    started_rx.recv().unwrap();
    // While the lock is held, reads still work (WAL) and see only committed data.
    let visible =
        t.db.run_blocking(users::list)
            .expect("read during the write lock");
    assert!(visible.is_empty());
    holder.batch_execute("COMMIT;").unwrap();
    writer
        .join()
        .unwrap()
        .expect("the waiting writer succeeds after the commit");
    let names: Vec<_> =
        t.db.run_blocking(users::list)
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
    assert_eq!(names, vec!["first", "second"]);
}

#[test]
fn in_memory_database_keeps_its_data_across_calls() {
    let db = Database::connect("sqlite://:memory:", 8).expect("in-memory");
    db.migrate().expect("migrate");
    db.run_blocking(|conn| users::create(conn, someone("mem")))
        .unwrap();
    assert_eq!(db.run_blocking(users::list).unwrap().len(), 1);
}
