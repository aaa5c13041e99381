//! The attached nodes (mobile nodes on the access link), looked up by address on every packet.
//! The nodes and their configured prefixes are built once at start and read with no
//! synchronization; in PMIPv6 mode the prefixes the LMA assigns at run time live in
//! [`Routes`](crate::routes::Routes), updated by the control core, lock-free for readers.

use crate::routes::{Refused, Routes};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use wire::ethernet::MacAddr;

/// One attached node as the dataplane needs it. The two flags change at a configuration
/// reload, the state and prefix at registration (control core writes, workers read; single
/// words, relaxed but for `hnp`: see `routes`).
#[derive(Debug)]
pub struct AttachedNode {
    pub name: String,
    /// Index of its LMA in the topology's LMA list.
    pub lma: u16,
    /// Route Optimization Agent enabled for this node.
    pub agent: AtomicBool,
    /// Still attached; a detached node's addresses are no longer served.
    pub attached: AtomicBool,
    /// The link-layer address its policy names (PMIPv6 mode: how it is known before it has
    /// an address).
    pub mac: Option<MacAddr>,
    /// [`Registration`] as a byte; the control core writes it.
    state: AtomicU8,
    /// The run-time home network prefix it owns (top 64 bits), 0 = none; only `routes`
    /// writes it.
    pub(crate) hnp: AtomicU64,
    /// The topology clock when it last sent a frame (workers write, only on change).
    last_seen: AtomicU32,
    /// Stores into `last_seen`, so a test sees that a steady flow makes none.
    #[cfg(test)]
    pub(crate) stamps: AtomicU32,
}

/// Where a policy node is in its PMIPv6 registration (RFC 5213 §6.9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Registration {
    /// Not registered, no registration under way: its first frame is punted to start one.
    Idle = 0,
    /// A Proxy Binding Update is out.
    Registering = 1,
    /// The LMA accepted it.
    Registered = 2,
}

impl AttachedNode {
    pub fn new(name: &str, lma: u16, agent: bool) -> AttachedNode {
        AttachedNode {
            name: name.to_string(),
            lma,
            agent: AtomicBool::new(agent),
            attached: AtomicBool::new(true),
            mac: None,
            state: AtomicU8::new(Registration::Idle as u8),
            hnp: AtomicU64::new(0),
            last_seen: AtomicU32::new(0),
            #[cfg(test)]
            stamps: AtomicU32::new(0),
        }
    }

    /// With the link-layer address of its policy.
    pub fn with_mac(self, mac: MacAddr) -> AttachedNode {
        AttachedNode { mac: Some(mac), ..self }
    }

    #[inline(always)]
    pub fn agent(&self) -> bool {
        self.agent.load(Relaxed)
    }

    pub fn registration(&self) -> Registration {
        match self.state.load(Relaxed) {
            0 => Registration::Idle,
            1 => Registration::Registering,
            _ => Registration::Registered,
        }
    }

    /// Control core only.
    pub fn set_registration(&self, r: Registration) {
        self.state.store(r as u8, Relaxed);
    }

    /// The run-time home network prefix routed to it (top 64 bits), if any.
    pub fn hnp(&self) -> Option<u64> {
        Some(self.hnp.load(Relaxed)).filter(|&p| p != 0)
    }

    /// The topology clock (seconds) of its last frame; 0 before the first.
    pub fn last_seen(&self) -> u32 {
        self.last_seen.load(Relaxed)
    }

    /// Records a frame at `now`: a store only when the second changed, so a steady flow
    /// does not dirty the line (as `NeighborCache::learn`).
    #[inline(always)]
    pub fn seen(&self, now: u32) {
        if self.last_seen.load(Relaxed) != now {
            self.last_seen.store(now, Relaxed);
            #[cfg(test)]
            self.stamps.fetch_add(1, Relaxed);
        }
    }
}

/// Address → attached node. /128 and /64 entries are hashed; other prefix lengths are few
/// (lab setups) and scanned; run-time /64s (PMIPv6) come after the configured ones.
#[derive(Default)]
pub struct AttachedTable {
    nodes: Vec<AttachedNode>,
    exact: Slots<u128>,
    by_64: Slots<u64>,
    /// `other` is not empty or `routes` is sized: a lookup that missed the two maps looks on.
    beyond: bool,
    other: Vec<(u128, u8, u32)>,
    routes: Routes,
    /// Policy link-layer address (as [`mac_key`]) → node.
    by_mac: Slots<u64>,
}

impl AttachedTable {
    /// Adds a node with its prefixes (`len` 1..=128); returns its index.
    pub fn add(&mut self, node: AttachedNode, prefixes: &[(Ipv6Addr, u8)]) -> u32 {
        let idx = self.nodes.len() as u32;
        if let Some(m) = node.mac {
            self.by_mac.insert(mac_key(&m), idx);
        }
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
        self.beyond = !self.other.is_empty() || self.routes.is_sized();
        idx
    }

    /// Makes room for run-time routes (PMIPv6 mode): one per node added so far, in 2 × that
    /// many slots. Call once, after the last [`add`](Self::add); never grows after. Without
    /// it every [`install`](Self::install) is refused and lookups never look for routes.
    pub fn size_routes(&mut self) {
        self.routes = Routes::with_capacity(self.nodes.len());
        self.beyond = !self.other.is_empty() || self.routes.is_sized();
    }

    /// Routes `prefix64` (a /64's top 64 bits) to `node` (control core, after a Proxy
    /// Binding Acknowledgement; RFC 5213 §6.9.1.2). Replaces the node's previous run-time
    /// prefix. A configured prefix of the same value wins over it.
    ///
    /// # Panics
    /// If `node` is no node's index.
    pub fn install(&self, node: u32, prefix64: u64) -> Result<(), Refused> {
        self.routes.install(&self.nodes, node, prefix64)
    }

    /// Stops routing `node`'s run-time prefix (control core, at detach).
    pub fn withdraw(&self, node: u32) {
        self.routes.withdraw(&self.nodes, node)
    }

    /// The run-time route map (capacity, occupancy).
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The attached node whose policy names link-layer address `mac`.
    pub fn lookup_mac(&self, mac: &MacAddr) -> Option<u32> {
        self.by_mac.get(mac_key(mac)).filter(|&i| self.nodes[i as usize].attached.load(Relaxed))
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
        // One predictable branch: static configurations without odd prefix lengths stop here.
        if !self.beyond {
            return None;
        }
        self.find_beyond(a)
    }

    /// Run-time /64s, then prefixes of other lengths (lab setups, scanned): out of the
    /// inlined path.
    #[inline(never)]
    fn find_beyond(&self, a: u128) -> Option<u32> {
        if let Some(i) = self.routes.get(&self.nodes, (a >> 64) as u64) {
            return Some(i);
        }
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

/// A link-layer address as a [`Slots`] key.
fn mac_key(m: &MacAddr) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
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

    /// The top 64 bits of `s`'s /64, as `install` takes it.
    fn p64(s: &str) -> u64 {
        (u128::from(s.parse::<Ipv6Addr>().unwrap()) >> 64) as u64
    }

    fn pmipv6_table(n: u32) -> AttachedTable {
        let mut t = AttachedTable::default();
        for i in 0..n {
            t.add(node("n").with_mac([2, 0, 0, 0, (i >> 8) as u8, i as u8]), &[]);
        }
        t.size_routes();
        t
    }

    #[test]
    fn run_time_prefix_install_withdraw_reinstall() {
        let t = pmipv6_table(3);
        let q = |s: &str| t.lookup(&a_(s));
        assert_eq!(q("2001:db8:5::1"), None);
        t.install(1, p64("2001:db8:5::")).unwrap();
        assert_eq!((q("2001:db8:5::1"), q("2001:db8:5:0:ffff::9"), q("2001:db8:5:1::1")), (Some(1), Some(1), None));
        assert_eq!(t.node(1).unwrap().hnp(), Some(p64("2001:db8:5::")));
        assert_eq!(t.routes().len(), 1);
        t.withdraw(1);
        assert_eq!((q("2001:db8:5::1"), t.node(1).unwrap().hnp(), t.routes().len()), (None, None, 0));
        t.withdraw(1);
        t.install(1, p64("2001:db8:5::")).unwrap();
        assert_eq!(q("2001:db8:5::1"), Some(1));
        // A new prefix for the node replaces its old one.
        t.install(1, p64("2001:db8:6::")).unwrap();
        assert_eq!((q("2001:db8:5::1"), q("2001:db8:6::1"), t.routes().len()), (None, Some(1), 1));
        // The same prefix given to another node moves: the old owner loses it.
        t.install(2, p64("2001:db8:6::")).unwrap();
        assert_eq!((q("2001:db8:6::1"), t.node(1).unwrap().hnp(), t.routes().len()), (Some(2), None, 1));
        // Installing again is a no-op.
        t.install(2, p64("2001:db8:6::")).unwrap();
        assert_eq!((q("2001:db8:6::1"), t.routes().len()), (Some(2), 1));
        // A detached node's route is not served, as its configured prefixes are not.
        t.node(2).unwrap().attached.store(false, Relaxed);
        assert_eq!((q("2001:db8:6::1"), t.lookup_any(&a_("2001:db8:6::1"))), (None, Some(2)));
        assert_eq!(t.install(0, 0), Err(Refused::NotUnicast));
        assert_eq!(t.install(0, u64::MAX), Err(Refused::NotUnicast));
    }

    #[test]
    fn thousands_of_run_time_prefixes_are_found_and_others_are_not() {
        const N: u32 = 5000;
        let t = pmipv6_table(N);
        let p = |i: u32| 0x2001_0db8_0400_0000u64 + u64::from(i) * 3;
        let addr = |p: u64| ((u128::from(p) << 64) | 0x1234).to_be_bytes();
        for i in 0..N {
            t.install(i, p(i)).unwrap();
        }
        for round in 0..2 {
            for i in 0..N {
                let want = (round == 0 || i % 2 == 1).then_some(i);
                assert_eq!(t.lookup(&addr(p(i))), want, "{i}");
                assert_eq!(t.lookup(&addr(p(i) + 1)), None, "{i}");
            }
            // Withdraw the even ones, then check again.
            (0..N).step_by(2).for_each(|i| t.withdraw(i));
        }
        // Their slots are tombstones now; new prefixes for them reuse them.
        for i in (0..N).step_by(2) {
            t.install(i, p(i) + 1).unwrap();
        }
        for i in 0..N {
            let (hit, miss) = if i % 2 == 0 { (p(i) + 1, p(i)) } else { (p(i), p(i) + 1) };
            assert_eq!((t.lookup(&addr(hit)), t.lookup(&addr(miss))), (Some(i), None), "{i}");
        }
        assert_eq!(t.routes().len(), N as usize);
    }

    #[test]
    fn configured_prefixes_win_and_static_tables_have_no_routes() {
        let mut t = AttachedTable::default();
        let a = t.add(node("a"), &[("2001:db8:1::".parse().unwrap(), 64)]);
        let b = t.add(node("b"), &[]);
        assert_eq!(t.install(b, p64("2001:db8:2::")), Err(Refused::Full), "no routes without size_routes");
        t.size_routes();
        t.install(b, p64("2001:db8:1::")).unwrap();
        t.install(a, p64("2001:db8:2::")).unwrap();
        assert_eq!(t.lookup(&a_("2001:db8:1::1")), Some(a));
        assert_eq!(t.lookup(&a_("2001:db8:2::1")), Some(a));
    }

    #[test]
    fn policy_macs_find_their_node() {
        let t = pmipv6_table(300);
        assert_eq!(t.lookup_mac(&[2, 0, 0, 0, 1, 7]), Some(263));
        assert_eq!(t.lookup_mac(&[2, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(t.lookup_mac(&[2, 0, 0, 0, 2, 0]), None);
        t.node(263).unwrap().attached.store(false, Relaxed);
        assert_eq!(t.lookup_mac(&[2, 0, 0, 0, 1, 7]), None, "a policy removed by a reload is unknown");
    }

    #[test]
    fn last_seen_is_stored_only_when_the_second_changes() {
        let n = node("a");
        for now in [0, 3, 3, 3, 4, 4] {
            n.seen(now);
        }
        assert_eq!((n.last_seen(), n.stamps.load(Relaxed)), (4, 2));
    }
}
