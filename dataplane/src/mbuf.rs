//! Owned packet buffers. An `Mbuf` frees itself on drop; its data is a plain byte slice so the
//! `wire` views work on it directly, and a view borrowed from it cannot outlive a prepend.

use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;

/// DPDK's default data room (2048 bytes + headroom).
pub const DEFAULT_BUF_SIZE: u32 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE;

/// One single-segment packet buffer that we own.
#[repr(transparent)]
pub struct Mbuf(NonNull<rte_mbuf>);

// SAFETY: an mbuf is owned by exactly one holder at a time; moving it between threads
// (through rings) is how DPDK hands packets over.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that nobody else will free or touch.
    #[inline(always)]
    pub unsafe fn from_raw(m: NonNull<rte_mbuf>) -> Self {
        Mbuf(m)
    }

    /// Gives up ownership without freeing.
    #[inline(always)]
    pub fn into_raw(self) -> *mut rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline(always)]
    fn m(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn m_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively.
        unsafe { self.0.as_mut() }
    }

    /// Segments in the chain; the worker only handles 1.
    #[inline(always)]
    pub fn segments(&self) -> u16 {
        self.m().nb_segs
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.m().data_len as usize
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The port it arrived on, or (for injected packets) the port it must leave by.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    #[inline(always)]
    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// Tags a packet: why it was punted and the port role (worker → control), or the role of
    /// the port to send it on (control → worker). The PMD's
    /// packet-type field carries it: roagent never uses hardware packet types.
    #[inline(always)]
    pub fn set_tag(&mut self, tag: u32) {
        self.m_mut().__bindgen_anon_1.packet_type = tag;
    }

    #[inline(always)]
    pub fn tag(&self) -> u32 {
        // SAFETY: every variant of this union is plain integers.
        unsafe { self.m().__bindgen_anon_1.packet_type }
    }

    #[inline(always)]
    fn data_ptr(&self) -> *mut u8 {
        let m = self.m();
        // SAFETY: buf_addr + data_off is inside the buffer (rte_pktmbuf_mtod).
        unsafe { (m.buf_addr as *mut u8).add(m.data_off as usize) }
    }

    /// The first segment's bytes.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        // SAFETY: data_len bytes from the data pointer are inside the segment we own.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.len()) }
    }

    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as data(), and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), self.len()) }
    }

    /// Free bytes in front of the data.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.m().data_off as usize
    }

    /// Free bytes after the data in this segment.
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        let m = self.m();
        m.buf_len as usize - m.data_off as usize - m.data_len as usize
    }

    /// Grows the packet by `n` bytes at the front; the new bytes are the start of `data_mut()`.
    /// rte_pktmbuf_prepend's arithmetic, inline (the bindgen wrapper is a call per packet).
    #[inline(always)]
    pub fn prepend(&mut self, n: usize) -> bool {
        if n > self.headroom() {
            return false;
        }
        // n <= data_off (a u16), and data_off + data_len <= buf_len: nothing overflows.
        let m = self.m_mut();
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        true
    }

    /// Removes `n` bytes from the front (rte_pktmbuf_adj on one segment, inline).
    #[inline(always)]
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let m = self.m_mut();
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Cuts the packet to `len` bytes (drops Ethernet padding and the like).
    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            let cut = (self.len() - len) as u16;
            let m = self.m_mut();
            m.data_len -= cut;
            m.pkt_len -= u32::from(cut);
        }
    }

    /// Grows the packet at the end by `n` bytes (for building messages).
    pub fn append(&mut self, n: usize) -> bool {
        if n > self.tailroom() {
            return false;
        }
        let m = self.m_mut();
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        true
    }
}

impl Drop for Mbuf {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; after this nobody touches it.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}
