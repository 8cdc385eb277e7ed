//! What an operator sees when the database URL is wrong or the database is unreachable.

use actors::storage::{Database, StorageError};

fn connect_error(url: &str) -> StorageError {
    match Database::connect(url, 1) {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(err) => err,
    }
}

#[test]
fn unsupported_scheme_is_named_and_the_password_masked() {
    let err = connect_error("mysql://root:hunter2@localhost/gateway");
    let text = err.to_string();
    assert!(matches!(err, StorageError::InvalidUrl { .. }), "{err:?}");
    assert!(
        text.contains("the scheme `mysql` is not supported"),
        "{text}"
    );
    assert!(text.contains("sqlite://PATH or postgres://"), "{text}");
    assert!(text.contains("root:***@localhost"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.to_lowercase().contains("multiconnection"), "{text}");
}

#[test]
fn a_path_without_scheme_is_rejected() {
    let text = connect_error("data/authmcp.db").to_string();
    assert!(text.contains("has no scheme"), "{text}");
}

#[test]
fn unreachable_postgres_names_postgresql_and_the_cause() {
    // Port 1 on loopback: nothing listens there, so the kernel refuses at once.
    let err = connect_error("postgres://postgres:hunter2@127.0.0.1:1/gateway");
    let text = err.to_string();
    assert!(matches!(err, StorageError::Connect { .. }), "{err:?}");
    assert!(
        text.starts_with("cannot open the postgresql database at "),
        "{text}"
    );
    assert!(
        text.contains("postgres://postgres:***@127.0.0.1:1/gateway"),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(!text.to_lowercase().contains("multiconnection"), "{text}");
}

#[test]
fn missing_postgres_database_names_it() {
    let server = crate::fixture::pg_admin_url();
    let (server, _) = server.rsplit_once('/').expect("admin url has a database");
    let text = connect_error(&format!(
        "postgresql:{}/authmcp_no_such_db",
        &server["postgres:".len()..]
    ))
    .to_string();
    assert!(text.contains("postgresql"), "{text}");
    assert!(
        text.contains("\"authmcp_no_such_db\" does not exist"),
        "{text}"
    );
}

#[test]
fn sqlite_in_a_missing_directory_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("not-created").join("data");
    let url = format!("sqlite://{}/authmcp.db", missing.display());
    let err = connect_error(&url);
    let text = err.to_string();
    assert!(matches!(err, StorageError::Connect { .. }), "{err:?}");
    assert!(
        text.starts_with("cannot open the sqlite database at sqlite://"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "the directory `{}` does not exist",
            missing.display()
        )),
        "{text}"
    );
    assert!(!missing.exists(), "connect must not create directories");
}

#[test]
fn sqlite_on_a_file_that_is_not_a_database_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a database, just some text long enough to have a header",
    )
    .unwrap();
    let text = connect_error(&format!("sqlite://{}", path.display())).to_string();
    assert!(text.contains("not a database"), "{text}");
}
