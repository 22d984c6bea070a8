//! Server-rendered pages (GOV.UK Design System). Every page works without
//! JavaScript; every form goes through [`crate::page::Form`].

mod access_keys;
mod account;
mod areas;
mod collections;
mod dev_mail;
mod forms;
mod home;
mod organisations;
mod sign_in;
mod users;

use axum::Router;
use axum::response::Response;

use crate::page::Page;
use crate::state::WebState;

pub fn router(dev_mail: bool) -> Router<WebState> {
    let mut r = sign_in::routes()
        .merge(home::routes())
        .merge(account::routes())
        .merge(users::routes())
        .merge(areas::routes())
        .merge(access_keys::routes())
        .merge(organisations::routes())
        .merge(collections::routes());
    if dev_mail {
        r = r.merge(dev_mail::routes());
    }
    r.fallback(not_found)
}

async fn not_found(page: Page) -> Response {
    page.error(app::AppError::NotFound)
}
