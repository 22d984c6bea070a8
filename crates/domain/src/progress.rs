//! Where a provider's return to a collection window stands, as the regulator's
//! progress view shows it (issue 16): decided here, once, from the provider's
//! newest version, for the page, its CSV and the API alike.

use serde::Serialize;

use crate::collection::SubmissionStatus;

/// A provider's state on a window, in the order the progress view sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressState {
    /// Nothing uploaded.
    NotStarted,
    /// Its newest version is a draft: uploaded, not submitted.
    Uploaded,
    /// Submitted, not yet signed off, nor decided by the regulator.
    Submitted,
    /// Submitted and signed off by the provider's Portal Administrator.
    SignedOff,
    /// The regulator returned it for amendment.
    Returned,
    Accepted,
}

impl ProgressState {
    /// Every state, in order.
    pub const ALL: [Self; 6] = [
        Self::NotStarted,
        Self::Uploaded,
        Self::Submitted,
        Self::SignedOff,
        Self::Returned,
        Self::Accepted,
    ];

    /// The name in addresses, the API and the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Uploaded => "uploaded",
            Self::Submitted => "submitted",
            Self::SignedOff => "signed_off",
            Self::Returned => "returned",
            Self::Accepted => "accepted",
        }
    }

    /// Exactly one of the names of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NotStarted => "Not started",
            Self::Uploaded => "Uploaded",
            Self::Submitted => "Submitted",
            Self::SignedOff => "Signed off",
            Self::Returned => "Returned for amendment",
            Self::Accepted => "Accepted",
        }
    }
}

/// What decides the state, of a provider's newest version (draft or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    pub status: SubmissionStatus,
    pub warnings: u64,
    /// An explanation of its warnings was given at submission.
    pub explained: bool,
    pub signed_off: bool,
}

/// A provider's state with what qualifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: ProgressState,
    /// Submitted (or signed off) with warnings, and those explained.
    pub warnings_explained: bool,
    /// Submitted, and the window asks for a sign-off that has not come.
    pub awaiting_sign_off: bool,
}

impl Standing {
    /// The state of a provider whose newest version is `newest` (`None`:
    /// nothing uploaded) on a window that does or does not ask for sign-off.
    /// The regulator's decision (returned, accepted) outranks a sign-off; a
    /// draft on top of a decided version is a new version under way.
    pub fn of(newest: Option<&Newest>, sign_off_required: bool) -> Self {
        let Some(n) = newest else {
            return Self {
                state: ProgressState::NotStarted,
                warnings_explained: false,
                awaiting_sign_off: false,
            };
        };
        let state = match n.status {
            SubmissionStatus::Draft => ProgressState::Uploaded,
            SubmissionStatus::Submitted if n.signed_off => ProgressState::SignedOff,
            SubmissionStatus::Submitted => ProgressState::Submitted,
            SubmissionStatus::Returned => ProgressState::Returned,
            SubmissionStatus::Accepted => ProgressState::Accepted,
        };
        Self {
            state,
            warnings_explained: n.status != SubmissionStatus::Draft
                && n.warnings > 0
                && n.explained,
            awaiting_sign_off: state == ProgressState::Submitted && sign_off_required,
        }
    }

    /// What qualifies the state, in words ("" when nothing does).
    pub fn detail(&self) -> &'static str {
        match (self.warnings_explained, self.awaiting_sign_off) {
            (true, true) => "Warnings explained; awaiting sign-off",
            (true, false) => "Warnings explained",
            (false, true) => "Awaiting sign-off",
            (false, false) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newest(
        status: SubmissionStatus,
        warnings: u64,
        explained: bool,
        signed_off: bool,
    ) -> Newest {
        Newest {
            status,
            warnings,
            explained,
            signed_off,
        }
    }

    #[test]
    fn every_state_comes_from_the_newest_version() {
        use SubmissionStatus::*;
        let of = |n: Option<Newest>, required| Standing::of(n.as_ref(), required).state;
        assert_eq!(of(None, true), ProgressState::NotStarted);
        assert_eq!(
            of(Some(newest(Draft, 0, false, false)), true),
            ProgressState::Uploaded
        );
        assert_eq!(
            of(Some(newest(Submitted, 0, false, false)), true),
            ProgressState::Submitted
        );
        assert_eq!(
            of(Some(newest(Submitted, 0, false, true)), false),
            ProgressState::SignedOff
        );
        // The regulator's decision outranks the sign-off.
        assert_eq!(
            of(Some(newest(Returned, 0, false, true)), true),
            ProgressState::Returned
        );
        assert_eq!(
            of(Some(newest(Accepted, 0, false, true)), true),
            ProgressState::Accepted
        );
        assert_eq!(
            of(Some(newest(Accepted, 0, false, false)), false),
            ProgressState::Accepted
        );
    }

    #[test]
    fn warnings_are_explained_and_sign_off_awaited_only_where_they_apply() {
        use SubmissionStatus::*;
        let s = Standing::of(Some(&newest(Submitted, 3, true, false)), true);
        assert!(s.warnings_explained && s.awaiting_sign_off);
        assert_eq!(s.detail(), "Warnings explained; awaiting sign-off");
        let s = Standing::of(Some(&newest(Submitted, 3, true, false)), false);
        assert_eq!(s.detail(), "Warnings explained");
        // No warnings: nothing to explain, even with an explanation.
        let s = Standing::of(Some(&newest(Submitted, 0, true, true)), true);
        assert_eq!(s.detail(), "");
        // A draft's warnings are not explained yet, and it awaits no sign-off.
        let s = Standing::of(Some(&newest(Draft, 2, false, false)), true);
        assert_eq!((s.warnings_explained, s.awaiting_sign_off), (false, false));
        let s = Standing::of(Some(&newest(Returned, 0, false, false)), true);
        assert!(!s.awaiting_sign_off);
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_none() {
        for s in ProgressState::ALL {
            assert_eq!(ProgressState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProgressState::parse("Submitted"), None);
        assert_eq!(ProgressState::parse(""), None);
        let mut sorted = ProgressState::ALL;
        sorted.sort();
        assert_eq!(sorted, ProgressState::ALL);
    }
}
