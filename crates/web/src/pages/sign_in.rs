//! Sign-in pages: email → code → signed in (seed 001), with "Not received a
//! code?"; and, where password sign-in is enabled, email and password (seed 000).

use app::records::SessionKind;
use app::session::SessionOver;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::forms::{Errors, error_for, summary};
use crate::context::{Ctx, SESSION_COOKIE, STAY_SIGNED_IN, return_path, return_query};
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
        .route("/sign-out", post(sign_out))
        .route("/signed-out", get(signed_out))
        .route(STAY_SIGNED_IN, post(stay_signed_in))
}

/// The page to return to after signing in (`?return=…`), if the query names
/// one this site may send a person to ([`return_path`]).
#[derive(Deserialize, Default)]
struct ReturnQuery {
    #[serde(default, rename = "return")]
    to: String,
}

fn asked_return(query: Option<String>) -> Option<String> {
    let q: ReturnQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    return_path(&q.to).map(str::to_owned)
}

/// `?return=…` for a link that carries the page to return to, or nothing.
fn return_suffix(to: Option<&str>) -> String {
    to.map(|p| format!("?{}", return_query(p)))
        .unwrap_or_default()
}

/// Where a person goes once signed in: the page they asked for, checked
/// again here (it may come from a hand-made form or cookie), or Home.
fn destination(to: Option<&str>) -> &str {
    to.and_then(return_path).unwrap_or("/home")
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
    /// The page to return to once signed in (a hidden field), if any.
    return_to: Option<String>,
    /// `?return=…` for the links to the other ways of signing in.
    return_query: String,
}

async fn email_form(page: Page, RawQuery(query): RawQuery) -> Response {
    let return_to = asked_return(query);
    if page.principal().is_some() {
        return Redirect::to(destination(return_to.as_deref())).into_response();
    }
    page.render(
        StatusCode::OK,
        &EmailForm {
            layout: page.layout("Sign in"),
            email: String::new(),
            error: String::new(),
            errors: Vec::new(),
            passwords: page.state.app.settings.password_sign_in,
            return_query: return_suffix(return_to.as_deref()),
            return_to,
        },
    )
}

#[derive(Deserialize)]
struct EmailInput {
    #[serde(default)]
    email: String,
    #[serde(default, rename = "return")]
    return_to: String,
}

async fn email_submit(form: Form<EmailInput>) -> Response {
    let Form { page, data } = form;
    let return_to = return_path(&data.return_to).map(str::to_owned);
    send_code(page, data.email, return_to).await
}

async fn send_code(page: Page, email: String, return_to: Option<String>) -> Response {
    match page.state.app.request_code(&email, &page.ctx.meta).await {
        Ok(attempt) => {
            let value = URL_SAFE_NO_PAD.encode(format!(
                "{attempt}\n{}\n{}",
                email.trim(),
                return_to.as_deref().unwrap_or_default()
            ));
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
                    return_query: return_suffix(return_to.as_deref()),
                    return_to,
                },
            )
        }
        Err(e) => page.error(e),
    }
}

/// A sign-in attempt between the pages (the attempt cookie).
struct Attempt {
    id: String,
    email: String,
    /// The page to return to, as it was written: checked again when used.
    return_to: Option<String>,
}

/// The attempt id and the address typed, from the attempt cookie.
fn attempt(page: &Page, headers: &axum::http::HeaderMap) -> Option<Attempt> {
    let raw = read_cookie(headers, &page.state.cookie_name(ATTEMPT_COOKIE))?;
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let mut lines = decoded.splitn(3, '\n');
    let (id, email) = (lines.next()?, lines.next()?);
    let return_to = lines.next().filter(|r| !r.is_empty()).map(str::to_owned);
    Some(Attempt {
        id: id.to_owned(),
        email: email.to_owned(),
        return_to,
    })
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
    let Some(Attempt { email, .. }) = attempt(&page, &headers) else {
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
    let Some(Attempt {
        id: attempt_id,
        email,
        return_to,
    }) = attempt(&page, &headers)
    else {
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
        Ok(signed_in) => return signed_in_response(&page, &signed_in, return_to.as_deref()),
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
/// before is replaced), forgets the attempt, and goes to the page asked for
/// (a same-site path, checked here again) or Home.
fn signed_in_response(
    page: &Page,
    signed_in: &app::sign_in::SignedIn,
    return_to: Option<&str>,
) -> Response {
    let mut resp = Redirect::to(destination(return_to)).into_response();
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
    return_to: Option<String>,
    return_query: String,
}

impl PasswordForm {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

/// The same words for every refusal: a wrong password, an unknown address, and
/// an account that is locked, disabled or expired (nothing is revealed, so a
/// locked account's right password is never called wrong either: PRODUCT §3;
/// the owner of a locked account is told by email when it locks).
const PASSWORD_REJECTED: &str = "We could not sign you in. Check your email address and password: \
     if they are right, your account may be locked or its access turned off";

async fn password_form(page: Page, RawQuery(query): RawQuery) -> Response {
    if !page.state.app.settings.password_sign_in {
        return page.error(AppError::NotFound);
    }
    let return_to = asked_return(query);
    if page.principal().is_some() {
        return Redirect::to(destination(return_to.as_deref())).into_response();
    }
    page.render(
        StatusCode::OK,
        &PasswordForm {
            layout: page.layout("Sign in with a password"),
            email: String::new(),
            errors: Vec::new(),
            fields: FieldErrors::new(),
            return_query: return_suffix(return_to.as_deref()),
            return_to,
        },
    )
}

#[derive(Deserialize)]
struct PasswordInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "return")]
    return_to: String,
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
    let return_to = return_path(&data.return_to).map(str::to_owned);
    let fields = match result {
        Ok(signed_in) => return signed_in_response(&page, &signed_in, return_to.as_deref()),
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
            return_query: return_suffix(return_to.as_deref()),
            return_to,
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
    let Some(Attempt { email, .. }) = attempt(&page, &headers) else {
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
    let Some(Attempt {
        email, return_to, ..
    }) = attempt(&form.page, &headers)
    else {
        return Redirect::to("/sign-in").into_response();
    };
    let return_to = return_to
        .as_deref()
        .and_then(return_path)
        .map(str::to_owned);
    send_code(form.page, email, return_to).await
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
    heading: &'static str,
    /// Why this browser's session ended, when it did not sign out itself.
    over: Option<SessionOver>,
    /// The idle timeout in words: "30 minutes".
    idle: String,
    /// When an expired account's access ended: "until the end of 1
    /// September 2026", "until 1 September 2026 at 2:15pm".
    expired_on: String,
    /// Whom to ask to give access back.
    contact: String,
    /// "Sign in again" (with the page to return to), unless access has ended.
    sign_in_href: String,
}

/// After signing out, or after the session ended (issue 15, item 4): says
/// why, to the browser whose session it was (read from its own cookie, so
/// nobody else learns anything), and forgets that cookie.
async fn signed_out(page: Page, RawQuery(query): RawQuery) -> Response {
    let over = page.ctx.over.clone();
    let (heading, idle, expired_on, contact, may_sign_in) = match &over {
        None => (
            "You have signed out",
            String::new(),
            String::new(),
            String::new(),
            true,
        ),
        Some(SessionOver::TimedOut { idle }) => (
            "You have been signed out",
            in_words(*idle),
            String::new(),
            String::new(),
            true,
        ),
        Some(SessionOver::TooOld) => (
            "You have been signed out",
            String::new(),
            String::new(),
            String::new(),
            true,
        ),
        Some(SessionOver::AccessDisabled { contact }) => (
            "Your access to Provider Portal has been turned off",
            String::new(),
            String::new(),
            contact.to_string(),
            false,
        ),
        Some(SessionOver::Expired { at, contact }) => (
            "Your access to Provider Portal has ended",
            String::new(),
            // "until the end of 1 September 2026", or a moment if the
            // expiry was set to one (the API takes any).
            domain::uk_time::until(*at),
            contact.to_string(),
            false,
        ),
        Some(SessionOver::Locked { contact }) => (
            "Your account is locked",
            String::new(),
            String::new(),
            contact.to_string(),
            false,
        ),
    };
    let return_to = asked_return(query);
    let mut resp = page.render(
        StatusCode::OK,
        &SignedOut {
            layout: page.layout(heading),
            heading,
            over: over.clone(),
            idle,
            expired_on,
            contact,
            sign_in_href: if may_sign_in {
                format!("/sign-in{}", return_suffix(return_to.as_deref()))
            } else {
                String::new()
            },
        },
    );
    if over.is_some()
        && let Ok(v) = HeaderValue::from_str(&page.state.clear_cookie(SESSION_COOKIE))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// A duration as the signed-out page says it: "30 minutes", "1 minute",
/// "20 seconds".
fn in_words(d: time::Duration) -> String {
    let (n, unit) = if d.whole_seconds() % 60 == 0 {
        (d.whole_minutes(), "minute")
    } else {
        (d.whole_seconds(), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// "Stay signed in" (the timeout warning, app.js): the session starts its
/// idle time again; answers `{"seconds_left": n}`. A session already over
/// answers 401, and the script then reloads the page (which says why).
async fn stay_signed_in(
    State(state): State<WebState>,
    ctx: Ctx,
    request: axum::extract::Request,
) -> Response {
    if ctx.principal.is_none() {
        // Nothing to extend, and nothing done: no form token to check.
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "signed_in": false })),
        )
            .into_response();
    }
    let page = match Form::<Nothing>::from_request(request, &state).await {
        Ok(form) => form.page,
        Err(refused) => return refused,
    };
    let Some(p) = page.principal() else {
        return page.error(AppError::Unauthenticated);
    };
    match page.state.app.stay_signed_in(p).await {
        Ok(ends_at) => {
            let left = (ends_at - page.state.app.clock.now())
                .whole_seconds()
                .max(0);
            Json(serde_json::json!({ "seconds_left": left })).into_response()
        }
        Err(e) => page.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_said_in_minutes_or_seconds() {
        assert_eq!(in_words(time::Duration::minutes(30)), "30 minutes");
        assert_eq!(in_words(time::Duration::minutes(1)), "1 minute");
        assert_eq!(in_words(time::Duration::seconds(20)), "20 seconds");
        assert_eq!(in_words(time::Duration::seconds(90)), "90 seconds");
    }

    #[test]
    fn only_a_checked_path_is_a_destination() {
        assert_eq!(destination(Some("/account")), "/account");
        assert_eq!(destination(Some("//evil.example")), "/home");
        assert_eq!(destination(None), "/home");
        assert_eq!(
            asked_return(Some("return=%2Fusers%3Fq%3Da".into())).as_deref(),
            Some("/users?q=a")
        );
        assert_eq!(asked_return(Some("return=https%3A%2F%2Fevil".into())), None);
        assert_eq!(asked_return(Some("return=%2F%2Fevil".into())), None);
        assert_eq!(asked_return(Some("%%%".into())), None);
        assert_eq!(asked_return(None), None);
    }
}
