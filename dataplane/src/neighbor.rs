//! Link-layer addresses of the next hops (attached nodes on the access link, LMAs or the
//! routed next hop on the core link): one slot per configured neighbor, so the table never
//! grows (its cap is the configuration) and a spoofed source has no slot. The control core
//! owns them (ND and reachability, `control/src/links.rs`, RFC 4861 §7.3); workers read them
//! and may only fill an empty slot from an attached node's traffic.
//!
//! One atomic word per neighbor: bit 63 = known, bit 62 = watched, low 48 bits = MAC (its
//! first octet in the lowest byte: built from frame bytes without a byte swap, which as a
//! big-endian number cost the uplink ~20 instructions in the neighbor check, callgrind). A
//! watched slot is one the control core holds STALE (RFC 4861 §7.3.2): the first worker that
//! sees the neighbor's traffic clears the bit, which the control core takes as the sign that
//! the entry is in use (STALE → DELAY). A worker never replaces a known MAC: a MAC change
//! comes only through ND (RFC 4861 §7.2.3, §7.2.5), on the control core.
//! A steady flow from a known, unwatched neighbor only loads the word, so it never dirties the
//! line. A worker with no address for a next hop punts the packet; the control core resolves it.

use crate::counters::Counter;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use wire::ethernet::MacAddr;

const KNOWN: u64 = 1 << 63;
const WATCHED: u64 = 1 << 62;

#[inline(always)]
fn word(mac: MacAddr) -> u64 {
    KNOWN | u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0])
}

pub struct NeighborCache {
    macs: Box<[AtomicU64]>,
}

impl NeighborCache {
    pub fn new(n: usize) -> Self {
        NeighborCache { macs: (0..n).map(|_| AtomicU64::new(0)).collect() }
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<MacAddr> {
        let v = self.macs.get(i)?.load(Relaxed);
        (v & KNOWN != 0).then(|| {
            let b = v.to_le_bytes();
            [b[0], b[1], b[2], b[3], b[4], b[5]]
        })
    }

    /// Worker: a frame of neighbor `i` came from `mac`. An empty slot takes it; a watched
    /// slot with the same MAC is unwatched (the usage hint); a different known MAC is left as
    /// it is and counted in `mismatch`. The common case (known, same MAC) is one load and
    /// one compare, as before this rule; the rest is out of line.
    #[inline(always)]
    pub fn learn_from_frame(&self, i: usize, mac: MacAddr, mismatch: &Counter) {
        if let Some(slot) = self.macs.get(i) {
            let v = word(mac);
            let cur = slot.load(Relaxed);
            if cur != v {
                Self::differs(slot, cur, v, mismatch);
            }
        }
    }

    /// A compare-exchange, not a store: if the control core changed the slot since `cur` was
    /// read (a new MAC from ND, a forget), the worker's older view must not overwrite it. Out
    /// of line and rare (an empty slot, once per STALE period), so not a per-packet
    /// read-modify-write.
    #[cold]
    #[inline(never)]
    fn differs(slot: &AtomicU64, cur: u64, v: u64, mismatch: &Counter) {
        if cur & KNOWN == 0 || cur == v | WATCHED {
            let _ = slot.compare_exchange(cur, v, Relaxed, Relaxed);
        } else {
            mismatch.inc();
        }
    }

    /// Control core: neighbor `i` is at `mac` (unwatched). Stores only on a change.
    pub fn learn(&self, i: usize, mac: MacAddr) {
        self.store(i, word(mac));
    }

    /// Control core: neighbor `i` is at `mac`, watched (its entry is STALE).
    pub fn watch(&self, i: usize, mac: MacAddr) {
        self.store(i, word(mac) | WATCHED);
    }

    /// Control core: neighbor `i`'s address is unknown again (workers punt its packets).
    pub fn forget(&self, i: usize) {
        self.store(i, 0);
    }

    /// Still watched: no worker has seen its traffic since [`watch`](Self::watch).
    pub fn is_watched(&self, i: usize) -> bool {
        self.macs.get(i).is_some_and(|s| s.load(Relaxed) & WATCHED != 0)
    }

    fn store(&self, i: usize, v: u64) {
        if let Some(slot) = self.macs.get(i) {
            if slot.load(Relaxed) != v {
                slot.store(v, Relaxed);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.macs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.macs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = [2, 0, 0, 0, 0, 9];
    const B: MacAddr = [2, 0, 0, 0, 0, 0xb];

    #[test]
    fn learn_and_get() {
        let n = NeighborCache::new(3);
        assert_eq!(n.get(1), None);
        n.learn(1, A);
        assert_eq!(n.get(1), Some(A));
        assert_eq!(n.get(7), None);
        n.forget(1);
        assert_eq!(n.get(1), None);
    }

    #[test]
    fn a_frame_fills_an_empty_slot_but_never_changes_a_known_mac() {
        let n = NeighborCache::new(2);
        let mismatch = Counter::default();
        n.learn_from_frame(0, A, &mismatch);
        assert_eq!(n.get(0), Some(A), "an empty slot is filled");
        n.learn_from_frame(0, B, &mismatch);
        assert_eq!(n.get(0), Some(A), "a different MAC comes only through ND");
        assert_eq!(mismatch.get(), 1);
        n.learn_from_frame(0, A, &mismatch);
        assert_eq!(mismatch.get(), 1);
        // Out of range: nothing, no panic.
        n.learn_from_frame(5, A, &mismatch);
    }

    #[test]
    fn a_frame_clears_the_watch_of_its_own_mac_only() {
        let n = NeighborCache::new(1);
        let mismatch = Counter::default();
        n.watch(0, A);
        assert_eq!(n.get(0), Some(A), "a watched entry is still used");
        n.learn_from_frame(0, B, &mismatch);
        assert!(n.is_watched(0), "another MAC's frame is no sign of use");
        assert_eq!((n.get(0), mismatch.get()), (Some(A), 1));
        n.learn_from_frame(0, A, &mismatch);
        assert!(!n.is_watched(0));
        assert_eq!(n.get(0), Some(A));
    }
}
