//! Edit user (seed 001) and the pages it leads to: the role lookup and the
//! user's details; and from the old portal (seed 000 B): the expiry date and
//! unlocking. Role changes are staged in the page's address
//! ([`super::staged`]); only Submit changes anything.

use app::records::UserWithRoles;
use app::users::{RoleChange, RoleOffer, UserEdit, UserPatch, UserPermissions};
use app::{AppError, FieldErrors};
use askama::Template;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::UserId;

use super::staged::{Staged, staged_href};
use super::{PersonInput, when};
use crate::layout::Layout;
use crate::page::Page;
use crate::pages::forms::{
    DateParts, Errors, PERSON_FIELDS, end_of_day, error_for, first, last_day, long_date, pairs,
    summary_in,
};
use crate::path_id::{IdForm, PathId};

struct RoleLine {
    id: String,
    name: String,
    description: String,
    /// "", "add" or "remove".
    pending: &'static str,
    /// The edit page address that undoes or stages this line ("" = no
    /// control): Edit user with this one change toggled, the others kept.
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
    /// Their invitation was just sent again (issue 15).
    resent: bool,
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
    /// Sign out everywhere and the user's API tokens (issue 13).
    sessions: crate::pages::sessions::UserSessions,
}

pub(super) async fn load_for_edit(
    page: &Page,
    id: UserId,
) -> Result<(UserWithRoles, Vec<RoleOffer>, UserPermissions), AppError> {
    let Some(actor) = page.principal() else {
        return Err(AppError::Unauthenticated);
    };
    let view = page.state.app.user_view(actor, id, &page.ctx.meta).await?;
    let offers = page.state.app.role_catalogue(actor).await?;
    Ok((view.user, offers, view.may))
}

/// What Edit user says once a change is made (from its address).
#[derive(Debug, Clone, Copy, Default)]
struct Done {
    saved: bool,
    unlocked: bool,
    resent: bool,
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
    let edit_href = |query: String| staged_href(&format!("/users/{}", user.user.id), &query);
    let mut lines: Vec<RoleLine> = user
        .roles
        .iter()
        .map(|r| {
            let id = r.role.id();
            let removing = staged.remove.contains(&id);
            RoleLine {
                toggle: if grantable(&id) {
                    edit_href(staged.toggled("remove", &id))
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
                toggle: edit_href(staged.toggled("add", a)),
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
        email: user.user.email.to_string(),
        status: user.user.account_state().status(now).label(),
        last_signed_in: when(user.user.last_signed_in_at),
        expiry: user
            .user
            .expires_at
            .map(|t| long_date(last_day(t)))
            .unwrap_or_default(),
        locked: user.user.account_state().is_locked(now),
        unlocked: done.unlocked,
        resent: done.resent,
        lines,
        final_roles,
        access_enabled: user.user.access_enabled,
        may,
        staged: !staged.is_empty(),
        saved: done.saved,
        details_href: format!("/users/{}/details", user.user.id),
        add_role_href: staged_href(
            &format!("/users/{}/roles/add", user.user.id),
            &staged.query(),
        ),
        expiry_href: format!("/users/{}/expiry", user.user.id),
        copy_href: format!("/users/{}/copy", user.user.id),
        sessions: Default::default(),
        problem_summary: if problem.is_empty() {
            Vec::new()
        } else {
            vec![(problem.clone(), "#roles".to_owned())]
        },
        problem,
    }
}

pub(super) async fn edit(
    page: Page,
    PathId(id): PathId<UserId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = pairs(raw);
    let (user, offers, may) = match load_for_edit(&page, id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    let staged = Staged::from(&q);
    let done = Done {
        saved: first(&q, "saved").is_some(),
        unlocked: first(&q, "unlocked").is_some(),
        resent: first(&q, "resent").is_some(),
    };
    let may_access = may.access;
    let mut view = edit_view(&page, &user, &offers, may, &staged, done, String::new());
    view.sessions =
        match crate::pages::sessions::user_sessions(&page, user.user.id, may_access, &q).await {
            Ok(s) => s,
            Err(e) => return page.error(e),
        };
    page.render(StatusCode::OK, &view)
}

/// Submit: the final role set and the access checkbox, applied together.
pub(super) async fn edit_submit(
    IdForm { id, page, data }: IdForm<UserId, Vec<(String, String)>>,
) -> Response {
    let (user, offers, may) = match load_for_edit(&page, id).await {
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

/// A role the lookup offers (seed 001 "Lookup records").
struct Choice {
    id: String,
    name: String,
    description: String,
    /// Selected already (ticked before a search, or staged before).
    checked: bool,
}

#[derive(Template)]
#[template(path = "pages/users/lookup.html")]
struct LookupPage {
    layout: Layout,
    id: String,
    q: String,
    /// The roles matching the search, ticked when selected.
    choices: Vec<Choice>,
    /// Every selected role: (id, name), each with its × to take it out.
    selected: Vec<(String, String)>,
    /// Selected roles the search hides, carried as hidden fields: (id, name).
    carried: Vec<(String, String)>,
    remove: Vec<String>,
    /// What was staged when the lookup opened: where Cancel goes back to.
    was: Vec<String>,
    back: String,
}

/// The role lookup (seed 001): a search, the roles to tick, the "Selected
/// records" with a × for each, Add and Cancel. Without JavaScript it is its
/// own page, and everything in it is one GET form to this address, so a
/// search (or a ×) keeps what is ticked: the ticks come back as selected.
/// Add (`done`) goes back to Edit user with them staged; Cancel to Edit user
/// as it was when the lookup opened (`was`). Nothing is changed here.
pub(super) async fn lookup(
    page: Page,
    PathId(id): PathId<UserId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = pairs(raw);
    let (user, offers, may) = match load_for_edit(&page, id).await {
        Ok(x) => x,
        Err(e) => return page.error(e),
    };
    if !may.roles {
        return page
            .refuse("users.set_roles", "You cannot change this user's roles")
            .await;
    }
    let staged = Staged::from(&q);
    let all = |key: &str| -> Vec<String> {
        q.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let dropped = all("drop");
    // The lookup's own form says what was staged when it opened; opened
    // from Edit user, that is what is staged now.
    let was = if first(&q, "lookup").is_some() {
        all("was")
    } else {
        staged.add.clone()
    };
    let held = |id: &str| {
        user.roles.iter().any(|r| r.role.id() == id) && !staged.remove.iter().any(|r| r == id)
    };
    let selected: Vec<&RoleOffer> = staged
        .add
        .iter()
        .filter(|a| !dropped.contains(a) && !held(a))
        .filter_map(|a| offers.iter().find(|o| o.grantable && &o.role.id() == a))
        .collect();
    let now = Staged {
        add: selected.iter().map(|o| o.role.id()).collect(),
        remove: staged.remove.clone(),
    };
    let edit_path = format!("/users/{}", user.user.id);
    if first(&q, "done").is_some() {
        return Redirect::to(&staged_href(&edit_path, &now.query())).into_response();
    }
    let search = first(&q, "q").unwrap_or_default();
    let wanted = search.trim().to_lowercase();
    let matches = |o: &RoleOffer| wanted.is_empty() || o.name.to_lowercase().contains(&wanted);
    let choices = offers
        .iter()
        .filter(|o| o.grantable && !held(&o.role.id()) && matches(o))
        .map(|o| Choice {
            id: o.role.id(),
            name: o.name.clone(),
            description: o.description.clone(),
            checked: now.add.contains(&o.role.id()),
        })
        .collect();
    let before = Staged {
        add: was.clone(),
        remove: staged.remove.clone(),
    };
    let view = LookupPage {
        layout: page.layout("Add role"),
        id: user.user.id.to_string(),
        q: search,
        choices,
        carried: selected
            .iter()
            .filter(|o| !matches(o))
            .map(|o| (o.role.id(), o.name.clone()))
            .collect(),
        selected: selected
            .iter()
            .map(|o| (o.role.id(), o.name.clone()))
            .collect(),
        remove: staged.remove.clone(),
        was,
        back: staged_href(&edit_path, &before.query()),
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

pub(super) async fn details_form(page: Page, PathId(id): PathId<UserId>) -> Response {
    let (user, _, may) = match load_for_edit(&page, id).await {
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
            email: user.user.email.to_string(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

pub(super) async fn details_submit(
    IdForm { id, page, data }: IdForm<UserId, PersonInput>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let user_id = id;
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
            id: id.to_string(),
            title: data.title,
            first_name: data.first_name,
            last_name: data.last_name,
            email: data.email,
            errors: summary_in(&fields, PERSON_FIELDS),
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
pub(super) async fn expiry_form(page: Page, PathId(id): PathId<UserId>) -> Response {
    let (user, _, may) = match load_for_edit(&page, id).await {
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

pub(super) async fn expiry_submit(
    IdForm { id, page, data }: IdForm<UserId, Vec<(String, String)>>,
) -> Response {
    let (user, _, _) = match load_for_edit(&page, id).await {
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
pub(super) async fn unlock(
    IdForm { id, page, .. }: IdForm<UserId, Vec<(String, String)>>,
) -> Response {
    let (user, offers, may) = match load_for_edit(&page, id).await {
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
