//! One user action is one unit of work: one transaction holding every write,
//! its audit rows and its outbox rows, committed together or not at all.
//!
//! ```text
//! app.change(meta, Some(actor), async |u| {
//!     let target = read through u.tx() …;
//!     let permit = permit::user(actor, target, &[Action::SetRoles], "users.set_roles")?;
//!     u.tx().grant_role(…).await?;
//!     u.audit(&permit, Some(id), "added …").await?;
//!     u.email(…).await?;
//!     Ok(u.done(&permit, answer))
//! })
//! ```
//!
//! * The unit can only end well with a [`Done`], and only [`Unit::done`] makes
//!   one, from a [`Permit`]: a change that never passed the decision does not
//!   compile.
//! * A [`Refusal`] returned from inside (with `?`) rolls the unit back; its
//!   audit row is then written on its own, so a refused action leaves every
//!   table as it was but the audit log.
//! * Audit rows are kept by the unit and appended just before it commits:
//!   the audit chain is one sequence, so on PostgreSQL its lock is held from
//!   the first row appended to the commit, and every other unit that appends
//!   audit rows waits that long (decisions.md, "PostgreSQL's serial sections,
//!   made shorter", under "The audit chain").
//! * Everything is read through [`Unit::tx`]. Asking the pool for another
//!   connection while this one holds locks is how concurrent writers on
//!   PostgreSQL used to wait on each other until the pool timed out.
//! * The whole unit is one call, so a store may later run it in one hand-off
//!   to the database.

use domain::UserId;
use domain::audit::Outcome;
use store::{NewAuditEvent, NewEmail, StoreTx, UserRecord};
use time::OffsetDateTime;

use crate::permit::{Permit, Refusal};
use crate::{App, AppError, AppResult, Principal, RequestMeta};

/// An open unit of work.
pub struct Unit<'a> {
    app: &'a App,
    tx: Box<dyn StoreTx>,
    meta: &'a RequestMeta,
    actor: Option<&'a Principal>,
    /// The time of the whole change.
    pub now: OffsetDateTime,
    wake: bool,
    /// Audit rows recorded, in order, appended when the unit commits.
    audits: Vec<NewAuditEvent>,
}

/// One audit row, as [`Unit::record`] writes it.
pub struct Entry<'a> {
    pub outcome: Outcome,
    pub target: Option<String>,
    pub detail: &'a str,
    /// Another action than the permit's, for a consequence of it.
    pub action: Option<&'static str>,
    /// The account the row is about (sign-in steps): its user and organisation.
    pub about: Option<&'a UserRecord>,
    /// Who acted, when not the unit's actor.
    pub actor: Option<UserId>,
}

impl<'a> Entry<'a> {
    pub fn new(outcome: Outcome, target: Option<String>, detail: &'a str) -> Self {
        Self {
            outcome,
            target,
            detail,
            action: None,
            about: None,
            actor: None,
        }
    }

    pub fn about(mut self, user: Option<&'a UserRecord>) -> Self {
        self.about = user;
        self
    }

    pub fn action(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }
}

/// A unit that did its work under a permit, with what it answers.
#[must_use]
pub struct Done<T>(T);

impl<'a> Unit<'a> {
    /// The transaction, for reads and writes.
    pub fn tx(&mut self) -> &mut dyn StoreTx {
        self.tx.as_mut()
    }

    /// Records a successful audit row for the permitted action.
    pub async fn audit<P>(
        &mut self,
        permit: &Permit<P>,
        target: Option<String>,
        detail: &str,
    ) -> AppResult<()> {
        self.record(permit, Entry::new(Outcome::Success, target, detail))
            .await
    }

    /// Records an audit row of the permitted action with another outcome, on
    /// behalf of someone (a background step done for the person who asked).
    pub async fn audit_as<P>(
        &mut self,
        permit: &Permit<P>,
        on_behalf_of: Option<UserId>,
        target: Option<String>,
        outcome: Outcome,
        detail: &str,
    ) -> AppResult<()> {
        let mut entry = Entry::new(outcome, target, detail);
        entry.actor = on_behalf_of;
        self.record(permit, entry).await
    }

    /// Records one audit row under `permit`: its action (unless the entry
    /// names a consequence of it, such as `sign_in.locked`), the permit's
    /// organisation, or the account the entry is about. The row is appended
    /// to the chain when the unit commits, with the unit's other rows.
    pub async fn record<P>(&mut self, permit: &Permit<P>, entry: Entry<'_>) -> AppResult<()> {
        let action = entry.action.unwrap_or(permit.action());
        let mut event = self.meta.event(
            self.now,
            self.actor,
            action,
            entry.target,
            entry.outcome,
            entry.detail,
        );
        if let Some(org) = permit.organisation() {
            event.organisation_id = Some(org);
        }
        if let Some(user) = entry.about {
            event.actor_id = Some(user.id);
            event.organisation_id = Some(user.organisation_id);
        }
        if entry.actor.is_some() {
            event.actor_id = entry.actor;
        }
        self.audits.push(event);
        Ok(())
    }

    /// Queues an email, sealed at rest, sent once the unit commits.
    pub async fn email(&mut self, email: NewEmail) -> AppResult<()> {
        self.app.queue_email(self.tx.as_mut(), email).await?;
        self.wake = true;
        Ok(())
    }

    /// Ends the unit under `permit`, answering `value`.
    pub fn done<P, T>(&self, _permit: &Permit<P>, value: T) -> Done<T> {
        Done(value)
    }

    /// Wakes the background workers once the unit commits (it left them work).
    pub fn wake_workers(&mut self) {
        self.wake = true;
    }
}

impl App {
    /// Runs one unit of work: `change` reads, decides (obtaining its permit),
    /// writes, audits and queues its emails through the unit; then everything
    /// commits, or, on any error, nothing does. A refusal is audited after the
    /// rollback and answered ([`App::refused`]).
    pub(crate) async fn change<T>(
        &self,
        meta: &RequestMeta,
        actor: Option<&Principal>,
        change: impl AsyncFnOnce(&mut Unit<'_>) -> AppResult<Done<T>>,
    ) -> AppResult<T> {
        let tx = self.store.begin().await?;
        let mut unit = Unit {
            app: self,
            tx,
            meta,
            actor,
            now: self.clock.now(),
            wake: false,
            audits: Vec::new(),
        };
        match change(&mut unit).await {
            Ok(Done(value)) => {
                let Unit {
                    mut tx,
                    wake,
                    audits,
                    ..
                } = unit;
                for event in &audits {
                    tx.append_audit(event).await?;
                }
                tx.commit().await?;
                if wake {
                    self.outbox_ready.notify_one();
                }
                Ok(value)
            }
            Err(AppError::Refused(refusal)) => {
                drop(unit);
                Err(self.refused(meta, actor, *refusal).await)
            }
            Err(e) => Err(e),
        }
    }

    /// Obtains a permit outside a unit of work (reads): a refusal is audited
    /// and answered.
    pub(crate) async fn permitted<T>(
        &self,
        meta: &RequestMeta,
        actor: Option<&Principal>,
        decision: Result<Permit<T>, Refusal>,
    ) -> AppResult<Permit<T>> {
        match decision {
            Ok(p) => Ok(p),
            Err(r) => Err(self.refused(meta, actor, r).await),
        }
    }

    /// The one place a refusal becomes an answer: its audit row is written in
    /// a transaction of its own (nothing else is open), then the person is
    /// told. If even the audit row cannot be written, the error says so.
    pub async fn refused(
        &self,
        meta: &RequestMeta,
        actor: Option<&Principal>,
        refusal: Refusal,
    ) -> AppError {
        count_refusal(&refusal);
        let event = meta.event(
            self.clock.now(),
            actor,
            &refusal.action,
            refusal.target,
            Outcome::Refused,
            &refusal.detail,
        );
        let audited = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(&event).await?;
            tx.commit().await
        };
        match audited.await {
            Ok(()) => refusal.answer,
            Err(e) => e.into(),
        }
    }
}

/// Counts a refusal (`portal_refusals_total`, issue 14) by the area of its
/// action (`sign_in`, `users`, … : the part before the first dot, always
/// one of the code's own names) and by the kind of answer: few label values.
fn count_refusal(refusal: &Refusal) {
    let kind = match &refusal.answer {
        AppError::Invalid(_) => "invalid",
        AppError::CodeRejected => "code_rejected",
        AppError::Unauthenticated => "unauthenticated",
        AppError::Forbidden(_) => "forbidden",
        AppError::NotFound => "not_found",
        AppError::Conflict(_) => "conflict",
        AppError::RateLimited { .. } => "rate_limited",
        AppError::Internal(_) | AppError::Refused(_) => "other",
    };
    count_refused(&refusal.action, kind);
}

/// Counts a refusal a unit keeps as its committed outcome (its audit row
/// written by the unit, not by [`App::refused`]), as [`count_refusal`] does.
pub(crate) fn count_refused(action: &str, kind: &'static str) {
    let area = action
        .split('.')
        .next()
        .filter(|a| a.len() <= 32 && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .unwrap_or("other")
        .to_owned();
    metrics::counter!("portal_refusals_total", "area" => area, "kind" => kind).increment(1);
}
