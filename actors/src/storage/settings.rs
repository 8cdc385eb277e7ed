//! Small persistent key/value state (`settings` table), owned by the gateway's boot code.

use diesel::prelude::*;

use super::schema::settings;
use super::{DbConn, StorageError, now_ms};

pub fn get(conn: &mut DbConn, key: &str) -> Result<Option<String>, StorageError> {
    Ok(settings::table
        .find(key)
        .select(settings::value)
        .first::<String>(conn)
        .optional()?)
}

/// Inserts or replaces. Upsert does not compile through the MultiConnection, so the statement is
/// built per variant (the same diesel query, checked against each backend).
pub fn put(conn: &mut DbConn, key: &str, value: &str) -> Result<(), StorageError> {
    let now = now_ms();
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(settings::table)
                .values((
                    settings::key.eq(key),
                    settings::value.eq(value),
                    settings::updated_at.eq(now),
                ))
                .on_conflict(settings::key)
                .do_update()
                .set((settings::value.eq(value), settings::updated_at.eq(now)))
                .execute($conn)
        };
    }
    match conn {
        DbConn::Sqlite(conn) => upsert!(conn)?,
        DbConn::Postgres(conn) => upsert!(conn)?,
    };
    Ok(())
}
