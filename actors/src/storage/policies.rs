//! Authorization policies defined through the admin API (`policies` table). Owned by the policy
//! service (`crate::auth::policy::PolicyService`), which validates every rule before it reaches
//! this module; config-file policies are never stored. Lists are JSON text (portable types).

use diesel::prelude::*;

use super::schema::{policies, revisions};
use super::{DbConn, StorageError, now_ms};
use crate::auth::policy::{PolicyRule, PolicySubject};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub id: i64,
    pub rule: PolicyRule,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type PolicyRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
);

type PolicyColumns = (
    policies::id,
    policies::subject,
    policies::effect,
    policies::backends_json,
    policies::tools_json,
    policies::prompts_json,
    policies::resources_json,
    policies::description,
    policies::created_at,
    policies::updated_at,
);

const COLUMNS: PolicyColumns = (
    policies::id,
    policies::subject,
    policies::effect,
    policies::backends_json,
    policies::tools_json,
    policies::prompts_json,
    policies::resources_json,
    policies::description,
    policies::created_at,
    policies::updated_at,
);

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_json(id: i64, column: &str, text: &str) -> Result<Vec<String>, StorageError> {
    serde_json::from_str(text).map_err(|e| {
        StorageError::Corrupt(format!(
            "policy {id}: {column} is not a JSON list of strings: {e}"
        ))
    })
}

fn from_row(row: PolicyRow) -> Result<StoredPolicy, StorageError> {
    let (id, subject, effect, backends, tools, prompts, resources, description, created, updated) =
        row;
    let corrupt = |what: String| StorageError::Corrupt(format!("policy {id}: {what}"));
    let optional =
        |column: &str, text: Option<String>| text.map(|t| from_json(id, column, &t)).transpose();
    Ok(StoredPolicy {
        id,
        rule: PolicyRule {
            subject: subject.parse::<PolicySubject>().map_err(corrupt)?,
            effect: effect.parse().map_err(corrupt)?,
            backends: from_json(id, "backends_json", &backends)?,
            tools: optional("tools_json", tools)?,
            prompts: optional("prompts_json", prompts)?,
            resources: optional("resources_json", resources)?,
            description,
        },
        created_at_ms: created,
        updated_at_ms: updated,
    })
}

pub fn create(conn: &mut DbConn, rule: &PolicyRule) -> Result<StoredPolicy, StorageError> {
    let now = now_ms();
    let row = diesel::insert_into(policies::table)
        .values((
            policies::subject.eq(rule.subject.to_string()),
            policies::effect.eq(rule.effect.as_str()),
            policies::backends_json.eq(to_json(&rule.backends)),
            policies::tools_json.eq(rule.tools.as_deref().map(to_json)),
            policies::prompts_json.eq(rule.prompts.as_deref().map(to_json)),
            policies::resources_json.eq(rule.resources.as_deref().map(to_json)),
            policies::description.eq(&rule.description),
            policies::created_at.eq(now),
            policies::updated_at.eq(now),
        ))
        .returning(COLUMNS)
        .get_result::<PolicyRow>(conn)?;
    from_row(row)
}

/// Replaces every field of policy `id`; `NotFound` when there is none.
pub fn replace(
    conn: &mut DbConn,
    id: i64,
    rule: &PolicyRule,
) -> Result<StoredPolicy, StorageError> {
    let row = diesel::update(policies::table.find(id))
        .set((
            policies::subject.eq(rule.subject.to_string()),
            policies::effect.eq(rule.effect.as_str()),
            policies::backends_json.eq(to_json(&rule.backends)),
            policies::tools_json.eq(rule.tools.as_deref().map(to_json)),
            policies::prompts_json.eq(rule.prompts.as_deref().map(to_json)),
            policies::resources_json.eq(rule.resources.as_deref().map(to_json)),
            policies::description.eq(&rule.description),
            policies::updated_at.eq(now_ms()),
        ))
        .returning(COLUMNS)
        .get_result::<PolicyRow>(conn)
        .optional()?
        .ok_or_else(|| not_found(id))?;
    from_row(row)
}

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<StoredPolicy>, StorageError> {
    policies::table
        .find(id)
        .select(COLUMNS)
        .first::<PolicyRow>(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

/// Every stored policy, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<StoredPolicy>, StorageError> {
    policies::table
        .select(COLUMNS)
        .order(policies::id.asc())
        .load::<PolicyRow>(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Removes policy `id` and returns what it was.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<StoredPolicy, StorageError> {
    super::in_transaction(conn, |c| {
        let existing = find(c, id)?.ok_or_else(|| not_found(id))?;
        diesel::delete(policies::table.find(id)).execute(c)?;
        Ok(existing)
    })
}

/// Every stored policy of `subject` (e.g. `user:alice`), by id.
pub fn for_subject(conn: &mut DbConn, subject: &str) -> Result<Vec<StoredPolicy>, StorageError> {
    policies::table
        .filter(policies::subject.eq(subject))
        .order(policies::id.asc())
        .load::<PolicyRow>(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Replaces every stored policy of `subject` with `rules`, in one transaction.
pub fn replace_subject(
    conn: &mut DbConn,
    subject: &str,
    rules: &[PolicyRule],
) -> Result<Vec<StoredPolicy>, StorageError> {
    super::in_transaction(conn, |c| {
        diesel::delete(policies::table.filter(policies::subject.eq(subject))).execute(c)?;
        rules.iter().map(|rule| create(c, rule)).collect()
    })
}

/// Removes every stored policy of `subject` (a deleted user's, so a later account with the same
/// name does not inherit them); returns how many.
pub fn delete_subject(conn: &mut DbConn, subject: &str) -> Result<usize, StorageError> {
    Ok(diesel::delete(policies::table.filter(policies::subject.eq(subject))).execute(conn)?)
}

/// Increases on every change to `policies`, `groups` or `user_groups` (database triggers).
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("policies")
        .select(revisions::value)
        .first(conn)?)
}

fn not_found(id: i64) -> StorageError {
    StorageError::NotFound(format!("no policy with id {id}"))
}
