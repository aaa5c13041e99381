//! Run-time routes: the Home Network Prefixes the LMA assigns (RFC 5213 §6.9.1.2), /64 →
//! attached node, installed by the control core after a Proxy Binding Acknowledgement and
//! withdrawn at detach, while the workers look them up on every packet.
//!
//! A fixed-capacity open-addressing map (linear probing, at most half full), sized at start
//! and never grown: no allocation after start. One writer, the control core (a writer-side
//! lock makes that so even if two threads call in); readers take no lock and write nothing.
//! Per slot an `AtomicU64` key (the prefix's top 64 bits; [`EMPTY`] and [`TOMBSTONE`] are
//! reserved) and an `AtomicU32` node index.
//!
//! Orderings, and why a reader never gets a node that does not own the prefix:
//! - Every node publishes the prefix it owns in `AttachedNode::hnp` (0 = none). The writer
//!   keeps at most one node per prefix: it clears the old owner's `hnp` before giving the
//!   prefix to another node, and clears a node's `hnp` before tombstoning its slot.
//! - Install: `hnp := p` (Release), then the slot's node (Relaxed), then its key `p`
//!   (Release). Withdraw: `hnp := 0` (Release), then the key := [`TOMBSTONE`] (Release).
//! - A reader loads the key (Acquire) and, on a match, the node (Relaxed) and that node's
//!   `hnp` (Acquire), and returns the node only if its `hnp` is the prefix looked up.
//! - So whatever mix of old and new slot contents a reader sees (a tombstone reused at once
//!   by another node and prefix, with no grace period, can hand it the old key and the new
//!   node), the node it returns owned the prefix at the moment of its `hnp` load: a race
//!   costs a miss (the packet is dropped, as one a moment later would be), never the wrong
//!   node. The second check is the correctness argument; the map only finds candidates.
//! - No false miss for a settled route: a reader whose Acquire load sees the key sees the
//!   node and `hnp` stored before it. Slots never return to [`EMPTY`], so the chain from a
//!   key's home slot to its slot stays unbroken; probes stop at an empty slot or after
//!   `max_probe` slots (the longest displacement any insert has made, raised before the key
//!   is stored), so a table full of tombstones does not make a miss scan it all.

use crate::attached::AttachedNode;
use crossbeam::utils::CachePadded;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Mutex, PoisonError};

/// A slot never used: ends every probe. `::/64` is not a unicast prefix.
pub const EMPTY: u64 = 0;
/// A withdrawn slot: skipped by readers, reused at once by inserts.
/// `ffff:ffff:ffff:ffff::/64` is multicast (ff00::/8), never a home network prefix.
pub const TOMBSTONE: u64 = u64::MAX;

/// Why [`Routes::install`] refused a route. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The capacity sized at start is reached (the caller counts it).
    Full,
    /// `::/64` or `ffff:ffff:ffff:ffff::/64`, the values that mark empty and withdrawn slots;
    /// neither is a unicast prefix an LMA may assign.
    NotUnicast,
}

#[derive(Default)]
struct Slot {
    key: AtomicU64,
    node: AtomicU32,
}

/// The run-time /64 → node map. Empty (capacity 0) in static mode.
#[derive(Default)]
pub struct Routes {
    slots: Box<[Slot]>,
    /// 64 − log2(slots): the home slot is the hash's top bits.
    shift: u32,
    /// Longest displacement from its home slot any insert has made; readers probe no further.
    max_probe: AtomicU32,
    /// Writer side only, on a line of its own: the lock and the number of live entries.
    writer: CachePadded<Mutex<usize>>,
}

impl Routes {
    /// A map holding up to `entries` routes: 2 × `entries` slots rounded up to a power of two.
    pub fn with_capacity(entries: usize) -> Routes {
        if entries == 0 {
            return Routes::default();
        }
        let n = (entries * 2).next_power_of_two();
        Routes { slots: (0..n).map(|_| Slot::default()).collect(), shift: 64 - n.trailing_zeros(), ..Routes::default() }
    }

    /// How many routes fit.
    pub fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    /// Routes installed now.
    pub fn len(&self) -> usize {
        *self.lock()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sized at start (PMIPv6 mode): lookups consult the map at all.
    #[inline(always)]
    pub fn is_sized(&self) -> bool {
        !self.slots.is_empty()
    }

    #[inline(always)]
    fn home(&self, p: u64) -> usize {
        (p.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The node whose published prefix is `p`, if the map leads to it.
    #[inline]
    pub fn get(&self, nodes: &[AttachedNode], p: u64) -> Option<u32> {
        self.get_pausing(nodes, p, || {})
    }

    /// [`get`](Self::get), calling `pause` between a slot's key and node loads: the tests
    /// widen the race window with it; `get`'s empty one compiles to nothing.
    #[inline(always)]
    fn get_pausing(&self, nodes: &[AttachedNode], p: u64, pause: impl Fn()) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let first = self.home(p);
        for i in first..=first + self.max_probe.load(Relaxed) as usize {
            let s = &self.slots[i & mask];
            let k = s.key.load(Acquire);
            if k == EMPTY {
                return None;
            }
            // A key matching but a node not owning `p` is a slot being reused: look on.
            if k == p {
                pause();
                if let Some(n) = owner(nodes, s.node.load(Relaxed), p) {
                    return Some(n);
                }
            }
        }
        None
    }

    /// Routes `p` to `node`, from now until [`withdraw`](Self::withdraw). A node has one
    /// run-time prefix: its previous one is withdrawn; a node that held `p` loses it.
    ///
    /// # Panics
    /// If `node` indexes no node of `nodes`.
    pub fn install(&self, nodes: &[AttachedNode], node: u32, p: u64) -> Result<(), Refused> {
        if p == EMPTY || p == TOMBSTONE {
            return Err(Refused::NotUnicast);
        }
        let n = &nodes[node as usize];
        let mut live = self.lock();
        let held = n.hnp.load(Relaxed);
        match self.slot_of(p) {
            Some(s) if self.slots[s].node.load(Relaxed) == node && held == p => return Ok(()),
            Some(s) => {
                let other = self.slots[s].node.load(Relaxed);
                if let Some(o) = nodes.get(other as usize).filter(|o| o.hnp.load(Relaxed) == p) {
                    o.hnp.store(0, Release);
                }
                self.slots[s].key.store(TOMBSTONE, Release);
                *live -= 1;
            }
            None => {}
        }
        if held != 0 && held != p {
            self.remove(n, node, &mut live);
        }
        if *live >= self.capacity() {
            return Err(Refused::Full);
        }
        n.hnp.store(p, Release);
        let mask = self.slots.len() - 1;
        let first = self.home(p);
        // At most half full: a free slot (empty or withdrawn) comes before the table ends.
        let d = (0..self.slots.len()).find(|d| matches!(self.slots[(first + d) & mask].key.load(Relaxed), EMPTY | TOMBSTONE)).expect("a free slot");
        let s = &self.slots[(first + d) & mask];
        if d as u32 > self.max_probe.load(Relaxed) {
            self.max_probe.store(d as u32, Relaxed);
        }
        s.node.store(node, Relaxed);
        s.key.store(p, Release);
        *live += 1;
        Ok(())
    }

    /// Stops routing `node`'s run-time prefix, if it has one.
    pub fn withdraw(&self, nodes: &[AttachedNode], node: u32) {
        let Some(n) = nodes.get(node as usize) else {
            return;
        };
        let mut live = self.lock();
        self.remove(n, node, &mut live);
    }

    /// Withdraws `node`'s prefix: `hnp` cleared first, then the slot tombstoned.
    fn remove(&self, n: &AttachedNode, node: u32, live: &mut usize) {
        let p = n.hnp.load(Relaxed);
        if p == 0 {
            return;
        }
        n.hnp.store(0, Release);
        if let Some(s) = self.slot_of(p).filter(|&s| self.slots[s].node.load(Relaxed) == node) {
            self.slots[s].key.store(TOMBSTONE, Release);
            *live -= 1;
        }
    }

    /// The slot holding `p` (the writer's view, exact: it is the only writer).
    fn slot_of(&self, p: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let first = self.home(p);
        for i in first..=first + self.max_probe.load(Relaxed) as usize {
            match self.slots[i & mask].key.load(Relaxed) {
                EMPTY => return None,
                k if k == p => return Some(i & mask),
                _ => {}
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader's steps one at a time, for the tests that interleave them with the writer's.
    #[cfg(test)]
    pub(crate) fn slot_for_test(&self, p: u64) -> (&AtomicU64, &AtomicU32) {
        let s = &self.slots[self.slot_of(p).expect("installed")];
        (&s.key, &s.node)
    }
}

/// `n` if node `n` publishes `p` as its prefix now (the reader's second check).
#[inline(always)]
pub(crate) fn owner(nodes: &[AttachedNode], n: u32, p: u64) -> Option<u32> {
    nodes.get(n as usize).filter(|node| node.hnp.load(Acquire) == p).map(|_| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u32) -> Vec<AttachedNode> {
        (0..n).map(|i| AttachedNode::new(&format!("n{i}"), 0, true)).collect()
    }

    #[test]
    fn inserts_beyond_capacity_are_refused_and_change_nothing() {
        let ns = nodes(10);
        let r = Routes::with_capacity(4);
        assert_eq!(r.capacity(), 4);
        for i in 0..4 {
            r.install(&ns, i, 100 + u64::from(i)).unwrap();
        }
        assert_eq!(r.install(&ns, 4, 104), Err(Refused::Full));
        assert_eq!((r.get(&ns, 104), ns[4].hnp(), r.len()), (None, None, 4));
        // A node that has a route may still change it: its old one makes room.
        r.install(&ns, 3, 204).unwrap();
        assert_eq!((r.get(&ns, 103), r.get(&ns, 204), r.len()), (None, Some(3), 4));
        // As may a prefix moving to another node.
        r.install(&ns, 5, 204).unwrap();
        assert_eq!((r.get(&ns, 204), ns[3].hnp(), r.len()), (Some(5), None, 4));
        r.withdraw(&ns, 0);
        r.install(&ns, 4, 104).unwrap();
        assert_eq!((r.get(&ns, 100), r.get(&ns, 104)), (None, Some(4)));
        assert_eq!(Routes::default().install(&ns, 0, 1), Err(Refused::Full));
    }

    /// A prefix whose home slot is `p`'s, in `r`.
    fn colliding(r: &Routes, p: u64) -> u64 {
        (p + 1..).find(|&q| r.home(q) == r.home(p)).unwrap()
    }

    /// The race the second check is for: a reader has loaded a slot's key, then the writer
    /// withdraws that route and another node's prefix reuses the slot at once (no grace
    /// period), then the reader loads the node. It must not get the new node for the old
    /// prefix.
    #[test]
    fn a_reused_slot_never_gives_the_old_prefix_to_the_new_node() {
        let ns = nodes(2);
        let r = Routes::with_capacity(2);
        let p1 = 0x2001_0db8_0003_0000;
        let p2 = colliding(&r, p1);
        r.install(&ns, 0, p1).unwrap();
        let (key, node) = r.slot_for_test(p1);
        // Reader, step 1: the key matches.
        assert_eq!(key.load(Acquire), p1);
        // Writer: withdraw, and the tombstone is reused by node 1's prefix.
        r.withdraw(&ns, 0);
        r.install(&ns, 1, p2).unwrap();
        assert_eq!((key.load(Relaxed), node.load(Relaxed)), (p2, 1), "the same slot, reused");
        // Reader, steps 2 and 3: the node is the new one; the check refuses it.
        let n = node.load(Relaxed);
        assert_eq!(owner(&ns, n, p1), None, "node {n} does not own {p1:#x}");
        assert_eq!(owner(&ns, n, p2), Some(1));
        assert_eq!((r.get(&ns, p1), r.get(&ns, p2)), (None, Some(1)));
        // Same node, new prefix in the old slot: the old prefix still finds nothing.
        r.withdraw(&ns, 1);
        r.install(&ns, 0, p2).unwrap();
        assert_eq!((owner(&ns, node.load(Relaxed), p1), r.get(&ns, p1), r.get(&ns, p2)), (None, None, Some(0)));
    }

    #[test]
    fn probes_stop_in_a_table_of_tombstones() {
        let ns = nodes(1);
        let r = Routes::with_capacity(64);
        // Churn through many prefixes: every slot becomes a tombstone, none is empty.
        for p in 1..5000u64 {
            r.install(&ns, 0, p).unwrap();
        }
        r.withdraw(&ns, 0);
        assert!(r.slots.iter().all(|s| s.key.load(Relaxed) != EMPTY));
        assert!((r.max_probe.load(Relaxed) as usize) < r.slots.len());
        assert_eq!(r.get(&ns, 4999), None);
        r.install(&ns, 0, 7).unwrap();
        assert_eq!(r.get(&ns, 7), Some(0));
    }

    /// A reader hammers lookups while the writer installs, moves and withdraws routes in a
    /// small table (so slots are reused all the time). Prefix `p` belongs to node `p % N`
    /// only, so the reader knows the one right answer besides None. Every other lookup
    /// pauses between the key and node loads, so the writer often lands in that window.
    #[test]
    fn concurrent_reader_sees_the_owner_or_nothing() {
        const N: u64 = 8;
        let ns = nodes(N as u32);
        let r = Routes::with_capacity(N as usize);
        let stop = std::sync::atomic::AtomicBool::new(false);
        /// Stops the reader however the writer ends (a panic included).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Relaxed);
            }
        }
        let universe = 64 * N;
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let (mut hits, mut lookups) = (0u64, 0u64);
                let pause = || (0..200).for_each(|_| std::hint::spin_loop());
                while !stop.load(Relaxed) {
                    for p in 1..universe {
                        let got = if p % 2 == 0 { r.get(&ns, p) } else { r.get_pausing(&ns, p, pause) };
                        if let Some(n) = got {
                            assert_eq!(u64::from(n), p % N, "prefix {p:#x} found at node {n}");
                            hits += 1;
                        }
                    }
                    lookups += universe;
                }
                (hits, lookups)
            });
            let _stop = Stop(&stop);
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(300) {
                for _ in 0..1000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let node = x % N;
                    let p = (x >> 8) % (universe / N) * N + node;
                    if x & 0x80 == 0 || p == 0 {
                        r.withdraw(&ns, node as u32);
                    } else {
                        r.install(&ns, node as u32, p).unwrap();
                    }
                }
            }
            drop(_stop);
            let (hits, lookups) = reader.join().unwrap();
            assert!(hits > 0 && hits < lookups, "{hits} hits in {lookups} lookups");
        });
    }
}
