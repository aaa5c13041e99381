//! Ethernet ports and their queues. Queue handles are `Send + !Sync` and move into exactly one
//! worker, so no two cores ever share a queue.

use crate::counters::Role;
use crate::mempool::Mempool;
use crate::{DpdkError, BURST};
use dpdk_sys::rte_mbuf;
use std::cell::Cell;
use std::ffi::CString;
use std::marker::PhantomData;

/// A configured, started port.
pub struct Port {
    pub id: u16,
    pub name: String,
    pub mac: [u8; 6],
    pub rx_queues: u16,
    pub tx_queues: u16,
}

/// What the device says it can do, for refusing impossible configurations early.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub driver: &'static str,
}

/// Counters of one port as the driver keeps them.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

impl Port {
    /// The port id of a probed device (`net_pcap0`, `0000:01:00.0`, ...).
    pub fn find(name: &str) -> Result<u16, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError { call: "rte_eth_dev_get_port_by_name", code: 22 })?;
        let mut id = 0u16;
        // SAFETY: valid name and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError { call: "rte_eth_dev_get_port_by_name", code: rc });
        }
        Ok(id)
    }

    pub fn capabilities(id: u16) -> Result<Capabilities, DpdkError> {
        let mut info: dpdk_sys::rte_eth_dev_info = Default::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
        if rc != 0 {
            return Err(DpdkError { call: "rte_eth_dev_info_get", code: rc });
        }
        let driver = if info.driver_name.is_null() {
            "unknown"
        } else {
            // SAFETY: the driver name is a static string of the PMD.
            let s = unsafe { std::ffi::CStr::from_ptr(info.driver_name) };
            Box::leak(s.to_string_lossy().into_owned().into_boxed_str())
        };
        Ok(Capabilities { max_rx_queues: info.max_rx_queues, max_tx_queues: info.max_tx_queues, driver })
    }

    /// Configures `rxq` RX and `txq` TX queues with descriptors from `pool`, sets the MTU,
    /// enables promiscuous mode and starts the port.
    pub fn start(name: &str, rxq: u16, txq: u16, pool: &Mempool, mtu: u16, socket: i32) -> Result<Port, DpdkError> {
        let id = Self::find(name)?;
        let mut conf: dpdk_sys::rte_eth_conf = Default::default();
        if rxq > 1 {
            conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            let mut info: dpdk_sys::rte_eth_dev_info = Default::default();
            // SAFETY: valid port id and out-pointer.
            unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
            // SAFETY: returns a constant.
            conf.rx_adv_conf.rss_conf.rss_hf = unsafe { dpdk_sys::roagent_rss_ip() } & info.flow_type_rss_offloads;
        }
        // SAFETY: valid port id and configuration.
        let rc = unsafe { dpdk_sys::rte_eth_dev_configure(id, rxq, txq, &conf) };
        if rc != 0 {
            return Err(DpdkError { call: "rte_eth_dev_configure", code: rc });
        }
        let (mut nrx, mut ntx) = (1024u16, 1024u16);
        // SAFETY: valid port id and out-pointers.
        unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx) };
        for q in 0..rxq {
            // SAFETY: configured port, valid pool; default queue configuration.
            let rc = unsafe { dpdk_sys::rte_eth_rx_queue_setup(id, q, nrx, socket as u32, std::ptr::null(), pool.as_ptr()) };
            if rc != 0 {
                return Err(DpdkError { call: "rte_eth_rx_queue_setup", code: rc });
            }
        }
        for q in 0..txq {
            // SAFETY: configured port; default queue configuration.
            let rc = unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, ntx, socket as u32, std::ptr::null()) };
            if rc != 0 {
                return Err(DpdkError { call: "rte_eth_tx_queue_setup", code: rc });
            }
        }
        if mtu != 1500 {
            // SAFETY: valid port id.
            let rc = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) };
            if rc != 0 && rc != -(libc::ENOTSUP) {
                return Err(DpdkError { call: "rte_eth_dev_set_mtu", code: rc });
            }
        }
        // SAFETY: valid port id.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(id) };
        if rc != 0 {
            return Err(DpdkError { call: "rte_eth_dev_start", code: rc });
        }
        // Frames to solicited-node multicast and to our MAC must all reach us; unicast
        // frames for other hosts are dropped and counted by the worker.
        // SAFETY: valid, started port. Not every PMD supports it; that is fine.
        unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        let mut mac: dpdk_sys::rte_ether_addr = Default::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut mac) };
        Ok(Port { id, name: name.to_string(), mac: mac.addr_bytes, rx_queues: rxq, tx_queues: txq })
    }

    pub fn rx_queue(&self, q: u16) -> RxQueue {
        assert!(q < self.rx_queues);
        RxQueue { port: self.id, queue: q, _not_sync: PhantomData }
    }

    pub fn tx_queue(&self, q: u16) -> TxQueue {
        assert!(q < self.tx_queues);
        TxQueue { port: self.id, queue: q, _not_sync: PhantomData }
    }

    pub fn stats(&self) -> PortStats {
        Self::stats_of(self.id)
    }

    /// The driver's counters of port `id` (readable from any thread while it runs).
    pub fn stats_of(id: u16) -> PortStats {
        let mut s: dpdk_sys::rte_eth_stats = Default::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { dpdk_sys::rte_eth_stats_get(id, &mut s) };
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Whether the driver reports port `id`'s link up, without waiting (readable from any
    /// thread while it runs; not for the worker loop: some drivers read registers or take a
    /// lock). `None` if the driver cannot say. Drivers on Linux interfaces may not follow the
    /// carrier: `net_af_packet` (22.11) reports up from start to stop (see [`LinkProbe`]).
    pub fn link_up_of(id: u16) -> Option<bool> {
        let mut l: dpdk_sys::rte_eth_link = Default::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(id, &mut l) };
        (rc == 0).then(|| l.link_status() != 0)
    }

    /// Stops and closes the port (shutdown; queues must no longer be polled).
    pub fn stop(&self) {
        // SAFETY: valid port id; workers have returned.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// How a port's link state is read: the driver's, and for a port on a Linux interface
/// (`net_af_packet`, `net_pcap` with `iface=`, whose drivers do not follow the carrier) that
/// interface's `operstate` too. Read by the metrics thread and the control core's tick,
/// never by a worker (a sysfs read is a syscall).
#[derive(Clone, Debug)]
pub struct LinkProbe {
    pub port: u16,
    /// The Linux interface under the port, if any.
    pub iface: Option<String>,
}

impl LinkProbe {
    /// Up, down, or `None` when neither the driver nor the kernel can say.
    pub fn up(&self) -> Option<bool> {
        let kernel = self.iface.as_deref().and_then(|i| std::fs::read_to_string(format!("/sys/class/net/{i}/operstate")).ok());
        link_state(Port::link_up_of(self.port), kernel.as_deref())
    }
}

/// The driver's link state and the kernel interface's `operstate` (if read) as one: down if
/// either says down.
pub fn link_state(driver: Option<bool>, operstate: Option<&str>) -> Option<bool> {
    // RFC 2863 ifOperStatus names, as /sys/class/net/*/operstate gives them.
    let kernel = match operstate.map(str::trim) {
        Some("up") => Some(true),
        Some("down" | "lowerlayerdown" | "notpresent" | "dormant") => Some(false),
        _ => None,
    };
    match (driver, kernel) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), _) | (_, Some(true)) => Some(true),
        (None, None) => None,
    }
}

/// One RX queue of one port, owned by one core.
pub struct RxQueue {
    pub port: u16,
    pub queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: a queue may move to the lcore that will poll it; !Sync keeps it single-threaded.
unsafe impl Send for RxQueue {}

impl RxQueue {
    #[inline(always)]
    pub fn rx_burst(&mut self, pkts: &mut [*mut rte_mbuf; BURST]) -> usize {
        // SAFETY: this queue is polled by this thread only; the array has BURST slots.
        unsafe { dpdk_sys::rte_eth_rx_burst(self.port, self.queue, pkts.as_mut_ptr(), BURST as u16) as usize }
    }
}

/// A worker's RX queue of each port, indexed by port role: where its bursts come from.
pub struct RxQueues([RxQueue; 2]);

impl RxQueues {
    pub fn new(queues: [RxQueue; 2]) -> RxQueues {
        RxQueues(queues)
    }

    #[inline(always)]
    pub fn burst(&mut self, role: Role, pkts: &mut [*mut rte_mbuf; BURST]) -> usize {
        self.0[role].rx_burst(pkts)
    }
}

/// One TX queue of one port, owned by one core, with its burst buffer.
pub struct TxQueue {
    pub port: u16,
    pub queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: as RxQueue.
unsafe impl Send for TxQueue {}

impl TxQueue {
    /// Sends `pkts`; returns how many the driver took. The caller owns the rest.
    #[inline(always)]
    pub fn tx_burst(&mut self, pkts: &mut [*mut rte_mbuf]) -> usize {
        // SAFETY: this queue is used by this thread only; the mbufs are ours to hand over.
        unsafe { dpdk_sys::rte_eth_tx_burst(self.port, self.queue, pkts.as_mut_ptr(), pkts.len() as u16) as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::link_state;

    #[test]
    fn either_down_is_down() {
        assert_eq!(link_state(Some(true), None), Some(true));
        assert_eq!(link_state(Some(true), Some("down\n")), Some(false));
        assert_eq!(link_state(Some(true), Some("lowerlayerdown\n")), Some(false));
        assert_eq!(link_state(Some(false), Some("up\n")), Some(false));
        assert_eq!(link_state(None, Some("up\n")), Some(true));
        assert_eq!(link_state(Some(true), Some("unknown\n")), Some(true));
        assert_eq!(link_state(None, Some("unknown\n")), None);
    }
}
