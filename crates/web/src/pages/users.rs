//! User management pages (seed 001): the list, Add user, Edit user with staged
//! role changes and the role lookup, and the portal roles guidance; and from the
//! old portal (seed 000 B–D): the expiry date, unlocking, and copying
//! permissions to another user.
//!
//! Staged changes live in the edit page's address (`?add=…&remove=…`), so the
//! whole journey works without JavaScript: the lookup is its own page whose
//! form adds to that address, and only Submit changes anything.

use app::users::{AddUserInput, RoleChange, RoleOffer, UserEdit, UserPatch, UserPermissions};
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::UserId;
use serde::Deserialize;
use store::{UserFilter, UserWithRoles};

use super::forms::{
    DateParts, Errors, encode, end_of_day, error_for, first, last_day, long_date, pairs, summary,
};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/users", get(list))
        .route("/users.csv", get(export))
        .route("/users/add", get(add_form).post(add_submit))
        .route("/users/roles-guidance", get(guidance))
        .route("/users/{id}", get(edit).post(edit_submit))
        .route("/users/{id}/roles/add", get(lookup))
        .route(
            "/users/{id}/details",
            get(details_form).post(details_submit),
        )
        .route("/users/{id}/expiry", get(expiry_form).post(expiry_submit))
        .route("/users/{id}/unlock", axum::routing::post(unlock))
        .route("/users/{id}/copy", get(copy_form).post(copy_submit))
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
                email: u.user.email.clone(),
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
            format!("Showing {from} to {to} of {} users", users.total)
        },
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "pages/users/add.html")]
struct AddPage {
    layout: Layout,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    errors: Errors,
    fields: FieldErrors,
}

impl AddPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn add_form(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // The form is only for those who may send it (a refusal is audited).
    if let Err(e) = page
        .state
        .app
        .may_add_users(actor, None, &page.ctx.meta)
        .await
    {
        return page.error(e);
    }
    page.render(
        StatusCode::OK,
        &AddPage {
            layout: page.layout("Add user"),
            title: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
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

async fn add_submit(form: Form<PersonInput>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let input = AddUserInput {
        title: data.title.clone(),
        first_name: data.first_name.clone(),
        last_name: data.last_name.clone(),
        email: data.email.clone(),
        roles: Vec::new(),
    };
    match page
        .state
        .app
        .request_user(actor, None, &input, &page.ctx.meta)
        .await
    {
        Ok(_) => {
            let name = domain::user::display_name(&data.title, &data.first_name, &data.last_name);
            Redirect::to(&format!("/users?{}", encode(&[("requested", &name)]))).into_response()
        }
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(&page.ctx.meta, Some(actor), "users.add", "invalid form")
                .await;
            page.render(
                StatusCode::BAD_REQUEST,
                &AddPage {
                    layout: page.layout("Error: Add user"),
                    title: data.title,
                    first_name: data.first_name,
                    last_name: data.last_name,
                    email: data.email,
                    errors: summary(&fields),
                    fields,
                },
            )
        }
        Err(e) => page.error(e),
    }
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

/// Changes staged on the edit page, carried in its address.
#[derive(Debug, Clone, Default)]
struct Staged {
    add: Vec<String>,
    remove: Vec<String>,
}

impl Staged {
    fn from(pairs: &[(String, String)]) -> Self {
        let mut s = Staged::default();
        for (k, v) in pairs {
            let list = match k.as_str() {
                "add" => &mut s.add,
                "remove" => &mut s.remove,
                _ => continue,
            };
            if !list.contains(v) {
                list.push(v.clone());
            }
        }
        s
    }

    fn query(&self) -> String {
        let mut p: Vec<(&str, &str)> = self.add.iter().map(|a| ("add", a.as_str())).collect();
        p.extend(self.remove.iter().map(|r| ("remove", r.as_str())));
        encode(&p)
    }

    fn toggled(&self, list: &str, role: &str) -> String {
        let mut s = self.clone();
        let l = if list == "add" {
            &mut s.add
        } else {
            &mut s.remove
        };
        if let Some(i) = l.iter().position(|r| r == role) {
            l.remove(i);
        } else {
            l.push(role.to_owned());
        }
        s.query()
    }

    fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

struct RoleLine {
    id: String,
    name: String,
    description: String,
    /// "", "add" or "remove".
    pending: &'static str,
    /// The edit page address that undoes or stages this line ("" = no control).
    toggle: String,
}

#[derive(Template)]
#[template(path = "pages/users/edit.html")]
struct EditPage {
    layout: Layout,
    id: String,
    name: String,
    email: String,
    status: &'static str,
    last_signed_in: String,
    /// "31 December 2026", or "" for none.
    expiry: String,
    locked: bool,
    unlocked: bool,
    lines: Vec<RoleLine>,
    final_roles: Vec<String>,
    access_enabled: bool,
    may: UserPermissions,
    staged: bool,
    saved: bool,
    problem: String,
    problem_summary: Errors,
    details_href: String,
    add_role_href: String,
    expiry_href: String,
    copy_href: String,
}

async fn load_for_edit(
    page: &Page,
    id: &str,
) -> Result<(UserWithRoles, Vec<RoleOffer>, UserPermissions), AppError> {
    let Some(actor) = page.principal() else {
        return Err(AppError::Unauthenticated);
    };
    let id = id.parse::<UserId>().map_err(|_| AppError::NotFound)?;
    let view = page.state.app.user_view(actor, id, &page.ctx.meta).await?;
    let offers = page.state.app.role_catalogue(actor).await?;
    Ok((view.user, offers, view.may))
}

/// What Edit user says once a change is made (from its address).
#[derive(Debug, Clone, Copy, Default)]
struct Done {
    saved: bool,
    unlocked: bool,
}

fn edit_view(
    page: &Page,
    user: &UserWithRoles,
    offers: &[RoleOffer],
    may: UserPermissions,
    staged: &Staged,
    done: Done,
    problem: String,
) -> EditPage {
    let grantable = |id: &str| may.roles && offers.iter().any(|o| o.role.id() == id && o.grantable);
    let mut lines: Vec<RoleLine> = user
        .roles
        .iter()
        .map(|r| {
            let id = r.role.id();
            let removing = staged.remove.contains(&id);
            RoleLine {
                toggle: if grantable(&id) {
                    staged.toggled("remove", &id)
                } else {
                    String::new()
                },
                pending: if removing { "remove" } else { "" },
                name: r.name(),
                description: r.description(),
                id,
            }
        })
        .collect();
    for a in &staged.add {
        if user.roles.iter().any(|r| &r.role.id() == a) {
            continue;
        }
        if let Some(o) = offers.iter().find(|o| &o.role.id() == a) {
            lines.push(RoleLine {
                id: a.clone(),
                name: o.name.clone(),
                description: o.description.clone(),
                pending: "add",
                toggle: staged.toggled("add", a),
            });
        }
    }
    let final_roles = lines
        .iter()
        .filter(|l| l.pending != "remove")
        .map(|l| l.id.clone())
        .collect();
    let now = page.state.app.clock.now();
    EditPage {
        layout: page.layout(if problem.is_empty() {
            "Edit user"
        } else {
            "Error: Edit user"
        }),
        id: user.user.id.to_string(),
        name: user.user.display_name(),
        email: user.user.email.clone(),
        status: user.user.account_state().status(now).label(),
        last_signed_in: when(user.user.last_signed_in_at),
        expiry: user
            .user
            .expires_at
            .map(|t| long_date(last_day(t)))
            .unwrap_or_default(),
        locked: user.user.account_state().is_locked(now),
        unlocked: done.unlocked,
        lines,
        final_roles,
        access_enabled: user.user.access_enabled,
        may,
        staged: !staged.is_empty(),
        saved: done.saved,
        details_href: format!("/users/{}/details", user.user.id),
        add_role_href: format!("/users/{}/roles/add?{}", user.user.id, staged.query()),
        expiry_href: format!("/users/{}/expiry", user.user.id),
        copy_href: format!("/users/{}/copy", user.user.id),
        problem_summary: if problem.is_empty() {
            Vec::new()
        } else {
            vec![(problem.clone(), "#roles".to_owned())]
        },
        problem,
    }
}

async fn edit(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let (user, offers, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let staged = Staged::from(&q);
    let done = Done {
        saved: first(&q, "saved").is_some(),
        unlocked: first(&q, "unlocked").is_some(),
    };
    let view = edit_view(&page, &user, &offers, may, &staged, done, String::new());
    page.render(StatusCode::OK, &view)
}

/// Submit: the final role set and the access checkbox, applied together.
async fn edit_submit(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let (user, offers, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let wanted: Vec<String> = data
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.clone())
        .collect();
    let access = data
        .iter()
        .any(|(k, v)| k == "access_enabled" && v == "true");
    let current: Vec<String> = user.roles.iter().map(|r| r.role.id()).collect();
    let roles_changed =
        wanted.len() != current.len() || wanted.iter().any(|w| !current.contains(w));
    let meta = &page.ctx.meta;
    let app = &page.state.app;
    // Roles and access are one change: both happen, or neither.
    let result = match app::users::parse_roles(&wanted) {
        Ok(roles) => {
            let edit = UserEdit {
                patch: UserPatch {
                    access_enabled: (access != user.user.access_enabled).then_some(access),
                    ..UserPatch::default()
                },
                roles: roles_changed.then_some(RoleChange::Replace(roles)),
            };
            app.edit_user(actor, user.user.id, edit, "users.set_roles", meta)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    // A refusal shows the page again, with the changes still staged and the reason.
    let again = |status: StatusCode, why: String| {
        let staged = Staged {
            add: wanted
                .iter()
                .filter(|w| !current.contains(w))
                .cloned()
                .collect(),
            remove: current
                .iter()
                .filter(|c| !wanted.contains(c))
                .cloned()
                .collect(),
        };
        page.render(
            status,
            &edit_view(&page, &user, &offers, may, &staged, Done::default(), why),
        )
    };
    match result {
        Ok(()) => Redirect::to(&format!("/users/{}?saved=1", user.user.id)).into_response(),
        Err(AppError::Forbidden(why)) => again(StatusCode::FORBIDDEN, why),
        Err(AppError::Conflict(why)) => again(StatusCode::CONFLICT, why),
        Err(e) => page.error(e),
    }
}

#[derive(Template)]
#[template(path = "pages/users/lookup.html")]
struct LookupPage {
    layout: Layout,
    id: String,
    q: String,
    choices: Vec<(String, String, String)>,
    selected: Vec<(String, String)>,
    add: Vec<String>,
    remove: Vec<String>,
    back: String,
}

async fn lookup(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let (user, offers, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    if !may.roles {
        return page
            .refuse("users.set_roles", "You cannot change this user's roles")
            .await;
    }
    let staged = Staged::from(&q);
    let search = first(&q, "q").unwrap_or_default().to_lowercase();
    let held = |id: &str| {
        user.roles.iter().any(|r| r.role.id() == id) && !staged.remove.iter().any(|r| r == id)
    };
    let choices = offers
        .iter()
        .filter(|o| o.grantable && !held(&o.role.id()) && !staged.add.contains(&o.role.id()))
        .filter(|o| search.is_empty() || o.name.to_lowercase().contains(&search))
        .map(|o| (o.role.id(), o.name.clone(), o.description.clone()))
        .collect();
    let selected = staged
        .add
        .iter()
        .filter_map(|a| offers.iter().find(|o| &o.role.id() == a))
        .map(|o| {
            let without = staged.toggled("add", &o.role.id());
            (
                o.name.clone(),
                format!("/users/{}/roles/add?{without}", user.user.id),
            )
        })
        .collect();
    let view = LookupPage {
        layout: page.layout("Add role"),
        id: user.user.id.to_string(),
        q: first(&q, "q").unwrap_or_default(),
        choices,
        selected,
        add: staged.add.clone(),
        remove: staged.remove.clone(),
        back: format!("/users/{}?{}", user.user.id, staged.query()),
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "pages/users/details.html")]
struct DetailsPage {
    layout: Layout,
    id: String,
    back: String,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    errors: Errors,
    fields: FieldErrors,
}

impl DetailsPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn details_form(page: Page, Path(id): Path<String>) -> Response {
    let (user, _, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    if !may.details {
        return page
            .refuse("users.update", "You cannot change this user's details")
            .await;
    }
    page.render(
        StatusCode::OK,
        &DetailsPage {
            layout: page.layout("Change user details"),
            back: format!("/users/{}", user.user.id),
            id: user.user.id.to_string(),
            title: user.user.title.clone(),
            first_name: user.user.first_name.clone(),
            last_name: user.user.last_name.clone(),
            email: user.user.email.clone(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

async fn details_submit(Path(id): Path<String>, form: Form<PersonInput>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let Ok(user_id) = id.parse::<UserId>() else {
        return page.error(AppError::NotFound);
    };
    let patch = UserPatch {
        title: Some(data.title.clone()),
        first_name: Some(data.first_name.clone()),
        last_name: Some(data.last_name.clone()),
        email: Some(data.email.clone()),
        ..UserPatch::default()
    };
    let fields = match page
        .state
        .app
        .update_user(actor, user_id, &patch, &page.ctx.meta)
        .await
    {
        Ok(_) => return Redirect::to(&format!("/users/{user_id}?saved=1")).into_response(),
        Err(AppError::Invalid(fields)) => fields,
        Err(AppError::Conflict(why)) => {
            let mut f = FieldErrors::new();
            f.insert("email", why);
            f
        }
        Err(e) => return page.error(e),
    };
    page.state
        .app
        .record_refusal(&page.ctx.meta, Some(actor), "users.update", "invalid form")
        .await;
    page.render(
        StatusCode::BAD_REQUEST,
        &DetailsPage {
            layout: page.layout("Error: Change user details"),
            back: format!("/users/{id}"),
            id,
            title: data.title,
            first_name: data.first_name,
            last_name: data.last_name,
            email: data.email,
            errors: summary(&fields),
            fields,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/users/expiry.html")]
struct ExpiryPage {
    layout: Layout,
    id: String,
    name: String,
    /// Whether the account has an expiry date now (offers "Remove").
    has_expiry: bool,
    date: DateParts,
    error: String,
    errors: Errors,
}

/// The expiry page, with a problem to show or none.
fn expiry_view(
    page: &Page,
    user: &UserWithRoles,
    date: DateParts,
    problem: Option<String>,
) -> ExpiryPage {
    let error = problem.unwrap_or_default();
    ExpiryPage {
        layout: page.layout(if error.is_empty() {
            "Expiry date"
        } else {
            "Error: Expiry date"
        }),
        id: user.user.id.to_string(),
        name: user.user.display_name(),
        has_expiry: user.user.expires_at.is_some(),
        date,
        errors: if error.is_empty() {
            Vec::new()
        } else {
            vec![(error.clone(), "#expires_at-day".to_owned())]
        },
        error,
    }
}

/// Seed 000 B3, B4, B6: set, change or remove the date after which the account
/// cannot be used.
async fn expiry_form(page: Page, Path(id): Path<String>) -> Response {
    let (user, _, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    if !may.expiry {
        return page
            .refuse("users.update", "You cannot change this user's expiry date")
            .await;
    }
    let date = user
        .user
        .expires_at
        .map(|t| DateParts::of(last_day(t)))
        .unwrap_or_default();
    page.render(StatusCode::OK, &expiry_view(&page, &user, date, None))
}

async fn expiry_submit(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let (user, _, _) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let date = DateParts::from_form(&data, "expires_at");
    let expires_at = if first(&data, "remove").is_some() {
        None
    } else {
        match date.parse("Expiry date") {
            Ok(d) => Some(end_of_day(d)),
            Err(why) => {
                page.state
                    .app
                    .record_refusal(&page.ctx.meta, Some(actor), "users.update", "invalid form")
                    .await;
                return page.render(
                    StatusCode::BAD_REQUEST,
                    &expiry_view(&page, &user, date, Some(why)),
                );
            }
        }
    };
    let patch = UserPatch {
        expires_at: Some(expires_at),
        ..UserPatch::default()
    };
    // Refusals (rule 4: the last Portal Administrator) are audited by the use case.
    let (status, why) = match page
        .state
        .app
        .update_user(actor, user.user.id, &patch, &page.ctx.meta)
        .await
    {
        Ok(_) => return Redirect::to(&format!("/users/{}?saved=1", user.user.id)).into_response(),
        Err(AppError::Forbidden(why)) => (StatusCode::FORBIDDEN, why),
        Err(AppError::Conflict(why)) => (StatusCode::CONFLICT, why),
        Err(e) => return page.error(e),
    };
    page.render(status, &expiry_view(&page, &user, date, Some(why)))
}

/// Seed 000 B3–B4: unlock an account locked by wrong passwords (or codes).
async fn unlock(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let page = form.page;
    let (user, offers, may) = match load_for_edit(&page, &id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let patch = UserPatch {
        locked: Some(false),
        ..UserPatch::default()
    };
    let (status, why) = match page
        .state
        .app
        .update_user(actor, user.user.id, &patch, &page.ctx.meta)
        .await
    {
        Ok(_) => {
            return Redirect::to(&format!("/users/{}?unlocked=1", user.user.id)).into_response();
        }
        Err(AppError::Forbidden(why)) => (StatusCode::FORBIDDEN, why),
        Err(AppError::Conflict(why)) => (StatusCode::CONFLICT, why),
        Err(e) => return page.error(e),
    };
    let view = edit_view(
        &page,
        &user,
        &offers,
        may,
        &Staged::default(),
        Done::default(),
        why,
    );
    page.render(status, &view)
}

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
    id: &str,
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
                email: u.user.email.clone(),
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

async fn copy_form(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = first(&pairs(raw), "q").unwrap_or_default();
    copy_page(&page, &id, q, None).await
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
async fn copy_submit(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = first(&data, "q").unwrap_or_default();
    let (Ok(from), Ok(to)) = (
        id.parse::<UserId>(),
        first(&data, "to").unwrap_or_default().parse::<UserId>(),
    ) else {
        return page.error(AppError::NotFound);
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
    copy_page(&page, &id, q, Some(problem)).await
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet (cells
/// starting with `=`, `+`, `-`, `@`, tab or carriage return get a leading `'`).
fn csv_cell(value: &str) -> String {
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
                u.user.email.clone(),
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
