//! What the data returns pages (PRODUCT §6) share: how they show a time, and
//! what they say about a refused upload (a submission's files in
//! [`super::submissions`], a shared document in [`super::documents`]).

use axum::http::StatusCode;
use time::OffsetDateTime;

use crate::files::UploadFailure;

pub(super) fn when(t: OffsetDateTime) -> String {
    domain::uk_time::moment(t)
}

pub(super) fn upload_problem(f: &UploadFailure) -> (StatusCode, String) {
    match f {
        UploadFailure::NotMultipart => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The form could not be read: try again".into(),
        ),
        UploadFailure::TooLarge(limit) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The selected file must be smaller than {limit}"),
        ),
        UploadFailure::Invalid(_, why) => (StatusCode::BAD_REQUEST, why.clone()),
        UploadFailure::BadToken => (
            StatusCode::FORBIDDEN,
            "This form has expired: refresh the page and try again".into(),
        ),
        UploadFailure::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The file could not be saved: try again".into(),
        ),
    }
}
