//! Sign-in pages: email → code → signed in (seed 001), with "Not received a
//! code?"; and, where password sign-in is enabled, email and password (seed 000).

use app::records::SessionKind;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::forms::{Errors, error_for, summary};
use crate::context::SESSION_COOKIE;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::{WebState, read_cookie};

/// Remembers the sign-in attempt (and the address typed) between the pages.
const ATTEMPT_COOKIE: &str = "portal_attempt";

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(start))
        .route("/sign-in", get(email_form).post(email_submit))
        .route("/sign-in/code", get(code_form).post(code_submit))
        .route("/sign-in/resend", get(resend_form).post(resend_submit))
        .route(
            "/sign-in/password",
            get(password_form).post(password_submit),
        )
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/signed-out", get(signed_out))
}

#[derive(Template)]
#[template(path = "pages/start.html")]
struct Start {
    layout: Layout,
}

async fn start(page: Page) -> Response {
    if page.principal().is_some() {
        return Redirect::to("/home").into_response();
    }
    page.render(
        StatusCode::OK,
        &Start {
            layout: page.layout("Welcome"),
        },
    )
}

#[derive(Template)]
#[template(path = "pages/sign_in.html")]
struct EmailForm {
    layout: Layout,
    email: String,
    error: String,
    errors: Errors,
    /// Offer signing in with a password and creating an account.
    passwords: bool,
}

async fn email_form(page: Page) -> Response {
    if page.principal().is_some() {
        return Redirect::to("/home").into_response();
    }
    page.render(
        StatusCode::OK,
        &EmailForm {
            layout: page.layout("Sign in"),
            email: String::new(),
            error: String::new(),
            errors: Vec::new(),
            passwords: page.state.app.settings.password_sign_in,
        },
    )
}

#[derive(Deserialize)]
struct EmailInput {
    #[serde(default)]
    email: String,
}

async fn email_submit(form: Form<EmailInput>) -> Response {
    let Form { page, data } = form;
    send_code(page, data.email).await
}

async fn send_code(page: Page, email: String) -> Response {
    match page.state.app.request_code(&email, &page.ctx.meta).await {
        Ok(attempt) => {
            let value = URL_SAFE_NO_PAD.encode(format!("{attempt}\n{}", email.trim()));
            let mut resp = Redirect::to("/sign-in/code").into_response();
            page.finish(&mut resp);
            if let Ok(v) =
                HeaderValue::from_str(&page.state.cookie(ATTEMPT_COOKIE, &value, Some(600)))
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(AppError::Invalid(fields)) => {
            let layout = page.layout("Error: Sign in");
            page.render(
                StatusCode::BAD_REQUEST,
                &EmailForm {
                    layout,
                    email,
                    error: fields.get("email").cloned().unwrap_or_default(),
                    errors: summary(&fields),
                    passwords: page.state.app.settings.password_sign_in,
                },
            )
        }
        Err(e) => page.error(e),
    }
}

/// The attempt id and the address typed, from the attempt cookie.
fn attempt(page: &Page, headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let raw = read_cookie(headers, &page.state.cookie_name(ATTEMPT_COOKIE))?;
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (id, email) = decoded.split_once('\n')?;
    Some((id.to_owned(), email.to_owned()))
}

#[derive(Template)]
#[template(path = "pages/sign_in_code.html")]
struct CodeForm {
    layout: Layout,
    email: String,
    error: String,
    errors: Errors,
}

async fn code_form(page: Page, headers: axum::http::HeaderMap) -> Response {
    let Some((_, email)) = attempt(&page, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    page.render(
        StatusCode::OK,
        &CodeForm {
            layout: page.layout("Enter code"),
            email,
            error: String::new(),
            errors: Vec::new(),
        },
    )
}

#[derive(Deserialize)]
struct CodeInput {
    #[serde(default)]
    code: String,
}

async fn code_submit(headers: axum::http::HeaderMap, form: Form<CodeInput>) -> Response {
    let Form { page, data } = form;
    let Some((attempt_id, email)) = attempt(&page, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    let result = page
        .state
        .app
        .verify_code(
            &attempt_id,
            &data.code,
            SessionKind::Web,
            page.principal().map(|p| p.session_hash.as_slice()),
            &page.ctx.meta,
        )
        .await;
    let message = match result {
        Ok(signed_in) => return signed_in_response(&page, &signed_in),
        Err(AppError::Invalid(fields)) => fields.get("code").cloned().unwrap_or_default(),
        Err(AppError::CodeRejected) => {
            "The code is not correct or has expired. Check the email we sent, or request a new code"
                .to_owned()
        }
        Err(e) => return page.error(e),
    };
    page.render(
        StatusCode::BAD_REQUEST,
        &CodeForm {
            layout: page.layout("Error: Enter code"),
            email,
            errors: vec![(message.clone(), "#code".into())],
            error: message,
        },
    )
}

/// Sets the new session's cookie (a new token at every sign-in: any cookie set
/// before is replaced), forgets the attempt, and goes home.
fn signed_in_response(page: &Page, signed_in: &app::sign_in::SignedIn) -> Response {
    let mut resp = Redirect::to("/home").into_response();
    let cookie = page
        .state
        .cookie(SESSION_COOKIE, signed_in.token.expose(), None);
    for c in [cookie, page.state.clear_cookie(ATTEMPT_COOKIE)] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[derive(Template)]
#[template(path = "pages/sign_in_password.html")]
struct PasswordForm {
    layout: Layout,
    email: String,
    errors: Errors,
    fields: FieldErrors,
}

impl PasswordForm {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

/// The same words for every refusal: a wrong password, an unknown address, and
/// an account that is locked, disabled or expired (nothing is revealed).
const PASSWORD_REJECTED: &str = "The email address or password is not correct. \
     After 5 wrong passwords in a row an account is locked until a user administrator unlocks it";

async fn password_form(page: Page) -> Response {
    if !page.state.app.settings.password_sign_in {
        return page.error(AppError::NotFound);
    }
    if page.principal().is_some() {
        return Redirect::to("/home").into_response();
    }
    page.render(
        StatusCode::OK,
        &PasswordForm {
            layout: page.layout("Sign in with a password"),
            email: String::new(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
        },
    )
}

#[derive(Deserialize)]
struct PasswordInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn password_submit(form: Form<PasswordInput>) -> Response {
    let Form { page, data } = form;
    let result = page
        .state
        .app
        .sign_in_with_password(
            &data.email,
            &data.password,
            SessionKind::Web,
            page.principal().map(|p| p.session_hash.as_slice()),
            &page.ctx.meta,
        )
        .await;
    let fields = match result {
        Ok(signed_in) => return signed_in_response(&page, &signed_in),
        Err(AppError::Invalid(fields)) => fields,
        Err(AppError::CodeRejected) => {
            let mut f = FieldErrors::new();
            f.insert("password", PASSWORD_REJECTED.to_owned());
            f
        }
        Err(e) => return page.error(e),
    };
    page.render(
        StatusCode::BAD_REQUEST,
        &PasswordForm {
            layout: page.layout("Error: Sign in with a password"),
            email: data.email,
            errors: summary(&fields),
            fields,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/sign_in_resend.html")]
struct ResendForm {
    layout: Layout,
    email: String,
}

async fn resend_form(page: Page, headers: axum::http::HeaderMap) -> Response {
    let Some((_, email)) = attempt(&page, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    page.render(
        StatusCode::OK,
        &ResendForm {
            layout: page.layout("Not received a code?"),
            email,
        },
    )
}

#[derive(Deserialize)]
struct Nothing {}

async fn resend_submit(headers: axum::http::HeaderMap, form: Form<Nothing>) -> Response {
    let Some((_, email)) = attempt(&form.page, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    send_code(form.page, email).await
}

async fn sign_out(form: Form<Nothing>) -> Response {
    let page = form.page;
    if let Some(p) = page.principal()
        && let Err(e) = page.state.app.sign_out(p, &page.ctx.meta).await
    {
        return page.error(e);
    }
    let mut resp = Redirect::to("/signed-out").into_response();
    if let Ok(v) = HeaderValue::from_str(&page.state.clear_cookie(SESSION_COOKIE)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Template)]
#[template(path = "pages/signed_out.html")]
struct SignedOut {
    layout: Layout,
}

async fn signed_out(page: Page) -> Response {
    page.render(
        StatusCode::OK,
        &SignedOut {
            layout: page.layout("You have signed out"),
        },
    )
}
