//! Submissions (API.md "Collections and submissions"): a window's submissions,
//! uploading a version, submitting a draft, a version's files, and its outcome
//! (regulator officers). Uploads are `multipart/form-data` with one or more
//! `file` parts; a refused upload is answered before its body is read.

use std::collections::HashMap;

use app::AppError;
use app::records::SubmissionRecord;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::OrgId;
use domain::collection::SubmissionStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::{FileView, file_view, rfc3339, upload_refused};
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::files;
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list_submissions, upload))
        .routes(routes!(show_submission))
        .routes(routes!(submit))
        .routes(routes!(first_file))
        .routes(routes!(one_file))
        .routes(routes!(set_status))
}

#[derive(Serialize, ToSchema)]
struct SubmissionView {
    id: String,
    window_id: String,
    organisation_id: String,
    version: i64,
    /// `draft`, `submitted`, `returned` or `accepted`.
    status: &'static str,
    note: String,
    /// The first file's name and SHA-256 (API.md); every file is in `files`.
    filename: String,
    sha256: String,
    files: Vec<FileView>,
    created_by: String,
    submitted_by: Option<String>,
    submitted_at: Option<String>,
    status_comment: Option<String>,
    status_at: Option<String>,
}

fn submission_view(s: &SubmissionRecord) -> SubmissionView {
    let first = s.files.first();
    SubmissionView {
        id: s.id.to_string(),
        window_id: s.window_id.to_string(),
        organisation_id: s.organisation_id.to_string(),
        version: s.version,
        status: s.status.as_str(),
        note: s.note.clone(),
        filename: first.map(|f| f.filename.clone()).unwrap_or_default(),
        sha256: first.map(|f| hex::encode(&f.sha256)).unwrap_or_default(),
        files: s.files.iter().map(file_view).collect(),
        created_by: s.created_by.to_string(),
        submitted_by: s.submitted_by.map(|u| u.to_string()),
        submitted_at: s.submitted_at.map(rfc3339),
        status_comment: s.status_comment.clone(),
        status_at: s.status_at.map(rfc3339),
    }
}

/// The caller's provider's submissions to a window (with drafts); a regulator
/// officer's: every provider's submitted versions (`?status=&provider=`).
#[utoipa::path(get, path = "/collections/{id}/submissions", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path), ("status" = Option<String>, Query), ("provider" = Option<String>, Query)),
    responses((status = 200, body = Vec<SubmissionView>), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn list_submissions(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let meta = &caller.ctx.meta;
    let status = match q
        .get("status")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match SubmissionStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                let e = AppError::invalid("status", "Use draft, submitted, returned or accepted");
                return refuse(&state, &caller, e).await;
            }
        },
    };
    let provider = match q
        .get("provider")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(p) => match p.parse::<OrgId>() {
            Ok(o) => Some(o),
            Err(_) => {
                return refuse(
                    &state,
                    &caller,
                    AppError::invalid("provider", "Not an organisation id"),
                )
                .await;
            }
        },
    };
    let actor = caller.principal();
    let works = [
        domain::collection::Work::SeeReturns,
        domain::collection::Work::Review,
    ];
    let result = match state
        .app
        .window_for(actor, &id, &works, "submissions.list", meta)
        .await
    {
        Ok(w) => {
            state
                .app
                .window_submissions(actor, &w, provider, status)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(list) => Json(list.iter().map(submission_view).collect::<Vec<_>>()).into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// Upload one or more files (`file` parts) with an optional `note`: a new
/// version, submitted at once (or kept as a draft with `draft=true`).
#[utoipa::path(post, path = "/collections/{id}/submissions", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "`file` (one or more), `note`, `draft`"),
    responses((status = 201, body = SubmissionView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 413, body = ApiErrorBody), (status = 415, body = ApiErrorBody)))]
async fn upload(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let (_, ticket) = match state.app.prepare_upload(actor, &id, meta).await {
        Ok(t) => t,
        Err(e) => return ApiError::new(e, meta).into_response(),
    };
    let parts = match files::receive(&state.app, &headers, body, &ticket, None).await {
        Ok(p) => p,
        Err(f) => return upload_refused(&state, &caller, ticket.action(), f).await,
    };
    let note = parts.field("note").unwrap_or_default().to_owned();
    let draft = parts.field("draft") == Some("true");
    let result = state
        .app
        .store_upload(actor, ticket, parts.files, &note, !draft, meta)
        .await;
    match result {
        Ok(s) => (StatusCode::CREATED, Json(submission_view(&s))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// One submission version.
#[utoipa::path(get, path = "/submissions/{id}", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn show_submission(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state
        .app
        .submission_for(
            caller.principal(),
            &id,
            domain::collection::Work::SeeReturns,
            "submissions.view",
            meta,
        )
        .await
    {
        Ok((s, _)) => Json(submission_view(&s)).into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[serde(default)]
    note: String,
}

/// Submit a draft version, with a note.
#[utoipa::path(post, path = "/submissions/{id}/submit", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SubmitBody,
    responses((status = 200, body = SubmissionView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn submit(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<SubmitBody>,
) -> Response {
    match state
        .app
        .submit_draft(caller.principal(), &id, &body.data.note, &caller.ctx.meta)
        .await
    {
        Ok(s) => Json(submission_view(&s)).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

async fn send_file(state: &WebState, caller: &Caller, id: &str, file: Option<&str>) -> Response {
    let meta = &caller.ctx.meta;
    match state
        .app
        .open_submission_file(caller.principal(), id, file, meta)
        .await
    {
        Ok((record, reader)) => files::download(&record, reader),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// The submission's (first) file, as an attachment.
#[utoipa::path(get, path = "/submissions/{id}/file", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The bytes, Content-Disposition: attachment"),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn first_file(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    send_file(&state, &caller, &id, None).await
}

/// One file of a submission, as an attachment.
#[utoipa::path(get, path = "/submissions/{id}/files/{file_id}", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path), ("file_id" = String, Path)),
    responses((status = 200, description = "The bytes, Content-Disposition: attachment"),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn one_file(
    State(state): State<WebState>,
    caller: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    send_file(&state, &caller, &id, Some(&file)).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    /// `accepted` or `returned`.
    status: String,
    #[serde(default)]
    comment: String,
}

/// Set a submitted version's outcome, with a comment (regulator officers).
#[utoipa::path(post, path = "/submissions/{id}/status", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = StatusBody,
    responses((status = 200, body = SubmissionView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn set_status(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<StatusBody>,
) -> Response {
    let b = &body.data;
    match state
        .app
        .set_submission_status(
            caller.principal(),
            &id,
            &b.status,
            &b.comment,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(s) => Json(submission_view(&s)).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}
