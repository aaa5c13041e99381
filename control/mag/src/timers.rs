//! One min-heap of wake-ups for every MN, with lazy cancellation.
//!
//! Each MN has at most one live entry: (its earliest deadline, its generation). Moving a
//! deadline earlier pushes a new entry with the next generation and leaves the old one to be
//! skipped when it surfaces; moving it later leaves the entry alone (it fires early, finds
//! nothing due and reschedules). So a tick costs O(k log n) for the k entries due, never a
//! scan of the n MNs, and a frame from an MN touches no timer at all (idleness is computed
//! from its last-seen time when its entry fires). Stale entries are purged when they
//! outnumber live MNs (an O(n) rebuild after at least n pushes: amortized O(1) per push).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use wire::ethernet::MacAddr;

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Duration, u32, MacAddr)>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Duration, generation: u32, mac: MacAddr) {
        self.heap.push(Reverse((at, generation, mac)));
    }

    /// The earliest entry due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<(Duration, u32, MacAddr)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// The earliest deadline, possibly of a stale entry: wake no later than this.
    pub(crate) fn next(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<Reverse<(Duration, u32, MacAddr)>>()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries `live` says are current.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&MacAddr, u32) -> bool) {
        self.heap.retain(|Reverse((_, generation, mac))| live(mac, *generation));
    }
}
