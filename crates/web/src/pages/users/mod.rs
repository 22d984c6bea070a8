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

use app::records::{UserFilter, UserSort, UserSortKey};
use app::users::RoleOffer;
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::forms::{encode, first, pairs};
use super::pagination::{self, Pagination};
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

/// A column heading of the list: its text and, for a sortable column, its
/// `aria-sort` and the link that sorts by it.
struct Heading {
    text: &'static str,
    /// "ascending", "descending" or "none"; "" for a column that is not sortable.
    aria_sort: &'static str,
    href: String,
}

/// The columns User management sorts by, as `?sort=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    LastSignedIn,
    Status,
}

impl Column {
    const ALL: [Column; 3] = [Column::Name, Column::LastSignedIn, Column::Status];

    fn param(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::LastSignedIn => "last-signed-in",
            Column::Status => "status",
        }
    }
}

/// How the list is sorted, read from `?sort=&order=`. Only the exact names
/// are understood; anything else is the default (by name, ascending), and
/// the text itself goes no further than this comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListSort {
    column: Column,
    descending: bool,
}

impl ListSort {
    const DEFAULT: ListSort = ListSort {
        column: Column::Name,
        descending: false,
    };

    fn read(q: &[(String, String)]) -> Self {
        let sort = first(q, "sort").unwrap_or_default();
        let Some(column) = Column::ALL.into_iter().find(|c| c.param() == sort) else {
            return Self::DEFAULT;
        };
        Self {
            column,
            descending: first(q, "order").as_deref() == Some("descending"),
        }
    }

    /// The store's order; a status is worked out at `now`, the moment the
    /// page's statuses are shown for.
    fn store(self, now: time::OffsetDateTime) -> UserSort {
        UserSort {
            key: match self.column {
                Column::Name => UserSortKey::Name,
                Column::LastSignedIn => UserSortKey::LastSignedIn,
                Column::Status => UserSortKey::Status(now),
            },
            descending: self.descending,
        }
    }

    /// `sort` and `order`, as a sort link says them.
    fn explicit(self) -> [(&'static str, &'static str); 2] {
        [
            ("sort", self.column.param()),
            (
                "order",
                if self.descending {
                    "descending"
                } else {
                    "ascending"
                },
            ),
        ]
    }

    /// `sort` and `order` for the other links (pages, search, download):
    /// none for the default order.
    fn params(self) -> [(&'static str, &'static str); 2] {
        if self == Self::DEFAULT {
            [("", ""), ("", "")]
        } else {
            self.explicit()
        }
    }
}

/// The list's address with these choices ("" values left out).
fn list_link(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", encode(&kept))
    }
}

#[derive(Template)]
#[template(path = "pages/users/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    headings: Vec<Heading>,
    q: String,
    role: String,
    roles: Vec<(String, String)>,
    /// The sort, for the search form to keep: ("sort", …), ("order", …).
    sort: Vec<(&'static str, &'static str)>,
    requested: String,
    csv: String,
    pages: Pagination,
    showing: String,
}

fn when(t: Option<time::OffsetDateTime>) -> String {
    domain::uk_time::moment_or(t, "Never")
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    let search = first(&q, "q").unwrap_or_default();
    let role = first(&q, "role").unwrap_or_default();
    let sort = ListSort::read(&q);
    let number = first(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let now = page.state.app.clock.now();
    let filter = UserFilter {
        q: Some(search.clone()),
        role: Some(role.clone()),
        sort: sort.store(now),
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
    let [by, order] = sort.params();
    let link = |n: i64| {
        let n = n.to_string();
        list_link(
            "/users",
            &[
                ("q", &search),
                ("role", &role),
                by,
                order,
                ("page", if n == "1" { "" } else { &n }),
            ],
        )
    };
    let last = pagination::last_page(users.total, users.per_page);
    if number > last {
        return Redirect::to(&link(last)).into_response();
    }
    let offers = match page.state.app.role_catalogue(actor).await {
        Ok(o) => o,
        Err(e) => return page.error(e),
    };
    let headings = [
        ("User", Some(Column::Name)),
        ("Roles", None),
        ("Last logged in", Some(Column::LastSignedIn)),
        ("Status", Some(Column::Status)),
    ]
    .into_iter()
    .map(|(text, column)| match column {
        None => Heading {
            text,
            aria_sort: "",
            href: String::new(),
        },
        Some(column) => {
            let current = column == sort.column;
            // The sorted column turns round; another starts ascending.
            let next = ListSort {
                column,
                descending: current && !sort.descending,
            };
            let [by, order] = next.explicit();
            Heading {
                text,
                aria_sort: match (current, sort.descending) {
                    (false, _) => "none",
                    (true, false) => "ascending",
                    (true, true) => "descending",
                },
                href: list_link("/users", &[("q", &search), ("role", &role), by, order]),
            }
        }
    })
    .collect();
    let view = ListPage {
        layout: page.layout(if last > 1 {
            format!("User management (page {} of {last})", users.page)
        } else {
            "User management".to_owned()
        }),
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
        headings,
        q: search.clone(),
        role: role.clone(),
        roles: offers
            .iter()
            .map(|o| (o.role.id(), o.name.clone()))
            .collect(),
        sort: [by, order]
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect(),
        requested: first(&q, "requested").unwrap_or_default(),
        csv: format!(
            "/users.csv?{}",
            encode(
                &[("q", search.as_str()), ("role", role.as_str()), by, order]
                    .into_iter()
                    .filter(|(k, _)| !k.is_empty())
                    .collect::<Vec<_>>()
            )
        ),
        pages: Pagination::new(users.page, last, link),
        showing: pagination::showing(
            users.page,
            users.per_page,
            users.items.len(),
            users.total,
            ("user", "users"),
        ),
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

/// The whole filtered list as CSV (every page, in the list's order), audited
/// as an export.
async fn export(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    let app = &page.state.app;
    let mut out = String::from("Title,First name,Last name,Email,Roles,Last logged in,Status\r\n");
    let now = app.clock.now();
    let sort = ListSort::read(&q).store(now);
    let mut number = 1;
    loop {
        let filter = UserFilter {
            q: first(&q, "q"),
            role: first(&q, "role"),
            sort,
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
