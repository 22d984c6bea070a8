//! Submissions (PRODUCT §6): a provider's team uploads files to an open
//! window and submits a version; the regulator's officers set its outcome;
//! both download its files. A refused form shows the window's page again
//! ([`super::windows::show_page`]) with the reason.
//!
//! Upload forms are `multipart/form-data` whose first field is the form token:
//! a request without the right token is refused before any file is read.

use app::AppError;
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::collection::Work;
use serde::Deserialize;

use super::returns::upload_problem;
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
    match app
        .store_upload(actor, ticket, parts.files, "", false, meta)
        .await
    {
        Ok(_) => Redirect::to(&format!("/collections/{id}?uploaded=1")).into_response(),
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
}

async fn submit(Path(id): Path<String>, form: Form<SubmitForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    match app
        .submit_draft(actor, &id, &data.note, &page.ctx.meta)
        .await
    {
        Ok(s) => Redirect::to(&format!("/collections/{}?submitted=1", s.window_id)).into_response(),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid(_))) => {
            let window = app
                .submission_for(actor, &id, Work::Submit, "submissions.view", &page.ctx.meta)
                .await
                .ok()
                .map(|(s, _)| s);
            let why = match &e {
                AppError::Conflict(w) => w.clone(),
                AppError::Invalid(f) => f.values().next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            app.record_refusal(&page.ctx.meta, Some(actor), "submissions.submit", "refused")
                .await;
            match window {
                Some(s) => {
                    show_page(
                        &page,
                        &s.window_id.to_string(),
                        &[],
                        StatusCode::CONFLICT,
                        String::new(),
                        (why, "note".into()),
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
        Ok(s) => Redirect::to(&format!("/collections/{}?reviewed=1", s.window_id)).into_response(),
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
