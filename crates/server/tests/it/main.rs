//! Integration tests of the portal over HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_keys;
mod add_user;
mod api_sign_in;
mod areas;
mod attacks;
mod authz_matrix;
mod cli;
mod collections;
mod collections_pages;
mod concurrency;
mod expiry;
mod harness;
mod legacy_import;
mod malformed_ids;
mod openapi;
mod organisation_pages;
mod outbox;
mod pages;
mod passwords;
mod users_api;
mod users_pages;
mod users_write;
mod window_pages;
