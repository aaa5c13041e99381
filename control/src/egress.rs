//! The seam between the control plane's decisions and the outside world. The control plane
//! performs no I/O (quinn-proto's model): it is handed a frame, its port role and the time,
//! and it says what to send and what to change through an [`Egress`]. The DPDK side
//! (`control_core`) implements it with mbufs, inject rings and the workers' binding table;
//! the unit tests implement it with `Vec<u8>` (`testing::Recorder`).

use dataplane::attached::Registration;
use dataplane::counters::Role;
use dataplane::forward::PacketBuf;
use std::net::Ipv6Addr;
use wire::ethernet::MacAddr;

/// A workers' table refused an entry (full, or for the binding table both buckets of the
/// key full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

pub trait Egress {
    /// A frame buffer: an mbuf on the DPDK side.
    type Buf: PacketBuf;

    /// A fresh buffer whose data spans all its room; `None` when none is free.
    fn alloc(&mut self) -> Option<Self::Buf>;

    /// Sends `frame` (a whole Ethernet frame) out of the port with `role`.
    fn send(&mut self, role: Role, frame: Self::Buf);

    /// Neighbor table changes (the workers read them): the next hop in `slot` is at `mac`;
    /// is at `mac`, watched (its entry is STALE: a worker seeing its traffic clears the mark,
    /// `dataplane::neighbor`); is unknown again (its packets are punted for resolution).
    fn learn_neighbor(&mut self, slot: usize, mac: MacAddr);
    fn watch_neighbor(&mut self, slot: usize, mac: MacAddr);
    fn forget_neighbor(&mut self, slot: usize);

    /// Binding table changes: (home address, attached node) → care-of address, published to
    /// the workers' fast path.
    fn upsert_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), TableFull>;
    fn remove_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr);

    /// Attached-node table changes (PMIPv6): attached node `node` owns the /64 whose top 64
    /// bits are `prefix64` (after a status-0 PBA), or no longer any.
    fn install_route(&mut self, node: u32, prefix64: u64) -> Result<(), TableFull>;
    fn withdraw_route(&mut self, node: u32);
    /// What the workers do with a node's frames while it has no route: punt the first one
    /// (`Idle`, it starts a registration) or drop them (`Registering`).
    fn set_registration(&mut self, node: u32, r: Registration);
}

/// A frame from `from_mac` to `to_mac` whose IPv6 packet `build` writes after the Ethernet
/// header (returning its length); `None` without a buffer (counted in `no_mbuf`) or if
/// `build` fails.
pub fn build_frame<E: Egress>(
    out: &mut E,
    to_mac: MacAddr,
    from_mac: MacAddr,
    build: impl FnOnce(&mut [u8]) -> wire::Result<usize>,
    no_mbuf: &dataplane::counters::Counter,
) -> Option<E::Buf> {
    let Some(mut m) = out.alloc() else {
        no_mbuf.inc();
        return None;
    };
    let data = m.data_mut();
    let n = build(data.get_mut(wire::ethernet::HEADER_LEN..)?).ok()?;
    wire::ethernet::write_header(data, to_mac, from_mac, wire::ethernet::ETHERTYPE_IPV6).ok()?;
    m.truncate(wire::ethernet::HEADER_LEN + n);
    Some(m)
}
