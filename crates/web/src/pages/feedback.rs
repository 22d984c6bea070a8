//! The feedback page (seed 001): anyone signed in sends feedback about the
//! portal; the regulator's administrators also read what was received.

use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::forms::{Errors, encode, error_for, first, pairs, summary};
use super::returns::when;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new().route("/feedback", get(feedback_form).post(feedback_submit))
}

struct FeedbackRow {
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "pages/collections/feedback.html")]
struct FeedbackPage {
    layout: Layout,
    text: String,
    sent: bool,
    received: Vec<FeedbackRow>,
    errors: Errors,
    fields: FieldErrors,
}

impl FeedbackPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

async fn feedback_page(
    page: &Page,
    status: StatusCode,
    text: String,
    sent: bool,
    fields: FieldErrors,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let reads = domain::authz::may_do_regulator_task(
        actor.organisation.kind,
        &actor.role_list(),
        domain::authz::RegulatorTask::Feedback,
    )
    .is_ok();
    let received = if reads {
        match app.read_feedback(actor, 1, &page.ctx.meta).await {
            Ok((items, _)) => items
                .into_iter()
                .map(|f| FeedbackRow {
                    at: when(f.created_at),
                    body: f.body,
                })
                .collect(),
            Err(e) => return page.error(e),
        }
    } else {
        Vec::new()
    };
    let view = FeedbackPage {
        layout: page.layout(if fields.is_empty() {
            "Feedback"
        } else {
            "Error: Feedback"
        }),
        text,
        sent,
        received,
        errors: summary(&fields),
        fields,
    };
    page.render(status, &view)
}

async fn feedback_form(page: Page, RawQuery(raw): RawQuery) -> Response {
    let sent = first(&pairs(raw), "sent").is_some();
    feedback_page(
        &page,
        StatusCode::OK,
        String::new(),
        sent,
        FieldErrors::new(),
    )
    .await
}

#[derive(Deserialize)]
struct FeedbackForm {
    #[serde(default)]
    feedback: String,
}

async fn feedback_submit(form: Form<FeedbackForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .send_feedback(actor, &data.feedback, &page.ctx.meta)
        .await
    {
        Ok(()) => Redirect::to(&format!("/feedback?{}", encode(&[("sent", "1")]))).into_response(),
        Err(AppError::Invalid(fields)) => {
            feedback_page(&page, StatusCode::BAD_REQUEST, data.feedback, false, fields).await
        }
        Err(e) => page.error(e),
    }
}
