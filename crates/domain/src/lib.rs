//! The pure domain of the Provider Portal.
//!
//! Rules live here and nowhere else: what a valid email address, UKPRN or role is,
//! how passcodes are made and checked, how long sessions live, how the audit chain is
//! hashed. Nothing here does I/O, reads the clock or names a framework: time and
//! randomness are passed in, so every rule can be tested exactly.

pub mod access_key;
pub mod audit;
pub mod authz;
pub mod checks;
pub mod collection;
pub mod email;
pub mod ids;
pub mod legacy;
pub mod org;
pub mod otp;
pub mod password;
pub mod person;
pub mod progress;
pub mod role;
pub mod session;
pub mod uk_time;
pub mod user;

pub use email::EmailAddress;
pub use ids::{AttemptId, OrgId, UserId};
pub use org::{OrganisationKind, Ukprn};
pub use role::{AreaSlug, Role};
