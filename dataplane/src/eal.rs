//! EAL start-up, lcores and launching work on them.

use crate::{errno, DpdkError};
use std::ffi::{c_int, c_void, CString};

/// The initialized Environment Abstraction Layer. One per process: EAL cannot start twice.
pub struct Eal {
    _private: (),
}

impl Eal {
    /// `rte_eal_init` with `args` (program name first).
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| DpdkError { call: "rte_eal_init (NUL in argument)", code: 22 }))
            .collect::<Result<_, _>>()?;
        // EAL may permute argv; keep the strings alive for the life of the process.
        let cargs = Box::leak(cargs.into_boxed_slice());
        let mut argv: Vec<*mut std::ffi::c_char> = cargs.iter().map(|c| c.as_ptr() as *mut _).collect();
        let argv = Box::leak(argv.split_off(0).into_boxed_slice());
        // SAFETY: argv points to argc valid NUL-terminated strings that live forever.
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError { call: "rte_eal_init", code: errno() });
        }
        Ok(Eal { _private: () })
    }

    pub fn main_lcore(&self) -> u32 {
        // SAFETY: plain getter after init.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The enabled worker lcores (every lcore but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut v = Vec::new();
        // SAFETY: iterating the EAL's lcore list; -1 starts, RTE_MAX_LCORE ends.
        let mut id = unsafe { dpdk_sys::rte_get_next_lcore(u32::MAX, 1, 0) };
        while id < dpdk_sys::RTE_MAX_LCORE {
            v.push(id);
            // SAFETY: as above.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
        }
        v
    }

    /// The CPU an lcore is pinned to.
    pub fn cpu_of(&self, lcore: u32) -> Option<usize> {
        // SAFETY: plain getter; returns the lcore's configured CPU.
        let cpu = unsafe { dpdk_sys::rte_lcore_to_cpu_id(lcore as i32) };
        (cpu >= 0).then_some(cpu as usize)
    }

    /// NUMA socket of an lcore.
    pub fn socket_of(&self, lcore: u32) -> i32 {
        // SAFETY: plain getter.
        unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) as i32 }
    }

    /// Runs `f` on worker `lcore`; its return value is collected by [`Eal::wait_all`].
    pub fn launch<F: FnOnce() -> i32 + Send + 'static>(&self, lcore: u32, f: F) -> Result<(), DpdkError> {
        extern "C" fn trampoline(arg: *mut c_void) -> c_int {
            // SAFETY: arg is the Box<Box<dyn FnOnce>> leaked by launch, taken back exactly once.
            let f: Box<Box<dyn FnOnce() -> i32 + Send>> = unsafe { Box::from_raw(arg.cast()) };
            f()
        }
        let boxed: Box<Box<dyn FnOnce() -> i32 + Send>> = Box::new(Box::new(f));
        let arg = Box::into_raw(boxed);
        // SAFETY: the trampoline takes ownership of arg; on failure we reclaim it below.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg.cast(), lcore) };
        if rc != 0 {
            // SAFETY: not launched, so the box is still ours.
            drop(unsafe { Box::from_raw(arg) });
            return Err(DpdkError { call: "rte_eal_remote_launch", code: rc });
        }
        Ok(())
    }

    /// Waits for every worker lcore to return; true if all returned 0.
    pub fn wait_all(&self) -> bool {
        let mut ok = true;
        for l in self.worker_lcores() {
            // SAFETY: waits on a launched or idle lcore.
            ok &= unsafe { dpdk_sys::rte_eal_wait_lcore(l) } == 0;
        }
        ok
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: all ports and pools are gone by now (their owners borrow nothing of Eal but
        // are dropped first by the binary's ordering); cleanup releases hugepages.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}
