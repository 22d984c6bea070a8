//! What use cases answer with and take as filters, for pages and the API.
//!
//! These are the store's records of what a use case read or wrote, passed on
//! as they are rather than copied into look-alike types: a page or API view
//! maps from them, and `web` depends on the use cases only, never on the
//! storage seam. A use case decides what the actor may see before it answers
//! with one.

pub use store::{
    DocumentRecord, FileRecord, OrganisationRecord, RoleGrant, SessionKind, SubmissionRecord,
    UserFilter, UserRecord, UserRequestRecord, UserSort, UserSortKey, UserWithRoles, WindowRecord,
};
