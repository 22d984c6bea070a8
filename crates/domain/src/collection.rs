//! Data returns and shared documents (PRODUCT §6): collection windows, the
//! states of a submission, the kinds of file accepted, and who may do what.
//!
//! [`may`] is the one place that decides access to windows, submissions,
//! files and documents, as `authz::decide` is for users: a provider's people
//! see only their own organisation's, and only for the returns they hold a
//! role for; the regulator's officers see every provider's for their area.

use serde::Serialize;
use time::OffsetDateTime;

use crate::authz::{self, Decision, Denial, Subject};
use crate::{AreaSlug, OrgId, OrganisationKind, Role};

/// Where a window is in its life, as providers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Upcoming,
    Open,
    Closed,
}

impl WindowState {
    pub fn of(
        opens_at: OffsetDateTime,
        closes_at: OffsetDateTime,
        closed_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        if closed_at.is_some_and(|c| c <= now) || now >= closes_at {
            Self::Closed
        } else if now < opens_at {
            Self::Upcoming
        } else {
            Self::Open
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Upcoming => "Upcoming",
            Self::Open => "Open",
            Self::Closed => "Closed",
        }
    }
}

/// Whether a window takes returns at `now` (uploads and submissions alike):
/// while open; after `closes_at` only late, with a reason, if the window
/// allows late submissions, and then only until an administrator closes it
/// (`closed_at`). The one rule behind uploading and submitting (issue 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Not open yet.
    Upcoming,
    /// Open: returns are on time.
    Open,
    /// Past closing on a window that allows late returns: each needs a
    /// reason and is marked late.
    Late,
    /// Closed: nothing more is taken.
    Closed,
}

impl Acceptance {
    pub fn of(
        opens_at: OffsetDateTime,
        closes_at: OffsetDateTime,
        closed_at: Option<OffsetDateTime>,
        late_submissions: bool,
        now: OffsetDateTime,
    ) -> Self {
        if closed_at.is_some_and(|c| c <= now) {
            Self::Closed
        } else if now < opens_at {
            Self::Upcoming
        } else if now < closes_at {
            Self::Open
        } else if late_submissions {
            Self::Late
        } else {
            Self::Closed
        }
    }

    /// Whether a return may be uploaded or submitted now.
    pub fn takes_returns(self) -> bool {
        matches!(self, Self::Open | Self::Late)
    }
}

/// A submission version's status (PRODUCT §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Files uploaded, not yet submitted: only the provider sees it.
    Draft,
    Submitted,
    /// The regulator asked for changes: a new version is expected.
    Returned,
    Accepted,
}

impl SubmissionStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "submitted" => Some(Self::Submitted),
            "returned" => Some(Self::Returned),
            "accepted" => Some(Self::Accepted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Accepted => "accepted",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Submitted => "Submitted",
            Self::Returned => "Returned for amendment",
            Self::Accepted => "Accepted",
        }
    }

    /// What a regulator officer may set: a submitted version's outcome. A
    /// decision may be corrected; a draft is the provider's own.
    pub fn officer_may_set(from: Self, to: Self) -> bool {
        from != Self::Draft && matches!(to, Self::Returned | Self::Accepted)
    }
}

/// A kind of file the portal accepts, decided by its content (never its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Csv,
    Xlsx,
    Pdf,
}

impl FileKind {
    pub const ALL: [FileKind; 3] = [FileKind::Csv, FileKind::Xlsx, FileKind::Pdf];

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Pdf => "pdf",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Xlsx => "Excel workbook (XLSX)",
            Self::Pdf => "PDF",
        }
    }

    /// What downloads say they are (the browser is also told `nosniff`).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Pdf => "application/pdf",
        }
    }

    /// A first guess from the opening bytes; the content checks confirm it.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else if head.starts_with(b"PK\x03\x04") {
            Some(Self::Xlsx)
        } else if looks_like_text(head) {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Text that could be CSV: no NUL or other binary control bytes, and not a web
/// page or XML document in disguise. (Whole-file UTF-8 validity is checked
/// while the file is read.)
fn looks_like_text(head: &[u8]) -> bool {
    let binary = head
        .iter()
        .any(|b| *b == 0 || (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)));
    let start: Vec<u8> = head
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(head)
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(1)
        .copied()
        .collect();
    !binary && start.first() != Some(&b'<')
}

/// A file name as shown and as offered on download: control characters
/// (NUL, newlines…) become `_`, path separators too, at most 200 characters.
/// The name is never used to store anything.
pub fn display_filename(given: &str) -> String {
    let cleaned: String = given
        .chars()
        .map(|c| {
            if c.is_control() || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Something done with returns or documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// See a window of the area and the provider's submissions to it, and
    /// download their files.
    SeeReturns,
    /// Upload files and submit them.
    Submit,
    /// See every provider's submissions and set their status.
    Review,
    /// Create, change and close windows; see who has not submitted.
    ManageWindows,
    /// Publish a document in a communication area.
    Publish,
    /// Read the documents a communication area shares with one's provider.
    ReadDocuments,
    /// Sign a submitted return off with the accountable officer's
    /// declaration: the provider's Portal Administrators only (issue 16).
    SignOff,
    /// Write in a query's thread on a submission: the provider's people who
    /// see the return, and the area's officers (who also raise and close
    /// queries, as part of [`Work::Review`]).
    AnswerQuery,
}

pub const NOT_FOR_REGULATOR: &str = "Only providers make submissions";
pub const NOT_AN_OFFICER: &str = "You need the Regulator officer role for this area";
pub const NOT_PORTAL_ADMIN: &str = "Only a Portal Administrator of the provider signs a return off";
pub const SIGN_OFF_IS_THE_PROVIDERS: &str =
    "A return is signed off by the provider's Portal Administrator, not by the regulator";
pub const NOT_REGULATOR_ADMIN: &str =
    "Only the regulator's administrators manage collection windows";

/// May `actor` do `work` in `area` (sensitive or not), for organisation `org`'s
/// submissions or documents? For a provider's people everything outside their
/// organisation, and every return they hold no role for, does not exist (404).
pub fn may(actor: &Subject, work: Work, area: &AreaSlug, sensitive: bool, org: OrgId) -> Decision {
    let has = |r: Role| actor.roles.contains(&r);
    match actor.org_kind {
        OrganisationKind::Provider => {
            if org != actor.org {
                return Err(Denial::NotFound);
            }
            let admin = actor.is_provider_admin();
            // What a provider's people have no part in does not exist for them (404);
            // what they can see but not do is refused (403).
            let sees = match work {
                // A sensitive area's documents need its key-granted role.
                Work::ReadDocuments => has(Role::AreaMember(area.clone())) || (admin && !sensitive),
                _ => admin || has(Role::DataCollectionContributor(area.clone())),
            };
            if !sees {
                return Err(Denial::NotFound);
            }
            match work {
                Work::SeeReturns | Work::Submit | Work::ReadDocuments | Work::AnswerQuery => Ok(()),
                Work::SignOff if actor.roles.contains(&Role::PortalAdmin) => Ok(()),
                Work::SignOff => Err(Denial::Forbidden(NOT_PORTAL_ADMIN)),
                Work::Review | Work::ManageWindows | Work::Publish => {
                    Err(Denial::Forbidden(NOT_AN_OFFICER))
                }
            }
        }
        OrganisationKind::Regulator => {
            let officer = has(Role::RegulatorOfficer(area.clone()));
            match work {
                Work::SeeReturns
                | Work::Review
                | Work::Publish
                | Work::ReadDocuments
                | Work::AnswerQuery
                    if officer =>
                {
                    Ok(())
                }
                // Administrators run the windows and see who has submitted,
                // not the returns themselves.
                Work::ManageWindows => authz::may_do_regulator_task(
                    actor.org_kind,
                    actor.roles,
                    authz::RegulatorTask::CollectionWindows,
                ),
                Work::Submit => Err(Denial::Forbidden(NOT_FOR_REGULATOR)),
                Work::SignOff => Err(Denial::Forbidden(SIGN_OFF_IS_THE_PROVIDERS)),
                _ => Err(Denial::Forbidden(NOT_AN_OFFICER)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;
    use time::macros::datetime;

    fn slug(s: &str) -> AreaSlug {
        AreaSlug::parse(s).unwrap()
    }

    fn subject(org: OrgId, kind: OrganisationKind, roles: &[Role]) -> Subject<'_> {
        Subject {
            user: UserId::random(),
            org,
            org_kind: kind,
            roles,
        }
    }

    #[test]
    fn a_window_is_upcoming_open_then_closed() {
        let opens = datetime!(2026-10-01 09:00 UTC);
        let closes = datetime!(2026-10-31 17:00 UTC);
        let at = |t| WindowState::of(opens, closes, None, t);
        assert_eq!(at(datetime!(2026-09-30 09:00 UTC)), WindowState::Upcoming);
        assert_eq!(at(opens), WindowState::Open);
        assert_eq!(at(closes), WindowState::Closed);
        let early = Some(datetime!(2026-10-10 09:00 UTC));
        assert_eq!(
            WindowState::of(opens, closes, early, datetime!(2026-10-11 09:00 UTC)),
            WindowState::Closed
        );
    }

    #[test]
    fn late_returns_are_taken_only_when_the_window_allows_them_until_it_is_closed() {
        let opens = datetime!(2026-10-01 09:00 UTC);
        let closes = datetime!(2026-10-31 17:00 UTC);
        let after = datetime!(2026-11-02 09:00 UTC);
        let at = |late, closed, now| Acceptance::of(opens, closes, closed, late, now);
        assert_eq!(
            at(true, None, datetime!(2026-09-30 09:00 UTC)),
            Acceptance::Upcoming
        );
        assert_eq!(at(true, None, opens), Acceptance::Open);
        assert_eq!(at(false, None, closes), Acceptance::Closed);
        assert_eq!(at(true, None, closes), Acceptance::Late);
        assert_eq!(at(true, None, after), Acceptance::Late);
        assert!(Acceptance::Late.takes_returns() && Acceptance::Open.takes_returns());
        let closed = Some(datetime!(2026-11-01 09:00 UTC));
        assert_eq!(at(true, closed, after), Acceptance::Closed);
        assert!(!Acceptance::Closed.takes_returns());
        // Closed early by the regulator: no late returns either.
        let early = Some(datetime!(2026-10-10 09:00 UTC));
        assert_eq!(
            at(true, early, datetime!(2026-10-11 09:00 UTC)),
            Acceptance::Closed
        );
    }

    #[test]
    fn content_decides_the_kind_of_file() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        assert_eq!(FileKind::sniff(b"PK\x03\x04rest"), Some(FileKind::Xlsx));
        assert_eq!(
            FileKind::sniff(b"ukprn,students\n1,2\n"),
            Some(FileKind::Csv)
        );
        assert_eq!(FileKind::sniff(b"\xEF\xBB\xBFukprn\n"), Some(FileKind::Csv));
        for bad in [
            &b"<!DOCTYPE html><html>"[..],
            b"  <html><script>",
            b"MZ\x90\x00\x03\x00",
            b"\x7fELF\x02\x01",
        ] {
            assert_eq!(FileKind::sniff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shown_names_are_never_paths_or_control_characters() {
        assert_eq!(display_filename("../../x"), ".._.._x");
        assert_eq!(display_filename("a\nb\0c.csv"), "a_b_c.csv");
        assert_eq!(display_filename(".."), "file");
        assert_eq!(display_filename("CON"), "CON");
        assert_eq!(display_filename(&"é".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn providers_see_only_their_own_returns_and_only_for_their_roles() {
        let (mine, theirs, regulator) = (OrgId::random(), OrgId::random(), OrgId::random());
        let heses = slug("heses");
        let p = OrganisationKind::Provider;
        let contributor = [Role::DataCollectionContributor(heses.clone())];
        let prevent = [Role::DataCollectionContributor(slug("prevent"))];
        let dpa = [Role::DelegatedPortalAdmin];
        let c = subject(mine, p, &contributor);
        assert!(may(&c, Work::Submit, &heses, false, mine).is_ok());
        assert_eq!(
            may(&c, Work::SeeReturns, &heses, false, theirs),
            Err(Denial::NotFound)
        );
        assert_eq!(
            may(
                &subject(mine, p, &prevent),
                Work::SeeReturns,
                &heses,
                false,
                mine
            ),
            Err(Denial::NotFound)
        );
        assert!(may(&subject(mine, p, &dpa), Work::Submit, &heses, false, mine).is_ok());
        assert!(may(&c, Work::Review, &heses, false, mine).is_err());
        let officer_roles = [Role::RegulatorOfficer(heses.clone())];
        let officer = subject(regulator, OrganisationKind::Regulator, &officer_roles);
        assert!(may(&officer, Work::Review, &heses, false, theirs).is_ok());
        assert!(may(&officer, Work::Submit, &heses, false, theirs).is_err());
        assert!(may(&officer, Work::Review, &slug("prevent"), false, theirs).is_err());
    }

    #[test]
    fn only_the_providers_portal_administrators_sign_off_and_queries_stay_in_the_provider() {
        let (mine, theirs, regulator) = (OrgId::random(), OrgId::random(), OrgId::random());
        let heses = slug("heses");
        let p = OrganisationKind::Provider;
        let pa = [Role::PortalAdmin];
        let dpa = [Role::DelegatedPortalAdmin];
        let contributor = [Role::DataCollectionContributor(heses.clone())];
        let officer_roles = [Role::RegulatorOfficer(heses.clone())];
        let officer = subject(regulator, OrganisationKind::Regulator, &officer_roles);
        let sign = |s: &Subject, org| may(s, Work::SignOff, &heses, false, org);
        assert!(sign(&subject(mine, p, &pa), mine).is_ok());
        assert_eq!(sign(&subject(mine, p, &pa), theirs), Err(Denial::NotFound));
        assert_eq!(
            sign(&subject(mine, p, &dpa), mine),
            Err(Denial::Forbidden(NOT_PORTAL_ADMIN))
        );
        assert_eq!(
            sign(&subject(mine, p, &contributor), mine),
            Err(Denial::Forbidden(NOT_PORTAL_ADMIN))
        );
        assert_eq!(
            sign(&officer, mine),
            Err(Denial::Forbidden(SIGN_OFF_IS_THE_PROVIDERS))
        );
        let answer = |s: &Subject, org| may(s, Work::AnswerQuery, &heses, false, org);
        assert!(answer(&subject(mine, p, &contributor), mine).is_ok());
        assert_eq!(
            answer(&subject(mine, p, &contributor), theirs),
            Err(Denial::NotFound)
        );
        let prevent = [Role::DataCollectionContributor(slug("prevent"))];
        assert_eq!(
            answer(&subject(mine, p, &prevent), mine),
            Err(Denial::NotFound)
        );
        assert!(answer(&officer, theirs).is_ok());
        let other_officer = [Role::RegulatorOfficer(slug("prevent"))];
        assert!(
            answer(
                &subject(regulator, OrganisationKind::Regulator, &other_officer),
                theirs
            )
            .is_err()
        );
    }

    #[test]
    fn a_sensitive_areas_documents_need_the_key_granted_role() {
        let org = OrgId::random();
        let letters = slug("risk-letters");
        let p = OrganisationKind::Provider;
        let pa = [Role::PortalAdmin];
        let member = [Role::AreaMember(letters.clone())];
        assert!(
            may(
                &subject(org, p, &pa),
                Work::ReadDocuments,
                &letters,
                false,
                org
            )
            .is_ok()
        );
        assert!(
            may(
                &subject(org, p, &pa),
                Work::ReadDocuments,
                &letters,
                true,
                org
            )
            .is_err()
        );
        assert!(
            may(
                &subject(org, p, &member),
                Work::ReadDocuments,
                &letters,
                true,
                org
            )
            .is_ok()
        );
    }
}
