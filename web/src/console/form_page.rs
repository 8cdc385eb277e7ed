//! The shape the management pages share: a page drawn after a change with its flash message
//! (post-redirect-get), or drawn again with the reasons a change was refused above the forms
//! and the form as it was sent. A page implements [`FormPage`] (its path, its flash messages,
//! how it renders); [`show`] and [`refused`] are the same for all of them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::forms;
use super::guard::AdminPage;
use crate::admin_api::AdminApiError;
use crate::state::AppState;

/// What one drawing of a page shows besides its data.
pub(crate) struct Drawn<'a, F> {
    pub status: StatusCode,
    pub flash: Option<String>,
    /// The reasons a change was refused, one sentence each.
    pub errors: &'a [String],
    /// The forms' fields as sent (never a password or token).
    pub filled: &'a F,
}

pub(crate) trait FormPage {
    /// The page's path: its nav entry, and where its changes lead back to.
    const PATH: &'static str;
    /// The flash message of each change code (`{name}` is replaced).
    const FLASH: &'static [(&'static str, &'static str)];
    /// What the forms show again after a refusal.
    type Filled: Default;

    async fn render(
        state: &AppState,
        admin: &AdminPage,
        drawn: Drawn<'_, Self::Filled>,
    ) -> HttpResponse;
}

/// `GET` of page `P`, with the flash message its query names.
pub(crate) async fn show<P: FormPage>(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
) -> HttpResponse {
    let drawn = Drawn {
        status: StatusCode::OK,
        flash: forms::flash(&forms::query(&req), P::FLASH),
        errors: &[],
        filled: &P::Filled::default(),
    };
    P::render(&state, &admin, drawn).await
}

/// Page `P` again with `error`'s reasons and status, the forms as sent.
pub(crate) async fn refused<P: FormPage>(
    state: &AppState,
    admin: &AdminPage,
    error: &AdminApiError,
    filled: &P::Filled,
) -> HttpResponse {
    let (status, errors) = forms::messages(error);
    again::<P>(state, admin, status, &errors, filled).await
}

/// Page `P` again with `errors` above its forms.
pub(crate) async fn again<P: FormPage>(
    state: &AppState,
    admin: &AdminPage,
    status: StatusCode,
    errors: &[String],
    filled: &P::Filled,
) -> HttpResponse {
    let drawn = Drawn {
        status,
        flash: None,
        errors,
        filled,
    };
    P::render(state, admin, drawn).await
}
