//! BENCH ONLY (`scripts/bench --generator`; compiled only with the `bench` feature): an
//! in-process traffic source that a worker polls in place of one port's `rx_burst`. It allocates a burst from the mempool, copies a
//! template frame into each mbuf and stamps a key into it, as `dpdk-testpmd --forward-mode=
//! txonly` builds its packets, so testpmd txonly on the same virtual devices is its
//! baseline. A pcap cannot carry millions of distinct keys (net_pcap keeps one mbuf per
//! frame); this can. Everything after the source is the production worker path.

use crate::counters::Role;
use crate::mbuf::Mbuf;
use crate::mempool::Mempool;
use crate::port::{RxQueue, RxQueues};
use crate::BURST;
use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;
use std::sync::Arc;

/// A worker's RX side in a bench build (`worker::Rx`): its queues, with a generator that can
/// stand in for the queue of one port role.
pub struct Rx {
    queues: RxQueues,
    generator: Option<(Role, Generator)>,
}

impl Rx {
    pub fn new(queues: [RxQueue; 2]) -> Rx {
        Rx { queues: RxQueues::new(queues), generator: None }
    }

    /// `generator` (if any) replaces the RX queue of its port role.
    pub fn with_generator(self, generator: Option<(Role, Generator)>) -> Rx {
        Rx { generator, ..self }
    }

    #[inline(always)]
    pub fn burst(&mut self, role: Role, pkts: &mut [*mut rte_mbuf; BURST]) -> usize {
        match &mut self.generator {
            Some((r, g)) if *r == role => g.burst(pkts),
            _ => self.queues.burst(role, pkts),
        }
    }
}

pub struct Generator {
    pool: Arc<Mempool>,
    template: Vec<u8>,
    /// Offsets of the 8-byte interface identifiers that carry the key.
    stamps: Vec<usize>,
    /// The identifiers to stamp, in order, cycled; a power-of-two length.
    keys: Box<[u64]>,
    next: usize,
    port: u16,
}

impl Generator {
    /// `template` with the key's interface identifier at each of `stamps`; packets appear
    /// to arrive on `port`. `keys` is cut to a power of two.
    pub fn new(pool: Arc<Mempool>, template: Vec<u8>, stamps: Vec<usize>, mut keys: Vec<u64>, port: u16) -> Result<Generator, String> {
        if keys.is_empty() || stamps.iter().any(|&o| o + 8 > template.len()) {
            return Err("bench generator: no keys, or a stamp outside the template".into());
        }
        keys.truncate(1 << keys.len().ilog2());
        Ok(Generator { pool, template, stamps, keys: keys.into_boxed_slice(), next: 0, port })
    }

    /// Fills `out` with a burst of fresh packets; 0 when the pool is empty.
    #[inline]
    pub fn burst(&mut self, out: &mut [*mut rte_mbuf; BURST]) -> usize {
        // SAFETY: a valid pool and room for BURST pointers; on success each is an mbuf we own.
        if unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(self.pool.as_ptr(), out.as_mut_ptr(), BURST as u32) } != 0 {
            return 0;
        }
        let mask = self.keys.len() - 1;
        for &raw in out.iter() {
            // SAFETY: freshly allocated above; handed on to the caller, so not dropped here.
            let mut m = std::mem::ManuallyDrop::new(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) });
            if !m.append(self.template.len()) {
                continue;
            }
            m.set_port(self.port);
            let d = m.data_mut();
            d.copy_from_slice(&self.template);
            let key = self.keys[self.next & mask].to_be_bytes();
            self.next = self.next.wrapping_add(1);
            for &o in &self.stamps {
                d[o..o + 8].copy_from_slice(&key);
            }
        }
        BURST
    }
}
