//! The correspondent node's nonces and keys (RFC 6275 §5.2.1, §5.2.2, §5.2.7).
//!
//! A new nonce, with a fresh Kcn, is made every `interval`; each entry keeps the Kcn it was
//! issued under so tokens stay checkable while the nonce lives. A nonce is accepted for
//! MAX_NONCE_LIFETIME after it was made, then forgotten (§5.2.7: "expired values MUST be
//! discarded"). HoT/CoT always hand out the newest nonce, so a token the mobile node got
//! stays usable for at least MAX_NONCE_LIFETIME − interval, which is why `interval` is
//! capped at MAX_NONCE_LIFETIME − MAX_TOKEN_LIFETIME (30 s): the mobile node may use a
//! token for MAX_TOKEN_LIFETIME (§5.2.7, §12). With that cap at least 8 nonces are live.

use std::collections::VecDeque;
use std::time::Duration;

use crate::crypto::{KeygenKey, NodeKey, Nonce};
use crate::entropy::Entropy;

/// RFC 6275 §12.
pub const MAX_NONCE_LIFETIME: Duration = Duration::from_secs(240);
/// RFC 6275 §12.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(210);
/// RFC 6275 §12.
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);
/// The longest nonce interval that still honours MAX_TOKEN_LIFETIME.
pub const MAX_NONCE_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest one we allow (keeps the table small).
pub const MIN_NONCE_INTERVAL: Duration = Duration::from_secs(1);

/// One nonce and the Kcn in force when it was made.
#[derive(Clone, Debug)]
pub struct NonceEntry {
    pub index: u16,
    pub nonce: Nonce,
    pub kcn: NodeKey,
    /// `kcn` keyed into HMAC once, for the tokens made with this nonce.
    pub key: KeygenKey,
    pub created: Duration,
}

impl NonceEntry {
    pub fn new(index: u16, nonce: Nonce, kcn: NodeKey, created: Duration) -> Self {
        NonceEntry { index, nonce, kcn, key: KeygenKey::new(&kcn), created }
    }

    /// home keygen token for `home` with this nonce (§5.2.5).
    pub fn home_token(&self, home: &core::net::Ipv6Addr) -> crate::crypto::KeygenToken {
        self.key.home_token(home, &self.nonce)
    }

    /// care-of keygen token for `care_of` with this nonce (§5.2.5).
    pub fn care_of_token(&self, care_of: &core::net::Ipv6Addr) -> crate::crypto::KeygenToken {
        self.key.care_of_token(care_of, &self.nonce)
    }

    /// Still acceptable at `now` (§5.2.7).
    pub fn is_valid(&self, now: Duration) -> bool {
        now.saturating_sub(self.created) < MAX_NONCE_LIFETIME
    }
}

/// The live nonces, oldest first.
#[derive(Clone, Debug)]
pub struct NonceTable {
    entries: VecDeque<NonceEntry>,
    interval: Duration,
    next_index: u16,
}

impl NonceTable {
    /// A table with one fresh nonce. `interval` is clamped to
    /// [MIN_NONCE_INTERVAL, MAX_NONCE_INTERVAL].
    pub fn new(now: Duration, interval: Duration, rng: &mut dyn Entropy) -> Self {
        let mut first = [0u8; 2];
        rng.fill(&mut first);
        let mut t =
            NonceTable { entries: VecDeque::new(), interval: interval.clamp(MIN_NONCE_INTERVAL, MAX_NONCE_INTERVAL), next_index: u16::from_be_bytes(first) };
        t.push_new(now, rng);
        t
    }

    /// A table holding exactly these entries (tests, known-answer checks).
    pub fn from_entries(entries: Vec<NonceEntry>, interval: Duration) -> Self {
        let next_index = entries.last().map_or(0, |e| e.index.wrapping_add(1));
        NonceTable { entries: entries.into(), interval: interval.clamp(MIN_NONCE_INTERVAL, MAX_NONCE_INTERVAL), next_index }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn push_new(&mut self, now: Duration, rng: &mut dyn Entropy) {
        let mut nonce = [0u8; 8];
        let mut kcn = [0u8; 20];
        rng.fill(&mut kcn);
        rng.fill(&mut nonce);
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        self.entries.push_back(NonceEntry::new(index, nonce, kcn, now));
    }

    /// The newest nonce: the one HoT/CoT hand out.
    pub fn current(&self) -> &NonceEntry {
        // Never empty: `new` pushes one and `tick` pushes before it expires.
        self.entries.back().expect("nonce table is never empty")
    }

    /// The entry for `index` if it is still valid at `now`.
    pub fn get(&self, index: u16, now: Duration) -> Option<&NonceEntry> {
        self.entries.iter().rev().find(|e| e.index == index).filter(|e| e.is_valid(now))
    }

    /// Makes a new nonce (and Kcn) when the current one is `interval` old, and forgets
    /// expired ones. Returns true when a new nonce was made.
    pub fn tick(&mut self, now: Duration, rng: &mut dyn Entropy) -> bool {
        let made = now.saturating_sub(self.current().created) >= self.interval;
        if made {
            self.push_new(now, rng);
        }
        while self.entries.len() > 1 && !self.entries[0].is_valid(now) {
            self.entries.pop_front();
        }
        made
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &NonceEntry> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::TestEntropy;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn rotates_every_interval_and_keeps_eight() {
        let mut rng = TestEntropy::new(1);
        let mut t = NonceTable::new(s(0), s(30), &mut rng);
        let first = t.current().clone();
        assert!(!t.tick(s(29), &mut rng));
        assert!(t.tick(s(30), &mut rng));
        assert_ne!(t.current().kcn, first.kcn, "a new Kcn with each nonce");
        assert_eq!(t.current().index, first.index.wrapping_add(1));
        for k in 2..=20 {
            t.tick(s(30 * k), &mut rng);
        }
        // Created at 360..=600; valid while younger than 240 s: 390..=600 → 8 entries.
        assert_eq!(t.len(), 8);
        assert!(t.iter().all(|e| e.is_valid(s(600))));
    }

    #[test]
    fn nonce_expires_after_max_lifetime() {
        let mut rng = TestEntropy::new(2);
        let mut t = NonceTable::new(s(0), s(30), &mut rng);
        let i = t.current().index;
        assert!(t.get(i, s(239)).is_some());
        assert!(t.get(i, s(240)).is_none(), "valid for 240 s, not one more");
        t.tick(s(240), &mut rng);
        assert!(t.iter().all(|e| e.index != i));
        assert!(t.get(i.wrapping_add(1), s(240)).is_some());
    }

    #[test]
    fn interval_is_clamped() {
        let mut rng = TestEntropy::new(3);
        assert_eq!(NonceTable::new(s(0), s(300), &mut rng).interval(), s(30));
        assert_eq!(NonceTable::new(s(0), Duration::ZERO, &mut rng).interval(), s(1));
    }

    #[test]
    fn long_pause_still_leaves_a_current_nonce() {
        let mut rng = TestEntropy::new(4);
        let mut t = NonceTable::new(s(0), s(30), &mut rng);
        t.tick(s(10_000), &mut rng);
        assert_eq!(t.len(), 1);
        assert_eq!(t.current().created, s(10_000));
    }
}
