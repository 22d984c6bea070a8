//! The regulator's organisation pages (PRODUCT §5): list and create providers,
//! see a provider's users, and invite its first Portal Administrator.

use app::admin::OrganisationInput;
use app::records::{OrganisationRecord, UserFilter};
use app::users::AddUserInput;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::OrgId;
use serde::Deserialize;

use super::forms::{Errors, PERSON_FIELDS, encode, error_for, first, pairs, summary_in};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::path_id::{IdForm, PathId};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/organisations", get(list))
        .route("/organisations/add", get(add_form).post(add_submit))
        .route("/organisations/{id}", get(show).post(invite))
}

#[derive(Template)]
#[template(path = "pages/organisations/list.html")]
struct ListPage {
    layout: Layout,
    organisations: Vec<OrganisationRecord>,
    next: String,
    previous: String,
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let number = first(&pairs(raw), "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    const PER_PAGE: i64 = 50;
    match page
        .state
        .app
        .list_organisations(actor, number, PER_PAGE, &page.ctx.meta)
        .await
    {
        Ok((organisations, total)) => page.render(
            StatusCode::OK,
            &ListPage {
                layout: page.layout("Organisations"),
                organisations,
                previous: if number > 1 {
                    format!("/organisations?page={}", number - 1)
                } else {
                    String::new()
                },
                next: if number * PER_PAGE < total {
                    format!("/organisations?page={}", number + 1)
                } else {
                    String::new()
                },
            },
        ),
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
            errors: summary_in(
                &fields,
                &[
                    "name",
                    "ukprn",
                    "accountable_officer_name",
                    "accountable_officer_email",
                ],
            ),
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
}

#[derive(Template)]
#[template(path = "pages/organisations/show.html")]
struct ShowPage {
    layout: Layout,
    organisation: OrganisationRecord,
    members: Vec<Member>,
    total: i64,
    invited: String,
    /// Just added: a success banner.
    added: bool,
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
}

async fn show_page(
    page: &Page,
    org_id: OrgId,
    (invited, added): (String, bool),
    form: Option<(InviteForm, FieldErrors)>,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let users = match app
        .list_users(
            actor,
            Some(org_id),
            UserFilter::default(),
            1,
            &page.ctx.meta,
        )
        .await
    {
        Ok(u) => u,
        Err(e) => return page.error(e),
    };
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
    // Until the accountable officer has an account, the invitation is for
    // them: the form comes filled in with what the provider was added with.
    let form = form.or_else(|| {
        let email = organisation.accountable_officer_email.as_ref()?;
        let invited = users
            .items
            .iter()
            .any(|u| u.user.email.normalised() == email.normalised());
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
    let view = ShowPage {
        layout: page.layout(if fields.is_empty() {
            organisation.name.clone()
        } else {
            format!("Error: {}", organisation.name)
        }),
        members: users
            .items
            .iter()
            .map(|u| Member {
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
            })
            .collect(),
        total: users.total,
        organisation,
        invited,
        added,
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
        errors: summary_in(&fields, PERSON_FIELDS),
        fields,
    };
    let status = if view.fields.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page.render(status, &view)
}

async fn show(page: Page, PathId(id): PathId<OrgId>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let invited = first(&q, "invited").unwrap_or_default();
    let added = first(&q, "added").is_some();
    show_page(&page, id, (invited, added), None).await
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
            show_page(&page, org_id, (String::new(), false), Some((data, fields))).await
        }
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
