//! Local users by username and by email: how an external token finds its local account.
//! A snapshot (reloaded when the `users` revision moves), read without waiting.

use std::collections::HashMap;

use crate::storage::users::logins;
use crate::storage::{DbConn, StorageError};

#[derive(Debug, Default)]
pub struct UserIndex {
    by_name: HashMap<String, i64>,
    names: HashMap<i64, String>,
    /// Lower-cased email → user; `None` when several users share it (never guessed between).
    by_email: HashMap<String, Option<i64>>,
}

impl UserIndex {
    pub fn load(c: &mut DbConn) -> Result<UserIndex, StorageError> {
        Ok(UserIndex::build(logins(c)?))
    }

    pub fn build(rows: Vec<(i64, String, String)>) -> UserIndex {
        let mut index = UserIndex::default();
        for (id, name, email) in rows {
            let email = email.trim().to_lowercase();
            if !email.is_empty() {
                index
                    .by_email
                    .entry(email)
                    .and_modify(|e| *e = None)
                    .or_insert(Some(id));
            }
            index.by_name.insert(name.clone(), id);
            index.names.insert(id, name);
        }
        index
    }

    /// By exact username first, then by (verified, lower-cased) email when unambiguous.
    pub fn find(&self, username: &str, email: Option<&str>) -> Option<i64> {
        self.by_name
            .get(username)
            .copied()
            .or_else(|| email.and_then(|e| self.by_email.get(e).copied().flatten()))
    }

    pub fn username(&self, id: i64) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_first_then_unambiguous_email() {
        let index = UserIndex::build(vec![
            (1, "alice".into(), "Alice@X.org".into()),
            (2, "bob".into(), "shared@x.org".into()),
            (3, "carol".into(), "shared@x.org".into()),
        ]);
        assert_eq!(index.find("alice", None), Some(1));
        assert_eq!(index.find("someone", Some("alice@x.org")), Some(1));
        assert_eq!(index.find("bob", Some("alice@x.org")), Some(2));
        assert_eq!(index.find("someone", Some("shared@x.org")), None);
        assert_eq!(index.find("someone", None), None);
        assert_eq!(index.username(3), Some("carol"));
    }
}
