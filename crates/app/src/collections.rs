//! Data returns (PRODUCT §6): collection windows, submissions and their files,
//! and the regulator's review. Access is decided by `domain::collection::may`;
//! a refusal is audited and changes nothing.
//!
//! An upload happens in two steps so that nothing is read from a refused
//! request: [`App::prepare_upload`] checks the person, the window and its
//! state; only then does the caller stream the body into an [`Upload`], and
//! [`App::store_upload`] keeps the checked file and records the version.

use domain::audit::Outcome;
use domain::authz::{Denial, Subject};
use domain::collection::{self, FileKind, SubmissionStatus, WindowState, Work};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{FileRecord, NewSubmission, OrganisationRecord, SubmissionRecord, WindowRecord};
use time::OffsetDateTime;

use crate::files::{Received, Upload};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

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

/// Permission to send one upload, given before its body is read: which kinds
/// of file are accepted, and how large one may be.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub accepted: Vec<FileKind>,
    pub limit: u64,
}

/// A provider and where its return to a window stands (the regulator's view).
#[derive(Debug, Clone)]
pub struct Progress {
    pub organisation: OrganisationRecord,
    pub latest: Option<SubmissionRecord>,
}

/// The actor as the domain's rules see them.
pub fn subject<'a>(actor: &'a Principal, roles: &'a [Role]) -> Subject<'a> {
    Subject {
        user: actor.user.id,
        org: actor.organisation.id,
        org_kind: actor.organisation.kind,
        roles,
    }
}

impl App {
    async fn area_of(&self, slug: &domain::AreaSlug) -> AppResult<Area> {
        self.store
            .areas()
            .await?
            .into_iter()
            .find(|a| &a.slug == slug)
            .ok_or_else(|| AppError::internal("window of a missing area"))
    }

    /// A window, if `actor` may do any of `works` with it for their own
    /// organisation (404 otherwise for a provider's people; audited).
    pub async fn window_for(
        &self,
        actor: &Principal,
        id: &str,
        works: &[Work],
        action: &str,
        meta: &RequestMeta,
    ) -> AppResult<VisibleWindow> {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.window(id).await?,
            Err(_) => None,
        };
        let Some(window) = found else {
            return Err(self
                .deny(
                    meta,
                    actor,
                    action,
                    Some(id.chars().take(40).collect()),
                    Denial::NotFound,
                )
                .await);
        };
        let area = self.area_of(&window.area).await?;
        let org = actor.organisation.id;
        let roles = actor.role_list();
        let me = subject(actor, &roles);
        let mut decision = Err(Denial::NotFound);
        for work in works {
            decision =
                decision.or_else(|_| collection::may(&me, *work, &area.slug, area.sensitive, org));
        }
        if let Err(d) = decision {
            return Err(self
                .deny(meta, actor, action, Some(window.id.to_string()), d)
                .await);
        }
        Ok(VisibleWindow { window, area })
    }

    /// The windows `actor` may see, newest first: a provider's people those of
    /// the returns they hold a role for (administrators: every return); the
    /// regulator's officers their areas'; its administrators all.
    pub async fn visible_windows(&self, actor: &Principal) -> AppResult<Vec<VisibleWindow>> {
        let areas = self.store.areas().await?;
        let roles = actor.role_list();
        let me = subject(actor, &roles);
        let org = actor.organisation.id;
        Ok(self
            .store
            .windows()
            .await?
            .into_iter()
            .filter_map(|window| {
                let area = areas.iter().find(|a| a.slug == window.area)?.clone();
                let sees = collection::may(&me, Work::SeeReturns, &area.slug, false, org).is_ok()
                    || collection::may(&me, Work::ManageWindows, &area.slug, false, org).is_ok();
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

    fn may_manage_windows(&self, actor: &Principal) -> Result<(), Denial> {
        domain::authz::may_do_regulator_task(
            actor.organisation.kind,
            &actor.role_list(),
            domain::authz::RegulatorTask::CollectionWindows,
        )
    }

    /// A regulator administrator opens a collection window for a data return.
    pub async fn create_window(
        &self,
        actor: &Principal,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        if let Err(d) = self.may_manage_windows(actor) {
            return Err(self.deny(meta, actor, "windows.create", None, d).await);
        }
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
        let mut tx = self.store.begin().await?;
        tx.insert_window(&window).await?;
        tx.append_audit(&meta.event(
            now,
            Some(actor),
            "windows.create",
            Some(window.id.to_string()),
            Outcome::Success,
            &format!("{} {}", window.area, window.name),
        ))
        .await?;
        tx.commit().await?;
        Ok(window)
    }

    /// Changes a window's name, times, guidance or file types (not its area).
    pub async fn update_window(
        &self,
        actor: &Principal,
        id: &str,
        input: &WindowInput,
        meta: &RequestMeta,
    ) -> AppResult<WindowRecord> {
        if let Err(d) = self.may_manage_windows(actor) {
            return Err(self.deny(meta, actor, "windows.update", None, d).await);
        }
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
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.update_window(&window).await?;
        tx.append_audit(&meta.event(
            now,
            Some(actor),
            "windows.update",
            Some(window.id.to_string()),
            Outcome::Success,
            &window.name,
        ))
        .await?;
        tx.commit().await?;
        Ok(window)
    }

    /// Closes a window now: no more uploads.
    pub async fn close_window(
        &self,
        actor: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        if let Err(d) = self.may_manage_windows(actor) {
            return Err(self.deny(meta, actor, "windows.close", None, d).await);
        }
        let window = self
            .window_for(actor, id, &[Work::ManageWindows], "windows.close", meta)
            .await?
            .window;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.close_window(window.id, now).await?;
        tx.append_audit(&meta.event(
            now,
            Some(actor),
            "windows.close",
            Some(window.id.to_string()),
            Outcome::Success,
            &window.name,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
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
                let roles = actor.role_list();
                let me = subject(actor, &roles);
                let officer = collection::may(
                    &me,
                    Work::Review,
                    &window.area.slug,
                    false,
                    actor.organisation.id,
                )
                .is_ok();
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

    /// Step one of an upload: may `actor` send a file to this window now?
    /// Refusals (not theirs, not open) are audited and nothing is read.
    pub async fn prepare_upload(
        &self,
        actor: &Principal,
        window: &str,
        meta: &RequestMeta,
    ) -> AppResult<(WindowRecord, UploadTicket)> {
        const ACTION: &str = "submissions.upload";
        let visible = self
            .window_for(actor, window, &[Work::Submit], ACTION, meta)
            .await?;
        let now = self.clock.now();
        let w = visible.window;
        let refusal = not_open(&w, now);
        if let Some(why) = refusal {
            self.audit_refusal(
                meta,
                Some(actor),
                ACTION,
                &format!("window {}: not open", w.id),
            )
            .await?;
            return Err(AppError::Conflict(why));
        }
        let ticket = UploadTicket {
            accepted: w.file_types.clone(),
            limit: self.settings.max_upload_bytes,
        };
        Ok((w, ticket))
    }

    /// Starts receiving the body of an upload the ticket allows.
    pub async fn begin_upload(&self, ticket: &UploadTicket) -> AppResult<Upload> {
        Upload::begin(self.files.as_ref(), ticket.limit)
            .await
            .map_err(|e| AppError::internal(format!("upload scratch file: {e}")))
    }

    /// Step two: keeps the received files and records them as the provider's
    /// draft for the window (a new version unless a draft is waiting), or,
    /// with `submit`, submits that version at once with `note`.
    pub async fn store_upload(
        &self,
        actor: &Principal,
        window: &WindowRecord,
        files: Vec<(Received, String)>,
        note: &str,
        submit: bool,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        let note = note.trim();
        if note.chars().count() > 2000 {
            for (r, _) in files {
                r.discard().await;
            }
            return Err(AppError::invalid(
                "note",
                "The note must be 2,000 characters or fewer",
            ));
        }
        if files.is_empty() {
            return Err(AppError::invalid("file", "Select a file to upload"));
        }
        let now = self.clock.now();
        let org = actor.organisation.id;
        let mut tx = self.store.begin().await?;
        // The window may have closed while the file arrived.
        if window.state(now) != WindowState::Open {
            drop(tx);
            for (r, _) in files {
                r.discard().await;
            }
            self.audit_refusal(
                meta,
                Some(actor),
                "submissions.upload",
                "window closed during upload",
            )
            .await?;
            return Err(AppError::Conflict(format!(
                "{} closed while the file was uploading",
                window.name
            )));
        }
        let latest = tx.latest_submission_for_update(window.id, org).await?;
        let (submission, version) = match &latest {
            Some(s) if s.status == SubmissionStatus::Draft => (s.id, s.version),
            other => {
                let version = other.as_ref().map_or(1, |s| s.version + 1);
                let id = uuid::Uuid::new_v4();
                tx.insert_submission(&NewSubmission {
                    id,
                    window_id: window.id,
                    organisation_id: org,
                    version,
                    status: SubmissionStatus::Draft,
                    note: String::new(),
                    created_by: actor.user.id,
                    created_at: now,
                })
                .await?;
                (id, version)
            }
        };
        let mut kept = Vec::new();
        for (received, filename) in files {
            let record = FileRecord {
                id: uuid::Uuid::new_v4(),
                storage_key: uuid::Uuid::new_v4().to_string(),
                filename: collection::display_filename(&filename),
                kind: received.kind,
                size: received.size as i64,
                sha256: received.sha256.to_vec(),
                uploaded_by: actor.user.id,
                uploaded_at: now,
            };
            tx.insert_file(&record).await?;
            tx.attach_file(submission, record.id).await?;
            kept.push((received, record));
        }
        let detail = kept
            .iter()
            .map(|(_, f)| format!("{} sha256={}", f.kind.as_str(), hex::encode(&f.sha256)))
            .collect::<Vec<_>>()
            .join("; ");
        let mut event = meta.event(
            now,
            Some(actor),
            "submissions.upload",
            Some(submission.to_string()),
            Outcome::Success,
            &format!("window {} version {version}: {detail}", window.id),
        );
        event.organisation_id = Some(org);
        tx.append_audit(&event).await?;
        // The files are kept before the rows that name them are committed: a
        // failure in between leaves an unnamed file, never a row without its file.
        for (received, record) in &kept {
            if let Err(e) = self.files.put(&record.storage_key, &received.path).await {
                return Err(AppError::internal(format!("file store: {e}")));
            }
        }
        if submit {
            self.submit_in(tx.as_mut(), actor, window, submission, version, note, meta)
                .await?;
        }
        tx.commit().await?;
        self.outbox_ready.notify_one();
        self.store
            .submission(submission)
            .await?
            .ok_or_else(|| AppError::internal("submission vanished"))
    }

    /// Submits the provider's draft version with a note.
    pub async fn submit_draft(
        &self,
        actor: &Principal,
        submission: &str,
        note: &str,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        const ACTION: &str = "submissions.submit";
        let (s, window) = self
            .submission_for(actor, submission, Work::Submit, ACTION, meta)
            .await?;
        let note = note.trim();
        if note.chars().count() > 2000 {
            return Err(AppError::invalid(
                "note",
                "The note must be 2,000 characters or fewer",
            ));
        }
        let now = self.clock.now();
        if s.status != SubmissionStatus::Draft || window.window.state(now) != WindowState::Open {
            self.audit_refusal(meta, Some(actor), ACTION, "not a draft of an open window")
                .await?;
            return Err(AppError::Conflict(if s.status != SubmissionStatus::Draft {
                "This version has already been submitted".into()
            } else {
                not_open(&window.window, now).unwrap_or_default()
            }));
        }
        if s.files.is_empty() {
            return Err(AppError::invalid(
                "file",
                "Upload at least one file before submitting",
            ));
        }
        let mut tx = self.store.begin().await?;
        self.submit_in(
            tx.as_mut(),
            actor,
            &window.window,
            s.id,
            s.version,
            note,
            meta,
        )
        .await?;
        tx.commit().await?;
        self.outbox_ready.notify_one();
        self.store
            .submission(s.id)
            .await?
            .ok_or_else(|| AppError::internal("submission vanished"))
    }

    /// Submits a version in the caller's transaction: audited, and a receipt
    /// to the submitter and the provider's other contributors for the return.
    #[allow(clippy::too_many_arguments)]
    async fn submit_in(
        &self,
        tx: &mut dyn store::StoreTx,
        actor: &Principal,
        window: &WindowRecord,
        submission: uuid::Uuid,
        version: i64,
        note: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        let now = self.clock.now();
        tx.submit(submission, note, actor.user.id, now).await?;
        let mut event = meta.event(
            now,
            Some(actor),
            "submissions.submit",
            Some(submission.to_string()),
            Outcome::Success,
            &format!("window {} version {version}", window.id),
        );
        event.organisation_id = Some(actor.organisation.id);
        tx.append_audit(&event).await?;
        let area = self.area_of(&window.area).await?;
        let mut to = vec![actor.user.email.clone()];
        for u in self.contributors(actor.organisation.id, &area).await? {
            if !to.iter().any(|t| t.eq_ignore_ascii_case(&u.email)) {
                to.push(u.email);
            }
        }
        for address in to {
            let mail = crate::emails::submission_receipt(
                &address,
                &window.name,
                version,
                &actor.display_name(),
                &actor.organisation.name,
                &self.settings.base_url,
                now,
            );
            self.queue_email(tx, mail).await?;
        }
        Ok(())
    }

    /// The provider's contributors for an area's return (receipts, outcomes).
    async fn contributors(&self, org: OrgId, area: &Area) -> AppResult<Vec<store::UserRecord>> {
        let role = Role::DataCollectionContributor(area.slug.clone()).id();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let filter = store::UserFilter {
                q: None,
                role: Some(role.clone()),
                offset,
                limit: 500,
            };
            let (page, total) = self.store.list_users(org, &filter).await?;
            let n = page.len() as i64;
            let now = self.clock.now();
            out.extend(
                page.into_iter()
                    .map(|u| u.user)
                    .filter(|u| u.account_state().may_keep_session(now)),
            );
            offset += n;
            if n == 0 || offset >= total {
                return Ok(out);
            }
        }
    }

    /// A submission version, if `actor` may do `work` with it (404 otherwise).
    pub async fn submission_for(
        &self,
        actor: &Principal,
        id: &str,
        work: Work,
        action: &str,
        meta: &RequestMeta,
    ) -> AppResult<(SubmissionRecord, VisibleWindow)> {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.submission(id).await?,
            Err(_) => None,
        };
        let target = Some(id.chars().take(40).collect::<String>());
        let Some(s) = found else {
            return Err(self
                .deny(meta, actor, action, target, Denial::NotFound)
                .await);
        };
        let Some(window) = self.store.window(s.window_id).await? else {
            return Err(AppError::internal("submission without its window"));
        };
        let area = self.area_of(&window.area).await?;
        let roles = actor.role_list();
        let me = subject(actor, &roles);
        let mut decision =
            collection::may(&me, work, &area.slug, area.sensitive, s.organisation_id);
        // The regulator never sees a provider's drafts.
        if decision.is_ok()
            && actor.organisation.kind == OrganisationKind::Regulator
            && s.status == SubmissionStatus::Draft
        {
            decision = Err(Denial::NotFound);
        }
        if let Err(d) = decision {
            return Err(self.deny(meta, actor, action, target, d).await);
        }
        Ok((s, VisibleWindow { window, area }))
    }

    /// A file of a submission, to download: its record and its bytes. Every
    /// download is audited.
    pub async fn open_submission_file(
        &self,
        actor: &Principal,
        submission: &str,
        file: Option<&str>,
        meta: &RequestMeta,
    ) -> AppResult<(FileRecord, Box<dyn tokio::io::AsyncRead + Send + Unpin>)> {
        const ACTION: &str = "submissions.download";
        let (s, _) = self
            .submission_for(actor, submission, Work::SeeReturns, ACTION, meta)
            .await?;
        let chosen = match file {
            None => s.files.first().cloned(),
            Some(f) => s.files.iter().find(|x| x.id.to_string() == f).cloned(),
        };
        let Some(record) = chosen else {
            return Err(self
                .deny(
                    meta,
                    actor,
                    ACTION,
                    Some(s.id.to_string()),
                    Denial::NotFound,
                )
                .await);
        };
        self.open_audited(actor, record, s.organisation_id, ACTION, meta)
            .await
    }

    pub(crate) async fn open_audited(
        &self,
        actor: &Principal,
        record: FileRecord,
        org: OrgId,
        action: &str,
        meta: &RequestMeta,
    ) -> AppResult<(FileRecord, Box<dyn tokio::io::AsyncRead + Send + Unpin>)> {
        let reader = self
            .files
            .open(&record.storage_key)
            .await
            .map_err(|e| AppError::internal(format!("file store: {e}")))?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let mut event = meta.event(
            now,
            Some(actor),
            action,
            Some(record.id.to_string()),
            Outcome::Success,
            &format!("sha256={}", hex::encode(&record.sha256)),
        );
        event.organisation_id = Some(org);
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok((record, reader))
    }

    /// A regulator officer sets a submitted version's outcome, with a comment;
    /// the provider's contributors for the return are told.
    pub async fn set_submission_status(
        &self,
        actor: &Principal,
        submission: &str,
        status: &str,
        comment: &str,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        const ACTION: &str = "submissions.status";
        let (s, window) = self
            .submission_for(actor, submission, Work::Review, ACTION, meta)
            .await?;
        let mut errors = FieldErrors::new();
        let wanted = SubmissionStatus::parse(status.trim())
            .filter(|to| SubmissionStatus::officer_may_set(s.status, *to));
        if wanted.is_none() {
            errors.insert(
                "status",
                "Choose accepted or returned (for amendment)".into(),
            );
        }
        let comment = comment.trim();
        if comment.chars().count() > 2000 {
            errors.insert(
                "comment",
                "The comment must be 2,000 characters or fewer".into(),
            );
        }
        if wanted == Some(SubmissionStatus::Returned) && comment.is_empty() {
            errors.insert("comment", "Say what needs to change".into());
        }
        let Some(wanted) = wanted.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.set_submission_status(s.id, wanted, comment, actor.user.id, now)
            .await?;
        let mut event = meta.event(
            now,
            Some(actor),
            ACTION,
            Some(s.id.to_string()),
            Outcome::Success,
            &format!("{} -> {}", s.status.as_str(), wanted.as_str()),
        );
        event.organisation_id = Some(s.organisation_id);
        tx.append_audit(&event).await?;
        let mut told: Vec<String> = Vec::new();
        let submitter = match s.submitted_by {
            Some(u) => self.store.user(u).await?,
            None => None,
        };
        let people = self
            .contributors(s.organisation_id, &window.area)
            .await?
            .into_iter()
            .chain(submitter);
        for u in people {
            if told.iter().any(|t| t.eq_ignore_ascii_case(&u.email)) {
                continue;
            }
            told.push(u.email.clone());
            let mail = crate::emails::submission_outcome(
                &u.email,
                &window.window.name,
                s.version,
                wanted.label(),
                comment,
                &self.settings.base_url,
                now,
            );
            self.queue_email(tx.as_mut(), mail).await?;
        }
        tx.commit().await?;
        self.outbox_ready.notify_one();
        self.store
            .submission(s.id)
            .await?
            .ok_or_else(|| AppError::internal("submission vanished"))
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

/// Why nothing can be sent to a window now, in the words shown; `None` while it is open.
fn not_open(w: &WindowRecord, now: OffsetDateTime) -> Option<String> {
    let fmt = |t: OffsetDateTime| {
        t.format(time::macros::format_description!(
            "[day] [month repr:long] [year] at [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
    };
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
