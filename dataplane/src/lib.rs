//! roagent's dataplane: a safe layer over DPDK (EAL, ports, queues, mempools, mbufs, rings,
//! lcores), the per-core worker loop, per-core counters and the tables workers read; with the
//! `bench` feature, the benchmark's in-process traffic generator.
//!
//! `unsafe` lives only where Rust meets DPDK's memory, each block with a `SAFETY:` line:
//! - the DPDK wrappers `eal`, `mbuf`, `mempool`, `port`, `ring`, and this file (`rte_errno`,
//!   `rte_strerror`, the TSC);
//! - `bindings`: the lock-free binding table lives in DPDK's heap and its entries are read
//!   under RCU (QSBR) through `UnsafeCell`, with the `Send`/`Sync` impls that sharing needs;
//! - `worker`: taking ownership of the raw mbuf pointers an RX burst, the inject ring or a
//!   short TX hands back, and the burst's `MaybeUninit` hint array;
//! - `generator`: bulk mbuf allocation for the benchmark traffic generator.
//!
//! The forwarding decisions and the tables they read have none (`forbid` below); the packet
//! library is the `wire` crate (`#![forbid(unsafe_code)]`), re-exported here.

#[forbid(unsafe_code)]
pub mod attached;
pub mod bindings;
#[forbid(unsafe_code)]
pub mod counters;
pub mod eal;
#[forbid(unsafe_code)]
pub mod forward;
#[cfg(feature = "fuzzing")]
#[forbid(unsafe_code)]
pub mod fuzzing;
#[cfg(feature = "bench")]
pub mod generator;
pub mod mbuf;
pub mod mempool;
#[forbid(unsafe_code)]
pub mod neighbor;
#[forbid(unsafe_code)]
pub mod peers;
#[forbid(unsafe_code)]
pub mod policer;
pub mod port;
pub mod ring;
#[forbid(unsafe_code)]
pub mod routes;
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
