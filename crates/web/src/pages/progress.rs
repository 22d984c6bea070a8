//! The progress view of a collection window (issue 16): every provider
//! expected to submit and where its return stands, for the window's officers
//! and the regulator's administrators; filterable, sortable, as CSV.
//!
//! The page, its CSV and `GET /api/v1/collections/{id}/progress` list the same
//! rows in the same order: all come from `App::progress`. The page shows 100
//! providers at a time; the CSV is always the whole filtered list.

use app::collections::{
    PROGRESS_ACTION, PROGRESS_CSV_ACTION, ProgressAsk, ProgressKey, ProgressQuery, ProgressSort,
    ProviderProgress, WindowProgress,
};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::collection::Work;
use domain::progress::ProgressState;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::csv_cell;
use super::forms::{encode, first, pairs};
use super::pagination::{self, Pagination};
use crate::api::audit::download;
use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/collections/{id}/progress", get(show))
        .route("/collections/{id}/progress.csv", get(export))
}

/// Providers on one page of the view.
const PER_PAGE: usize = 100;

/// The GOV.UK tag colour of a state.
fn tag(s: ProgressState) -> &'static str {
    match s {
        ProgressState::NotStarted => "govuk-tag--grey",
        ProgressState::Uploaded => "govuk-tag--yellow",
        ProgressState::Submitted => "govuk-tag--blue",
        ProgressState::SignedOff => "govuk-tag--turquoise",
        ProgressState::Returned => "govuk-tag--orange",
        ProgressState::Accepted => "govuk-tag--green",
    }
}

fn uk(t: Option<OffsetDateTime>) -> String {
    t.map(domain::uk_time::moment).unwrap_or_default()
}

fn iso(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// What was asked, from `?state=&q=&sort=&order=`.
fn ask(q: &[(String, String)]) -> ProgressAsk {
    ProgressAsk {
        state: first(q, "state"),
        q: first(q, "q"),
        sort: first(q, "sort"),
        order: first(q, "order"),
    }
}

/// The address `path` with these choices ("" values left out).
fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", encode(&kept))
    }
}

/// `sort` and `order` for links that keep the order: none for the default.
fn sort_params(s: ProgressSort) -> [(&'static str, &'static str); 2] {
    if s == ProgressSort::default() {
        [("", ""), ("", "")]
    } else {
        [("sort", s.key.param()), ("order", s.order())]
    }
}

struct Row {
    provider: String,
    ukprn: String,
    /// The newest submitted version's page ("" when the viewer may not open it).
    href: String,
    state: &'static str,
    tag: &'static str,
    detail: &'static str,
    draft: String,
    version: String,
    submitted: String,
    signed_off: String,
    late: bool,
    errors: u64,
    warnings: u64,
    open_queries: usize,
}

struct Heading {
    text: &'static str,
    /// "ascending", "descending" or "none"; "" when not sortable.
    aria_sort: &'static str,
    href: String,
}

struct Count {
    label: &'static str,
    count: usize,
    href: String,
}

#[derive(Template)]
#[template(path = "pages/collections/progress.html")]
struct ProgressPage {
    layout: Layout,
    id: String,
    /// The window's page.
    back: String,
    name: String,
    area: String,
    counts: Vec<Count>,
    total: usize,
    all_href: String,
    states: Vec<(&'static str, &'static str)>,
    state: String,
    q: String,
    sort: Vec<(&'static str, &'static str)>,
    csv: String,
    /// Whether the rows link to the returns (officers); why not otherwise.
    sees_returns: bool,
    headings: Vec<Heading>,
    rows: Vec<Row>,
    showing: String,
    pages: Pagination,
}

/// May `actor` open this provider's returns (the area's officers; the
/// regulator's administrators see progress, not returns)?
fn sees_returns(actor: &app::Principal, view: &WindowProgress, p: &ProviderProgress) -> bool {
    app::permit::may_work(
        actor,
        &view.window.area,
        p.organisation.id,
        Work::SeeReturns,
    )
}

fn row(actor: &app::Principal, view: &WindowProgress, p: &ProviderProgress) -> Row {
    let href = match &p.latest {
        Some(s) if sees_returns(actor, view, p) => format!("/submissions/{}", s.id),
        _ => String::new(),
    };
    Row {
        provider: p.organisation.name.clone(),
        ukprn: p
            .organisation
            .ukprn
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        href,
        state: p.state().label(),
        tag: tag(p.state()),
        detail: p.standing.detail(),
        draft: p
            .draft
            .map(|d| format!("Draft version {}", d.version))
            .unwrap_or_default(),
        version: p.version().map(|v| v.to_string()).unwrap_or_default(),
        submitted: uk(p.submitted_at()),
        signed_off: uk(p.signed_off_at()),
        late: p.late(),
        errors: p.errors(),
        warnings: p.warnings(),
        open_queries: p.open_queries,
    }
}

async fn show(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    let app = &page.state.app;
    let view = match app
        .progress(actor, &id, &ask(&q), PROGRESS_ACTION, &page.ctx.meta)
        .await
    {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let path = format!("/collections/{}/progress", view.window.window.id);
    let ProgressQuery {
        state,
        q: search,
        sort,
    } = view.query.clone();
    let state = state.map(|s| s.as_str()).unwrap_or_default();
    let [by, order] = sort_params(sort);
    let number = first(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let total = view.rows.len() as i64;
    let last = pagination::last_page(total, PER_PAGE as i64);
    let page_link = |n: i64| {
        let n = n.to_string();
        link(
            &path,
            &[
                ("state", state),
                ("q", &search),
                by,
                order,
                ("page", if n == "1" { "" } else { &n }),
            ],
        )
    };
    if number > last {
        return Redirect::to(&page_link(last)).into_response();
    }
    let headings = [
        ("Provider", Some(ProgressKey::Provider)),
        ("UKPRN", Some(ProgressKey::Ukprn)),
        ("State", Some(ProgressKey::State)),
        ("Version", None),
        ("Submitted", Some(ProgressKey::Submitted)),
        ("Signed off", None),
        ("Late", None),
        ("Errors and warnings", None),
        ("Open queries", None),
    ]
    .into_iter()
    .map(|(text, key)| match key {
        None => Heading {
            text,
            aria_sort: "",
            href: String::new(),
        },
        Some(key) => {
            let current = key == sort.key;
            // The sorted column turns round; another starts ascending.
            let next = ProgressSort {
                key,
                descending: current && !sort.descending,
            };
            Heading {
                text,
                aria_sort: match (current, sort.descending) {
                    (false, _) => "none",
                    (true, false) => "ascending",
                    (true, true) => "descending",
                },
                href: link(
                    &path,
                    &[
                        ("state", state),
                        ("q", &search),
                        ("sort", key.param()),
                        ("order", next.order()),
                    ],
                ),
            }
        }
    })
    .collect();
    let start = ((number - 1) as usize) * PER_PAGE;
    let rows: Vec<Row> = view
        .rows
        .iter()
        .skip(start)
        .take(PER_PAGE)
        .map(|p| row(actor, &view, p))
        .collect();
    let officer = view
        .rows
        .first()
        .is_none_or(|p| sees_returns(actor, &view, p));
    let name = view.window.window.name.clone();
    let page_view = ProgressPage {
        layout: page.layout(if last > 1 {
            format!("Progress: {name} (page {number} of {last})")
        } else {
            format!("Progress: {name}")
        }),
        id: view.window.window.id.to_string(),
        back: format!("/collections/{}", view.window.window.id),
        name,
        area: view.window.area.name.clone(),
        counts: view
            .counts
            .iter()
            .map(|(s, n)| Count {
                label: s.label(),
                count: *n,
                href: link(&path, &[("state", s.as_str()), ("q", &search), by, order]),
            })
            .collect(),
        total: view.total,
        all_href: link(&path, &[("q", &search), by, order]),
        states: ProgressState::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        state: state.to_owned(),
        q: search.clone(),
        sort: [by, order]
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect(),
        csv: link(
            &format!("{path}.csv"),
            &[("state", state), ("q", &search), by, order],
        ),
        sees_returns: officer,
        headings,
        showing: pagination::showing(
            number,
            PER_PAGE as i64,
            rows.len(),
            total,
            ("provider", "providers"),
        ),
        rows,
        pages: Pagination::new(number, last, page_link),
    };
    page.render(StatusCode::OK, &page_view)
}

/// The CSV's header line.
const CSV_HEADER: &str = "Provider,UKPRN,State,State code,State detail,Version,Submitted,Submitted (ISO 8601),Signed off,Signed off (ISO 8601),Late,Errors,Warnings,Open queries\r\n";

/// The whole filtered list as CSV, in the page's order: every cell safe
/// from spreadsheet formulas; times in UK time and in ISO 8601 (UTC offset).
fn progress_csv(view: &WindowProgress) -> String {
    let mut out = String::from(CSV_HEADER);
    for p in &view.rows {
        let cells = [
            p.organisation.name.clone(),
            p.organisation
                .ukprn
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            p.state().label().to_owned(),
            p.state().as_str().to_owned(),
            p.standing.detail().to_owned(),
            p.version().map(|v| v.to_string()).unwrap_or_default(),
            uk(p.submitted_at()),
            iso(p.submitted_at()),
            uk(p.signed_off_at()),
            iso(p.signed_off_at()),
            if p.late() { "Yes" } else { "No" }.to_owned(),
            p.errors().to_string(),
            p.warnings().to_string(),
            p.open_queries.to_string(),
        ];
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

async fn export(page: Page, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let q = pairs(raw);
    match page
        .state
        .app
        .progress(actor, &id, &ask(&q), PROGRESS_CSV_ACTION, &page.ctx.meta)
        .await
    {
        Ok(view) => download(
            progress_csv(&view),
            "text/csv; charset=utf-8",
            "progress.csv",
        ),
        Err(e) => page.error(e),
    }
}
