//! Copying permissions to another user (seed 000 D1–D3): the user whose roles
//! are copied, the colleagues (searched) they can go to, and the confirmation.
//! Every role is copied, or none (with the reason).

use app::AppError;
use askama::Template;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::UserId;

use super::edit::load_for_edit;
use crate::layout::Layout;
use crate::page::Page;
use crate::pages::forms::{Errors, first, pairs};
use crate::path_id::{IdForm, PathId, parse_id};

struct CopyTarget {
    id: String,
    name: String,
    email: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/users/copy.html")]
struct CopyPage {
    layout: Layout,
    id: String,
    name: String,
    roles: Vec<String>,
    q: String,
    targets: Vec<CopyTarget>,
    showing: String,
    problem: Errors,
}

/// Seed 000 D1–D2: the user whose permissions are copied, and the colleagues
/// (searched) they can be copied to.
async fn copy_page(
    page: &Page,
    id: UserId,
    q: String,
    problem: Option<(StatusCode, String)>,
) -> Response {
    let (user, _, _) = match load_for_edit(page, id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let users = match page
        .state
        .app
        .copy_targets(actor, &user, q.clone(), &page.ctx.meta)
        .await
    {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
    let status = problem.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let view = CopyPage {
        layout: page.layout(if problem.is_none() {
            "Copy permissions to another user"
        } else {
            "Error: Copy permissions to another user"
        }),
        id: user.user.id.to_string(),
        name: user.user.display_name(),
        roles: user.roles.iter().map(|r| r.name()).collect(),
        targets: users
            .items
            .iter()
            .map(|u| CopyTarget {
                id: u.user.id.to_string(),
                name: u.user.display_name(),
                email: u.user.email.to_string(),
                roles: u.roles.iter().map(|r| r.name()).collect(),
            })
            .collect(),
        showing: if users.total > users.per_page {
            format!(
                "Showing the first {} of {} users: search to find others",
                users.per_page, users.total
            )
        } else {
            String::new()
        },
        q,
        problem: problem
            .map(|(_, why)| vec![(why, "#users".to_owned())])
            .unwrap_or_default(),
    };
    page.render(status, &view)
}

pub(super) async fn copy_form(
    page: Page,
    PathId(id): PathId<UserId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = first(&pairs(raw), "q").unwrap_or_default();
    copy_page(&page, id, q, None).await
}

#[derive(Template)]
#[template(path = "pages/users/copied.html")]
struct CopiedPage {
    layout: Layout,
    id: String,
    name: String,
    target_id: String,
    target_name: String,
    roles: Vec<String>,
}

/// Seed 000 D2–D3: "Copy to" copies every role, or none (with the reason);
/// the answer is the confirmation, with "Back" to View user.
pub(super) async fn copy_submit(
    IdForm { id, page, data }: IdForm<UserId, Vec<(String, String)>>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = first(&data, "q").unwrap_or_default();
    let from = id;
    // The colleague chosen in the form: not in the path, but as malformed an
    // id would be, so it is answered and audited the same way.
    let raw = first(&data, "to").unwrap_or_default();
    let to = match parse_id(&page.state.app, &page.ctx.meta, Some(actor), &raw, "to").await {
        Ok(to) => to,
        Err(e) => return page.error(e),
    };
    let app = &page.state.app;
    let problem = match app.copy_roles(actor, from, to, &page.ctx.meta).await {
        Ok(target) => {
            let source = match app.view_user(actor, from, &page.ctx.meta).await {
                Ok(u) => u,
                Err(e) => return page.error(e),
            };
            return page.render(
                StatusCode::OK,
                &CopiedPage {
                    layout: page.layout("The permissions have been copied"),
                    id: source.user.id.to_string(),
                    name: source.user.display_name(),
                    target_id: target.user.id.to_string(),
                    target_name: target.user.display_name(),
                    roles: target.roles.iter().map(|r| r.name()).collect(),
                },
            );
        }
        Err(AppError::Forbidden(why)) => (StatusCode::FORBIDDEN, why),
        Err(AppError::Conflict(why)) => (StatusCode::CONFLICT, why),
        Err(AppError::Invalid(fields)) => {
            app.record_refusal(
                &page.ctx.meta,
                Some(actor),
                "users.copy_roles",
                "invalid form",
            )
            .await;
            let why = fields.into_values().collect::<Vec<_>>().join(". ");
            (StatusCode::BAD_REQUEST, why)
        }
        Err(e) => return page.error(e),
    };
    copy_page(&page, id, q, Some(problem)).await
}
