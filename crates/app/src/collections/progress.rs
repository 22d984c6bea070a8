//! Every provider's progress on a collection window, for its officers and
//! the regulator's administrators (issue 16: the progress view, its CSV and
//! `GET /api/v1/collections/{id}/progress` all come from here, so that they
//! agree row for row).
//!
//! Every provider organisation is expected to submit to every window. The
//! state of each is decided by [`domain::progress::Standing::of`] from its
//! newest version; of a draft the regulator learns only that it exists and
//! its error and warning counts ([`DraftFacts`]), never its content.
//!
//! Three reads whatever the number of providers: the window's versions (with
//! drafts), the organisations (paged), and the window's open queries.

use std::cmp::Ordering;
use std::collections::HashMap;

use domain::OrganisationKind;
use domain::authz::Denial;
use domain::collection::{SubmissionStatus, Work};
use domain::progress::{Newest, ProgressState, Standing};
use store::{OrganisationRecord, QueryFilter, SubmissionRecord};
use time::OffsetDateTime;

use crate::permit::Refusal;
use crate::{App, AppError, AppResult, Principal, RequestMeta};

use super::{Progress, VisibleWindow};

/// The progress view's audit action (refusals), and its CSV's (every download).
pub const VIEW_ACTION: &str = "windows.progress";
pub const CSV_ACTION: &str = "windows.progress_csv";

/// What the regulator may know of a provider's draft: that it exists, and
/// what its check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftFacts {
    pub version: i64,
    pub errors: u64,
    pub warnings: u64,
}

/// One provider's row of the progress view.
#[derive(Debug, Clone)]
pub struct ProviderProgress {
    pub organisation: OrganisationRecord,
    pub standing: Standing,
    /// Its newest submitted version (never a draft).
    pub latest: Option<SubmissionRecord>,
    /// Its newest version when that is a draft.
    pub draft: Option<DraftFacts>,
    /// Queries on its versions to this window that are not closed.
    pub open_queries: usize,
}

impl ProviderProgress {
    pub fn state(&self) -> ProgressState {
        self.standing.state
    }

    /// The errors of the version its state is about: the draft's while it
    /// is uploaded, otherwise the newest submitted version's.
    pub fn errors(&self) -> u64 {
        match (&self.draft, &self.latest) {
            (Some(d), _) => d.errors,
            (None, Some(s)) => s.errors(),
            (None, None) => 0,
        }
    }

    /// The warnings, as [`Self::errors`].
    pub fn warnings(&self) -> u64 {
        match (&self.draft, &self.latest) {
            (Some(d), _) => d.warnings,
            (None, Some(s)) => s.warnings(),
            (None, None) => 0,
        }
    }

    /// The newest submitted version's number.
    pub fn version(&self) -> Option<i64> {
        self.latest.as_ref().map(|s| s.version)
    }

    pub fn submitted_at(&self) -> Option<OffsetDateTime> {
        self.latest.as_ref().and_then(|s| s.submitted_at)
    }

    pub fn signed_off_at(&self) -> Option<OffsetDateTime> {
        self.latest.as_ref().and_then(|s| s.signed_off_at)
    }

    /// Whether the newest submitted version came after the window closed.
    pub fn late(&self) -> bool {
        self.latest
            .as_ref()
            .is_some_and(|s| s.late_reason.is_some())
    }
}

/// The columns the view sorts by, as `?sort=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressKey {
    #[default]
    Provider,
    Ukprn,
    State,
    Submitted,
}

impl ProgressKey {
    pub const ALL: [Self; 4] = [Self::Provider, Self::Ukprn, Self::State, Self::Submitted];

    pub fn param(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Ukprn => "ukprn",
            Self::State => "state",
            Self::Submitted => "submitted",
        }
    }
}

/// How the rows are sorted. Only the exact names are understood
/// (`sort` one of [`ProgressKey::param`], `order` "ascending" or
/// "descending"); anything else is the default: by provider, ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressSort {
    pub key: ProgressKey,
    pub descending: bool,
}

impl ProgressSort {
    pub fn read(sort: Option<&str>, order: Option<&str>) -> Self {
        let Some(key) = ProgressKey::ALL
            .into_iter()
            .find(|k| Some(k.param()) == sort)
        else {
            return Self::default();
        };
        Self {
            key,
            descending: order == Some("descending"),
        }
    }

    pub fn order(self) -> &'static str {
        if self.descending {
            "descending"
        } else {
            "ascending"
        }
    }
}

/// The filter and sort as asked (`?state=&q=&sort=&order=`), read only once
/// the person may see the view.
#[derive(Debug, Clone, Default)]
pub struct ProgressAsk {
    pub state: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
}

/// The filter and sort as understood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressQuery {
    pub state: Option<ProgressState>,
    /// Part of a provider's name (any case) or UKPRN; "" for every provider.
    pub q: String,
    pub sort: ProgressSort,
}

/// The longest search text looked at.
const MAX_SEARCH: usize = 200;

impl ProgressQuery {
    /// An unknown state is refused with a message for the field; an unknown
    /// sort is the default sort.
    pub fn read(ask: &ProgressAsk) -> AppResult<Self> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let state = match given(&ask.state) {
            None => None,
            Some(s) => Some(ProgressState::parse(&s).ok_or_else(|| {
                AppError::invalid(
                    "state",
                    format!(
                        "Choose a state from the list: {}",
                        ProgressState::ALL
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?),
        };
        Ok(Self {
            state,
            q: given(&ask.q)
                .map(|q| q.chars().take(MAX_SEARCH).collect())
                .unwrap_or_default(),
            sort: ProgressSort::read(ask.sort.as_deref(), ask.order.as_deref()),
        })
    }

    fn matches(&self, p: &ProviderProgress, needle: &str) -> bool {
        self.state.is_none_or(|s| p.state() == s)
            && (needle.is_empty()
                || p.organisation.name.to_lowercase().contains(needle)
                || p.organisation
                    .ukprn
                    .as_ref()
                    .is_some_and(|u| u.to_string().contains(needle)))
    }
}

/// The progress view of a window: counts over every provider, and the rows
/// the query asks for, in its order.
#[derive(Debug, Clone)]
pub struct WindowProgress {
    pub window: VisibleWindow,
    pub query: ProgressQuery,
    /// How many providers are in each state (every state, in order).
    pub counts: Vec<(ProgressState, usize)>,
    /// Every provider.
    pub total: usize,
    pub rows: Vec<ProviderProgress>,
}

/// The order of two rows under `sort`; ties by name, then UKPRN, then id,
/// always ascending, so that every listing of the same rows agrees.
fn compare(a: &ProviderProgress, b: &ProviderProgress, sort: ProgressSort) -> Ordering {
    let name = |p: &ProviderProgress| p.organisation.name.to_lowercase();
    let ukprn = |p: &ProviderProgress| p.organisation.ukprn.as_ref().map(|u| u.to_string());
    let primary = match sort.key {
        ProgressKey::Provider => name(a).cmp(&name(b)),
        ProgressKey::Ukprn => ukprn(a).cmp(&ukprn(b)),
        ProgressKey::State => a.state().cmp(&b.state()),
        ProgressKey::Submitted => a.submitted_at().cmp(&b.submitted_at()),
    };
    let primary = if sort.descending {
        primary.reverse()
    } else {
        primary
    };
    primary
        .then_with(|| name(a).cmp(&name(b)))
        .then_with(|| ukprn(a).cmp(&ukprn(b)))
        .then_with(|| {
            a.organisation
                .id
                .to_string()
                .cmp(&b.organisation.id.to_string())
        })
}

impl App {
    /// Every provider's progress on a window, filtered and sorted as asked:
    /// for the area's officers and the regulator's administrators. A
    /// provider's people are refused as if the view did not exist (it is
    /// about other providers); anyone else of the regulator is forbidden.
    /// `action` is [`VIEW_ACTION`] or [`CSV_ACTION`]: a CSV is audited as
    /// downloaded.
    pub async fn progress(
        &self,
        actor: &Principal,
        window: &str,
        ask: &ProgressAsk,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<WindowProgress> {
        if actor.organisation.kind == OrganisationKind::Provider {
            let target = Some(window.chars().take(40).collect());
            let refusal = Refusal::denied(action, target, Denial::NotFound);
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let (permit, record) = self
            .window_permit(
                actor,
                window,
                &[Work::Review, Work::ManageWindows],
                action,
                meta,
            )
            .await?;
        let query = ProgressQuery::read(ask)?;
        let mut rows = self.every_provider(&record).await?;
        let mut counts: Vec<(ProgressState, usize)> =
            ProgressState::ALL.iter().map(|s| (*s, 0)).collect();
        for r in &rows {
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == r.state()) {
                c.1 += 1;
            }
        }
        let total = rows.len();
        let needle = query.q.to_lowercase();
        rows.retain(|p| query.matches(p, &needle));
        rows.sort_by(|a, b| compare(a, b, query.sort));
        if action == CSV_ACTION {
            let target = Some(record.id.to_string());
            self.change(meta, Some(actor), async |u| {
                u.audit(&permit, target, &format!("{} providers", rows.len()))
                    .await?;
                Ok(u.done(&permit, ()))
            })
            .await?;
        }
        Ok(WindowProgress {
            window: VisibleWindow {
                window: record,
                area: permit.into_inner().area,
            },
            query,
            counts,
            total,
            rows,
        })
    }

    /// Every provider and its newest submitted version to a window, for a
    /// regulator administrator (or the area's officer): who has not submitted.
    pub async fn window_progress(
        &self,
        actor: &Principal,
        window: &str,
        meta: &RequestMeta,
    ) -> AppResult<(VisibleWindow, Vec<Progress>)> {
        let view = self
            .progress(actor, window, &ProgressAsk::default(), VIEW_ACTION, meta)
            .await?;
        let rows = view
            .rows
            .into_iter()
            .map(|p| Progress {
                organisation: p.organisation,
                latest: p.latest,
            })
            .collect();
        Ok((view.window, rows))
    }

    /// Every provider organisation with its standing on `window`, in no
    /// particular order: one read of the versions, one of the organisations
    /// (a page at a time), one of the open queries.
    async fn every_provider(
        &self,
        window: &store::WindowRecord,
    ) -> AppResult<Vec<ProviderProgress>> {
        let versions = self.store.submissions(window.id, None, true).await?;
        let mut newest: HashMap<domain::OrgId, &SubmissionRecord> = HashMap::new();
        let mut submitted: HashMap<domain::OrgId, &SubmissionRecord> = HashMap::new();
        fn keep<'a>(m: &mut HashMap<domain::OrgId, &'a SubmissionRecord>, s: &'a SubmissionRecord) {
            let e = m.entry(s.organisation_id).or_insert(s);
            if s.version > e.version {
                *e = s;
            }
        }
        for s in &versions {
            keep(&mut newest, s);
            if s.status != SubmissionStatus::Draft {
                keep(&mut submitted, s);
            }
        }
        let filter = QueryFilter {
            window: Some(window.id),
            open_only: true,
            ..QueryFilter::default()
        };
        let mut open: HashMap<domain::OrgId, usize> = HashMap::new();
        for q in self.store.queries(&filter).await? {
            if q.closed_at.is_none() {
                *open.entry(q.organisation_id).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (orgs, total) = self.store.list_organisations(offset, 500).await?;
            let n = orgs.len() as i64;
            for o in orgs
                .into_iter()
                .filter(|o| o.kind == OrganisationKind::Provider)
            {
                let top = newest.get(&o.id).copied();
                let facts = top.map(|s| Newest {
                    status: s.status,
                    warnings: s.warnings(),
                    explained: s
                        .explanation
                        .as_deref()
                        .is_some_and(|e| !e.trim().is_empty()),
                    signed_off: s.signed_off_at.is_some(),
                });
                let standing = Standing::of(facts.as_ref(), window.sign_off_required);
                let draft = top
                    .filter(|s| s.status == SubmissionStatus::Draft)
                    .map(|s| DraftFacts {
                        version: s.version,
                        errors: s.errors(),
                        warnings: s.warnings(),
                    });
                out.push(ProviderProgress {
                    open_queries: open.get(&o.id).copied().unwrap_or(0),
                    latest: submitted.get(&o.id).map(|s| (*s).clone()),
                    draft,
                    standing,
                    organisation: o,
                });
            }
            offset += n;
            if n == 0 || offset >= total {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ukprn: &str, state: ProgressState, at: Option<i64>) -> ProviderProgress {
        let now = OffsetDateTime::UNIX_EPOCH;
        ProviderProgress {
            organisation: OrganisationRecord {
                id: domain::OrgId::random(),
                kind: OrganisationKind::Provider,
                name: name.into(),
                ukprn: domain::Ukprn::parse(ukprn).ok(),
                accountable_officer_name: None,
                accountable_officer_email: None,
                created_at: now,
            },
            standing: Standing {
                state,
                warnings_explained: false,
                awaiting_sign_off: false,
            },
            latest: at.map(|secs| SubmissionRecord {
                id: uuid::Uuid::new_v4(),
                window_id: uuid::Uuid::new_v4(),
                organisation_id: domain::OrgId::random(),
                version: 1,
                status: SubmissionStatus::Submitted,
                note: String::new(),
                created_by: domain::UserId::random(),
                created_at: now,
                submitted_by: None,
                submitted_at: Some(now + time::Duration::seconds(secs)),
                status_comment: None,
                status_by: None,
                status_at: None,
                explanation: None,
                late_reason: None,
                signed_off_by: None,
                signed_off_at: None,
                files: Vec::new(),
                checks: Vec::new(),
            }),
            draft: None,
            open_queries: 0,
        }
    }

    fn sorted(rows: &mut [ProviderProgress], sort: &str, order: &str) -> Vec<String> {
        let s = ProgressSort::read(Some(sort), Some(order));
        rows.sort_by(|a, b| compare(a, b, s));
        rows.iter().map(|r| r.organisation.name.clone()).collect()
    }

    #[test]
    fn rows_sort_by_each_key_both_ways_with_ties_by_name() {
        use ProgressState::*;
        let mut rows = vec![
            row("beta", "10000003", Submitted, Some(30)),
            row("Alpha", "10000002", Accepted, Some(10)),
            row("gamma", "10000001", NotStarted, None),
            row("delta", "10000004", Submitted, Some(20)),
        ];
        assert_eq!(
            sorted(&mut rows, "provider", "ascending"),
            ["Alpha", "beta", "delta", "gamma"]
        );
        assert_eq!(
            sorted(&mut rows, "provider", "descending"),
            ["gamma", "delta", "beta", "Alpha"]
        );
        assert_eq!(
            sorted(&mut rows, "ukprn", "ascending"),
            ["gamma", "Alpha", "beta", "delta"]
        );
        assert_eq!(
            sorted(&mut rows, "ukprn", "descending"),
            ["delta", "beta", "Alpha", "gamma"]
        );
        // Ties stay in name order whichever way the state goes.
        assert_eq!(
            sorted(&mut rows, "state", "ascending"),
            ["gamma", "beta", "delta", "Alpha"]
        );
        assert_eq!(
            sorted(&mut rows, "state", "descending"),
            ["Alpha", "beta", "delta", "gamma"]
        );
        assert_eq!(
            sorted(&mut rows, "submitted", "ascending"),
            ["gamma", "Alpha", "delta", "beta"]
        );
        assert_eq!(
            sorted(&mut rows, "submitted", "descending"),
            ["beta", "delta", "Alpha", "gamma"]
        );
        // Unknown keys are the default: by provider, ascending.
        assert_eq!(
            sorted(&mut rows, "name; DROP TABLE", "descending"),
            ["Alpha", "beta", "delta", "gamma"]
        );
    }

    #[test]
    fn the_query_refuses_an_unknown_state_and_trims_the_search() {
        let ask = |state: &str, q: &str| ProgressAsk {
            state: Some(state.into()),
            q: Some(q.into()),
            ..ProgressAsk::default()
        };
        let q = ProgressQuery::read(&ask("signed_off", "  Alpha ")).unwrap();
        assert_eq!(q.state, Some(ProgressState::SignedOff));
        assert_eq!(q.q, "Alpha");
        assert_eq!(q.sort, ProgressSort::default());
        assert!(ProgressQuery::read(&ask("", "")).unwrap().state.is_none());
        match ProgressQuery::read(&ask("done", "")) {
            Err(AppError::Invalid(f)) => assert!(f.contains_key("state")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_search_matches_part_of_a_name_in_any_case_or_a_ukprn() {
        let rows = [
            row(
                "University of Example",
                "10000001",
                ProgressState::Submitted,
                Some(1),
            ),
            row(
                "Example College",
                "10000072",
                ProgressState::NotStarted,
                None,
            ),
        ];
        let names = |q: &str, state: Option<ProgressState>| {
            let query = ProgressQuery {
                q: q.into(),
                state,
                ..ProgressQuery::default()
            };
            let needle = query.q.to_lowercase();
            rows.iter()
                .filter(|r| query.matches(r, &needle))
                .map(|r| r.organisation.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("EXAMPLE", None).len(), 2);
        assert_eq!(names("college", None), ["Example College"]);
        assert_eq!(names("0072", None), ["Example College"]);
        assert_eq!(
            names("", Some(ProgressState::Submitted)),
            ["University of Example"]
        );
        assert!(names("college", Some(ProgressState::Submitted)).is_empty());
    }
}
