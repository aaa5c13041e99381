//! Single-producer/single-consumer rings of mbufs: worker → control (signaling) and
//! control → worker (replies to send). Zero copy: the mbuf pointer moves, ownership with it.

use crate::mbuf::Mbuf;
use crate::{errno, DpdkError};
use dpdk_sys::{rte_mbuf, rte_ring};
use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

struct Raw(NonNull<rte_ring>);
// SAFETY: the ring is SP/SC; the producer and consumer halves each live on one thread.
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}

/// The producing half: `Send`, not `Sync`, so exactly one thread enqueues.
pub struct Producer {
    raw: std::sync::Arc<Raw>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The consuming half.
pub struct Consumer {
    raw: std::sync::Arc<Raw>,
    _not_sync: PhantomData<Cell<()>>,
}

/// Creates an SP/SC ring holding up to `size - 1` mbufs (`size` a power of two).
pub fn pair(name: &str, size: u32, socket: i32) -> Result<(Producer, Consumer), DpdkError> {
    let cname = CString::new(name).expect("ring name without NUL");
    let flags = dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ;
    // SAFETY: valid name; DPDK copies it.
    let r = unsafe { dpdk_sys::rte_ring_create(cname.as_ptr(), size, socket, flags) };
    let raw = std::sync::Arc::new(Raw(NonNull::new(r).ok_or(DpdkError { call: "rte_ring_create", code: errno() })?));
    Ok((Producer { raw: raw.clone(), _not_sync: PhantomData }, Consumer { raw, _not_sync: PhantomData }))
}

/// A read-only view of a ring's occupancy, for the metrics thread.
#[derive(Clone)]
pub struct Watcher {
    raw: std::sync::Arc<Raw>,
}

impl Watcher {
    /// Mbufs waiting in the ring now.
    pub fn len(&self) -> u32 {
        // SAFETY: a read of head/tail, safe from any thread.
        unsafe { dpdk_sys::rte_ring_count(self.raw.0.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Producer {
    pub fn watcher(&self) -> Watcher {
        Watcher { raw: self.raw.clone() }
    }

    /// Enqueues one mbuf; gives it back when the ring is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        let p = m.into_raw();
        // SAFETY: SP ring, we are its only producer; on success the ring owns the mbuf.
        let rc = unsafe { dpdk_sys::rte_ring_sp_enqueue_elem(self.raw.0.as_ptr(), (&p as *const *mut rte_mbuf) as *mut c_void, 8) };
        if rc == 0 {
            Ok(())
        } else {
            // SAFETY: not enqueued, still ours.
            Err(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
        }
    }

    /// Mbufs currently waiting in the ring.
    pub fn len(&self) -> u32 {
        // SAFETY: a read of head/tail.
        unsafe { dpdk_sys::rte_ring_count(self.raw.0.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Consumer {
    /// Dequeues up to `out.len()` mbufs into `out`; returns how many.
    #[inline(always)]
    pub fn pop_burst(&mut self, out: &mut [*mut rte_mbuf]) -> usize {
        // SAFETY: SC ring, we are its only consumer; the dequeued mbufs are ours.
        unsafe { dpdk_sys::rte_ring_sc_dequeue_burst_elem(self.raw.0.as_ptr(), out.as_mut_ptr().cast(), 8, out.len() as u32, std::ptr::null_mut()) as usize }
    }

    pub fn len(&self) -> u32 {
        // SAFETY: a read of head/tail.
        unsafe { dpdk_sys::rte_ring_count(self.raw.0.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees whatever is still queued (shutdown).
    pub fn drain(&mut self) {
        let mut buf = [std::ptr::null_mut(); crate::BURST];
        loop {
            let n = self.pop_burst(&mut buf);
            if n == 0 {
                break;
            }
            for &p in &buf[..n] {
                // SAFETY: dequeued, so ours; freed once.
                drop(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) });
            }
        }
    }
}
