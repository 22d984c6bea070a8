//! Who is asking, for every request: a request id, the client's address (the
//! TCP peer, never a header) and the signed-in principal, read fresh.

use std::net::SocketAddr;
use std::sync::Arc;

use app::records::SessionKind;
use app::{Principal, RequestMeta};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, PageError};
use crate::state::{WebState, read_cookie};

pub const SESSION_COOKIE: &str = "portal_session";

/// Put in every request's extensions by [`resolve`].
#[derive(Clone)]
pub struct Ctx {
    pub meta: RequestMeta,
    pub principal: Option<Arc<Principal>>,
}

impl Ctx {
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_deref()
    }
}

/// Middleware: builds the [`Ctx`] and answers with `X-Request-Id`.
pub async fn resolve(State(state): State<WebState>, mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let meta = RequestMeta {
        request_id: request_id.clone(),
        ip,
    };
    let api = req.uri().path().starts_with("/api/");
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
    async move {
        let token = presented_token(&state, &req, api);
        let kind = if api {
            SessionKind::Api
        } else {
            SessionKind::Web
        };
        let found = match token {
            Some(t) => state.app.resolve_session(&t, kind).await,
            None => Ok(None),
        };
        let principal = match found {
            Ok(p) => p.map(Arc::new),
            Err(e) => {
                let mut resp = if api {
                    ApiError::new(e, &meta).into_response()
                } else {
                    PageError::new(e, &meta, None).into_response()
                };
                set_request_id(&mut resp, &request_id);
                return resp;
            }
        };
        req.extensions_mut().insert(Ctx { meta, principal });
        let mut resp = next.run(req).await;
        set_request_id(&mut resp, &request_id);
        tracing::info!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

fn set_request_id(resp: &mut Response, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-request-id", v);
    }
}

/// The session token the client presented: a bearer token to the API, the
/// session cookie to pages.
fn presented_token(state: &WebState, req: &Request, api: bool) -> Option<String> {
    if api {
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
    } else {
        read_cookie(req.headers(), &state.cookie_name(SESSION_COOKIE))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            // Only reachable if a route was mounted outside the `resolve` layer.
            let meta = RequestMeta {
                request_id: "unknown".into(),
                ip: None,
            };
            PageError::new(
                app::AppError::internal("request context missing"),
                &meta,
                None,
            )
            .into_response()
        })
    }
}
