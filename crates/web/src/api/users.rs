//! Users of the caller's organisation (API.md "Users"), read side.

use std::collections::HashMap;

use app::AppError;
use app::records::{UserFilter, UserWithRoles};
use app::users::UserPage;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use domain::{OrgId, UserId};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::RoleView;
use super::{ApiJson, Caller, refuse};
use crate::error::{ApiError, ApiErrorBody};
use crate::path_id::{PathId, parse_id};
use crate::state::WebState;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(request_status))
        .routes(routes!(add_to_organisation))
        .routes(routes!(show, update))
        .routes(routes!(set_roles))
        .routes(routes!(roles))
        .routes(routes!(copy_roles))
}

/// API.md's `User`.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    roles: Vec<RoleView>,
    access_enabled: bool,
    status: &'static str,
    /// Locked until an administrator unlocks it, or for a while after wrong codes.
    locked: bool,
    expires_at: Option<String>,
    last_signed_in_at: Option<String>,
    organisation_id: String,
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

impl UserView {
    pub fn new(u: &UserWithRoles, now: OffsetDateTime) -> Self {
        Self {
            id: u.user.id.to_string(),
            title: u.user.title.clone(),
            first_name: u.user.first_name.clone(),
            last_name: u.user.last_name.clone(),
            email: u.user.email.to_string(),
            roles: u.roles.iter().map(RoleView::from).collect(),
            access_enabled: u.user.access_enabled,
            status: u.user.account_state().status(now).as_str(),
            locked: u.user.account_state().is_locked(now),
            expires_at: rfc3339(u.user.expires_at),
            last_signed_in_at: rfc3339(u.user.last_signed_in_at),
            organisation_id: u.user.organisation_id.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ListView {
    items: Vec<UserView>,
    total: i64,
}

/// `?q=&role=&page=&per_page=` (and, for regulator administrators, `organisation_id=`).
#[utoipa::path(get, path = "/users", tag = "Users", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "Start of a name or email address"),
        ("role" = Option<String>, Query, description = "A role id"),
        ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query),
        ("organisation_id" = Option<String>, Query, description = "Regulator administrators only")),
    responses((status = 200, body = ListView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn list(
    State(state): State<WebState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let meta = &caller.ctx.meta;
    let number = |name: &'static str| -> Result<i64, AppError> {
        match q.get(name).map(String::as_str) {
            None | Some("") => Ok(0),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| AppError::invalid(name, "Must be a whole number, 1 or more")),
        }
    };
    let parsed = (|| {
        let organisation = match q.get("organisation_id").map(String::as_str) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<OrgId>()
                    .map_err(|_| AppError::invalid("organisation_id", "Not an organisation id"))?,
            ),
        };
        Ok::<_, AppError>((organisation, number("page")?, number("per_page")?))
    })();
    let (organisation, page, per_page) = match parsed {
        Ok(p) => p,
        Err(e) => {
            state
                .app
                .record_refusal(meta, Some(caller.principal()), "api.invalid", "bad query")
                .await;
            return ApiError::new(e, meta).into_response();
        }
    };
    let filter = UserFilter {
        q: q.get("q").cloned(),
        role: q.get("role").cloned(),
        offset: 0,
        limit: per_page,
        ..UserFilter::default()
    };
    match state
        .app
        .list_users(caller.principal(), organisation, filter, page, meta)
        .await
    {
        Ok(UserPage { items, total, .. }) => {
            let now = state.app.clock.now();
            Json(ListView {
                items: items.iter().map(|u| UserView::new(u, now)).collect(),
                total,
            })
            .into_response()
        }
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

/// One user of the caller's organisation (another organisation's: 404).
#[utoipa::path(get, path = "/users/{id}", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn show(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<UserId>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = state.app.view_user(caller.principal(), id, meta).await;
    match result {
        Ok(u) => Json(UserView::new(&u, state.app.clock.now())).into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(Serialize, ToSchema)]
struct RoleOfferView {
    id: String,
    name: String,
    description: String,
    grantable: bool,
}

/// Every role, with whether the caller may grant it.
#[utoipa::path(get, path = "/roles", tag = "Users", security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleOfferView>), (status = 401, body = ApiErrorBody)))]
async fn roles(State(state): State<WebState>, caller: Caller) -> Response {
    match state.app.role_catalogue(caller.principal()).await {
        Ok(offers) => Json(
            offers
                .into_iter()
                .map(|o| RoleOfferView {
                    id: o.role.id(),
                    name: o.name,
                    description: o.description,
                    grantable: o.grantable,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

/// The answer to a change: the user as they now are, or the error. Bad input
/// is audited here; the use case has already audited what it refused.
pub(super) async fn answer(
    state: &WebState,
    caller: &Caller,
    result: Result<UserWithRoles, AppError>,
) -> Response {
    match result {
        Ok(u) => Json(UserView::new(&u, state.app.clock.now())).into_response(),
        Err(e) => refuse(state, caller, e).await,
    }
}

/// Replace the user's roles with this whole set, atomically.
#[utoipa::path(put, path = "/users/{id}/roles", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RolesBody,
    responses((status = 200, body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn set_roles(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<UserId>,
    body: ApiJson<RolesBody>,
) -> Response {
    let result = state
        .app
        .set_roles(caller.principal(), id, &body.data.roles, &caller.ctx.meta)
        .await;
    answer(&state, &caller, result).await
}

/// Present-and-null and absent are different for `expires_at`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    title: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    access_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
    locked: Option<bool>,
    /// The whole new set of roles, changed together with the rest: all of it
    /// happens, or none of it (as Edit user's Submit).
    roles: Option<Vec<String>>,
}

/// Change details, access, expiry, or unlock (`"locked": false`), and
/// optionally the roles, in one change.
#[utoipa::path(patch, path = "/users/{id}", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatchBody,
    responses((status = 200, body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn update(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<UserId>,
    body: ApiJson<PatchBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let b = &body.data;
    let expires_at = match &b.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => match OffsetDateTime::parse(t, &Rfc3339) {
            Ok(t) => Some(Some(t)),
            Err(_) => {
                let e = AppError::invalid(
                    "expires_at",
                    "Give a time like 2027-07-31T23:59:59Z, or null",
                );
                return answer(&state, &caller, Err(e)).await;
            }
        },
    };
    let patch = app::users::UserPatch {
        title: b.title.clone(),
        first_name: b.first_name.clone(),
        last_name: b.last_name.clone(),
        email: b.email.clone(),
        access_enabled: b.access_enabled,
        expires_at,
        locked: b.locked,
    };
    let roles = match b.roles.as_deref().map(app::users::parse_roles).transpose() {
        Ok(r) => r.map(app::users::RoleChange::Replace),
        Err(e) => return answer(&state, &caller, Err(e)).await,
    };
    // Audited as a role change only when it changes nothing but roles.
    let action = if roles.is_some() {
        "users.set_roles"
    } else {
        "users.update"
    };
    let edit = app::users::UserEdit { patch, roles };
    let result = state
        .app
        .edit_user(caller.principal(), id, edit, action, meta)
        .await;
    answer(&state, &caller, result).await
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    #[serde(default)]
    title: String,
    first_name: String,
    last_name: String,
    email: String,
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    #[serde(default)]
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct RequestView {
    request_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

async fn accepted(
    state: &WebState,
    caller: &Caller,
    result: Result<uuid::Uuid, AppError>,
) -> Response {
    match result {
        Ok(id) => (
            axum::http::StatusCode::ACCEPTED,
            Json(RequestView {
                request_id: id.to_string(),
                status: "pending",
                user_id: None,
                reason: None,
            }),
        )
            .into_response(),
        Err(e) => answer(state, caller, Err(e)).await,
    }
}

/// `POST /users`: ask for a colleague to be added (processed in the background).
#[utoipa::path(post, path = "/users", tag = "Users", security(("bearer" = [])), request_body = AddBody,
    responses((status = 202, body = RequestView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn add(State(state): State<WebState>, caller: Caller, body: ApiJson<AddBody>) -> Response {
    let b = &body.data;
    let input = app::users::AddUserInput {
        title: b.title.clone(),
        first_name: b.first_name.clone(),
        last_name: b.last_name.clone(),
        email: b.email.clone(),
        roles: Vec::new(),
    };
    let result = state
        .app
        .request_user(caller.principal(), None, &input, &caller.ctx.meta)
        .await;
    accepted(&state, &caller, result).await
}

/// `POST /organisations/{id}/users`: the regulator invites a provider's user,
/// with roles (e.g. the accountable officer as Portal Administrator).
#[utoipa::path(post, path = "/organisations/{id}/users", tag = "Organisations", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = InviteBody,
    responses((status = 202, body = RequestView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn add_to_organisation(
    State(state): State<WebState>,
    caller: Caller,
    PathId(org): PathId<OrgId>,
    body: ApiJson<InviteBody>,
) -> Response {
    let b = &body.data;
    let input = app::users::AddUserInput {
        title: b.title.clone(),
        first_name: b.first_name.clone(),
        last_name: b.last_name.clone(),
        email: b.email.clone(),
        roles: b.roles.clone(),
    };
    let result = state
        .app
        .request_user(caller.principal(), Some(org), &input, &caller.ctx.meta)
        .await;
    accepted(&state, &caller, result).await
}

/// How an add-user request went.
#[utoipa::path(get, path = "/user-requests/{id}", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn request_status(
    State(state): State<WebState>,
    caller: Caller,
    PathId(id): PathId<uuid::Uuid>,
) -> Response {
    let meta = &caller.ctx.meta;
    let result = state.app.user_request(caller.principal(), id, meta).await;
    match result {
        Ok(r) => Json(RequestView {
            request_id: r.id.to_string(),
            status: r.status.as_str(),
            user_id: r.user_id.map(|u| u.to_string()),
            reason: r.reason,
        })
        .into_response(),
        Err(e) => ApiError::new(e, meta).into_response(),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    to_user_id: String,
}

/// Copy this user's roles to another user of the organisation (seed 000 D):
/// every role the caller may give (the answer is the target, holding them);
/// `403` naming the reasons when none may be given.
#[utoipa::path(post, path = "/users/{id}/copy-roles", tag = "Users", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CopyBody,
    responses((status = 200, description = "The target user", body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn copy_roles(
    State(state): State<WebState>,
    caller: Caller,
    PathId(from): PathId<UserId>,
    body: ApiJson<CopyBody>,
) -> Response {
    let meta = &caller.ctx.meta;
    let actor = caller.principal();
    let result = match parse_id(
        &state.app,
        meta,
        Some(actor),
        &body.data.to_user_id,
        "to_user_id",
    )
    .await
    {
        Ok(to) => state.app.copy_roles(actor, from, to, meta).await,
        Err(e) => Err(e),
    };
    answer(&state, &caller, result).await
}
