//! The attached nodes (mobile nodes on the access link), looked up by address on every packet.
//! Built once at start from the configuration and never written after: workers read it with
//! no synchronization at all.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// One attached node as the dataplane needs it. The two flags change at a configuration
/// reload (control core writes, workers read; single words, relaxed).
#[derive(Debug)]
pub struct AttachedNode {
    pub name: String,
    /// Index of its LMA in the topology's LMA list.
    pub lma: u16,
    /// Route Optimization Agent enabled for this node.
    pub agent: AtomicBool,
    /// Still attached; a detached node's addresses are no longer served.
    pub attached: AtomicBool,
}

impl AttachedNode {
    pub fn new(name: &str, lma: u16, agent: bool) -> AttachedNode {
        AttachedNode { name: name.to_string(), lma, agent: AtomicBool::new(agent), attached: AtomicBool::new(true) }
    }

    #[inline(always)]
    pub fn agent(&self) -> bool {
        self.agent.load(Relaxed)
    }
}

/// Address → attached node. /128 and /64 entries are hashed; other prefix lengths are few
/// (lab setups) and scanned.
#[derive(Default)]
pub struct AttachedTable {
    nodes: Vec<AttachedNode>,
    exact: Slots<u128>,
    by_64: Slots<u64>,
    other: Vec<(u128, u8, u32)>,
}

impl AttachedTable {
    /// Adds a node with its prefixes (`len` 1..=128); returns its index.
    pub fn add(&mut self, node: AttachedNode, prefixes: &[(Ipv6Addr, u8)]) -> u32 {
        let idx = self.nodes.len() as u32;
        self.nodes.push(node);
        for &(p, len) in prefixes {
            let v = u128::from(p) & mask(len);
            match len {
                128 => self.exact.insert(v, idx),
                64 => self.by_64.insert((v >> 64) as u64, idx),
                _ => self.other.push((v, len, idx)),
            }
        }
        // Longest prefix first.
        self.other.sort_by_key(|e| std::cmp::Reverse(e.1));
        idx
    }

    /// The attached node owning `addr`, longest match first; detached nodes are not found.
    #[inline]
    pub fn lookup(&self, addr: &[u8; 16]) -> Option<u32> {
        self.lookup_u128(u128::from_be_bytes(*addr))
    }

    /// [`lookup`](Self::lookup) of an address as a big-endian integer (the worker's form).
    #[inline]
    pub fn lookup_u128(&self, a: u128) -> Option<u32> {
        self.find(a).filter(|&i| self.nodes[i as usize].attached.load(Relaxed))
    }

    /// The node owning `addr`, attached or not.
    pub fn lookup_any(&self, addr: &[u8; 16]) -> Option<u32> {
        self.find(u128::from_be_bytes(*addr))
    }

    #[inline(always)]
    fn find(&self, a: u128) -> Option<u32> {
        if !self.exact.is_empty() {
            if let Some(i) = self.exact.get(a) {
                return Some(i);
            }
        }
        if let Some(i) = self.by_64.get((a >> 64) as u64) {
            return Some(i);
        }
        if self.other.is_empty() {
            return None;
        }
        self.find_other(a)
    }

    /// Prefixes of other lengths (lab setups): scanned, out of the inlined path.
    #[inline(never)]
    fn find_other(&self, a: u128) -> Option<u32> {
        self.other.iter().find(|(p, len, _)| a & mask(*len) == *p).map(|e| e.2)
    }

    pub fn node(&self, idx: u32) -> Option<&AttachedNode> {
        self.nodes.get(idx as usize)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> &[AttachedNode] {
        &self.nodes
    }
}

fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => !(u128::MAX >> l),
    }
}

/// An integer key of [`Slots`], hashed by multiply-shift: addresses are not attacker-chosen
/// keys here (the table holds configured nodes only), so a keyed hash buys nothing.
trait SlotKey: Copy + Eq + Default {
    fn mix(self) -> u64;
}

impl SlotKey for u64 {
    #[inline(always)]
    fn mix(self) -> u64 {
        self.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl SlotKey for u128 {
    #[inline(always)]
    fn mix(self) -> u64 {
        ((self as u64) ^ (self >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (self >> 64) as u64
    }
}

const EMPTY: u32 = u32::MAX;

/// Open addressing with linear probing over a power-of-two array kept at most half full:
/// a lookup is a multiply, a shift and usually one compare (a general-purpose map costs
/// ~25 instructions on the worker path; callgrind). Built at start, read-only after.
struct Slots<K> {
    slots: Vec<(K, u32)>,
    len: usize,
}

impl<K> Default for Slots<K> {
    fn default() -> Self {
        Slots { slots: Vec::new(), len: 0 }
    }
}

impl<K: SlotKey> Slots<K> {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn start(&self, k: K) -> usize {
        // Top bits of the product; len is a power of two >= 2.
        (k.mix() >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    #[inline(always)]
    fn get(&self, k: K) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(k);
        // At most half full, so an empty slot ends every probe.
        loop {
            let (key, v) = self.slots[i & mask];
            if v == EMPTY {
                return None;
            }
            if key == k {
                return Some(v);
            }
            i += 1;
        }
    }

    /// Inserts or replaces.
    fn insert(&mut self, k: K, v: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let grown = vec![(K::default(), EMPTY); (self.slots.len() * 2).max(4)];
            let old = std::mem::replace(&mut self.slots, grown);
            self.len = 0;
            for (k, v) in old.into_iter().filter(|e| e.1 != EMPTY) {
                self.insert(k, v);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(k);
        loop {
            let s = &mut self.slots[i & mask];
            if s.1 == EMPTY {
                *s = (k, v);
                self.len += 1;
                return;
            }
            if s.0 == k {
                s.1 = v;
                return;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> AttachedNode {
        AttachedNode::new(n, 0, true)
    }

    #[test]
    fn longest_match_wins() {
        let mut t = AttachedTable::default();
        let a = t.add(node("a"), &[("2001:db8:1::".parse().unwrap(), 64)]);
        let b = t.add(node("b"), &[("2001:db8:1::5".parse().unwrap(), 128)]);
        let c = t.add(node("c"), &[("2001:db8:2::".parse().unwrap(), 48)]);
        let q = |s: &str| t.lookup(&s.parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(q("2001:db8:1::7"), Some(a));
        assert_eq!(q("2001:db8:1::5"), Some(b));
        assert_eq!(q("2001:db8:2:ff::1"), Some(c));
        assert_eq!(q("2001:db8:3::1"), None);
        assert_eq!(t.node(c).unwrap().name, "c");
        t.node(b).unwrap().attached.store(false, Relaxed);
        assert_eq!(q("2001:db8:1::5"), None, "a detached node's address is served no more, not by another node either");
        assert_eq!(t.lookup_any(&a_("2001:db8:1::5")), Some(b));
    }

    #[test]
    fn many_nodes_are_all_found_and_others_are_not() {
        let mut t = AttachedTable::default();
        for i in 0..1000u32 {
            let p64 = Ipv6Addr::from((0x2001_0db8_0100_0000u128 + u128::from(i)) << 64);
            let p128 = Ipv6Addr::from((0x2001_0db8_0200_0000u128 << 64) + u128::from(i) * 7);
            assert_eq!(t.add(node("n"), &[(p64, 64), (p128, 128)]), i);
        }
        for i in 0..1000u32 {
            let in64 = ((0x2001_0db8_0100_0000u128 + u128::from(i)) << 64) | 0xabc;
            assert_eq!(t.lookup(&in64.to_be_bytes()), Some(i));
            let a128 = (0x2001_0db8_0200_0000u128 << 64) + u128::from(i) * 7;
            assert_eq!(t.lookup(&a128.to_be_bytes()), Some(i));
            assert_eq!(t.lookup(&(a128 + 1).to_be_bytes()), None, "{i}");
        }
        assert_eq!(t.lookup(&a_("2001:db8:300::1")), None);
    }

    fn a_(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }
}
