//! Groups on the console's Users pages: plain forms (CSRF field, no script needed) calling the
//! same policy-service functions as `/admin/api/groups`, then a redirect with a flash message.
//! Policies name groups as `group:<name>`; membership changes apply to the next `/mcp` request.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/admin/users/groups` | create (`name`, `description`); the list is on `/admin/users` |
//! | POST | `/admin/users/groups/{id}/edit` | rename / re-describe (`name`, `description`); a name already taken is refused |
//! | GET, POST | `/admin/users/groups/{id}/delete` | the confirm page, then the deletion |
//! | POST | `/admin/users/{id}/groups` | `group_<group id>=on` per group: exactly these memberships |

use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::policy::PolicyService;
use actors::storage::groups::Group;
use std::sync::Arc;

use super::form_page::FormPage as _;
use super::guard::AdminPage;
use super::users::{Filled, Users, chrome, refused};
use super::{forms, page, user_permissions};
use crate::admin_api::AdminApiError;
use crate::oauth::request_log;
use crate::state::AppState;

fn policies(state: &AppState) -> Result<&Arc<PolicyService>, AdminApiError> {
    state.policies.get().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })
}

/// The group `raw` names, or the page saying there is none.
async fn find_group(state: &AppState, raw: &str) -> Result<Group, Box<HttpResponse>> {
    let found = match (raw.parse::<i64>(), state.policies.get()) {
        (Ok(id), Some(policies)) => policies.group(id).await.ok(),
        _ => None,
    };
    found.ok_or_else(|| {
        page::missing(
            "No such group",
            &format!("There is no group with id `{raw}`; it may have been deleted."),
            (Users::PATH, "Back to the users"),
        )
    })
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
        group_name: params.get("name").unwrap_or("").trim().to_string(),
        group_description: params.get("description").unwrap_or("").to_string(),
        ..Filled::default()
    };
    let (name, description) = (&filled.group_name, &filled.group_description);
    let by = &admin.principal.username;
    let created = async {
        policies(&state)?
            .create_group(name.clone(), description.clone(), by)
            .await
            .map_err(|e| AdminApiError::from_policy(e, "group", &log))
    }
    .await;
    match created {
        Ok(group) => forms::done(Users::PATH, "group_created", &group.name),
        Err(error) => refused(&state, &admin, error, &filled).await,
    }
}

/// The confirm step before a deletion (a page, so it works without script).
async fn confirm_delete(
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let group = match find_group(&state, &id).await {
        Ok(group) => group,
        Err(response) => return *response,
    };
    let question = format!(
        "Delete the group {} ({} members)? Its members lose what rules naming group:{} \
         allow them; those rules stay and would apply again to a new group of that name.",
        group.name,
        group.members.len(),
        group.name
    );
    page::confirm(
        page::Confirm {
            title: "Delete group",
            question: &question,
            action: &format!("/admin/users/groups/{}/delete", group.id),
            confirm_label: "Delete group",
            back: "/admin/users",
        },
        &chrome(&admin),
    )
}

/// One action on a group: `edit` (rename and/or re-describe, through the same service call
/// as `PATCH /admin/api/groups/{id}`; rules naming the old `group:<name>` are not renamed with
/// it) or `delete`.
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
    let group = match find_group(&state, &path.id).await {
        Ok(group) => group,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = &admin.principal.username;
    let outcome = async {
        let policies = policies(&state)?;
        let changed = match path.action.as_str() {
            "edit" => {
                let name = params.get("name").map(|n| n.trim().to_string());
                let description = params.get("description").map(str::to_string);
                let saved = policies.update_group(group.id, name, description, by);
                saved.await.map(|g| ("group_saved", g))
            }
            // `delete`: the routes allow no other action.
            _ => policies
                .delete_group(group.id, by)
                .await
                .map(|g| ("group_deleted", g)),
        };
        changed.map_err(|e| AdminApiError::from_policy(e, "group", &log))
    }
    .await;
    match outcome {
        Ok((code, group)) => forms::done(Users::PATH, code, &group.name),
        Err(error) => refused(&state, &admin, error, &Filled::default()).await,
    }
}

/// Makes the checked groups exactly the user's groups, in one transaction: a box for a group
/// deleted since the page was drawn refuses the whole save, and nothing changes.
async fn set_memberships(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (params, user) = match user_permissions::user_form(&req, &state, &id, payload).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let back = format!("/admin/users/{}/permissions", user.id);
    let log = request_log(&req, &state.log);
    let by = &admin.principal.username;
    let outcome = async {
        let wanted = checked_groups(params.keys())?;
        policies(&state)?
            .set_user_groups(user.id, wanted, by)
            .await
            .map_err(|e| AdminApiError::from_policy(e, "group", &log))
    }
    .await;
    match outcome {
        Ok(_) => {
            slog::info!(log, "Group memberships saved in the console.";
                "by" => by, "user" => &user.username);
            forms::done(&back, "groups", &user.username)
        }
        Err(error) => {
            let (status, errors) = forms::messages(&error);
            user_permissions::page(&state, &admin, &user, status, &errors, None).await
        }
    }
}

/// The group ids of the checked boxes (`group_<id>`); a box that names no id is refused.
fn checked_groups<'a>(keys: impl Iterator<Item = &'a str>) -> Result<Vec<i64>, AdminApiError> {
    let mut ids = Vec::new();
    let mut problems = Vec::new();
    for key in keys {
        let Some(raw) = key.strip_prefix("group_") else {
            continue;
        };
        match raw.parse::<i64>() {
            Ok(id) => ids.push(id),
            Err(_) => problems.push(format!("{key}: no such group")),
        }
    }
    if problems.is_empty() {
        Ok(ids)
    } else {
        Err(AdminApiError::InvalidInput("group list", problems))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users/groups").route(web::post().to(create)))
        .service(web::resource("/admin/users/groups/{id}/{action:edit}").route(web::post().to(act)))
        .service(
            web::resource("/admin/users/groups/{id}/delete")
                .route(web::get().to(confirm_delete))
                .route(web::post().to(act)),
        )
        .service(web::resource("/admin/users/{id}/groups").route(web::post().to(set_memberships)));
}
