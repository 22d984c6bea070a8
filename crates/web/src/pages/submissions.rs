//! Submissions (PRODUCT §6): a provider's team uploads files to an open
//! window and submits a version; the regulator's officers set its outcome;
//! both download its files. A submission's page (issue 16) shows its
//! validation report, the submit form, the Portal Administrator's sign-off,
//! the officer's outcome, its queries and what changed since the version
//! before. A refused form shows the page it came from again (the window's,
//! [`super::windows::show_page`], or the submission's) with the reason.
//!
//! Upload forms are `multipart/form-data` whose first field is the form token:
//! a request without the right token is refused before any file is read.

use app::AppError;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::collection::Work;
use serde::Deserialize;

use super::returns::upload_problem;
use super::submission_page::{Shown, show_submission};
use super::windows::show_page;
use crate::files;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/collections/{id}/upload", post(upload))
        .route("/submissions/{id}/submit", post(submit))
        .route("/submissions/{id}/status", post(set_status))
        .route("/submissions/{id}/files/{file}", get(download))
        .route("/submissions/{id}", get(show))
        .route("/submissions/{id}/sign-off", post(sign_off))
        .route("/submissions/{id}/report.csv", get(report_csv))
}

async fn upload(page: Page, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    let (_, ticket) = match app.prepare_upload(actor, &id, meta).await {
        Ok(t) => t,
        Err(AppError::Conflict(why)) => {
            return show_page(
                &page,
                &id,
                &[],
                StatusCode::CONFLICT,
                String::new(),
                (why, "file".into()),
            )
            .await;
        }
        Err(e) => return page.error(e),
    };
    let token = page.csrf_token();
    let parts = match files::receive(app, &headers, body, &ticket, Some(&token)).await {
        Ok(p) => p,
        Err(f) => {
            app.record_refusal(meta, Some(actor), "submissions.upload", &f.detail())
                .await;
            let (status, why) = upload_problem(&f);
            return show_page(&page, &id, &[], status, String::new(), (why, "file".into())).await;
        }
    };
    if parts.files.is_empty() {
        app.record_refusal(meta, Some(actor), "submissions.upload", "no file")
            .await;
        return show_page(
            &page,
            &id,
            &[],
            StatusCode::BAD_REQUEST,
            String::new(),
            ("Select a file to upload".into(), "file".into()),
        )
        .await;
    }
    let input = app::collections::SubmitInput::default();
    match app
        .store_upload(actor, ticket, parts.files, &input, false, meta)
        .await
    {
        // With column rules, the report is on the version's own page.
        Ok(up) if !up.submission.checks.is_empty() => {
            Redirect::to(&format!("/submissions/{}?uploaded=1", up.submission.id)).into_response()
        }
        Ok(_) => Redirect::to(&format!("/collections/{id}?uploaded=1")).into_response(),
        Err(AppError::Invalid(fields)) => {
            app.record_refusal(meta, Some(actor), "submissions.upload", "invalid upload")
                .await;
            let why = fields.values().next().cloned().unwrap_or_default();
            show_page(
                &page,
                &id,
                &[],
                StatusCode::BAD_REQUEST,
                String::new(),
                (why, "file".into()),
            )
            .await
        }
        Err(AppError::Conflict(why)) => {
            show_page(
                &page,
                &id,
                &[],
                StatusCode::CONFLICT,
                String::new(),
                (why, "file".into()),
            )
            .await
        }
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct SubmitForm {
    #[serde(default)]
    note: String,
    #[serde(default)]
    explanation: String,
    #[serde(default)]
    late_reason: String,
    /// `submission` when the form is the submission page's.
    #[serde(default)]
    from: String,
}

async fn submit(Path(id): Path<String>, form: Form<SubmitForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let input = app::collections::SubmitInput {
        note: data.note.clone(),
        explanation: data.explanation.clone(),
        late_reason: data.late_reason.clone(),
    };
    match app.submit_draft(actor, &id, &input, &page.ctx.meta).await {
        Ok(s) if data.from == "submission" => {
            Redirect::to(&format!("/submissions/{}?submitted=1", s.id)).into_response()
        }
        Ok(s) => Redirect::to(&format!("/collections/{}?submitted=1", s.window_id)).into_response(),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid(_))) => {
            // A conflict was audited by the use case; bad input is audited here.
            if matches!(e, AppError::Invalid(_)) {
                app.record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "submissions.submit",
                    "invalid form",
                )
                .await;
            }
            let window = app
                .submission_for(actor, &id, Work::Submit, "submissions.view", &page.ctx.meta)
                .await
                .ok()
                .map(|(s, _)| s);
            let (why, field) = match &e {
                AppError::Conflict(w) if w.contains("warning") => (w.clone(), "explanation"),
                AppError::Conflict(w) => (w.clone(), "note"),
                AppError::Invalid(f) => f
                    .iter()
                    .next()
                    .map(|(k, v)| (v.clone(), *k))
                    .unwrap_or_default(),
                _ => (String::new(), "note"),
            };
            let field = if field == "file" { "note" } else { field };
            let status = match e {
                AppError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            match window {
                Some(_) if data.from == "submission" => {
                    let shown = Shown {
                        note: data.note,
                        explanation: data.explanation,
                        late_reason: data.late_reason,
                    };
                    show_submission(
                        &page,
                        &id,
                        status,
                        String::new(),
                        (why, field.into()),
                        shown,
                    )
                    .await
                }
                Some(s) => {
                    show_page(
                        &page,
                        &s.window_id.to_string(),
                        &[],
                        status,
                        String::new(),
                        (why, field.into()),
                    )
                    .await
                }
                None => page.error(e),
            }
        }
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    from: String,
}

async fn set_status(Path(id): Path<String>, form: Form<StatusForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    match app
        .set_submission_status(actor, &id, &data.status, &data.comment, &page.ctx.meta)
        .await
    {
        Ok(s) if data.from == "submission" => {
            Redirect::to(&format!("/submissions/{}?reviewed=1", s.id)).into_response()
        }
        Ok(s) => Redirect::to(&format!("/collections/{}?reviewed=1", s.window_id)).into_response(),
        Err(AppError::Conflict(why)) => {
            // Accepting before the required sign-off: said beside the outcome.
            let field = format!("status-{id}");
            show_submission(
                &page,
                &id,
                StatusCode::CONFLICT,
                String::new(),
                (why, field),
                Shown::default(),
            )
            .await
        }
        Err(AppError::Invalid(fields)) => {
            app.record_refusal(
                &page.ctx.meta,
                Some(actor),
                "submissions.status",
                "invalid form",
            )
            .await;
            let window = app
                .submission_for(actor, &id, Work::Review, "submissions.view", &page.ctx.meta)
                .await
                .ok()
                .map(|(s, _)| s);
            // The message goes beside the field it is about: the outcome, or
            // the comment (needed to return a submission for amendment).
            let (why, field) = match (fields.get("status"), fields.get("comment")) {
                (None, Some(why)) => (why.clone(), format!("comment-{id}")),
                (why, _) => (why.cloned().unwrap_or_default(), format!("status-{id}")),
            };
            match window {
                Some(_) if data.from == "submission" => {
                    show_submission(
                        &page,
                        &id,
                        StatusCode::BAD_REQUEST,
                        String::new(),
                        (why, field),
                        Shown::default(),
                    )
                    .await
                }
                Some(s) => {
                    show_page(
                        &page,
                        &s.window_id.to_string(),
                        &[],
                        StatusCode::BAD_REQUEST,
                        String::new(),
                        (why, field),
                    )
                    .await
                }
                None => page.error(AppError::NotFound),
            }
        }
        Err(e) => page.error(e),
    }
}

async fn download(page: Page, Path((id, file)): Path<(String, String)>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .open_submission_file(actor, &id, Some(&file), &page.ctx.meta)
        .await
    {
        Ok((record, reader)) => files::download(&record, reader),
        Err(e) => page.error(e),
    }
}

async fn show(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = super::forms::pairs(raw);
    let has = |k| super::forms::first(&q, k).is_some();
    let banner = if has("uploaded") {
        "Your file has been uploaded and checked. Its validation report is below."
    } else if has("submitted") {
        "Your submission has been received. Everyone at your organisation who contributes to this return has been sent a receipt."
    } else if has("signed") {
        "The return has been signed off and the regulator's officers have been told."
    } else if has("reviewed") {
        "The status has been saved and the provider's contributors have been told."
    } else {
        super::queries::notice(&q).unwrap_or_default()
    };
    show_submission(
        &page,
        &id,
        StatusCode::OK,
        banner.to_owned(),
        (String::new(), String::new()),
        Shown::default(),
    )
    .await
}

#[derive(Deserialize)]
struct SignOffForm {
    #[serde(default)]
    declaration: String,
}

async fn sign_off(Path(id): Path<String>, form: Form<SignOffForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let confirmed = data.declaration == "confirmed";
    match app.sign_off(actor, &id, confirmed, &page.ctx.meta).await {
        Ok(s) => Redirect::to(&format!("/submissions/{}?signed=1", s.id)).into_response(),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid(_))) => {
            let (status, why) = match e {
                AppError::Conflict(w) => (StatusCode::CONFLICT, w),
                AppError::Invalid(f) => (
                    StatusCode::BAD_REQUEST,
                    f.values().next().cloned().unwrap_or_default(),
                ),
                _ => (StatusCode::CONFLICT, String::new()),
            };
            // A conflict was audited by the use case; bad input is audited here.
            if status == StatusCode::BAD_REQUEST {
                app.record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "submissions.sign_off",
                    "invalid form",
                )
                .await;
            }
            show_submission(
                &page,
                &id,
                status,
                String::new(),
                (why, "declaration".into()),
                Shown::default(),
            )
            .await
        }
        Err(e) => page.error(e),
    }
}

async fn report_csv(page: Page, Path(id): Path<String>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .validation_csv(actor, &id, &page.ctx.meta)
        .await
    {
        Ok((name, reader)) => report_download(&name, reader),
        Err(e) => page.error(e),
    }
}

/// A validation report as a CSV attachment, streamed from the reader.
pub(crate) fn report_download(
    name: &str,
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
) -> Response {
    use axum::http::{HeaderValue, header};
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    let h = resp.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CONTENT_SECURITY_POLICY, "sandbox".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}
