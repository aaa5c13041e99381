//! The attached nodes (mobile nodes on the access link), looked up by address on every packet.
//! Built once at start from the configuration and never written after: workers read it with
//! no synchronization at all.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
    exact: HashMap<u128, u32, BuildHasherDefault<MulHasher>>,
    by_64: HashMap<u64, u32, BuildHasherDefault<MulHasher>>,
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
                128 => {
                    self.exact.insert(v, idx);
                }
                64 => {
                    self.by_64.insert((v >> 64) as u64, idx);
                }
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

    #[inline]
    fn find(&self, a: u128) -> Option<u32> {
        if !self.exact.is_empty() {
            if let Some(&i) = self.exact.get(&a) {
                return Some(i);
            }
        }
        if let Some(&i) = self.by_64.get(&((a >> 64) as u64)) {
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

fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => !(u128::MAX >> l),
    }
}

/// Multiply-shift hashing for integer keys: addresses are not attacker-chosen keys here
/// (the table holds configured nodes only), so SipHash's cost buys nothing.
#[derive(Default)]
pub struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
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

    fn a_(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }
}
