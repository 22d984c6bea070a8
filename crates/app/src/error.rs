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
    /// Refused inside a unit of work, not yet audited: the unit rolls back,
    /// audits it and answers what it holds (`App::change`). Never leaves `app`
    /// (the web layer treats one as an internal error).
    #[error("refused")]
    Refused(Box<crate::permit::Refusal>),
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

    /// What a caller outside `app` may see: a refusal that escaped its unit
    /// of work unaudited is a bug, answered as an internal error.
    pub fn settled(self) -> Self {
        match self {
            Self::Refused(r) => Self::internal(format!("refusal left its unit unaudited: {r:?}")),
            e => e,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
