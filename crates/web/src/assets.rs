//! The stylesheet and scripts, embedded in the binary and served under `/assets/`.
//!
//! `portal.css` and `govuk-frontend.min.js` are built from the pinned npm
//! packages by `build.rs` (into `OUT_DIR`); `app.js` is our own. Responses are
//! cacheable for an hour and carry a strong `ETag` (so a revalidation after a
//! deploy costs a 304 at most).

use std::sync::LazyLock;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The text of the layout's only inline script (GOV.UK Frontend's snippet
/// that tells the stylesheet JavaScript is available). `layout.html` renders
/// exactly this text between `<script>` and `</script>`; the
/// Content-Security-Policy allows it by hash ([`inline_script_csp_hash`]).
pub const INLINE_SCRIPT: &str = "document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');";

/// The CSP source expression allowing [`INLINE_SCRIPT`], for `script-src`:
/// `'sha256-<base64 of the SHA-256 of the script text>'`.
pub fn inline_script_csp_hash() -> String {
    let digest = Sha256::digest(INLINE_SCRIPT.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

const PORTAL_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/portal.css"));
const GOVUK_FRONTEND_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/govuk-frontend.min.js"));
const APP_JS: &str = include_str!("../assets/app.js");

const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// Quoted strong entity tag: a prefix of the hex SHA-256 of `bytes`.
    etag: String,
}

impl Asset {
    fn new(path: &'static str, content_type: &'static str, bytes: &'static [u8]) -> Self {
        let digest = hex::encode(Sha256::digest(bytes));
        Self {
            path,
            content_type,
            bytes,
            etag: format!("\"{}\"", &digest[..32]),
        }
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        Asset::new("/assets/portal.css", CSS, PORTAL_CSS),
        Asset::new(
            "/assets/govuk-frontend.min.js",
            JAVASCRIPT,
            GOVUK_FRONTEND_JS,
        ),
        Asset::new("/assets/app.js", JAVASCRIPT, APP_JS.as_bytes()),
    ]
});

/// Routes for `/assets/portal.css`, `/assets/govuk-frontend.min.js` and
/// `/assets/app.js` (GET and HEAD). Other paths fall through to the
/// application's fallback.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve(asset, &headers) }),
        )
    })
}

fn serve(asset: &'static Asset, request_headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (ETAG, etag),
    ];
    if if_none_match_matches(request_headers, &asset.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.bytes,
    )
        .into_response()
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"`
/// matches `"x"`, and `*` matches anything.
fn if_none_match_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn get_asset(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header<'a>(response: &'a Response, name: &axum::http::HeaderName) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    #[test]
    fn csp_hash_is_the_hash_of_the_inline_script() {
        let expected = format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(INLINE_SCRIPT))
        );
        assert_eq!(inline_script_csp_hash(), expected);
        // Pinned: if this changes, the script text changed (check the layout).
        assert_eq!(
            inline_script_csp_hash(),
            "'sha256-GUQ5ad8JK5KmEWmROf3LZd9ge94daqNvd8xy9YS1iDw='"
        );
    }

    #[tokio::test]
    async fn every_asset_is_served_with_type_and_cache_headers() {
        for (path, content_type, bytes) in [
            ("/assets/portal.css", "text/css", PORTAL_CSS),
            (
                "/assets/govuk-frontend.min.js",
                "text/javascript",
                GOVUK_FRONTEND_JS,
            ),
            ("/assets/app.js", "text/javascript", APP_JS.as_bytes()),
        ] {
            let response = get_asset(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(
                header(&response, &CONTENT_TYPE).starts_with(content_type),
                "{path}"
            );
            assert_eq!(header(&response, &CACHE_CONTROL), "public, max-age=3600");
            assert_eq!(header(&response, &X_CONTENT_TYPE_OPTIONS), "nosniff");
            let etag = header(&response, &ETAG).to_owned();
            assert!(
                etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
                "{etag}"
            );
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert_eq!(&body[..], bytes, "{path}");
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn matching_if_none_match_is_answered_304() {
        let etag = header(&get_asset("/assets/app.js", None).await, &ETAG).to_owned();
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let response = get_asset("/assets/app.js", Some(&tag)).await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert_eq!(header(&response, &ETAG), etag);
            assert_eq!(header(&response, &CACHE_CONTROL), "public, max-age=3600");
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert!(body.is_empty());
        }
        let response = get_asset("/assets/app.js", Some("\"stale\"")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_asset_is_404() {
        for path in [
            "/assets/nope.css",
            "/assets/",
            "/assets/govuk/images/govuk-crest.svg",
        ] {
            assert_eq!(
                get_asset(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[test]
    fn stylesheet_has_no_gov_uk_fonts_or_crown() {
        let css = std::str::from_utf8(PORTAL_CSS).unwrap();
        assert!(
            css.contains(".govuk-button"),
            "not the govuk-frontend styles"
        );
        assert!(css.contains("arial"));
        for forbidden in [
            "@font-face",
            "GDS Transport",
            ".woff",
            "/fonts/",
            "govuk-crest",
            "crown.",
            "/images/",
            "url(",
        ] {
            assert!(
                !css.contains(forbidden),
                "portal.css contains {forbidden:?}"
            );
        }
    }

    #[test]
    fn scripts_fit_together() {
        let govuk = std::str::from_utf8(GOVUK_FRONTEND_JS).unwrap();
        assert!(govuk.contains("initAll"));
        assert!(!govuk.contains("sourceMappingURL"));
        assert!(APP_JS.contains(r#"import { initAll } from "/assets/govuk-frontend.min.js";"#));
    }
}
