//! Who is asking, for every request: a request id, the client's address (the
//! TCP peer, never a header) and the signed-in principal, read fresh.

use std::net::SocketAddr;
use std::sync::Arc;

use app::records::SessionKind;
use app::session::{SessionOver, SessionState, Whose};
use app::{Principal, RequestMeta};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::Instrument;

use crate::error::{ApiError, PageError};
use crate::state::{WebState, read_cookie};

pub const SESSION_COOKIE: &str = "portal_session";

/// Put in every request's extensions by [`resolve`].
#[derive(Clone)]
pub struct Ctx {
    pub meta: RequestMeta,
    pub principal: Option<Arc<Principal>>,
    /// The browser's own session is over, and why (its holder is told once,
    /// on the signed-out page).
    pub over: Option<SessionOver>,
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
            Some(t) => state.app.session_state(&t, kind).await,
            None => Ok(SessionState::None),
        };
        let (principal, over) = match found {
            Ok(SessionState::Live(p)) => (Some(Arc::new(*p)), None),
            Ok(SessionState::Over(why, whose)) => (None, Some((why, whose))),
            Ok(SessionState::None) => (None, None),
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
        // Where an anonymous visitor was going, should signing in be needed.
        let asked_for = (!api && principal.is_none() && is_get(req.method()))
            .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        if let Some((why, whose)) = &over
            && !api
            && !tells_nothing_of_sessions(req.uri().path())
        {
            let unsafe_request =
                (!is_get(req.method())).then(|| format!("{} {}", req.method(), req.uri().path()));
            let mut resp = session_over(
                &state,
                &meta,
                unsafe_request.as_deref(),
                why,
                *whose,
                asked_for.as_deref(),
            )
            .await;
            set_request_id(&mut resp, &request_id);
            return resp;
        }
        let signed_in = principal.is_some();
        req.extensions_mut().insert(Ctx {
            meta,
            principal,
            over: over.map(|(why, _)| why),
        });
        let mut resp = next.run(req).await;
        if !signed_in && let Some(path) = asked_for {
            remember_where_it_was_going(&mut resp, &path);
        }
        set_request_id(&mut resp, &request_id);
        tracing::info!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

fn is_get(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// Pages that work the same whether or not the browser's session is over:
/// signing in, out, and the signed-out page itself (where it is told), and
/// "Stay signed in" (which answers the timeout warning's script itself).
fn tells_nothing_of_sessions(path: &str) -> bool {
    path == "/sign-in"
        || path.starts_with("/sign-in/")
        || path == "/sign-out"
        || path == "/signed-out"
        || path == STAY_SIGNED_IN
        || path.starts_with("/dev/mail")
}

/// Where the timeout warning's "Stay signed in" posts.
pub const STAY_SIGNED_IN: &str = "/stay-signed-in";

/// The browser's session is over: it goes to the signed-out page, which says
/// why (it reads the same cookie) and clears the cookie. A page it asked for
/// is kept to return to after signing in again; a form sent now is not
/// acted on, and is audited as refused.
async fn session_over(
    state: &WebState,
    meta: &RequestMeta,
    unsafe_request: Option<&str>,
    why: &SessionOver,
    whose: Whose,
    asked_for: Option<&str>,
) -> Response {
    if let Some(request) = unsafe_request {
        let detail = format!("{}: {request}", over_in_words(why));
        state.app.record_session_over(meta, whose, &detail).await;
    }
    // Signing in again is offered only after a timeout: only then is there
    // a page to return to.
    let timed_out = matches!(why, SessionOver::TimedOut { .. } | SessionOver::TooOld);
    let to = match asked_for.filter(|_| timed_out).and_then(return_path) {
        Some(path) => format!("/signed-out?{}", return_query(path)),
        None => "/signed-out".to_owned(),
    };
    Redirect::to(&to).into_response()
}

/// A session's end, for the audit trail.
fn over_in_words(why: &SessionOver) -> &'static str {
    match why {
        SessionOver::TimedOut { .. } => "session timed out",
        SessionOver::TooOld => "session older than 12 hours",
        SessionOver::AccessDisabled { .. } => "access disabled",
        SessionOver::Expired { .. } => "account expired",
        SessionOver::Locked { .. } => "account locked",
    }
}

/// An anonymous visit answered "sign in first" (a redirect to `/sign-in`):
/// the sign-in page is told where to return (Home needs no saying).
fn remember_where_it_was_going(resp: &mut Response, asked_for: &str) {
    let to_sign_in = resp.status() == StatusCode::SEE_OTHER
        && resp
            .headers()
            .get(header::LOCATION)
            .map(HeaderValue::as_bytes)
            == Some(b"/sign-in");
    if !to_sign_in {
        return;
    }
    if let Some(path) = return_path(asked_for)
        && let Ok(v) = HeaderValue::from_str(&format!("/sign-in?{}", return_query(path)))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
}

/// `return=<path, percent-encoded>`.
pub fn return_query(path: &str) -> String {
    serde_urlencoded::to_string([("return", path)]).unwrap_or_default()
}

/// A page to return to after signing in, if `raw` is one: a path on this
/// site — one `/` then not another `/` or a `\`, printable ASCII with no
/// space, no backslash anywhere, no encoded `/`, `\` or control character
/// that a browser or proxy might decode into one — that is not Home, a
/// sign-in or sign-out page, or the API. Anything else: `None` (Home).
/// Checked where it comes in (the query, the form) and again where it is
/// used (the redirect after signing in).
pub fn return_path(raw: &str) -> Option<&str> {
    const MOST: usize = 1024;
    let bytes = raw.as_bytes();
    let shaped = !raw.is_empty()
        && raw.len() <= MOST
        && bytes[0] == b'/'
        && bytes.get(1).is_none_or(|b| *b != b'/')
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    if !shaped {
        return None;
    }
    // Encoded separators or controls in the path: refused, whatever would
    // decode them (in the query they are only a search's text).
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    let lower = path.to_ascii_lowercase();
    let encoded_danger = ["%2f", "%5c", "%09", "%0a", "%0d", "%00", "%25"]
        .iter()
        .any(|e| lower.contains(e));
    if encoded_danger {
        return None;
    }
    // No `.` or `..` segment, plain or encoded (`%2e`): `/x/../signed-out`
    // would be resolved to a page that is refused.
    let dot_segment = lower
        .replace("%2e", ".")
        .split('/')
        .any(|seg| seg == "." || seg == "..");
    if dot_segment {
        return None;
    }
    let not_a_page = matches!(
        path,
        "/" | "/home" | "/sign-out" | "/signed-out" | STAY_SIGNED_IN
    ) || path == "/sign-in"
        || path.starts_with("/sign-in/")
        || path == "/api"
        || path.starts_with("/api/");
    (!not_a_page).then_some(raw)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_page_paths_are_returned_to() {
        for ok in [
            "/account",
            "/users?q=ada&page=2",
            "/users/0190b1e2-0000-7000-8000-000000000000",
            "/activity?action=sign_in.code_requested",
            "/users?q=%20ada",
            "/users?q=a%2Fb",
            "/users?q=../x",
            "/users/a..b",
        ] {
            assert_eq!(return_path(ok), Some(ok), "{ok}");
        }
        for refused in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            " /account",
            "/\t/evil.example",
            "/ /evil.example",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%09/evil.example",
            "/%252F%252Fevil.example",
            "/account\n",
            "/caf\u{e9}",
            "/",
            "/home",
            "/sign-in",
            "/sign-in/code",
            "/sign-out",
            "/signed-out?return=%2Faccount",
            "/stay-signed-in",
            "/api/v1/me",
            "/x/../signed-out",
            "/x/..",
            "/./sign-out",
            "/x/%2e%2e/api/v1/me",
            "/x/.%2E/home",
            "/x/%2E",
        ] {
            assert_eq!(return_path(refused), None, "{refused:?}");
        }
        assert_eq!(
            return_path(&format!("/{}", "a".repeat(1023))).map(str::len),
            Some(1024)
        );
        assert_eq!(return_path(&format!("/{}", "a".repeat(1024))), None);
    }

    #[test]
    fn the_return_query_is_percent_encoded() {
        assert_eq!(
            return_query("/users?q=a&page=2"),
            "return=%2Fusers%3Fq%3Da%26page%3D2"
        );
    }
}
