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
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}
