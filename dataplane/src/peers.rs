//! The addresses of bound peers: every binding's home address and care-of address, in a
//! seeded Bloom filter that the control core (the binding table's writer) sets and the
//! workers test. The punt policer (`policer`) gives a Mobility Header from one of these
//! addresses its own budget, so HoTIs, CoTIs and Binding Updates from a flood of spoofed
//! sources cannot crowd out MN1's binding refresh (RFC 6275 §5.2.7, §11.7.2): MN1's HoTI
//! comes from its home address, its CoTI and BU from its care-of address, both bound.
//!
//! A Bloom filter with two bits per address, 32 to 64 bits per binding-table entry (a power of
//! two bits in all: 4 to 8 bytes per entry, 8 MiB for the default 1M bindings): at
//! most 4 bits of 32 per entry are set, so a spoofed address looks bound about
//! (4/32)² ≈ 1.6 % of the time at a full table, and (4 × bindings / bits)² below it (0.1 %
//! for 1,024 bindings in the bench's table). That
//! rate matters: the false positives of a flood share the peers' budget with the real
//! peers, so it must stay far below 1 (`scripts/bench --flood`: at a 16-bit, one-bit
//! filter, 3 % of a 4 Mpps flood filled the peers' budget). A hit is a hint, never a
//! permission: it only moves a packet to the peers' budget, and a spoofer who claims a bound
//! address shares that budget with the peer it imitates. Bits are set at once when a
//! binding is published; a removal leaves them set until the writer rebuilds the filter
//! from the live bindings (`rebuild`), word by word, so no bit of a live binding is ever
//! cleared, even for an instant.
//!
//! One writer; the words are loaded and stored `Relaxed` (no read-modify-write on a line a
//! worker reads: the writer keeps its own copy and stores whole words).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bits per binding-table entry (each sets at most four: two addresses, two bits each).
pub const BITS_PER_ENTRY: usize = 32;

pub struct PeerBits {
    words: Box<[AtomicU64]>,
    /// log2 of the number of bits.
    shift: u32,
    seed: [u64; 2],
}

impl PeerBits {
    /// A set for a table of `capacity` entries (rounded up to a power of two bits, at
    /// least 4096), hashed with `seed`.
    pub fn new(capacity: usize, seed: [u64; 2]) -> PeerBits {
        let bits = (capacity.max(1) * BITS_PER_ENTRY).next_power_of_two().max(4096);
        PeerBits { words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(), shift: bits.trailing_zeros(), seed }
    }

    /// The two bits `addr` (its 16 bytes loaded as a native integer, as `bindings::Key`
    /// does) maps to.
    #[inline(always)]
    fn bits(&self, addr: u128) -> [usize; 2] {
        let r = u128::from((addr as u64) ^ self.seed[0]) * u128::from(((addr >> 64) as u64) ^ self.seed[1]);
        let (lo, hi) = (r as u64, (r >> 64) as u64);
        let h1 = (lo ^ hi).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let h2 = (lo ^ hi.rotate_left(32)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        [(h1 >> (64 - self.shift)) as usize, (h2 >> (64 - self.shift)) as usize]
    }

    #[inline(always)]
    fn is_set(&self, b: usize) -> bool {
        self.words[b / 64].load(Relaxed) & (1 << (b % 64)) != 0
    }

    /// Whether `addr` may be a bound peer's address (false: it is not).
    #[inline(always)]
    pub fn contains(&self, addr: &[u8; 16]) -> bool {
        let [b1, b2] = self.bits(u128::from_ne_bytes(*addr));
        self.is_set(b1) && self.is_set(b2)
    }
}

/// The writer's side: its copy of the words, what it stores, and how many removals left bits
/// behind since the last rebuild.
pub struct PeerWriter {
    mine: Vec<u64>,
    stale: usize,
}

impl PeerWriter {
    pub fn new(bits: &PeerBits) -> PeerWriter {
        PeerWriter { mine: vec![0; bits.words.len()], stale: 0 }
    }

    /// Sets the bit of `addr` (a native-order integer, as the table keeps addresses).
    pub fn insert(&mut self, bits: &PeerBits, addr: u128) {
        for b in bits.bits(addr) {
            let w = self.mine[b / 64] | 1 << (b % 64);
            if w != self.mine[b / 64] {
                self.mine[b / 64] = w;
                bits.words[b / 64].store(w, Relaxed);
            }
        }
    }

    /// A binding left (or changed its care-of address): its bits stay until the next
    /// rebuild. True when enough have piled up that the caller should `rebuild` now
    /// (amortised: more removals since the last rebuild than a quarter of `live` + 64).
    pub fn removed(&mut self, live: usize) -> bool {
        self.stale += 1;
        self.stale > live / 4 + 64
    }

    /// Recomputes every word from the live bindings' addresses and stores the words that
    /// changed. A bit that stays set is never cleared on the way.
    pub fn rebuild(&mut self, bits: &PeerBits, live: impl IntoIterator<Item = u128>) {
        let mut fresh = vec![0u64; self.mine.len()];
        for a in live {
            for b in bits.bits(a) {
                fresh[b / 64] |= 1 << (b % 64);
            }
        }
        for (i, (&new, old)) in fresh.iter().zip(self.mine.iter_mut()).enumerate() {
            if new != *old {
                *old = new;
                bits.words[i].store(new, Relaxed);
            }
        }
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u64) -> u128 {
        u128::from_ne_bytes(std::net::Ipv6Addr::from(0x2001_0db8_0001_0000_0000_0000_0000_0000u128 + u128::from(i)).octets())
    }

    fn bytes(a: u128) -> [u8; 16] {
        a.to_ne_bytes()
    }

    #[test]
    fn inserted_addresses_are_contained_and_others_mostly_not() {
        let bits = PeerBits::new(1024, [1, 2]);
        let mut w = PeerWriter::new(&bits);
        assert!(bits.words.len() * 64 >= 1024 * BITS_PER_ENTRY);
        for i in 0..2048 {
            w.insert(&bits, addr(i));
        }
        assert!((0..2048).all(|i| bits.contains(&bytes(addr(i)))));
        // At most 4096 of 32768 bits set: about (1/8)² of other addresses hit both of theirs.
        let hits = (100_000..200_000).filter(|&i| bits.contains(&bytes(addr(i)))).count();
        assert!(hits < 100_000 / 40, "{hits} false positives in 100000");
    }

    #[test]
    fn a_rebuild_drops_removed_addresses_and_keeps_live_ones() {
        let bits = PeerBits::new(64, [3, 4]);
        let mut w = PeerWriter::new(&bits);
        for i in 0..100 {
            w.insert(&bits, addr(i));
        }
        // 0..50 leave; until the rebuild their bits stay (a hint that errs toward "peer").
        let mut due = false;
        for _ in 0..50 {
            due |= w.removed(50);
        }
        assert!(!due, "50 removals of 100 are below 50/4 + 64");
        assert!(bits.contains(&bytes(addr(0))));
        w.rebuild(&bits, (50..100).map(addr));
        assert!((50..100).all(|i| bits.contains(&bytes(addr(i)))));
        let left = (0..50).filter(|&i| bits.contains(&bytes(addr(i)))).count();
        assert!(left < 5, "{left} removed addresses still set");
        assert_eq!(w.stale, 0);
    }

    #[test]
    fn removals_ask_for_a_rebuild_once_they_pile_up() {
        let bits = PeerBits::new(8, [5, 6]);
        let mut w = PeerWriter::new(&bits);
        assert!((0..64).all(|_| !w.removed(0)));
        assert!(w.removed(0));
    }

    #[test]
    fn the_seed_decides_the_bit() {
        let (a, b) = (PeerBits::new(1024, [7, 8]), PeerBits::new(1024, [9, 10]));
        let same = (0..1000).filter(|&i| a.bits(addr(i)) == b.bits(addr(i))).count();
        assert!(same < 10, "{same}");
    }
}
