//! A submission version's own page (issue 16): its files, its validation
//! report grouped by rule, the submit form (or why it is not offered), the
//! Portal Administrator's sign-off, the officer's outcome, its queries, and
//! what changed since the version before. Every control shown comes from the
//! same decision (`app::permit::may_work`, `Acceptance`) its action uses.

use app::collections::{FileValidation, acceptance};
use app::records::SubmissionRecord;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::checks::Severity;
use domain::collection::{Acceptance, SubmissionStatus, Work};

use super::forms::Errors;
use super::returns::when;
use crate::layout::Layout;
use crate::page::Page;

/// How many findings the page lists (the CSV has them all).
const FINDINGS_SHOWN: usize = 50;

/// What a refused submit form had in it, shown again.
#[derive(Default)]
pub(super) struct Shown {
    pub note: String,
    pub explanation: String,
    pub late_reason: String,
}

struct FileLine {
    href: String,
    name: String,
    kind: &'static str,
    size: String,
    sha256: String,
}

struct RuleLine {
    severity: &'static str,
    rule: String,
    count: u64,
    first_row: String,
}

struct FindingLine {
    file: String,
    row: String,
    column: String,
    severity: &'static str,
    message: String,
}

struct DiffLine {
    what: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "pages/collections/submission.html")]
struct SubmissionPage {
    layout: Layout,
    id: String,
    back_href: String,
    status_field: String,
    comment_field: String,
    window_name: String,
    area: String,
    provider: String,
    version: i64,
    status: &'static str,
    tag: &'static str,
    by_label: &'static str,
    by: String,
    note: String,
    comment: String,
    explanation: String,
    late_reason: String,
    signed_off: String,
    files: Vec<FileLine>,
    checked: bool,
    data_rows: u64,
    errors: u64,
    warnings: u64,
    rules: Vec<RuleLine>,
    findings: Vec<FindingLine>,
    more_findings: bool,
    csv_href: String,
    // Submitting.
    is_draft: bool,
    can_submit: bool,
    why_not_submit: String,
    needs_explanation: bool,
    late: bool,
    shown: Shown,
    // Signing off.
    show_sign_off: bool,
    can_sign_off: bool,
    declaration: String,
    sign_off_note: String,
    // The officer's outcome.
    reviewer: bool,
    accept_blocked: String,
    queries: String,
    previous: i64,
    changes: Vec<DiffLine>,
    banner: String,
    problem: String,
    problem_field: String,
    problem_summary: Errors,
}

fn status_tag(s: SubmissionStatus) -> &'static str {
    match s {
        SubmissionStatus::Draft => "govuk-tag--grey",
        SubmissionStatus::Submitted => "govuk-tag--blue",
        SubmissionStatus::Returned => "govuk-tag--orange",
        SubmissionStatus::Accepted => "govuk-tag--green",
    }
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
    }
}

fn bytes(n: i64) -> String {
    format!("{n} bytes")
}

/// Per rule: (severity, rule) → count, over a version's checked files.
fn rule_totals(files: &[FileValidation]) -> Vec<((&'static str, String), u64)> {
    let mut out: Vec<((&'static str, String), u64)> = Vec::new();
    for f in files {
        for r in &f.check.rule_counts {
            let key = (severity_label(r.severity), r.rule.clone());
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += r.count,
                None => out.push((key, r.count)),
            }
        }
    }
    out
}

/// "Changes from version N": data rows, errors, warnings, each rule's count,
/// and the files whose name, size or SHA-256 differ.
fn changes(
    before: &SubmissionRecord,
    before_files: &[FileValidation],
    after: &SubmissionRecord,
    after_files: &[FileValidation],
) -> Vec<DiffLine> {
    let rows = |s: &SubmissionRecord| s.checks.iter().map(|c| c.data_rows).sum::<u64>();
    let mut out = vec![
        DiffLine {
            what: "Data rows".into(),
            before: rows(before).to_string(),
            after: rows(after).to_string(),
        },
        DiffLine {
            what: "Errors".into(),
            before: before.errors().to_string(),
            after: after.errors().to_string(),
        },
        DiffLine {
            what: "Warnings".into(),
            before: before.warnings().to_string(),
            after: after.warnings().to_string(),
        },
    ];
    let (was, now) = (rule_totals(before_files), rule_totals(after_files));
    let mut keys: Vec<&(&'static str, String)> = was.iter().map(|(k, _)| k).collect();
    for (k, _) in &now {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let count = |list: &[((&'static str, String), u64)], k: &(&'static str, String)| {
        list.iter().find(|(x, _)| x == k).map_or(0, |(_, n)| *n)
    };
    for k in keys {
        let (b, a) = (count(&was, k), count(&now, k));
        if a != b {
            out.push(DiffLine {
                what: format!("{}: {}", k.0, k.1),
                before: b.to_string(),
                after: a.to_string(),
            });
        }
    }
    // A file as the table compares it: its size and SHA-256.
    let describe = |f: &(i64, String)| format!("{}, SHA-256 {}", bytes(f.0), f.1);
    let mut names: Vec<&str> = before.files.iter().map(|f| f.filename.as_str()).collect();
    for f in &after.files {
        if !names.contains(&f.filename.as_str()) {
            names.push(&f.filename);
        }
    }
    for name in names {
        let find = |s: &'_ SubmissionRecord| {
            s.files
                .iter()
                .find(|f| f.filename == name)
                .map(|f| (f.size, hex::encode(&f.sha256)))
        };
        let (b, a) = (find(before), find(after));
        let same = match (&b, &a) {
            (Some(b), Some(a)) => b.1 == a.1,
            _ => false,
        };
        if !same {
            out.push(DiffLine {
                what: format!("File {name}"),
                before: b.as_ref().map_or("Not in this version".into(), describe),
                after: a.as_ref().map_or("Not in this version".into(), describe),
            });
        }
    }
    out
}

pub(super) async fn show_submission(
    page: &Page,
    id: &str,
    status: StatusCode,
    banner: String,
    problem: (String, String),
    shown: Shown,
) -> Response {
    let Some(actor) = page.principal() else {
        return Redirect::to("/sign-in").into_response();
    };
    let app = &page.state.app;
    let meta = &page.ctx.meta;
    let v = match app.validation(actor, id, meta).await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let s = &v.submission;
    let w = &v.window;
    let (provider, previous) = match app.submission_context(actor, s).await {
        Ok(c) => c,
        Err(e) => return page.error(e),
    };
    let may = |work| app::permit::may_work(actor, &w.area, s.organisation_id, work);
    let now = app.clock.now();
    let taking = acceptance(&w.window, now);
    let is_draft = s.status == SubmissionStatus::Draft;
    let (errors, warnings) = (s.errors(), s.warnings());
    let submitter = may(Work::Submit);
    let why_not_submit = if !is_draft || !submitter {
        String::new()
    } else if errors > 0 {
        "Correct the errors and upload the file again: a version with errors cannot be submitted."
            .into()
    } else if !taking.takes_returns() {
        "The window is closed: this version can no longer be submitted.".into()
    } else {
        String::new()
    };
    let can_submit = is_draft && submitter && why_not_submit.is_empty();
    let reviewer = may(Work::Review) && !is_draft;
    let may_sign = may(Work::SignOff);
    let show_sign_off = !is_draft || may_sign;
    let can_sign_off =
        may_sign && s.status == SubmissionStatus::Submitted && s.signed_off_at.is_none();
    let signed_off = match (s.signed_off_by, s.signed_off_at) {
        (by, Some(at)) => format!(
            "{}, {}",
            app::collections::name_of(app, by).await.unwrap_or_default(),
            when(at)
        ),
        _ => String::new(),
    };
    let sign_off_note = if !signed_off.is_empty() || can_sign_off {
        String::new()
    } else if may_sign && is_draft {
        "You can sign this return off once it has been submitted.".into()
    } else if may_sign {
        format!(
            "This version is {}: only a submitted return is signed off.",
            s.status.label().to_lowercase()
        )
    } else {
        format!("The return is signed off by a Portal Administrator of {provider}.")
    };
    let accept_blocked = if w.window.sign_off_required && s.signed_off_at.is_none() {
        "It cannot be accepted until the provider's Portal Administrator has signed it off; you can return it for amendment.".to_owned()
    } else {
        String::new()
    };
    let mut rules = Vec::new();
    let mut findings = Vec::new();
    let mut kept = 0usize;
    for f in &v.files {
        for r in &f.check.rule_counts {
            rules.push(RuleLine {
                severity: severity_label(r.severity),
                rule: r.rule.clone(),
                count: r.count,
                first_row: r
                    .first_row
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "The whole file".into()),
            });
        }
        kept += f.findings.len();
        for x in f.findings.iter() {
            if findings.len() >= FINDINGS_SHOWN {
                break;
            }
            findings.push(FindingLine {
                file: f.file.filename.clone(),
                row: x.row.map(|n| n.to_string()).unwrap_or_else(|| "—".into()),
                column: x.column.clone(),
                severity: severity_label(x.severity),
                message: x.message.clone(),
            });
        }
    }
    let total = errors + warnings;
    let more_findings = total as usize > findings.len() || kept > findings.len();
    let (previous_version, change_lines) = match &previous {
        Some((p, pf)) => (p.version, changes(p, pf, s, &v.files)),
        None => (0, Vec::new()),
    };
    let queries = super::queries::section(page, s, w).await;
    let by = app::collections::name_of(app, s.submitted_by.or(Some(s.created_by)))
        .await
        .unwrap_or_default();
    let title = format!("{}: version {}", w.window.name, s.version);
    let view = SubmissionPage {
        layout: page.layout(if problem.0.is_empty() {
            title
        } else {
            format!("Error: {title}")
        }),
        id: s.id.to_string(),
        back_href: format!("/collections/{}", w.window.id),
        status_field: format!("status-{}", s.id),
        comment_field: format!("comment-{}", s.id),
        window_name: w.window.name.clone(),
        area: w.area.name.clone(),
        provider: provider.clone(),
        version: s.version,
        status: s.status.label(),
        tag: status_tag(s.status),
        by_label: if is_draft {
            "Uploaded by"
        } else {
            "Submitted by"
        },
        by: format!("{by}, {}", when(s.submitted_at.unwrap_or(s.created_at))),
        note: s.note.clone(),
        comment: s.status_comment.clone().unwrap_or_default(),
        explanation: s.explanation.clone().unwrap_or_default(),
        late_reason: s.late_reason.clone().unwrap_or_default(),
        signed_off,
        files: s
            .files
            .iter()
            .map(|f| FileLine {
                href: format!("/submissions/{}/files/{}", s.id, f.id),
                name: f.filename.clone(),
                kind: f.kind.label(),
                size: bytes(f.size),
                sha256: hex::encode(&f.sha256),
            })
            .collect(),
        checked: !s.checks.is_empty(),
        data_rows: s.checks.iter().map(|c| c.data_rows).sum(),
        errors,
        warnings,
        rules,
        findings,
        more_findings,
        csv_href: format!("/submissions/{}/report.csv", s.id),
        is_draft,
        can_submit,
        why_not_submit,
        needs_explanation: warnings > 0,
        late: taking == Acceptance::Late,
        shown,
        show_sign_off,
        can_sign_off,
        declaration: format!(
            "I confirm that this return is accurate and complete to the best of my knowledge, and that I am authorised to sign it off on behalf of {provider}."
        ),
        sign_off_note,
        reviewer,
        accept_blocked,
        queries,
        previous: previous_version,
        changes: change_lines,
        banner,
        problem_summary: if problem.0.is_empty() {
            Vec::new()
        } else {
            let href = match problem.1.as_str() {
                "note" | "explanation" | "late_reason" if !can_submit => String::new(),
                "declaration" if !can_sign_off => String::new(),
                f if f.starts_with("status-") => format!("#{f}-accepted"),
                f => format!("#{f}"),
            };
            vec![(problem.0.clone(), href)]
        },
        problem: problem.0,
        problem_field: problem.1,
    };
    page.render(status, &view)
}
