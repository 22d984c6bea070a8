//! What a data collection tells people (issue 15, item 9): a window's opening
//! to the providers' contributors for its return, and a submission to the
//! regulator's officers who review it (see [`super::submissions`]).
//!
//! A window may be opened with a future opening time, so its notice is sent
//! by a background job ([`App::announce_opened_windows`], run by the outbox
//! worker on every replica). The job claims one window at a time by marking
//! it announced in the same transaction that queues its emails
//! ([`store::StoreTx::claim_window_notice`]): a mark set only while it is
//! unset, so however many replicas run the job at once, each window's notice
//! is queued once, and a window whose emails could not be queued stays
//! unmarked for the next round. A window whose notice fails is passed over
//! for the rest of the round, so that it does not hold up the others (each
//! replica keeps its own list, for that round only: nothing shared to lose).

use std::collections::BTreeMap;

use domain::{OrgId, Role, UserId};
use store::RoleHolder;

use crate::permit;
use crate::{App, AppResult, RequestMeta};

const OPENED: &str = "windows.opened_notice";

impl App {
    /// Announces every window that is open now and has not been announced,
    /// one change each; returns how many were announced by this call.
    pub async fn announce_opened_windows(&self) -> AppResult<usize> {
        let mut announced = 0;
        // A look through the pool first, so that the write lock is taken
        // only when a window waits.
        if !self.store.window_awaiting_notice(self.clock.now()).await? {
            return Ok(0);
        }
        let mut failed: Vec<uuid::Uuid> = Vec::new();
        loop {
            let claimed = std::sync::Mutex::new(None);
            match self.announce_next_window(&failed, &claimed).await {
                Ok(true) => announced += 1,
                // None waits, or another replica holds it: its notice is theirs.
                Ok(false) => break,
                Err(e) => {
                    let window = claimed.lock().map(|c| *c).unwrap_or(None);
                    let Some(window) = window else {
                        // Failed before a window was claimed: nothing to pass over.
                        return Err(e);
                    };
                    tracing::error!(error = ?e, %window, "could not announce an opened window; passed over this round");
                    failed.push(window);
                }
            }
        }
        Ok(announced)
    }

    /// Claims one window that waits for its notice (other than `skip`),
    /// noting its id in `claimed`, and queues its emails; `false` when none
    /// could be claimed.
    async fn announce_next_window(
        &self,
        skip: &[uuid::Uuid],
        claimed: &std::sync::Mutex<Option<uuid::Uuid>>,
    ) -> AppResult<bool> {
        let meta = RequestMeta::operator("window-opened");
        self.change(&meta, None, async |u| {
            let now = u.now;
            let Some(window) = u.tx().claim_window_notice(now, skip).await? else {
                return Ok(u.done(&permit::operator(OPENED, None), false));
            };
            if let Ok(mut c) = claimed.lock() {
                *c = Some(window.id);
            }
            let permit = permit::operator(OPENED, None);
            let areas = u.tx().areas().await?;
            let area = areas.iter().find(|a| a.slug == window.area);
            let area_name = area
                .map(|a| a.name.clone())
                .unwrap_or_else(|| window.area.to_string());
            // Unknown area: said as for a sensitive one, never promising
            // a role that only an access key grants.
            let sensitive = area.is_none_or(|a| a.sensitive);
            let contributor = Role::DataCollectionContributor(window.area.clone());
            let holders = u
                .tx()
                .role_holders(&[contributor.clone(), Role::PortalAdmin])
                .await?;
            let told = whom_to_tell(&holders, &contributor, now);
            let role_name = contributor.name(&area_name);
            for (org, (organisation, people, as_contributors)) in &told {
                let because = if *as_contributors {
                    format!(
                        "We are telling you because you are a {role_name} at {organisation}."
                    )
                } else if sensitive {
                    format!(
                        "We are telling you because you are a Portal Administrator of \
                         {organisation}, and nobody there has the {role_name} role yet. \
                         {area_name} is a sensitive area: its roles come only with an \
                         access key from the Office for Students, so ask us for a key \
                         for the colleague who should have it."
                    )
                } else {
                    format!(
                        "We are telling you because you are a Portal Administrator of \
                         {organisation}, and nobody there has the {role_name} role yet: you \
                         can give it to a colleague under User management."
                    )
                };
                for person in people {
                    u.email(crate::emails::window_opened(
                        person.email.as_str(),
                        &person.display_name(),
                        &window.name,
                        organisation,
                        window.closes_at,
                        &because,
                        &self.settings.base_url,
                        now,
                    ))
                    .await?;
                }
                tracing::debug!(window = %window.id, organisation = %org, people = people.len(), "window opening announced");
            }
            let people: usize = told.values().map(|(_, p, _)| p.len()).sum();
            let detail = format!(
                "{}: {people} people told at {} providers",
                window.name,
                told.len()
            );
            u.audit(&permit, Some(window.id.to_string()), &detail)
                .await?;
            Ok(u.done(&permit, true))
        })
        .await
    }
}

/// Whom a window's opening is told to, by provider: its contributors for the
/// return who may use the portal now; where a provider has none, its Portal
/// Administrators (so that someone there knows, and can give the role). The
/// flag says which of the two it is.
pub(super) fn whom_to_tell<'a>(
    holders: &'a [RoleHolder],
    contributor: &Role,
    now: time::OffsetDateTime,
) -> BTreeMap<OrgId, (String, Vec<&'a store::UserRecord>, bool)> {
    let mut by_org: BTreeMap<OrgId, (String, Vec<&RoleHolder>)> = BTreeMap::new();
    for h in holders
        .iter()
        .filter(|h| h.user.account_state().may_keep_session(now))
    {
        by_org
            .entry(h.user.organisation_id)
            .or_insert_with(|| (h.organisation_name.clone(), Vec::new()))
            .1
            .push(h);
    }
    by_org
        .into_iter()
        .map(|(org, (name, held))| {
            let contributors: Vec<&RoleHolder> = held
                .iter()
                .copied()
                .filter(|h| &h.role == contributor)
                .collect();
            let as_contributors = !contributors.is_empty();
            let chosen = if as_contributors { contributors } else { held };
            let mut seen: Vec<UserId> = Vec::new();
            let mut people = Vec::new();
            for h in chosen {
                if !seen.contains(&h.user.id) {
                    seen.push(h.user.id);
                    people.push(&h.user);
                }
            }
            (org, (name, people, as_contributors))
        })
        .collect()
}
