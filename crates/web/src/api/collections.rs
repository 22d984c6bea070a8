//! Collections, submissions, documents and feedback (API.md "Collections and
//! submissions"). Uploads are `multipart/form-data` with one or more `file`
//! parts; a refused upload is answered before its body is read.

use std::collections::HashMap;

use app::AppError;
use app::collections::{VisibleWindow, WindowInput};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::OrgId;
use domain::collection::{FileKind, SubmissionStatus};
use serde::{Deserialize, Serialize};
use store::{FileRecord, SubmissionRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::files::{self, UploadFailure};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list_windows, create_window))
        .routes(routes!(update_window))
        .routes(routes!(close_window))
        .routes(routes!(progress))
        .routes(routes!(list_submissions, upload))
        .routes(routes!(show_submission))
        .routes(routes!(submit))
        .routes(routes!(first_file))
        .routes(routes!(one_file))
        .routes(routes!(set_status))
        .routes(routes!(list_documents))
        .routes(routes!(publish))
        .routes(routes!(document_file))
        .routes(routes!(send_feedback, read_feedback))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
struct WindowView {
    id: String,
    area: String,
    area_name: String,
    name: String,
    opens_at: String,
    closes_at: String,
    /// `upcoming`, `open` or `closed`.
    state: &'static str,
    guidance: String,
    file_types: Vec<&'static str>,
}

fn window_view(w: &VisibleWindow, now: OffsetDateTime) -> WindowView {
    WindowView {
        id: w.window.id.to_string(),
        area: w.area.slug.to_string(),
        area_name: w.area.name.clone(),
        name: w.window.name.clone(),
        opens_at: rfc3339(w.window.opens_at),
        closes_at: rfc3339(
            w.window
                .closes_at
                .min(w.window.closed_at.unwrap_or(w.window.closes_at)),
        ),
        state: w.window.state(now).as_str(),
        guidance: w.window.guidance.clone(),
        file_types: w.window.file_types.iter().map(|k| k.as_str()).collect(),
    }
}

/// The windows the caller may see.
#[utoipa::path(get, path = "/collections", tag = "Collections", security(("bearer" = [])),
    responses((status = 200, body = Vec<WindowView>), (status = 401, body = ApiErrorBody)))]
async fn list_windows(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.visible_windows(caller.principal()).await {
        Ok(ws) => {
            let now = state.app.clock.now();
            Json(ws.iter().map(|w| window_view(w, now)).collect::<Vec<_>>()).into_response()
        }
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    area: String,
    name: String,
    #[schema(format = DateTime)]
    opens_at: String,
    #[schema(format = DateTime)]
    closes_at: String,
    #[serde(default)]
    guidance: String,
    /// `csv`, `xlsx`, `pdf`; all three when absent.
    file_types: Option<Vec<String>>,
}

fn window_input(b: &WindowBody) -> Result<WindowInput, AppError> {
    let time = |field: &'static str, v: &str| {
        OffsetDateTime::parse(v, &Rfc3339)
            .map_err(|_| AppError::invalid(field, "Give a time like 2027-07-31T17:00:00Z"))
    };
    Ok(WindowInput {
        area: b.area.clone(),
        name: b.name.clone(),
        opens_at: Some(time("opens_at", &b.opens_at)?),
        closes_at: Some(time("closes_at", &b.closes_at)?),
        guidance: b.guidance.clone(),
        file_types: b.file_types.clone().unwrap_or_else(|| {
            FileKind::ALL
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect()
        }),
    })
}

/// Open a collection window for a data return (regulator administrators).
#[utoipa::path(post, path = "/collections", tag = "Collections", security(("bearer" = [])), request_body = WindowBody,
    responses((status = 201, body = WindowView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn create_window(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<WindowBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = match window_input(&body.data) {
        Ok(input) => {
            state
                .app
                .create_window(caller.principal(), &input, meta)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(w) => {
            let area = state
                .app
                .areas()
                .await
                .ok()
                .and_then(|a| a.into_iter().find(|x| x.slug == w.area));
            match area {
                Some(area) => (
                    StatusCode::CREATED,
                    Json(window_view(
                        &VisibleWindow { window: w, area },
                        state.app.clock.now(),
                    )),
                )
                    .into_response(),
                None => ApiError::new(AppError::internal("window of a missing area"), meta)
                    .into_response(),
            }
        }
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Change a window's name, times, guidance or file types (regulator administrators).
#[utoipa::path(put, path = "/collections/{id}", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = WindowBody,
    responses((status = 200, body = WindowView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn update_window(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<WindowBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = match window_input(&body.data) {
        Ok(input) => {
            state
                .app
                .update_window(caller.principal(), &id, &input, meta)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => match state
            .app
            .window_for(
                caller.principal(),
                &id,
                &[domain::collection::Work::ManageWindows],
                "windows.view",
                meta,
            )
            .await
        {
            Ok(w) => Json(window_view(&w, state.app.clock.now())).into_response(),
            Err(e) => ApiError::new(e, meta).into_response(),
        },
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Close a window now (regulator administrators).
#[utoipa::path(post, path = "/collections/{id}/close", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Closed"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn close_window(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .close_window(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Serialize, ToSchema)]
struct FileView {
    id: String,
    filename: String,
    kind: &'static str,
    size: i64,
    sha256: String,
}

fn file_view(f: &FileRecord) -> FileView {
    FileView {
        id: f.id.to_string(),
        filename: f.filename.clone(),
        kind: f.kind.as_str(),
        size: f.size,
        sha256: hex::encode(&f.sha256),
    }
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

/// Turns a failed upload into the API's answer, audited.
async fn upload_refused(state: &WebState, caller: &Caller, f: UploadFailure) -> Response {
    let meta = &caller.ctx.meta;
    state
        .app
        .record_refusal(
            meta,
            Some(caller.principal()),
            "submissions.upload",
            &f.detail(),
        )
        .await;
    match f {
        UploadFailure::NotMultipart => ApiError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the files as multipart/form-data",
        )
        .into_response(),
        UploadFailure::TooLarge(limit) => ApiError::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("The file must be {limit} or smaller"),
        )
        .into_response(),
        UploadFailure::Invalid(field, why) => {
            ApiError::new(AppError::invalid(field, why), meta).into_response()
        }
        UploadFailure::BadToken => {
            ApiError::new(AppError::Forbidden("Form token missing".into()), meta).into_response()
        }
        UploadFailure::Internal(e) => ApiError::new(e, meta).into_response(),
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
        Err(f) => return upload_refused(&state, &caller, f).await,
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

#[derive(Serialize, ToSchema)]
struct ProgressView {
    organisation_id: String,
    organisation_name: String,
    ukprn: Option<String>,
    /// The newest submitted version's status, or `not_submitted`.
    status: &'static str,
    version: Option<i64>,
}

/// Every provider and where its return stands: who has not submitted
/// (regulator administrators and the area's officers).
#[utoipa::path(get, path = "/collections/{id}/progress", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<ProgressView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn progress(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .window_progress(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok((_, rows)) => Json(
            rows.iter()
                .map(|p| ProgressView {
                    organisation_id: p.organisation.id.to_string(),
                    organisation_name: p.organisation.name.clone(),
                    ukprn: p.organisation.ukprn.as_ref().map(|u| u.to_string()),
                    status: p
                        .latest
                        .as_ref()
                        .map_or("not_submitted", |s| s.status.as_str()),
                    version: p.latest.as_ref().map(|s| s.version),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Serialize, ToSchema)]
struct DocumentView {
    id: String,
    area: String,
    area_name: String,
    title: String,
    file: FileView,
    published_at: String,
}

fn document_view(d: &store::DocumentRecord, area: &domain::role::Area) -> DocumentView {
    DocumentView {
        id: d.id.to_string(),
        area: area.slug.to_string(),
        area_name: area.name.clone(),
        title: d.title.clone(),
        file: file_view(&d.file),
        published_at: rfc3339(d.published_at),
    }
}

/// The documents shared with the caller's provider (officers: their areas').
#[utoipa::path(get, path = "/documents", tag = "Documents", security(("bearer" = [])),
    responses((status = 200, body = Vec<DocumentView>), (status = 401, body = ApiErrorBody)))]
async fn list_documents(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.visible_documents(caller.principal()).await {
        Ok(docs) => Json(
            docs.iter()
                .map(|d| document_view(&d.document, &d.area))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Publish a document in a communication area to chosen providers (regulator
/// officers): `title`, `recipients` (organisation ids, repeated) and one `file`.
#[utoipa::path(post, path = "/areas/{slug}/documents", tag = "Documents", security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "`title`, `recipients` (repeated), `file`"),
    responses((status = 201, body = DocumentView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 413, body = ApiErrorBody)))]
async fn publish(
    State(state): State<WebState>,
    caller: Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let (area, ticket) = match state.app.prepare_publish(actor, &slug, meta).await {
        Ok(t) => t,
        Err(e) => return ApiError::new(e, meta).into_response(),
    };
    let mut parts = match files::receive(&state.app, &headers, body, &ticket, None).await {
        Ok(p) => p,
        Err(f) => return upload_refused(&state, &caller, f).await,
    };
    if parts.files.len() != 1 {
        parts.discard().await;
        return refuse(
            &state,
            &caller,
            AppError::invalid("file", "Attach exactly one file"),
        )
        .await;
    }
    let title = parts.field("title").unwrap_or_default().to_owned();
    let recipients = parts.all("recipients");
    let Some(file) = parts.files.pop() else {
        return refuse(
            &state,
            &caller,
            AppError::invalid("file", "Attach exactly one file"),
        )
        .await;
    };
    match state
        .app
        .publish_document(actor, ticket, &title, &recipients, file, meta)
        .await
    {
        Ok(d) => (StatusCode::CREATED, Json(document_view(&d, &area))).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// A document's file, as an attachment (404 for a provider it was not shared with).
#[utoipa::path(get, path = "/documents/{id}/file", tag = "Documents", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The bytes, Content-Disposition: attachment"),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn document_file(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state.app.open_document(caller.principal(), &id, meta).await {
        Ok((record, reader)) => files::download(&record, reader),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
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
