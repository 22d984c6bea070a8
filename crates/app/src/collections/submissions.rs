//! Submissions: an upload in two steps (the permit first, then the file),
//! submitting with receipts, downloads, and the officer's outcome.

use domain::authz::Denial;
use domain::checks::{Checker, Finding};
use domain::collection::{self, Acceptance, FileKind, SubmissionStatus, Work};
use domain::role::Area;
use domain::{OrgId, Role};
use store::{FileCheckRecord, FileRecord, NewSubmission, SubmissionRecord, WindowRecord};

use crate::files::{Received, Upload};
use crate::permit::{self, AreaWork, Permit, Refusal};
use crate::unit::Unit;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

use super::{UploadTicket, VisibleWindow, acceptance, not_open};

/// The longest note, explanation or late reason, in characters.
const MAX_TEXT: usize = 2000;

/// What a submission carries besides its files (issue 16): a note for the
/// regulator, the explanation of its warnings, and why it is late.
#[derive(Debug, Clone, Default)]
pub struct SubmitInput {
    pub note: String,
    pub explanation: String,
    pub late_reason: String,
}

/// An upload's outcome: the version, and — when it was to be submitted at
/// once but its checks (or a missing late reason) kept it a draft — why.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub submission: SubmissionRecord,
    pub kept_as_draft: Option<String>,
}

/// A version's validation report: each checked file with its check and its
/// first findings (at most `domain::checks::FINDINGS_KEPT` a file).
#[derive(Debug, Clone)]
pub struct Validation {
    pub submission: SubmissionRecord,
    pub window: VisibleWindow,
    pub files: Vec<FileValidation>,
}

#[derive(Debug, Clone)]
pub struct FileValidation {
    pub file: FileRecord,
    pub check: FileCheckRecord,
    pub findings: Vec<Finding>,
}

impl SubmitInput {
    fn trimmed(&self) -> (&str, &str, &str) {
        (
            self.note.trim(),
            self.explanation.trim(),
            self.late_reason.trim(),
        )
    }

    /// Each text within its length: a clear message per field.
    fn check_lengths(&self) -> Result<(), AppError> {
        let (note, explanation, late) = self.trimmed();
        let mut errors = FieldErrors::new();
        for (field, value, what) in [
            ("note", note, "The note"),
            ("explanation", explanation, "The explanation"),
            ("late_reason", late, "The reason"),
        ] {
            if value.chars().count() > MAX_TEXT {
                errors.insert(field, format!("{what} must be 2,000 characters or fewer"));
            } else if value
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                errors.insert(
                    field,
                    format!("{what} must be plain text, without control characters"),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(errors))
        }
    }
}

/// Why a version cannot be submitted as it stands, or `None`: errors block
/// it (409), a return checked by rules needs a CSV file (400), warnings need
/// an explanation (409), and a late return a reason (400).
pub(crate) fn submit_problem(
    s: &SubmissionRecord,
    window: &WindowRecord,
    late: bool,
    input: &SubmitInput,
) -> Option<AppError> {
    let (_, explanation, late_reason) = input.trimmed();
    let (errors, warnings) = (s.errors(), s.warnings());
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if s.files.is_empty() {
        Some(AppError::invalid(
            "file",
            "Upload at least one file before submitting",
        ))
    } else if errors > 0 {
        Some(AppError::Conflict(format!(
            "This version has {}: correct the errors and upload the file again",
            plural(errors, "error", "errors")
        )))
    } else if !window.column_rules.is_empty() && !s.files.iter().any(|f| f.kind == FileKind::Csv) {
        Some(AppError::invalid(
            "file",
            "Upload the return as a CSV file: only CSV files are checked against this collection's rules",
        ))
    } else if !window.column_rules.is_empty()
        && s.files
            .iter()
            .any(|f| f.kind == FileKind::Csv && !s.checks.iter().any(|c| c.file_id == f.id))
    {
        // Rules given after the file was uploaded: it was never checked.
        Some(AppError::Conflict(
            "This collection's rules were set after this file was uploaded: upload it again so that it is checked"
                .into(),
        ))
    } else if warnings > 0 && explanation.is_empty() {
        Some(AppError::Conflict(format!(
            "This version has {}: explain them before submitting",
            plural(warnings, "warning", "warnings")
        )))
    } else if late && late_reason.is_empty() {
        Some(AppError::invalid(
            "late_reason",
            "The window has closed: say why the return is late",
        ))
    } else {
        None
    }
}

/// The refusal for a problem found inside a unit of work (audited).
fn refusal(action: &'static str, s: uuid::Uuid, e: AppError) -> AppError {
    let detail = match &e {
        AppError::Conflict(why) => why.clone(),
        AppError::Invalid(f) => format!(
            "invalid: {}",
            f.keys().copied().collect::<Vec<_>>().join(",")
        ),
        _ => String::new(),
    };
    Refusal::because(action, detail, e)
        .with_target(s.to_string())
        .into()
}

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
    /// A window with column rules checks a CSV file as it arrives, with the
    /// provider's UKPRN for a `ukprn` column.
    pub async fn begin_upload(&self, ticket: &UploadTicket) -> AppResult<Upload> {
        let mut upload = Upload::begin(self.files.as_ref(), ticket.on().limit)
            .await
            .map_err(|e| AppError::internal(format!("upload scratch file: {e}")))?;
        let rules = ticket
            .on()
            .window
            .as_ref()
            .map(|w| w.column_rules.as_slice())
            .filter(|r| !r.is_empty());
        if let Some(rules) = rules {
            let ukprn = match ticket.organisation() {
                Some(org) => self
                    .store
                    .organisation(org)
                    .await?
                    .and_then(|o| o.ukprn)
                    .map(|u| u.to_string()),
                None => None,
            };
            upload.check_with(Checker::new(rules, ukprn.as_deref()));
        }
        Ok(upload)
    }

    /// Step two: keeps the received files and records them as the provider's
    /// draft for the window (a new version unless a draft is waiting), each
    /// CSV file's check with it. With `submit`, the version is submitted at
    /// once if its checks allow it (no errors; warnings explained; a reason
    /// if late); otherwise it stays a draft and [`Uploaded::kept_as_draft`]
    /// says why. On a window with column rules only CSV returns are checked:
    /// a workbook is refused with a message saying to save it as CSV.
    pub async fn store_upload(
        &self,
        actor: &Principal,
        ticket: UploadTicket,
        mut files: Vec<(Received, String)>,
        input: &SubmitInput,
        submit: bool,
        meta: &RequestMeta,
    ) -> AppResult<Uploaded> {
        let checked = ticket
            .on()
            .window
            .as_ref()
            .is_some_and(|w| !w.column_rules.is_empty());
        let problem = if let Err(e) = input.check_lengths() {
            Some(e)
        } else if files.is_empty() {
            Some(AppError::invalid("file", "Select a file to upload"))
        } else if checked && files.iter().any(|(r, _)| r.kind == FileKind::Xlsx) {
            Some(AppError::invalid(
                "file",
                "This collection checks CSV files only: save the first sheet of your workbook as \"CSV UTF-8\" and upload that file",
            ))
        } else {
            None
        };
        let Some(window) = ticket.on().window.clone().filter(|_| problem.is_none()) else {
            for (r, _) in files {
                r.discard().await;
            }
            return Err(problem.unwrap_or_else(|| AppError::internal("upload without a window")));
        };
        let (note, explanation, late_reason) = input.trimmed();
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
        let reports: Vec<Option<domain::checks::Report>> = files
            .iter_mut()
            .map(|(received, _)| received.report.take())
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
                // The window may have closed (or stopped taking late
                // returns) while the file arrived: as it is now.
                let current = u
                    .tx()
                    .window_for_update(window.id)
                    .await?
                    .ok_or_else(|| AppError::internal("the window vanished"))?;
                let taking = acceptance(&current, now);
                if !taking.takes_returns() {
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
                // A checked return file starts a new version when the draft
                // already holds one: each version has one report, and the
                // earlier draft stays as it was (its errors no longer count).
                let new_check = reports.iter().any(Option::is_some);
                let (submission, version) = match &latest {
                    Some(s)
                        if s.status == SubmissionStatus::Draft
                            && (!new_check || s.checks.is_empty()) =>
                    {
                        (s.id, s.version)
                    }
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
                for (record, report) in records.iter().zip(&reports) {
                    let record = FileRecord {
                        uploaded_at: now,
                        ..record.clone()
                    };
                    u.tx().insert_file(&record).await?;
                    u.tx().attach_file(submission, record.id).await?;
                    if let Some(report) = report {
                        let check = FileCheckRecord {
                            file_id: record.id,
                            rules: window.column_rules.clone(),
                            data_rows: report.data_rows,
                            errors: report.errors,
                            warnings: report.warnings,
                            rule_counts: report.rules.clone(),
                            checked_at: now,
                        };
                        u.tx().insert_file_check(&check, &report.findings).await?;
                    }
                }
                let detail = records
                    .iter()
                    .zip(&reports)
                    .map(|(f, r)| {
                        let found = r.as_ref().map_or(String::new(), |r| {
                            format!(" errors={} warnings={}", r.errors, r.warnings)
                        });
                        format!(
                            "{} sha256={}{found}",
                            f.kind.as_str(),
                            hex::encode(&f.sha256)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let detail = format!("window {} version {version}: {detail}", window.id);
                u.audit(&ticket, Some(submission.to_string()), &detail)
                    .await?;
                let mut kept_as_draft = None;
                if submit {
                    let Some(draft) = u.tx().submission(submission).await? else {
                        return Err(AppError::internal("the version vanished"));
                    };
                    let late = taking == Acceptance::Late;
                    match submit_problem(&draft, &window, late, input) {
                        Some(why) => {
                            kept_as_draft = Some(match why {
                                AppError::Conflict(w) => w,
                                AppError::Invalid(f) => {
                                    f.values().next().cloned().unwrap_or_default()
                                }
                                _ => String::new(),
                            });
                        }
                        None => {
                            let submitted = Submitted {
                                window: &window,
                                submission,
                                version,
                                note,
                                explanation: Some(explanation).filter(|e| !e.is_empty()),
                                late_reason: Some(late_reason).filter(|_| late),
                                receipt_to: &receipt_to,
                            };
                            self.submit_in(u, actor, submitted).await?;
                        }
                    }
                }
                Ok(u.done(&ticket, (submission, kept_as_draft)))
            })
            .await;
        let result = stored.settle(result).await;
        match result {
            Ok((id, kept_as_draft)) => Ok(Uploaded {
                submission: self.submission_record(id).await?,
                kept_as_draft,
            }),
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

    /// Submits the provider's draft version: refused while it has errors
    /// (409), with warnings and no explanation (409), and after closing on a
    /// window taking late returns without a reason (400); a late one is
    /// marked late by its reason.
    pub async fn submit_draft(
        &self,
        actor: &Principal,
        submission: &str,
        input: &SubmitInput,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        const ACTION: &str = "submissions.submit";
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::Submit, ACTION, meta)
            .await?;
        input.check_lengths()?;
        let (note, explanation, late_reason) = input.trimmed();
        let now = self.clock.now();
        let taking = acceptance(&window, now);
        if s.status != SubmissionStatus::Draft || !taking.takes_returns() {
            let answer = AppError::Conflict(if s.status != SubmissionStatus::Draft {
                "This version has already been submitted".into()
            } else {
                not_open(&window, now).unwrap_or_default()
            });
            let refusal = Refusal::because(ACTION, "not a draft of an open window", answer);
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let receipt_to = self.receipt_recipients(actor, &window).await?;
        self.change(meta, Some(actor), async |u| {
            // As it is now: another upload may have added a file since.
            let Some(draft) = u.tx().submission(s.id).await? else {
                return Err(AppError::internal("the version vanished"));
            };
            if draft.status != SubmissionStatus::Draft {
                let why = AppError::Conflict("This version has already been submitted".into());
                return Err(refusal(ACTION, s.id, why));
            }
            let newest = u
                .tx()
                .latest_submission_for_update(draft.window_id, draft.organisation_id)
                .await?;
            if let Some(newer) = newest.filter(|n| n.id != draft.id) {
                let why = AppError::Conflict(format!(
                    "Version {} has been uploaded since this one: submit that version instead",
                    newer.version
                ));
                return Err(refusal(ACTION, s.id, why));
            }
            // The window as it is now: it may have been closed or changed.
            let window = u
                .tx()
                .window_for_update(window.id)
                .await?
                .ok_or_else(|| AppError::internal("the window vanished"))?;
            let taking = acceptance(&window, u.now);
            if !taking.takes_returns() {
                let why = AppError::Conflict(not_open(&window, u.now).unwrap_or_default());
                return Err(refusal(ACTION, s.id, why));
            }
            let late = taking == Acceptance::Late;
            if let Some(why) = submit_problem(&draft, &window, late, input) {
                // Bad input is audited where it was typed (page or API), as
                // everywhere; a conflict with the version's state here.
                return Err(match why {
                    AppError::Invalid(_) => why,
                    other => refusal(ACTION, s.id, other),
                });
            }
            let submitted = Submitted {
                window: &window,
                submission: s.id,
                version: s.version,
                note,
                explanation: Some(explanation).filter(|e| !e.is_empty()),
                late_reason: Some(late_reason).filter(|_| late),
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
            .submit(
                s.submission,
                &store::Submit {
                    note: s.note,
                    explanation: s.explanation,
                    late_reason: s.late_reason,
                    by: actor.user.id,
                    at: now,
                },
            )
            .await?;
        let submitting = permit::submitting(actor);
        let late = if s.late_reason.is_some() {
            " (late)"
        } else {
            ""
        };
        let detail = format!("window {} version {}{late}", s.window.id, s.version);
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
    pub(super) async fn submission_permit(
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
            // Read as it is now: the sign-off may have come since.
            let Some(current) = u.tx().submission(s.id).await? else {
                return Err(AppError::internal("the version vanished"));
            };
            if wanted == SubmissionStatus::Accepted
                && window.sign_off_required
                && current.signed_off_at.is_none()
            {
                let why = AppError::Conflict(
                    "This return cannot be accepted until the provider's Portal Administrator has signed it off: you can return it for amendment".into(),
                );
                return Err(refusal(ACTION, s.id, why));
            }
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

    /// The provider's Portal Administrator signs a submitted version off
    /// with the declaration (`declaration` says it was confirmed): only
    /// after submission and once; audited, and the area's officers are told.
    pub async fn sign_off(
        &self,
        actor: &Principal,
        submission: &str,
        declaration: bool,
        meta: &RequestMeta,
    ) -> AppResult<SubmissionRecord> {
        const ACTION: &str = "submissions.sign_off";
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::SignOff, ACTION, meta)
            .await?;
        if !declaration {
            return Err(AppError::invalid(
                "declaration",
                "Confirm the declaration to sign the return off",
            ));
        }
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let Some(current) = u.tx().submission(s.id).await? else {
                return Err(AppError::internal("the version vanished"));
            };
            let why = match (current.status, current.signed_off_at) {
                (_, Some(at)) => Some(format!(
                    "This version was signed off on {}",
                    domain::uk_time::moment(at)
                )),
                (SubmissionStatus::Draft, _) => {
                    Some("Submit this version before signing it off".to_owned())
                }
                (SubmissionStatus::Submitted, None) => None,
                (other, None) => Some(format!(
                    "This version is {}: only a submitted return is signed off",
                    other.label().to_lowercase()
                )),
            };
            if let Some(why) = why {
                return Err(refusal(ACTION, s.id, AppError::Conflict(why)));
            }
            if !u.tx().sign_off(s.id, actor.user.id, now).await? {
                let why = AppError::Conflict("This version can no longer be signed off".into());
                return Err(refusal(ACTION, s.id, why));
            }
            let detail = format!("window {} version {}", window.id, s.version);
            u.audit(&permit, Some(s.id.to_string()), &detail).await?;
            let officer = Role::RegulatorOfficer(window.area.clone());
            let officers = u.tx().role_holders(&[officer]).await?;
            for o in officers
                .iter()
                .filter(|o| o.user.account_state().may_keep_session(now))
            {
                u.email(signed_off_email(SignedOff {
                    to: o.user.email.as_str(),
                    name: &o.user.display_name(),
                    window: &window.name,
                    submission: &s.id.to_string(),
                    version: s.version,
                    by: &actor.display_name(),
                    organisation: &actor.organisation.name,
                    base_url: &self.settings.base_url,
                    now,
                }))
                .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.submission_record(s.id).await
    }

    /// A version's validation report, for those who see the return.
    pub async fn validation(
        &self,
        actor: &Principal,
        submission: &str,
        meta: &RequestMeta,
    ) -> AppResult<Validation> {
        let (s, window) = self
            .submission_for(
                actor,
                submission,
                Work::SeeReturns,
                "submissions.validation",
                meta,
            )
            .await?;
        let files = self.file_validations(&s).await?;
        Ok(Validation {
            submission: s,
            window,
            files,
        })
    }

    /// What a submission's page shows besides the version: its provider's
    /// name and the version before it the viewer may see, with its report
    /// (for "Changes from version N"). `s` was allowed by
    /// [`App::submission_for`] or [`App::validation`].
    pub async fn submission_context(
        &self,
        actor: &Principal,
        s: &SubmissionRecord,
    ) -> AppResult<(String, Option<(SubmissionRecord, Vec<FileValidation>)>)> {
        let provider = self
            .store
            .organisation(s.organisation_id)
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        let drafts = actor.organisation.id == s.organisation_id;
        let earlier = self
            .store
            .submissions(s.window_id, Some(s.organisation_id), drafts)
            .await?
            .into_iter()
            .filter(|v| v.version < s.version)
            .max_by_key(|v| v.version);
        let previous = match earlier {
            Some(v) => {
                let files = self.file_validations(&v).await?;
                Some((v, files))
            }
            None => None,
        };
        Ok((provider, previous))
    }

    /// Open queries per submission of a window, for someone who may see the
    /// window's submissions: a provider's people count their own only.
    pub async fn open_query_counts(
        &self,
        actor: &Principal,
        window: &VisibleWindow,
    ) -> AppResult<std::collections::HashMap<uuid::Uuid, usize>> {
        let org = match actor.organisation.kind {
            domain::OrganisationKind::Provider => Some(actor.organisation.id),
            domain::OrganisationKind::Regulator => None,
        };
        let filter = store::QueryFilter {
            window: Some(window.window.id),
            organisation: org,
            open_only: true,
            ..store::QueryFilter::default()
        };
        let mut counts = std::collections::HashMap::new();
        for q in self.store.queries(&filter).await? {
            *counts.entry(q.submission_id).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Each checked file of a version with its check and first findings.
    pub async fn file_validations(&self, s: &SubmissionRecord) -> AppResult<Vec<FileValidation>> {
        let mut out = Vec::new();
        for check in &s.checks {
            let Some(file) = s.files.iter().find(|f| f.id == check.file_id) else {
                continue;
            };
            out.push(FileValidation {
                file: file.clone(),
                check: check.clone(),
                findings: self.store.file_findings(file.id).await?,
            });
        }
        Ok(out)
    }

    /// The whole validation report of a version as CSV: every finding, made
    /// by checking each stored file again, streaming, against the rules kept
    /// with its check (never the window's current rules). Written to a
    /// scratch file (memory does not grow with the report) and given back to
    /// read; the download is audited. Cells are never formulas.
    pub async fn validation_csv(
        &self,
        actor: &Principal,
        submission: &str,
        meta: &RequestMeta,
    ) -> AppResult<(String, Box<dyn tokio::io::AsyncRead + Send + Unpin>)> {
        const ACTION: &str = "submissions.report_download";
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::SeeReturns, ACTION, meta)
            .await?;
        let ukprn = self
            .store
            .organisation(s.organisation_id)
            .await?
            .and_then(|o| o.ukprn)
            .map(|u| u.to_string());
        let dir = self.files.scratch_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| AppError::internal(format!("scratch dir: {e}")))?;
        // At most two reports are made at once by this process: each reads a
        // whole stored file again and may write as much.
        let _turn = REPORTS_AT_ONCE
            .acquire()
            .await
            .map_err(|e| AppError::internal(format!("validation report: {e}")))?;
        let path = dir.join(format!("report-{}", uuid::Uuid::new_v4()));
        // Removed when both this request and the thread writing it are done
        // with it, however either ends (a client gone mid-way included).
        let scratch = std::sync::Arc::new(Scratch(path.clone()));
        let writing = scratch.clone();
        let checks: Vec<(FileRecord, FileCheckRecord)> = s
            .checks
            .iter()
            .filter_map(|c| {
                s.files
                    .iter()
                    .find(|f| f.id == c.file_id)
                    .map(|f| (f.clone(), c.clone()))
            })
            .collect();
        let files = self.files.clone();
        let handle = tokio::runtime::Handle::current();
        let out = path.clone();
        // The checker calls back synchronously for each finding: the report
        // is written on a blocking thread, which drives the store's reads.
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            use std::io::Write;
            let _writing = writing;
            let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
            w.write_all(b"File,Row,Column,Severity,Rule,Message\r\n")?;
            let mut count = 0u64;
            for (file, check) in &checks {
                let mut failed: Option<std::io::Error> = None;
                let mut each = |f: &Finding| {
                    if failed.is_some() {
                        return;
                    }
                    let row = f.row.map(|r| r.to_string()).unwrap_or_default();
                    let line = [
                        file.filename.as_str(),
                        &row,
                        &f.column,
                        f.severity.as_str(),
                        &f.rule,
                        &f.message,
                    ]
                    .iter()
                    .map(|c| csv_cell(c))
                    .collect::<Vec<_>>()
                    .join(",");
                    if let Err(e) = w
                        .write_all(line.as_bytes())
                        .and_then(|()| w.write_all(b"\r\n"))
                    {
                        failed = Some(e);
                    }
                    count += 1;
                };
                handle.block_on(crate::files::check_stored(
                    files.as_ref(),
                    &file.storage_key,
                    &check.rules,
                    ukprn.as_deref(),
                    &mut each,
                ))?;
                if let Some(e) = failed {
                    return Err(e);
                }
            }
            w.flush()?;
            Ok(count)
        })
        .await;
        let count = match written {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(AppError::internal(format!("validation report: {e}"))),
            Err(e) => return Err(AppError::internal(format!("validation report: {e}"))),
        };
        let reader = tokio::fs::File::open(&path).await;
        // Open, the file can go: it is read through the handle (Unix).
        drop(scratch);
        let reader = reader.map_err(|e| AppError::internal(format!("validation report: {e}")))?;
        let detail = format!(
            "window {} version {}: {count} findings",
            window.id, s.version
        );
        self.change(meta, Some(actor), async |u| {
            u.audit(&permit, Some(s.id.to_string()), &detail).await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        let name = format!("validation-report-version-{}.csv", s.version);
        Ok((name, Box::new(reader)))
    }
}

/// Validation reports being made at once by this process.
static REPORTS_AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A scratch file removed when the last holder lets go of it.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A version being submitted, inside the unit that submits it.
struct Submitted<'a> {
    window: &'a WindowRecord,
    submission: uuid::Uuid,
    version: i64,
    note: &'a str,
    explanation: Option<&'a str>,
    late_reason: Option<&'a str>,
    receipt_to: &'a [String],
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet (a value
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'`).
fn csv_cell(value: &str) -> String {
    let safe = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

/// The sign-off email to one of the area's officers.
struct SignedOff<'a> {
    to: &'a str,
    name: &'a str,
    window: &'a str,
    submission: &'a str,
    version: i64,
    by: &'a str,
    organisation: &'a str,
    base_url: &'a str,
    now: time::OffsetDateTime,
}

fn signed_off_email(m: SignedOff<'_>) -> store::NewEmail {
    store::NewEmail {
        id: domain::ids::MessageId::random(),
        to: m.to.to_owned(),
        subject: format!(
            "{} has signed off its return to {}",
            m.organisation, m.window
        ),
        body: format!(
            "Dear {name},\n\n\
             {by}, Portal Administrator of {organisation}, signed off version\n\
             {version} of its return to {window} on {when}, confirming that it is\n\
             accurate and complete.\n\n\
             See it at {base_url}/submissions/{submission}.\n\n\
             We tell the regulator's officers for a return whenever a provider\n\
             signs one off.\n",
            name = m.name,
            by = m.by,
            organisation = m.organisation,
            version = m.version,
            window = m.window,
            when = domain::uk_time::moment(m.now),
            base_url = m.base_url,
            submission = m.submission,
        ),
        created_at: m.now,
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn report_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("students"), "\"students\"");
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        for risky in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(csv_cell(risky).starts_with("\"'"), "{risky:?}");
        }
        assert_eq!(csv_cell("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
