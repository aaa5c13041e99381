//! The binding cache of the agent (RFC 6275 §9.1, draft §4.1.3).
//!
//! Keyed by (home address, attached-node address): the draft maps each entry to the address
//! pair, since one mobile node may bind with several attached nodes. Deleted entries leave a
//! tombstone with their last sequence number for MAX_NONCE_LIFETIME, because "correspondent
//! nodes must retain bindings and the associated sequence number information at least as
//! long as the nonces used in the authorization of the binding are still valid" (§5.2.8):
//! otherwise a replayed Binding Update would bring a deleted binding back.

use core::cmp::Reverse;
use core::net::Ipv6Addr;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use crate::nonces::MAX_NONCE_LIFETIME;

/// (home address, attached-node address).
pub type BindingKey = (Ipv6Addr, Ipv6Addr);

/// One binding cache entry (§9.1 plus the draft's two fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The mobile node's home address.
    pub home: Ipv6Addr,
    /// Its registered care-of address.
    pub care_of: Ipv6Addr,
    /// The attached node the Binding Update was really for: the correspondent (draft §4.1.3).
    pub attached: Ipv6Addr,
    /// When the binding expires (same clock as `now`).
    pub expires: Duration,
    /// The lifetime granted by the last accepted Binding Update.
    pub lifetime: Duration,
    /// Sequence number of the last accepted Binding Update (§9.5.1).
    pub seq: u16,
    /// Created by the agent, not by the node itself (draft §4.1.3): always true here.
    pub agent: bool,
    /// Always false: a correspondent never holds home registrations (§9.5.1, status 139).
    pub home_registration: bool,
    pub created: Duration,
    /// Number of accepted refreshes after creation.
    pub refreshed: u32,
    /// Nonce indices (home, care-of) of the last accepted Binding Update.
    pub nonce_indices: (u16, u16),
}

impl Binding {
    pub fn key(&self) -> BindingKey {
        (self.home, self.attached)
    }
}

/// What is remembered of a deleted binding (§5.2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub seq: u16,
    pub until: Duration,
}

#[derive(Clone, Debug)]
pub struct BindingCache {
    map: HashMap<BindingKey, Binding>,
    tombstones: HashMap<BindingKey, Tombstone>,
    /// (expiry, key) pushed on every insert or refresh; stale items are skipped on pop.
    expiry: BinaryHeap<Reverse<(Duration, Ipv6Addr, Ipv6Addr)>>,
    max: usize,
    /// How many live bindings name each address as home or care-of address (`is_peer`).
    peers: HashMap<Ipv6Addr, u32>,
}

/// The cache already holds its maximum number of bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl BindingCache {
    pub fn new(max: usize) -> Self {
        BindingCache { map: HashMap::new(), tombstones: HashMap::new(), expiry: BinaryHeap::new(), max, peers: HashMap::new() }
    }

    /// Whether `a` is the home or care-of address of a live binding: a bound peer, whose
    /// messages the rate limiter answers from its own overall budget (`limits`).
    pub fn is_peer(&self, a: &Ipv6Addr) -> bool {
        self.peers.contains_key(a)
    }

    fn count_peer(&mut self, b: &Binding, add: bool) {
        for a in [b.home, b.care_of] {
            if add {
                *self.peers.entry(a).or_insert(0) += 1;
            } else if let Some(n) = self.peers.get_mut(&a) {
                *n -= 1;
                if *n == 0 {
                    self.peers.remove(&a);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &BindingKey) -> Option<&Binding> {
        self.map.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.map.values()
    }

    /// The sequence number the next Binding Update for `key` is checked against: the live
    /// binding's, else a tombstone's that is still in force at `now`.
    pub fn last_seq(&self, key: &BindingKey, now: Duration) -> Option<u16> {
        if let Some(b) = self.map.get(key) {
            return Some(b.seq);
        }
        self.tombstones.get(key).filter(|t| now < t.until).map(|t| t.seq)
    }

    /// Inserts or replaces. A new key needs room.
    pub fn upsert(&mut self, b: Binding) -> Result<(), Full> {
        let key = b.key();
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            return Err(Full);
        }
        self.tombstones.remove(&key);
        self.expiry.push(Reverse((b.expires, key.0, key.1)));
        self.count_peer(&b, true);
        if let Some(old) = self.map.insert(key, b) {
            self.count_peer(&old, false);
        }
        Ok(())
    }

    /// Removes the binding, leaving a tombstone with `seq` (the sequence number that
    /// deleted it, or its own) for MAX_NONCE_LIFETIME. Without a binding, only the
    /// tombstone is written.
    pub fn remove(&mut self, key: &BindingKey, seq: Option<u16>, now: Duration) -> Option<Binding> {
        let b = self.map.remove(key);
        if let Some(old) = &b {
            self.count_peer(old, false);
        }
        if let Some(seq) = seq.or(b.map(|b| b.seq)) {
            self.tombstones.insert(*key, Tombstone { seq, until: now + MAX_NONCE_LIFETIME });
        }
        b
    }

    /// Removes and returns every binding whose lifetime is over at `now`; forgets old
    /// tombstones.
    pub fn expire(&mut self, now: Duration, out: &mut Vec<Binding>) {
        while let Some(Reverse((at, home, attached))) = self.expiry.peek().copied() {
            if at > now {
                break;
            }
            self.expiry.pop();
            let key = (home, attached);
            // Skip heap items left behind by a refresh or a deletion.
            if self.map.get(&key).is_some_and(|b| b.expires == at) {
                if let Some(b) = self.remove(&key, None, now) {
                    out.push(b);
                }
            }
        }
        self.tombstones.retain(|_, t| now < t.until);
        // Keep the heap from growing without bound under many refreshes.
        if self.expiry.len() > 4 * self.map.len() + 1024 {
            self.expiry = self.map.values().map(|b| Reverse((b.expires, b.home, b.attached))).collect();
        }
    }

    /// Removes every binding whose attached node is `attached`.
    pub fn remove_attached(&mut self, attached: &Ipv6Addr, now: Duration, out: &mut Vec<Binding>) {
        let keys: Vec<BindingKey> = self.map.keys().filter(|k| &k.1 == attached).copied().collect();
        for k in keys {
            if let Some(b) = self.remove(&k, None, now) {
                out.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(home: &str, expires: u64, seq: u16) -> Binding {
        Binding {
            home: home.parse().unwrap(),
            care_of: "2001:db8:2::1".parse().unwrap(),
            attached: "2001:db8:3::1".parse().unwrap(),
            expires: Duration::from_secs(expires),
            lifetime: Duration::from_secs(expires),
            seq,
            agent: true,
            home_registration: false,
            created: Duration::ZERO,
            refreshed: 0,
            nonce_indices: (1, 2),
        }
    }

    #[test]
    fn full_refuses_new_keys_only() {
        let mut c = BindingCache::new(1);
        c.upsert(b("2001:db8:1::1", 10, 1)).unwrap();
        assert_eq!(c.upsert(b("2001:db8:1::2", 10, 1)), Err(Full));
        c.upsert(b("2001:db8:1::1", 20, 2)).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn expiry_follows_refresh() {
        let mut c = BindingCache::new(10);
        c.upsert(b("2001:db8:1::1", 10, 1)).unwrap();
        c.upsert(b("2001:db8:1::1", 20, 2)).unwrap();
        let mut out = vec![];
        c.expire(Duration::from_secs(15), &mut out);
        assert!(out.is_empty());
        c.expire(Duration::from_secs(20), &mut out);
        assert_eq!(out.len(), 1);
        assert!(c.is_empty());
        let key = out[0].key();
        assert_eq!(c.last_seq(&key, Duration::from_secs(20)), Some(2));
        c.expire(Duration::from_secs(20 + 240), &mut out);
        assert_eq!(c.last_seq(&key, Duration::from_secs(20 + 240)), None);
    }

    #[test]
    fn remove_attached_only_touches_that_node() {
        let mut c = BindingCache::new(10);
        c.upsert(b("2001:db8:1::1", 10, 1)).unwrap();
        let mut other = b("2001:db8:1::1", 10, 1);
        other.attached = "2001:db8:3::2".parse().unwrap();
        c.upsert(other).unwrap();
        let mut out = vec![];
        c.remove_attached(&"2001:db8:3::1".parse().unwrap(), Duration::ZERO, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn peers_are_the_live_bindings_home_and_care_of_addresses() {
        let mut c = BindingCache::new(10);
        let (h1, h2, coa) = ("2001:db8:1::1".parse().unwrap(), "2001:db8:1::2".parse().unwrap(), "2001:db8:2::1".parse().unwrap());
        c.upsert(b("2001:db8:1::1", 10, 1)).unwrap();
        c.upsert(b("2001:db8:1::2", 20, 1)).unwrap();
        assert!(c.is_peer(&h1) && c.is_peer(&h2) && c.is_peer(&coa));
        // A refresh to another care-of address: the old one is no longer a peer's.
        let moved = Binding { care_of: "2001:db8:2::9".parse().unwrap(), ..b("2001:db8:1::1", 30, 2) };
        c.upsert(moved).unwrap();
        assert!(c.is_peer(&coa), "still h2's care-of address");
        c.remove(&(h2, "2001:db8:3::1".parse().unwrap()), None, Duration::ZERO);
        assert!(!c.is_peer(&h2) && !c.is_peer(&coa));
        let mut out = Vec::new();
        c.expire(Duration::from_secs(31), &mut out);
        assert_eq!(out.len(), 1);
        assert!(c.peers.is_empty(), "{:?}", c.peers);
    }
}
