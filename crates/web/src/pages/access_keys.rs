//! Access keys, for regulator administrators (PRODUCT §5, seed 000): the list
//! (without secrets), revoking, and issuing a key, which is shown once, to be
//! printed and posted to the head of provider.

use app::access_keys::IssueKeyInput;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use domain::OrganisationKind;

use super::forms::{
    DateParts, Errors, end_of_day, error_for, first, last_day, long_date, pairs, summary_in,
};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/access-keys", get(list))
        .route("/access-keys/new", get(issue_form).post(issue))
        .route("/access-keys/{id}/issued", get(issued))
        .route("/access-keys/{id}/revoke", post(revoke))
}

struct KeyRow {
    id: String,
    organisation: String,
    role: String,
    uses: String,
    expires: String,
    state: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "pages/access_keys/list.html")]
struct ListPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    revoked: bool,
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // The use case refuses (and audits) anyone but a regulator administrator.
    let keys = match page.state.app.list_access_keys(actor, &page.ctx.meta).await {
        Ok(k) => k,
        Err(e) => return page.error(e),
    };
    let now = page.state.app.clock.now();
    let view = ListPage {
        layout: page.layout("Access keys"),
        keys: keys
            .into_iter()
            .map(|k| {
                let state = k.record.state(now);
                KeyRow {
                    id: k.record.id.to_string(),
                    organisation: k.organisation_name,
                    role: k.role_name,
                    uses: format!("{} of {}", k.record.uses, k.record.max_uses),
                    expires: long_date(last_day(k.record.expires_at)),
                    active: state == "Active",
                    state,
                }
            })
            .collect(),
        revoked: first(&pairs(raw), "revoked").is_some(),
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "pages/access_keys/new.html")]
struct IssuePage {
    layout: Layout,
    providers: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    organisation: String,
    role: String,
    max_uses: String,
    expires: DateParts,
    errors: Errors,
    fields: FieldErrors,
}

impl IssuePage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

/// (id, label) pairs for a select.
type Choices = Vec<(String, String)>;

/// Every provider, by name, and every role a provider's user can hold
/// (sensitive areas' roles included: a key is the only way to those).
async fn choices(page: &Page) -> Result<(Choices, Choices), AppError> {
    let Some(actor) = page.principal() else {
        return Err(AppError::Unauthenticated);
    };
    let app = &page.state.app;
    const PER_PAGE: i64 = 200;
    let mut providers = Vec::new();
    let mut number = 1;
    loop {
        let (orgs, total) = app
            .list_organisations(actor, number, PER_PAGE, &page.ctx.meta)
            .await?;
        providers.extend(
            orgs.into_iter()
                .filter(|o| o.kind == OrganisationKind::Provider)
                .map(|o| {
                    let label = match &o.ukprn {
                        Some(u) => format!("{} (UKPRN {u})", o.name),
                        None => o.name.clone(),
                    };
                    (o.id.to_string(), label)
                }),
        );
        if number * PER_PAGE >= total {
            break;
        }
        number += 1;
    }
    providers.sort_by_key(|(_, label)| label.to_lowercase());
    let areas = app.areas().await?;
    let roles = app::users::catalogue(OrganisationKind::Provider, &areas)
        .into_iter()
        .map(|(role, area)| {
            let mut name = role.name(area.map(|a| a.name.as_str()).unwrap_or_default());
            if area.is_some_and(|a| a.sensitive) {
                name.push_str(" (sensitive area)");
            }
            (role.id(), name)
        })
        .collect();
    Ok((providers, roles))
}

async fn issue_form(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    if !actor.may_manage_access_keys() {
        return page
            .refuse("access_keys.issue", domain::authz::NOT_REGULATOR_ADMIN_KEYS)
            .await;
    }
    let (providers, roles) = match choices(&page).await {
        Ok(c) => c,
        Err(e) => return page.error(e),
    };
    page.render(
        StatusCode::OK,
        &IssuePage {
            layout: page.layout("Issue an access key"),
            providers,
            roles,
            organisation: String::new(),
            role: "portal-admin".to_owned(),
            max_uses: "1".to_owned(),
            expires: DateParts::default(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

#[derive(Template)]
#[template(path = "pages/access_keys/issued.html")]
struct IssuedPage {
    layout: Layout,
    /// Empty once it has been shown.
    key: String,
    organisation: String,
    role: String,
    max_uses: i64,
    issued: String,
    expires: String,
}

/// Carries a key just issued from the form's POST to the page that shows it
/// (post/redirect/get: reloading that page cannot issue a second key). The
/// key is sealed under the server key, bound to the key's id, lives five
/// minutes and is cleared as it is shown, so it is shown once.
const ISSUED_COOKIE: &str = "portal_issued_key";

fn sealed_key(app: &app::App, id: uuid::Uuid, key: &str) -> String {
    let sealed = app::sealed::seal(&app.key, domain::ids::MessageId(id), key);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
}

fn unsealed_key(app: &app::App, id: uuid::Uuid, cookie: &str) -> Option<String> {
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cookie)
        .ok()?;
    app::sealed::open(
        &app.key,
        domain::ids::MessageId(id),
        &String::from_utf8(sealed).ok()?,
    )
}

/// The page for a key just issued: the key itself once, then its details only.
async fn issued(Path(id): Path<String>, page: Page, headers: axum::http::HeaderMap) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // The use case refuses (and audits) anyone but a regulator administrator.
    let keys = match page.state.app.list_access_keys(actor, &page.ctx.meta).await {
        Ok(k) => k,
        Err(e) => return page.error(e),
    };
    let Some(listed) = id
        .parse::<uuid::Uuid>()
        .ok()
        .and_then(|id| keys.into_iter().find(|k| k.record.id == id))
    else {
        return page.error(AppError::NotFound);
    };
    let record = &listed.record;
    let key = crate::state::read_cookie(&headers, &page.state.cookie_name(ISSUED_COOKIE))
        .and_then(|c| unsealed_key(&page.state.app, record.id, &c))
        .unwrap_or_default();
    let mut resp = page.render(
        StatusCode::OK,
        &IssuedPage {
            layout: page.layout("Access key issued"),
            key,
            organisation: listed.organisation_name.clone(),
            role: listed.role_name.clone(),
            max_uses: record.max_uses,
            issued: domain::uk_time::day_of(record.created_at),
            expires: long_date(last_day(record.expires_at)),
        },
    );
    // The key exists nowhere else: no cache may keep this page, and the
    // cookie that carried it goes.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&page.state.clear_cookie(ISSUED_COOKIE)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn issue(form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let organisation = first(&data, "organisation_id").unwrap_or_default();
    let role = first(&data, "role").unwrap_or_default();
    let max_uses = first(&data, "max_uses").unwrap_or_default();
    let expires = DateParts::from_form(&data, "expires_at");
    // What the form itself cannot read is said here; the rest by the use case.
    let mut own = FieldErrors::new();
    let uses = match max_uses.trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            own.insert(
                "max_uses",
                "Enter the number of uses as a whole number, like 1".into(),
            );
            0
        }
    };
    let expires_at = match expires.parse("Expiry date") {
        Ok(d) => Some(end_of_day(d)),
        Err(why) => {
            own.insert("expires_at", why);
            None
        }
    };
    let input = IssueKeyInput {
        organisation: organisation.clone(),
        role: role.clone(),
        max_uses: uses,
        expires_at,
    };
    let app = &page.state.app;
    let mut fields = match app
        .issue_access_key(Some(actor), &input, &page.ctx.meta)
        .await
    {
        Ok(issued) => {
            let id = issued.record.id;
            let cookie = page.state.cookie(
                ISSUED_COOKIE,
                &sealed_key(app, id, &issued.key.grouped()),
                Some(300),
            );
            let mut resp = Redirect::to(&format!("/access-keys/{id}/issued")).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            return resp;
        }
        Err(AppError::Invalid(fields)) => fields,
        Err(e) => return page.error(e),
    };
    // The form's own reading of a field says better what is wrong with it.
    fields.extend(own);
    app.record_refusal(
        &page.ctx.meta,
        Some(actor),
        "access_keys.issue",
        "invalid form",
    )
    .await;
    let (providers, roles) = match choices(&page).await {
        Ok(c) => c,
        Err(e) => return page.error(e),
    };
    let mut errors = summary_in(
        &fields,
        &["organisation_id", "role", "max_uses", "expires_at"],
    );
    // The date's error leads to its first box.
    for (_, href) in errors.iter_mut() {
        if href == "#expires_at" {
            *href = "#expires_at-day".to_owned();
        }
    }
    page.render(
        StatusCode::BAD_REQUEST,
        &IssuePage {
            layout: page.layout("Error: Issue an access key"),
            providers,
            roles,
            organisation,
            role,
            max_uses,
            expires,
            errors,
            fields,
        },
    )
}

async fn revoke(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let page = form.page;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // Refusals are audited by the use case.
    match page
        .state
        .app
        .revoke_access_key(actor, &id, &page.ctx.meta)
        .await
    {
        Ok(()) => Redirect::to("/access-keys?revoked=1").into_response(),
        Err(e) => page.error(e),
    }
}
