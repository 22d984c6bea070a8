//! Sign-in, sign-out and `/me` (API.md "Sign-in").

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use store::SessionKind;
use time::format_description::well_known::Rfc3339;

use super::{ApiJson, Caller};
use crate::error::ApiError;
use crate::state::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/auth/code", post(request_code))
        .route("/auth/token", post(create_token).delete(delete_token))
        .route("/me", get(me))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    email: String,
}

#[derive(Serialize)]
struct CodeRequested {
    attempt_id: String,
}

async fn request_code(State(state): State<WebState>, body: ApiJson<CodeRequest>) -> Response {
    match state
        .app
        .request_code(&body.data.email, &body.ctx.meta)
        .await
    {
        Ok(attempt) => (
            StatusCode::ACCEPTED,
            Json(CodeRequested {
                attempt_id: attempt.to_string(),
            }),
        )
            .into_response(),
        Err(e) => ApiError::new(e, &body.ctx.meta).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    attempt_id: String,
    code: String,
}

#[derive(Serialize)]
struct TokenIssued {
    token: String,
    expires_at: String,
}

async fn create_token(State(state): State<WebState>, body: ApiJson<TokenRequest>) -> Response {
    let signed_in = state
        .app
        .verify_code(
            &body.data.attempt_id,
            &body.data.code,
            SessionKind::Api,
            None,
            &body.ctx.meta,
        )
        .await;
    match signed_in {
        Ok(s) => Json(TokenIssued {
            token: s.token.expose().to_owned(),
            expires_at: s.expires_at.format(&Rfc3339).unwrap_or_default(),
        })
        .into_response(),
        Err(e) => ApiError::new(e, &body.ctx.meta).into_response(),
    }
}

async fn delete_token(State(state): State<WebState>, caller: Caller) -> Response {
    match state
        .app
        .sign_out(caller.principal(), &caller.ctx.meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::new(e, &caller.ctx.meta).into_response(),
    }
}

#[derive(Serialize)]
pub struct OrganisationView {
    id: String,
    name: String,
    kind: &'static str,
    ukprn: Option<String>,
}

#[derive(Serialize)]
pub struct RoleView {
    id: String,
    name: String,
}

impl From<&store::RoleGrant> for RoleView {
    fn from(r: &store::RoleGrant) -> Self {
        Self {
            id: r.role.id(),
            name: r.name(),
        }
    }
}

#[derive(Serialize)]
struct Me {
    id: String,
    email: String,
    title: String,
    first_name: String,
    last_name: String,
    organisation: OrganisationView,
    roles: Vec<RoleView>,
}

async fn me(caller: Caller) -> Response {
    let p = caller.principal();
    Json(Me {
        id: p.user.id.to_string(),
        email: p.user.email.clone(),
        title: p.user.title.clone(),
        first_name: p.user.first_name.clone(),
        last_name: p.user.last_name.clone(),
        organisation: OrganisationView {
            id: p.organisation.id.to_string(),
            name: p.organisation.name.clone(),
            kind: p.organisation.kind.as_str(),
            ukprn: p.organisation.ukprn.as_ref().map(|u| u.to_string()),
        },
        roles: p.roles.iter().map(RoleView::from).collect(),
    })
    .into_response()
}
