//! What a use case can answer instead of doing the thing.

use std::collections::BTreeMap;

use store::StoreError;

/// Messages by field name, in the words shown beside the field.
pub type FieldErrors = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: nothing was stored.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// A wrong, expired, used or voided passcode, or an attempt that never
    /// had one: deliberately one answer, so it tells an attacker nothing.
    #[error("code rejected")]
    CodeRejected,
    #[error("not signed in")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[from] InternalError),
}

/// The cause of an internal error: logged once, never shown.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Other(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        Self::Internal(InternalError::Store(e))
    }
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.insert(field, message.into());
        Self::Invalid(f)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(InternalError::Other(message.into()))
    }
}

pub type AppResult<T> = Result<T, AppError>;
