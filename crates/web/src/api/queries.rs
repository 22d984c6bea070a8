//! Queries on a submission (issue 16): officers raise and close them, the
//! provider's people who see the return and the area's officers write in
//! them. A query of another provider is answered as a missing one (404).

use std::collections::HashMap;

use app::AppError;
use app::collections::QueryThread;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::rfc3339;
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list_for_submission, raise))
        .routes(routes!(add_message))
        .routes(routes!(close))
        .routes(routes!(list))
}

#[derive(Serialize, ToSchema)]
struct MessageView {
    id: String,
    author: String,
    /// Written by the regulator (else by the provider's people).
    from_regulator: bool,
    body: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct QueryView {
    id: String,
    submission_id: String,
    window_id: String,
    window: String,
    organisation_id: String,
    organisation: String,
    version: i64,
    subject: String,
    /// `open` or `closed`.
    status: &'static str,
    raised_by: String,
    raised_at: String,
    closed_by: Option<String>,
    closed_at: Option<String>,
    messages: Vec<MessageView>,
    /// Whether the caller may write in it now.
    may_answer: bool,
    /// Whether the caller may close it now.
    may_close: bool,
}

fn query_view(t: &QueryThread) -> QueryView {
    QueryView {
        id: t.id.to_string(),
        submission_id: t.submission_id.to_string(),
        window_id: t.window_id.to_string(),
        window: t.window.clone(),
        organisation_id: t.organisation_id.to_string(),
        organisation: t.organisation.clone(),
        version: t.version,
        subject: t.subject.clone(),
        status: if t.is_open() { "open" } else { "closed" },
        raised_by: t.raised_by.clone(),
        raised_at: rfc3339(t.raised_at),
        closed_by: t.closed_by.clone(),
        closed_at: t.closed_at.map(rfc3339),
        messages: t
            .messages
            .iter()
            .map(|m| MessageView {
                id: m.id.to_string(),
                author: m.author.clone(),
                from_regulator: m.from_regulator,
                body: m.body.clone(),
                created_at: rfc3339(m.at),
            })
            .collect(),
        may_answer: t.may_answer,
        may_close: t.may_close,
    }
}

/// The queries on a submission version, oldest first.
#[utoipa::path(get, path = "/submissions/{id}/queries", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<QueryView>), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn list_for_submission(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state
        .app
        .submission_queries(caller.principal(), &id, meta)
        .await
    {
        Ok(list) => Json(list.iter().map(query_view).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RaiseBody {
    /// 1 to 150 characters, one line.
    subject: String,
    /// 1 to 5,000 characters of plain text.
    message: String,
}

/// Raise a query on a submitted version (regulator officers of its area);
/// the provider's contributors for the return are emailed.
#[utoipa::path(post, path = "/submissions/{id}/queries", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RaiseBody,
    responses((status = 201, body = QueryView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn raise(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<RaiseBody>,
) -> Response {
    let b = &body.data;
    match state
        .app
        .raise_query(
            caller.principal(),
            &id,
            &b.subject,
            &b.message,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(t) => (StatusCode::CREATED, Json(query_view(&t))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    /// 1 to 5,000 characters of plain text.
    message: String,
}

/// Write in an open query's thread (the provider's people who see the
/// return, the area's officers); the other side is emailed.
#[utoipa::path(post, path = "/queries/{id}/messages", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MessageBody,
    responses((status = 201, body = QueryView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn add_message(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<MessageBody>,
) -> Response {
    match state
        .app
        .answer_query(
            caller.principal(),
            &id,
            &body.data.message,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(t) => (StatusCode::CREATED, Json(query_view(&t))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Close an open query (regulator officers of its area).
#[utoipa::path(post, path = "/queries/{id}/close", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = QueryView), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn close(State(state): State<WebState>, caller: Caller, Path(id): Path<String>) -> Response {
    match state
        .app
        .close_query(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok(t) => Json(query_view(&t)).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// The queries the caller may see, most recently active first: a provider's
/// people their provider's, on the returns they work on; officers their
/// areas'. `?open=true` for the open ones only.
#[utoipa::path(get, path = "/queries", tag = "Collections", security(("bearer" = [])),
    params(("open" = Option<bool>, Query)),
    responses((status = 200, body = Vec<QueryView>), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody)))]
async fn list(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let open_only = match q.get("open").map(String::as_str) {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => {
            let e = AppError::invalid("open", "Use open=true or open=false");
            return refuse(&state, &caller, e).await;
        }
    };
    match state
        .app
        .visible_queries(caller.principal(), open_only)
        .await
    {
        Ok(list) => Json(list.iter().map(query_view).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
