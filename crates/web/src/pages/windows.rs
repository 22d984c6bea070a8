//! Collection windows (PRODUCT §6): the windows a person may see, a window's
//! page (its rules and settings; upload and submit for a provider's team;
//! each version with its report's counts and open queries, linking to the
//! version's own page; a link to every provider's progress for officers and
//! administrators), and closing a window (regulator administrators; opening
//! and changing one: [`super::window_form`]).
//!
//! The forms on a window's page post to [`super::submissions`], which shows
//! this page again ([`show_page`]) with what was wrong.

use app::collections::{Progress, VisibleWindow};
use app::records::SubmissionRecord;
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::collection::{SubmissionStatus, WindowState, Work};
use serde::Deserialize;
use time::OffsetDateTime;

use super::forms::{Errors, first, pairs};
use super::returns::when;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/collections", get(list))
        .route("/collections/{id}", get(show))
        .route("/collections/{id}/close", post(close))
}

fn state_tag(s: WindowState) -> &'static str {
    match s {
        WindowState::Open => "govuk-tag--green",
        WindowState::Upcoming => "govuk-tag--blue",
        WindowState::Closed => "govuk-tag--grey",
    }
}

fn status_tag(s: SubmissionStatus) -> &'static str {
    match s {
        SubmissionStatus::Draft => "govuk-tag--grey",
        SubmissionStatus::Submitted => "govuk-tag--blue",
        SubmissionStatus::Returned => "govuk-tag--orange",
        SubmissionStatus::Accepted => "govuk-tag--green",
    }
}

struct WindowRow {
    id: String,
    name: String,
    area: String,
    opens: String,
    closes: String,
    state: &'static str,
    tag: &'static str,
}

fn window_row(w: &VisibleWindow, now: OffsetDateTime) -> WindowRow {
    let state = w.window.state(now);
    WindowRow {
        id: w.window.id.to_string(),
        name: w.window.name.clone(),
        area: w.area.name.clone(),
        opens: when(w.window.opens_at),
        closes: when(
            w.window
                .closed_at
                .unwrap_or(w.window.closes_at)
                .min(w.window.closes_at),
        ),
        state: state.label(),
        tag: state_tag(state),
    }
}

#[derive(Template)]
#[template(path = "pages/collections/list.html")]
struct ListPage {
    layout: Layout,
    windows: Vec<WindowRow>,
    may_open: bool,
    /// Open queries on the returns this person sees (issue 16).
    open_queries: usize,
}

pub(super) fn may_manage_windows(page: &Page) -> bool {
    page.principal().is_some_and(|p| {
        domain::authz::may_do_regulator_task(
            p.organisation.kind,
            &p.role_list(),
            domain::authz::RegulatorTask::CollectionWindows,
        )
        .is_ok()
    })
}

async fn list(page: Page) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let windows = match page.state.app.visible_windows(actor).await {
        Ok(w) => w,
        Err(e) => return page.error(e),
    };
    let open_queries = match page.state.app.open_query_count(actor).await {
        Ok(n) => n,
        Err(e) => return page.error(e),
    };
    let now = page.state.app.clock.now();
    page.render(
        StatusCode::OK,
        &ListPage {
            layout: page.layout("Data returns"),
            windows: windows.iter().map(|w| window_row(w, now)).collect(),
            may_open: may_manage_windows(&page),
            open_queries,
        },
    )
}

#[derive(Deserialize)]
struct NoFields {}

async fn close(Path(id): Path<String>, form: Form<NoFields>) -> Response {
    let Form { page, .. } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    match page
        .state
        .app
        .close_window(actor, &id, &page.ctx.meta)
        .await
    {
        Ok(()) => Redirect::to(&format!("/collections/{id}?closed=1")).into_response(),
        Err(e) => page.error(e),
    }
}

struct FileLine {
    href: String,
    name: String,
    kind: &'static str,
    size: String,
    sha256: String,
}

struct VersionRow {
    id: String,
    provider: String,
    version: i64,
    status: &'static str,
    tag: &'static str,
    draft: bool,
    reviewable: bool,
    /// "Uploaded by" or "Submitted by".
    by_label: &'static str,
    /// Who and when.
    by: String,
    note: String,
    comment: String,
    files: Vec<FileLine>,
    href: String,
    /// Its checks' findings ("2 errors, 1 warning"), empty if unchecked.
    findings: String,
    open_queries: usize,
    late: bool,
    signed_off: bool,
    /// A draft the window page's short form may submit (no findings, not
    /// late); otherwise it is submitted from its own page.
    simple_submit: bool,
}

#[derive(Template)]
#[template(path = "pages/collections/show.html")]
struct ShowPage {
    layout: Layout,
    id: String,
    name: String,
    area: String,
    guidance: String,
    state: &'static str,
    tag: &'static str,
    opens: String,
    closes: String,
    accepts: String,
    limit: String,
    can_upload: bool,
    reviewer: bool,
    /// A regulator administrator: may change or close the window.
    manager: bool,
    closed: bool,
    edit_href: String,
    versions: Vec<VersionRow>,
    progress_href: String,
    rules: Vec<(String, String)>,
    settings: Vec<(&'static str, String)>,
    providers: Vec<(String, String)>,
    filter_status: String,
    filter_provider: String,
    banner: String,
    problem: String,
    problem_field: String,
    problem_summary: Errors,
}

async fn describe(app: &app::App, s: &SubmissionRecord, provider: String) -> VersionRow {
    let by = app::collections::name_of(app, s.submitted_by.or(Some(s.created_by)))
        .await
        .unwrap_or_default();
    VersionRow {
        id: s.id.to_string(),
        provider,
        version: s.version,
        status: s.status.label(),
        tag: status_tag(s.status),
        draft: s.status == SubmissionStatus::Draft,
        reviewable: s.status != SubmissionStatus::Draft,
        by_label: if s.status == SubmissionStatus::Draft {
            "Uploaded by"
        } else {
            "Submitted by"
        },
        by: format!("{by}, {}", when(s.submitted_at.unwrap_or(s.created_at))),
        note: s.note.clone(),
        comment: s.status_comment.clone().unwrap_or_default(),
        href: format!("/submissions/{}", s.id),
        findings: if s.checks.is_empty() {
            String::new()
        } else {
            let n =
                |k: u64, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
            format!(
                "{}, {}",
                n(s.errors(), "error", "errors"),
                n(s.warnings(), "warning", "warnings")
            )
        },
        open_queries: 0,
        late: s.late_reason.is_some(),
        signed_off: s.signed_off_at.is_some(),
        simple_submit: s.status == SubmissionStatus::Draft && s.errors() == 0 && s.warnings() == 0,
        files: s
            .files
            .iter()
            .map(|f| FileLine {
                href: format!("/submissions/{}/files/{}", s.id, f.id),
                name: f.filename.clone(),
                kind: f.kind.label(),
                size: format!("{} bytes", f.size),
                sha256: hex::encode(&f.sha256),
            })
            .collect(),
    }
}

pub(super) async fn show_page(
    page: &Page,
    id: &str,
    q: &[(String, String)],
    status: StatusCode,
    banner: String,
    problem: (String, String),
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    let works = [Work::SeeReturns, Work::Review, Work::ManageWindows];
    let w = match app
        .window_for(actor, id, &works, "windows.view", meta)
        .await
    {
        Ok(w) => w,
        Err(e) => return page.error(e),
    };
    let filter_status = first(q, "status").unwrap_or_default();
    let filter_provider = first(q, "provider").unwrap_or_default();
    let now = app.clock.now();
    // Which parts of the page are for this person (a sensitive area's
    // window is listed to those whose role covers the return).
    let org = actor.organisation.id;
    let listed = domain::role::Area {
        sensitive: false,
        ..w.area.clone()
    };
    let may = |work| app::permit::may_work(actor, &listed, org, work);
    let (reviewer, submitter, manager) = (
        may(Work::Review),
        may(Work::Submit),
        may(Work::ManageWindows),
    );
    let submissions = if reviewer || submitter {
        let provider = filter_provider.parse().ok();
        let status = SubmissionStatus::parse(&filter_status);
        match app.window_submissions(actor, &w, provider, status).await {
            Ok(s) => s,
            Err(e) => return page.error(e),
        }
    } else {
        Vec::new()
    };
    let mut providers = Vec::new();
    if reviewer {
        // The providers' names, for the filter and each version's card.
        match app.window_progress(actor, id, meta).await {
            Ok((_, rows)) => {
                for Progress { organisation, .. } in rows {
                    providers.push((organisation.id.to_string(), organisation.name));
                }
            }
            Err(e) => return page.error(e),
        }
    }
    let open_queries = if reviewer || submitter {
        match app.open_query_counts(actor, &w).await {
            Ok(c) => c,
            Err(e) => return page.error(e),
        }
    } else {
        Default::default()
    };
    let taking = app::collections::acceptance(&w.window, now);
    let mut versions = Vec::new();
    for s in &submissions {
        let provider = providers
            .iter()
            .find(|(id, _)| *id == s.organisation_id.to_string())
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        let mut row = describe(app, s, provider).await;
        row.open_queries = open_queries.get(&s.id).copied().unwrap_or(0);
        row.simple_submit &= taking == domain::collection::Acceptance::Open;
        versions.push(row);
    }
    let state = w.window.state(now);
    // Uploads are taken while the window is open, and late on one that
    // takes late returns (`Acceptance`, as the upload itself decides).
    let can_upload = submitter && taking.takes_returns();
    let mut settings = vec![(
        "Sign-off",
        if w.window.sign_off_required {
            "Required before the regulator accepts a return".to_owned()
        } else {
            "Not required".to_owned()
        },
    )];
    settings.push((
        "Late submissions",
        if w.window.late_submissions {
            "Taken after closing, with a reason, until the window is closed".to_owned()
        } else {
            "Not taken".to_owned()
        },
    ));
    if !w.window.reminder_days.is_empty() {
        let days = w
            .window
            .reminder_days
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        settings.push(("Reminders", format!("{days} days before closing")));
    }
    let view = ShowPage {
        layout: page.layout(if problem.0.is_empty() {
            w.window.name.clone()
        } else {
            format!("Error: {}", w.window.name)
        }),
        id: w.window.id.to_string(),
        name: w.window.name.clone(),
        area: w.area.name.clone(),
        guidance: w.window.guidance.clone(),
        state: state.label(),
        tag: state_tag(state),
        opens: when(w.window.opens_at),
        closes: when(
            w.window
                .closed_at
                .unwrap_or(w.window.closes_at)
                .min(w.window.closes_at),
        ),
        accepts: app::files::accepted_list(&w.window.file_types),
        limit: app::files::describe_size(app.settings.max_upload_bytes),
        can_upload,
        reviewer,
        manager,
        closed: state == WindowState::Closed,
        edit_href: format!("/collections/{}/edit", w.window.id),
        versions,
        progress_href: if manager || reviewer {
            format!("/collections/{}/progress", w.window.id)
        } else {
            String::new()
        },
        rules: super::window_form::rules_summary(&w.window),
        settings,
        providers,
        filter_status,
        filter_provider,
        banner,
        problem_summary: if problem.0.is_empty() {
            Vec::new()
        } else {
            // The summary links to the field only where the page shows it: a
            // window that is no longer open has no upload form.
            let href = match problem.1.as_str() {
                "file" | "note" if !can_upload => String::new(),
                f if f.starts_with("status-") => format!("#{f}-accepted"),
                f => format!("#{f}"),
            };
            vec![(problem.0.clone(), href)]
        },
        problem: problem.0,
        problem_field: problem.1,
    };
    page.render(status, &view)
}

async fn show(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let banner = if first(&q, "opened").is_some() {
        "The collection window is open for the providers' submissions from its opening date."
    } else if first(&q, "uploaded").is_some() {
        "Your file has been uploaded. Add a note if you need to, then submit."
    } else if first(&q, "submitted").is_some() {
        "Your submission has been received. Everyone at your organisation who contributes to this return has been sent a receipt."
    } else if first(&q, "changed").is_some() {
        "Your changes to the window have been saved."
    } else if first(&q, "closed").is_some() {
        "The window is closed: providers can no longer upload to it."
    } else if first(&q, "reviewed").is_some() {
        "The status has been saved and the provider's contributors have been told."
    } else {
        ""
    };
    show_page(
        &page,
        &id,
        &q,
        StatusCode::OK,
        banner.to_owned(),
        (String::new(), String::new()),
    )
    .await
}
