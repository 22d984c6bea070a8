//! Areas (seed 000 E): every area; one area's users, with Remove; Add users by
//! search. Membership of an area is holding its role, so adding and removing go
//! through the same checks as Edit user (`App::add_to_area`,
//! `App::remove_from_area`): a sensitive area's role is never added here. A
//! regulator administrator also defines areas.

use app::areas::AreaInput;
use app::records::UserFilter;
use app::{AppError, FieldErrors, Principal};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::role::{Area, AreaKind};
use serde::Deserialize;

use super::forms::{Errors, encode, error_for, first, pairs, summary_in};
use super::pagination::{self, Pagination};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::path_id::parse_id;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/areas", get(list).post(create))
        .route("/areas/{slug}", get(show))
        .route("/areas/{slug}/remove", post(remove))
        .route("/areas/{slug}/add", get(add_form).post(add))
}

fn kind_label(kind: AreaKind) -> &'static str {
    match kind {
        AreaKind::DataReturn => "Data return",
        AreaKind::Communication => "Communication",
    }
}

/// The Areas pages are the user administrators' (and the regulator's).
async fn admin<'a>(page: &'a Page, action: &str) -> Result<&'a Principal, Response> {
    let Some(actor) = page.principal() else {
        return Err(Redirect::to("/sign-in").into_response());
    };
    if !actor.may_manage_users() {
        return Err(page.refuse(action, domain::authz::NOT_AN_ADMIN).await);
    }
    Ok(actor)
}

struct AreaRow {
    slug: String,
    name: String,
    kind: &'static str,
    sensitive: bool,
}

#[derive(Template)]
#[template(path = "pages/areas/list.html")]
struct ListPage {
    layout: Layout,
    areas: Vec<AreaRow>,
    may_define: bool,
    added: String,
    slug: String,
    area_name: String,
    kind: String,
    sensitive: bool,
    errors: Errors,
    fields: FieldErrors,
}

impl ListPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn list_page(page: &Page, added: String, form: AreaForm, fields: FieldErrors) -> Response {
    let actor = match admin(page, "areas.list").await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let areas = match page.state.app.areas().await {
        Ok(a) => a,
        Err(e) => return page.error(e),
    };
    let added = areas
        .iter()
        .find(|a| a.slug.as_str() == added)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let view = ListPage {
        layout: page.layout(if fields.is_empty() {
            "Areas"
        } else {
            "Error: Areas"
        }),
        areas: areas
            .iter()
            .map(|a| AreaRow {
                slug: a.slug.to_string(),
                name: a.name.clone(),
                kind: kind_label(a.kind),
                sensitive: a.sensitive,
            })
            .collect(),
        may_define: actor.may_define_areas(),
        added,
        slug: form.slug,
        area_name: form.name,
        kind: form.kind,
        sensitive: form.sensitive.is_some(),
        errors: summary_in(&fields, &["name", "slug", "kind"]),
        fields,
    };
    let status = if view.fields.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page.render(status, &view)
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let added = first(&pairs(raw), "added").unwrap_or_default();
    list_page(&page, added, AreaForm::default(), FieldErrors::new()).await
}

#[derive(Deserialize, Default)]
struct AreaForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    sensitive: Option<String>,
}

/// "Add an area" (regulator administrators).
async fn create(form: Form<AreaForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let input = AreaInput {
        slug: data.slug.clone(),
        name: data.name.clone(),
        kind: data.kind.clone(),
        sensitive: data.sensitive.is_some(),
    };
    match page
        .state
        .app
        .create_area(actor, &input, &page.ctx.meta)
        .await
    {
        Ok(area) => {
            let q = encode(&[("added", area.slug.as_str())]);
            Redirect::to(&format!("/areas?{q}")).into_response()
        }
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(&page.ctx.meta, Some(actor), "areas.create", "invalid form")
                .await;
            list_page(&page, String::new(), data, fields).await
        }
        Err(e) => page.error(e),
    }
}

/// The area named in the address, for a user administrator: unknown is 404.
async fn find_area<'a>(
    page: &'a Page,
    slug: &str,
    action: &str,
) -> Result<(&'a Principal, Area), Response> {
    let actor = admin(page, action).await?;
    match page.state.app.area(actor, slug, &page.ctx.meta).await {
        Ok(area) => Ok((actor, area)),
        Err(e) => Err(page.error(e)),
    }
}

/// A refusal to show on the page it came from: its status and reason.
type Problem = Option<(StatusCode, String)>;

/// The refusals a change of membership can meet, shown where it was asked for.
fn problem_of(e: AppError) -> Result<(StatusCode, String), AppError> {
    match e {
        AppError::Forbidden(why) => Ok((StatusCode::FORBIDDEN, why)),
        AppError::Conflict(why) => Ok((StatusCode::CONFLICT, why)),
        other => Err(other),
    }
}

struct Member {
    id: String,
    name: String,
    email: String,
    status: &'static str,
}

/// Someone with access through their role, not the area's own.
struct Through {
    name: String,
    email: String,
    /// "Through their role: Portal Administrator".
    access: String,
    status: &'static str,
    /// Their user page, when the actor may change their roles.
    edit: String,
    /// Otherwise whom to ask.
    ask: &'static str,
}

#[derive(Template)]
#[template(path = "pages/areas/show.html")]
struct ShowPage {
    layout: Layout,
    slug: String,
    name: String,
    kind: &'static str,
    sensitive: bool,
    role: String,
    members: Vec<Member>,
    through: Vec<Through>,
    showing: String,
    pages: Pagination,
    removed: String,
    problem: Errors,
}

async fn show_page(
    page: &Page,
    slug: &str,
    number: i64,
    removed: String,
    problem: Problem,
) -> Response {
    let (actor, area) = match find_area(page, slug, "areas.view").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let app = &page.state.app;
    let users = match app
        .area_users(actor, &area, None, number, &page.ctx.meta)
        .await
    {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
    // Who has access through their role: from the decision the area's
    // pages and returns use (`App::area_access_through_roles`).
    let through = match app
        .area_access_through_roles(actor, &area, &page.ctx.meta)
        .await
    {
        Ok(t) => t,
        Err(e) => return page.error(e),
    };
    let now = app.clock.now();
    let link = |n: i64| {
        if n == 1 {
            format!("/areas/{}", area.slug)
        } else {
            format!("/areas/{}?page={n}", area.slug)
        }
    };
    let last_page = pagination::last_page(users.total, users.per_page);
    // Beyond the last page: the last page, the rest of the address kept.
    if problem.is_none() && number > last_page {
        let mut to = link(last_page);
        if !removed.is_empty() {
            let q = encode(&[("removed", removed.as_str())]);
            to.push(if last_page == 1 { '?' } else { '&' });
            to.push_str(&q);
        }
        return Redirect::to(&to).into_response();
    }
    let from = (users.page - 1) * users.per_page + 1;
    let to = from + users.items.len() as i64 - 1;
    let status = problem.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let view = ShowPage {
        layout: page.layout(if problem.is_none() {
            area.name.clone()
        } else {
            format!("Error: {}", area.name)
        }),
        slug: area.slug.to_string(),
        kind: kind_label(area.kind),
        sensitive: area.sensitive,
        role: app.area_role(actor, &area).name(&area.name),
        name: area.name,
        members: users
            .items
            .iter()
            .map(|u| Member {
                id: u.user.id.to_string(),
                name: u.user.display_name(),
                email: u.user.email.to_string(),
                status: u.user.account_state().status(now).label(),
            })
            .collect(),
        through: through
            .iter()
            .map(|t| Through {
                name: t.user.user.display_name(),
                email: t.user.user.email.to_string(),
                access: format!(
                    "Through their {}: {}",
                    if t.through.len() == 1 {
                        "role"
                    } else {
                        "roles"
                    },
                    t.through.join(", ")
                ),
                status: t.user.user.account_state().status(now).label(),
                edit: if t.may_change_roles {
                    format!("/users/{}", t.user.user.id)
                } else {
                    String::new()
                },
                ask: t.ask.unwrap_or_default(),
            })
            .collect(),
        showing: if users.total == 0 {
            String::new()
        } else {
            format!(
                "Showing {from} to {to} of {} {}",
                users.total,
                super::noun(users.total, "user", "users")
            )
        },
        pages: Pagination::new(users.page, last_page, link),
        removed,
        problem: problem
            .map(|(_, why)| vec![(why, "#members".to_owned())])
            .unwrap_or_default(),
    };
    page.render(status, &view)
}

async fn show(page: Page, Path(slug): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let number = first(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let removed = first(&q, "removed").unwrap_or_default();
    show_page(&page, &slug, number, removed, None).await
}

#[derive(Deserialize)]
struct UserChoice {
    #[serde(default)]
    user_id: String,
    /// The search to go back to after adding.
    #[serde(default)]
    q: String,
}

/// Remove: takes the area's role away (seed 000 B5, from the area's side).
async fn remove(Path(slug): Path<String>, form: Form<UserChoice>) -> Response {
    let Form { page, data } = form;
    let (actor, area) = match find_area(&page, &slug, "areas.remove_user").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let meta = &page.ctx.meta;
    let user = match parse_id(&page.state.app, meta, Some(actor), &data.user_id, "user_id").await {
        Ok(user) => user,
        Err(e) => return page.error(e),
    };
    // Refusals are audited by the use case, and shown on the area's page.
    match page
        .state
        .app
        .remove_from_area(actor, &area, user, &page.ctx.meta)
        .await
    {
        Ok(u) => {
            let q = encode(&[("removed", u.user.display_name().as_str())]);
            Redirect::to(&format!("/areas/{}?{q}", area.slug)).into_response()
        }
        Err(e) => match problem_of(e) {
            Ok(problem) => show_page(&page, &slug, 1, String::new(), Some(problem)).await,
            Err(e) => page.error(e),
        },
    }
}

struct Candidate {
    id: String,
    name: String,
    email: String,
    /// Already holds the area's role.
    member: bool,
}

#[derive(Template)]
#[template(path = "pages/areas/add.html")]
struct AddPage {
    layout: Layout,
    slug: String,
    name: String,
    q: String,
    candidates: Vec<Candidate>,
    showing: String,
    added: String,
    problem: Errors,
}

async fn add_page(page: &Page, slug: &str, q: String, added: String, problem: Problem) -> Response {
    let (actor, area) = match find_area(page, slug, "areas.add_user").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if area.sensitive {
        return page
            .refuse("areas.add_user", domain::authz::SENSITIVE_ROLE)
            .await;
    }
    let app = &page.state.app;
    let role = app.area_role(actor, &area);
    let filter = UserFilter {
        q: Some(q.clone()),
        role: None,
        offset: 0,
        limit: 0,
        ..UserFilter::default()
    };
    let users = match app.list_users(actor, None, filter, 1, &page.ctx.meta).await {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
    let status = problem.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let view = AddPage {
        layout: page.layout(if problem.is_none() {
            format!("Add users to {}", area.name)
        } else {
            format!("Error: Add users to {}", area.name)
        }),
        slug: area.slug.to_string(),
        name: area.name.clone(),
        candidates: users
            .items
            .iter()
            .map(|u| Candidate {
                id: u.user.id.to_string(),
                name: u.user.display_name(),
                email: u.user.email.to_string(),
                member: u.roles.iter().any(|g| g.role == role),
            })
            .collect(),
        showing: match users.total {
            0 => String::new(),
            n if n > users.per_page => format!(
                "Showing the first {} of {n} users: search to find others",
                users.per_page
            ),
            n => format!("{n} {}", super::noun(n, "user", "users")),
        },
        q,
        added,
        problem: problem
            .map(|(_, why)| vec![(why, "#users".to_owned())])
            .unwrap_or_default(),
    };
    page.render(status, &view)
}

async fn add_form(page: Page, Path(slug): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    add_page(
        &page,
        &slug,
        first(&q, "q").unwrap_or_default(),
        first(&q, "added").unwrap_or_default(),
        None,
    )
    .await
}

/// Add (seed 000 E3): gives the chosen user the area's role.
async fn add(Path(slug): Path<String>, form: Form<UserChoice>) -> Response {
    let Form { page, data } = form;
    let (actor, area) = match find_area(&page, &slug, "areas.add_user").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let meta = &page.ctx.meta;
    let user = match parse_id(&page.state.app, meta, Some(actor), &data.user_id, "user_id").await {
        Ok(user) => user,
        Err(e) => return page.error(e),
    };
    match page
        .state
        .app
        .add_to_area(actor, &area, user, &page.ctx.meta)
        .await
    {
        Ok(u) => {
            let q = encode(&[
                ("q", data.q.as_str()),
                ("added", u.user.display_name().as_str()),
            ]);
            Redirect::to(&format!("/areas/{}/add?{q}", area.slug)).into_response()
        }
        Err(e) => match problem_of(e) {
            Ok(problem) => add_page(&page, &slug, data.q, String::new(), Some(problem)).await,
            Err(e) => page.error(e),
        },
    }
}
