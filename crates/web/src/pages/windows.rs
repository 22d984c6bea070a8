//! Collection windows (PRODUCT §6): the windows a person may see, a window's
//! page (upload and submit for a provider's team; review for the regulator's
//! officers; who has submitted for its administrators), and opening, changing
//! and closing a window (regulator administrators).
//!
//! The forms on a window's page post to [`super::submissions`], which shows
//! this page again ([`show_page`]) with what was wrong.

use app::collections::{Progress, VisibleWindow, WindowInput};
use app::records::SubmissionRecord;
use app::{AppError, FieldErrors};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::collection::{FileKind, SubmissionStatus, WindowState, Work};
use domain::role::AreaKind;
use serde::Deserialize;
use time::OffsetDateTime;

use super::forms::{Errors, error_for, first, pairs, summary_in};
use super::returns::when;
use crate::layout::Layout;
use crate::page::{Form, Page};
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/collections", get(list))
        .route("/collections/new", get(new_form).post(new_submit))
        .route("/collections/{id}", get(show))
        .route("/collections/{id}/edit", get(edit_form).post(edit_submit))
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
}

fn may_manage_windows(page: &Page) -> bool {
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
    let now = page.state.app.clock.now();
    page.render(
        StatusCode::OK,
        &ListPage {
            layout: page.layout("Data returns"),
            windows: windows.iter().map(|w| window_row(w, now)).collect(),
            may_open: may_manage_windows(&page),
        },
    )
}

/// One GOV.UK date input: its field name, legend, hint, and day, month, year as typed.
struct DateField {
    field: &'static str,
    legend: &'static str,
    hint: &'static str,
    parts: Vec<(&'static str, &'static str, &'static str, String)>,
}

fn date_field(
    field: &'static str,
    legend: &'static str,
    hint: &'static str,
    typed: [&str; 3],
) -> DateField {
    DateField {
        field,
        legend,
        hint,
        parts: vec![
            ("day", "Day", "2", typed[0].to_owned()),
            ("month", "Month", "2", typed[1].to_owned()),
            ("year", "Year", "4", typed[2].to_owned()),
        ],
    }
}

#[derive(Template)]
#[template(path = "pages/collections/new.html")]
struct NewPage {
    layout: Layout,
    /// Where the form goes, its heading and its button: opening or changing a window.
    action: String,
    heading: &'static str,
    button: &'static str,
    /// Changing a window: its data return is fixed, shown by name.
    fixed_area: String,
    areas: Vec<(String, String)>,
    area: String,
    window_name: String,
    dates: Vec<DateField>,
    guidance: String,
    types: Vec<(&'static str, &'static str, bool)>,
    errors: Errors,
    fields: FieldErrors,
}

impl NewPage {
    fn error(&self, name: &str) -> String {
        error_for(&self.fields, name)
    }
}

/// Which window form: opening a new one, or changing one (by id, with its area's name).
enum Target {
    New,
    Edit { id: String, area: String },
}

async fn new_page(
    page: &Page,
    status: StatusCode,
    input: &WindowForm,
    fields: FieldErrors,
    target: &Target,
) -> Response {
    let areas = match page.state.app.areas().await {
        Ok(a) => a,
        Err(e) => return page.error(e),
    };
    let (action, heading, button, fixed_area) = match target {
        Target::New => (
            "/collections/new".to_owned(),
            "Open a collection window",
            "Open the window",
            String::new(),
        ),
        Target::Edit { id, area } => (
            format!("/collections/{id}/edit"),
            "Change a collection window",
            "Save changes",
            area.clone(),
        ),
    };
    let chosen: Vec<&str> = input.file_types.iter().map(String::as_str).collect();
    let view = NewPage {
        layout: page.layout(if fields.is_empty() {
            heading.to_owned()
        } else {
            format!("Error: {heading}")
        }),
        action,
        heading,
        button,
        fixed_area,
        areas: areas
            .iter()
            .filter(|a| a.kind == AreaKind::DataReturn)
            .map(|a| (a.slug.to_string(), a.name.clone()))
            .collect(),
        area: input.area.clone(),
        window_name: input.name.clone(),
        dates: vec![
            date_field(
                "opens_at",
                "Opens on",
                "The window opens at the start of this day (UK time). For example, 1 10 2026",
                [&input.opens_day, &input.opens_month, &input.opens_year],
            ),
            date_field(
                "closes_at",
                "Closes on",
                "The window closes at the end of this day (UK time). For example, 31 10 2026",
                [&input.closes_day, &input.closes_month, &input.closes_year],
            ),
        ],
        guidance: input.guidance.clone(),
        types: FileKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label(), chosen.contains(&k.as_str())))
            .collect(),
        errors: summary_in(
            &fields,
            &[
                "area",
                "name",
                "opens_at",
                "closes_at",
                "guidance",
                "file_types",
            ],
        )
        .into_iter()
        .map(|(message, href)| {
            // A date's error leads to its first box; the file types' to the first checkbox.
            let href = match href.as_str() {
                "#opens_at" | "#closes_at" => format!("{href}-day"),
                "#file_types" => format!("#file_types-{}", FileKind::ALL[0].as_str()),
                _ => href,
            };
            (message, href)
        })
        .collect(),
        fields,
    };
    page.render(status, &view)
}

#[derive(Deserialize, Default)]
struct WindowForm {
    #[serde(default)]
    area: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "opens_at-day")]
    opens_day: String,
    #[serde(default, rename = "opens_at-month")]
    opens_month: String,
    #[serde(default, rename = "opens_at-year")]
    opens_year: String,
    #[serde(default, rename = "closes_at-day")]
    closes_day: String,
    #[serde(default, rename = "closes_at-month")]
    closes_month: String,
    #[serde(default, rename = "closes_at-year")]
    closes_year: String,
    #[serde(default)]
    guidance: String,
    #[serde(default)]
    file_types: Vec<String>,
}

async fn new_form(page: Page) -> Response {
    if page.principal().is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    if !may_manage_windows(&page) {
        return page
            .refuse("windows.create", domain::collection::NOT_REGULATOR_ADMIN)
            .await;
    }
    let input = WindowForm {
        file_types: vec!["csv".into(), "xlsx".into()],
        ..WindowForm::default()
    };
    new_page(
        &page,
        StatusCode::OK,
        &input,
        FieldErrors::new(),
        &Target::New,
    )
    .await
}

/// A date typed in the GOV.UK date input.
fn date(day: &str, month: &str, year: &str) -> Option<time::Date> {
    let d: u8 = day.trim().parse().ok()?;
    let m: u8 = month.trim().parse().ok()?;
    let y: i32 = year
        .trim()
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))?;
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()
}

impl WindowForm {
    /// The form's fields; the file types are repeated checkboxes.
    fn from_pairs(data: &[(String, String)]) -> Self {
        let get = |k: &str| first(data, k).unwrap_or_default();
        Self {
            area: get("area"),
            name: get("name"),
            opens_day: get("opens_at-day"),
            opens_month: get("opens_at-month"),
            opens_year: get("opens_at-year"),
            closes_day: get("closes_at-day"),
            closes_month: get("closes_at-month"),
            closes_year: get("closes_at-year"),
            guidance: get("guidance"),
            file_types: data
                .iter()
                .filter(|(k, _)| k == "file_types")
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// A window's form as it stands, to change it.
    fn of(w: &app::records::WindowRecord) -> Self {
        let day = |t: OffsetDateTime| {
            let t = domain::uk_time::uk_date(t);
            (
                t.day().to_string(),
                u8::from(t.month()).to_string(),
                t.year().to_string(),
            )
        };
        let (od, om, oy) = day(w.opens_at);
        let (cd, cm, cy) = day(w.closes_at);
        Self {
            area: w.area.to_string(),
            name: w.name.clone(),
            opens_day: od,
            opens_month: om,
            opens_year: oy,
            closes_day: cd,
            closes_month: cm,
            closes_year: cy,
            guidance: w.guidance.clone(),
            file_types: w.file_types.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }

    /// What the use case takes: a window opens at the start of its first day
    /// and closes at the end of its last (UK time); and what the form itself says
    /// of a date typed that is not one. The use case still sees the rest, so
    /// that every error is reported in one pass (an unreadable date goes to it
    /// as missing, and the form's words replace its "Enter when…").
    fn input(&self) -> (WindowInput, FieldErrors) {
        let mut own = FieldErrors::new();
        let typed = |parts: [&str; 3]| parts.iter().any(|p| !p.trim().is_empty());
        let opens = date(&self.opens_day, &self.opens_month, &self.opens_year)
            .map(domain::uk_time::uk_midnight);
        let closes = date(&self.closes_day, &self.closes_month, &self.closes_year).map(|d| {
            domain::uk_time::uk_midnight(d.next_day().unwrap_or(d)) - time::Duration::seconds(1)
        });
        if opens.is_none() && typed([&self.opens_day, &self.opens_month, &self.opens_year]) {
            own.insert("opens_at", "Enter a real date, like 1 10 2026".into());
        }
        if closes.is_none() && typed([&self.closes_day, &self.closes_month, &self.closes_year]) {
            own.insert("closes_at", "Enter a real date, like 31 10 2026".into());
        }
        let input = WindowInput {
            area: self.area.clone(),
            name: self.name.clone(),
            opens_at: opens,
            closes_at: closes,
            guidance: self.guidance.clone(),
            file_types: self.file_types.clone(),
        };
        (input, own)
    }
}

/// The use case's answer with the form's own date errors laid over it.
fn with_own<T>(result: Result<T, AppError>, own: FieldErrors) -> Result<T, AppError> {
    match result {
        Err(AppError::Invalid(mut fields)) => {
            fields.extend(own);
            Err(AppError::Invalid(fields))
        }
        other => other,
    }
}

async fn new_submit(form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let form = WindowForm::from_pairs(&data);
    let (input, own) = form.input();
    let result = with_own(
        page.state
            .app
            .create_window(actor, &input, &page.ctx.meta)
            .await,
        own,
    );
    match result {
        Ok(w) => Redirect::to(&format!("/collections/{}?opened=1", w.id)).into_response(),
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "windows.create",
                    "invalid form",
                )
                .await;
            new_page(&page, StatusCode::BAD_REQUEST, &form, fields, &Target::New).await
        }
        Err(e) => page.error(e),
    }
}

/// The window, if the actor may change it (a refusal is audited).
async fn managed(page: &Page, id: &str, action: &'static str) -> Result<VisibleWindow, Response> {
    let Some(actor) = page.principal() else {
        return Err(Redirect::to("/sign-in").into_response());
    };
    page.state
        .app
        .window_for(actor, id, &[Work::ManageWindows], action, &page.ctx.meta)
        .await
        .map_err(|e| page.error(e))
}

async fn edit_form(page: Page, Path(id): Path<String>) -> Response {
    let w = match managed(&page, &id, "windows.update").await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let target = Target::Edit {
        id,
        area: w.area.name.clone(),
    };
    new_page(
        &page,
        StatusCode::OK,
        &WindowForm::of(&w.window),
        FieldErrors::new(),
        &target,
    )
    .await
}

async fn edit_submit(Path(id): Path<String>, form: Form<Vec<(String, String)>>) -> Response {
    let Form { page, data } = form;
    let w = match managed(&page, &id, "windows.update").await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let form = WindowForm {
        area: w.area.slug.to_string(),
        ..WindowForm::from_pairs(&data)
    };
    let (input, own) = form.input();
    let result = with_own(
        page.state
            .app
            .update_window(actor, &id, &input, &page.ctx.meta)
            .await,
        own,
    );
    match result {
        Ok(_) => Redirect::to(&format!("/collections/{id}?changed=1")).into_response(),
        Err(AppError::Invalid(fields)) => {
            page.state
                .app
                .record_refusal(
                    &page.ctx.meta,
                    Some(actor),
                    "windows.update",
                    "invalid form",
                )
                .await;
            let target = Target::Edit {
                id: id.clone(),
                area: w.area.name.clone(),
            };
            new_page(&page, StatusCode::BAD_REQUEST, &form, fields, &target).await
        }
        Err(e) => page.error(e),
    }
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
}

struct ProgressRow {
    provider: String,
    ukprn: String,
    status: &'static str,
    version: String,
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
    progress: Vec<ProgressRow>,
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
    let mut progress = Vec::new();
    let mut providers = Vec::new();
    if reviewer || manager {
        match app.window_progress(actor, id, meta).await {
            Ok((_, rows)) => {
                for Progress {
                    organisation,
                    latest,
                } in rows
                {
                    providers.push((organisation.id.to_string(), organisation.name.clone()));
                    progress.push(ProgressRow {
                        provider: organisation.name,
                        ukprn: organisation
                            .ukprn
                            .map(|u| u.to_string())
                            .unwrap_or_default(),
                        status: latest
                            .as_ref()
                            .map_or("Not submitted", |s| s.status.label()),
                        version: latest.map(|s| s.version.to_string()).unwrap_or_default(),
                    });
                }
            }
            Err(e) => return page.error(e),
        }
    }
    let mut versions = Vec::new();
    for s in &submissions {
        let provider = providers
            .iter()
            .find(|(id, _)| *id == s.organisation_id.to_string())
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        versions.push(describe(app, s, provider).await);
    }
    let state = w.window.state(now);
    let can_upload = submitter && state == WindowState::Open;
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
        progress: if manager || reviewer {
            progress
        } else {
            Vec::new()
        },
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
