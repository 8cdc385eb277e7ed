//! `/admin/users`: the accounts page. Every change is a plain form (CSRF field, no script
//! needed) calling the same identity-service functions as `/admin/api/users`, then a redirect
//! back with a flash message; a refused change shows the page again with the reasons (password
//! policy, self-lockout, last administrator) above the table.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/users` | the table and the create form |
//! | POST | `/admin/users` | create (`username`, `email`, `password`, `role`) |
//! | POST | `/admin/users/{id}/status` | `enabled=true|false` |
//! | POST | `/admin/users/{id}/role` | `role=admin|user` |
//! | POST | `/admin/users/{id}/email` | `email`: a valid address no other account has |
//! | POST | `/admin/users/{id}/password` | `password`: reset, signs the user out |
//! | POST | `/admin/users/{id}/revoke` | ends every session and token of the user |
//! | GET, POST | `/admin/users/{id}/delete` | the confirm page, then the deletion |
//!
//! The permissions editor is `user_permissions.rs`; the groups section's forms are `groups.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::identity::NewAccount;
use actors::storage::users::{AccountChange, Role, User};
use serde::Serialize;
use tera::Context;

use super::form_page::{self, Drawn, FormPage};
use super::guard::AdminPage;
use super::{chart, forms, page};
use crate::admin_api::AdminApiError;
use crate::oauth::form::Params;
use crate::oauth::request_log;
use crate::state::AppState;

/// The Users page (accounts and groups).
pub(super) struct Users;

const FLASH: &[(&str, &str)] = &[
    ("created", "User {name} created."),
    ("enabled", "User {name} enabled."),
    ("disabled", "User {name} disabled and signed out."),
    ("role", "The role of {name} changed."),
    ("email", "The email of {name} changed."),
    (
        "password",
        "The password of {name} was reset; they are signed out everywhere.",
    ),
    ("revoked", "Every session and token of {name} is revoked."),
    (
        "deleted",
        "User {name} deleted, with their sessions, tokens and own permissions.",
    ),
    ("permissions", "The permissions of {name} were saved."),
    ("group_created", "Group {name} created."),
    (
        "group_saved",
        "Group {name} saved; rules naming its old name were not renamed with it.",
    ),
    (
        "group_deleted",
        "Group {name} deleted; its members left it, rules naming it stay.",
    ),
];

#[derive(Serialize)]
struct GroupRow {
    id: i64,
    name: String,
    description: String,
    members: usize,
}

#[derive(Serialize)]
struct Row {
    id: i64,
    username: String,
    email: String,
    role: &'static str,
    enabled: bool,
    created: String,
    last_login: String,
    is_self: bool,
}

/// What the create forms show back after a refusal (never the password).
#[derive(Default, Serialize)]
pub(super) struct Filled {
    pub(super) username: String,
    pub(super) email: String,
    pub(super) role: String,
    pub(super) group_name: String,
    pub(super) group_description: String,
}

impl FormPage for Users {
    const PATH: &'static str = "/admin/users";
    const FLASH: &'static [(&'static str, &'static str)] = FLASH;
    type Filled = Filled;

    async fn render(state: &AppState, admin: &AdminPage, drawn: Drawn<'_, Filled>) -> HttpResponse {
        render(state, admin, drawn).await
    }
}

pub(super) fn chrome(admin: &AdminPage) -> page::Chrome<'_> {
    admin.chrome(Users::PATH)
}

async fn render(state: &AppState, admin: &AdminPage, drawn: Drawn<'_, Filled>) -> HttpResponse {
    let users = match state.identity.users().await {
        Ok(users) => users,
        Err(error) => {
            slog::error!(state.log, "Users page: cannot list the accounts."; "error" => %error);
            return page::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Users unavailable",
                "The accounts could not be read; try again in a moment.",
                Some(("/admin", "Back to the dashboard")),
            );
        }
    };
    let rows: Vec<Row> = users
        .iter()
        .map(|u| Row {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            role: u.role.as_str(),
            enabled: u.enabled,
            created: chart::utc(u.created_at_ms),
            last_login: u.last_login_at_ms.map(chart::utc).unwrap_or_default(),
            is_self: u.id == admin.principal.user_id,
        })
        .collect();
    let groups = match state.policies.get() {
        Some(policies) => policies.groups().await.unwrap_or_else(|error| {
            slog::error!(state.log, "Users page: cannot list the groups."; "error" => %error);
            Vec::new()
        }),
        None => Vec::new(),
    };
    let groups: Vec<GroupRow> = groups
        .into_iter()
        .map(|g| GroupRow {
            id: g.id,
            members: g.members.len(),
            name: g.name,
            description: g.description,
        })
        .collect();
    let mut c = Context::new();
    c.insert("users", &rows);
    c.insert("groups", &groups);
    c.insert("flash", &drawn.flash);
    c.insert("errors", drawn.errors);
    c.insert("filled", drawn.filled);
    page::render(drawn.status, "admin/users.html", c, Some(&chrome(admin)))
}

/// The page again, with `error`'s reasons (and the create form as it was sent).
pub(super) async fn refused(
    state: &AppState,
    admin: &AdminPage,
    error: AdminApiError,
    filled: &Filled,
) -> HttpResponse {
    form_page::refused::<Users>(state, admin, &error, filled).await
}

fn role(text: Option<&str>) -> Result<Role, AdminApiError> {
    match text.unwrap_or("user") {
        "admin" => Ok(Role::Admin),
        "user" => Ok(Role::User),
        _ => Err(AdminApiError::InvalidInput(
            "user",
            vec!["role: must be `admin` or `user`".into()],
        )),
    }
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, Users::PATH).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let filled = Filled {
        username: params.get("username").unwrap_or("").to_string(),
        email: params.get("email").unwrap_or("").to_string(),
        role: params.get("role").unwrap_or("user").to_string(),
        ..Filled::default()
    };
    let role = match role(params.get("role")) {
        Ok(role) => role,
        Err(error) => return refused(&state, &admin, error, &filled).await,
    };
    let created = state
        .identity
        .create_account(NewAccount {
            username: filled.username.clone(),
            email: filled.email.clone(),
            password: params.get("password").unwrap_or("").to_string(),
            role,
        })
        .await;
    match created {
        Ok(user) => {
            slog::info!(log, "User created in the console.";
                "by" => &admin.principal.username, "user" => &user.username,
                "role" => user.role.as_str());
            forms::done("/admin/users", "created", &user.username)
        }
        Err(error) => {
            let error = AdminApiError::from_auth(error, &log);
            refused(&state, &admin, error, &filled).await
        }
    }
}

/// The user `raw` names, or the page saying there is none.
pub(super) async fn find_user(state: &AppState, raw: &str) -> Result<User, Box<HttpResponse>> {
    let found = match raw.parse::<i64>() {
        Ok(id) => state.identity.user(id).await.ok(),
        Err(_) => None,
    };
    found.ok_or_else(|| {
        page::missing(
            "No such user",
            &format!("There is no user with id `{raw}`; it may have been deleted."),
            (Users::PATH, "Back to the users"),
        )
    })
}

/// One per-user action: `status`, `role`, `email`, `password`, `revoke` or `delete`.
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    path: web::Path<forms::ItemAction>,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, Users::PATH).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let user = match find_user(&state, &path.id).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = admin.principal.user_id;
    let identity = &state.identity;
    let outcome: Result<&str, AdminApiError> =
        match (account_change(&path.action, &params), path.action.as_str()) {
            (Some(Ok((change, code))), _) => identity
                .change_account(user.id, change, by)
                .await
                .map(|_| code)
                .map_err(|e| AdminApiError::from_auth(e, &log)),
            (Some(Err(error)), _) => Err(error),
            (None, "password") => identity
                .reset_password(user.id, params.get("password").unwrap_or(""))
                .await
                .map(|_| "password")
                .map_err(|e| AdminApiError::from_auth(e, &log)),
            (None, "revoke") => identity
                .revoke_user(user.id)
                .await
                .map(|_| "revoked")
                .map_err(|e| AdminApiError::from_auth(e, &log)),
            (None, "delete") => {
                let deleted = identity
                    .delete_account(user.id, by)
                    .await
                    .map(|_| "deleted")
                    .map_err(|e| AdminApiError::from_auth(e, &log));
                // The user's own policies went with the account: rebuild now, not at the next poll.
                if deleted.is_ok()
                    && let Some(policies) = state.policies.get()
                {
                    let _ = policies.refresh().await;
                }
                deleted
            }
            _ => Err(AdminApiError::NotFound(format!(
                "There is no user action `{}`.",
                path.action
            ))),
        };
    match outcome {
        Ok(code) => {
            slog::info!(log, "User changed in the console.";
                "by" => &admin.principal.username, "user" => &user.username, "change" => code);
            forms::done("/admin/users", code, &user.username)
        }
        Err(error) => refused(&state, &admin, error, &Filled::default()).await,
    }
}

/// The account change an action makes (`status`, `role`, `email`) and its flash code; `None`
/// for the other actions.
fn account_change(
    action: &str,
    params: &Params,
) -> Option<Result<(AccountChange, &'static str), AdminApiError>> {
    let change = match action {
        "status" => {
            let enabled = params.get("enabled") == Some("true");
            let code = if enabled { "enabled" } else { "disabled" };
            let change = AccountChange {
                enabled: Some(enabled),
                ..AccountChange::default()
            };
            (change, code)
        }
        "role" => {
            let change = role(params.get("role")).map(|role| AccountChange {
                role: Some(role),
                ..AccountChange::default()
            });
            return Some(change.map(|c| (c, "role")));
        }
        "email" => {
            let change = AccountChange {
                email: Some(params.get("email").unwrap_or("").to_string()),
                ..AccountChange::default()
            };
            (change, "email")
        }
        _ => return None,
    };
    Some(Ok(change))
}

/// The confirm step before a deletion (a page, so it works without script).
async fn confirm_delete(
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let user = match find_user(&state, &id).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let question = format!(
        "Delete the user {} ({})? Their sessions, tokens and own permissions go with the \
         account. This cannot be undone.",
        user.username, user.email
    );
    page::confirm(
        page::Confirm {
            title: "Delete user",
            question: &question,
            action: &format!("/admin/users/{}/delete", user.id),
            confirm_label: "Delete user",
            back: "/admin/users",
        },
        &chrome(&admin),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/users")
            .route(web::get().to(form_page::show::<Users>))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/admin/users/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(act)),
    )
    .service(web::resource("/admin/users/{id}/{action}").route(web::post().to(act)));
}
