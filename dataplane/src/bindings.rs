//! The binding table the workers read (design.md "Binding table"), built for the per-packet
//! lookup: one 64-byte bucket line and one 64-byte entry line per hit, one bucket line per
//! miss, and a lookup that can be split so a burst prefetches its lines before using them
//! (the VPP bihash / BESS cuckoo pattern). It replaced DPDK's `rte_hash`, which took
//! three dependent lines (bucket, key store, our record) and ~96 instructions per hit
//! (benches/RESULTS.md).
//!
//! Key: (home address, attached-node address). Each key has two candidate buckets from a
//! seeded 64-bit hash; a bucket holds 8 slots: a one-byte signature each (0 = empty; all
//! eight compared at once in one word) and the index of an immutable entry (key + care-of
//! address). A signature matches a foreign key once in 255, and the key is compared anyway. A key goes to its first bucket
//! when that has room, else to its second, and the first bucket counts it in `spilled`,
//! so a miss reads one line unless its bucket spilled. There are C/2 buckets for C
//! entries (at most 2 keys per 8 slots on average): both buckets of a new key are full
//! about once in 10^7 inserts at full capacity, and the insert is then refused like a
//! full table (the agent answers "insufficient resources").
//!
//! Concurrency: the control core is the only writer, the workers read without locks or
//! read-modify-writes. An entry is written while unreachable and published by storing its
//! index (Release), then the slot's signature (Release); readers load both with Acquire.
//! An update publishes a new entry in the same slot; a delete clears the signature. Old
//! entries return to the free list only after every worker has passed an `rte_rcu_qsbr`
//! quiescent point, so a reader never sees a torn or recycled entry; a slot reused under a
//! reader's feet fails the reader's key comparison.

use crate::peers::{PeerBits, PeerWriter};
use crate::{errno, DpdkError};
use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::net::Ipv6Addr;
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;

const SLOTS: usize = 8;
const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// One cache line: 8 one-byte signatures in one word (one compare for the bucket), 8 entry
/// indices, the spill count.
#[repr(C, align(64))]
struct Bucket {
    sigs: AtomicU64,
    idx: [AtomicU32; SLOTS],
    /// Keys whose first bucket is this one but which live in their second.
    spilled: AtomicU32,
}

/// One cache line: the key and its care-of address. Written only while unreachable.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Entry {
    home: u128,
    attached: u128,
    care_of: [u8; 16],
}

/// The slots of a signature word whose byte equals `sig`: bit 7 + 8 i set for slot i.
/// Exact (no false slots): a byte's bit 7 survives only when all 8 bits of `x` are zero.
#[inline(always)]
fn lanes_equal(word: u64, sig: u8) -> u64 {
    let x = word ^ (u64::from(sig) * LANES);
    !(x | ((x & !HIGH) + !HIGH)) & HIGH
}

/// The slot of a bit found by [`lanes_equal`].
#[inline(always)]
fn slot_of(bits: u64) -> usize {
    bits.trailing_zeros() as usize / 8
}

/// 64 × 64 → 128-bit multiply, folded (wyhash's "mum"): one instruction pair that mixes
/// every input bit into the result.
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A key as the table compares it: the address bytes loaded as native integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub home: u128,
    pub attached: u128,
}

impl Key {
    #[inline(always)]
    pub fn new(home: &[u8; 16], attached: &[u8; 16]) -> Key {
        Key { home: u128::from_ne_bytes(*home), attached: u128::from_ne_bytes(*attached) }
    }
}

/// A lookup in flight across the passes over a burst (`Reader::start`, `advance`,
/// `finish`).
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub key: Key,
    hash: Hash,
    state: State,
}

impl Pending {
    /// Whether pass 2 decided the lookup (an entry named, or a miss), so `finish` needs no
    /// table walk; tests check that the common cases are decided there.
    #[doc(hidden)]
    pub fn settled(&self) -> bool {
        self.state != State::Unknown
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not decided by the first bucket: a full lookup.
    Unknown,
    Miss,
    /// The one entry whose signature matched.
    Entry(u32),
}

/// Where a key's hash sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    first: u32,
    second: u32,
    sig: u8,
}

struct Shared {
    buckets: HugeSlice<Bucket>,
    entries: HugeSlice<UnsafeCell<Entry>>,
    /// Keys of the hash (random per table, so bucket placement cannot be chosen from outside).
    seed: [u64; SEEDS],
    qsbr: NonNull<dpdk_sys::rte_rcu_qsbr>,
    readers: u32,
    /// Every published entry's home and care-of address (`peers`).
    peers: PeerBits,
}

const SEEDS: usize = 5;

impl Shared {
    /// A seeded wyhash-style hash of the 32-byte key (two folded 128-bit multiplies and a
    /// third to finish); the first bucket, the second and the signature come from separate
    /// parts of it.
    #[inline(always)]
    fn hash(&self, home: u128, attached: u128) -> Hash {
        let k = &self.seed;
        let h = mum(home as u64 ^ k[0], (home >> 64) as u64 ^ k[1]) ^ mum(attached as u64 ^ k[2], (attached >> 64) as u64 ^ k[3]);
        let h = mum(h ^ k[4], h ^ 0x9e37_79b9_7f4a_7c15);
        // Bucket numbers by multiply-shift over the exact bucket count (no power-of-two
        // rounding of the memory), from the two halves; the signature from the top byte of
        // the low half, which the first bucket number leans on least.
        let n = self.buckets.len() as u64;
        let first = (((h & 0xffff_ffff) * n) >> 32) as u32;
        let mut second = (((h >> 32) * n) >> 32) as u32;
        if second == first {
            second = if first + 1 == n as u32 { 0 } else { first + 1 };
        }
        let sig = (h.rotate_right(8) as u8).max(1);
        Hash { first, second, sig }
    }

    /// The slot of `bucket` holding the key, and its entry index.
    #[inline(always)]
    fn probe(&self, bucket: u32, sig: u8, home: u128, attached: u128) -> Option<(usize, u32)> {
        let b = &self.buckets[bucket as usize];
        let mut m = lanes_equal(b.sigs.load(Acquire), sig);
        while m != 0 {
            let slot = slot_of(m);
            let i = b.idx[slot].load(Acquire);
            if let Some(e) = self.entries.get(i as usize) {
                // SAFETY: published entries are immutable until a grace period after they
                // are unpublished; the Acquire loads order these reads after the writer's
                // (see the module comment).
                let e = unsafe { &*e.get() };
                if e.home == home && e.attached == attached {
                    return Some((slot, i));
                }
            }
            m &= m - 1;
        }
        None
    }

    #[inline(always)]
    fn find(&self, h: Hash, home: u128, attached: u128) -> Option<(u32, usize, u32)> {
        if let Some((s, i)) = self.probe(h.first, h.sig, home, attached) {
            return Some((h.first, s, i));
        }
        if self.buckets[h.first as usize].spilled.load(Acquire) == 0 {
            return None;
        }
        self.probe(h.second, h.sig, home, attached).map(|(s, i)| (h.second, s, i))
    }

    fn care_of(&self, i: u32) -> [u8; 16] {
        // SAFETY: as in probe: a found entry stays intact until the next quiescent point.
        unsafe { (*self.entries[i as usize].get()).care_of }
    }
}

/// A zeroed array in DPDK's heap (hugepages when the EAL has them): buckets and entries are
/// read at scattered places on every lookup, and on 4 KiB pages a large table pays a TLB
/// miss for each.
struct HugeSlice<T> {
    ptr: NonNull<T>,
    len: usize,
}

impl<T> HugeSlice<T> {
    /// `T` must be valid when all-zero (here: integers, atomics, cells of them).
    fn zeroed(len: usize, socket: i32, what: &'static str) -> Result<HugeSlice<T>, DpdkError> {
        let bytes = len.max(1) * std::mem::size_of::<T>();
        // SAFETY: allocation from DPDK's heap, zeroed, cache-line aligned.
        let p = unsafe { dpdk_sys::rte_zmalloc_socket(std::ptr::null(), bytes, 64, socket) };
        let ptr = NonNull::new(p as *mut T).ok_or(DpdkError { call: what, code: errno() })?;
        Ok(HugeSlice { ptr, len })
    }
}

impl<T> std::ops::Deref for HugeSlice<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `len` zeroed (valid) elements, alive until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by rte_zmalloc_socket, freed once.
        unsafe { dpdk_sys::rte_free(self.ptr.as_ptr().cast()) }
    }
}

// SAFETY: buckets are atomics; entries are written only while unreachable (see the module
// comment); the QSBR variable is designed for concurrent use.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone, so no reader or writer uses it.
        unsafe { dpdk_sys::rte_free(self.qsbr.as_ptr().cast()) }
    }
}

/// Creates a table for `capacity` entries (bindings plus those waiting for a grace period)
/// read by `readers` worker threads.
pub fn table(name: &str, capacity: u32, readers: u32, socket: i32) -> Result<(Writer, Vec<Reader>), DpdkError> {
    table_with_buckets(name, capacity, capacity.div_ceil(2), readers, socket)
}

/// [`table`] with a chosen bucket count (tests: a crowded table spills).
#[doc(hidden)]
pub fn table_with_buckets(_name: &str, capacity: u32, buckets: u32, readers: u32, socket: i32) -> Result<(Writer, Vec<Reader>), DpdkError> {
    let capacity = capacity.max(8);
    // SAFETY: plain size computation.
    let qsize = unsafe { dpdk_sys::rte_rcu_qsbr_get_memsize(readers) };
    // SAFETY: allocation from DPDK's heap, cache-line aligned as rte_rcu_qsbr requires.
    let q = unsafe { dpdk_sys::rte_zmalloc(std::ptr::null(), qsize, 64) } as *mut dpdk_sys::rte_rcu_qsbr;
    let qsbr = NonNull::new(q).ok_or(DpdkError { call: "rte_zmalloc(rte_rcu_qsbr)", code: errno() })?;
    // SAFETY: memory of the size asked for.
    if unsafe { dpdk_sys::rte_rcu_qsbr_init(qsbr.as_ptr(), readers) } != 0 {
        // SAFETY: allocated above, not shared yet.
        unsafe { dpdk_sys::rte_free(q.cast()) };
        return Err(DpdkError { call: "rte_rcu_qsbr_init", code: errno() });
    }
    let arrays = HugeSlice::zeroed(buckets.max(2) as usize, socket, "rte_zmalloc(binding buckets)")
        .and_then(|b| Ok((b, HugeSlice::zeroed(capacity as usize, socket, "rte_zmalloc(binding entries)")?)));
    let (buckets, entries) = match arrays {
        Ok(a) => a,
        Err(e) => {
            // SAFETY: allocated above, not shared yet.
            unsafe { dpdk_sys::rte_free(q.cast()) };
            return Err(e);
        }
    };
    // Any per-process random value will do; RandomState is seeded from the OS.
    let seed = std::array::from_fn(|i| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.finish()
    });
    let peers = PeerBits::new(capacity as usize, [seed[3] ^ seed[0], seed[4] ^ seed[1]]);
    let shared = Arc::new(Shared { buckets, entries, seed, qsbr, readers, peers });
    let readers = (0..readers).map(|id| Reader { t: shared.clone(), id, _not_sync: PhantomData }).collect();
    let peers = PeerWriter::new(&shared.peers);
    Ok((Writer { t: shared, free: (0..capacity).rev().collect(), len: 0, spills: 0, retired: VecDeque::new(), peers }, readers))
}

/// Why an insert was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// Every entry is in use or waiting for a grace period.
    NoRecord,
    /// Both buckets of the key are full.
    Buckets,
}

fn key(home: &Ipv6Addr, attached: &Ipv6Addr) -> (u128, u128) {
    (u128::from_ne_bytes(home.octets()), u128::from_ne_bytes(attached.octets()))
}

/// The control core's handle: the only writer.
pub struct Writer {
    t: Arc<Shared>,
    free: Vec<u32>,
    len: usize,
    /// Keys living in their second bucket.
    spills: usize,
    /// Entries no longer published, with the QSBR token that frees them.
    retired: VecDeque<(u64, u32)>,
    peers: PeerWriter,
}

impl Writer {
    /// Publishes `care_of` for the key (insert or replace).
    pub fn upsert(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), Full> {
        self.reclaim();
        let (h, a) = key(home, attached);
        let hash = self.t.hash(h, a);
        let found = self.t.find(hash, h, a);
        let e = self.free.pop().ok_or(Full::NoRecord)?;
        // SAFETY: a free entry is unreachable from every reader (never published, or
        // retired and past a grace period), so this write races with nothing.
        unsafe { *self.t.entries[e as usize].get() = Entry { home: h, attached: a, care_of: care_of.octets() } };
        self.peers.insert(&self.t.peers, h);
        self.peers.insert(&self.t.peers, u128::from_ne_bytes(care_of.octets()));
        if let Some((b, slot, old)) = found {
            self.t.buckets[b as usize].idx[slot].store(e, Release);
            // SAFETY: a published entry; only this writer ever writes entries.
            if unsafe { (*self.t.entries[old as usize].get()).care_of } != care_of.octets() {
                self.peer_left();
            }
            self.retire(old);
            return Ok(());
        }
        let (b, slot) = match self.empty_slot(hash.first) {
            Some(s) => (hash.first, s),
            None => match self.empty_slot(hash.second) {
                Some(s) => {
                    let sp = &self.t.buckets[hash.first as usize].spilled;
                    sp.store(sp.load(Relaxed) + 1, Release);
                    self.spills += 1;
                    (hash.second, s)
                }
                None => {
                    self.free.push(e);
                    return Err(Full::Buckets);
                }
            },
        };
        let bucket = &self.t.buckets[b as usize];
        bucket.idx[slot].store(e, Release);
        let shift = 8 * slot;
        bucket.sigs.store(bucket.sigs.load(Relaxed) & !(0xff << shift) | u64::from(hash.sig) << shift, Release);
        self.len += 1;
        Ok(())
    }

    fn empty_slot(&self, bucket: u32) -> Option<usize> {
        let m = lanes_equal(self.t.buckets[bucket as usize].sigs.load(Relaxed), 0);
        (m != 0).then(|| slot_of(m))
    }

    /// Unpublishes the key; true if it was there.
    pub fn remove(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr) -> bool {
        let (h, a) = key(home, attached);
        let hash = self.t.hash(h, a);
        let Some((b, slot, e)) = self.t.find(hash, h, a) else { return false };
        let sigs = &self.t.buckets[b as usize].sigs;
        sigs.store(sigs.load(Relaxed) & !(0xff << (8 * slot)), Release);
        if b != hash.first {
            let sp = &self.t.buckets[hash.first as usize].spilled;
            sp.store(sp.load(Relaxed) - 1, Release);
            self.spills -= 1;
        }
        self.retire(e);
        self.len -= 1;
        self.peer_left();
        true
    }

    /// A binding's addresses may no longer be a peer's: rebuild the peer set when enough
    /// such removals have piled up (amortised O(1) per removal).
    fn peer_left(&mut self) {
        if self.peers.removed(self.len) {
            let live = self.live_entries().flat_map(|e| [e.home, u128::from_ne_bytes(e.care_of)]).collect::<Vec<_>>();
            self.peers.rebuild(&self.t.peers, live);
        }
    }

    /// Every published entry (the writer's view; only it writes entries).
    fn live_entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.t.buckets.iter().flat_map(move |b| {
            let sigs = b.sigs.load(Relaxed);
            (0..SLOTS).filter(move |s| sigs >> (8 * s) & 0xff != 0).map(move |s| {
                // SAFETY: a published entry; only this writer ever writes entries.
                unsafe { *self.t.entries[b.idx[s].load(Relaxed) as usize].get() }
            })
        })
    }

    fn retire(&mut self, e: u32) {
        // SAFETY: valid QSBR variable; starts a grace period and returns its token.
        let token = unsafe { dpdk_sys::rte_rcu_qsbr_start(self.t.qsbr.as_ptr()) };
        self.retired.push_back((token, e));
    }

    /// Returns entries whose grace period is over to the free list. Never waits.
    pub fn reclaim(&mut self) {
        while let Some(&(token, e)) = self.retired.front() {
            // SAFETY: valid QSBR variable; non-blocking check.
            if unsafe { dpdk_sys::rte_rcu_qsbr_check(self.t.qsbr.as_ptr(), token, false) } != 1 {
                break;
            }
            self.retired.pop_front();
            self.free.push(e);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries waiting for a grace period.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// Bindings living in their second bucket (a crowded first bucket).
    pub fn spills(&self) -> usize {
        self.spills
    }
}

/// A worker's handle. `Send`, not `Sync`: one per worker thread, each with its QSBR id.
pub struct Reader {
    t: Arc<Shared>,
    id: u32,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: moves to the worker that will use it; !Sync keeps it on that thread.
unsafe impl Send for Reader {}

/// Asks for the cache line at `p` (a hint: no fault, no effect on results).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults and `p` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((p as *const T).cast())
    };
}

impl Reader {
    /// Registers this reader and marks it online; call on the worker thread before lookups.
    pub fn online(&self) {
        // SAFETY: id < readers, the QSBR variable was initialised for that many.
        unsafe {
            dpdk_sys::rte_rcu_qsbr_thread_register(self.t.qsbr.as_ptr(), self.id);
            dpdk_sys::rte_rcu_qsbr_thread_online(self.t.qsbr.as_ptr(), self.id);
        }
    }

    /// Leaves: the writer stops waiting for this reader.
    pub fn offline(&self) {
        // SAFETY: as online().
        unsafe {
            dpdk_sys::rte_rcu_qsbr_thread_offline(self.t.qsbr.as_ptr(), self.id);
            dpdk_sys::rte_rcu_qsbr_thread_unregister(self.t.qsbr.as_ptr(), self.id);
        }
    }

    /// Reports that this reader holds no entry from before: one store to its own line.
    #[inline(always)]
    pub fn quiescent(&self) {
        // SAFETY: registered reader id.
        unsafe { dpdk_sys::rte_rcu_qsbr_quiescent(self.t.qsbr.as_ptr(), self.id) }
    }

    /// Burst pass 1: hashes the key and requests its first bucket.
    #[inline(always)]
    pub fn start(&self, key: Key) -> Pending {
        let hash = self.t.hash(key.home, key.attached);
        prefetch(&self.t.buckets[hash.first as usize]);
        Pending { key, hash, state: State::Unknown }
    }

    /// Burst pass 2 (the bucket on its way or in cache): one scan of the first bucket. A
    /// single signature match names the entry, which is requested; no match in a bucket
    /// that never spilled is a miss, decided here. Anything else is left to `finish`.
    #[inline(always)]
    pub fn advance(&self, p: &mut Pending) {
        let b = &self.t.buckets[p.hash.first as usize];
        let m = lanes_equal(b.sigs.load(Acquire), p.hash.sig);
        p.state = if m == 0 {
            if b.spilled.load(Acquire) == 0 {
                State::Miss
            } else {
                State::Unknown
            }
        } else if m & (m - 1) == 0 {
            let i = b.idx[slot_of(m)].load(Acquire);
            match self.t.entries.get(i as usize) {
                Some(e) => {
                    prefetch(e);
                    State::Entry(i)
                }
                None => State::Unknown,
            }
        } else {
            State::Unknown
        };
    }

    /// Burst pass 3: the answer for key `k`, which is normally `p.key`. What pass 2 saw is a
    /// consistent snapshot: the entry it named cannot be recycled before this reader's next
    /// quiescent point, and its key is compared with `k` here, so a hit costs that one
    /// compare, whatever `p` was started for. Anything else is decided from `p` only when it
    /// was started for `k`; another key takes a lookup of its own.
    #[inline(always)]
    pub fn finish(&self, p: &Pending, k: &Key) -> Option<[u8; 16]> {
        let hash = match p.state {
            State::Entry(i) => {
                // SAFETY: as in `Shared::probe`.
                let e = unsafe { &*self.t.entries[i as usize].get() };
                if e.home == k.home && e.attached == k.attached {
                    return Some(e.care_of);
                }
                p.hash
            }
            State::Miss if p.key == *k => return None,
            State::Miss | State::Unknown => p.hash,
        };
        self.lookup_key(k, if p.key == *k { hash } else { self.t.hash(k.home, k.attached) })
    }

    #[inline(always)]
    fn lookup_key(&self, k: &Key, h: Hash) -> Option<[u8; 16]> {
        self.t.find(h, k.home, k.attached).map(|(_, _, e)| self.t.care_of(e))
    }

    /// The care-of address bound to (home, attached), if any.
    #[inline(always)]
    pub fn lookup(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
        let k = Key::new(home, attached);
        self.lookup_key(&k, self.t.hash(k.home, k.attached))
    }

    /// Whether `addr` may be a bound peer's home or care-of address (`peers`).
    #[inline(always)]
    pub fn is_peer(&self, addr: &[u8; 16]) -> bool {
        self.t.peers.contains(addr)
    }

    pub fn readers(&self) -> u32 {
        self.t.readers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_equal_is_exact() {
        let word = 0x00_12_34_00_01_12_34_12u64;
        assert_eq!(lanes_equal(word, 0x12), 0x00_80_00_00_00_80_00_80);
        assert_eq!(lanes_equal(word, 0), 0x80_00_00_80_00_00_00_00);
        assert_eq!(lanes_equal(word, 1), 0x00_00_00_00_80_00_00_00);
        assert_eq!(lanes_equal(word, 0x80), 0);
        assert_eq!(slot_of(lanes_equal(word, 1)), 3);
        // Borrows between lanes must not fake a match: lane values 0x01 / 0xff.
        assert_eq!(lanes_equal(0xff01_ff01_ff01_ff01, 0), 0);
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            for sig in [0u8, 1, 0x7f, 0x80, 0xff] {
                let m = lanes_equal(u64::from(v) << 8, sig);
                let others = if sig == 0 { HIGH & !0xff00 } else { 0 };
                assert_eq!(m, (u64::from(v == sig) << 15) | others, "v {v:#x} sig {sig:#x}");
            }
        }
    }

    #[test]
    fn layouts_are_one_line_each() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }
}
