//! Reminders before a window closes (issue 16), sent by a background job that
//! is safe with several replicas.
//!
//! A window may carry reminder days (say 14, 7 and 1): that many days before
//! it closes, every provider whose return is not in (nothing uploaded, a
//! draft, or a version returned for amendment) is reminded — its contributors
//! for the return, or its Portal Administrators where it has none, as the
//! opening notice chooses them ([`super::notices::whom_to_tell`]).
//!
//! [`App::remind_providers`] runs on every replica in the outbox worker's
//! round. It looks through the pool first, so that a round with nothing due
//! takes no write lock; then, one unit per window, it claims each due
//! reminder ([`store::StoreTx::claim_reminder`]: a row keyed by window, days
//! and closing time, so only one transaction on any replica gets it) and
//! queues the emails in the same unit. Moving a window's closing time makes
//! its reminders due again, for the new time. A reminder that fell due
//! before the window opened is claimed without sending (the opening notice
//! says as much); several due at once (the job was down) send one reminder,
//! the nearest to closing, and are all claimed.

use domain::Role;
use domain::collection::{SubmissionStatus, WindowState};
use store::{NewEmail, WindowRecord};
use time::{Duration, OffsetDateTime};

use super::notices::whom_to_tell;
use crate::emails::uk_time;
use crate::permit;
use crate::{App, AppResult, RequestMeta};

const REMINDER: &str = "windows.reminder";

/// The reminders of `w` due at `now` (days before closing, largest first):
/// while it is open, those whose moment has come.
fn due_days(w: &WindowRecord, now: OffsetDateTime) -> Vec<u32> {
    if w.state(now) != WindowState::Open {
        return Vec::new();
    }
    let mut days: Vec<u32> = w
        .reminder_days
        .iter()
        .copied()
        .filter(|d| due_at(w, *d) <= now)
        .collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    days
}

fn due_at(w: &WindowRecord, days: u32) -> OffsetDateTime {
    w.closes_at - Duration::days(i64::from(days))
}

/// What a provider has so far for a window, as a reminder says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SoFar {
    Nothing,
    Draft,
    Returned,
}

impl SoFar {
    /// `None` for a provider whose return is in (submitted or accepted).
    fn of(latest: Option<SubmissionStatus>) -> Option<Self> {
        match latest {
            None => Some(Self::Nothing),
            Some(SubmissionStatus::Draft) => Some(Self::Draft),
            Some(SubmissionStatus::Returned) => Some(Self::Returned),
            Some(SubmissionStatus::Submitted | SubmissionStatus::Accepted) => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Nothing => "Nothing has been uploaded for it yet.",
            Self::Draft => {
                "There is a draft (files uploaded), but it has not been submitted: \
                 check it and submit it."
            }
            Self::Returned => {
                "The last version was returned for amendment: upload a corrected \
                 file and submit it."
            }
        }
    }
}

impl App {
    /// Sends the reminders that are due (PRODUCT §6, issue 16); returns how
    /// many window reminders this call sent (not emails). A window whose
    /// reminder fails is logged and left for the next round; the others go on.
    pub async fn remind_providers(&self) -> AppResult<usize> {
        let now = self.clock.now();
        let mut waiting = Vec::new();
        // The cheap look, through the pool: no write lock unless one is due.
        for w in self.store.windows().await? {
            let due = due_days(&w, now);
            if due.is_empty() {
                continue;
            }
            let claimed = self.store.reminders_claimed(w.id, w.closes_at).await?;
            if due.iter().any(|d| !claimed.contains(d)) {
                waiting.push(w.id);
            }
        }
        let mut sent = 0;
        for id in waiting {
            match self.remind_window(id).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = ?e, window = %id, "could not send a window's reminders; left for the next round");
                }
            }
        }
        Ok(sent)
    }

    /// Claims every due reminder of one window and sends the nearest one to
    /// closing, in one unit; `true` if emails were queued (or would have
    /// been, had anyone been there to tell).
    async fn remind_window(&self, id: uuid::Uuid) -> AppResult<bool> {
        let meta = RequestMeta::operator("window-reminder");
        self.change(&meta, None, async |u| {
            let now = u.now;
            let permit = permit::operator(REMINDER, None);
            // Read again in the unit (locked on PostgreSQL): the closing time
            // the claims are for is the one the emails say.
            let Some(window) = u.tx().window_for_update(id).await? else {
                return Ok(u.done(&permit, false));
            };
            let due = due_days(&window, now);
            let mut claimed = Vec::new();
            for d in &due {
                if u
                    .tx()
                    .claim_reminder(window.id, *d, window.closes_at, now)
                    .await?
                {
                    claimed.push(*d);
                }
            }
            // The nearest to closing is the one sent; those before it are
            // passed over (claimed, so never sent late).
            let Some(&nearest) = due.last() else {
                return Ok(u.done(&permit, false));
            };
            let target = Some(window.id.to_string());
            let mut sent = false;
            for d in claimed.iter().copied() {
                let detail = if d != nearest {
                    format!(
                        "{}: the reminder {d} days before closing was passed over: a later one fell due at the same time",
                        window.name
                    )
                } else if due_at(&window, d) <= window.opens_at {
                    format!(
                        "{}: the reminder {d} days before closing was not sent: it fell due before the window opened",
                        window.name
                    )
                } else {
                    let (people, providers) = self.send_reminder(u, &window, d, now).await?;
                    sent = true;
                    format!(
                        "{}: reminder {d} days before closing: {people} people told at {providers} providers",
                        window.name
                    )
                };
                u.audit(&permit, target.clone(), &detail).await?;
            }
            Ok(u.done(&permit, sent))
        })
        .await
    }

    /// Queues one window's reminder to every provider whose return is not in;
    /// returns how many people at how many providers.
    async fn send_reminder(
        &self,
        u: &mut crate::unit::Unit<'_>,
        window: &WindowRecord,
        days: u32,
        now: OffsetDateTime,
    ) -> AppResult<(usize, usize)> {
        let statuses = u.tx().latest_statuses(window.id).await?;
        let areas = u.tx().areas().await?;
        let area = areas.iter().find(|a| a.slug == window.area);
        let area_name = area
            .map(|a| a.name.clone())
            .unwrap_or_else(|| window.area.to_string());
        let sensitive = area.is_none_or(|a| a.sensitive);
        let contributor = Role::DataCollectionContributor(window.area.clone());
        let role_name = contributor.name(&area_name);
        let holders = u
            .tx()
            .role_holders(&[contributor.clone(), Role::PortalAdmin])
            .await?;
        let told = whom_to_tell(&holders, &contributor, now);
        let (mut people_told, mut providers) = (0, 0);
        for (org, (organisation, people, as_contributors)) in &told {
            let latest = statuses.iter().find(|(o, _)| o == org).map(|(_, s)| *s);
            let Some(so_far) = SoFar::of(latest) else {
                continue;
            };
            let because = if *as_contributors {
                format!("We are reminding you because you are a {role_name} at {organisation}.")
            } else if sensitive {
                format!(
                    "We are reminding you because you are a Portal Administrator of \
                     {organisation}, and nobody there has the {role_name} role. \
                     {area_name} is a sensitive area: its roles come only with an \
                     access key from the Office for Students."
                )
            } else {
                format!(
                    "We are reminding you because you are a Portal Administrator of \
                     {organisation}, and nobody there has the {role_name} role: you \
                     can give it to a colleague under User management."
                )
            };
            for person in people {
                u.email(reminder_email(&Reminder {
                    to: person.email.as_str(),
                    name: &person.display_name(),
                    window,
                    organisation,
                    so_far,
                    because: &because,
                    base_url: &self.settings.base_url,
                    now,
                }))
                .await?;
            }
            tracing::debug!(window = %window.id, organisation = %org, days, people = people.len(), "window reminder queued");
            people_told += people.len();
            providers += 1;
        }
        Ok((people_told, providers))
    }
}

/// One reminder email's facts.
struct Reminder<'a> {
    to: &'a str,
    name: &'a str,
    window: &'a WindowRecord,
    organisation: &'a str,
    so_far: SoFar,
    because: &'a str,
    base_url: &'a str,
    now: OffsetDateTime,
}

/// How long until `closes_at`, in whole days rounded to the nearest: "in 7
/// days", "in 1 day", "within a day".
fn days_left(closes_at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (closes_at - now).whole_seconds().max(0);
    match (seconds + 43_200) / 86_400 {
        0 => "within a day".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    }
}

/// The reminder to one person at a provider whose return is not in.
fn reminder_email(r: &Reminder<'_>) -> NewEmail {
    let w = r.window;
    let left = days_left(w.closes_at, r.now);
    NewEmail {
        id: domain::ids::MessageId::random(),
        to: r.to.to_owned(),
        subject: format!("Reminder: {} closes {left}", w.name),
        body: format!(
            "Dear {name},\n\n\
             {window} closes {left}, on {closes}.\n\
             {organisation} has not submitted its return yet. {so_far}\n\n\
             Sign in at {base_url}/collections/{id} to upload and submit the return.\n\n\
             {because}\n",
            name = r.name,
            window = w.name,
            closes = uk_time(w.closes_at),
            organisation = r.organisation,
            so_far = r.so_far.words(),
            base_url = r.base_url,
            id = w.id,
            because = r.because,
        ),
        created_at: r.now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn window(days: &[u32]) -> WindowRecord {
        WindowRecord {
            id: uuid::Uuid::nil(),
            area: domain::AreaSlug::parse("heses").unwrap(),
            name: "HESES 2026-27".into(),
            opens_at: datetime!(2026-10-01 0:00 UTC),
            closes_at: datetime!(2026-10-31 17:00 UTC),
            guidance: String::new(),
            file_types: Vec::new(),
            closed_at: None,
            created_by: None,
            created_at: datetime!(2026-09-01 0:00 UTC),
            column_rules: Vec::new(),
            sign_off_required: false,
            reminder_days: days.to_vec(),
            late_submissions: false,
        }
    }

    #[test]
    fn reminders_fall_due_at_their_day_and_not_after_closing() {
        let w = window(&[14, 7, 1]);
        assert!(due_days(&w, datetime!(2026-10-17 16:59 UTC)).is_empty());
        assert_eq!(due_days(&w, datetime!(2026-10-17 17:00 UTC)), [14]);
        assert_eq!(due_days(&w, datetime!(2026-10-30 18:00 UTC)), [14, 7, 1]);
        assert!(due_days(&w, datetime!(2026-10-31 17:00 UTC)).is_empty());
        let closed = WindowRecord {
            closed_at: Some(datetime!(2026-10-20 0:00 UTC)),
            ..w
        };
        assert!(due_days(&closed, datetime!(2026-10-25 0:00 UTC)).is_empty());
    }

    #[test]
    fn the_days_left_are_rounded_to_the_nearest_day() {
        let close = datetime!(2026-10-31 17:00 UTC);
        assert_eq!(days_left(close, close - Duration::days(7)), "in 7 days");
        assert_eq!(
            days_left(close, close - Duration::days(7) + Duration::hours(3)),
            "in 7 days"
        );
        assert_eq!(days_left(close, close - Duration::hours(25)), "in 1 day");
        assert_eq!(days_left(close, close - Duration::hours(2)), "within a day");
    }

    #[test]
    fn the_email_says_the_window_its_closing_what_there_is_and_where() {
        let w = window(&[7]);
        let now = w.closes_at - Duration::days(7);
        for (so_far, says) in [
            (SoFar::Nothing, "Nothing has been uploaded"),
            (SoFar::Draft, "There is a draft"),
            (SoFar::Returned, "returned for amendment"),
        ] {
            let e = reminder_email(&Reminder {
                to: "hana@a.example.ac.uk",
                name: "Hana Ito",
                window: &w,
                organisation: "Provider A",
                so_far,
                because: "We are reminding you because.",
                base_url: "https://portal.example",
                now,
            });
            assert_eq!(e.subject, "Reminder: HESES 2026-27 closes in 7 days");
            for part in [
                "Dear Hana Ito",
                "closes in 7 days, on 31 October 2026 at 5pm (UK time)",
                "Provider A has not submitted its return yet.",
                says,
                "https://portal.example/collections/00000000-0000-0000-0000-000000000000",
            ] {
                assert!(e.body.contains(part), "{part}: {}", e.body);
            }
        }
    }
}
