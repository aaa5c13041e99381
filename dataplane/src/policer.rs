//! The worker's punt budget: a token bucket per punt reason on the TSC, kept by each worker
//! for itself (a router's control-plane policing; VPP's punt policer). A packet the control
//! core would have to look at beyond its reason's budget is dropped where it arrived: its
//! mbuf goes back to this worker's own mempool cache instead of crossing to the control
//! lcore and back. That crossing is what made a punted HoTI cost the worker ~300 cycles more
//! than a policed one (benches/RESULTS.md, "Signaling flood"): the mbuf and its data
//! lines dirty in the other core's cache, the worker's mempool cache refilled from the
//! shared ring, and the punt ring's lines. The control core's own limits (the agent's reply
//! rate limits, RFC 4443 §2.4(f) for ICMPv6 errors) still decide what is answered; the
//! budget only bounds what reaches it.
//!
//! Integer only: a bucket's level is in TSC ticks, each admitted packet costs
//! `tsc_hz / rate` ticks, and the level refills by the ticks elapsed, up to `burst` packets'
//! worth. No I/O: the caller passes the TSC it read for the poll.

use crate::counters::Punt;

/// One reason's bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Ticks per packet; 0: unlimited.
    cost: u64,
    /// Ticks at most banked (burst × cost).
    cap: u64,
    level: u64,
    last: u64,
}

impl Bucket {
    /// `per_sec` packets per second sustained, `burst` at once; `per_sec` 0: unlimited.
    pub fn new(per_sec: u32, burst: u32, tsc_hz: u64, now: u64) -> Bucket {
        let cost = if per_sec == 0 { 0 } else { (tsc_hz / u64::from(per_sec)).max(1) };
        let cap = cost.saturating_mul(u64::from(burst.max(1)));
        Bucket { cost, cap, level: cap, last: now }
    }

    /// True when the packet may be punted at TSC `now` (and pays for it).
    #[inline(always)]
    pub fn admit(&mut self, now: u64) -> bool {
        if self.cost == 0 {
            return true;
        }
        let level = self.level.saturating_add(now.saturating_sub(self.last)).min(self.cap);
        self.last = self.last.max(now);
        if level >= self.cost {
            self.level = level - self.cost;
            true
        } else {
            self.level = level;
            false
        }
    }
}

/// Packets per second per worker that each punt reason may send to the control core, and
/// the burst (0: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub per_sec: [u32; Punt::COUNT],
    pub burst: [u32; Punt::COUNT],
}

impl Budget {
    /// Every reason unlimited.
    pub const UNLIMITED: Budget = Budget { per_sec: [0; Punt::COUNT], burst: [0; Punt::COUNT] };

    /// Sets `rate` for `reasons`, with a burst of 50 ms of it (at least 32 packets).
    pub fn with(mut self, reasons: &[Punt], rate: u32) -> Budget {
        for &r in reasons {
            self.per_sec[r as usize] = rate;
            self.burst[r as usize] = (rate / 20).max(32);
        }
        self
    }
}

/// A worker's buckets, one per punt reason.
pub struct Policer {
    buckets: [Bucket; Punt::COUNT],
}

impl Policer {
    pub fn new(budget: &Budget, tsc_hz: u64, now: u64) -> Policer {
        Policer { buckets: std::array::from_fn(|i| Bucket::new(budget.per_sec[i], budget.burst[i], tsc_hz, now)) }
    }

    /// True when a packet punted for `why` at TSC `now` may go to the control core.
    #[inline(always)]
    pub fn admit(&mut self, why: Punt, now: u64) -> bool {
        self.buckets[why as usize].admit(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000_000_000;

    #[test]
    fn a_bucket_spends_its_burst_then_admits_at_its_rate() {
        // 1000/s, burst 10, on a 1 GHz TSC: a packet costs 1 ms of ticks.
        let mut b = Bucket::new(1000, 10, HZ, 0);
        assert_eq!((0..100).filter(|_| b.admit(0)).count(), 10);
        // Half a millisecond later: nothing; at 1 ms: one.
        assert!(!b.admit(HZ / 2000));
        assert!(b.admit(HZ / 1000));
        // One second of a flood at one packet per microsecond: 1000 admitted (+ none banked).
        let admitted = (1..=1_000_000u64).filter(|&us| b.admit(HZ / 1000 + us * 1000)).count();
        assert!((999..=1001).contains(&admitted), "{admitted}");
    }

    #[test]
    fn an_idle_bucket_refills_only_to_its_burst() {
        let mut b = Bucket::new(100, 5, HZ, 0);
        assert_eq!((0..10).filter(|_| b.admit(0)).count(), 5);
        // An hour idle banks 5, not 360000.
        assert_eq!((0..10).filter(|_| b.admit(3600 * HZ)).count(), 5);
    }

    #[test]
    fn rate_zero_is_unlimited_and_a_clock_going_back_is_harmless() {
        let mut b = Bucket::new(0, 0, HZ, 0);
        assert!((0..10_000).all(|_| b.admit(5)));
        let mut b = Bucket::new(10, 1, HZ, 1_000 * HZ);
        assert!(b.admit(1_000 * HZ));
        assert!(!b.admit(HZ), "an earlier TSC adds no tokens");
        assert!(b.admit(1_000 * HZ + HZ / 10));
    }

    #[test]
    fn reasons_have_separate_buckets() {
        let budget = Budget::UNLIMITED.with(&[Punt::Mobility], 1000).with(&[Punt::MobilityFromPeer], 100);
        assert_eq!(budget.burst[Punt::Mobility as usize], 50);
        assert_eq!(budget.burst[Punt::MobilityFromPeer as usize], 32);
        let mut p = Policer::new(&budget, HZ, 0);
        assert_eq!((0..1000).filter(|_| p.admit(Punt::Mobility, 0)).count(), 50);
        // The flood spent the spoofed sources' budget, not the peers'.
        assert_eq!((0..1000).filter(|_| p.admit(Punt::MobilityFromPeer, 0)).count(), 32);
        assert!((0..1000).all(|_| p.admit(Punt::NeighborDiscovery, 0)), "unpoliced reason");
    }
}
