//! The feedback page (seed 001): anyone signed in sends feedback about the
//! portal. The regulator's administrators read what was received, with who
//! sent it, on a page of their own (issue 15): the form shows no inbox.

use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::forms::{Errors, encode, error_for, first, pairs, summary};
use super::noun;
use super::pagination::{Pagination, last_page};
use super::returns::when;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/feedback", get(feedback_form).post(feedback_submit))
        .route("/feedback/received", get(received))
}

struct FeedbackRow {
    at: String,
    body: String,
    sender: String,
    email: String,
    organisation: String,
}

#[derive(Template)]
#[template(path = "pages/feedback/received.html")]
struct ReceivedPage {
    layout: Layout,
    items: Vec<FeedbackRow>,
    total: i64,
    noun: &'static str,
    page: i64,
    last_page: i64,
    pages: Pagination,
}

/// The regulator's Feedback page: what was received, newest first, a page at
/// a time, with who sent it.
async fn received(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let number = first(&pairs(raw), "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let got = match page
        .state
        .app
        .received_feedback(actor, number, &page.ctx.meta)
        .await
    {
        Ok(got) => got,
        Err(e) => return page.error(e),
    };
    let last = last_page(got.total, got.per_page);
    // Past the end (the list got shorter, or a typed address): the last page.
    if got.page > last {
        return Redirect::to(&format!("/feedback/received?page={last}")).into_response();
    }
    let view = ReceivedPage {
        layout: page.layout("Feedback"),
        items: got
            .items
            .into_iter()
            .map(|f| FeedbackRow {
                at: when(f.feedback.created_at),
                sender: domain::user::display_name(&f.title, &f.first_name, &f.last_name),
                email: f.email.to_string(),
                organisation: f.organisation,
                body: f.feedback.body,
            })
            .collect(),
        total: got.total,
        noun: noun(got.total, "message", "messages"),
        page: got.page,
        last_page: last,
        pages: Pagination::new(got.page.min(last), last, |n| {
            format!("/feedback/received?page={n}")
        }),
    };
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "pages/collections/feedback.html")]
struct FeedbackPage {
    layout: Layout,
    text: String,
    sent: bool,
    /// Shows the way to the Feedback received page (regulator administrators).
    reads: bool,
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
    let reads = actor.may_read_feedback();
    let view = FeedbackPage {
        layout: page.layout(if fields.is_empty() {
            "Feedback"
        } else {
            "Error: Feedback"
        }),
        text,
        sent,
        reads,
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
