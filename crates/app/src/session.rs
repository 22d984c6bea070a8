//! Who is asking: sessions resolved fresh on every request (PRODUCT §2 rule 6).

use domain::session::{self, SessionToken};
use store::{OrganisationRecord, RoleGrant, SessionKind, UserRecord};

use crate::{App, AppResult, RequestMeta};

/// A signed-in person, as of this request: their account, organisation and
/// roles are read from the store each time, so a removed role, disabled access
/// or expiry takes effect on the very next request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub organisation: OrganisationRecord,
    pub roles: Vec<RoleGrant>,
    pub session_hash: Vec<u8>,
    /// The public id of the session (or API token) this request came with.
    pub session_id: uuid::Uuid,
    /// `Token` for a personal API token presented as a bearer token.
    pub session_kind: SessionKind,
}

impl Principal {
    pub fn display_name(&self) -> String {
        self.user.display_name()
    }
}

impl App {
    /// The principal behind a presented token, if its session is live and its
    /// account may still use the portal. `kind` must match: a browser cookie is
    /// not an API token, nor the reverse. A bearer token (`kind` `Api`) may be
    /// an API sign-in's session or a personal API token (stored kind `Token`):
    /// both are resolved here, the same way, with roles read fresh.
    pub async fn resolve_session(
        &self,
        token: &str,
        kind: SessionKind,
    ) -> AppResult<Option<Principal>> {
        let Some(token) = SessionToken::parse(token) else {
            return Ok(None);
        };
        let hash = token.hash();
        let Some(found) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let s = &found.session;
        let kind_fits =
            s.kind == kind || (kind == SessionKind::Api && s.kind == SessionKind::Token);
        if !kind_fits
            || s.ended_at.is_some()
            || !crate::sessions::is_live(s, now)
            || !found.user.account_state().may_keep_session(now)
        {
            return Ok(None);
        }
        // A token's first use is recorded at once (its `last_used_at` starts
        // empty); after that, as for sessions, at most once a minute.
        let first_use = s.kind == SessionKind::Token && s.last_seen_at == s.created_at;
        if first_use || now - s.last_seen_at >= session::TOUCH_INTERVAL {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Principal {
            user: found.user,
            organisation: found.organisation,
            roles: found.roles,
            session_hash: hash,
            session_id: s.id,
            session_kind: s.kind,
        }))
    }

    /// Ends the principal's session on the server.
    pub async fn sign_out(&self, principal: &Principal, meta: &RequestMeta) -> AppResult<()> {
        let permit = crate::permit::own_account(principal, "sign_out");
        self.change(meta, Some(principal), async |u| {
            let now = u.now;
            u.tx().end_session(&principal.session_hash, now).await?;
            u.audit(&permit, None, principal.session_kind.as_str())
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        Ok(())
    }
}
