//! Queries on a submission (issue 16): the thread shown on a submission's
//! page, and the forms that raise, answer and close a query.
//!
//! The forms are on the submission's page ([`section`]); a form that is
//! refused for what was typed is shown again on a page of its own, with the
//! GOV.UK error summary and everything typed kept. Done, they go back to the
//! thread on the submission's page, `?query=raised|answered|closed` saying
//! what was done ([`notice`] gives the banner's words).
//!
//! `/queries` lists the open queries the person may see.

use app::collections::{QueryThread, VisibleWindow};
use app::records::SubmissionRecord;
use app::{AppError, FieldErrors, Principal};
use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::OrganisationKind;
use domain::collection::Work;
use serde::Deserialize;

use super::forms::{Errors, error_for, summary_in};
use super::noun;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/queries", get(list))
        .route("/submissions/{id}/queries", post(raise))
        .route("/queries/{id}/answer", post(answer))
        .route("/queries/{id}/close", post(close))
}

/// The banner's words for what the submission's page was sent back with
/// (`?query=raised`, `answered` or `closed`, among the page's query pairs);
/// `None` for anything else.
pub(super) fn notice(pairs: &[(String, String)]) -> Option<&'static str> {
    match super::forms::first(pairs, "query").as_deref() {
        Some("raised") => Some("Your query has been raised and the provider has been emailed"),
        Some("answered") => Some("Your message has been sent"),
        Some("closed") => Some("The query has been closed"),
        _ => None,
    }
}

/// Where a query is shown: its thread on its submission's page.
fn thread_href(submission: uuid::Uuid, query: uuid::Uuid, done: &str) -> String {
    format!("/submissions/{submission}?query={done}#query-{query}")
}

struct MessageView {
    author: String,
    /// "Office for Students" or the provider's name.
    side: String,
    at: String,
    body: String,
}

struct ThreadView {
    id: String,
    subject: String,
    open: bool,
    raised_by: String,
    raised_at: String,
    /// "This query was closed by … on …."
    closed: String,
    messages: Vec<MessageView>,
    may_answer: bool,
    may_close: bool,
}

fn thread_view(t: &QueryThread) -> ThreadView {
    let moment = domain::uk_time::moment;
    ThreadView {
        id: t.id.to_string(),
        subject: t.subject.clone(),
        open: t.is_open(),
        raised_by: t.raised_by.clone(),
        raised_at: moment(t.raised_at),
        closed: match (&t.closed_by, t.closed_at) {
            (Some(by), Some(at)) => format!("This query was closed by {by} on {}.", moment(at)),
            (None, Some(at)) => format!("This query was closed on {}.", moment(at)),
            _ => String::new(),
        },
        messages: t
            .messages
            .iter()
            .map(|m| MessageView {
                author: m.author.clone(),
                side: if m.from_regulator {
                    "Office for Students".to_owned()
                } else {
                    t.organisation.clone()
                },
                at: moment(m.at),
                body: m.body.clone(),
            })
            .collect(),
        may_answer: t.may_answer,
        may_close: t.may_close,
    }
}

#[derive(Template)]
#[template(path = "parts/query_section.html")]
struct Section {
    csrf_token: String,
    submission_id: String,
    threads: Vec<ThreadView>,
    may_raise: bool,
    regulator: bool,
    failed: bool,
}

/// The queries part of a submission's page, as HTML, for the person viewing
/// it (the submission's page includes it as it is).
pub(super) async fn section(
    page: &Page,
    submission: &SubmissionRecord,
    window: &VisibleWindow,
) -> String {
    let Some(actor) = page.principal() else {
        return String::new();
    };
    let app = &page.state.app;
    let (threads, failed) = match app.queries_for(actor, submission, window).await {
        Ok(list) => (list.iter().map(thread_view).collect(), false),
        // The page was shown because the person may see the submission.
        Err(AppError::NotFound) => return String::new(),
        Err(e) => {
            tracing::error!(error = ?e, submission = %submission.id, "queries could not be read");
            (Vec::new(), true)
        }
    };
    let view = Section {
        csrf_token: page.csrf_token(),
        submission_id: submission.id.to_string(),
        threads,
        may_raise: !failed && app.may_raise_query(actor, submission, window),
        regulator: actor.organisation.kind == OrganisationKind::Regulator,
        failed,
    };
    view.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "queries section template");
        String::new()
    })
}

// Raising, answering and closing -----------------------------------------------

#[derive(Template)]
#[template(path = "pages/queries/form.html")]
struct FormPage {
    layout: Layout,
    back: String,
    caption: String,
    heading: String,
    action: String,
    thread: Option<ThreadView>,
    asks_subject: bool,
    subject: String,
    message_label: String,
    message: String,
    button: String,
    errors: Errors,
    fields: FieldErrors,
}

impl FormPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

#[derive(Deserialize)]
struct RaiseForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    message: String,
}

async fn raise(Path(id): Path<String>, form: Form<RaiseForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    match app
        .raise_query(actor, &id, &data.subject, &data.message, meta)
        .await
    {
        Ok(t) => Redirect::to(&thread_href(t.submission_id, t.id, "raised")).into_response(),
        Err(AppError::Invalid(fields)) => {
            invalid(&page, actor, "queries.raise", &fields).await;
            let Ok((s, window)) = app
                .submission_for(actor, &id, Work::Review, "queries.raise", meta)
                .await
            else {
                return page.error(AppError::NotFound);
            };
            let view = FormPage {
                layout: page.layout("Error: Raise a query"),
                back: format!("/submissions/{}", s.id),
                caption: format!("{}, version {}", window.window.name, s.version),
                heading: "Raise a query".into(),
                action: format!("/submissions/{}/queries", s.id),
                thread: None,
                asks_subject: true,
                subject: data.subject,
                message_label: "Message".into(),
                message: data.message,
                button: "Raise query".into(),
                errors: summary_in(&fields, &["subject", "message"]),
                fields,
            };
            page.render(StatusCode::BAD_REQUEST, &view)
        }
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    message: String,
}

async fn answer(Path(id): Path<String>, form: Form<AnswerForm>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    match app.answer_query(actor, &id, &data.message, meta).await {
        Ok(t) => Redirect::to(&thread_href(t.submission_id, t.id, "answered")).into_response(),
        Err(AppError::Invalid(fields)) => {
            invalid(&page, actor, "queries.answer", &fields).await;
            let Ok(t) = app.query_thread(actor, &id, meta).await else {
                return page.error(AppError::NotFound);
            };
            let view = FormPage {
                layout: page.layout("Error: Reply to a query"),
                back: format!("/submissions/{}#query-{}", t.submission_id, t.id),
                caption: format!("{}, version {}", t.window, t.version),
                heading: "Reply to a query".into(),
                action: format!("/queries/{}/answer", t.id),
                thread: Some(thread_view(&t)),
                asks_subject: false,
                subject: String::new(),
                message_label: "Your reply".into(),
                message: data.message,
                button: "Send".into(),
                errors: summary_in(&fields, &["message"]),
                fields,
            };
            page.render(StatusCode::BAD_REQUEST, &view)
        }
        Err(e) => page.error(e),
    }
}

#[derive(Deserialize)]
struct CloseForm {}

async fn close(Path(id): Path<String>, form: Form<CloseForm>) -> Response {
    let Form { page, data: _ } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page.state.app.close_query(actor, &id, &page.ctx.meta).await {
        Ok(t) => Redirect::to(&thread_href(t.submission_id, t.id, "closed")).into_response(),
        Err(e) => page.error(e),
    }
}

/// A form refused for what was typed is audited (the use case changed nothing).
async fn invalid(page: &Page, actor: &Principal, action: &str, fields: &FieldErrors) {
    let detail = fields.keys().copied().collect::<Vec<_>>().join(",");
    page.state
        .app
        .record_refusal(
            &page.ctx.meta,
            Some(actor),
            action,
            &format!("invalid: {detail}"),
        )
        .await;
}

// The list of open queries -------------------------------------------------------

struct Row {
    href: String,
    subject: String,
    organisation: String,
    window: String,
    version: i64,
    raised: String,
    last: String,
    last_by: String,
}

#[derive(Template)]
#[template(path = "pages/queries/list.html")]
struct ListPage {
    layout: Layout,
    regulator: bool,
    rows: Vec<Row>,
    noun: &'static str,
}

/// `/queries`: the open queries the person may see (a provider's people:
/// their provider's, on the returns they work on; officers: their areas').
async fn list(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let threads = match page.state.app.open_queries(actor).await {
        Ok(t) => t,
        Err(e) => return page.error(e),
    };
    let moment = domain::uk_time::moment;
    let rows: Vec<Row> = threads
        .iter()
        .map(|t| {
            let last = t.messages.last();
            Row {
                href: format!("/submissions/{}#query-{}", t.submission_id, t.id),
                subject: t.subject.clone(),
                organisation: t.organisation.clone(),
                window: t.window.clone(),
                version: t.version,
                raised: moment(t.raised_at),
                last: moment(last.map_or(t.raised_at, |m| m.at)),
                last_by: last.map_or_else(|| t.raised_by.clone(), |m| m.author.clone()),
            }
        })
        .collect();
    let view = ListPage {
        layout: page.layout("Open queries"),
        regulator: actor.organisation.kind == OrganisationKind::Regulator,
        noun: noun(rows.len() as i64, "query", "queries"),
        rows,
    };
    page.render(StatusCode::OK, &view)
}
