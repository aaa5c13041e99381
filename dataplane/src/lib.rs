//! roagent's dataplane: a safe layer over DPDK (EAL, ports, queues, mempools, mbufs, rings,
//! lcores), the per-core worker loop, per-core counters and the tables workers read; with the
//! `bench` feature, the benchmark's in-process traffic generator.
//!
//! `unsafe` lives only in the DPDK wrapper modules (`eal`, `mbuf`, `mempool`, `port`, `ring`),
//! each block with a `SAFETY:` line. The packet library is the `wire` crate, re-exported here.

pub mod counters;
pub mod eal;
pub mod mbuf;
pub mod mempool;
pub mod forward;
#[cfg(feature = "bench")]
pub mod generator;
pub mod neighbor;
pub mod attached;
pub mod bindings;
pub mod port;
pub mod ring;
pub mod worker;

pub use wire;

/// Packets per RX/TX burst, as in l3fwd.
pub const BURST: usize = 32;

/// An error from DPDK, with the call that failed and `rte_errno` or the returned code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpdkError {
    pub call: &'static str,
    pub code: i32,
}

impl core::fmt::Display for DpdkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let code = self.code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let msg = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_strerror(code)) };
        write!(f, "{} failed: {} ({})", self.call, msg.to_string_lossy(), code)
    }
}

impl std::error::Error for DpdkError {}

pub(crate) fn errno() -> i32 {
    // SAFETY: reads this thread's rte_errno through the C helper.
    unsafe { dpdk_sys::roagent_rte_errno() }
}

/// The TSC, for timers and cycle accounting.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the time-stamp counter; no memory is touched.
    unsafe { dpdk_sys::rte_rdtsc() }
}

/// TSC ticks per second, as measured by the EAL.
pub fn tsc_hz() -> u64 {
    // SAFETY: plain getter, valid after EAL init (0 before).
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
