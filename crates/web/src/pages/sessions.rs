//! Sessions and API tokens on pages (PRODUCT §3, §4, §9): the Sessions and
//! API tokens sections of My account (ending a session, ending all others,
//! creating a token — shown once — and revoking one), and on Edit user,
//! Sign out everywhere and the user's tokens, for those who may change that
//! user's access.

use app::AppError;
use app::records::SessionKind;
use app::sessions::{ListedToken, NewTokenInput};
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::UserId;
use serde::Deserialize;

use super::forms::{DateParts, Errors, end_of_day, first, last_day, long_date, summary_in};
use super::returns::when;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::path_id::IdForm;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/sessions/end-others", post(end_others))
        .route(
            "/account/api-tokens/new",
            get(new_token_form).post(create_token),
        )
        .route("/account/api-tokens/{id}/revoke", post(revoke_own))
        .route("/users/{id}/sign-out", post(sign_out_everywhere))
        .route("/api-tokens/{id}/revoke", post(revoke_for_user))
}

/// "Browser", "API sign-in", "API token": a session's kind, for people.
fn kind_label(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Web => "Browser",
        SessionKind::Api => "API sign-in",
        SessionKind::Token => "API token",
    }
}

pub struct SessionRow {
    pub id: String,
    pub kind: &'static str,
    pub started: String,
    pub last_seen: String,
    pub current: bool,
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

fn token_row(t: &ListedToken) -> TokenRow {
    TokenRow {
        id: t.id.to_string(),
        name: t.name.clone(),
        created: when(t.created_at),
        expires: long_date(last_day(t.expires_at)),
        last_used: t.last_used_at.map(when).unwrap_or_else(|| "Never".into()),
    }
}

/// My account's Sessions and API tokens sections.
#[derive(Default)]
pub struct AccountSessions {
    pub sessions: Vec<SessionRow>,
    pub tokens: Vec<TokenRow>,
    /// Whether any session other than this one is live.
    pub others: bool,
    /// The success banner after ending or revoking ("" = none).
    pub banner: String,
}

/// Reads the caller's sessions and tokens for My account; `done` is what the
/// address says was just done (`ended`, `others`, `revoked`).
pub async fn account_sessions(
    page: &Page,
    actor: &app::Principal,
    done: Option<String>,
) -> Result<AccountSessions, AppError> {
    let app = &page.state.app;
    let listed = app.my_sessions(actor).await?;
    let sessions: Vec<SessionRow> = listed
        .iter()
        .filter(|s| s.kind != SessionKind::Token)
        .map(|s| SessionRow {
            id: s.id.to_string(),
            kind: kind_label(s.kind),
            started: when(s.created_at),
            last_seen: when(s.last_seen_at),
            current: s.current,
        })
        .collect();
    let tokens = app
        .my_api_tokens(actor)
        .await?
        .iter()
        .map(token_row)
        .collect();
    let banner = match done.as_deref() {
        Some("ended") => "The session has been signed out.",
        Some("others") => "All your other sessions have been signed out.",
        Some("revoked") => "The API token has been revoked. It no longer works.",
        _ => "",
    };
    Ok(AccountSessions {
        others: sessions.iter().any(|s| !s.current),
        sessions,
        tokens,
        banner: banner.into(),
    })
}

/// Edit user's Sign out everywhere section and the user's tokens.
#[derive(Default)]
pub struct UserSessions {
    /// The actor may change this user's access (the decision the actions take).
    pub may: bool,
    pub tokens: Vec<TokenRow>,
    pub banner: String,
}

/// Reads what Edit user shows of a user's sessions: nothing unless `may`
/// (the page's own decision that the actor may change this user's access).
pub async fn user_sessions(
    page: &Page,
    user: UserId,
    may: bool,
    q: &[(String, String)],
) -> Result<UserSessions, AppError> {
    let Some(actor) = page.principal() else {
        return Err(AppError::Unauthenticated);
    };
    if !may {
        return Ok(UserSessions::default());
    }
    let tokens = page
        .state
        .app
        .user_tokens_for_admin(actor, user, &page.ctx.meta)
        .await?
        .iter()
        .map(token_row)
        .collect();
    let banner = if first(q, "signed_out").is_some() {
        "The user has been signed out everywhere. Their API tokens no longer work."
    } else if first(q, "token_revoked").is_some() {
        "The API token has been revoked. It no longer works."
    } else {
        ""
    };
    Ok(UserSessions {
        may,
        tokens,
        banner: banner.into(),
    })
}

#[derive(Deserialize)]
struct Nothing {}

async fn end_session(IdForm { id, page, .. }: IdForm<uuid::Uuid, Nothing>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .end_my_session(actor, id, &page.ctx.meta)
        .await
    {
        // Ending this very session is signing out: My account then asks to sign in.
        Ok(()) => Redirect::to("/account?done=ended#sessions").into_response(),
        Err(e) => page.error(e),
    }
}

async fn end_others(form: Form<Nothing>) -> Response {
    let page = form.page;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .end_other_sessions(actor, &page.ctx.meta)
        .await
    {
        Ok(_) => Redirect::to("/account?done=others#sessions").into_response(),
        Err(e) => page.error(e),
    }
}

async fn revoke_own(IdForm { id, page, .. }: IdForm<uuid::Uuid, Nothing>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .revoke_api_token(actor, id, &page.ctx.meta)
        .await
    {
        Ok(()) => Redirect::to("/account?done=revoked#api-tokens").into_response(),
        Err(e) => page.error(e),
    }
}

async fn sign_out_everywhere(IdForm { id, page, .. }: IdForm<UserId, Nothing>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .sign_out_everywhere(actor, id, &page.ctx.meta)
        .await
    {
        Ok(_) => Redirect::to(&format!("/users/{id}?signed_out=1#sessions")).into_response(),
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct RevokeFor {
    #[serde(default)]
    user: String,
}

/// Revoking a user's token from Edit user: back to that user's page.
async fn revoke_for_user(IdForm { id, page, data }: IdForm<uuid::Uuid, RevokeFor>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .revoke_api_token(actor, id, &page.ctx.meta)
        .await
    {
        // Only a well-formed user id goes into the address.
        Ok(()) => match data.user.parse::<UserId>() {
            Ok(user) => {
                Redirect::to(&format!("/users/{user}?token_revoked=1#sessions")).into_response()
            }
            Err(_) => Redirect::to("/users").into_response(),
        },
        Err(e) => page.error(e),
    }
}

// ---- Create an API token ---------------------------------------------------

#[derive(Template)]
#[template(path = "pages/account/api_token_new.html")]
struct NewTokenPage {
    layout: Layout,
    token_name: String,
    expires: DateParts,
    errors: Errors,
    fields: app::FieldErrors,
}

impl NewTokenPage {
    fn error(&self, name: &str) -> String {
        super::forms::error_for(&self.fields, name)
    }
}

async fn new_token_form(page: Page) -> Response {
    if page.principal().is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    page.render(
        StatusCode::OK,
        &NewTokenPage {
            layout: page.layout("Create an API token"),
            token_name: String::new(),
            expires: DateParts::default(),
            errors: Vec::new(),
            fields: app::FieldErrors::new(),
        },
    )
}

#[derive(Template)]
#[template(path = "pages/account/api_token_created.html")]
struct CreatedPage {
    layout: Layout,
    name: String,
    token: String,
    expires: String,
}

async fn create_token(form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let name = first(&data, "name").unwrap_or_default();
    let expires = DateParts::from_form(&data, "expires_at");
    let app = &page.state.app;
    let parsed = expires.parse("Expiry date");
    let mut fields = match &parsed {
        Ok(date) => {
            let input = NewTokenInput {
                name: name.clone(),
                expires_at: Some(end_of_day(*date)),
            };
            // Every refusal is audited by the use case.
            match app.create_api_token(actor, &input, &page.ctx.meta).await {
                Ok(created) => {
                    let mut resp = page.render(
                        StatusCode::OK,
                        &CreatedPage {
                            layout: page.layout("API token created"),
                            name: created.listed.name,
                            token: created.token.expose().to_owned(),
                            expires: long_date(last_day(created.listed.expires_at)),
                        },
                    );
                    // The token exists nowhere else: no cache may keep this page.
                    resp.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    return resp;
                }
                Err(AppError::Invalid(fields)) => fields,
                Err(AppError::RateLimited { retry_after_secs }) => {
                    let mut f = app::FieldErrors::new();
                    f.insert(
                        "name",
                        format!(
                            "You have created too many API tokens, or hold too many that still work. Revoke one you no longer use, or try again in {}",
                            wait(retry_after_secs)
                        ),
                    );
                    let mut resp = again(&page, name, expires, f, StatusCode::TOO_MANY_REQUESTS);
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                    return resp;
                }
                Err(e) => return page.error(e),
            }
        }
        Err(_) => app::FieldErrors::new(),
    };
    // The form's own reading of the date says better what is wrong with it;
    // the name is checked by the use case's rules here too.
    if let Err(why) = parsed {
        let input = NewTokenInput {
            name: name.clone(),
            expires_at: None,
        };
        // Audited as a refusal by the use case (with every field wrong).
        if let Err(AppError::Invalid(f)) = app.create_api_token(actor, &input, &page.ctx.meta).await
        {
            fields = f;
        }
        fields.insert("expires_at", why);
    }
    let status = StatusCode::BAD_REQUEST;
    again(&page, name, expires, fields, status)
}

fn again(
    page: &Page,
    name: String,
    expires: DateParts,
    fields: app::FieldErrors,
    status: StatusCode,
) -> Response {
    page.render(
        status,
        &NewTokenPage {
            layout: page.layout("Error: Create an API token"),
            token_name: name,
            expires,
            errors: summary_in(&fields, &["name", "expires_at"]),
            fields,
        },
    )
}

/// "15 minutes", "3 days": how long to wait, for people.
fn wait(secs: u64) -> String {
    let (n, unit) = if secs > 2 * 86_400 {
        (secs.div_ceil(86_400), "day")
    } else {
        (secs.div_ceil(60).max(1), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
