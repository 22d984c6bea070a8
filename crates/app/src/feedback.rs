//! Feedback (seed 001): anyone signed in sends it; the regulator's
//! administrators read it, with who sent it (their own Feedback page, issue 15).

use domain::authz::RegulatorTask;
use store::{FeedbackRecord, ReceivedFeedback};

use crate::permit::{self, Refusal};
use crate::{App, AppError, AppResult, Principal, RequestMeta};

impl App {
    /// A signed-in person sends feedback (seed 001); audited.
    pub async fn send_feedback(
        &self,
        actor: &Principal,
        body: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        const ACTION: &str = "feedback.sent";
        let body = body.trim();
        let problem = if body.is_empty() {
            Some(("empty", "Enter your feedback"))
        } else if body.chars().count() > 2000 {
            Some(("too long", "Feedback must be 2,000 characters or fewer"))
        } else {
            None
        };
        if let Some((detail, message)) = problem {
            let refusal = Refusal::because(ACTION, detail, AppError::invalid("feedback", message));
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let permit = permit::own_account(actor, ACTION);
        let record = FeedbackRecord {
            id: uuid::Uuid::new_v4(),
            user_id: actor.user.id,
            organisation_id: actor.organisation.id,
            body: body.to_owned(),
            created_at: self.clock.now(),
        };
        self.change(meta, Some(actor), async |u| {
            u.tx().insert_feedback(&record).await?;
            u.audit(&permit, Some(record.id.to_string()), "").await?;
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// Feedback for the regulator's administrators, newest first.
    pub async fn read_feedback(
        &self,
        actor: &Principal,
        page: i64,
        meta: &RequestMeta,
    ) -> AppResult<(Vec<FeedbackRecord>, i64)> {
        let decision = permit::regulator_task(actor, RegulatorTask::Feedback, "feedback.read");
        self.permitted(meta, Some(actor), decision).await?;
        let per_page = 50;
        Ok(self
            .store
            .feedback((page.max(1) - 1) * per_page, per_page)
            .await?)
    }
}

/// Feedback items on one page of the regulator's Feedback page.
pub const PER_PAGE: i64 = 25;

/// One page of the feedback received, newest first, with who sent each.
pub struct ReceivedPage {
    pub items: Vec<ReceivedFeedback>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl ReceivedPage {
    /// How many pages there are (at least one).
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

impl App {
    /// The feedback received, a page at a time, each with its sender's name,
    /// address and organisation (regulator administrators only; audited
    /// refusal otherwise).
    pub async fn received_feedback(
        &self,
        actor: &Principal,
        page: i64,
        meta: &RequestMeta,
    ) -> AppResult<ReceivedPage> {
        let decision = permit::regulator_task(actor, RegulatorTask::Feedback, "feedback.read");
        self.permitted(meta, Some(actor), decision).await?;
        let page = page.max(1);
        let offset = (page - 1).saturating_mul(PER_PAGE);
        let (items, total) = self.store.received_feedback(offset, PER_PAGE).await?;
        Ok(ReceivedPage {
            items,
            total,
            page,
            per_page: PER_PAGE,
        })
    }
}

impl Principal {
    /// Whether the regulator's Feedback page is for this person.
    pub fn may_read_feedback(&self) -> bool {
        permit::may_do(self, RegulatorTask::Feedback)
    }
}
