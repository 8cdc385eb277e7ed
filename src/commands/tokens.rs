//! `authmcp-gateway token create|list|revoke`: API tokens for machine clients.
//!
//! Works beside a running gateway: creating or revoking bumps `revisions('api_tokens')` (database
//! triggers), which the gateway polls, so a revoked token stops working within its refresher tick.

use actors::auth::opaque;
use actors::storage::api_tokens::{self, ApiTokenInfo, NewApiToken};
use actors::storage::users;

use crate::cli::TokenAction;
use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};
use super::users::format_utc;

const MS_PER_DAY: i64 = 86_400_000;

pub fn run(cfg: &GatewayConfig, action: &TokenAction) -> anyhow::Result<()> {
    let (db, _) = open_and_migrate(cfg, IfMissing::Refuse)?;
    match action {
        TokenAction::Create(args) => {
            let user = db
                .run_blocking(|c| users::find_by_username(c, &args.user))?
                .ok_or_else(|| anyhow::anyhow!("no user named `{}`", args.user))?;
            let name = args.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                anyhow::bail!("--name must be 1 to 100 characters long");
            }
            let minted = opaque::mint_api_token();
            let expires_at_ms = args.expires_days.map(|d| {
                actors::storage::unix_ms_now() + i64::try_from(d).unwrap_or(3650) * MS_PER_DAY
            });
            let info = db.run_blocking(|c| {
                api_tokens::create(
                    c,
                    &NewApiToken {
                        user_id: user.id,
                        name,
                        token_hash: &minted.hash_hex,
                        prefix: &minted.display_prefix,
                        expires_at_ms,
                    },
                )
            })?;
            // The only time the token is shown; stdout alone carries it, so it can be piped.
            eprintln!(
                "Created API token {} `{}` for `{}`{}. Store it now: it is not shown again.",
                info.id,
                info.name,
                info.username,
                info.expires_at_ms
                    .map(|at| format!(", expires {} UTC", format_utc(at)))
                    .unwrap_or_default()
            );
            println!("{}", minted.token);
        }
        TokenAction::List(_) => {
            let all = db.run_blocking(|c| api_tokens::list(c, None))?;
            print!("{}", render(&all));
        }
        TokenAction::Revoke(args) => {
            let info = db
                .run_blocking(|c| api_tokens::revoke(c, args.id))
                .map_err(|e| match e {
                    actors::storage::StorageError::NotFound(_) => {
                        anyhow::anyhow!("no API token with id {}", args.id)
                    }
                    other => other.into(),
                })?;
            println!(
                "Revoked API token {} `{}` of `{}`; it stops working at once.",
                info.id, info.name, info.username
            );
        }
    }
    Ok(())
}

fn render(all: &[ApiTokenInfo]) -> String {
    if all.is_empty() {
        return "No API tokens. Create one with \
                `authmcp-gateway token create --user NAME --name WHAT`.\n"
            .to_string();
    }
    let mut out = String::from("ID  USER  NAME  PREFIX  CREATED (UTC)  LAST USED (UTC)  STATUS\n");
    for t in all {
        let status = match (t.revoked_at_ms, t.expires_at_ms) {
            (Some(_), _) => "revoked".to_string(),
            (None, Some(at)) if at <= actors::storage::unix_ms_now() => "expired".to_string(),
            (None, Some(at)) => format!("expires {}", format_utc(at)),
            (None, None) => "active".to_string(),
        };
        out.push_str(&format!(
            "{}  {}  {}  {}…  {}  {}  {}\n",
            t.id,
            t.username,
            t.name,
            t.prefix,
            format_utc(t.created_at_ms),
            t.last_used_at_ms
                .map_or_else(|| "never".to_string(), format_utc),
            status
        ));
    }
    out
}
