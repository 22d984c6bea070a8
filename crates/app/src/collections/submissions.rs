//! Submissions: an upload in two steps (the permit first, then the file),
//! submitting with receipts, downloads, and the officer's outcome.

use domain::authz::Denial;
use domain::collection::{self, SubmissionStatus, WindowState, Work};
use domain::role::Area;
use domain::{OrgId, Role};
use store::{FileRecord, NewSubmission, SubmissionRecord, WindowRecord};

use crate::files::{Received, Upload};
use crate::permit::{self, AreaWork, Permit, Refusal};
use crate::unit::Unit;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

use super::{UploadTicket, VisibleWindow, not_open};

impl App {
    /// Step one of an upload: may `actor` send a file to this window now?
    /// Refusals (not theirs, not open) are audited and nothing is read.
    pub async fn prepare_upload(
        &self,
        actor: &Principal,
        window: &str,
        meta: &RequestMeta,
    ) -> AppResult<(WindowRecord, UploadTicket)> {
        const ACTION: &str = "submissions.upload";
        let (work, window) = self
            .window_permit(actor, window, &[Work::Submit], ACTION, meta)
            .await?;
        let now = self.clock.now();
        let limit = self.settings.max_upload_bytes;
        let decision = permit::upload(work, window, now, limit, |w| not_open(w, now));
        let ticket = self.permitted(meta, Some(actor), decision).await?;
        let window = ticket.on().window.clone();
        window
            .map(|w| (w, ticket))
            .ok_or_else(|| AppError::internal("an upload permit without its window"))
    }

    /// Starts receiving the body of an upload the ticket allows.
    pub async fn begin_upload(&self, ticket: &UploadTicket) -> AppResult<Upload> {
        Upload::begin(self.files.as_ref(), ticket.on().limit)
            .await
            .map_err(|e| AppError::internal(format!("upload scratch file: {e}")))
    }

    /// Step two: keeps the received files and records them as the provider's
    /// draft for the window (a new version unless a draft is waiting), or,
    /// with `submit`, submits that version at once with `note`.
    pub async fn store_upload(
        &self,
        actor: &Principal,
        ticket: UploadTicket,
        files: Vec<(Received, String)>,
        note: &str,
        submit: bool,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        let note = note.trim();
        let problem = if note.chars().count() > 2000 {
            Some(AppError::invalid(
                "note",
                "The note must be 2,000 characters or fewer",
            ))
        } else if files.is_empty() {
            Some(AppError::invalid("file", "Select a file to upload"))
        } else {
            None
        };
        let Some(window) = ticket.on().window.clone().filter(|_| problem.is_none()) else {
            for (r, _) in files {
                r.discard().await;
            }
            return Err(problem.unwrap_or_else(|| AppError::internal("upload without a window")));
        };
        let org = actor.organisation.id;
        let receipt_to = if submit {
            self.receipt_recipients(actor, &window).await?
        } else {
            Vec::new()
        };
        // The files go to the store first, under keys made here; the change
        // names them, or they are removed again (files::Kept).
        let records: Vec<FileRecord> = files
            .iter()
            .map(|(received, filename)| FileRecord {
                id: uuid::Uuid::new_v4(),
                storage_key: uuid::Uuid::new_v4().to_string(),
                filename: collection::display_filename(filename),
                kind: received.kind,
                size: received.size as i64,
                sha256: received.sha256.to_vec(),
                uploaded_by: actor.user.id,
                uploaded_at: self.clock.now(),
            })
            .collect();
        let to_keep: Vec<(&str, &std::path::Path)> = records
            .iter()
            .zip(&files)
            .map(|(record, (received, _))| (record.storage_key.as_str(), received.path.as_path()))
            .collect();
        let stored = crate::files::Kept::put(self.files.as_ref(), &to_keep).await;
        drop(to_keep);
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                for (r, _) in files {
                    r.discard().await;
                }
                return Err(AppError::internal(format!("file store: {e}")));
            }
        };
        let result = self
            .change(meta, Some(actor), async |u| {
                let now = u.now;
                // The window may have closed while the file arrived.
                if window.state(now) != WindowState::Open {
                    return Err(Refusal::because(
                        ticket.action(),
                        "window closed during upload",
                        AppError::Conflict(format!(
                            "{} closed while the file was uploading",
                            window.name
                        )),
                    )
                    .into());
                }
                let latest = u.tx().latest_submission_for_update(window.id, org).await?;
                let (submission, version) = match &latest {
                    Some(s) if s.status == SubmissionStatus::Draft => (s.id, s.version),
                    other => {
                        let version = other.as_ref().map_or(1, |s| s.version + 1);
                        let id = uuid::Uuid::new_v4();
                        u.tx()
                            .insert_submission(&NewSubmission {
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
                for record in &records {
                    let record = FileRecord {
                        uploaded_at: now,
                        ..record.clone()
                    };
                    u.tx().insert_file(&record).await?;
                    u.tx().attach_file(submission, record.id).await?;
                }
                let detail = records
                    .iter()
                    .map(|f| format!("{} sha256={}", f.kind.as_str(), hex::encode(&f.sha256)))
                    .collect::<Vec<_>>()
                    .join("; ");
                let detail = format!("window {} version {version}: {detail}", window.id);
                u.audit(&ticket, Some(submission.to_string()), &detail)
                    .await?;
                if submit {
                    let submitted = Submitted {
                        window: &window,
                        submission,
                        version,
                        note,
                        receipt_to: &receipt_to,
                    };
                    self.submit_in(u, actor, submitted).await?;
                }
                Ok(u.done(&ticket, submission))
            })
            .await;
        let result = stored.settle(result).await;
        match result {
            Ok(id) => self.submission_record(id).await,
            Err(e) => {
                for (r, _) in files {
                    r.discard().await;
                }
                Err(e)
            }
        }
    }

    async fn submission_record(&self, id: uuid::Uuid) -> AppResult<SubmissionRecord> {
        self.store
            .submission(id)
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
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::Submit, ACTION, meta)
            .await?;
        let note = note.trim();
        if note.chars().count() > 2000 {
            return Err(AppError::invalid(
                "note",
                "The note must be 2,000 characters or fewer",
            ));
        }
        let now = self.clock.now();
        if s.status != SubmissionStatus::Draft || window.state(now) != WindowState::Open {
            let answer = AppError::Conflict(if s.status != SubmissionStatus::Draft {
                "This version has already been submitted".into()
            } else {
                not_open(&window, now).unwrap_or_default()
            });
            let refusal = Refusal::because(ACTION, "not a draft of an open window", answer);
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        if s.files.is_empty() {
            return Err(AppError::invalid(
                "file",
                "Upload at least one file before submitting",
            ));
        }
        let receipt_to = self.receipt_recipients(actor, &window).await?;
        self.change(meta, Some(actor), async |u| {
            let submitted = Submitted {
                window: &window,
                submission: s.id,
                version: s.version,
                note,
                receipt_to: &receipt_to,
            };
            self.submit_in(u, actor, submitted).await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.submission_record(s.id).await
    }

    /// Who gets a submission's receipt: the submitter and the provider's
    /// other contributors for the return (read before the unit of work).
    async fn receipt_recipients(
        &self,
        actor: &Principal,
        window: &WindowRecord,
    ) -> AppResult<Vec<String>> {
        let area = self.area_of(&window.area).await?;
        let mut to = vec![actor.user.email.to_string()];
        for u in self.contributors(actor.organisation.id, &area).await? {
            if !to.iter().any(|t| t.eq_ignore_ascii_case(u.email.as_str())) {
                to.push(u.email.to_string());
            }
        }
        Ok(to)
    }

    /// Submits a version in the caller's unit (which holds the permit to
    /// submit): audited, and a receipt to everyone in `receipt_to`.
    async fn submit_in(
        &self,
        u: &mut Unit<'_>,
        actor: &Principal,
        s: Submitted<'_>,
    ) -> AppResult<()> {
        let now = u.now;
        u.tx()
            .submit(s.submission, s.note, actor.user.id, now)
            .await?;
        let submitting = permit::submitting(actor);
        let detail = format!("window {} version {}", s.window.id, s.version);
        u.audit(&submitting, Some(s.submission.to_string()), &detail)
            .await?;
        for address in s.receipt_to {
            u.email(crate::emails::submission_receipt(
                address,
                &s.window.name,
                s.version,
                &actor.display_name(),
                &actor.organisation.name,
                &self.settings.base_url,
                now,
            ))
            .await?;
        }
        // The regulator's officers for the return review it (collection::may,
        // Work::Review): each is told once, in this change (issue 15).
        let officer = Role::RegulatorOfficer(s.window.area.clone());
        let officers = u.tx().role_holders(&[officer]).await?;
        for o in officers
            .iter()
            .filter(|o| o.user.account_state().may_keep_session(now))
        {
            u.email(crate::emails::submission_to_review(
                o.user.email.as_str(),
                &o.user.display_name(),
                &s.window.name,
                &s.window.id.to_string(),
                s.version,
                &actor.display_name(),
                &actor.organisation.name,
                &self.settings.base_url,
                now,
            ))
            .await?;
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
                ..store::UserFilter::default()
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
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(SubmissionRecord, VisibleWindow)> {
        let (permit, s, window) = self
            .submission_permit(actor, id, work, action, meta)
            .await?;
        let area = permit.into_inner().area;
        Ok((s, VisibleWindow { window, area }))
    }

    /// As [`App::submission_for`], with the permit.
    async fn submission_permit(
        &self,
        actor: &Principal,
        id: &str,
        work: Work,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(Permit<AreaWork>, SubmissionRecord, WindowRecord)> {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.submission(id).await?,
            Err(_) => None,
        };
        let target = Some(id.chars().take(40).collect::<String>());
        let Some(s) = found else {
            let refusal = Refusal::denied(action, target, Denial::NotFound);
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        let Some(window) = self.store.window(s.window_id).await? else {
            return Err(AppError::internal("submission without its window"));
        };
        let area = self.area_of(&window.area).await?;
        let decision = permit::submission(actor, &area, &s, work, action, target);
        let permit = self.permitted(meta, Some(actor), decision).await?;
        Ok((permit, s, window))
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
        let (permit, s, _) = self
            .submission_permit(actor, submission, Work::SeeReturns, ACTION, meta)
            .await?;
        let chosen = match file {
            None => s.files.first().cloned(),
            Some(f) => s.files.iter().find(|x| x.id.to_string() == f).cloned(),
        };
        let Some(record) = chosen else {
            let refusal = Refusal::denied(ACTION, Some(s.id.to_string()), Denial::NotFound);
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        self.open_audited(actor, &permit, record, meta).await
    }

    /// Opens a file the permit lets the actor read; the download is audited.
    pub(crate) async fn open_audited(
        &self,
        actor: &Principal,
        permit: &Permit<AreaWork>,
        record: FileRecord,
        meta: &RequestMeta,
    ) -> AppResult<(FileRecord, Box<dyn tokio::io::AsyncRead + Send + Unpin>)> {
        let reader = self
            .files
            .open(&record.storage_key)
            .await
            .map_err(|e| AppError::internal(format!("file store: {e}")))?;
        let detail = format!("sha256={}", hex::encode(&record.sha256));
        self.change(meta, Some(actor), async |u| {
            u.audit(permit, Some(record.id.to_string()), &detail)
                .await?;
            Ok(u.done(permit, ()))
        })
        .await?;
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
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::Review, ACTION, meta)
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
        // Who is told, read before the unit of work.
        let submitter = match s.submitted_by {
            Some(u) => self.store.user(u).await?,
            None => None,
        };
        let mut told: Vec<String> = Vec::new();
        for u in self
            .contributors(s.organisation_id, &permit.on().area)
            .await?
            .into_iter()
            .chain(submitter)
        {
            if !told
                .iter()
                .any(|t| t.eq_ignore_ascii_case(u.email.as_str()))
            {
                told.push(u.email.to_string());
            }
        }
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            u.tx()
                .set_submission_status(s.id, wanted, comment, actor.user.id, now)
                .await?;
            let detail = format!("{} -> {}", s.status.as_str(), wanted.as_str());
            u.audit(&permit, Some(s.id.to_string()), &detail).await?;
            for address in &told {
                u.email(crate::emails::submission_outcome(
                    address,
                    &window.name,
                    s.version,
                    wanted.label(),
                    comment,
                    &self.settings.base_url,
                    now,
                ))
                .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.submission_record(s.id).await
    }
}

/// A version being submitted, inside the unit that submits it.
struct Submitted<'a> {
    window: &'a WindowRecord,
    submission: uuid::Uuid,
    version: i64,
    note: &'a str,
    receipt_to: &'a [String],
}
