//! HTTP boundary of the portal: GOV.UK pages, the JSON API, extractors,
//! middleware (request context, security headers, cross-site refusal) and
//! error rendering. Handlers decide nothing themselves: they call `app`.

mod api;
pub mod assets;
mod body;
#[cfg(test)]
mod component_preview;
mod context;
mod error;
mod files;
pub mod layout;
mod page;
mod pages;
mod path_id;
mod security;
mod state;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;

pub use state::{WebConfig, WebState};

/// The whole HTTP application.
pub fn router(state: WebState) -> Router {
    let dev_mail = state.config.dev_mail_dir.is_some() && !state.config.production;
    let portal = pages::router(dev_mail)
        .nest("/api/v1", api::router())
        .layer(from_fn_with_state(state.clone(), security::same_origin))
        .layer(from_fn_with_state(state.clone(), context::resolve));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(assets::router())
        .merge(portal)
        .layer(from_fn_with_state(state.clone(), security::headers))
        .with_state(state)
}

/// Liveness: no database work, the benchmark's baseline.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
async fn readyz(State(state): State<WebState>) -> impl IntoResponse {
    match state.app.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = ?e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
    }
}
