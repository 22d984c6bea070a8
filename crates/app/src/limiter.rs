//! Per-client-address limits on sign-in requests (PRODUCT §3).
//!
//! Fixed one-minute windows, in memory. The address is the TCP peer's: headers
//! such as `X-Forwarded-For` are never trusted, so a client cannot escape its
//! limit by claiming another address. IPv6 clients are counted by their /64,
//! since one host may use any address within it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::OffsetDateTime;

pub struct IpLimiter {
    per_minute: u32,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    minute: i64,
    counts: HashMap<IpAddr, u32>,
}

/// Addresses tracked within one minute at most; past it, new addresses are
/// refused until the minute turns (memory stays bounded under a flood).
const MAX_TRACKED: usize = 200_000;

impl IpLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(Windows::default()),
        }
    }

    /// Counts one request; `Err(seconds)` says how long until the next is allowed.
    pub fn check(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        let key = bucket(ip);
        let minute = now.unix_timestamp().div_euclid(60);
        let mut windows = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        let retry = (60 - now.unix_timestamp().rem_euclid(60)).max(1) as u64;
        if windows.minute != minute {
            // A new window: forget the old one in one go.
            windows.minute = minute;
            windows.counts.clear();
        }
        if windows.counts.len() >= MAX_TRACKED && !windows.counts.contains_key(&key) {
            return Err(retry);
        }
        let count = windows.counts.entry(key).or_insert(0);
        if *count >= self.per_minute {
            return Err(retry);
        }
        *count += 1;
        Ok(())
    }
}

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
    fn counts_per_minute_per_address() {
        let l = IpLimiter::new(2);
        let now = datetime!(2026-01-01 10:00:15 UTC);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(Some(a), now).is_ok());
        assert!(l.check(Some(a), now).is_ok());
        assert_eq!(l.check(Some(a), now), Err(45));
        assert!(l.check(Some(b), now).is_ok());
        assert!(l.check(Some(a), now + time::Duration::seconds(45)).is_ok());
    }

    #[test]
    fn ipv6_hosts_share_their_slash_64() {
        let l = IpLimiter::new(1);
        let now = datetime!(2026-01-01 10:00 UTC);
        assert!(l.check(Some("2001:db8::1".parse().unwrap()), now).is_ok());
        assert!(
            l.check(Some("2001:db8::ffff:2".parse().unwrap()), now)
                .is_err()
        );
        assert!(
            l.check(Some("2001:db8:0:1::1".parse().unwrap()), now)
                .is_ok()
        );
    }
}
