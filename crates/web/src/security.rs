//! Headers every response carries, and the refusal of cross-site form posts.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::Ctx;
use crate::error::PageError;
use crate::state::WebState;

/// Adds the security headers. `Cache-Control: no-store` unless the handler set
/// its own (only the static assets do), so no signed-in page is ever cached.
pub async fn headers(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let csp = format!(
        "default-src 'self'; script-src 'self' {}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        crate::assets::inline_script_csp_hash()
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if state.config.production {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

/// Refuses unsafe requests to pages that a browser says come from another
/// site (`Sec-Fetch-Site`), or whose `Origin` is not this host. The per-form
/// token ([`crate::page::Form`]) is checked as well; this stops the request
/// before any handler runs, even for clients that send no token.
pub async fn same_origin(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || req.uri().path().starts_with("/api/") || !is_cross_site(req.headers()) {
        return next.run(req).await;
    }
    if let Err(e) = state
        .app
        .audit_refusal(
            &ctx.meta,
            ctx.principal(),
            "csrf.cross_site",
            req.uri().path(),
        )
        .await
    {
        tracing::error!(error = ?e, "could not audit a refusal");
    }
    PageError::refused(
        StatusCode::FORBIDDEN,
        "This request came from another website",
        "For your security, forms can only be sent from Provider Portal's own pages.",
        &ctx.meta,
    )
    .into_response()
}

fn is_cross_site(headers: &axum::http::HeaderMap) -> bool {
    // Browsers that send Fetch Metadata say exactly where the request came
    // from; trust that first. (Origin can be "null" on a same-origin post
    // under some referrer policies, so it is only the fallback.)
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_is_recognised_by_fetch_metadata_or_origin() {
        assert!(!is_cross_site(&headers(&[("host", "portal.example")])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[
            ("host", "portal.example"),
            ("origin", "https://portal.example")
        ])));
        // A same-origin post whose Origin the browser serialised as "null".
        assert!(!is_cross_site(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("host", "portal.example"),
            ("origin", "null")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "portal.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "portal.example"),
            ("origin", "null")
        ])));
    }
}
