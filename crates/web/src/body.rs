//! Reading request bodies: one size limit, one content-type check, for forms
//! and JSON alike.

use axum::body::Body;
use axum::http::{HeaderMap, header};

/// The largest form or JSON body accepted (uploads will have their own limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// 415: not the expected media type.
    WrongType,
    /// 413: larger than the limit (refused before reading when the length is declared).
    TooLarge,
    /// 400: the connection failed while reading.
    Unreadable,
}

impl BodyError {
    pub fn detail(self) -> &'static str {
        match self {
            Self::WrongType => "unsupported content type",
            Self::TooLarge => "body too large",
            Self::Unreadable => "body could not be read",
        }
    }
}

/// Whether the request's `Content-Type` is `expected` (parameters such as
/// `charset` allowed).
pub fn has_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

pub async fn read(
    headers: &HeaderMap,
    body: Body,
    expected: &str,
) -> Result<axum::body::Bytes, BodyError> {
    if !has_type(headers, expected) {
        return Err(BodyError::WrongType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return BodyError::TooLarge;
                }
                source = s.source();
            }
            BodyError::Unreadable
        })
}
