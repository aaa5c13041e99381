//! The worker loop: one EAL lcore polls its RX queue of each port, decides per packet
//! (`forward`), and sends in bursts on its own TX queue of each port. No lock, no allocation,
//! no syscall, no shared read-modify-write: counters are this core's own.

use crate::bindings::{Key, Pending, Reader};
use crate::counters::{Drop, Role, WorkerCounters};
use crate::forward::{self, Bindings, Topology, Verdict};
use crate::mbuf::Mbuf;
use crate::port::TxQueue;
use crate::ring;
use crate::{rdtsc, BURST};
use dpdk_sys::rte_mbuf;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// Packs a punt reason and port role into the mbuf tag.
#[inline(always)]
pub fn punt_tag(why: crate::counters::Punt, role: Role) -> u32 {
    (role.bit() << 8) | why as u32
}

/// Unpacks a tag written by [`punt_tag`].
pub fn untag(tag: u32) -> (Option<crate::counters::Punt>, Role) {
    let why = crate::counters::Punt::ALL.get((tag & 0xff) as usize).copied();
    (why, Role::from_bit(tag >> 8))
}

#[cfg(feature = "bench")]
pub use crate::generator::Rx;
/// Where a worker's bursts come from, by port role: its RX queue of each port. A build with
/// the `bench` feature uses `generator::Rx` instead, which can put an in-process generator in
/// place of one of them; the product's worker loop has no such branch.
#[cfg(not(feature = "bench"))]
pub use crate::port::RxQueues as Rx;

/// Everything one worker owns.
pub struct Worker {
    pub id: usize,
    pub rx: Rx,
    /// Indexed by port role.
    pub tx: [TxQueue; 2],
    /// Packets for the control core.
    pub to_control: ring::Producer,
    /// Packets from the control core to send; their tag says the role of the port to use.
    pub from_control: ring::Consumer,
    pub counters: Arc<WorkerCounters>,
    pub topo: Arc<Topology>,
    pub stop: Arc<AtomicBool>,
    /// This worker's reader of the binding table.
    pub bindings: Reader,
    /// This worker's punt budget.
    pub policer: crate::policer::Policer,
}

/// A worker's lookups with the hash computed (and the lines requested) earlier in the burst.
struct Hinted<'a> {
    r: &'a Reader,
    hint: &'a Option<Pending>,
}

impl Bindings for Hinted<'_> {
    #[inline(always)]
    fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
        match self.hint {
            Some(p) => self.r.finish(p, &Key::new(home, attached)),
            None => self.r.lookup(home, attached),
        }
    }
    #[inline(always)]
    fn is_peer(&self, addr: &[u8; 16]) -> bool {
        self.r.is_peer(addr)
    }
}

struct TxBuf {
    pkts: [*mut rte_mbuf; BURST],
    len: usize,
}

impl Worker {
    /// Polls until `stop` is set, then flushes and returns 0.
    pub fn run(mut self) -> i32 {
        let mut rx_pkts: [*mut rte_mbuf; BURST] = [std::ptr::null_mut(); BURST];
        let mut txb = [TxBuf { pkts: [std::ptr::null_mut(); BURST], len: 0 }, TxBuf { pkts: [std::ptr::null_mut(); BURST], len: 0 }];
        let c = self.counters.clone();
        let topo = self.topo.clone();
        self.bindings.online();
        while !self.stop.load(Relaxed) {
            // Nothing read from the binding table survives from the previous iteration.
            self.bindings.quiescent();
            let t0 = rdtsc();
            let mut got = 0;
            for role in Role::ALL {
                let n = self.rx.burst(role, &mut rx_pkts);
                if n == 0 {
                    continue;
                }
                got += n;
                c.rx_packets[role].add(n as u64);
                let rx = &rx_pkts[..n];
                // The binding lookups of a burst in three passes (VPP-style), so the misses
                // to the bucket and entry lines of a large table overlap instead of adding
                // up: (1) hash each packet's key and request its bucket; (2) request the
                // entries its bucket points to; (3) decide and rewrite.
                // Not zeroed (a 2 KiB memset per burst): pass 1 writes hints[..n].
                let mut hints = [const { MaybeUninit::<Option<Pending>>::uninit() }; BURST];
                let mut rx_bytes = 0;
                for (&raw, hint) in rx.iter().zip(hints.iter_mut()) {
                    // SAFETY: a valid mbuf from the driver, viewed without taking it.
                    let m = std::mem::ManuallyDrop::new(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) });
                    rx_bytes += m.len() as u64;
                    let d = m.data();
                    let key = if role == Role::Access { forward::uplink_key(d) } else { forward::downlink_key(d) };
                    hint.write(key.map(|(home, attached)| self.bindings.start(Key::new(home, attached))));
                }
                c.rx_bytes[role].add(rx_bytes);
                // SAFETY: pass 1 initialised the first n (rx and hints zip to n).
                let hints = unsafe { &mut *(&mut hints[..n] as *mut [MaybeUninit<Option<Pending>>] as *mut [Option<Pending>]) };
                for p in hints.iter_mut().flatten() {
                    self.bindings.advance(p);
                }
                for (&raw, hint) in rx.iter().zip(hints.iter()) {
                    // SAFETY: the driver handed us n valid mbufs; each is taken once.
                    let mut m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) };
                    let b = Hinted { r: &self.bindings, hint };
                    let v = if m.segments() != 1 {
                        Verdict::Drop(Drop::MultiSegment)
                    } else if role == Role::Access {
                        forward::uplink(&topo, &b, &c, &mut m)
                    } else {
                        forward::downlink(&topo, &b, &c, &mut m)
                    };
                    self.act(v, role, m, &mut txb, t0);
                }
            }
            // Replies and resolved packets from the control core.
            let n = self.from_control.pop_burst(&mut rx_pkts);
            for &p in &rx_pkts[..n] {
                // SAFETY: dequeued from our ring, so ours.
                let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) };
                let role = Role::from_bit(m.tag());
                c.injected.inc();
                self.queue_tx(role, m, &mut txb);
            }
            got += n;
            for role in Role::ALL {
                self.flush(role, &mut txb[role]);
            }
            if got > 0 {
                c.polls_busy.inc();
                c.busy_cycles.add(rdtsc().wrapping_sub(t0));
            } else {
                c.polls_idle.inc();
            }
        }
        for role in Role::ALL {
            self.flush(role, &mut txb[role]);
        }
        // Whatever the control core queued after the last poll is freed, not leaked.
        self.from_control.drain();
        self.bindings.offline();
        0
    }

    #[inline(always)]
    fn act(&mut self, v: Verdict, in_role: Role, mut m: Mbuf, txb: &mut [TxBuf; 2], now: u64) {
        let c = &self.counters;
        match v {
            Verdict::Forward(role) => self.queue_tx(role, m, txb),
            Verdict::Drop(why) => c.dropped(in_role, why),
            Verdict::Punt(why, _) if !self.policer.admit(why, now) => {
                // Freed here, into this lcore's mempool cache (`policer`).
                c.policed[why as usize].inc();
                c.dropped(in_role, Drop::PuntPoliced);
            }
            Verdict::Punt(why, role) => {
                c.punts[why as usize].inc();
                m.set_tag(punt_tag(why, role));
                if self.to_control.push(m).is_err() {
                    c.dropped(in_role, Drop::RingFull);
                }
            }
        }
    }

    #[inline(always)]
    fn queue_tx(&mut self, role: Role, m: Mbuf, txb: &mut [TxBuf; 2]) {
        let b = &mut txb[role];
        if b.len == BURST {
            self.flush(role, b);
        }
        self.counters.tx_bytes[role].add(m.len() as u64);
        b.pkts[b.len] = m.into_raw();
        b.len += 1;
    }

    #[inline(always)]
    fn flush(&mut self, role: Role, b: &mut TxBuf) {
        if b.len == 0 {
            return;
        }
        let sent = self.tx[role].tx_burst(&mut b.pkts[..b.len]);
        let c = &self.counters;
        c.tx_packets[role].add(sent as u64);
        for &p in &b.pkts[sent..b.len] {
            // SAFETY: the driver did not take these; they are still ours.
            let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) };
            c.tx_bytes[role].add(0u64.wrapping_sub(m.len() as u64));
            c.dropped(role, Drop::TxFull);
        }
        b.len = 0;
    }
}
