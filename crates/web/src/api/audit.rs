//! The audit trail (API.md "Audit"): `GET /audit` and `GET /audit.csv`, the
//! same filters and the same rows. Provider administrators read their own
//! organisation's events; regulator administrators every organisation's.

use std::collections::HashMap;

use app::AppError;
use app::activity::{MAX_PER_PAGE, TrailItem, TrailQuery};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{OrgId, UserId};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::returns::rfc3339;
use super::{Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(csv))
}

/// One audit row, as API.md gives it (the Activity page's JSON download too).
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditItemView {
    /// The row's sequence number, as text.
    id: String,
    at: String,
    actor_id: Option<String>,
    organisation_id: Option<String>,
    action: String,
    target: Option<String>,
    /// `allowed` or `refused`.
    outcome: &'static str,
    /// One plain-English sentence.
    summary: String,
}

impl From<&TrailItem> for AuditItemView {
    fn from(i: &TrailItem) -> Self {
        Self {
            id: i.id.to_string(),
            at: rfc3339(i.at),
            actor_id: i.actor_id.map(|a| a.to_string()),
            organisation_id: i.organisation_id.map(|o| o.to_string()),
            action: i.action.clone(),
            target: i.target.clone(),
            outcome: i.outcome(),
            summary: i.summary.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AuditList {
    items: Vec<AuditItemView>,
    /// How many rows match; counted up to 10,000.
    total: i64,
    /// More than `total` rows match (the count stops at 10,000).
    total_capped: bool,
}

/// The rows as CSV, one line each, the same columns as the JSON items plus
/// the actor's name; formula-safe.
pub(crate) fn trail_csv(items: &[TrailItem]) -> String {
    let mut out =
        String::from("id,at,actor_id,actor,organisation_id,action,target,outcome,summary\r\n");
    for i in items {
        let v = AuditItemView::from(i);
        let cells = [
            v.id,
            v.at,
            v.actor_id.unwrap_or_default(),
            i.actor_name.clone(),
            v.organisation_id.unwrap_or_default(),
            v.action,
            v.target.unwrap_or_default(),
            v.outcome.to_owned(),
            v.summary,
        ];
        let line: Vec<String> = cells.iter().map(|c| crate::pages::csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// An instant as the API writes it (RFC 3339, UTC).
pub(crate) fn utc(t: OffsetDateTime) -> String {
    rfc3339(t)
}

/// A download's answer: `body` as `content_type`, saved as `filename`.
pub(crate) fn download(
    body: String,
    content_type: &'static str,
    filename: &'static str,
) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    resp
}

/// The filters of `?actor_id=&action=&from=&to=&organisation_id=&page=&per_page=`;
/// every malformed one is named in the answer's `fields`.
fn parse(q: &HashMap<String, String>) -> Result<TrailQuery, AppError> {
    let mut fields = app::FieldErrors::new();
    let given = |name: &str| q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let actor = given("actor_id").and_then(|v| match v.parse::<UserId>() {
        Ok(id) => Some(id),
        Err(_) => {
            fields.insert("actor_id", "Not a user id".to_owned());
            None
        }
    });
    let organisation = given("organisation_id").and_then(|v| match v.parse::<OrgId>() {
        Ok(id) => Some(id),
        Err(_) => {
            fields.insert("organisation_id", "Not an organisation id".to_owned());
            None
        }
    });
    let action = given("action").map(str::to_owned);
    if let Some(a) = &action {
        let ok = a.len() <= 100
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !ok {
            fields.insert(
                "action",
                "An action is lower-case letters, digits, '_' and '.' (a group ends in '.')"
                    .to_owned(),
            );
        }
    }
    let mut instant = |name: &'static str| {
        given(name).and_then(|v| match OffsetDateTime::parse(v, &Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => {
                fields.insert(
                    name,
                    "Must be an RFC 3339 time, like 2026-12-03T09:00:00Z".to_owned(),
                );
                None
            }
        })
    };
    let from = instant("from");
    let to = instant("to");
    let mut number = |name: &'static str, max: i64| -> i64 {
        match given(name) {
            None => 0,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 && n <= max => n,
                _ => {
                    fields.insert(name, format!("Must be a whole number from 1 to {max}"));
                    0
                }
            },
        }
    };
    let page = number("page", 1_000_000);
    let per_page = number("per_page", MAX_PER_PAGE);
    if let Err(e) = app::activity::check_range(from, to) {
        fields.extend(e);
    }
    if !fields.is_empty() {
        return Err(AppError::Invalid(fields));
    }
    Ok(TrailQuery {
        actor,
        action,
        from,
        to,
        organisation,
        page,
        per_page,
    })
}

/// The audit trail the caller may read, newest first (API.md "Audit").
#[utoipa::path(get, path = "/audit", tag = "Audit", security(("bearer" = [])),
    params(("actor_id" = Option<String>, Query, description = "Only what this user did"),
        ("action" = Option<String>, Query, description = "An action, or a group of them ending in '.' (users.)"),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("organisation_id" = Option<String>, Query, description = "Regulator administrators: one organisation's"),
        ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query, description = "1 to 200, default 50")),
    responses((status = 200, body = AuditList), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn list(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let query = match parse(&q) {
        Ok(query) => query,
        Err(e) => return refuse(&state, &caller, e).await,
    };
    let meta = &caller.ctx.meta;
    match state
        .app
        .audit_trail(meta, caller.principal(), &query)
        .await
    {
        Ok(trail) => Json(AuditList {
            items: trail.items.iter().map(AuditItemView::from).collect(),
            total: trail.total,
            total_capped: trail.total_capped,
        })
        .into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// The same rows as CSV (every page, at most 50,000), formula-safe; recorded as an export.
#[utoipa::path(get, path = "/audit.csv", tag = "Audit", security(("bearer" = [])),
    params(("actor_id" = Option<String>, Query), ("action" = Option<String>, Query),
        ("from" = Option<String>, Query), ("to" = Option<String>, Query),
        ("organisation_id" = Option<String>, Query)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn csv(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let query = match parse(&q) {
        Ok(query) => query,
        Err(e) => return refuse(&state, &caller, e).await,
    };
    let meta = &caller.ctx.meta;
    match state
        .app
        .audit_export(meta, caller.principal(), &query)
        .await
    {
        Ok(items) => download(trail_csv(&items), "text/csv; charset=utf-8", "audit.csv"),
        Err(e) => refuse(&state, &caller, e).await,
    }
}
