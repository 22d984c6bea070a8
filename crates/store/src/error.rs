use std::error::Error as StdError;

/// What can go wrong in storage, in terms the use cases can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. an email address that already has an account).
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// A stored value could not be read back as a domain value.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error")]
    Database(#[source] Box<dyn StdError + Send + Sync>),
    /// The database cannot be reached just now (connection refused or lost,
    /// no connection free in time, shutting down): trying again later may work.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
