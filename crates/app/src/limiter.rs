//! Limits on how often something may be tried (PRODUCT §3), counted in the
//! database so that every replica sees the same count (issue 14).
//!
//! A limit is a bucket (what is counted: a client address, a person's wrong
//! access keys), a number and a window. The store takes a hit atomically — one
//! statement that counts it only while the window has room — so concurrent
//! requests on any number of processes never count past the limit, and a
//! refused hit changes nothing.
//!
//! The client address is the TCP peer's: headers such as `X-Forwarded-For` are
//! never trusted, so a client cannot escape its limit by claiming another
//! address. IPv6 clients are counted by their /64, since one host may use any
//! address within it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use time::{Duration, OffsetDateTime};

use crate::{App, AppResult};

/// One kind of limit.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// What is counted, the start of every bucket's name.
    pub kind: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// Hits taken by this process between two clear-outs of ended windows.
const FORGET_EVERY: u64 = 1024;

/// Counts hits taken by this process, to clear out ended windows now and then.
#[derive(Debug, Default)]
pub struct HitCounter(AtomicU64);

impl App {
    /// The per-address limit on sign-in requests (code, token, password,
    /// registration, access key, API token): `Err(seconds)` to wait when over it.
    /// Requests without a peer address (the CLI) are not counted.
    pub(crate) async fn ip_hit(&self, ip: Option<IpAddr>) -> AppResult<Result<(), u64>> {
        let Some(ip) = ip else { return Ok(Ok(())) };
        let limit = Limit {
            kind: "sign-in-ip",
            max: self.settings.sign_in_per_ip_per_minute,
            window: Duration::minutes(1),
        };
        self.take_hit(limit, &bucket(ip).to_string()).await
    }

    /// Takes one hit of `limit` for `who`: `Err(seconds)` to wait when the
    /// window is full (and nothing was counted).
    pub(crate) async fn take_hit(&self, limit: Limit, who: &str) -> AppResult<Result<(), u64>> {
        let now = self.clock.now();
        self.forget_ended_windows(now).await;
        let key = format!("{}:{who}", limit.kind);
        Ok(
            match self
                .store
                .take_hit(&key, limit.max, limit.window, now)
                .await?
            {
                Ok(()) => Ok(()),
                Err(ends) => Err(seconds_until(now, ends)),
            },
        )
    }

    /// Gives back a hit of `limit` taken for `who` in advance (a guess that
    /// turned out right).
    pub(crate) async fn give_back_hit(&self, limit: Limit, who: &str) -> AppResult<()> {
        let key = format!("{}:{who}", limit.kind);
        self.store.give_back_hit(&key, self.clock.now()).await?;
        Ok(())
    }

    async fn forget_ended_windows(&self, now: OffsetDateTime) {
        if !self
            .hits
            .0
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(FORGET_EVERY)
        {
            return;
        }
        // Any window ended an hour ago is of no use to anyone; a failure here
        // only leaves rows for the next clear-out.
        if let Err(e) = self.store.forget_hits(now - Duration::hours(1)).await {
            tracing::warn!(error = ?e, "could not forget ended rate-limit windows");
        }
    }
}

/// Whole seconds from `now` until `ends`, at least one.
fn seconds_until(now: OffsetDateTime, ends: OffsetDateTime) -> u64 {
    let left = (ends - now).as_seconds_f64().ceil();
    if left < 1.0 { 1 } else { left as u64 }
}

/// What a client address is counted as.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ipv6_hosts_share_their_slash_64_and_mapped_v4_is_v4() {
        let a = bucket("2001:db8::1".parse().unwrap());
        assert_eq!(a, bucket("2001:db8::ffff:2".parse().unwrap()));
        assert_ne!(a, bucket("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(
            bucket("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn waits_are_whole_seconds_and_never_zero() {
        let now = datetime!(2026-01-01 10:00:15.5 UTC);
        assert_eq!(seconds_until(now, now + Duration::seconds(45)), 45);
        assert_eq!(seconds_until(now, now + Duration::milliseconds(44_100)), 45);
        assert_eq!(seconds_until(now, now), 1);
        assert_eq!(seconds_until(now, now - Duration::seconds(3)), 1);
    }
}
