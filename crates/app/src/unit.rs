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
//! * Everything is read through [`Unit::tx`]. Asking the pool for another
//!   connection while this one holds locks is how concurrent writers on
//!   PostgreSQL used to wait on each other until the pool timed out.
//! * The whole unit is one call, so a store may later run it in one hand-off
//!   to the database.

use domain::UserId;
use domain::audit::Outcome;
use store::{NewAuditEvent, NewEmail, StoreTx};
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
}

/// A unit that did its work under a permit, with what it answers.
#[must_use]
pub struct Done<T>(T);

impl<'a> Unit<'a> {
    /// The transaction, for reads and writes.
    pub fn tx(&mut self) -> &mut dyn StoreTx {
        self.tx.as_mut()
    }

    /// Appends a successful audit row for the permitted action.
    pub async fn audit<P>(
        &mut self,
        permit: &Permit<P>,
        target: Option<String>,
        detail: &str,
    ) -> AppResult<i64> {
        let mut event = self.event(permit.action(), target, Outcome::Success, detail);
        if let Some(org) = permit.organisation() {
            event.organisation_id = Some(org);
        }
        Ok(self.tx.append_audit(&event).await?)
    }

    /// Appends an audit row of the permitted action with another outcome, on
    /// behalf of someone (a background step done for the person who asked).
    pub async fn audit_as<P>(
        &mut self,
        permit: &Permit<P>,
        on_behalf_of: Option<UserId>,
        target: Option<String>,
        outcome: Outcome,
        detail: &str,
    ) -> AppResult<i64> {
        let mut event = self.event(permit.action(), target, outcome, detail);
        if let Some(org) = permit.organisation() {
            event.organisation_id = Some(org);
        }
        if on_behalf_of.is_some() {
            event.actor_id = on_behalf_of;
        }
        Ok(self.tx.append_audit(&event).await?)
    }

    fn event(
        &self,
        action: &str,
        target: Option<String>,
        outcome: Outcome,
        detail: &str,
    ) -> NewAuditEvent {
        self.meta
            .event(self.now, self.actor, action, target, outcome, detail)
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
        };
        match change(&mut unit).await {
            Ok(Done(value)) => {
                let Unit { tx, wake, .. } = unit;
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
