//! Server-rendered pages (GOV.UK Design System). Every page works without
//! JavaScript; every form goes through [`crate::page::Form`].

mod access_keys;
mod account;
mod activity;
mod areas;
mod dev_mail;
mod documents;
mod feedback;
mod forms;
mod home;
mod organisations;
pub(crate) mod pagination;
mod progress;
mod queries;
mod returns;
mod service;
mod sessions;
mod sign_in;
mod submission_page;
mod submissions;
mod users;
mod window_form;
mod windows;

use axum::Router;
use axum::response::Response;

pub(crate) use submissions::report_download;
pub(crate) use users::csv_cell;

use crate::page::Page;
use crate::state::WebState;

/// `one` or `many`, as `n` asks: "1 user", "2 users" (never "1 users").
pub(crate) fn noun(n: i64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

pub fn router(dev_mail: bool) -> Router<WebState> {
    let mut r = sign_in::routes()
        .merge(home::routes())
        .merge(account::routes())
        .merge(users::routes())
        .merge(areas::routes())
        .merge(access_keys::routes())
        .merge(organisations::routes())
        .merge(windows::routes())
        .merge(window_form::routes())
        .merge(progress::routes())
        .merge(queries::routes())
        .merge(submissions::routes())
        .merge(documents::routes())
        .merge(feedback::routes())
        .merge(sessions::routes())
        .merge(activity::routes())
        .merge(service::routes());
    if dev_mail {
        r = r.merge(dev_mail::routes());
    }
    r.fallback(not_found)
}

async fn not_found(page: Page) -> Response {
    page.error(app::AppError::NotFound)
}
