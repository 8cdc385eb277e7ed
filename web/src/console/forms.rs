//! What the console's management pages share: reading a posted form, turning an admin-API
//! error into the messages shown next to a form, and the flash message a POST-redirect-GET
//! carries in its query (`?done=<code>&name=<what>`: a fixed message per code, so a crafted
//! link can only show the console's own sentences plus an escaped name).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};

use super::page;
use crate::admin_api::AdminApiError;
use crate::oauth::form::{self, Params};

/// The posted form, or the page that says it could not be read.
pub(crate) async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    back: &str,
) -> Result<Params, Box<HttpResponse>> {
    form::read(req, payload).await.map_err(|e| {
        Box::new(page::error(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            &format!("The form could not be read: {e}."),
            Some((back, "Back")),
        ))
    })
}

/// The path of a per-item action, `…/{id}/{action}`. `…/{id}/delete` is a resource of its
/// own (its `GET` is the confirm page) without `{action}`: there it means `delete`, so one
/// handler serves both.
#[derive(serde::Deserialize)]
pub(crate) struct ItemAction {
    pub id: String,
    #[serde(default = "delete")]
    pub action: String,
}

fn delete() -> String {
    "delete".into()
}

/// The status and the sentences to show for a refused change: each problem on its own line.
pub(crate) fn messages(error: &AdminApiError) -> (StatusCode, Vec<String>) {
    let list = match error {
        AdminApiError::Invalid(problems) | AdminApiError::InvalidInput(_, problems) => {
            problems.iter().map(|p| sentence(p)).collect()
        }
        other => vec![other.to_string()],
    };
    (error.status_code(), list)
}

/// The flash message of `query` from `table` (code → message; `{name}` is replaced).
pub(crate) fn flash(query: &Params, table: &[(&str, &str)]) -> Option<String> {
    let code = query.get("done")?;
    let (_, message) = table.iter().find(|(c, _)| *c == code)?;
    Some(message.replace("{name}", query.get("name").unwrap_or("")))
}

/// `location?done=code&name=name`, for the redirect after a change.
pub(crate) fn done(location: &str, code: &str, name: &str) -> HttpResponse {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", code)
        .append_pair("name", name)
        .finish();
    page::see_other(&format!("{location}?{query}"), &[])
}

pub(crate) fn query(req: &HttpRequest) -> Params {
    Params::parse(req.query_string().as_bytes()).unwrap_or_default()
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    let text = format!("{}{}", first.unwrap_or_default(), chars.as_str());
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_shows_only_known_messages() {
        let table = [("created", "User {name} created.")];
        let q = Params::parse(b"done=created&name=%3Cb%3E").unwrap();
        assert_eq!(flash(&q, &table).as_deref(), Some("User <b> created."));
        let q = Params::parse(b"done=anything+I+like").unwrap();
        assert_eq!(flash(&q, &table), None);
    }

    #[test]
    fn problems_become_sentences() {
        let error = AdminApiError::InvalidInput("user", vec!["password: too short".into()]);
        let (status, list) = messages(&error);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(list, vec!["Password: too short.".to_string()]);
        let (status, _) = messages(&AdminApiError::Conflict("No.".into()));
        assert_eq!(status, StatusCode::CONFLICT);
    }
}
