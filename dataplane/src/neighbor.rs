//! Link-layer addresses of the next hops (attached nodes on the access link, LMAs or the
//! routed next hop on the core link). The control core learns them from ND; workers read them
//! and learn from traffic. One atomic word per neighbor: bit 63 = known, low 48 bits = MAC.
//! Workers only store when the value changes, so a steady flow never dirties the line.
//! A worker with no address for a next hop punts the packet; the control core resolves it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use wire::ethernet::MacAddr;

const KNOWN: u64 = 1 << 63;

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
            let b = v.to_be_bytes();
            [b[2], b[3], b[4], b[5], b[6], b[7]]
        })
    }

    /// Records `mac` for neighbor `i` if it differs from what is known.
    #[inline(always)]
    pub fn learn(&self, i: usize, mac: MacAddr) {
        if let Some(slot) = self.macs.get(i) {
            let v = KNOWN | u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
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

    #[test]
    fn learn_and_get() {
        let n = NeighborCache::new(3);
        assert_eq!(n.get(1), None);
        n.learn(1, [2, 0, 0, 0, 0, 9]);
        assert_eq!(n.get(1), Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(n.get(7), None);
    }
}
