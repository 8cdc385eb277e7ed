//! Groups of users (`groups`, `user_groups`). Owned by the policy service, which names groups
//! in policy subjects (`group:<name>`); deleting a user or a group removes its memberships
//! (foreign keys with cascade). Every change bumps the `policies` revision.

use diesel::prelude::*;

use super::schema::{groups, user_groups, users};
use super::{DbConn, StorageError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// User ids, ascending.
    pub members: Vec<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type GroupRow = (i64, String, String, i64, i64);

const COLUMNS: (
    groups::id,
    groups::name,
    groups::description,
    groups::created_at,
    groups::updated_at,
) = (
    groups::id,
    groups::name,
    groups::description,
    groups::created_at,
    groups::updated_at,
);

fn with_members(conn: &mut DbConn, row: GroupRow) -> Result<Group, StorageError> {
    let (id, name, description, created, updated) = row;
    let members = user_groups::table
        .filter(user_groups::group_id.eq(id))
        .select(user_groups::user_id)
        .order(user_groups::user_id.asc())
        .load::<i64>(conn)?;
    Ok(Group {
        id,
        name,
        description,
        members,
        created_at_ms: created,
        updated_at_ms: updated,
    })
}

/// `Conflict("a group named `x` already exists")` when the name is taken.
pub fn create(conn: &mut DbConn, name: &str, description: &str) -> Result<Group, StorageError> {
    let now = now_ms();
    let row = diesel::insert_into(groups::table)
        .values((
            groups::name.eq(name),
            groups::description.eq(description),
            groups::created_at.eq(now),
            groups::updated_at.eq(now),
        ))
        .returning(COLUMNS)
        .get_result::<GroupRow>(conn)
        .map_err(|e| StorageError::conflict_or(e, || taken(name)))?;
    with_members(conn, row)
}

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<Group>, StorageError> {
    let row = groups::table
        .find(id)
        .select(COLUMNS)
        .first::<GroupRow>(conn)
        .optional()?;
    row.map(|r| with_members(conn, r)).transpose()
}

/// Every group with its members, by id.
pub fn list(conn: &mut DbConn) -> Result<Vec<Group>, StorageError> {
    let rows = groups::table
        .select(COLUMNS)
        .order(groups::id.asc())
        .load::<GroupRow>(conn)?;
    rows.into_iter().map(|r| with_members(conn, r)).collect()
}

/// Renames and/or redescribes group `id` (`None` keeps a field).
pub fn update(
    conn: &mut DbConn,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Group, StorageError> {
    super::in_transaction(conn, |c| {
        let current = find(c, id)?.ok_or_else(|| not_found(id))?;
        let name = name.unwrap_or(&current.name);
        diesel::update(groups::table.find(id))
            .set((
                groups::name.eq(name),
                groups::description.eq(description.unwrap_or(&current.description)),
                groups::updated_at.eq(now_ms()),
            ))
            .execute(c)
            .map_err(|e| StorageError::conflict_or(e, || taken(name)))?;
        find(c, id)?.ok_or_else(|| not_found(id))
    })
}

/// Removes group `id` (and its memberships); returns what it was.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<Group, StorageError> {
    super::in_transaction(conn, |c| {
        let existing = find(c, id)?.ok_or_else(|| not_found(id))?;
        diesel::delete(groups::table.find(id)).execute(c)?;
        Ok(existing)
    })
}

/// Makes `members` exactly the group's members, in one transaction. Unknown users are refused
/// with `NotFound` naming them, and nothing changes.
pub fn set_members(conn: &mut DbConn, id: i64, members: &[i64]) -> Result<Group, StorageError> {
    super::in_transaction(conn, |c| {
        find(c, id)?.ok_or_else(|| not_found(id))?;
        check_users_exist(c, members)?;
        diesel::delete(user_groups::table.filter(user_groups::group_id.eq(id))).execute(c)?;
        let mut unique = members.to_vec();
        unique.sort_unstable();
        unique.dedup();
        // One row at a time: multi-row inserts do not compile through the MultiConnection.
        for user in unique {
            diesel::insert_into(user_groups::table)
                .values((user_groups::user_id.eq(user), user_groups::group_id.eq(id)))
                .execute(c)?;
        }
        find(c, id)?.ok_or_else(|| not_found(id))
    })
}

/// Makes `wanted` exactly the groups of `user`, in one transaction: every change or none. An
/// unknown user or group is refused with `NotFound` naming it, and the memberships stay as
/// they were. Returns whether anything changed.
pub fn set_user_groups(conn: &mut DbConn, user: i64, wanted: &[i64]) -> Result<bool, StorageError> {
    super::in_transaction(conn, |c| {
        check_users_exist(c, &[user])?;
        let of_user = || user_groups::table.filter(user_groups::user_id.eq(user));
        let current: Vec<i64> = of_user().select(user_groups::group_id).load(c)?;
        let mut changed = false;
        // Removals first, additions after: a group that turns out not to exist rolls the
        // removals back with it.
        for &id in current.iter().filter(|id| !wanted.contains(id)) {
            diesel::delete(of_user().filter(user_groups::group_id.eq(id))).execute(c)?;
            changed = true;
        }
        let mut added = wanted.to_vec();
        added.sort_unstable();
        added.dedup();
        for id in added.into_iter().filter(|id| !current.contains(id)) {
            find(c, id)?.ok_or_else(|| {
                StorageError::NotFound(format!("no such group: {id} (it may have been deleted)"))
            })?;
            diesel::insert_into(user_groups::table)
                .values((user_groups::user_id.eq(user), user_groups::group_id.eq(id)))
                .execute(c)?;
            changed = true;
        }
        Ok(changed)
    })
}

/// Adds one member; adding a member twice changes nothing.
pub fn add_member(conn: &mut DbConn, id: i64, user: i64) -> Result<Group, StorageError> {
    super::in_transaction(conn, |c| {
        let group = find(c, id)?.ok_or_else(|| not_found(id))?;
        check_users_exist(c, &[user])?;
        if !group.members.contains(&user) {
            diesel::insert_into(user_groups::table)
                .values((user_groups::user_id.eq(user), user_groups::group_id.eq(id)))
                .execute(c)?;
        }
        find(c, id)?.ok_or_else(|| not_found(id))
    })
}

/// Removes one member; `NotFound` when the user is not in the group.
pub fn remove_member(conn: &mut DbConn, id: i64, user: i64) -> Result<Group, StorageError> {
    super::in_transaction(conn, |c| {
        find(c, id)?.ok_or_else(|| not_found(id))?;
        let removed = diesel::delete(
            user_groups::table
                .filter(user_groups::group_id.eq(id))
                .filter(user_groups::user_id.eq(user)),
        )
        .execute(c)?;
        if removed == 0 {
            return Err(StorageError::NotFound(format!(
                "user {user} is not a member of group {id}"
            )));
        }
        find(c, id)?.ok_or_else(|| not_found(id))
    })
}

/// Every (user id, group name) pair: what the policy snapshot needs to resolve `group:` rules.
pub fn memberships(conn: &mut DbConn) -> Result<Vec<(i64, String)>, StorageError> {
    Ok(user_groups::table
        .inner_join(groups::table)
        .select((user_groups::user_id, groups::name))
        .order((user_groups::user_id.asc(), groups::name.asc()))
        .load::<(i64, String)>(conn)?)
}

/// Makes `user`'s memberships among the groups named in `managed` exactly those in `wanted`
/// (an external issuer's group mapping), creating wanted groups that do not exist yet. Groups
/// outside `managed` are left alone. One transaction; `true` when anything changed.
pub fn sync_memberships(
    conn: &mut DbConn,
    user: i64,
    managed: &[String],
    wanted: &[String],
) -> Result<bool, StorageError> {
    super::in_transaction(conn, |c| {
        let mut changed = false;
        for name in managed {
            let want = wanted.contains(name);
            let existing = groups::table
                .filter(groups::name.eq(name))
                .select(groups::id)
                .first::<i64>(c)
                .optional()?;
            let id = match (existing, want) {
                (Some(id), _) => id,
                (None, false) => continue,
                (None, true) => {
                    changed = true;
                    create(c, name, "Synchronised from an external identity provider.")?.id
                }
            };
            let member = user_groups::table
                .filter(user_groups::group_id.eq(id))
                .filter(user_groups::user_id.eq(user))
                .select(user_groups::user_id)
                .first::<i64>(c)
                .optional()?
                .is_some();
            if want && !member {
                diesel::insert_into(user_groups::table)
                    .values((user_groups::user_id.eq(user), user_groups::group_id.eq(id)))
                    .execute(c)?;
                changed = true;
            } else if !want && member {
                diesel::delete(
                    user_groups::table
                        .filter(user_groups::group_id.eq(id))
                        .filter(user_groups::user_id.eq(user)),
                )
                .execute(c)?;
                changed = true;
            }
        }
        Ok(changed)
    })
}

fn check_users_exist(conn: &mut DbConn, ids: &[i64]) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    for &id in ids {
        let found = users::table
            .find(id)
            .select(users::id)
            .first::<i64>(conn)
            .optional()?;
        if found.is_none() {
            missing.push(id.to_string());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StorageError::NotFound(format!(
            "no user with id {}",
            missing.join(", ")
        )))
    }
}

fn taken(name: &str) -> String {
    format!("a group named `{name}` already exists")
}

fn not_found(id: i64) -> StorageError {
    StorageError::NotFound(format!("no group with id {id}"))
}
