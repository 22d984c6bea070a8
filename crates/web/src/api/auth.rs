//! Sign-in, sign-out and `/me` (API.md "Sign-in").

use app::records::SessionKind;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Caller};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(create_token, delete_token))
        .routes(routes!(me))
        .routes(routes!(password_token))
        .routes(routes!(register))
        .routes(routes!(password_code))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    email: String,
}

#[derive(Serialize, ToSchema)]
struct CodeRequested {
    attempt_id: String,
}

/// Ask for a sign-in code: identical answer for every address.
#[utoipa::path(post, path = "/auth/code", tag = "Sign-in", request_body = CodeRequest,
    responses((status = 202, body = CodeRequested), (status = 400, body = ApiErrorBody),
        (status = 413, body = ApiErrorBody), (status = 415, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn request_code(State(state): State<WebState>, body: ApiJson<CodeRequest>) -> Response {
    match state
        .app
        .request_code(&body.data.email, &body.ctx.meta)
        .await
    {
        Ok(attempt) => (
            StatusCode::ACCEPTED,
            Json(CodeRequested {
                attempt_id: attempt.to_string(),
            }),
        )
            .into_response(),
        Err(e) => ApiError::new(e, &body.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    attempt_id: String,
    code: String,
}

#[derive(Serialize, ToSchema)]
struct TokenIssued {
    token: String,
    expires_at: String,
}

/// Exchange the emailed code for a bearer token.
#[utoipa::path(post, path = "/auth/token", tag = "Sign-in", request_body = TokenRequest,
    responses((status = 200, body = TokenIssued), (status = 400, body = ApiErrorBody),
        (status = 401, description = "code_rejected", body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn create_token(State(state): State<WebState>, body: ApiJson<TokenRequest>) -> Response {
    let signed_in = state
        .app
        .verify_code(
            &body.data.attempt_id,
            &body.data.code,
            SessionKind::Api,
            None,
            &body.ctx.meta,
        )
        .await;
    match signed_in {
        Ok(s) => Json(TokenIssued {
            token: s.token.expose().to_owned(),
            expires_at: s.expires_at.format(&Rfc3339).unwrap_or_default(),
        })
        .into_response(),
        Err(e) => ApiError::new(e, &body.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    email: String,
    password: String,
}

/// Sign in with email and password, where password sign-in is enabled (else 404).
#[utoipa::path(post, path = "/auth/password", tag = "Sign-in", request_body = PasswordRequest,
    responses((status = 200, body = TokenIssued), (status = 400, body = ApiErrorBody),
        (status = 401, description = "code_rejected", body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 429, body = ApiErrorBody)))]
async fn password_token(State(state): State<WebState>, body: ApiJson<PasswordRequest>) -> Response {
    let signed_in = state
        .app
        .sign_in_with_password(
            &body.data.email,
            &body.data.password,
            SessionKind::Api,
            None,
            &body.ctx.meta,
        )
        .await;
    token_or_error(signed_in, &body.ctx)
}

fn token_or_error(
    signed_in: app::AppResult<app::sign_in::SignedIn>,
    ctx: &crate::context::Ctx,
) -> Response {
    match signed_in {
        Ok(s) => Json(TokenIssued {
            token: s.token.expose().to_owned(),
            expires_at: s.expires_at.format(&Rfc3339).unwrap_or_default(),
        })
        .into_response(),
        Err(e) => ApiError::new(e, &ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    #[serde(default)]
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    password: String,
    access_key: String,
}

/// Create an account with an access key (seed 000), where password sign-in is
/// enabled (else 404). The new user belongs to the key's provider and holds its role.
#[utoipa::path(post, path = "/register", tag = "Sign-in", request_body = RegisterRequest,
    responses((status = 201, body = super::users::UserView), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn register(State(state): State<WebState>, body: ApiJson<RegisterRequest>) -> Response {
    let b = &body.data;
    let input = app::passwords::Registration {
        title: b.title.clone(),
        first_name: b.first_name.clone(),
        last_name: b.last_name.clone(),
        email: b.email.clone(),
        password: b.password.clone(),
        access_key: b.access_key.clone(),
    };
    let meta = &body.ctx.meta;
    match state.app.register(&input, meta).await {
        Ok(u) => (
            StatusCode::CREATED,
            Json(super::users::UserView::new(&u, state.app.clock.now())),
        )
            .into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// Email the caller a code with which to set a new password.
#[utoipa::path(post, path = "/me/password/code", tag = "Sign-in", security(("bearer" = [])),
    responses((status = 202, body = CodeRequested), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn password_code(State(state): State<WebState>, caller: Caller) -> Response {
    match state
        .app
        .request_password_code(caller.principal(), &caller.ctx.meta)
        .await
    {
        Ok(attempt) => (
            StatusCode::ACCEPTED,
            Json(CodeRequested {
                attempt_id: attempt.to_string(),
            }),
        )
            .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    attempt_id: String,
    code: String,
    password: String,
}

/// Set the caller's password, with the emailed code.
#[utoipa::path(put, path = "/me/password", tag = "Sign-in", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204, description = "Password set"), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn change_password(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<PasswordChange>,
) -> Response {
    let b = &body.data;
    match state
        .app
        .set_password(
            caller.principal(),
            &b.attempt_id,
            &b.code,
            &b.password,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Sign out: the token stops working.
#[utoipa::path(delete, path = "/auth/token", tag = "Sign-in", security(("bearer" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, body = ApiErrorBody)))]
async fn delete_token(State(state): State<WebState>, caller: Caller) -> Response {
    match state
        .app
        .sign_out(caller.principal(), &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationView {
    id: String,
    name: String,
    kind: &'static str,
    ukprn: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    id: String,
    name: String,
}

impl RoleView {
    pub fn named(id: String, name: String) -> Self {
        Self { id, name }
    }
}

impl From<&app::records::RoleGrant> for RoleView {
    fn from(r: &app::records::RoleGrant) -> Self {
        Self {
            id: r.role.id(),
            name: r.name(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Me {
    id: String,
    email: String,
    title: String,
    first_name: String,
    last_name: String,
    organisation: OrganisationView,
    roles: Vec<RoleView>,
}

/// Who the token belongs to: account, organisation, roles.
#[utoipa::path(get, path = "/me", tag = "Sign-in", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ApiErrorBody)))]
async fn me(caller: Caller) -> Response {
    let p = caller.principal();
    Json(Me {
        id: p.user.id.to_string(),
        email: p.user.email.to_string(),
        title: p.user.title.clone(),
        first_name: p.user.first_name.clone(),
        last_name: p.user.last_name.clone(),
        organisation: OrganisationView {
            id: p.organisation.id.to_string(),
            name: p.organisation.name.clone(),
            kind: p.organisation.kind.as_str(),
            ukprn: p.organisation.ukprn.as_ref().map(|u| u.to_string()),
        },
        roles: p.roles.iter().map(RoleView::from).collect(),
    })
    .into_response()
}
