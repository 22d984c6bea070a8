//! Data returns (PRODUCT §6): collection windows, submissions and their files,
//! and the regulator's review. Access is decided by `domain::collection::may`;
//! a refusal is audited and changes nothing.
//!
//! An upload happens in two steps so that nothing is read from a refused
//! request: [`App::prepare_upload`] checks the person, the window and its
//! state; only then does the caller stream the body into an [`Upload`], and
//! [`App::store_upload`] keeps the checked file and records the version.

use domain::UserId;
use domain::collection::Acceptance;
use domain::role::Area;
use store::{OrganisationRecord, SubmissionRecord, WindowRecord};
use time::OffsetDateTime;

use crate::permit::{self, Permit};
use crate::{App, AppError, AppResult};

mod notices;
mod progress;
mod queries;
mod reminders;
mod submissions;
mod windows;

pub use windows::{RULE_FIELDS, rule_error_key};

pub use submissions::{FileValidation, SubmitInput, Uploaded, Validation};

pub use queries::{MESSAGE_MAX, QueryThread, SUBJECT_MAX, ThreadMessage};

/// A window as typed on the form or sent to the API. The settings of issue
/// 16 are optional: `None` keeps what the window has (none, no, or no
/// reminders for a new window), so that a client that does not know them
/// changes nothing of them.
#[derive(Debug, Clone, Default)]
pub struct WindowInput {
    pub area: String,
    pub name: String,
    pub opens_at: Option<OffsetDateTime>,
    pub closes_at: Option<OffsetDateTime>,
    pub guidance: String,
    pub file_types: Vec<String>,
    /// The column rules CSV uploads are checked against.
    pub columns: Option<RulesInput>,
    /// Whether a Portal Administrator must sign a return off before an
    /// officer may accept it.
    pub sign_off_required: Option<bool>,
    /// Days before closing at which providers that have not submitted are
    /// reminded.
    pub reminder_days: Option<ReminderDaysInput>,
    /// Whether late submissions (with a reason) are accepted until the
    /// window is closed.
    pub late_submissions: Option<bool>,
}

/// A window's column rules as given: the form's rows as typed (blank rows
/// skipped), or the API's rules.
#[derive(Debug, Clone)]
pub enum RulesInput {
    Rows(Vec<domain::checks::RuleRow>),
    Rules(Vec<domain::checks::ColumnRule>),
}

/// Reminder days as given: typed on the form ("14, 7, 1"), or the API's
/// numbers (`[14, 7, 1]`).
#[derive(Debug, Clone)]
pub enum ReminderDaysInput {
    Text(String),
    Days(Vec<i64>),
}

/// The most reminders one window may have.
pub const MAX_REMINDERS: usize = 10;
/// The most days before closing a reminder may be.
pub const MAX_REMINDER_DAYS: i64 = 365;

/// A window with its area, as someone may see it.
#[derive(Debug, Clone)]
pub struct VisibleWindow {
    pub window: WindowRecord,
    pub area: Area,
}

/// Permission to send one upload, given before its body is read (a permit:
/// only [`App::prepare_upload`] gives one).
pub type UploadTicket = Permit<permit::Upload>;

pub use progress::{
    CSV_ACTION as PROGRESS_CSV_ACTION, DraftFacts, ProgressAsk, ProgressKey, ProgressQuery,
    ProgressSort, ProviderProgress, VIEW_ACTION as PROGRESS_ACTION, WindowProgress,
};

/// A provider and where its newest submitted version to a window stands (the
/// window page; the progress view has [`ProviderProgress`]).
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

/// Whether `w` takes returns (uploads and submissions) at `now`: the one
/// rule, `domain::collection::Acceptance` (late returns included).
pub fn acceptance(w: &WindowRecord, now: OffsetDateTime) -> Acceptance {
    Acceptance::of(
        w.opens_at,
        w.closes_at,
        w.closed_at,
        w.late_submissions,
        now,
    )
}

/// Why `w` takes no returns at `now` (`None` while it does, late or not).
pub(super) fn not_open(w: &WindowRecord, now: OffsetDateTime) -> Option<String> {
    let fmt = domain::uk_time::moment;
    match acceptance(w, now) {
        Acceptance::Open | Acceptance::Late => None,
        Acceptance::Upcoming => Some(format!(
            "{} is not open yet: it opens on {}",
            w.name,
            fmt(w.opens_at)
        )),
        Acceptance::Closed => Some(format!(
            "{} is closed: it closed on {}",
            w.name,
            // A window taking late returns closes when it is closed.
            fmt(match w.closed_at {
                Some(c) if w.late_submissions => c,
                c => c.unwrap_or(w.closes_at).min(w.closes_at),
            })
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
