//! What the data returns API shares: its times (RFC 3339), a file as it is
//! described (a submission's or a shared document's), and the answer to a
//! refused upload (submissions in [`super::submissions`], documents in
//! [`super::documents`]).

use app::AppError;
use app::records::FileRecord;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::Caller;
use crate::error::ApiError;
use crate::files::UploadFailure;
use crate::state::WebState;

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub(super) struct FileView {
    id: String,
    filename: String,
    kind: &'static str,
    size: i64,
    sha256: String,
}

pub(super) fn file_view(f: &FileRecord) -> FileView {
    FileView {
        id: f.id.to_string(),
        filename: f.filename.clone(),
        kind: f.kind.as_str(),
        size: f.size,
        sha256: hex::encode(&f.sha256),
    }
}

/// Turns a failed upload into the API's answer, audited.
/// A refused upload, audited as the action the upload was permitted for.
pub(super) async fn upload_refused(
    state: &WebState,
    caller: &Caller,
    action: &str,
    f: UploadFailure,
) -> Response {
    let meta = &caller.ctx.meta;
    state
        .app
        .record_refusal(meta, Some(caller.principal()), action, &f.detail())
        .await;
    match f {
        UploadFailure::NotMultipart => ApiError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the files as multipart/form-data",
        )
        .into_response(),
        UploadFailure::TooLarge(limit) => ApiError::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("The file must be {limit} or smaller"),
        )
        .into_response(),
        UploadFailure::Invalid(field, why) => {
            ApiError::new(AppError::invalid(field, why), meta).into_response()
        }
        UploadFailure::BadToken => {
            ApiError::new(AppError::Forbidden("Form token missing".into()), meta).into_response()
        }
        UploadFailure::Internal(e) => ApiError::new(e, meta).into_response(),
    }
}
