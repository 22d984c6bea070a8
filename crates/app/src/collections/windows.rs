//! Collection windows: opened, changed and closed by the regulator's
//! administrators, seen by those whose roles cover the return, and the
//! progress of every provider towards one.

use domain::authz::{Denial, RegulatorTask};
use domain::collection::{FileKind, SubmissionStatus, Work};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind};
use store::{SubmissionRecord, WindowRecord};
use time::OffsetDateTime;

use crate::permit::{self, AreaWork, Permit, Refusal};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

use super::{Progress, VisibleWindow, WindowInput};

impl App {
    /// A window, if `actor` may do any of `works` with it for their own
    /// organisation (404 otherwise for a provider's people; audited).
    pub async fn window_for(
        &self,
        actor: &Principal,
        id: &str,
        works: &[Work],
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<VisibleWindow> {
        let (permit, window) = self.window_permit(actor, id, works, action, meta).await?;
        Ok(VisibleWindow {
            window,
            area: permit.into_inner().area,
        })
    }

    /// As [`App::window_for`], with the permit.
    pub(super) async fn window_permit(
        &self,
        actor: &Principal,
        id: &str,
        works: &[Work],
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(Permit<AreaWork>, WindowRecord)> {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.window(id).await?,
            Err(_) => None,
        };
        let decision = match found {
            None => Err(Refusal::denied(
                action,
                Some(id.chars().take(40).collect()),
                Denial::NotFound,
            )),
            Some(window) => {
                let area = self.area_of(&window.area).await?;
                let target = Some(window.id.to_string());
                permit::area_work(actor, &area, actor.organisation.id, works, action, target)
                    .map(|p| (p, window))
            }
        };
        match decision {
            Ok(found) => Ok(found),
            Err(r) => Err(self.refused(meta, Some(actor), r).await),
        }
    }

    /// The windows `actor` may see, newest first: a provider's people those of
    /// the returns they hold a role for (administrators: every return); the
    /// regulator's officers their areas'; its administrators all.
    pub async fn visible_windows(&self, actor: &Principal) -> AppResult<Vec<VisibleWindow>> {
        let areas = self.store.areas().await?;
        let org = actor.organisation.id;
        Ok(self
            .store
            .windows()
            .await?
            .into_iter()
            .filter_map(|window| {
                let area = areas.iter().find(|a| a.slug == window.area)?.clone();
                let listed = Area {
                    sensitive: false,
                    ..area.clone()
                };
                let sees = permit::may_work(actor, &listed, org, Work::SeeReturns)
                    || permit::may_work(actor, &listed, org, Work::ManageWindows);
                sees.then_some(VisibleWindow { window, area })
            })
            .collect())
    }

    fn parse_window(
        &self,
        input: &WindowInput,
        areas: &[Area],
    ) -> AppResult<(
        domain::AreaSlug,
        String,
        OffsetDateTime,
        OffsetDateTime,
        Vec<FileKind>,
    )> {
        let mut errors = FieldErrors::new();
        let area = areas
            .iter()
            .find(|a| a.slug.as_str() == input.area.trim() && a.kind == AreaKind::DataReturn);
        if area.is_none() {
            errors.insert("area", "Choose the data return the window is for".into());
        }
        let name = input.name.trim();
        if name.is_empty() {
            errors.insert("name", "Enter the window's name, like HESES 2026-27".into());
        } else if name.chars().count() > 120 || name.chars().any(char::is_control) {
            errors.insert(
                "name",
                "The name must be 120 characters or fewer, without control characters".into(),
            );
        }
        if input.guidance.chars().count() > 5000 {
            errors.insert(
                "guidance",
                "Guidance must be 5,000 characters or fewer".into(),
            );
        }
        match (input.opens_at, input.closes_at) {
            (None, _) => {
                errors.insert("opens_at", "Enter when the window opens".into());
            }
            (_, None) => {
                errors.insert("closes_at", "Enter when the window closes".into());
            }
            (Some(o), Some(c)) if c <= o => {
                errors.insert("closes_at", "The window must close after it opens".into());
            }
            _ => {}
        }
        let mut kinds = Vec::new();
        for t in &input.file_types {
            match FileKind::parse(t) {
                Some(k) if !kinds.contains(&k) => kinds.push(k),
                Some(_) => {}
                None => {
                    errors.insert(
                        "file_types",
                        format!("{t} is not a file type: choose CSV, XLSX or PDF"),
                    );
                }
            }
        }
        if kinds.is_empty() && !errors.contains_key("file_types") {
            errors.insert("file_types", "Choose at least one type of file".into());
        }
        match (area, input.opens_at, input.closes_at) {
            (Some(a), Some(o), Some(c)) if errors.is_empty() => {
                Ok((a.slug.clone(), name.to_owned(), o, c, kinds))
            }
            _ => Err(AppError::Invalid(errors)),
        }
    }

    async fn may_manage_windows(
        &self,
        actor: &Principal,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<Permit<RegulatorTask>> {
        let decision = permit::regulator_task(actor, RegulatorTask::CollectionWindows, action);
        self.permitted(meta, Some(actor), decision).await
    }

    /// A regulator administrator opens a collection window for a data return.
    pub async fn create_window(
        &self,
        actor: &Principal,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        let permit = self
            .may_manage_windows(actor, "windows.create", meta)
            .await?;
        let areas = self.store.areas().await?;
        let (area, name, opens_at, closes_at, file_types) = self.parse_window(input, &areas)?;
        let now = self.clock.now();
        let window = WindowRecord {
            id: uuid::Uuid::new_v4(),
            area,
            name,
            opens_at,
            closes_at,
            guidance: input.guidance.trim().to_owned(),
            file_types,
            closed_at: None,
            created_by: Some(actor.user.id),
            created_at: now,
        };
        self.change(meta, Some(actor), async |u| {
            u.tx().insert_window(&window).await?;
            let detail = format!("{} {}", window.area, window.name);
            u.audit(&permit, Some(window.id.to_string()), &detail)
                .await?;
            // A window open at once is announced by the worker's next round,
            // which this wakes (collections::notices).
            u.wake_workers();
            Ok(u.done(&permit, window.clone()))
        })
        .await
    }

    /// Changes a window's name, times, guidance or file types (not its area).
    pub async fn update_window(
        &self,
        actor: &Principal,
        id: &str,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        let permit = self
            .may_manage_windows(actor, "windows.update", meta)
            .await?;
        let current = self
            .window_for(actor, id, &[Work::ManageWindows], "windows.update", meta)
            .await?
            .window;
        let areas = self.store.areas().await?;
        let input = WindowInput {
            area: current.area.to_string(),
            ..input.clone()
        };
        let (_, name, opens_at, closes_at, file_types) = self.parse_window(&input, &areas)?;
        let window = WindowRecord {
            name,
            opens_at,
            closes_at,
            guidance: input.guidance.trim().to_owned(),
            file_types,
            ..current
        };
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            u.tx().update_window(&window, now).await?;
            u.audit(&permit, Some(window.id.to_string()), &window.name)
                .await?;
            // It may open now: the worker looks at once.
            u.wake_workers();
            Ok(u.done(&permit, window.clone()))
        })
        .await
    }

    /// Closes a window now: no more uploads.
    pub async fn close_window(
        &self,
        actor: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        let permit = self
            .may_manage_windows(actor, "windows.close", meta)
            .await?;
        let window = self
            .window_for(actor, id, &[Work::ManageWindows], "windows.close", meta)
            .await?
            .window;
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            u.tx().close_window(window.id, now).await?;
            u.audit(&permit, Some(window.id.to_string()), &window.name)
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// The submissions to a window `actor` may see: a provider's team sees its
    /// own (drafts too); an officer every provider's submitted versions,
    /// optionally of one provider or one status.
    pub async fn window_submissions(
        &self,
        actor: &Principal,
        window: &VisibleWindow,
        provider: Option<OrgId>,
        status: Option<SubmissionStatus>,
    ) -> AppResult<Vec<SubmissionRecord>> {
        let all = match actor.organisation.kind {
            OrganisationKind::Provider => {
                self.store
                    .submissions(window.window.id, Some(actor.organisation.id), true)
                    .await?
            }
            OrganisationKind::Regulator => {
                let listed = Area {
                    sensitive: false,
                    ..window.area.clone()
                };
                let officer = permit::may_work(actor, &listed, actor.organisation.id, Work::Review);
                if !officer {
                    return Ok(Vec::new());
                }
                self.store
                    .submissions(window.window.id, provider, false)
                    .await?
            }
        };
        Ok(all
            .into_iter()
            .filter(|s| status.is_none_or(|st| s.status == st))
            .collect())
    }

    /// Every provider and its newest submitted version to a window, for a
    /// regulator administrator (or the area's officer): who has not submitted.
    pub async fn window_progress(
        &self,
        actor: &Principal,
        window: &str,
        meta: &RequestMeta,
    ) -> AppResult<(VisibleWindow, Vec<Progress>)> {
        let visible = self
            .window_for(
                actor,
                window,
                &[Work::ManageWindows, Work::Review],
                "windows.progress",
                meta,
            )
            .await?;
        let submissions = self
            .store
            .submissions(visible.window.id, None, false)
            .await?;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (orgs, total) = self.store.list_organisations(offset, 500).await?;
            let n = orgs.len() as i64;
            for o in orgs
                .into_iter()
                .filter(|o| o.kind == OrganisationKind::Provider)
            {
                let latest = submissions
                    .iter()
                    .filter(|s| s.organisation_id == o.id)
                    .max_by_key(|s| s.version)
                    .cloned();
                out.push(Progress {
                    organisation: o,
                    latest,
                });
            }
            offset += n;
            if n == 0 || offset >= total {
                break;
            }
        }
        Ok((visible, out))
    }
}
