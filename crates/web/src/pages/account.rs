//! My account and the old portal's ways in (seed 000): registering with an
//! access key ("Create an account"), activating an access key, and changing
//! one's password with an emailed code. The password pages answer 404 unless
//! password sign-in is enabled.

use app::passwords::Registration;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::forms::{Errors, encode, error_for, first, pairs, summary_in};
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/register", get(register_form).post(register_submit))
        .route("/account", get(account))
        .route(
            "/account/access-key",
            get(activate_form).post(activate_submit),
        )
        .route("/account/password", get(password_start).post(password_code))
        .route("/account/password/new", post(password_submit))
}

fn passwords_enabled(page: &Page) -> bool {
    page.state.app.settings.password_sign_in
}

/// "15 minutes", "1 minute": how long to wait, for people.
fn minutes(secs: u64) -> String {
    let m = secs.div_ceil(60).max(1);
    if m == 1 {
        "1 minute".to_owned()
    } else {
        format!("{m} minutes")
    }
}

/// Says when to try again, on a 429 page that keeps its form.
fn retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

// ---- Create an account --------------------------------------------------

#[derive(Template)]
#[template(path = "pages/account/register.html")]
struct RegisterPage {
    layout: Layout,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    access_key: String,
    password_hint: &'static str,
    errors: Errors,
    fields: FieldErrors,
}

impl RegisterPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn register_form(page: Page) -> Response {
    if !passwords_enabled(&page) {
        return page.error(AppError::NotFound);
    }
    if page.principal().is_some() {
        // Someone with an account uses the key under My account (seed 000).
        return Redirect::to("/account/access-key").into_response();
    }
    page.render(
        StatusCode::OK,
        &RegisterPage {
            layout: page.layout("Create an account"),
            title: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            access_key: String::new(),
            password_hint: page.state.app.settings.password_policy.hint(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

#[derive(Deserialize)]
struct RegisterInput {
    #[serde(default)]
    title: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    access_key: String,
}

#[derive(Template)]
#[template(path = "pages/account/registered.html")]
struct RegisteredPage {
    layout: Layout,
    organisation: String,
    roles: Vec<String>,
}

async fn register_submit(form: Form<RegisterInput>) -> Response {
    let Form { page, data } = form;
    let input = Registration {
        title: data.title.clone(),
        first_name: data.first_name.clone(),
        last_name: data.last_name.clone(),
        email: data.email.clone(),
        password: data.password,
        access_key: data.access_key.clone(),
    };
    let app = &page.state.app;
    let fields = match app.register(&input, &page.ctx.meta).await {
        Ok(user) => {
            let organisation = match app.organisation(user.user.organisation_id).await {
                Ok(o) => o.map(|o| o.name).unwrap_or_default(),
                Err(e) => return page.error(e),
            };
            let roles = user.roles.iter().map(|g| g.name()).collect();
            // Shown once, in answer to the form: the address holds nothing to replay.
            return page.render(
                StatusCode::OK,
                &RegisteredPage {
                    layout: page.layout("Registration successful"),
                    organisation,
                    roles,
                },
            );
        }
        Err(AppError::Invalid(fields)) => fields,
        Err(AppError::Conflict(why)) => {
            let mut f = FieldErrors::new();
            f.insert("email", why);
            f
        }
        Err(e) => return page.error(e),
    };
    // The use case has audited the refusal.
    page.render(
        StatusCode::BAD_REQUEST,
        &RegisterPage {
            layout: page.layout("Error: Create an account"),
            title: data.title,
            first_name: data.first_name,
            last_name: data.last_name,
            email: data.email,
            access_key: data.access_key,
            password_hint: app.settings.password_policy.hint(),
            errors: summary_in(
                &fields,
                &[
                    "title",
                    "first_name",
                    "last_name",
                    "email",
                    "password",
                    "access_key",
                ],
            ),
            fields,
        },
    )
}

// ---- My account ----------------------------------------------------------

struct RoleRow {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "pages/account/account.html")]
struct AccountPage {
    layout: Layout,
    name: String,
    email: String,
    organisation: String,
    roles: Vec<RoleRow>,
    /// The name of the role an access key just gave ("" = none).
    activated: String,
    password_changed: bool,
    passwords: bool,
    /// "Change your password", or "Set a password" for someone without one.
    password_action: &'static str,
    /// Sessions and API tokens (issue 13).
    sessions: super::sessions::AccountSessions,
}

async fn account(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(p) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    // Only a role the person really holds is named: the address cannot make
    // the page claim anything else.
    let activated = first(&q, "activated")
        .and_then(|id| p.roles.iter().find(|g| g.role.id() == id))
        .map(|g| g.name())
        .unwrap_or_default();
    let view = AccountPage {
        layout: page.layout("My account"),
        name: p.display_name(),
        email: p.user.email.to_string(),
        organisation: p.organisation.name.clone(),
        roles: p
            .roles
            .iter()
            .map(|g| RoleRow {
                name: g.name(),
                description: g.description(),
            })
            .collect(),
        activated,
        password_changed: first(&q, "password").as_deref() == Some("changed"),
        passwords: passwords_enabled(&page),
        password_action: password_action(p),
        sessions: match super::sessions::account_sessions(&page, p, first(&q, "done")).await {
            Ok(s) => s,
            Err(e) => return page.error(e),
        },
    };
    page.render(StatusCode::OK, &view)
}

// ---- Activate an access key ----------------------------------------------

#[derive(Template)]
#[template(path = "pages/account/access_key.html")]
struct ActivatePage {
    layout: Layout,
    key: String,
    error: String,
    errors: Errors,
}

async fn activate_form(page: Page) -> Response {
    if page.principal().is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    page.render(
        StatusCode::OK,
        &ActivatePage {
            layout: page.layout("Activate an access key"),
            key: String::new(),
            error: String::new(),
            errors: Vec::new(),
        },
    )
}

#[derive(Deserialize)]
struct KeyInput {
    #[serde(default)]
    key: String,
}

async fn activate_submit(form: Form<KeyInput>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let again = |message: String| ActivatePage {
        layout: page.layout("Error: Activate an access key"),
        key: data.key.clone(),
        errors: vec![(message.clone(), "#key".to_owned())],
        error: message,
    };
    // Every refusal is audited by the use case.
    match page
        .state
        .app
        .activate_access_key(actor, &data.key, &page.ctx.meta)
        .await
    {
        Ok(grant) => {
            let q = encode(&[("activated", grant.role.id().as_str())]);
            Redirect::to(&format!("/account?{q}")).into_response()
        }
        Err(AppError::Invalid(fields)) => {
            let message = fields.get("key").cloned().unwrap_or_default();
            page.render(StatusCode::BAD_REQUEST, &again(message))
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let message = format!(
                "You have entered too many access keys that are not valid. Wait {}, then try again",
                minutes(retry_after_secs)
            );
            let resp = page.render(StatusCode::TOO_MANY_REQUESTS, &again(message));
            retry_after(resp, retry_after_secs)
        }
        Err(e) => page.error(e),
    }
}

// ---- Change your password --------------------------------------------------

/// What the password pages offer: to change the password one has, or to set
/// one (someone who has only ever signed in with emailed codes).
fn password_action(p: &app::Principal) -> &'static str {
    if p.user.has_password {
        "Change your password"
    } else {
        "Set a password"
    }
}

#[derive(Template)]
#[template(path = "pages/account/password.html")]
struct PasswordStartPage {
    layout: Layout,
    email: String,
    action: &'static str,
}

async fn password_start(page: Page) -> Response {
    if !passwords_enabled(&page) {
        return page.error(AppError::NotFound);
    }
    let Some(p) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    page.render(
        StatusCode::OK,
        &PasswordStartPage {
            layout: page.layout(password_action(p)),
            email: p.user.email.to_string(),
            action: password_action(p),
        },
    )
}

#[derive(Template)]
#[template(path = "pages/account/password_new.html")]
struct NewPasswordPage {
    layout: Layout,
    email: String,
    /// The emailed code's attempt: carried in the form, never in an address.
    attempt: String,
    password_hint: &'static str,
    errors: Errors,
    fields: FieldErrors,
}

impl NewPasswordPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

#[derive(Deserialize)]
struct Nothing {}

/// "Email me a code": the answer is the form for the code and the new password.
async fn password_code(form: Form<Nothing>) -> Response {
    let page = form.page;
    if !passwords_enabled(&page) {
        return page.error(AppError::NotFound);
    }
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .request_password_code(actor, &page.ctx.meta)
        .await
    {
        Ok(attempt) => page.render(
            StatusCode::OK,
            &NewPasswordPage {
                layout: page.layout("Enter the code and your new password"),
                email: actor.user.email.to_string(),
                attempt: attempt.to_string(),
                password_hint: page.state.app.settings.password_policy.hint(),
                errors: Vec::new(),
                fields: FieldErrors::new(),
            },
        ),
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct NewPasswordInput {
    #[serde(default)]
    attempt: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn password_submit(form: Form<NewPasswordInput>) -> Response {
    let Form { page, data } = form;
    if !passwords_enabled(&page) {
        return page.error(AppError::NotFound);
    }
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let fields = if data.password != data.confirm {
        app.record_refusal(
            &page.ctx.meta,
            Some(actor),
            "password.changed",
            "the two passwords differ",
        )
        .await;
        // Every mistake at once: the code's and the password's too.
        let mut f = app.new_password_errors(&data.code, &data.password);
        f.insert("confirm", "The passwords do not match".to_owned());
        f
    } else {
        match app
            .set_password(
                actor,
                &data.attempt,
                &data.code,
                &data.password,
                &page.ctx.meta,
            )
            .await
        {
            Ok(()) => return Redirect::to("/account?password=changed").into_response(),
            Err(AppError::Invalid(fields)) => fields,
            Err(AppError::CodeRejected) => {
                let mut f = FieldErrors::new();
                f.insert(
                    "code",
                    "The code is not correct or has expired. Go back to My account to get a new code"
                        .to_owned(),
                );
                f
            }
            Err(e) => return page.error(e),
        }
    };
    page.render(
        StatusCode::BAD_REQUEST,
        &NewPasswordPage {
            layout: page.layout("Error: Enter the code and your new password"),
            email: actor.user.email.to_string(),
            attempt: data.attempt,
            password_hint: app.settings.password_policy.hint(),
            errors: summary_in(&fields, &["code", "password", "confirm"]),
            fields,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::minutes;

    #[test]
    fn waits_are_said_in_whole_minutes() {
        assert_eq!(minutes(900), "15 minutes");
        assert_eq!(minutes(61), "2 minutes");
        assert_eq!(minutes(1), "1 minute");
    }
}
