//! User management pages (seed 001): the list, Add user, Edit user with staged
//! role changes and the role lookup, and the portal roles guidance; and from the
//! old portal (seed 000 B–D): the expiry date, unlocking, and copying
//! permissions to another user.
//!
//! Staged changes live in the edit page's address (`?add=…&remove=…`), so the
//! whole journey works without JavaScript: the lookup is its own page whose
//! form adds to that address, and only Submit changes anything.
//!
//! Here: the routes, the list, its CSV export and the roles guidance. Add user
//! is in [`add`]; Edit user and the pages it leads to in [`edit`], with its
//! staged changes in [`staged`]; copying permissions in [`copy`].

mod add;
mod copy;
mod edit;
mod staged;

use app::records::UserFilter;
use app::users::RoleOffer;
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::forms::{encode, first, pairs};
use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/users", get(list))
        .route("/users.csv", get(export))
        .route("/users/add", get(add::add_form).post(add::add_submit))
        .route("/users/roles-guidance", get(guidance))
        .route("/users/{id}", get(edit::edit).post(edit::edit_submit))
        .route("/users/{id}/roles/add", get(edit::lookup))
        .route(
            "/users/{id}/details",
            get(edit::details_form).post(edit::details_submit),
        )
        .route(
            "/users/{id}/expiry",
            get(edit::expiry_form).post(edit::expiry_submit),
        )
        .route("/users/{id}/unlock", axum::routing::post(edit::unlock))
        .route(
            "/users/{id}/copy",
            get(copy::copy_form).post(copy::copy_submit),
        )
}

struct Row {
    id: String,
    name: String,
    email: String,
    roles: Vec<String>,
    last_signed_in: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "pages/users/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    q: String,
    role: String,
    roles: Vec<(String, String)>,
    requested: String,
    csv: String,
    previous: String,
    next: String,
    showing: String,
}

fn when(t: Option<time::OffsetDateTime>) -> String {
    let format = time::macros::format_description!(
        "[day] [month repr:short] [year] [hour]:[minute]:[second]"
    );
    t.and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "Never".to_owned())
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    let search = first(&q, "q").unwrap_or_default();
    let role = first(&q, "role").unwrap_or_default();
    let number = first(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let filter = UserFilter {
        q: Some(search.clone()),
        role: Some(role.clone()),
        offset: 0,
        limit: 0,
    };
    let result = page
        .state
        .app
        .list_users(actor, None, filter, number, &page.ctx.meta)
        .await;
    let users = match result {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
    let offers = match page.state.app.role_catalogue(actor).await {
        Ok(o) => o,
        Err(e) => return page.error(e),
    };
    let now = page.state.app.clock.now();
    let link = |n: i64| {
        format!(
            "/users?{}",
            encode(&[("q", &search), ("role", &role), ("page", &n.to_string())])
        )
    };
    let last_page = (users.total + users.per_page - 1) / users.per_page;
    let from = (users.page - 1) * users.per_page + 1;
    let to = (from + users.items.len() as i64 - 1).max(0);
    let view = ListPage {
        layout: page.layout("User management"),
        rows: users
            .items
            .iter()
            .map(|u| Row {
                id: u.user.id.to_string(),
                name: u.user.display_name(),
                email: u.user.email.to_string(),
                roles: u.roles.iter().map(|r| r.name()).collect(),
                last_signed_in: when(u.user.last_signed_in_at),
                status: u.user.account_state().status(now).label(),
            })
            .collect(),
        q: search.clone(),
        role: role.clone(),
        roles: offers
            .iter()
            .map(|o| (o.role.id(), o.name.clone()))
            .collect(),
        requested: first(&q, "requested").unwrap_or_default(),
        csv: format!("/users.csv?{}", encode(&[("q", &search), ("role", &role)])),
        previous: if users.page > 1 {
            link(users.page - 1)
        } else {
            String::new()
        },
        next: if users.page < last_page {
            link(users.page + 1)
        } else {
            String::new()
        },
        showing: if users.total == 0 {
            String::new()
        } else {
            format!(
                "Showing {from} to {to} of {} {}",
                users.total,
                super::noun(users.total, "user", "users")
            )
        },
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Deserialize)]
struct PersonInput {
    #[serde(default)]
    title: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "pages/users/guidance.html")]
struct GuidancePage {
    layout: Layout,
    offers: Vec<RoleOffer>,
}

async fn guidance(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page.state.app.role_catalogue(actor).await {
        Ok(offers) => page.render(
            StatusCode::OK,
            &GuidancePage {
                layout: page.layout("Portal roles"),
                offers,
            },
        ),
        Err(e) => page.error(e),
    }
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet (cells
/// starting with `=`, `+`, `-`, `@`, tab or carriage return get a leading `'`).
pub(crate) fn csv_cell(value: &str) -> String {
    let safe = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

/// The whole filtered list as CSV (every page), audited as an export.
async fn export(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    let app = &page.state.app;
    let mut out = String::from("Title,First name,Last name,Email,Roles,Last logged in,Status\r\n");
    let now = app.clock.now();
    let mut number = 1;
    loop {
        let filter = UserFilter {
            q: first(&q, "q"),
            role: first(&q, "role"),
            offset: 0,
            limit: app::users::MAX_PER_PAGE,
        };
        let users = match app
            .list_users(actor, None, filter, number, &page.ctx.meta)
            .await
        {
            Ok(u) => u,
            Err(e) => return page.error(e),
        };
        for u in &users.items {
            let roles: Vec<String> = u.roles.iter().map(|r| r.name()).collect();
            let cells = [
                u.user.title.clone(),
                u.user.first_name.clone(),
                u.user.last_name.clone(),
                u.user.email.to_string(),
                roles.join("; "),
                when(u.user.last_signed_in_at),
                u.user.account_state().status(now).label().to_owned(),
            ];
            out.push_str(
                &cells
                    .iter()
                    .map(|c| csv_cell(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        if users.page * users.per_page >= users.total {
            break;
        }
        number += 1;
    }
    app.record_export(&page.ctx.meta, actor, "users.exported")
        .await;
    let mut resp = (StatusCode::OK, out).into_response();
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"users.csv\""),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("Ada"), "\"Ada\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(risky).starts_with("\"'"), "{risky:?}");
        }
    }
}
