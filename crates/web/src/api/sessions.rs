//! Sessions and API tokens (API.md "Sessions and API tokens"): the caller's
//! own sessions, ending one; signing a user out everywhere; personal API
//! tokens, created (shown once), listed and revoked.

use app::AppError;
use app::records::SessionKind;
use app::sessions::{ListedSession, ListedToken, NewTokenInput};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Caller};
use crate::error::{ApiError, ApiErrorBody};
use crate::path_id::PathId;
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(my_sessions))
        .routes(routes!(end_session))
        .routes(routes!(sign_out_everywhere))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(user_tokens))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// How API.md names a session's kind: a browser's is "browser".
pub fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Web => "browser",
        SessionKind::Api => "api",
        SessionKind::Token => "token",
    }
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    id: String,
    /// `browser`, `api` (signed in to the API) or `token` (a personal API token).
    kind: &'static str,
    created_at: String,
    last_seen_at: String,
    /// The session this request came with.
    current: bool,
}

impl From<&ListedSession> for SessionView {
    fn from(s: &ListedSession) -> Self {
        Self {
            id: s.id.to_string(),
            kind: kind_name(s.kind),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            current: s.current,
        }
    }
}

/// The caller's live sessions and API tokens, newest first.
#[utoipa::path(get, path = "/me/sessions", tag = "Sessions and API tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ApiErrorBody)))]
async fn my_sessions(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.my_sessions(caller.principal()).await {
        Ok(list) => Json(list.iter().map(SessionView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// End one of the caller's sessions (or tokens): it stops working at once.
/// Anyone else's is not found.
#[utoipa::path(delete, path = "/me/sessions/{id}", tag = "Sessions and API tokens", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Ended"), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn end_session(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<uuid::Uuid>,
) -> Response {
    match state
        .app
        .end_my_session(caller.principal(), id, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Sign a user out everywhere: every session and API token of theirs stops
/// working (administrators, by the same rules as `PATCH /users/{id}` changes
/// access). The user is emailed.
#[utoipa::path(post, path = "/users/{id}/sign-out", tag = "Sessions and API tokens", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Signed out everywhere"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn sign_out_everywhere(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<UserId>,
) -> Response {
    match state
        .app
        .sign_out_everywhere(caller.principal(), id, &caller.ctx.meta)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Serialize, ToSchema)]
struct TokenView {
    id: String,
    name: String,
    created_at: String,
    expires_at: String,
    /// `null` until the token is first used; then updated at most once a minute.
    last_used_at: Option<String>,
}

impl From<&ListedToken> for TokenView {
    fn from(t: &ListedToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// The caller's own live API tokens, newest first, never their secrets.
#[utoipa::path(get, path = "/api-tokens", tag = "Sessions and API tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ApiErrorBody)))]
async fn list_tokens(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.my_api_tokens(caller.principal()).await {
        Ok(list) => Json(list.iter().map(TokenView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// 1 to 100 characters, to tell your tokens apart.
    name: String,
    /// In the future, at most 365 days ahead.
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
struct Created {
    id: String,
    /// The token, shown this once: it is stored only as a hash. Send it as
    /// `Authorization: Bearer <token>`.
    token: String,
}

/// Create a personal API token that acts as the caller, with their roles as
/// they are at each request. Needs a signed-in session (not another API
/// token); at most 10 an hour and 25 live at once (429 with `Retry-After`).
#[utoipa::path(post, path = "/api-tokens", tag = "Sessions and API tokens", security(("bearer" = [])),
    request_body = CreateBody,
    responses((status = 201, body = Created), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 429, body = ApiErrorBody)))]
async fn create_token(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<CreateBody>,
) -> Response {
    let b = &body.data;
    let input = NewTokenInput {
        name: b.name.clone(),
        expires_at: OffsetDateTime::parse(b.expires_at.trim(), &Rfc3339).ok(),
    };
    let meta = &caller.ctx.meta;
    let result = if input.expires_at.is_none() && !b.expires_at.trim().is_empty() {
        // The use case would say "enter the date"; say what is wrong with it.
        state
            .app
            .record_refusal(
                meta,
                Some(caller.principal()),
                "api_tokens.create",
                "invalid: expires_at",
            )
            .await;
        Err(AppError::invalid(
            "expires_at",
            "Give a time like 2027-07-31T23:59:59Z",
        ))
    } else {
        // Every refusal is audited by the use case.
        state
            .app
            .create_api_token(caller.principal(), &input, meta)
            .await
    };
    match result {
        Ok(t) => (
            StatusCode::CREATED,
            Json(Created {
                id: t.listed.id.to_string(),
                token: t.token.expose().to_owned(),
            }),
        )
            .into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// Revoke an API token: the owner, or an administrator who may change the
/// owner's access. It stops working at once.
#[utoipa::path(delete, path = "/api-tokens/{id}", tag = "Sessions and API tokens", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn revoke_token(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<uuid::Uuid>,
) -> Response {
    match state
        .app
        .revoke_api_token(caller.principal(), id, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// A user's live API tokens (administrators who may change that user's
/// access, e.g. a Portal Administrator for their organisation's users).
#[utoipa::path(get, path = "/users/{id}/api-tokens", tag = "Sessions and API tokens", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn user_tokens(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<UserId>,
) -> Response {
    match state
        .app
        .user_tokens_for_admin(caller.principal(), id, &caller.ctx.meta)
        .await
    {
        Ok(list) => Json(list.iter().map(TokenView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
