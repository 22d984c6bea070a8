//! Activity (PRODUCT §8, issue 13): the audit trail as sentences, for
//! provider administrators (their organisation's) and regulator
//! administrators (every organisation's, with an organisation filter).
//!
//! The filters are a GET form, so a filtered view is an address that works
//! without JavaScript and can be shared; its CSV and JSON downloads carry the
//! same filters. Each row links to its detail page, `/activity/{id}`.

use app::AppError;
use app::activity::{ACTION_GROUPS, Trail, TrailItem, TrailQuery, uk_midnight};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::forms::{DateParts, Errors, encode, error_for, first, pairs, summary_in};
use super::pagination::{self, Pagination};
use crate::api::audit::{AuditItemView, download, trail_csv};
use crate::layout::Layout;
use crate::page::Page;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/activity", get(list))
        .route("/activity.csv", get(export_csv))
        .route("/activity.json", get(export_json))
        .route("/activity/{id}", get(event))
}

/// The filters as typed, to show them again and to build links.
#[derive(Default)]
struct Filters {
    person: String,
    action: String,
    organisation: String,
    from: DateParts,
    to: DateParts,
}

impl Filters {
    fn read(q: &[(String, String)]) -> Self {
        Self {
            person: first(q, "person").unwrap_or_default(),
            action: first(q, "action").unwrap_or_default(),
            organisation: first(q, "organisation").unwrap_or_default(),
            from: DateParts::from_form(q, "from"),
            to: DateParts::from_form(q, "to"),
        }
    }

    /// The query string of these filters (and `extra`).
    fn encoded(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("person", &self.person),
            ("action", &self.action),
            ("organisation", &self.organisation),
            ("from-day", &self.from.day),
            ("from-month", &self.from.month),
            ("from-year", &self.from.year),
            ("to-day", &self.to.day),
            ("to-month", &self.to.month),
            ("to-year", &self.to.year),
        ];
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.extend_from_slice(extra);
        encode(&pairs)
    }
}

fn blank(d: &DateParts) -> bool {
    d.day.trim().is_empty() && d.month.trim().is_empty() && d.year.trim().is_empty()
}

/// The filters as a query for the use case, or what is wrong with them.
async fn query(page: &Page, f: &Filters, number: i64) -> Result<TrailQuery, app::FieldErrors> {
    let Some(actor) = page.principal() else {
        return Err(app::FieldErrors::new());
    };
    let mut errors = app::FieldErrors::new();
    let actor_id = if f.person.trim().is_empty() {
        None
    } else {
        match page.state.app.audit_person(actor, &f.person).await {
            Ok(id) => Some(id),
            Err(AppError::Invalid(e)) => {
                errors.extend(e);
                None
            }
            Err(_) => {
                errors.insert(
                    "person",
                    "The person could not be looked up: try again".into(),
                );
                None
            }
        }
    };
    let action = f.action.trim();
    if !action.is_empty() && !ACTION_GROUPS.iter().any(|g| g.prefix == action) {
        errors.insert("action", "Choose a kind of activity from the list".into());
    }
    let mut day = |d: &DateParts, name: &'static str, what: &str| {
        if blank(d) {
            return None;
        }
        match d.parse(what) {
            Ok(date) => Some(date),
            Err(message) => {
                errors.insert(name, message);
                None
            }
        }
    };
    let from = day(&f.from, "from", "Start date");
    let to = day(&f.to, "to", "End date");
    if let (Some(a), Some(b)) = (from, to)
        && a > b
    {
        errors.insert(
            "to",
            "End date must be the same as or after the start date".into(),
        );
    }
    let organisation = if f.organisation.is_empty() {
        None
    } else {
        match f.organisation.parse::<domain::OrgId>() {
            Ok(o) => Some(o),
            Err(_) => {
                errors.insert(
                    "organisation",
                    "Choose an organisation from the list".into(),
                );
                None
            }
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TrailQuery {
        actor: actor_id,
        action: Some(action.to_owned()).filter(|a| !a.is_empty()),
        from: from.map(uk_midnight),
        // The whole of the end day, in UK time.
        to: to.map(|d| uk_midnight(d.next_day().unwrap_or(d))),
        organisation,
        page: number,
        per_page: 0,
    })
}

struct Row {
    id: i64,
    when: String,
    summary: String,
    organisation: String,
    refused: bool,
}

#[derive(Template)]
#[template(path = "pages/activity.html")]
struct ListPage {
    layout: Layout,
    errors: Errors,
    person_error: String,
    action_error: String,
    from_error: String,
    to_error: String,
    organisation_error: String,
    filters: Filters,
    /// (prefix, label) of each action group.
    groups: Vec<(&'static str, &'static str)>,
    /// (id, name) of each organisation, for regulator administrators.
    organisations: Vec<(String, String)>,
    all_organisations: bool,
    rows: Vec<Row>,
    showing: String,
    pages: Pagination,
    csv: String,
    json: String,
    searched: bool,
}

async fn list(page: Page, RawQuery(raw): RawQuery) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    // Someone who may not read any trail is refused (audited) before anything else.
    let scope = match app.audit_scope(meta, actor).await {
        Ok(s) => s,
        Err(e) => return page.error(e),
    };
    let q = pairs(raw);
    let filters = Filters::read(&q);
    let number = first(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let organisations = match app.audit_organisations(actor).await {
        Ok(list) => list
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        Err(e) => return page.error(e),
    };
    let mut view = ListPage {
        layout: page.layout("Activity"),
        errors: Vec::new(),
        person_error: String::new(),
        action_error: String::new(),
        from_error: String::new(),
        to_error: String::new(),
        organisation_error: String::new(),
        groups: ACTION_GROUPS.iter().map(|g| (g.prefix, g.label)).collect(),
        organisations,
        all_organisations: scope.is_none(),
        rows: Vec::new(),
        showing: String::new(),
        pages: Pagination::default(),
        csv: format!("/activity.csv?{}", filters.encoded(&[])),
        json: format!("/activity.json?{}", filters.encoded(&[])),
        searched: q.iter().any(|(k, v)| k != "page" && !v.is_empty()),
        filters,
    };
    let trail_query = match query(&page, &view.filters, number).await {
        Ok(t) => t,
        Err(fields) => {
            view.errors = summary_in(&fields, &["person", "action", "from", "to", "organisation"])
                .into_iter()
                .map(|(message, href)| {
                    // A date's error leads to its first box.
                    let href = match href.as_str() {
                        "#from" | "#to" => format!("{href}-day"),
                        _ => href,
                    };
                    (message, href)
                })
                .collect();
            view.person_error = error_for(&fields, "person");
            view.action_error = error_for(&fields, "action");
            view.from_error = error_for(&fields, "from");
            view.to_error = error_for(&fields, "to");
            view.organisation_error = error_for(&fields, "organisation");
            return page.render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let trail = match app.audit_trail(meta, actor, &trail_query).await {
        Ok(t) => t,
        Err(e) => return page.error(e),
    };
    // Beyond the last page (when it is known): the last page, filters kept.
    let last = pagination::last_page(trail.total, trail.per_page);
    if !trail.total_capped && number > last {
        let n = last.to_string();
        let extra: &[(&str, &str)] = if last == 1 { &[] } else { &[("page", &n)] };
        let query = view.filters.encoded(extra);
        return Redirect::to(&if query.is_empty() {
            "/activity".to_owned()
        } else {
            format!("/activity?{query}")
        })
        .into_response();
    }
    fill(&mut view, &trail);
    page.render(StatusCode::OK, &view)
}

fn fill(view: &mut ListPage, trail: &Trail) {
    view.rows = trail
        .items
        .iter()
        .map(|i| Row {
            id: i.id,
            when: i.when.clone(),
            summary: i.summary.clone(),
            organisation: i.organisation_name.clone().unwrap_or_default(),
            refused: i.refused,
        })
        .collect();
    let from = (trail.page - 1) * trail.per_page + 1;
    let to = from + trail.items.len() as i64 - 1;
    let total = if trail.total_capped {
        format!("more than {}", thousands(trail.total))
    } else {
        thousands(trail.total)
    };
    view.showing = if trail.items.is_empty() {
        String::new()
    } else {
        format!(
            "Showing {} to {} of {total} {}",
            thousands(from),
            thousands(to),
            if trail.total_capped {
                "events"
            } else {
                super::noun(trail.total, "event", "events")
            }
        )
    };
    let link = |n: i64| {
        let page = n.to_string();
        let extra: &[(&str, &str)] = if n == 1 { &[] } else { &[("page", &page)] };
        let query = view.filters.encoded(extra);
        if query.is_empty() {
            "/activity".to_owned()
        } else {
            format!("/activity?{query}")
        }
    };
    // Above the count's limit the last page is not known: the pages go on
    // while a page is full.
    view.pages = if trail.total_capped {
        Pagination::open_ended(trail.page, trail.items.len() as i64 == trail.per_page, link)
    } else {
        Pagination::new(
            trail.page,
            pagination::last_page(trail.total, trail.per_page),
            link,
        )
    };
}

/// 12345 → "12,345".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The filtered rows, every page of them, for a download.
async fn export(page: &Page, raw: Option<String>) -> Result<Vec<TrailItem>, Response> {
    let Some(actor) = page.principal() else {
        return Err(Redirect::to("/sign-in").into_response());
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    if let Err(e) = app.audit_scope(meta, actor).await {
        return Err(page.error(e));
    }
    let q = pairs(raw);
    let filters = Filters::read(&q);
    let trail_query = match query(page, &filters, 1).await {
        Ok(t) => t,
        Err(fields) => return Err(page.error(AppError::Invalid(fields))),
    };
    app.audit_export(meta, actor, &trail_query)
        .await
        .map_err(|e| page.error(e))
}

async fn export_csv(page: Page, RawQuery(raw): RawQuery) -> Response {
    match export(&page, raw).await {
        Ok(items) => {
            let mut resp = download(trail_csv(&items), "text/csv; charset=utf-8", "activity.csv");
            page.finish(&mut resp);
            resp
        }
        Err(resp) => resp,
    }
}

async fn export_json(page: Page, RawQuery(raw): RawQuery) -> Response {
    match export(&page, raw).await {
        Ok(items) => {
            let views: Vec<AuditItemView> = items.iter().map(AuditItemView::from).collect();
            let body = serde_json::to_string_pretty(&views).unwrap_or_else(|_| "[]".to_owned());
            let mut resp = download(body, "application/json", "activity.json");
            page.finish(&mut resp);
            resp
        }
        Err(resp) => resp,
    }
}

#[derive(Template)]
#[template(path = "pages/activity_event.html")]
struct EventPage {
    layout: Layout,
    item: TrailItem,
    at: String,
}

async fn event(page: Page, Path(id): Path<String>) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    // Any id that is not a row's number is a row that does not exist.
    let id = id.parse::<i64>().unwrap_or(0);
    match page.state.app.audit_event(&page.ctx.meta, actor, id).await {
        Ok(item) => {
            let at = crate::api::audit::utc(item.at);
            let view = EventPage {
                layout: page.layout("Activity"),
                item,
                at,
            };
            page.render(StatusCode::OK, &view)
        }
        Err(e) => page.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_written_with_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
