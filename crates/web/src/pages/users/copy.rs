//! Copying permissions to another user (seed 000 D1–D3): the user whose roles
//! are copied, the colleagues (searched) they can go to, and the confirmation.
//! Every role the actor may give is copied; the page lists the ones that were
//! not, with the reason the use case gives (`App::copy_permissions`). When
//! none may be given, nothing is copied and the copy page says why.

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

/// A copy refused, to show on the copy page: its status, and each reason
/// (in the error summary's words).
type Problem = Option<(StatusCode, Errors)>;

/// Seed 000 D1–D2: the user whose permissions are copied, and the colleagues
/// (searched) they can be copied to.
async fn copy_page(page: &Page, id: UserId, q: String, problem: Problem) -> Response {
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
        problem: problem.map(|(_, why)| why).unwrap_or_default(),
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

struct Skipped {
    name: String,
    why: &'static str,
}

#[derive(Template)]
#[template(path = "pages/users/copied.html")]
struct CopiedPage {
    layout: Layout,
    id: String,
    name: String,
    target_id: String,
    target_name: String,
    copied: Vec<String>,
    skipped: Vec<Skipped>,
    already: Vec<String>,
    roles: Vec<String>,
}

/// Seed 000 D2–D3: "Copy to" copies every role the actor may give; the
/// answer is the confirmation, listing what was copied and what was not and
/// why, with "Back" to View user. When nothing may be copied, the copy page
/// again, saying so.
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
    let problem = match app.copy_permissions(actor, from, to, &page.ctx.meta).await {
        Ok(copy) if copy.refused() => {
            let mut errors: Errors = copy
                .skipped
                .iter()
                .map(|s| (format!("{}: {}", s.role.name(), s.why), "#roles".to_owned()))
                .collect();
            errors.dedup();
            (StatusCode::FORBIDDEN, errors)
        }
        Ok(copy) => {
            let target_name = copy.target.user.display_name();
            let title = if copy.copied.is_empty() {
                format!("Nothing to copy: {target_name} already has these roles")
            } else if copy.skipped.is_empty() {
                "The permissions have been copied".to_owned()
            } else {
                "Some permissions have been copied".to_owned()
            };
            let names = |grants: &[app::records::RoleGrant]| -> Vec<String> {
                grants.iter().map(|r| r.name()).collect()
            };
            return page.render(
                StatusCode::OK,
                &CopiedPage {
                    layout: page.layout(title),
                    id: copy.source.id.to_string(),
                    name: copy.source.display_name(),
                    target_id: copy.target.user.id.to_string(),
                    target_name,
                    copied: names(&copy.copied),
                    skipped: copy
                        .skipped
                        .iter()
                        .map(|s| Skipped {
                            name: s.role.name(),
                            why: s.why,
                        })
                        .collect(),
                    already: names(&copy.already),
                    roles: names(&copy.target.roles),
                },
            );
        }
        // Someone who manages no users has no copy page to go back to.
        Err(AppError::Forbidden(why)) if actor.may_manage_users() => {
            (StatusCode::FORBIDDEN, vec![(why, "#users".to_owned())])
        }
        Err(AppError::Conflict(why)) => (StatusCode::CONFLICT, vec![(why, "#users".to_owned())]),
        Err(AppError::Invalid(fields)) => {
            app.record_refusal(
                &page.ctx.meta,
                Some(actor),
                "users.copy_roles",
                "invalid form",
            )
            .await;
            let why = fields.into_values().collect::<Vec<_>>().join(". ");
            (StatusCode::BAD_REQUEST, vec![(why, "#users".to_owned())])
        }
        Err(e) => return page.error(e),
    };
    copy_page(&page, id, q, Some(problem)).await
}
