//! The control core (main lcore), the DPDK side of the control plane: it takes what the
//! workers punted from their rings, hands each packet to the sans-IO [`ControlPlane`], and
//! carries out its answers with mbufs: frames go to a worker's inject ring (the worker owns
//! the TX queues), binding changes to the workers' table. No protocol decision is made here.

use crate::agent::Agent;
use crate::config::Config;
use crate::control_plane::ControlPlane;
use crate::counters::ControlCounters;
use crate::egress::{Egress, TableFull};
use crate::registration::Registrations;
use dataplane::attached::Registration;
use dataplane::bindings;
use dataplane::counters::Role;
use dataplane::forward::Topology;
use dataplane::mbuf::Mbuf;
use dataplane::mempool::Mempool;
use dataplane::ring;
use dataplane::worker::untag;
use std::net::Ipv6Addr;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;
use wire::ethernet::MacAddr;

/// The control plane's [`Egress`] on DPDK.
pub struct Dpdk {
    pool: Arc<Mempool>,
    to_workers: Vec<ring::Producer>,
    next_worker: usize,
    topo: Arc<Topology>,
    /// The workers' binding table; the control core is its only writer.
    pub table: bindings::Writer,
    counters: Arc<ControlCounters>,
}

impl Egress for Dpdk {
    type Buf = Mbuf;

    fn alloc(&mut self) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        let room = m.tailroom();
        m.append(room).then_some(m)
    }

    /// To the workers in turn; the tag tells the worker which port to send on.
    fn send(&mut self, role: Role, mut m: Mbuf) {
        if self.to_workers.is_empty() {
            return;
        }
        m.set_tag(role.bit());
        let w = self.next_worker % self.to_workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        if self.to_workers[w].push(m).is_err() {
            self.counters.inject_full.inc();
        }
    }

    fn learn_neighbor(&mut self, slot: usize, mac: MacAddr) {
        self.topo.neighbors.learn(slot, mac);
    }

    fn watch_neighbor(&mut self, slot: usize, mac: MacAddr) {
        self.topo.neighbors.watch(slot, mac);
    }

    fn forget_neighbor(&mut self, slot: usize) {
        self.topo.neighbors.forget(slot);
    }

    fn upsert_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), TableFull> {
        self.table.upsert(home, attached, care_of).map_err(|_| TableFull)
    }

    fn remove_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr) {
        self.table.remove(home, attached);
    }

    fn install_route(&mut self, node: u32, prefix64: u64) -> Result<(), TableFull> {
        self.topo.attached.install(node, prefix64).map_err(|_| TableFull)
    }

    fn withdraw_route(&mut self, node: u32) {
        self.topo.attached.withdraw(node);
    }

    fn set_registration(&mut self, node: u32, r: Registration) {
        if let Some(n) = self.topo.attached.node(node) {
            n.set_registration(r);
        }
    }
}

pub struct ControlCore {
    pub plane: ControlPlane<Mbuf>,
    pub io: Dpdk,
    from_workers: Vec<ring::Consumer>,
}

impl ControlCore {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topo: Arc<Topology>,
        pool: Arc<Mempool>,
        from_workers: Vec<ring::Consumer>,
        to_workers: Vec<ring::Producer>,
        settings: crate::links::Settings,
        agent: Agent,
        registrations: Option<Registrations>,
        table: bindings::Writer,
    ) -> Self {
        let plane = ControlPlane::new(topo.clone(), settings, agent, registrations);
        let io = Dpdk { pool, to_workers, next_worker: 0, topo, table, counters: plane.links.counters.clone() };
        ControlCore { plane, io, from_workers }
    }

    /// Handles everything the workers punted; returns how many packets that was.
    pub fn poll(&mut self, now: Duration) -> usize {
        let mut buf = [std::ptr::null_mut(); dataplane::BURST];
        let mut total = 0;
        for w in 0..self.from_workers.len() {
            let n = self.from_workers[w].pop_burst(&mut buf);
            for &p in &buf[..n] {
                // SAFETY: dequeued from our ring, so ours.
                let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) };
                let (why, role) = untag(m.tag());
                self.plane.on_packet(now, why, role, m, &mut self.io);
            }
            total += n;
        }
        total
    }

    /// The plane's timers, then the binding table's deferred frees (after a grace period).
    pub fn tick(&mut self, now: Duration) {
        // The workers' coarse clock, for the nodes' activity stamps.
        self.io.topo.set_clock(now.as_secs() as u32);
        self.plane.tick(now, &mut self.io);
        self.io.table.reclaim();
    }

    /// SIGHUP: applies what of `new` can change while running (see `reload`).
    pub fn reload(&mut self, now: Duration, running: &Config, new: &Config) {
        let purge = crate::reload::apply(self.plane.topo(), running, new);
        let topo = self.plane.topo().clone();
        let (removed, agent_off): (Vec<u32>, Vec<u32>) =
            purge.into_iter().partition(|&i| topo.attached.node(i).is_some_and(|n| !n.attached.load(std::sync::atomic::Ordering::Relaxed)));
        self.plane.remove_nodes(now, &removed, &mut self.io);
        self.plane.purge_nodes(now, &agent_off, &mut self.io);
    }

    /// The workers have stopped (shutdown): nobody will poll the inject rings again, so what
    /// the control plane sends from now on is freed instead of queued there (leaked).
    pub fn workers_stopped(&mut self) {
        self.io.to_workers.clear();
    }

    /// Frees everything still queued or held (shutdown).
    pub fn drain(&mut self) {
        for c in &mut self.from_workers {
            c.drain();
        }
        self.plane.drain();
    }
}
