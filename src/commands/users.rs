//! `authmcp-gateway user list|disable|enable|set-password`.
//!
//! Each change is one write that bumps the users revision (a database trigger), which a running
//! gateway polls: a disabled user's tokens stop working without a restart. Disabling a user and
//! setting a password also revoke every session of the user (the revocations revision), so those
//! tokens stay dead after the user is enabled again.

use actors::auth::passwords::PasswordHasher;
use actors::storage::Database;
use actors::storage::in_transaction;
use actors::storage::tokens::{self, FamilyFilter};
use actors::storage::users::{self, Role, User};

use crate::cli::UserAction;
use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};
use super::password_input;

pub fn run(cfg: &GatewayConfig, action: &UserAction) -> anyhow::Result<()> {
    let (db, _) = open_and_migrate(cfg, IfMissing::Refuse)?;
    match action {
        UserAction::List(_) => {
            let all = db.run_blocking(users::list)?;
            print!("{}", render_table(&all));
        }
        UserAction::Disable(args) => {
            disable(&db, &args.username)?;
            println!(
                "Disabled user `{}`; their tokens stop working at once.",
                args.username
            );
        }
        UserAction::Enable(args) => {
            db.run_blocking(|conn| users::set_enabled(conn, &args.username, true))?;
            println!("Enabled user `{}`.", args.username);
        }
        UserAction::SetPassword(args) => {
            // Before the prompt, so nobody types a password for a user that isn't there.
            if db
                .run_blocking(|conn| users::find_by_username(conn, &args.username))?
                .is_none()
            {
                anyhow::bail!("no user named `{}`", args.username);
            }
            let password =
                password_input::new_password(args.password.as_deref(), &cfg.auth.password_policy)?;
            let hash = PasswordHasher::new(cfg.auth.bcrypt_cost, 1).hash_blocking(&password)?;
            let revoked = db.run_blocking(|conn| {
                in_transaction(conn, |conn| {
                    users::set_password_hash(conn, &args.username, &hash)?;
                    revoke_sessions(conn, &args.username)
                })
            })?;
            println!(
                "Password of `{}` changed; {revoked} session(s) signed out.",
                args.username
            );
        }
    }
    Ok(())
}

/// Refuses to disable the last enabled administrator, which would lock everyone out of the
/// console (recoverable only with `create-admin`).
fn disable(db: &Database, username: &str) -> anyhow::Result<()> {
    let target = db
        .run_blocking(|conn| users::find_by_username(conn, username))?
        .ok_or_else(|| anyhow::anyhow!("no user named `{username}`"))?;
    if target.role == Role::Admin && target.enabled && db.run_blocking(users::count_admins)? <= 1 {
        anyhow::bail!(
            "refusing to disable `{username}`: it is the only enabled administrator; create or \
             enable another one first"
        );
    }
    db.run_blocking(|conn| {
        in_transaction(conn, |conn| {
            users::set_enabled(conn, username, false)?;
            revoke_sessions(conn, username)
        })
    })?;
    Ok(())
}

/// Revokes every live login/OAuth session of the user; returns how many.
fn revoke_sessions(
    conn: &mut actors::storage::DbConn,
    username: &str,
) -> Result<usize, actors::storage::StorageError> {
    match users::find_by_username(conn, username)? {
        Some(user) => tokens::revoke_user_families(conn, user.id, FamilyFilter::Every),
        None => Ok(0),
    }
}

fn render_table(all: &[User]) -> String {
    if all.is_empty() {
        return "No users yet. Create an administrator with \
                `authmcp-gateway create-admin --username NAME --email EMAIL`.\n"
            .to_string();
    }
    let header = [
        "ID",
        "USERNAME",
        "EMAIL",
        "ROLE",
        "STATUS",
        "CREATED (UTC)",
        "LAST LOGIN (UTC)",
    ];
    let rows: Vec<[String; 7]> = all
        .iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.username.clone(),
                u.email.clone(),
                u.role.to_string(),
                if u.enabled { "enabled" } else { "disabled" }.to_string(),
                format_utc(u.created_at_ms),
                u.last_login_at_ms
                    .map_or_else(|| "never".to_string(), format_utc),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    push_row(&header);
    for row in &rows {
        push_row(&row.each_ref().map(String::as_str));
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC from unix milliseconds (civil-from-days, H. Hinnant), to avoid a
/// date-time dependency for one column.
pub(crate) fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_millis_as_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(format_utc(1_795_696_980_000), "2026-11-26 12:43");
    }

    #[test]
    fn table_columns_line_up() {
        let user = |id, name: &str, role, enabled, last| User {
            id,
            username: name.to_string(),
            email: format!("{name}@example.com"),
            password_hash: String::new(),
            role,
            enabled,
            created_at_ms: 0,
            updated_at_ms: 0,
            last_login_at_ms: last,
        };
        let table = render_table(&[
            user(1, "root", Role::Admin, true, Some(86_400_000)),
            user(12, "bob-the-builder", Role::User, false, None),
        ]);
        let expected = "\
ID  USERNAME         EMAIL                        ROLE   STATUS    CREATED (UTC)     LAST LOGIN (UTC)
1   root             root@example.com             admin  enabled   1970-01-01 00:00  1970-01-02 00:00
12  bob-the-builder  bob-the-builder@example.com  user   disabled  1970-01-01 00:00  never
";
        assert_eq!(table, expected);
    }
}
