//! Data returns (PRODUCT §6): collection windows, submissions and their files,
//! and the regulator's review. Access is decided by `domain::collection::may`;
//! a refusal is audited and changes nothing.
//!
//! An upload happens in two steps so that nothing is read from a refused
//! request: [`App::prepare_upload`] checks the person, the window and its
//! state; only then does the caller stream the body into an [`Upload`], and
//! [`App::store_upload`] keeps the checked file and records the version.

use domain::UserId;
use domain::collection::WindowState;
use domain::role::Area;
use store::{OrganisationRecord, SubmissionRecord, WindowRecord};
use time::OffsetDateTime;

use crate::permit::{self, Permit};
use crate::{App, AppError, AppResult};

mod notices;
mod submissions;
mod windows;

/// A window as typed on the form or sent to the API.
#[derive(Debug, Clone, Default)]
pub struct WindowInput {
    pub area: String,
    pub name: String,
    pub opens_at: Option<OffsetDateTime>,
    pub closes_at: Option<OffsetDateTime>,
    pub guidance: String,
    pub file_types: Vec<String>,
}

/// A window with its area, as someone may see it.
#[derive(Debug, Clone)]
pub struct VisibleWindow {
    pub window: WindowRecord,
    pub area: Area,
}

/// Permission to send one upload, given before its body is read (a permit:
/// only [`App::prepare_upload`] gives one).
pub type UploadTicket = Permit<permit::Upload>;

/// A provider and where its return to a window stands (the regulator's view).
#[derive(Debug, Clone)]
pub struct Progress {
    pub organisation: OrganisationRecord,
    pub latest: Option<SubmissionRecord>,
}

impl App {
    pub(super) async fn area_of(&self, slug: &domain::AreaSlug) -> AppResult<Area> {
        self.store
            .areas()
            .await?
            .into_iter()
            .find(|a| &a.slug == slug)
            .ok_or_else(|| AppError::internal("window of a missing area"))
    }
}

pub(super) fn not_open(w: &WindowRecord, now: OffsetDateTime) -> Option<String> {
    let fmt = domain::uk_time::moment;
    match w.state(now) {
        WindowState::Open => None,
        WindowState::Upcoming => Some(format!(
            "{} is not open yet: it opens on {}",
            w.name,
            fmt(w.opens_at)
        )),
        WindowState::Closed => Some(format!(
            "{} is closed: it closed on {}",
            w.name,
            fmt(w.closed_at.unwrap_or(w.closes_at).min(w.closes_at))
        )),
    }
}

/// Who a person is, by id, for showing "submitted by".
pub async fn name_of(app: &App, id: Option<UserId>) -> AppResult<String> {
    Ok(match id {
        Some(id) => app
            .store
            .user(id)
            .await?
            .map(|u| u.display_name())
            .unwrap_or_default(),
        None => String::new(),
    })
}
