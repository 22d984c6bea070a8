//! Access keys (API.md "Areas and access keys"): issued, listed and revoked
//! by regulator administrators; activated by anyone signed in.

use app::AppError;
use app::access_keys::{IssueKeyInput, ListedKey};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::RoleView;
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list, issue))
        .routes(routes!(revoke))
        .routes(routes!(activate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    organisation_id: String,
    /// A provider role id, e.g. `portal-admin` or `area-member:board-papers`.
    role: String,
    max_uses: i64,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
struct Issued {
    id: String,
    /// The key, shown this once: it is stored only as a keyed hash.
    key: String,
}

/// Issue a key for one role at one provider (regulator administrators).
#[utoipa::path(post, path = "/access-keys", tag = "Access keys", security(("bearer" = [])), request_body = IssueBody,
    responses((status = 201, body = Issued), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn issue(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<IssueBody>,
) -> Response {
    let b = &body.data;
    let Ok(expires_at) = OffsetDateTime::parse(&b.expires_at, &Rfc3339) else {
        let e = AppError::invalid("expires_at", "Give a time like 2027-07-31T23:59:59Z");
        return refuse(&state, &caller, e).await;
    };
    let input = IssueKeyInput {
        organisation: b.organisation_id.clone(),
        role: b.role.clone(),
        max_uses: b.max_uses,
        expires_at: Some(expires_at),
    };
    match state
        .app
        .issue_access_key(Some(caller.principal()), &input, &caller.ctx.meta)
        .await
    {
        Ok(k) => (
            StatusCode::CREATED,
            Json(Issued {
                id: k.record.id.to_string(),
                key: k.key.grouped(),
            }),
        )
            .into_response(),
        Err(e) => refuse(&state, &caller, e).await,
    }
}

#[derive(Serialize, ToSchema)]
struct KeyView {
    id: String,
    organisation_id: String,
    organisation_name: String,
    role: RoleView,
    max_uses: i64,
    uses: i64,
    expires_at: String,
    revoked_at: Option<String>,
    /// `active`, `revoked`, `expired` or `used_up`.
    state: String,
}

fn view(k: &ListedKey, now: OffsetDateTime) -> KeyView {
    let r = &k.record;
    KeyView {
        id: r.id.to_string(),
        organisation_id: r.organisation_id.to_string(),
        organisation_name: k.organisation_name.clone(),
        role: RoleView::named(r.role.id(), k.role_name.clone()),
        max_uses: r.max_uses,
        uses: r.uses,
        expires_at: r.expires_at.format(&Rfc3339).unwrap_or_default(),
        revoked_at: r.revoked_at.and_then(|t| t.format(&Rfc3339).ok()),
        state: r.state(now).to_lowercase().replace(' ', "_"),
    }
}

/// Every key, newest first, never its secret (regulator administrators).
#[utoipa::path(get, path = "/access-keys", tag = "Access keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn list(State(state): State<WebState>, caller: Caller) -> Response {
    match state
        .app
        .list_access_keys(caller.principal(), &caller.ctx.meta)
        .await
    {
        Ok(keys) => {
            let now = state.app.clock.now();
            Json(keys.iter().map(|k| view(k, now)).collect::<Vec<_>>()).into_response()
        }
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

/// Revoke a key: it can no longer be activated (regulator administrators).
#[utoipa::path(delete, path = "/access-keys/{id}", tag = "Access keys", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn revoke(State(state): State<WebState>, caller: Caller, Path(id): Path<String>) -> Response {
    match state
        .app
        .revoke_access_key(caller.principal(), &id, &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    key: String,
}

#[derive(Serialize, ToSchema)]
struct Activated {
    role: RoleView,
}

/// Activate a key: the caller gets its role, at the key's provider only.
#[utoipa::path(post, path = "/access-keys/activate", tag = "Access keys", security(("bearer" = [])), request_body = ActivateBody,
    responses((status = 200, body = Activated), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
async fn activate(
    State(state): State<WebState>,
    caller: Caller,
    body: ApiJson<ActivateBody>,
) -> Response {
    match state
        .app
        .activate_access_key(caller.principal(), &body.data.key, &caller.ctx.meta)
        .await
    {
        Ok(grant) => Json(Activated {
            role: RoleView::from(&grant),
        })
        .into_response(),
        // The use case has audited the refusal (and counted it against the caller).
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}
