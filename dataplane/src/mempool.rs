//! Packet-buffer pools.

use crate::{errno, DpdkError};
use std::ffi::CString;
use std::ptr::NonNull;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Lives until the process ends:
/// mbufs in flight on rings and queues point into it.
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    size: u32,
}

// SAFETY: rte_mempool is thread-safe for get/put; the handle is only a pointer.
unsafe impl Send for Mempool {}
// SAFETY: as above; the only methods are thread-safe reads and per-lcore-cached alloc.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `n` mbufs of `data_room` bytes (headroom included), with a per-lcore cache.
    pub fn new(name: &str, n: u32, cache: u32, data_room: u16, socket: i32) -> Result<Self, DpdkError> {
        let cname = CString::new(name).expect("pool name without NUL");
        // SAFETY: valid name; DPDK copies it.
        let p = unsafe { dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket) };
        NonNull::new(p).map(|raw| Mempool { raw, size: n }).ok_or(DpdkError { call: "rte_pktmbuf_pool_create", code: errno() })
    }

    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Buffers currently allocated (in queues, rings, or being processed).
    pub fn in_use(&self) -> u32 {
        // SAFETY: a read of the pool's counters.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// A fresh mbuf, or None when the pool is empty.
    pub fn alloc(&self) -> Option<crate::mbuf::Mbuf> {
        // SAFETY: the pool is valid; a non-null result is an mbuf we now own.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: freshly allocated, owned by nobody else.
        NonNull::new(m).map(|m| unsafe { crate::mbuf::Mbuf::from_raw(m) })
    }
}
