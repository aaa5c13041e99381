//! Rate limits for agent-originated messages, token buckets like RFC 4443 §2.4(f): one per
//! source of the invoking packet and one overall (RFC 6275 §9.3.3 asks Binding Errors to be
//! limited "in the same manner as is done for ICMPv6 messages"; we limit every reply, since
//! each one is sent on behalf of an attached node that never asked for it).

use core::net::Ipv6Addr;
use std::collections::HashMap;
use std::time::Duration;

/// Tokens are counted in millionths so refill is exact for whole-millisecond clocks.
const SCALE: u64 = 1_000_000;
/// At most this many per-source buckets; beyond it, new sources share the overall bucket
/// only (a flood of spoofed sources must not grow memory).
const MAX_SOURCES: usize = 65_536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens per second.
    rate: u64,
    /// Capacity in tokens.
    burst: u64,
    level: u64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Duration) -> Self {
        let burst = u64::from(burst.max(1));
        TokenBucket { rate: u64::from(rate), burst, level: burst * SCALE, last: now }
    }

    fn refill(&mut self, now: Duration) {
        let dt = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        let add = (dt.as_micros() as u64).saturating_mul(self.rate);
        self.level = self.level.saturating_add(add).min(self.burst * SCALE);
    }

    /// True when a token was available at `now`, and takes it.
    pub fn take(&mut self, now: Duration) -> bool {
        self.refill(now);
        if self.level >= SCALE {
            self.level -= SCALE;
            true
        } else {
            false
        }
    }

    fn can_take(&mut self, now: Duration) -> bool {
        self.refill(now);
        self.level >= SCALE
    }

    fn is_full(&mut self, now: Duration) -> bool {
        self.refill(now);
        self.level >= self.burst * SCALE
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitConfig {
    pub per_source_rate: u32,
    pub per_source_burst: u32,
    pub total_rate: u32,
    pub total_burst: u32,
}

#[derive(Clone, Debug)]
pub struct RateLimiter {
    cfg: LimitConfig,
    per_source: HashMap<Ipv6Addr, TokenBucket>,
    total: TokenBucket,
    /// The overall budget of replies to bound peers (the same rate and burst as `total`):
    /// a flood from spoofed sources spends `total`, so a bound mobile node's refresh
    /// (RFC 6275 §5.2.7) is still answered. Each peer address keeps its per-source bucket.
    peers_total: TokenBucket,
}

impl RateLimiter {
    pub fn new(cfg: LimitConfig, now: Duration) -> Self {
        let total = TokenBucket::new(cfg.total_rate, cfg.total_burst, now);
        RateLimiter { cfg, per_source: HashMap::new(), total, peers_total: total }
    }

    /// True when a reply to a packet from `source` may be sent at `now`; takes a token from
    /// both buckets (its own and the overall one: `peers_total` when `peer`, the source is a
    /// bound peer's address) only when both have one.
    pub fn allow(&mut self, source: Ipv6Addr, now: Duration, peer: bool) -> bool {
        if !self.total(peer).can_take(now) {
            return false;
        }
        // A known source costs one hash of its address (this runs for every reply).
        if let Some(b) = self.per_source.get_mut(&source) {
            if !b.take(now) {
                return false;
            }
            return self.total(peer).take(now);
        }
        if self.per_source.len() >= MAX_SOURCES {
            self.prune(now);
        }
        if self.per_source.len() < MAX_SOURCES {
            let mut b = TokenBucket::new(self.cfg.per_source_rate, self.cfg.per_source_burst, now);
            if !b.take(now) {
                return false;
            }
            self.per_source.insert(source, b);
        }
        self.total(peer).take(now)
    }

    /// The overall bucket a reply draws on: the bound peers' or everyone else's.
    fn total(&mut self, peer: bool) -> &mut TokenBucket {
        if peer {
            &mut self.peers_total
        } else {
            &mut self.total
        }
    }

    /// Forgets sources whose bucket has refilled: they are indistinguishable from new ones.
    pub fn prune(&mut self, now: Duration) {
        self.per_source.retain(|_, b| !b.is_full(now));
    }

    pub fn sources(&self) -> usize {
        self.per_source.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn bucket_bursts_then_refills() {
        let mut b = TokenBucket::new(10, 3, ms(0));
        assert!(b.take(ms(0)) && b.take(ms(0)) && b.take(ms(0)));
        assert!(!b.take(ms(0)));
        assert!(!b.take(ms(99)));
        assert!(b.take(ms(100)));
        assert!(!b.take(ms(100)));
    }

    #[test]
    fn per_source_and_total() {
        let cfg = LimitConfig { per_source_rate: 1, per_source_burst: 2, total_rate: 10, total_burst: 3 };
        let mut r = RateLimiter::new(cfg, ms(0));
        let a: Ipv6Addr = "2001:db8::a".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::b".parse().unwrap();
        assert!(r.allow(a, ms(0), false));
        assert!(r.allow(a, ms(0), false));
        assert!(!r.allow(a, ms(0), false), "per-source burst is 2");
        assert!(r.allow(b, ms(0), false));
        assert!(!r.allow(b, ms(0), false), "total burst is 3");
        assert!(r.allow(b, ms(1000), false));
        r.prune(ms(10_000));
        assert_eq!(r.sources(), 0);
    }

    #[test]
    fn a_flood_spends_the_overall_budget_but_not_the_peers() {
        let cfg = LimitConfig { per_source_rate: 1, per_source_burst: 2, total_rate: 10, total_burst: 3 };
        let mut r = RateLimiter::new(cfg, ms(0));
        let spoofed = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 0x66, 0, 0, 0, 0, i);
        assert_eq!((0..100).filter(|&i| r.allow(spoofed(i), ms(0), false)).count(), 3);
        let peer: Ipv6Addr = "2001:db8:1::100".parse().unwrap();
        assert!(r.allow(peer, ms(0), true) && r.allow(peer, ms(0), true));
        assert!(!r.allow(peer, ms(0), true), "a peer keeps its per-source bucket");
        assert!(!r.allow(spoofed(200), ms(0), false));
    }
}
