//! Feedback (API.md "Collections and submissions"; seed 001): anyone signed in
//! sends feedback about the portal; the regulator's administrators read it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::rfc3339;
use super::{ApiJson, Caller};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new().routes(routes!(send_feedback, read_feedback))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    feedback: String,
}

#[derive(Serialize, ToSchema)]
struct FeedbackView {
    id: String,
    user_id: String,
    organisation_id: String,
    feedback: String,
    created_at: String,
}

/// Send feedback about the portal (seed 001).
#[utoipa::path(post, path = "/feedback", tag = "Feedback", security(("bearer" = [])), request_body = FeedbackBody,
    responses((status = 204, description = "Thank you"), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody)))]
async fn send_feedback(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<FeedbackBody>,
) -> Response {
    match state
        .app
        .send_feedback(caller.principal(), &body.data.feedback, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        // The use case audited the refusal.
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Read feedback, newest first (regulator administrators), `?page=`.
#[utoipa::path(get, path = "/feedback", tag = "Feedback", security(("bearer" = [])),
    params(("page" = Option<i64>, Query)),
    responses((status = 200, body = Vec<FeedbackView>), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn read_feedback(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1);
    match state
        .app
        .read_feedback(caller.principal(), page, &caller.ctx.meta)
        .await
    {
        Ok((items, _)) => Json(
            items
                .iter()
                .map(|f| FeedbackView {
                    id: f.id.to_string(),
                    user_id: f.user_id.to_string(),
                    organisation_id: f.organisation_id.to_string(),
                    feedback: f.body.clone(),
                    created_at: rfc3339(f.created_at),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
