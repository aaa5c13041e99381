//! The binding table the workers read (design.md "Binding table"): DPDK `rte_hash` in
//! lock-free reader/writer mode, with `rte_rcu_qsbr` deciding when memory may be reused.
//!
//! Key: (home address, attached-node address), 32 bytes. Value: the index of an immutable
//! record (the care-of address) in a slab. The control core is the only writer: an update
//! writes a fresh record and publishes its index (an atomic replace in the hash); the old
//! record, like a deleted one, returns to the free list only after every worker has passed a
//! quiescent point. A reader never waits and never sees a torn record.

use crate::{errno, DpdkError};
use std::cell::{Cell, UnsafeCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::net::Ipv6Addr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

/// (home address, attached-node address), as stored in the hash.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    pub home: [u8; 16],
    pub attached: [u8; 16],
}

struct Shared {
    hash: NonNull<dpdk_sys::rte_hash>,
    /// Key of the signature function (random per table, so bucket placement cannot be
    /// chosen from outside).
    seed: u64,
    qsbr: NonNull<dpdk_sys::rte_rcu_qsbr>,
    /// Care-of addresses; slot i is written only while no reader can reach it.
    records: HugeSlice<UnsafeCell<[u8; 16]>>,
    readers: u32,
    /// Counting filter in front of the hash: how many published keys have a signature
    /// ending in each index (255 = saturated, never decremented). Zero means "no binding"
    /// in one byte load: a miss in rte_hash's lock-free mode walks both buckets and the
    /// extendable chain, ~180 instructions (callgrind), and most uplink traffic has no
    /// binding. The writer counts a key before publishing it and uncounts it after
    /// unpublishing, so a published key is never filtered out.
    filter: HugeSlice<AtomicU8>,
    filter_mask: u32,
}

/// A zeroed array in DPDK's heap (hugepages when the EAL has them), like the hash itself:
/// the records and the filter are read at scattered places on every lookup, and on 4 KiB
/// pages a large table pays a TLB miss for each (bench: 1M bindings).
struct HugeSlice<T> {
    ptr: NonNull<T>,
    len: usize,
}

impl<T> HugeSlice<T> {
    /// `T` must be valid when all-zero (here: byte arrays in cells, atomics).
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

// SAFETY: the hash is in RW_CONCURRENCY_LF mode (one writer, any readers), the QSBR variable
// is designed for concurrent use, and records are written only when unreachable (see above).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone, so no reader or writer uses either object.
        unsafe {
            dpdk_sys::rte_hash_free(self.hash.as_ptr());
            dpdk_sys::rte_free(self.qsbr.as_ptr().cast());
        }
    }
}

/// The 32-bit signature rte_hash files a key under, computed here instead of by the
/// library's CRC through a function pointer (callgrind: ~60 of the ~170 instructions of a
/// lookup). Four 64-bit words, one multiply-xor round each, and a murmur3 finalizer; the
/// seed is per table.
#[inline(always)]
fn signature(seed: u64, k: &Key) -> u32 {
    let w = |b: &[u8; 16], i: usize| u64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
    const M: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed;
    for x in [w(&k.home, 0), w(&k.home, 8), w(&k.attached, 0), w(&k.attached, 8)] {
        h = (h ^ x).wrapping_mul(M).rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as u32
}

/// Creates a table for `capacity` bindings read by `readers` worker threads.
pub fn table(name: &str, capacity: u32, readers: u32, socket: i32) -> Result<(Writer, Vec<Reader>), DpdkError> {
    let capacity = capacity.max(8);
    // SAFETY: plain size computation.
    let qsize = unsafe { dpdk_sys::rte_rcu_qsbr_get_memsize(readers) };
    // SAFETY: allocation from DPDK's heap, cache-line aligned as rte_rcu_qsbr requires.
    let q = unsafe { dpdk_sys::rte_zmalloc(std::ptr::null(), qsize, 64) } as *mut dpdk_sys::rte_rcu_qsbr;
    let qsbr = NonNull::new(q).ok_or(DpdkError { call: "rte_zmalloc(rte_rcu_qsbr)", code: errno() })?;
    // SAFETY: memory of the size asked for.
    let rc = unsafe { dpdk_sys::rte_rcu_qsbr_init(qsbr.as_ptr(), readers) };
    if rc != 0 {
        // SAFETY: allocated above, not shared yet.
        unsafe { dpdk_sys::rte_free(q.cast()) };
        return Err(DpdkError { call: "rte_rcu_qsbr_init", code: errno() });
    }
    let cname = CString::new(name).expect("table name without NUL");
    let params = dpdk_sys::rte_hash_parameters {
        name: cname.as_ptr(),
        entries: capacity,
        key_len: std::mem::size_of::<Key>() as u32,
        socket_id: socket,
        // Lock-free readers; an extendable bucket table so inserts never fail on collisions.
        extra_flag: (dpdk_sys::RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | dpdk_sys::RTE_HASH_EXTRA_FLAGS_EXT_TABLE) as u8,
        ..Default::default()
    };
    // SAFETY: valid parameters; DPDK copies the name.
    let h = unsafe { dpdk_sys::rte_hash_create(&params) };
    let Some(hash) = NonNull::new(h) else {
        // SAFETY: as above.
        unsafe { dpdk_sys::rte_free(q.cast()) };
        return Err(DpdkError { call: "rte_hash_create", code: errno() });
    };
    // Deleted key slots are recycled by the hash library itself after a grace period.
    let mut rcu = dpdk_sys::rte_hash_rcu_config {
        v: qsbr.as_ptr(),
        mode: dpdk_sys::rte_hash_qsbr_mode_RTE_HASH_QSBR_MODE_DQ,
        ..Default::default()
    };
    // SAFETY: valid hash and QSBR variable, both outliving each other (freed together).
    let rc = unsafe { dpdk_sys::rte_hash_rcu_qsbr_add(hash.as_ptr(), &mut rcu) };
    // Any per-process random value will do; RandomState is seeded from the OS.
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x726f_6167_656e_7421);
        h.finish()
    };
    // Two counters per entry of capacity: few false "maybe"s, 2 bytes per binding.
    let filter_len = (capacity as usize * 2).next_power_of_two();
    let arrays = HugeSlice::zeroed(capacity as usize, socket, "rte_zmalloc(binding records)").and_then(|r| Ok((r, HugeSlice::zeroed(filter_len, socket, "rte_zmalloc(binding filter)")?)));
    let (records, filter) = match arrays {
        Ok(a) => a,
        Err(e) => {
            // SAFETY: created above, not shared yet (the QSBR variable is attached to it).
            unsafe {
                dpdk_sys::rte_hash_free(hash.as_ptr());
                dpdk_sys::rte_free(q.cast());
            }
            return Err(e);
        }
    };
    let shared = Arc::new(Shared {
        hash,
        seed,
        qsbr,
        records,
        readers,
        filter,
        filter_mask: (filter_len - 1) as u32,
    });
    if rc != 0 {
        return Err(DpdkError { call: "rte_hash_rcu_qsbr_add", code: errno() });
    }
    let readers = (0..readers).map(|id| Reader { t: shared.clone(), id, _not_sync: PhantomData }).collect();
    Ok((
        Writer { t: shared, free: (0..capacity).rev().collect(), slots: HashMap::new(), retired: VecDeque::new() },
        readers,
    ))
}

/// Why an insert was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// Every record slot is in use or waiting for a grace period.
    NoRecord,
    /// The hash refused the key.
    Hash(i32),
}

/// The control core's handle: the only writer.
pub struct Writer {
    t: Arc<Shared>,
    free: Vec<u32>,
    slots: HashMap<Key, u32>,
    /// Records no longer published, with the QSBR token that frees them.
    retired: VecDeque<(u64, u32)>,
}

impl Writer {
    /// Publishes `care_of` for the key (insert or replace).
    pub fn upsert(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), Full> {
        self.reclaim();
        let key = Key { home: home.octets(), attached: attached.octets() };
        let slot = self.free.pop().ok_or(Full::NoRecord)?;
        let sig = signature(self.t.seed, &key);
        let new = !self.slots.contains_key(&key);
        if new {
            self.count(sig, 1);
        }
        // SAFETY: a free slot is unreachable from every reader (never published, or retired
        // and past a grace period), so this write races with nothing.
        unsafe { *self.t.records[slot as usize].get() = care_of.octets() };
        // SAFETY: valid hash and key; the data is an index, not a pointer.
        let rc = unsafe { dpdk_sys::rte_hash_add_key_with_hash_data(self.t.hash.as_ptr(), (&key as *const Key).cast(), sig, slot as usize as *mut c_void) };
        if rc != 0 {
            self.free.push(slot);
            if new {
                self.count(sig, -1);
            }
            return Err(Full::Hash(rc));
        }
        if let Some(old) = self.slots.insert(key, slot) {
            self.retire(old);
        }
        Ok(())
    }

    /// Unpublishes the key; true if it was there.
    pub fn remove(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr) -> bool {
        let key = Key { home: home.octets(), attached: attached.octets() };
        let Some(slot) = self.slots.remove(&key) else { return false };
        let sig = signature(self.t.seed, &key);
        // SAFETY: valid hash and key, with the signature it was added under.
        unsafe { dpdk_sys::rte_hash_del_key_with_hash(self.t.hash.as_ptr(), (&key as *const Key).cast(), sig) };
        self.count(sig, -1);
        self.retire(slot);
        true
    }

    /// Adjusts the filter counter of `sig` (the writer is its only writer).
    fn count(&self, sig: u32, d: i8) {
        let c = &self.t.filter[(sig & self.t.filter_mask) as usize];
        let v = c.load(Relaxed);
        if v != u8::MAX {
            c.store(v.wrapping_add_signed(d), Relaxed);
        }
    }

    fn retire(&mut self, slot: u32) {
        // SAFETY: valid QSBR variable; starts a grace period and returns its token.
        let token = unsafe { dpdk_sys::rte_rcu_qsbr_start(self.t.qsbr.as_ptr()) };
        self.retired.push_back((token, slot));
    }

    /// Returns records whose grace period is over to the free list. Never waits.
    pub fn reclaim(&mut self) {
        while let Some(&(token, slot)) = self.retired.front() {
            // SAFETY: valid QSBR variable; non-blocking check.
            if unsafe { dpdk_sys::rte_rcu_qsbr_check(self.t.qsbr.as_ptr(), token, false) } != 1 {
                break;
            }
            self.retired.pop_front();
            self.free.push(slot);
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Records waiting for a grace period.
    pub fn retired(&self) -> usize {
        self.retired.len()
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

    /// Reports that this reader holds no record from before: one store to its own line.
    #[inline(always)]
    pub fn quiescent(&self) {
        // SAFETY: registered reader id.
        unsafe { dpdk_sys::rte_rcu_qsbr_quiescent(self.t.qsbr.as_ptr(), self.id) }
    }

    /// The care-of address bound to (home, attached), if any.
    #[inline(always)]
    pub fn lookup(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
        let key = Key { home: *home, attached: *attached };
        let sig = signature(self.t.seed, &key);
        if self.t.filter[(sig & self.t.filter_mask) as usize].load(Relaxed) == 0 {
            return None;
        }
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid hash; lock-free lookup with the signature every insert used;
        // `data` receives the stored index.
        let rc = unsafe { dpdk_sys::rte_hash_lookup_with_hash_data(self.t.hash.as_ptr(), (&key as *const Key).cast(), sig, &mut data) };
        if rc < 0 {
            return None;
        }
        // SAFETY: the slot was published, and it is not rewritten before this reader's next
        // quiescent point; the index came from the writer, so it is in range.
        self.t.records.get(data as usize).map(|r| unsafe { *r.get() })
    }

    pub fn readers(&self) -> u32 {
        self.t.readers
    }
}
