//! Test harness: fresh databases on both backends, the app in-process, a memory
//! mailer and a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod db;

pub use db::{Backend, TestDb};
