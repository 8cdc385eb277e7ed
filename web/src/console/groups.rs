//! Groups on the console's Users pages: plain forms (CSRF field, no script needed) calling the
//! same policy-service functions as `/admin/api/groups`, then a redirect with a flash message.
//! Policies name groups as `group:<name>`; membership changes apply to the next `/mcp` request.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/admin/users/groups` | create (`name`, `description`); the list is on `/admin/users` |
//! | GET, POST | `/admin/users/groups/{id}/delete` | the confirm page, then the deletion |
//! | POST | `/admin/users/{id}/groups` | `group_<group id>=on` per group: exactly these memberships |

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::policy::PolicyService;
use actors::storage::groups::Group;
use std::sync::Arc;

use super::guard;
use super::users::{Filled, chrome, find_user, refused};
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
        Box::new(page::error(
            StatusCode::NOT_FOUND,
            "No such group",
            &format!("There is no group with id `{raw}`; it may have been deleted."),
            Some(("/admin/users", "Back to the users")),
        ))
    })
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let (admin, params) = match forms::admin_form(&req, &state, payload, "/admin/users").await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let filled = Filled {
        group_name: params.get("name").unwrap_or("").trim().to_string(),
        group_description: params.get("description").unwrap_or("").to_string(),
        ..Filled::default()
    };
    let created = match policies(&state) {
        Ok(p) => p
            .create_group(
                filled.group_name.clone(),
                filled.group_description.clone(),
                &admin.principal.username,
            )
            .await
            .map_err(|e| AdminApiError::from_policy(e, "group", &log)),
        Err(error) => Err(error),
    };
    match created {
        Ok(group) => forms::done("/admin/users", "group_created", &group.name),
        Err(error) => refused(&state, &admin, error, &filled).await,
    }
}

/// The confirm step before a deletion (a page, so it works without script).
async fn confirm_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let admin = match guard::admin_page(&req, &state) {
        Ok(admin) => admin,
        Err(response) => return *response,
    };
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

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (admin, _) = match forms::admin_form(&req, &state, payload, "/admin/users").await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let group = match find_group(&state, &id).await {
        Ok(group) => group,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let deleted = match policies(&state) {
        Ok(p) => p
            .delete_group(group.id, &admin.principal.username)
            .await
            .map_err(|e| AdminApiError::from_policy(e, "group", &log)),
        Err(error) => Err(error),
    };
    match deleted {
        Ok(group) => forms::done("/admin/users", "group_deleted", &group.name),
        Err(error) => refused(&state, &admin, error, &Filled::default()).await,
    }
}

/// Makes the checked groups exactly the user's groups: adds and removes through the same
/// service calls as `POST`/`DELETE /admin/api/groups/{id}/members/{user_id}`.
async fn set_memberships(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let back = format!("/admin/users/{id}/permissions");
    let (admin, params) = match forms::admin_form(&req, &state, payload, &back).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let user = match find_user(&state, &id).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = &admin.principal.username;
    let outcome = async {
        let policies = policies(&state)?;
        let as_error = |e| AdminApiError::from_policy(e, "group", &log);
        let groups = policies.groups().await.map_err(as_error)?;
        let known: HashSet<String> = groups.iter().map(|g| format!("group_{}", g.id)).collect();
        // A box for a group deleted since the page was drawn: refused, nothing changes.
        let stale: Vec<String> = params
            .keys()
            .filter(|k| k.starts_with("group_") && !known.contains(*k))
            .map(|k| format!("{k}: no such group; it may have been deleted"))
            .collect();
        if !stale.is_empty() {
            return Err(AdminApiError::InvalidInput("group list", stale));
        }
        for group in &groups {
            let wanted = params.get(&format!("group_{}", group.id)).is_some();
            let member = group.members.contains(&user.id);
            if wanted && !member {
                policies
                    .add_member(group.id, user.id, by)
                    .await
                    .map_err(as_error)?;
            } else if member && !wanted {
                policies
                    .remove_member(group.id, user.id, by)
                    .await
                    .map_err(as_error)?;
            }
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users/groups").route(web::post().to(create)))
        .service(
            web::resource("/admin/users/groups/{id}/delete")
                .route(web::get().to(confirm_delete))
                .route(web::post().to(delete)),
        )
        .service(web::resource("/admin/users/{id}/groups").route(web::post().to(set_memberships)));
}
