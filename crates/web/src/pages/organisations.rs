//! The regulator's organisation pages (PRODUCT §5): list, create and change
//! providers (and their accountable officer), see a provider's users, invite
//! its first Portal Administrator, and resend an invitation to someone who has
//! never signed in (also offered to a provider's administrators on Edit user).

use app::admin::{OrganisationChange, OrganisationInput};
use app::records::{OrganisationRecord, UserFilter};
use app::users::AddUserInput;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::{OrgId, UserId};
use serde::Deserialize;

use super::forms::{Errors, PERSON_FIELDS, encode, error_for, first, pairs, summary_in};
use super::pagination::{self, Pagination};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::path_id::{IdForm, PathId, parse_id};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/organisations", get(list))
        .route("/organisations/add", get(add_form).post(add_submit))
        .route("/organisations/{id}", get(show).post(invite))
        .route("/organisations/{id}/edit", get(edit_form).post(edit_submit))
        .route(
            "/organisations/{id}/resend-invitation",
            axum::routing::post(resend_from_organisation),
        )
        .route(
            "/users/{id}/resend-invitation",
            axum::routing::post(resend_from_user),
        )
}

#[derive(Template)]
#[template(path = "pages/organisations/list.html")]
struct ListPage {
    layout: Layout,
    organisations: Vec<OrganisationRecord>,
    pages: Pagination,
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let number = first(&pairs(raw), "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    const PER_PAGE: i64 = 50;
    let link = |n: i64| {
        if n == 1 {
            "/organisations".to_owned()
        } else {
            format!("/organisations?page={n}")
        }
    };
    match page
        .state
        .app
        .list_organisations(actor, number, PER_PAGE, &page.ctx.meta)
        .await
    {
        Ok((organisations, total)) => {
            let last = pagination::last_page(total, PER_PAGE);
            if number > last {
                return Redirect::to(&link(last)).into_response();
            }
            page.render(
                StatusCode::OK,
                &ListPage {
                    layout: page.layout(if last > 1 {
                        format!("Organisations (page {number} of {last})")
                    } else {
                        "Organisations".to_owned()
                    }),
                    organisations,
                    pages: Pagination::new(number, last, link),
                },
            )
        }
        Err(e) => page.error(e),
    }
}

#[derive(Template)]
#[template(path = "pages/organisations/add.html")]
struct AddPage {
    layout: Layout,
    org_name: String,
    ukprn: String,
    officer_name: String,
    officer_email: String,
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
    if !actor.may_manage_organisations() {
        return page
            .refuse("organisations.create", domain::authz::NOT_REGULATOR_ADMIN)
            .await;
    }
    page.render(
        StatusCode::OK,
        &AddPage {
            layout: page.layout("Add a provider"),
            org_name: String::new(),
            ukprn: String::new(),
            officer_name: String::new(),
            officer_email: String::new(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

#[derive(Deserialize)]
struct OrganisationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    ukprn: String,
    #[serde(default)]
    accountable_officer_name: String,
    #[serde(default)]
    accountable_officer_email: String,
}

async fn add_submit(form: Form<OrganisationForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let input = OrganisationInput {
        name: data.name.clone(),
        kind: "provider".into(),
        ukprn: Some(data.ukprn.clone()),
        accountable_officer_name: Some(data.accountable_officer_name.clone()),
        accountable_officer_email: Some(data.accountable_officer_email.clone()),
    };
    let fields = match page
        .state
        .app
        .add_organisation(actor, &input, &page.ctx.meta)
        .await
    {
        Ok(id) => return Redirect::to(&format!("/organisations/{id}?added=1")).into_response(),
        Err(AppError::Invalid(fields)) => fields,
        Err(AppError::Conflict(why)) => {
            let mut f = FieldErrors::new();
            f.insert("ukprn", why);
            f
        }
        Err(e) => return page.error(e),
    };
    page.state
        .app
        .record_refusal(
            &page.ctx.meta,
            Some(actor),
            "organisations.create",
            "invalid form",
        )
        .await;
    page.render(
        StatusCode::BAD_REQUEST,
        &AddPage {
            layout: page.layout("Error: Add a provider"),
            org_name: data.name,
            ukprn: data.ukprn,
            officer_name: data.accountable_officer_name,
            officer_email: data.accountable_officer_email,
            errors: summary_in(&fields, ORGANISATION_FIELDS),
            fields,
        },
    )
}

struct Member {
    id: String,
    name: String,
    email: String,
    roles: String,
    status: &'static str,
    /// "Resend invitation" is offered (the decision the action uses).
    resend: bool,
    /// Why not, for someone who has never signed in (disabled, expired, locked).
    resend_why: &'static str,
}

#[derive(Template)]
#[template(path = "pages/organisations/show.html")]
struct ShowPage {
    layout: Layout,
    organisation: OrganisationRecord,
    members: Vec<Member>,
    total: i64,
    /// The search of its users, "Showing 1 to 25 of 31 users", and the pages.
    q: String,
    showing: String,
    members_pages: Pagination,
    invited: String,
    /// Just added: a success banner.
    added: bool,
    /// Its details were just changed: a success banner.
    changed: bool,
    /// Whose invitation was just sent again: a success banner.
    resent: String,
    /// May the actor change the provider's details (the Change links)?
    may_edit: bool,
    roles: Vec<(String, String)>,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    role: String,
    errors: Errors,
    fields: FieldErrors,
}

impl ShowPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }

    /// The Change form, at `field`.
    fn change_href(&self, field: &str) -> String {
        format!("/organisations/{}/edit#{field}", self.organisation.id)
    }

    fn officer_name(&self) -> String {
        (self.organisation.accountable_officer_name.clone())
            .unwrap_or_else(|| NOT_RECORDED.to_owned())
    }

    fn officer_email(&self) -> String {
        (self.organisation.accountable_officer_email.as_ref())
            .map_or_else(|| NOT_RECORDED.to_owned(), ToString::to_string)
    }
}

/// An accountable officer's detail the regulator does not have.
const NOT_RECORDED: &str = "Not recorded";

/// What the organisation page says at its top: banners after a change, or
/// a refused resend (its message, the row it is about, the answer's status).
#[derive(Default)]
struct Notices {
    invited: String,
    added: bool,
    changed: bool,
    resent: String,
    problem: Option<(String, String, StatusCode)>,
    /// Which of its users to list (the search box and page number).
    list: MemberSearch,
}

/// The organisation page's user list: a search (by name or email, as User
/// management's) and a page number.
#[derive(Default)]
struct MemberSearch {
    q: String,
    page: i64,
}

async fn show_page(
    page: &Page,
    org_id: OrgId,
    mut notices: Notices,
    form: Option<(InviteForm, FieldErrors)>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    // The page of its users asked for, searched; past the last page, the last.
    let list = std::mem::take(&mut notices.list);
    let filter = UserFilter {
        q: Some(list.q.clone()),
        ..UserFilter::default()
    };
    let mut users = match app
        .list_users(
            actor,
            Some(org_id),
            filter.clone(),
            list.page,
            &page.ctx.meta,
        )
        .await
    {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
    let last = pagination::last_page(users.total, users.per_page);
    if users.page > last {
        users = match app
            .list_users(actor, Some(org_id), filter, last, &page.ctx.meta)
            .await
        {
            Ok(u) => u,
            Err(e) => return page.error(e),
        };
    }
    let members_link = |n: i64| {
        let n = n.to_string();
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !list.q.is_empty() {
            pairs.push(("q", list.q.as_str()));
        }
        if n != "1" {
            pairs.push(("page", n.as_str()));
        }
        if pairs.is_empty() {
            format!("/organisations/{org_id}#users")
        } else {
            format!("/organisations/{org_id}?{}#users", encode(&pairs))
        }
    };
    let members_pages = Pagination::new(users.page, last, members_link);
    let organisation = match app.organisation(org_id).await {
        Ok(Some(o)) => o,
        Ok(None) => return page.error(AppError::NotFound),
        Err(e) => return page.error(e),
    };
    // Only the roles the regulator may give: a sensitive area's role comes
    // with an access key, never from this form.
    let roles = match app.roles_for(actor, org_id).await {
        Ok(offers) => offers
            .into_iter()
            .filter(|o| o.grantable)
            .map(|o| (o.role.id(), o.name))
            .collect(),
        Err(e) => return page.error(e),
    };
    let now = app.clock.now();
    // Whether the accountable officer has an account: looked for by their
    // address, whichever page of users (or search) is shown.
    let officer_has_account = match &organisation.accountable_officer_email {
        Some(email) => {
            let filter = UserFilter {
                q: Some(email.to_string()),
                ..UserFilter::default()
            };
            match app
                .list_users(actor, Some(org_id), filter, 1, &page.ctx.meta)
                .await
            {
                Ok(found) => found
                    .items
                    .iter()
                    .any(|u| u.user.email.normalised() == email.normalised()),
                Err(e) => return page.error(e),
            }
        }
        None => false,
    };
    // Until the accountable officer has an account, the invitation is for
    // them: the form comes filled in with what the provider was added with.
    let form = form.or_else(|| {
        let email = organisation.accountable_officer_email.as_ref()?;
        let invited = officer_has_account;
        (!invited).then(|| {
            let name = organisation
                .accountable_officer_name
                .as_deref()
                .unwrap_or_default();
            let (title, first_name, last_name) = split_name(name);
            let form = InviteForm {
                title,
                first_name,
                last_name,
                email: email.to_string(),
                role: String::new(),
            };
            (form, FieldErrors::new())
        })
    });
    let (form, fields) = form.unwrap_or_default();
    let Notices {
        invited,
        added,
        changed,
        resent,
        problem,
        list: _,
    } = notices;
    let mut errors = summary_in(&fields, PERSON_FIELDS);
    let mut status = if fields.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    if let Some((message, row, refused)) = problem {
        // A link to the person's row only when this page of users shows it.
        let shown = users.items.iter().any(|u| u.user.id.to_string() == row);
        let href = if shown {
            format!("#member-{row}")
        } else {
            String::new()
        };
        errors.insert(0, (message, href));
        status = refused;
    }
    let may_edit = app::permit::may_edit_organisation(actor, organisation.kind);
    let view = ShowPage {
        layout: page.layout(if errors.is_empty() {
            organisation.name.clone()
        } else {
            format!("Error: {}", organisation.name)
        }),
        members: users
            .items
            .iter()
            .map(|u| {
                // "Resend invitation" from the decision the action uses; why
                // not, for someone it would otherwise be for.
                let refusal = app.resend_refusal(actor, u, organisation.kind);
                Member {
                    id: u.user.id.to_string(),
                    name: u.user.display_name(),
                    email: u.user.email.to_string(),
                    roles: u
                        .roles
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    status: u.user.account_state().status(now).label(),
                    resend: refusal.is_none(),
                    resend_why: refusal
                        .filter(|_| u.user.last_signed_in_at.is_none())
                        .unwrap_or_default(),
                }
            })
            .collect(),
        total: users.total,
        q: list.q.clone(),
        members_pages,
        showing: pagination::showing(
            users.page,
            users.per_page,
            users.items.len(),
            users.total,
            ("user", "users"),
        ),
        organisation,
        invited,
        added,
        changed,
        resent,
        may_edit,
        roles,
        title: form.title,
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        role: if form.role.is_empty() {
            "portal-admin".into()
        } else {
            form.role
        },
        errors,
        fields,
    };
    page.render(status, &view)
}

/// The name of the person whose invitation was resent (`?resent=<user id>`),
/// for the banner: only someone of this organisation whom the actor may see
/// and resend to from this page; otherwise no banner.
async fn resent_name(page: &Page, org: OrgId, id: Option<String>) -> String {
    let (Some(actor), Some(id)) = (page.principal(), id.and_then(|v| v.parse::<UserId>().ok()))
    else {
        return String::new();
    };
    if !actor.may_manage_organisations() {
        return String::new();
    }
    match page.state.app.view_user(actor, id, &page.ctx.meta).await {
        Ok(u) if u.user.organisation_id == org => u.user.display_name(),
        _ => String::new(),
    }
}

async fn show(page: Page, PathId(id): PathId<OrgId>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let resent = resent_name(&page, id, first(&q, "resent")).await;
    let notices = Notices {
        invited: first(&q, "invited").unwrap_or_default(),
        added: first(&q, "added").is_some(),
        changed: first(&q, "changed").is_some(),
        resent,
        problem: None,
        list: MemberSearch {
            q: first(&q, "q").unwrap_or_default(),
            page: first(&q, "page")
                .and_then(|p| p.parse::<i64>().ok())
                .unwrap_or(1)
                .clamp(1, 1_000_000),
        },
    };
    show_page(&page, id, notices, None).await
}

/// An accountable officer's name as given ("Professor Jane Smith") split for
/// the invite form: a leading title the form knows, the last word as the last
/// name, the rest as the first name.
fn split_name(name: &str) -> (String, String, String) {
    const TITLES: &[&str] = &[
        "Dr",
        "Dr.",
        "Prof",
        "Prof.",
        "Professor",
        "Mr",
        "Mrs",
        "Ms",
        "Miss",
        "Mx",
        "Sir",
        "Dame",
        "Lord",
        "Lady",
    ];
    let mut words: Vec<&str> = name.split_whitespace().collect();
    let title = match words.first() {
        Some(w) if words.len() > 2 && TITLES.iter().any(|t| t.eq_ignore_ascii_case(w)) => {
            words.remove(0).to_owned()
        }
        _ => String::new(),
    };
    let last = words.pop().unwrap_or_default().to_owned();
    (title, words.join(" "), last)
}

#[derive(Deserialize, Default)]
struct InviteForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    IdForm {
        id: org_id,
        page,
        data,
    }: IdForm<OrgId, InviteForm>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let input = AddUserInput {
        title: data.title.clone(),
        first_name: data.first_name.clone(),
        last_name: data.last_name.clone(),
        email: data.email.clone(),
        roles: vec![data.role.clone()],
    };
    match page
        .state
        .app
        .request_user(actor, Some(org_id), &input, &page.ctx.meta)
        .await
    {
        Ok(_) => {
            let name = domain::user::display_name(&data.title, &data.first_name, &data.last_name);
            let q = encode(&[("invited", name.as_str())]);
            Redirect::to(&format!("/organisations/{org_id}?{q}")).into_response()
        }
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(&page.ctx.meta, Some(actor), "users.add", "invalid form")
                .await;
            show_page(&page, org_id, Notices::default(), Some((data, fields))).await
        }
        Err(e) => page.error(e),
    }
}

// Changing a provider (issue 15) ------------------------------------------------

/// The fields of a provider's details, in the order the forms show them.
const ORGANISATION_FIELDS: &[&str] = &[
    "name",
    "ukprn",
    "accountable_officer_name",
    "accountable_officer_email",
];

#[derive(Template)]
#[template(path = "pages/organisations/edit.html")]
struct EditPage {
    layout: Layout,
    id: String,
    back_href: String,
    /// The provider's name as it is now (the heading and back link).
    current_name: String,
    org_name: String,
    ukprn: String,
    officer_name: String,
    officer_email: String,
    errors: Errors,
    fields: FieldErrors,
}

impl EditPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn edit_form(page: Page, PathId(id): PathId<OrgId>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let org = match page
        .state
        .app
        .organisation_to_edit(actor, id, &page.ctx.meta)
        .await
    {
        Ok(org) => org,
        Err(e) => return page.error(e),
    };
    page.render(
        StatusCode::OK,
        &EditPage {
            layout: page.layout(format!("Change {}", org.name)),
            id: org.id.to_string(),
            back_href: format!("/organisations/{}", org.id),
            org_name: org.name.clone(),
            ukprn: org.ukprn.map(|u| u.to_string()).unwrap_or_default(),
            officer_name: org.accountable_officer_name.unwrap_or_default(),
            officer_email: org
                .accountable_officer_email
                .map(|e| e.to_string())
                .unwrap_or_default(),
            current_name: org.name,
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

async fn edit_submit(
    IdForm {
        id: org_id,
        page,
        data,
    }: IdForm<OrgId, OrganisationForm>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let input = OrganisationInput {
        name: data.name.clone(),
        kind: String::new(),
        ukprn: Some(data.ukprn.clone()),
        accountable_officer_name: Some(data.accountable_officer_name.clone()),
        accountable_officer_email: Some(data.accountable_officer_email.clone()),
    };
    let fields = match app
        .edit_organisation(
            actor,
            org_id,
            &OrganisationChange::all(&input),
            &page.ctx.meta,
        )
        .await
    {
        Ok(_) => {
            return Redirect::to(&format!("/organisations/{org_id}?changed=1")).into_response();
        }
        Err(AppError::Invalid(fields)) => fields,
        Err(AppError::Conflict(why)) => {
            let mut f = FieldErrors::new();
            f.insert("ukprn", why);
            f
        }
        Err(e) => return page.error(e),
    };
    app.record_refusal(
        &page.ctx.meta,
        Some(actor),
        "organisations.update",
        "invalid form",
    )
    .await;
    // The heading keeps the name the provider has now, not what was typed.
    let current_name = match app.organisation(org_id).await {
        Ok(Some(o)) => o.name,
        Ok(None) => return page.error(AppError::NotFound),
        Err(e) => return page.error(e),
    };
    page.render(
        StatusCode::BAD_REQUEST,
        &EditPage {
            layout: page.layout(format!("Error: Change {current_name}")),
            id: org_id.to_string(),
            back_href: format!("/organisations/{org_id}"),
            current_name,
            org_name: data.name,
            ukprn: data.ukprn,
            officer_name: data.accountable_officer_name,
            officer_email: data.accountable_officer_email,
            errors: summary_in(&fields, ORGANISATION_FIELDS),
            fields,
        },
    )
}

// Resending an invitation (issue 15) ---------------------------------------------

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    user_id: String,
}

/// What a refused resend says, for the page to show beside the person.
fn resend_problem(app: &app::App, e: &AppError) -> Option<(String, StatusCode)> {
    match e {
        AppError::Forbidden(why) => Some((why.clone(), StatusCode::FORBIDDEN)),
        AppError::RateLimited { retry_after_secs } => {
            let again = app.clock.now()
                + time::Duration::seconds(i64::try_from(*retry_after_secs).unwrap_or(i64::MAX / 2));
            Some((
                format!(
                    "An invitation can be sent again {} times in 24 hours. You can send this one again from {}",
                    app.resends_per_day(),
                    domain::uk_time::moment(again)
                ),
                StatusCode::TOO_MANY_REQUESTS,
            ))
        }
        _ => None,
    }
}

/// "Resend invitation" on a provider's page (regulator administrators).
async fn resend_from_organisation(
    IdForm {
        id: org_id,
        page,
        data,
    }: IdForm<OrgId, ResendForm>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let user_id = match parse_id::<UserId>(
        app,
        &page.ctx.meta,
        Some(actor),
        &data.user_id,
        "user_id",
    )
    .await
    {
        Ok(id) => id,
        Err(e) => return page.error(e),
    };
    match app.resend_invitation(actor, user_id, &page.ctx.meta).await {
        // The person by id: the page says their name from the record, so a
        // link cannot put words of its own in the banner.
        Ok(user) => Redirect::to(&format!(
            "/organisations/{}?resent={}",
            user.organisation_id, user.id
        ))
        .into_response(),
        // Said on the page it came from, to those who may see that page.
        Err(e) => match resend_problem(app, &e).filter(|_| actor.may_manage_organisations()) {
            Some((message, status)) => {
                let notices = Notices {
                    problem: Some((message, user_id.to_string(), status)),
                    ..Notices::default()
                };
                show_page(&page, org_id, notices, None).await
            }
            None => page.error(e),
        },
    }
}

/// "Resend invitation" on Edit user (a provider's administrators, and the
/// regulator's): back to that page, which says it was sent.
async fn resend_from_user(IdForm { id, page, .. }: IdForm<UserId, ResendForm>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    match app.resend_invitation(actor, id, &page.ctx.meta).await {
        Ok(_) => Redirect::to(&format!("/users/{id}?resent=1")).into_response(),
        // The daily limit is said in words rather than seconds to wait.
        Err(e @ AppError::RateLimited { .. }) => match resend_problem(app, &e) {
            Some((message, status)) => {
                let mut resp = crate::error::PageError::refused(
                    status,
                    "You cannot resend this invitation yet",
                    &message,
                    &page.ctx.meta,
                )
                .into_response();
                page.finish(&mut resp);
                resp
            }
            None => page.error(e),
        },
        Err(e) => page.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn an_officers_name_is_split_for_the_invite_form() {
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            split_name("Professor Jane Smith"),
            s("Professor", "Jane", "Smith")
        );
        assert_eq!(split_name("Jane Anne Smith"), s("", "Jane Anne", "Smith"));
        assert_eq!(split_name("  Jane   Smith "), s("", "Jane", "Smith"));
        assert_eq!(split_name("Dr Smith"), s("", "Dr", "Smith"));
        assert_eq!(split_name("Smith"), s("", "", "Smith"));
        assert_eq!(split_name(""), s("", "", ""));
    }
}
