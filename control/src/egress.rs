//! The seam between the control plane's decisions and the outside world. The control plane
//! performs no I/O (quinn-proto's model): it is handed a frame, its port role and the time,
//! and it says what to send and what to change through an [`Egress`]. The DPDK side
//! (`control_core`) implements it with mbufs, inject rings and the workers' binding table;
//! the unit tests implement it with `Vec<u8>` ([`testing::Recorder`]).

use dataplane::counters::Role;
use dataplane::forward::PacketBuf;
use std::net::Ipv6Addr;
use wire::ethernet::MacAddr;

/// The workers' binding table refused an entry (full, or both buckets of the key full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

pub trait Egress {
    /// A frame buffer: an mbuf on the DPDK side.
    type Buf: PacketBuf;

    /// A fresh buffer whose data spans all its room; `None` when none is free.
    fn alloc(&mut self) -> Option<Self::Buf>;

    /// Sends `frame` (a whole Ethernet frame) out of the port with `role`.
    fn send(&mut self, role: Role, frame: Self::Buf);

    /// Neighbor table change: the next hop in `slot` is at `mac` (the workers read it).
    fn learn_neighbor(&mut self, slot: usize, mac: MacAddr);

    /// Binding table changes: (home address, attached node) → care-of address, published to
    /// the workers' fast path.
    fn upsert_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), TableFull>;
    fn remove_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr);
}

#[cfg(test)]
pub mod testing {
    //! An [`Egress`] on plain buffers that records everything, for the unit tests.

    use super::*;
    use dataplane::forward::Topology;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A frame in a `Vec` with room in front, as an mbuf has.
    #[derive(Clone, Debug)]
    pub struct TestBuf {
        buf: Vec<u8>,
        start: usize,
    }

    const HEADROOM: usize = 128;
    /// The data room of the DPDK side's mbufs (RTE_MBUF_DEFAULT_DATAROOM).
    pub const ROOM: usize = 2048;

    impl TestBuf {
        pub fn from_frame(frame: &[u8]) -> TestBuf {
            let mut buf = vec![0u8; HEADROOM];
            buf.extend_from_slice(frame);
            TestBuf { buf, start: HEADROOM }
        }
    }

    impl PacketBuf for TestBuf {
        fn data(&self) -> &[u8] {
            &self.buf[self.start..]
        }
        fn data_mut(&mut self) -> &mut [u8] {
            &mut self.buf[self.start..]
        }
        fn prepend(&mut self, n: usize) -> bool {
            if n > self.start {
                return false;
            }
            self.start -= n;
            true
        }
        fn adj(&mut self, n: usize) -> bool {
            if n > self.buf.len() - self.start {
                return false;
            }
            self.start += n;
            true
        }
        fn truncate(&mut self, len: usize) {
            self.buf.truncate(self.start + len);
        }
    }

    /// Records what the control plane sends and changes. Neighbor changes are also applied
    /// to the topology's cache, as the DPDK side does, so later decisions see them.
    pub struct Recorder {
        pub topo: Arc<Topology>,
        pub sent: Vec<(Role, Vec<u8>)>,
        pub learned: Vec<(usize, MacAddr)>,
        pub bindings: HashMap<(Ipv6Addr, Ipv6Addr), Ipv6Addr>,
        /// Buffers left to hand out (`None`: unlimited).
        pub buffers: Option<usize>,
        /// The binding table takes no more than this.
        pub table_cap: usize,
    }

    impl Recorder {
        pub fn new(topo: Arc<Topology>) -> Recorder {
            Recorder { topo, sent: Vec::new(), learned: Vec::new(), bindings: HashMap::new(), buffers: None, table_cap: usize::MAX }
        }

        /// Takes the frames sent so far.
        pub fn take(&mut self) -> Vec<(Role, Vec<u8>)> {
            std::mem::take(&mut self.sent)
        }
    }

    impl Egress for Recorder {
        type Buf = TestBuf;

        fn alloc(&mut self) -> Option<TestBuf> {
            if let Some(n) = &mut self.buffers {
                *n = n.checked_sub(1)?;
            }
            Some(TestBuf { buf: vec![0; HEADROOM + ROOM], start: HEADROOM })
        }

        fn send(&mut self, role: Role, frame: TestBuf) {
            self.sent.push((role, frame.data().to_vec()));
        }

        fn learn_neighbor(&mut self, slot: usize, mac: MacAddr) {
            self.topo.neighbors.learn(slot, mac);
            self.learned.push((slot, mac));
        }

        fn upsert_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), TableFull> {
            if !self.bindings.contains_key(&(*home, *attached)) && self.bindings.len() >= self.table_cap {
                return Err(TableFull);
            }
            self.bindings.insert((*home, *attached), *care_of);
            Ok(())
        }

        fn remove_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr) {
            self.bindings.remove(&(*home, *attached));
        }
    }
}
