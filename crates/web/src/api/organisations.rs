//! Organisations, for the regulator's administrators (API.md "Organisations"),
//! and resending an invitation (issue 15: the page actions' API equivalents).

use std::collections::HashMap;

use app::AppError;
use app::admin::{OrganisationChange, OrganisationInput};
use app::records::OrganisationRecord;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::path_id::PathId;
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(resend_invitation))
}

#[derive(Serialize, ToSchema)]
struct OrganisationView {
    id: String,
    name: String,
    kind: &'static str,
    ukprn: Option<String>,
    accountable_officer_name: Option<String>,
    accountable_officer_email: Option<String>,
    created_at: String,
}

impl From<&OrganisationRecord> for OrganisationView {
    fn from(o: &OrganisationRecord) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            kind: o.kind.as_str(),
            ukprn: o.ukprn.as_ref().map(|u| u.to_string()),
            accountable_officer_name: o.accountable_officer_name.clone(),
            accountable_officer_email: o
                .accountable_officer_email
                .as_ref()
                .map(ToString::to_string),
            created_at: o.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ListView {
    items: Vec<OrganisationView>,
    total: i64,
}

/// Every organisation (regulator administrators).
#[utoipa::path(get, path = "/organisations", tag = "Organisations", security(("bearer" = [])),
    params(("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    responses((status = 200, body = ListView), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn list(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let number = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    match state
        .app
        .list_organisations(
            caller.principal(),
            number("page"),
            number("per_page"),
            &caller.ctx.meta,
        )
        .await
    {
        Ok((orgs, total)) => Json(ListView {
            items: orgs.iter().map(OrganisationView::from).collect(),
            total,
        })
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    kind: String,
    ukprn: Option<String>,
    accountable_officer_name: Option<String>,
    accountable_officer_email: Option<String>,
}

/// Create an organisation (regulator administrators).
#[utoipa::path(post, path = "/organisations", tag = "Organisations", security(("bearer" = [])),
    request_body = CreateBody,
    responses((status = 201, body = OrganisationView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<CreateBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let b = &body.data;
    let input = OrganisationInput {
        name: b.name.clone(),
        kind: b.kind.clone(),
        ukprn: b.ukprn.clone(),
        accountable_officer_name: b.accountable_officer_name.clone(),
        accountable_officer_email: b.accountable_officer_email.clone(),
    };
    let created = match state
        .app
        .add_organisation(caller.principal(), &input, meta)
        .await
    {
        Ok(id) => state.app.organisation(id).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(Some(org)) => (StatusCode::CREATED, Json(OrganisationView::from(&org))).into_response(),
        Ok(None) => ApiError::new(AppError::internal("created organisation not found"), meta)
            .into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    ukprn: Option<String>,
    /// With `accountable_officer_email`: both, or both empty for none.
    accountable_officer_name: Option<String>,
    accountable_officer_email: Option<String>,
}

/// Change a provider's name, UKPRN or accountable officer (regulator
/// administrators); a field left out stays as it is. When the accountable
/// officer's address changes, the old address and the new are told.
#[utoipa::path(patch, path = "/organisations/{id}", tag = "Organisations", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatchBody,
    responses((status = 200, body = OrganisationView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn update(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<domain::OrgId>,
    body: ApiJson<PatchBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    // A field left out is filled from the organisation as it is once locked,
    // inside the change: two changes to different fields both hold.
    let b = &body.data;
    let change = OrganisationChange {
        name: b.name.clone(),
        ukprn: b.ukprn.clone(),
        accountable_officer_name: b.accountable_officer_name.clone(),
        accountable_officer_email: b.accountable_officer_email.clone(),
    };
    match state.app.edit_organisation(actor, id, &change, meta).await {
        Ok(org) => Json(OrganisationView::from(&org)).into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

/// Send someone who has never signed in their invitation (the welcome email)
/// again: a regulator administrator for anyone, a provider's administrators
/// for their own people by the rules for changing them. A few times a day
/// per person (`429` with `Retry-After` past that); `403` once they have
/// signed in, or while they could not (access disabled, expired, locked).
#[utoipa::path(post, path = "/users/{id}/resend-invitation", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "The invitation is on its way"),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn resend_invitation(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<domain::UserId>,
) -> Response {
    let meta = &caller.ctx.meta;
    match state
        .app
        .resend_invitation(caller.principal(), id, meta)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}
