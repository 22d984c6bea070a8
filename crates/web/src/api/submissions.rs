//! Submissions (API.md "Collections and submissions"): a window's submissions,
//! uploading a version, submitting a draft, a version's files, and its outcome
//! (regulator officers). Uploads are `multipart/form-data` with one or more
//! `file` parts; a refused upload is answered before its body is read.

use std::collections::HashMap;

use app::AppError;
use app::collections::SubmitInput;
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
        .routes(routes!(validation))
        .routes(routes!(validation_csv))
        .routes(routes!(sign_off))
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
    /// The explanation of its warnings, given at submission (issue 16).
    explanation: Option<String>,
    /// Why it came after the window closed; set only on a late submission.
    late_reason: Option<String>,
    late: bool,
    /// The provider's Portal Administrator's sign-off.
    signed_off_by: Option<String>,
    signed_off_at: Option<String>,
    /// Errors and warnings the column rules found in its files.
    errors: u64,
    warnings: u64,
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
        explanation: s.explanation.clone(),
        late_reason: s.late_reason.clone(),
        late: s.late_reason.is_some(),
        signed_off_by: s.signed_off_by.map(|u| u.to_string()),
        signed_off_at: s.signed_off_at.map(rfc3339),
        errors: s.errors(),
        warnings: s.warnings(),
    }
}

/// An upload's answer: the version, its checks' counts, and — when it was to
/// be submitted at once but stays a draft — why (`status` is then `draft`).
#[derive(Serialize, ToSchema)]
struct UploadView {
    #[serde(flatten)]
    submission: SubmissionView,
    validation: ValidationCounts,
    /// Why the version was kept as a draft instead of being submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_submitted: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ValidationCounts {
    errors: u64,
    warnings: u64,
    /// Data rows in the checked (CSV) files.
    data_rows: u64,
}

fn counts(s: &SubmissionRecord) -> ValidationCounts {
    ValidationCounts {
        errors: s.errors(),
        warnings: s.warnings(),
        data_rows: s.checks.iter().map(|c| c.data_rows).sum(),
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
/// version, submitted at once (or kept as a draft with `draft=true`). On a
/// window with column rules each CSV file is checked as it arrives; a version
/// whose checks do not allow submitting (errors, or warnings without an
/// `explanation`) — or a late one without a `late_reason` — is kept as a
/// draft: `201` with `status` `draft`, the counts in `validation` and why in
/// `not_submitted`.
#[utoipa::path(post, path = "/collections/{id}/submissions", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "`file` (one or more), `note`, `explanation`, `late_reason`, `draft`"),
    responses((status = 201, body = UploadView), (status = 400, body = ApiErrorBody),
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
    let text = |name| parts.field(name).unwrap_or_default().to_owned();
    let input = SubmitInput {
        note: text("note"),
        explanation: text("explanation"),
        late_reason: text("late_reason"),
    };
    let draft = parts.field("draft") == Some("true");
    let result = state
        .app
        .store_upload(actor, ticket, parts.files, &input, !draft, meta)
        .await;
    match result {
        Ok(up) => {
            let view = UploadView {
                validation: counts(&up.submission),
                submission: submission_view(&up.submission),
                not_submitted: up.kept_as_draft,
            };
            (StatusCode::CREATED, Json(view)).into_response()
        }
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
    /// Why the warnings are as they are: needed when there are any.
    #[serde(default)]
    explanation: String,
    /// Why the return is late: needed after the window's closing time.
    #[serde(default)]
    late_reason: String,
}

/// Submit a draft version, with a note: `409` while it has errors, or
/// warnings without an `explanation`; `400` without a `late_reason` after
/// the window's closing time (on a window that takes late returns).
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
        .submit_draft(
            caller.principal(),
            &id,
            &SubmitInput {
                note: body.data.note.clone(),
                explanation: body.data.explanation.clone(),
                late_reason: body.data.late_reason.clone(),
            },
            &caller.ctx.meta,
        )
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
struct FindingView {
    /// The row as a spreadsheet numbers it (the header is row 1); `null` for
    /// the file as a whole.
    row: Option<u64>,
    column: String,
    message: String,
    /// The rule broken (the report groups by it) and the file it is in.
    rule: String,
    filename: String,
}

#[derive(Serialize, ToSchema)]
struct RuleCountView {
    severity: &'static str,
    rule: String,
    column: String,
    count: u64,
    first_row: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct FileCheckView {
    file_id: String,
    filename: String,
    data_rows: u64,
    errors: u64,
    warnings: u64,
    rules: Vec<RuleCountView>,
}

#[derive(Serialize, ToSchema)]
struct ValidationView {
    errors: Vec<FindingView>,
    warnings: Vec<FindingView>,
    error_count: u64,
    warning_count: u64,
    /// Whether the lists stop short of the counts (the first findings of
    /// each file are kept; `validation.csv` has them all).
    truncated: bool,
    files: Vec<FileCheckView>,
}

/// A version's validation report: its errors and warnings with row and
/// column (API.md), with the exact counts and each file's counts by rule.
#[utoipa::path(get, path = "/submissions/{id}/validation", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ValidationView), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn validation(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    let v = match state.app.validation(caller.principal(), &id, meta).await {
        Ok(v) => v,
        Err(e) => return ApiError::new(e, meta).into_response(),
    };
    let mut view = ValidationView {
        errors: Vec::new(),
        warnings: Vec::new(),
        error_count: v.submission.errors(),
        warning_count: v.submission.warnings(),
        truncated: false,
        files: Vec::new(),
    };
    for f in &v.files {
        view.truncated |= (f.findings.len() as u64) < f.check.errors + f.check.warnings;
        for finding in &f.findings {
            let item = FindingView {
                row: finding.row,
                column: finding.column.clone(),
                message: finding.message.clone(),
                rule: finding.rule.clone(),
                filename: f.file.filename.clone(),
            };
            match finding.severity {
                domain::checks::Severity::Error => view.errors.push(item),
                domain::checks::Severity::Warning => view.warnings.push(item),
            }
        }
        view.files.push(FileCheckView {
            file_id: f.file.id.to_string(),
            filename: f.file.filename.clone(),
            data_rows: f.check.data_rows,
            errors: f.check.errors,
            warnings: f.check.warnings,
            rules: f
                .check
                .rule_counts
                .iter()
                .map(|r| RuleCountView {
                    severity: r.severity.as_str(),
                    rule: r.rule.clone(),
                    column: r.column.clone(),
                    count: r.count,
                    first_row: r.first_row,
                })
                .collect(),
        });
    }
    Json(view).into_response()
}

/// The whole validation report as CSV (every finding, the stored files
/// checked again against the rules they were checked with); audited.
#[utoipa::path(get, path = "/submissions/{id}/validation.csv", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "text/csv: File, Row, Column, Severity, Rule, Message"),
        (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn validation_csv(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state
        .app
        .validation_csv(caller.principal(), &id, meta)
        .await
    {
        Ok((name, reader)) => crate::pages::report_download(&name, reader),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignOffBody {
    /// `true`: the Portal Administrator confirms the declaration.
    #[serde(default)]
    declaration: bool,
}

/// Sign a submitted version off with the declaration (the provider's Portal
/// Administrator): `409` before submission or once signed off.
#[utoipa::path(post, path = "/submissions/{id}/sign-off", tag = "Collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SignOffBody,
    responses((status = 200, body = SubmissionView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn sign_off(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<SignOffBody>,
) -> Response {
    match state
        .app
        .sign_off(
            caller.principal(),
            &id,
            body.data.declaration,
            &caller.ctx.meta,
        )
        .await
    {
        Ok(s) => Json(submission_view(&s)).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}
