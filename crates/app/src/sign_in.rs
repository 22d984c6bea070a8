//! Signing in with an emailed one-time passcode (PRODUCT §3).
//!
//! Every answer that could tell an attacker something is the same for every
//! address: a code request always answers with a fresh attempt id, whether or
//! not a code was sent; a verification either signs in or is `CodeRejected`.

use domain::audit::Outcome;
use domain::otp::{self, Passcode};
use domain::session::{self, SessionToken};
use domain::{AttemptId, EmailAddress};
use rand::rngs::OsRng;
use store::{NewAttempt, NewSession, SessionKind};
use time::OffsetDateTime;

use crate::permit::{self, Permit, Refusal, SignInRequest};
use crate::unit::{Entry, Unit};
use crate::{App, AppError, AppResult, RequestMeta, emails};

/// A new session, handed to the client once.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    /// When the session ends at the latest (the absolute timeout).
    pub expires_at: OffsetDateTime,
}

impl App {
    /// Counts a sign-in request (code, token, password, registration,
    /// access key) against the client's address: the permit to try, or, over
    /// the limit, the refusal audited as `action` and answered `429`.
    pub(crate) async fn ip_limited(
        &self,
        meta: &RequestMeta,
        actor: Option<&crate::Principal>,
        action: &'static str,
    ) -> AppResult<Permit<SignInRequest>> {
        let limit = self.ip_hit(meta.ip).await?;
        self.permitted(meta, actor, permit::sign_in_request(limit, action))
            .await
    }

    /// Step 1, counted for the metrics (issue 14): see `try_request_code`.
    pub async fn request_code(
        &self,
        email_input: &str,
        meta: &RequestMeta,
    ) -> AppResult<AttemptId> {
        let result = self.try_request_code(email_input, meta).await;
        count_sign_in(&result, "code_requested");
        result
    }

    /// Step 1: someone enters an email address. A code is emailed only if the
    /// address belongs to an account that may sign in and has had fewer than
    /// five codes in 15 minutes; the answer is the same either way.
    async fn try_request_code(
        &self,
        email_input: &str,
        meta: &RequestMeta,
    ) -> AppResult<AttemptId> {
        const ACTION: &str = "sign_in.code_requested";
        let permit = self.ip_limited(meta, None, ACTION).await?;
        let email = match EmailAddress::parse(email_input) {
            Ok(e) => e,
            Err(e) => {
                let answer = AppError::invalid("email", e.to_string());
                let refusal = Refusal::because(ACTION, "invalid email address", answer);
                return Err(self.refused(meta, None, refusal).await);
            }
        };
        let email_norm = email.normalised();
        let attempt_id = AttemptId::random();
        self.change(meta, None, async |u| {
            let now = u.now;
            let user = u.tx().user_by_email_for_update(&email_norm).await?;
            let refusal = match &user {
                None => Some("no account with this address"),
                Some(x) if !x.access_enabled => Some("access disabled"),
                Some(x) if x.account_state().is_expired(now) => Some("account expired"),
                Some(x) if x.account_state().is_locked(now) => Some("sign-in locked"),
                Some(_) => {
                    let sent = u
                        .tx()
                        .codes_sent_since(&email_norm, now - otp::CODE_WINDOW)
                        .await?;
                    (sent >= otp::MAX_CODES_PER_WINDOW)
                        .then_some("code limit reached for this address")
                }
            };
            let (code_hash, user_id, outcome, detail) = match (refusal, &user) {
                (None, Some(x)) => {
                    let code = Passcode::generate(&mut OsRng);
                    u.email(emails::passcode(x.email.as_str(), &code, now))
                        .await?;
                    (
                        Some(self.key.code_hash(attempt_id, &code).to_vec()),
                        Some(x.id),
                        Outcome::Success,
                        "code sent",
                    )
                }
                (reason, _) => (
                    None,
                    None,
                    Outcome::Refused,
                    reason.unwrap_or("no code sent"),
                ),
            };
            u.tx()
                .insert_attempt(&NewAttempt {
                    id: attempt_id,
                    email_norm: email_norm.clone(),
                    user_id,
                    code_hash,
                    created_at: now,
                    expires_at: now + otp::CODE_TTL,
                })
                .await?;
            // The row is about the account even when no code was sent.
            let entry = Entry::new(outcome, Some(email_norm.clone()), detail).about(user.as_ref());
            u.record(&permit, entry).await?;
            Ok(u.done(&permit, attempt_id))
        })
        .await
    }

    /// Step 2, counted for the metrics (issue 14): see `try_code`.
    pub async fn verify_code(
        &self,
        attempt: &str,
        code_input: &str,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        let result = self
            .try_code(attempt, code_input, kind, replaces, meta)
            .await;
        count_sign_in(&result, "signed_in");
        result
    }

    /// Step 2: the code is entered. Every guess is counted against the code
    /// (five void it) and every wrong one against the account (ten in a row lock
    /// sign-in, for 15 minutes doubling up to a day; new codes do not reset it).
    /// `replaces` is the session the client already had, if any: it ends.
    async fn try_code(
        &self,
        attempt: &str,
        code_input: &str,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        const ACTION: &str = "sign_in.code_entered";
        let permit = self.ip_limited(meta, None, ACTION).await?;
        let Some(code) = Passcode::parse(code_input) else {
            let answer = AppError::invalid("code", "Enter the 6-digit code from the email");
            let refusal = Refusal::because(ACTION, "not a 6-digit code", answer);
            return Err(self.refused(meta, None, refusal).await);
        };
        let Ok(attempt_id) = attempt.parse::<AttemptId>() else {
            let refusal = Refusal::because(ACTION, "unknown attempt", AppError::CodeRejected);
            return Err(self.refused(meta, None, refusal).await);
        };
        // A wrong guess is counted and committed, and then answered as a refusal.
        self.change(meta, None, async |u| {
            let now = u.now;
            let refused = Outcome::Refused;
            let Some(found) = u
                .tx()
                .take_guess(attempt_id, otp::MAX_GUESSES_PER_CODE, now)
                .await?
            else {
                let why = "no live code for this attempt (unknown, expired, used or voided)";
                u.record(&permit, Entry::new(refused, None, why)).await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            };
            let (Some(user_id), Some(stored)) = (found.user_id, found.code_hash.as_deref()) else {
                let why = "no code was sent for this attempt";
                u.record(&permit, Entry::new(refused, None, why)).await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            };
            let Some(user) = u.tx().user_for_update(user_id).await? else {
                return Err(AppError::internal("attempt refers to a missing user"));
            };
            let about =
                |why| Entry::new(refused, Some(user.email.normalised()), why).about(Some(&user));
            if !user.account_state().may_sign_in(now) {
                let why = "account may not sign in (disabled, expired or locked)";
                u.record(&permit, about(why)).await?;
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            if !self.key.code_matches(attempt_id, &code, stored) {
                let failures = u.tx().add_sign_in_failure(user.id).await?;
                u.record(&permit, about("wrong code")).await?;
                if failures >= otp::FAILURES_BEFORE_LOCK {
                    let until = now + otp::lock_duration(user.lock_count);
                    u.tx().lock_sign_in(user.id, until).await?;
                    let detail =
                        format!("locked until {until} after {failures} consecutive failures");
                    u.record(&permit, about(&detail).action("sign_in.locked"))
                        .await?;
                }
                return Ok(u.done(&permit, Err(AppError::CodeRejected)));
            }
            if !u.tx().consume_attempt(attempt_id, now).await? {
                return Err(AppError::CodeRejected);
            }
            let signed_in = self
                .start_session(u, &permit, &user, kind, replaces)
                .await?;
            Ok(u.done(&permit, Ok(signed_in)))
        })
        .await?
    }

    /// A successful sign-in, by passcode or password, in the caller's unit:
    /// failures and locks are forgotten, the session the browser had (if any)
    /// ends, a new one starts, and it is audited.
    pub(crate) async fn start_session(
        &self,
        u: &mut Unit<'_>,
        checked: &Permit<SignInRequest>,
        user: &store::UserRecord,
        kind: SessionKind,
        replaces: Option<&[u8]>,
    ) -> AppResult<SignedIn> {
        let now = u.now;
        let permit = permit::session_for(user, checked);
        u.tx().record_sign_in(user.id, now).await?;
        // Signing in again from a signed-in browser ends the session it replaces.
        if let Some(previous) = replaces {
            u.tx().end_session(previous, now).await?;
        }
        let token = SessionToken::generate(&mut OsRng);
        u.tx()
            .insert_session(&NewSession {
                token_hash: token.hash(),
                user_id: user.id,
                kind,
                created_at: now,
            })
            .await?;
        let target = Some(user.email.normalised());
        let entry = Entry::new(Outcome::Success, target, kind.as_str()).about(Some(user));
        u.record(&permit, entry).await?;
        Ok(SignedIn {
            token,
            expires_at: now + session::ABSOLUTE_TIMEOUT,
        })
    }
}

/// Counts one sign-in step's outcome (`portal_sign_ins_total`, issue 14):
/// `success` when it went through, else `rate_limited` or `rejected` (a wrong,
/// used or voided code, a malformed entry, an account that may not sign in).
/// Internal errors are not sign-in outcomes: the 5xx rate shows them.
pub(crate) fn count_sign_in<T>(result: &AppResult<T>, success: &'static str) {
    let outcome = match result {
        Ok(_) => success,
        Err(AppError::RateLimited { .. }) => "rate_limited",
        Err(AppError::Internal(_)) => return,
        Err(_) => "rejected",
    };
    metrics::counter!("portal_sign_ins_total", "outcome" => outcome).increment(1);
}
