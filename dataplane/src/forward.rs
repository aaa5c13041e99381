//! The per-packet forwarding decisions of a PMIPv6 MAG (RFC 5213 §6.10.5), generic over the
//! packet buffer so they run on an mbuf in the worker and on a `Vec` in unit tests.
//!
//! Uplink (access → core): from an attached node, encapsulated to its LMA (or routed).
//! Downlink (core → access): decapsulated from a known LMA, delivered to an attached node.
//! ND, packets for the MAG and errors that need an ICMPv6 answer are punted to the control core.

use crate::attached::{AttachedTable, Registration};
use crate::counters::{Drop, Punt, Role, WorkerCounters};
use crate::neighbor::NeighborCache;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use wire::addr::{is_link_local_u128, is_multicast_u128};
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::{ext, hao, ipv6, nd, rh2, tunnel};

/// The binding lookup the forwarding decisions need: the care-of address bound to
/// (home address, attached-node address). The worker's answers from the lookups its burst
/// passes started (`worker::Hinted`).
pub trait Bindings {
    fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]>;
    /// Whether `addr` may be a bound peer's home or care-of address (`peers`).
    fn is_peer(&self, addr: &[u8; 16]) -> bool;
}

/// A packet buffer with room to grow at the front.
pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet at the front by `n` bytes; false if there is no room.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> bool;
    fn truncate(&mut self, len: usize);
}

impl PacketBuf for crate::mbuf::Mbuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        crate::mbuf::Mbuf::data(self)
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        crate::mbuf::Mbuf::data_mut(self)
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> bool {
        crate::mbuf::Mbuf::prepend(self, n)
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        crate::mbuf::Mbuf::adj(self, n)
    }
    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        crate::mbuf::Mbuf::truncate(self, len)
    }
}

/// A packet in a `Vec` with room in front, as an mbuf has (unit tests and tools; the worker
/// uses mbufs).
#[derive(Clone, Debug)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
}

impl VecBuf {
    /// Headroom in front of the data, as RTE_PKTMBUF_HEADROOM.
    pub const HEADROOM: usize = 128;

    /// `frame` with [`VecBuf::HEADROOM`] bytes of room in front.
    pub fn new(frame: &[u8]) -> VecBuf {
        let mut buf = vec![0u8; Self::HEADROOM];
        buf.extend_from_slice(frame);
        VecBuf { buf, start: Self::HEADROOM }
    }

    /// `len` zero bytes of data (a fresh buffer whose data spans its room).
    pub fn zeroed(len: usize) -> VecBuf {
        VecBuf { buf: vec![0; Self::HEADROOM + len], start: Self::HEADROOM }
    }
}

impl PacketBuf for VecBuf {
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

/// How uplink traffic leaves the MAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// IPv6-in-IPv6 to the node's LMA (RFC 5213).
    Tunnel,
    /// Plain routing to the core next hop (labs).
    Routed,
}

/// How the MAG learns its mobile nodes' prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signaling {
    /// From the configuration, at start.
    Static,
    /// From the LMA (RFC 5213 Proxy Binding Acknowledgements): run-time routes in the
    /// attached table (sized by `AttachedTable::size_routes`), nodes known by MAC first.
    Pmipv6,
}

/// Everything the workers need to know about the MAG's links. Immutable after start, except
/// the neighbor cache, the clock and the attached nodes' state (single-word atomics) and the
/// run-time routes (`routes`).
pub struct Topology {
    pub mode: Mode,
    pub signaling: Signaling,
    /// Coarse seconds, written by the control core on its ticks ([`Topology::set_clock`]),
    /// stamped into a node's `last_seen` by the workers.
    pub clock: AtomicU32,
    /// The MAG's proxy care-of address and its link-local address on the access link.
    pub own: OwnAddresses,
    pub access_mac: MacAddr,
    pub core_mac: MacAddr,
    pub access_mtu: usize,
    pub core_mtu: usize,
    /// LMA addresses; a node's `lma` indexes this.
    pub lmas: Vec<Ipv6Addr>,
    /// The core next hop toward each LMA (often the LMA itself), and in routed mode the
    /// default next hop as the last entry.
    pub core_next_hops: Vec<Ipv6Addr>,
    pub tunnel_hop_limit: u8,
    pub attached: AttachedTable,
    /// Link-layer addresses: attached nodes first (by node index), then core next hops.
    pub neighbors: NeighborCache,
}

impl Topology {
    /// Control core: the clock is now `secs`. Stored only when it changes, so the workers'
    /// copy of the line stays valid within a second.
    pub fn set_clock(&self, secs: u32) {
        if self.clock.load(Relaxed) != secs {
            self.clock.store(secs, Relaxed);
        }
    }

    /// Neighbor-cache slot of core next hop `i`.
    #[inline(always)]
    pub fn core_slot(&self, i: usize) -> usize {
        self.attached.len() + i
    }

    /// An address of the MAG itself; `a` as a big-endian integer (the worker's form), and
    /// whether it is link-local, which the caller has checked anyway: the MAG has one
    /// link-local address and one global one (the config refuses anything else), so one
    /// compare, not two (callgrind: −5 per uplink packet).
    #[inline(always)]
    fn is_mine(&self, a: u128, link_local: bool) -> bool {
        a == self.own.ints[usize::from(link_local)]
    }

    pub fn lma_index(&self, a: &Ipv6Addr) -> Option<usize> {
        self.lmas.iter().position(|l| l == a)
    }
}

/// The MAG's own addresses, also as the big-endian integers the worker compares in
/// (converted per packet they cost two byte swaps per compare, callgrind). Made once from
/// the two addresses, so the two forms cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnAddresses {
    proxy_coa: Ipv6Addr,
    access_link_local: Ipv6Addr,
    /// `[proxy_coa, access_link_local]` as integers.
    ints: [u128; 2],
}

impl OwnAddresses {
    /// `proxy_coa`: global, the tunnel's end on the core link; `access_link_local`: the
    /// attached nodes' default router (both checked by the config).
    pub fn new(proxy_coa: Ipv6Addr, access_link_local: Ipv6Addr) -> OwnAddresses {
        OwnAddresses { proxy_coa, access_link_local, ints: [u128::from(proxy_coa), u128::from(access_link_local)] }
    }

    pub fn proxy_coa(&self) -> Ipv6Addr {
        self.proxy_coa
    }

    pub fn access_link_local(&self) -> Ipv6Addr {
        self.access_link_local
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of the port with this role.
    Forward(Role),
    Drop(Drop),
    /// Hand to the control core; the second field is the role of the port it would leave by
    /// (for `Unresolved`) or arrived on.
    Punt(Punt, Role),
}

const ETH: usize = ethernet::HEADER_LEN;

/// True for ICMPv6 Neighbor Discovery (RFC 4861 types 133–137) directly after the IPv6 header.
#[inline]
fn is_nd(ip: &[u8]) -> bool {
    ip.get(6) == Some(&ipv6::proto::ICMPV6) && ip.get(40).is_some_and(|t| nd::is_nd_type(*t))
}

/// The fixed IPv6 header fields the decisions use, read once (`wire`'s fast header check).
type Ip = ipv6::Fixed;

/// Checks the Ethernet and IPv6 headers common to both directions, trims link padding and
/// returns the IPv6 header. The source MAC is read where it is used ([`source_mac`]): kept
/// in a register across the decisions it cost the uplink ~8 instructions (callgrind).
#[inline(always)]
fn link_in(p: &mut impl PacketBuf, our_mac: &MacAddr) -> Result<Ip, Drop> {
    let d = p.data();
    let eth = d.first_chunk::<ETH>().ok_or(Drop::Runt)?;
    if u16::from_be_bytes([eth[12], eth[13]]) != ETHERTYPE_IPV6 {
        return Err(Drop::NotIpv6);
    }
    // Unicast to another MAC: compared as two integers rather than byte slices.
    let mac = |m: &[u8]| (u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), u16::from_ne_bytes([m[4], m[5]]));
    if eth[0] & 1 == 0 && mac(&eth[..6]) != mac(our_mac) {
        return Err(Drop::NotForUs);
    }
    let ip = Ip::parse(&d[ETH..]).ok_or(Drop::Ipv6Malformed)?;
    p.truncate(ETH + ipv6::HEADER_LEN + ip.payload_len);
    Ok(ip)
}

/// The source MAC of a frame [`link_in`] accepted (so at least an Ethernet header long).
#[inline(always)]
fn source_mac(frame: &[u8]) -> MacAddr {
    frame.get(6..12).and_then(|m| m.try_into().ok()).unwrap_or([0; 6])
}

/// Whether the extension-header chain of the frame's IPv6 packet does not parse. Out of
/// line and cold: few packets carry extension headers, and the walk inlined into the
/// forwarding decisions cost every packet ~25 instructions (callgrind).
#[cold]
#[inline(never)]
fn chain_is_malformed(frame: &[u8]) -> bool {
    frame.get(ETH..).is_none_or(|ip| ext::walk(ip).is_err())
}

/// Rewrites the Ethernet header for the next hop in neighbor slot `slot`, or punts.
#[inline(always)]
fn link_out(topo: &Topology, p: &mut impl PacketBuf, slot: usize, role: Role) -> Verdict {
    let our = if role == Role::Access { &topo.access_mac } else { &topo.core_mac };
    let next = topo.neighbors.get(slot);
    let Some(h) = p.data_mut().first_chunk_mut::<ETH>() else {
        return Verdict::Drop(Drop::Runt);
    };
    // Without a neighbor the destination stays zero; the source MAC is still needed by
    // whoever sends it later.
    h[..6].copy_from_slice(&next.unwrap_or([0; 6]));
    h[6..12].copy_from_slice(our);
    h[12..].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    match next {
        Some(_) => Verdict::Forward(role),
        None => Verdict::Punt(Punt::Unresolved, role),
    }
}

#[inline(always)]
fn decrement_hop_limit(p: &mut impl PacketBuf, hl: u8) {
    if let Some(b) = p.data_mut().get_mut(ETH + 7) {
        *b = hl - 1;
    }
}

/// Writes the tunnel's outer IPv6 header (RFC 2473 §3, RFC 5213 §6.10.5) into `o` for an
/// inner packet of `inner_len` bytes: our proxy care-of address to the LMA.
#[inline(always)]
fn write_outer(o: &mut [u8; ipv6::HEADER_LEN], topo: &Topology, lma: &Ipv6Addr, inner_len: usize, traffic_class: u8) {
    tunnel::write_outer(o, &topo.own.proxy_coa.octets(), &lma.octets(), topo.tunnel_hop_limit, inner_len, traffic_class);
}

/// Burst stage 1 (worker): the binding key an uplink frame would look up — (destination,
/// source) — read from fixed offsets without validation, so its bucket can be prefetched.
/// A wrong guess costs a prefetch; `uplink` decides with full checks.
#[inline(always)]
pub fn uplink_key(d: &[u8]) -> Option<(&[u8; 16], &[u8; 16])> {
    let ip = d.get(ETH..)?.first_chunk::<{ ipv6::HEADER_LEN }>()?;
    Some((ip[24..].first_chunk()?, ip[8..].first_chunk()?))
}

/// Burst stage 1 for a tunneled downlink frame whose inner packet carries the Home Address
/// option as MN1 sends it (the layout `strip_hao_canonical` handles): (home address, inner
/// destination). A peek like [`uplink_key`]; other layouts are not prefetched.
#[inline(always)]
pub fn downlink_key(d: &[u8]) -> Option<(&[u8; 16], &[u8; 16])> {
    const INNER: usize = ETH + ipv6::HEADER_LEN;
    let h = d.get(INNER..)?.first_chunk::<{ ipv6::HEADER_LEN + hao::DEST_OPTS_LEN }>()?;
    if h[6] != ipv6::proto::DEST_OPTS || h[ipv6::HEADER_LEN + 6] != hao::OPTION_TYPE {
        return None;
    }
    Some((h[ipv6::HEADER_LEN + 8..].first_chunk()?, h[24..].first_chunk()?))
}

/// A frame received on the access port.
#[inline]
pub fn uplink(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf) -> Verdict {
    let ip = match link_in(p, &topo.access_mac) {
        Ok(v) => v,
        Err(d) => return Verdict::Drop(d),
    };
    if is_multicast_u128(ip.dst) {
        return if is_nd(&p.data()[ETH..]) { Verdict::Punt(Punt::NeighborDiscovery, Role::Access) } else { Verdict::Drop(Drop::Unroutable) };
    }
    let link_local_dst = is_link_local_u128(ip.dst);
    if topo.is_mine(ip.dst, link_local_dst) {
        return Verdict::Punt(if is_nd(&p.data()[ETH..]) { Punt::NeighborDiscovery } else { Punt::ForUs }, Role::Access);
    }
    // RFC 5213 §6.10.5: a link-local source is never forwarded.
    if is_link_local_u128(ip.src) {
        return Verdict::Drop(Drop::LinkLocalSource);
    }
    if link_local_dst {
        return Verdict::Drop(Drop::Unroutable);
    }
    let Some(node) = topo.attached.lookup_u128(ip.src) else {
        return match topo.signaling {
            Signaling::Static => Verdict::Drop(Drop::UnknownSource),
            Signaling::Pmipv6 => unknown_source_pmipv6(topo, &source_mac(p.data())),
        };
    };
    topo.neighbors.learn_from_frame(node as usize, source_mac(p.data()), &c.neighbor_mac_mismatch);
    let (lma, agent) = match topo.attached.node(node) {
        Some(n) => {
            // PMIPv6 only: the activity stamp the control core's idle detection reads.
            if topo.signaling == Signaling::Pmipv6 {
                n.seen(topo.clock.load(Relaxed));
            }
            (n.lma as usize, n.agent())
        }
        None => (0, false),
    };
    // A chain that does not parse is dropped and counted, as Linux does (RFC 8200 §4); the
    // decisions below (no RH2 on ND or a Mobility Header) need to know what it holds. Only
    // packets with an extension header pay for the walk.
    if ext::is_walked(ip.next_header) && chain_is_malformed(p.data()) {
        return Verdict::Drop(Drop::ExtensionHeaders);
    }
    if ip.hop_limit <= 1 {
        return Verdict::Punt(Punt::HopLimit, Role::Access);
    }
    let inner_len = ipv6::HEADER_LEN + ip.payload_len;
    let outer = if topo.mode == Mode::Tunnel { tunnel::OUTER_LEN } else { 0 };
    // Route optimization (draft §4.1.2, RFC 6275 §9.3.2): traffic to a home address with a
    // binding goes to the care-of address, the home address in a Type 2 Routing Header.
    let mut rh2_len = 0;
    if agent {
        if let Some(care_of) = b.care_of(&ip.dst.to_be_bytes(), &ip.src.to_be_bytes()) {
            if inner_len + rh2::LEN + outer > topo.core_mtu {
                return Verdict::Punt(Punt::TooBigOptimized, Role::Access);
            }
            if outer != 0 && rh2::insertable_plain(&ip, p.data().get(ETH + ipv6::HEADER_LEN).copied()) {
                return encapsulate_with_rh2(topo, c, p, &ip, lma, &care_of);
            }
            rh2_len = match insert_rh2_walked(c, p, &care_of) {
                Ok(n) => n,
                Err(v) => return v,
            };
        }
    }
    let inner_len = inner_len + rh2_len;
    if inner_len + outer > topo.core_mtu {
        debug_assert_eq!(rh2_len, 0);
        return Verdict::Punt(Punt::TooBig, Role::Access);
    }
    decrement_hop_limit(p, ip.hop_limit);
    match topo.mode {
        Mode::Tunnel => {
            // A node's LMA index comes from the config, so this is never taken.
            let Some(lma_addr) = topo.lmas.get(lma) else {
                return Verdict::Drop(Drop::UnknownLma);
            };
            if !p.prepend(tunnel::OUTER_LEN) {
                return Verdict::Drop(Drop::NoHeadroom);
            }
            // [outer space 40][old Ethernet 14][inner] → [Ethernet][outer][inner]: the old
            // Ethernet header is overwritten, so nothing moves.
            let Some(o) = p.data_mut().get_mut(ETH..).and_then(|d| d.first_chunk_mut()) else {
                return Verdict::Drop(Drop::Runt);
            };
            write_outer(o, topo, lma_addr, inner_len, ip.traffic_class);
            c.encapsulated.inc();
            link_out(topo, p, topo.core_slot(lma), Role::Core)
        }
        Mode::Routed => link_out(topo, p, topo.core_slot(topo.core_next_hops.len().saturating_sub(1)), Role::Core),
    }
}

/// The RH2 for a packet `rh2::insertable_plain` did not take (extension headers, ND, a
/// Mobility Header, routed mode): the general insertion, which walks the chain. Returns the
/// bytes added (0 when RH2 may not go on; the buffer is then unchanged and the packet takes
/// the home agent's path as before). Out of line: rare, and inlined it cost the common
/// uplink registers (callgrind).
#[cold]
#[inline(never)]
fn insert_rh2_walked(c: &WorkerCounters, p: &mut impl PacketBuf, care_of: &[u8; 16]) -> Result<usize, Verdict> {
    if !p.prepend(rh2::LEN) {
        return Err(Verdict::Drop(Drop::NoHeadroom));
    }
    if rh2::insert(p.data_mut(), ETH, &Ipv6Addr::from(*care_of)).is_ok() {
        c.rh2_inserted.inc();
        Ok(rh2::LEN)
    } else {
        p.adj(rh2::LEN);
        c.rh2_refused.inc();
        Ok(0)
    }
}

/// PMIPv6 mode, an uplink source of no node: the sender is known by its MAC address until
/// the LMA has given it a prefix (RFC 5213 §6.9.1.1). Out of line: off the static path.
#[cold]
#[inline(never)]
fn unknown_source_pmipv6(topo: &Topology, src_mac: &MacAddr) -> Verdict {
    let Some(n) = topo.attached.lookup_mac(src_mac).and_then(|i| topo.attached.node(i)) else {
        return Verdict::Drop(Drop::UnknownMac);
    };
    match n.registration() {
        // The control core sets it Registering, so its next frames are not punted too.
        Registration::Idle => Verdict::Punt(Punt::Attach, Role::Access),
        Registration::Registering | Registration::Registered => Verdict::Drop(Drop::NotRegistered),
    }
}

/// The common route-optimized uplink packet (no extension header) in one pass
/// (`tunnel::encapsulate_with_rh2`): a single prepend of outer header + RH2, then the
/// rewrite in place.
#[inline(always)]
fn encapsulate_with_rh2(topo: &Topology, c: &WorkerCounters, p: &mut impl PacketBuf, ip: &Ip, lma: usize, care_of: &[u8; 16]) -> Verdict {
    let Some(lma_addr) = topo.lmas.get(lma) else {
        return Verdict::Drop(Drop::UnknownLma);
    };
    if !p.prepend(tunnel::OUTER_WITH_RH2_LEN) {
        return Verdict::Drop(Drop::NoHeadroom);
    }
    if tunnel::encapsulate_with_rh2(p.data_mut(), ETH, ip, care_of, &topo.own.proxy_coa.octets(), &lma_addr.octets(), topo.tunnel_hop_limit).is_none() {
        return Verdict::Drop(Drop::Runt);
    }
    c.rh2_inserted.inc();
    c.encapsulated.inc();
    link_out(topo, p, topo.core_slot(lma), Role::Core)
}

/// A frame received on the core port.
#[inline]
pub fn downlink(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf) -> Verdict {
    let outer = match link_in(p, &topo.core_mac) {
        Ok(v) => v,
        Err(d) => return Verdict::Drop(d),
    };
    if is_multicast_u128(outer.dst) {
        return if is_nd(&p.data()[ETH..]) { Verdict::Punt(Punt::NeighborDiscovery, Role::Core) } else { Verdict::Drop(Drop::Unroutable) };
    }
    if topo.mode == Mode::Routed {
        if topo.is_mine(outer.dst, is_link_local_u128(outer.dst)) {
            return Verdict::Punt(if is_nd(&p.data()[ETH..]) { Punt::NeighborDiscovery } else { Punt::ForUs }, Role::Core);
        }
        return deliver(topo, b, c, p, outer);
    }
    if outer.dst != topo.own.ints[0] {
        return Verdict::Drop(Drop::NotTunneled);
    }
    // The inner header right after the outer one is the common case; extension headers on
    // the outer packet (a Tunnel Encapsulation Limit option, RFC 2473 §5.1) take the walk.
    let inner_offset = if outer.next_header == ipv6::proto::IPV6 {
        ipv6::HEADER_LEN
    } else {
        let ip = &p.data()[ETH..];
        let chain = match ext::walk(ip) {
            Ok(ch) => ch,
            Err(_) => return Verdict::Drop(Drop::ExtensionHeaders),
        };
        if chain.upper_proto != ipv6::proto::IPV6 {
            return Verdict::Punt(if is_nd(ip) { Punt::NeighborDiscovery } else { Punt::ForUs }, Role::Core);
        }
        match tunnel::decapsulate_walked(ip, &chain) {
            Ok(d) => d.inner_offset,
            Err(_) => return Verdict::Drop(Drop::TunnelInnerMalformed),
        }
    };
    let outer_end = ETH + ipv6::HEADER_LEN + outer.payload_len;
    let Some(inner) = p.data().get(ETH + inner_offset..outer_end).and_then(Ip::parse) else {
        return Verdict::Drop(Drop::TunnelInnerMalformed);
    };
    if topo.lma_index(&Ipv6Addr::from(outer.src)).is_none() {
        return Verdict::Drop(Drop::UnknownLma);
    }
    // [Ethernet][outer][inner] → [14 bytes reused as Ethernet][inner]
    if !p.adj(inner_offset) {
        return Verdict::Drop(Drop::TunnelInnerMalformed);
    }
    p.truncate(ETH + ipv6::HEADER_LEN + inner.payload_len);
    c.decapsulated.inc();
    deliver(topo, b, c, p, inner)
}

/// Sends a (decapsulated) packet, whose IPv6 header is `ip`, to the attached node it is
/// addressed to.
#[inline(always)]
fn deliver(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf, ip: Ip) -> Verdict {
    if is_multicast_u128(ip.dst) || is_link_local_u128(ip.dst) {
        return Verdict::Drop(Drop::Unroutable);
    }
    let Some(node) = topo.attached.lookup_u128(ip.dst) else {
        return Verdict::Drop(Drop::UnknownDestination);
    };
    // The agent answers for the node (draft §4.1.1): its Mobility Headers go to the control
    // core, and a Home Address option must match a binding (RFC 6275 §9.3.1). Neither can
    // be there without an extension header or a Mobility Header right after IPv6.
    let nh = ip.next_header;
    if (ext::is_walked(nh) || nh == ipv6::proto::MOBILITY) && topo.attached.node(node).is_some_and(|n| n.agent()) {
        if nh == ipv6::proto::MOBILITY {
            // HoTI and CoTI: nothing to walk (RFC 6275 §6.1: the MH is the last header).
            return mobility_punt(b, &ip);
        }
        let stripped = match strip_hao_canonical(b, c, p, &ip) {
            Some(r) => r,
            None => strip_hao_walked(b, c, p, &ip),
        };
        if let Err(v) = stripped {
            return v;
        }
    } else if ext::is_walked(nh) && chain_is_malformed(p.data()) {
        // As on the uplink: a chain that does not parse is not delivered.
        return Verdict::Drop(Drop::ExtensionHeaders);
    }
    if ip.hop_limit <= 1 {
        return Verdict::Punt(Punt::HopLimit, Role::Core);
    }
    if p.data().len() - ETH > topo.access_mtu {
        return Verdict::Punt(Punt::TooBig, Role::Core);
    }
    decrement_hop_limit(p, ip.hop_limit);
    link_out(topo, p, node as usize, Role::Access)
}

/// The Home Address option as MN1 sends it (RFC 6275 §6.3, `hao::emit_dest_opts`),
/// stripped in one step (`hao::canonical`, `hao::strip_canonical`). `None`: another
/// layout, for the walk. `Some(Err)`: the verdict (no binding for it).
#[inline(always)]
fn strip_hao_canonical(b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf, ip: &Ip) -> Option<Result<(), Verdict>> {
    let h = hao::canonical(p.data(), ETH, ip)?;
    if b.care_of(&h.home.to_be_bytes(), &ip.dst.to_be_bytes()) != Some(ip.src.to_be_bytes()) {
        return Some(Err(Verdict::Punt(Punt::HomeAddressUnverified, Role::Core)));
    }
    hao::strip_canonical(p.data_mut(), ETH, &h)?;
    p.adj(hao::DEST_OPTS_LEN);
    c.hao_rewritten.inc();
    Some(Ok(()))
}

/// A Mobility Header for the agent: from a bound peer's address (MN1's HoTI comes from its
/// home address, its CoTI and BU from its care-of address) it has a punt budget of its own.
#[inline(always)]
fn mobility_punt(b: &impl Bindings, ip: &Ip) -> Verdict {
    Verdict::Punt(if b.is_peer(&ip.src.to_be_bytes()) { Punt::MobilityFromPeer } else { Punt::Mobility }, Role::Core)
}

/// The Home Address option anywhere the walk finds it (RFC 6275 §9.3.1), and Mobility
/// Headers for the agent.
#[inline(never)]
fn strip_hao_walked(b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf, ip: &Ip) -> Result<(), Verdict> {
    let chain = ext::walk(&p.data()[ETH..]).map_err(|_| Verdict::Drop(Drop::ExtensionHeaders))?;
    if chain.upper_proto == ipv6::proto::MOBILITY {
        return Err(mobility_punt(b, ip));
    }
    if let Some(opt) = chain.home_address {
        if b.care_of(&opt.home.octets(), &ip.dst.to_be_bytes()) != Some(ip.src.to_be_bytes()) {
            return Err(Verdict::Punt(Punt::HomeAddressUnverified, Role::Core));
        }
        let s = hao::strip(&mut p.data_mut()[..], ETH, &chain).map_err(|_| Verdict::Drop(Drop::ExtensionHeaders))?;
        p.adj(s.removed);
        c.hao_rewritten.inc();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The forwarding decisions on plain `Vec` buffers (no EAL), with a map for bindings.
    use super::*;
    use crate::attached::AttachedNode;
    use std::collections::HashMap;
    use std::sync::atomic::Ordering::Relaxed;
    use wire::checksum;

    #[derive(Default)]
    struct Map(HashMap<([u8; 16], [u8; 16]), [u8; 16]>);

    impl Bindings for Map {
        fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
            self.0.get(&(*home, *attached)).copied()
        }
        fn is_peer(&self, addr: &[u8; 16]) -> bool {
            self.0.iter().any(|((home, _), care_of)| home == addr || care_of == addr)
        }
    }

    use wire::testpkt::{self, a};
    const ACCESS_MAC: MacAddr = [2, 0, 0, 0, 0, 0xa];
    const CORE_MAC: MacAddr = [2, 0, 0, 0, 0, 0xc];
    const MN2_MAC: MacAddr = [2, 0, 0, 0, 3, 0];
    const LMA_MAC: MacAddr = [2, 0, 0, 0, 0xc, 2];

    fn topo(agent: bool) -> Topology {
        let mut attached = AttachedTable::default();
        attached.add(AttachedNode::new("mn2", 0, agent), &[(a("2001:db8:3::"), 64)]);
        let neighbors = NeighborCache::new(2);
        neighbors.learn(0, MN2_MAC);
        neighbors.learn(1, LMA_MAC);
        Topology {
            mode: Mode::Tunnel,
            signaling: Signaling::Static,
            clock: AtomicU32::new(0),
            own: OwnAddresses::new(a("2001:db8:c0::1"), a("fe80::1")),
            access_mac: ACCESS_MAC,
            core_mac: CORE_MAC,
            access_mtu: 1500,
            core_mtu: 1500,
            lmas: vec![a("2001:db8:c0::2")],
            core_next_hops: vec![a("2001:db8:c0::2")],
            tunnel_hop_limit: 64,
            attached,
            neighbors,
        }
    }

    fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
        testpkt::ip6(src, dst, nh, 64, payload)
    }

    /// UDP 1000 → 2000 with `len` zero bytes, checksummed over (pseudo_src, pseudo_dst).
    fn udp(pseudo_src: Ipv6Addr, pseudo_dst: Ipv6Addr, len: usize) -> Vec<u8> {
        testpkt::udp(pseudo_src, pseudo_dst, 1000, 2000, &vec![0; len])
    }

    use testpkt::frame;

    fn hao_packet(src: Ipv6Addr, dst: Ipv6Addr, home: Ipv6Addr) -> Vec<u8> {
        testpkt::with_hao(src, dst, home, ipv6::proto::UDP, &udp(home, dst, 20))
    }

    fn tunneled(inner: &[u8]) -> Vec<u8> {
        testpkt::tunneled(a("2001:db8:c0::2"), a("2001:db8:c0::1"), inner)
    }

    const HOME: &str = "2001:db8:1::100";
    const CARE_OF: &str = "2001:db8:2::200";
    const MN2: &str = "2001:db8:3::300";

    fn bound() -> Map {
        let mut m = Map::default();
        m.0.insert((a(HOME).octets(), a(MN2).octets()), a(CARE_OF).octets());
        m
    }

    #[test]
    fn uplink_with_binding_gets_rh2_to_the_care_of_address_and_keeps_its_checksum() {
        let (t, c) = (topo(true), WorkerCounters::default());
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 30));
        let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
        assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Core));
        let d = tunnel::decapsulate(&p.data()[ETH..]).unwrap();
        let inner = &p.data()[ETH + d.inner_offset..];
        let h = ipv6::Header::new_checked(inner).unwrap();
        assert_eq!((h.dst_addr(), h.hop_limit(), h.payload_len() as usize), (a(CARE_OF), 63, pkt.len() - 40 + rh2::LEN));
        let ch = ext::walk(inner).unwrap();
        let r = ch.routing.unwrap();
        assert_eq!((r.routing_type, r.segments_left, r.home_address), (2, 1, Some(a(HOME))));
        // The final destination (RH2) is still the home address: the UDP checksum holds.
        assert!(checksum::verify_upper_layer(&a(MN2), &a(HOME), ipv6::proto::UDP, &inner[ch.upper_offset..]));
        assert_eq!((c.rh2_inserted.get(), c.encapsulated.get()), (1, 1));
    }

    /// The one-pass rewrite (`encapsulate_with_rh2`) gives the bytes of the general path:
    /// `rh2::insert`, hop limit − 1, then `tunnel::encapsulate`.
    #[test]
    fn one_pass_rh2_and_tunnel_equal_insert_then_encapsulate() {
        let t = topo(true);
        let echo = [128, 0, 0, 0, 0, 1, 0, 1];
        let cases: Vec<(u8, Vec<u8>)> = vec![
            (ipv6::proto::UDP, udp(a(MN2), a(HOME), 30)),
            (ipv6::proto::UDP, udp(a(MN2), a(HOME), 0)),
            (ipv6::proto::TCP, vec![7; 20]),
            (ipv6::proto::ICMPV6, echo.to_vec()),
            (ipv6::proto::NO_NEXT, vec![]),
        ];
        for (nh, payload) in cases {
            let mut pkt = ip6(a(MN2), a(HOME), nh, &payload);
            pkt[0] = 0x6b; // traffic class 0xb8, copied to the outer header
            pkt[1] = 0x85;
            let f = frame(ACCESS_MAC, MN2_MAC, &pkt);
            let c = WorkerCounters::default();
            let mut p = VecBuf::new(&f);
            assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Core), "next header {nh}");
            assert_eq!((c.rh2_inserted.get(), c.encapsulated.get()), (1, 1));

            let mut general = [vec![0u8; rh2::LEN], f.clone()].concat();
            rh2::insert(&mut general, ETH, &a(CARE_OF)).unwrap();
            general[ETH + 7] -= 1;
            let mut outer = [vec![0u8; tunnel::OUTER_LEN], general[ETH..].to_vec()].concat();
            tunnel::encapsulate(&mut outer, &t.own.proxy_coa(), &t.lmas[0], t.tunnel_hop_limit).unwrap();
            let expect = frame(LMA_MAC, CORE_MAC, &outer);
            assert_eq!(p.data(), &expect[..], "next header {nh}");

            // And the one-pass path itself, not only whatever path uplink took (its bytes
            // are checked against the general path in `wire::tunnel::tests` too).
            let mut q = VecBuf::new(&f);
            let ip = link_in(&mut q, &ACCESS_MAC).unwrap();
            assert!(rh2::insertable_plain(&ip, q.data().get(ETH + 40).copied()), "next header {nh}");
            assert_eq!(encapsulate_with_rh2(&t, &c, &mut q, &ip, 0, &a(CARE_OF).octets()), Verdict::Forward(Role::Core));
            assert_eq!(q.data(), &expect[..], "next header {nh}");
        }
        // What it must not take: extension headers, Mobility Header, Neighbor Discovery.
        for (nh, first) in [(ipv6::proto::HOP_BY_HOP, 0u8), (ipv6::proto::DEST_OPTS, 0), (ipv6::proto::MOBILITY, 59), (ipv6::proto::ICMPV6, 135)] {
            let mut q = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &ip6(a(MN2), a(HOME), nh, &[first, 0, 0, 0, 0, 0, 0, 0])));
            let ip = link_in(&mut q, &ACCESS_MAC).unwrap();
            assert!(!rh2::insertable_plain(&ip, Some(first)), "next header {nh}");
        }
    }

    #[test]
    fn uplink_with_hop_by_hop_gets_rh2_after_it() {
        let (t, c) = (topo(true), WorkerCounters::default());
        // Hop-by-Hop with a PadN filling its 8 bytes, then UDP.
        let mut payload = vec![ipv6::proto::UDP, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&udp(a(MN2), a(HOME), 12));
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::HOP_BY_HOP, &payload);
        let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
        assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Core));
        let d = tunnel::decapsulate(&p.data()[ETH..]).unwrap();
        let inner = &p.data()[ETH + d.inner_offset..];
        let ch = ext::walk(inner).unwrap();
        assert!(ch.hop_by_hop);
        assert_eq!(ch.routing.map(|r| (r.offset, r.home_address)), Some((48, Some(a(HOME)))), "RH2 right after Hop-by-Hop (RFC 8200 §4.1)");
        assert_eq!(ipv6::Header::new_checked(inner).unwrap().dst_addr(), a(CARE_OF));
        assert!(checksum::verify_upper_layer(&a(MN2), &a(HOME), ipv6::proto::UDP, &inner[ch.upper_offset..]));
    }

    #[test]
    fn uplink_without_binding_or_with_agent_off_is_not_optimized() {
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 30));
        for (t, b) in [(topo(true), Map::default()), (topo(false), bound())] {
            let c = WorkerCounters::default();
            let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
            assert_eq!(uplink(&t, &b, &c, &mut p), Verdict::Forward(Role::Core));
            let d = tunnel::decapsulate(&p.data()[ETH..]).unwrap();
            assert_eq!(ipv6::Header::new_checked(&p.data()[ETH + d.inner_offset..]).unwrap().dst_addr(), a(HOME));
            assert_eq!(c.rh2_inserted.get(), 0);
        }
    }

    #[test]
    fn uplink_too_big_with_rh2_is_punted_for_packet_too_big() {
        let (t, c) = (topo(true), WorkerCounters::default());
        // 1500 − 40 (tunnel) − 24 (RH2) = 1436 fits; one byte more does not.
        for (len, verdict) in [(1436 - 48, Verdict::Forward(Role::Core)), (1437 - 48, Verdict::Punt(Punt::TooBigOptimized, Role::Access))] {
            let pkt = ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), len));
            let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
            assert_eq!(uplink(&t, &bound(), &c, &mut p), verdict, "{} bytes", pkt.len());
        }
    }

    /// PMIPv6 mode: MN2 is a policy node known by its MAC, with no configured prefix; mn3
    /// keeps a configured one.
    fn pmipv6_topo() -> Topology {
        let mut attached = AttachedTable::default();
        attached.add(AttachedNode::new("mn2", 0, true).with_mac(MN2_MAC), &[]);
        attached.add(AttachedNode::new("mn3", 0, true).with_mac(MN3_MAC), &[(a("2001:db8:4::"), 64)]);
        attached.size_routes();
        let neighbors = NeighborCache::new(3);
        neighbors.learn(2, LMA_MAC);
        Topology { signaling: Signaling::Pmipv6, attached, neighbors, ..topo(true) }
    }

    const MN3_MAC: MacAddr = [2, 0, 0, 0, 4, 0];
    const MN2_HNP: u64 = 0x2001_0db8_0003_0000;

    fn from_mn2(src: &str) -> VecBuf {
        VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &ip6(a(src), a(HOME), ipv6::proto::UDP, &udp(a(src), a(HOME), 30))))
    }

    #[test]
    fn uplink_to_either_own_address_is_punted_and_other_link_locals_are_not_forwarded() {
        let (t, c) = (topo(true), WorkerCounters::default());
        let up = |src: &str, dst: &str| {
            let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &ip6(a(src), a(dst), ipv6::proto::UDP, &udp(a(src), a(dst), 8))));
            uplink(&t, &Map::default(), &c, &mut p)
        };
        for (src, dst, want) in [
            (MN2, "fe80::1", Verdict::Punt(Punt::ForUs, Role::Access)),
            (MN2, "2001:db8:c0::1", Verdict::Punt(Punt::ForUs, Role::Access)),
            ("fe80::99", "fe80::1", Verdict::Punt(Punt::ForUs, Role::Access)),
            ("fe80::99", "2001:db8:c0::1", Verdict::Punt(Punt::ForUs, Role::Access)),
            // The other form of each own address is nobody's here.
            (MN2, "fe80::2001:db8:c0:1", Verdict::Drop(Drop::Unroutable)),
            (MN2, "2001:db8:c0::fe80:1", Verdict::Forward(Role::Core)),
            (MN2, "fe80::2", Verdict::Drop(Drop::Unroutable)),
            ("fe80::99", "fe80::2", Verdict::Drop(Drop::LinkLocalSource)),
            ("fe80::99", HOME, Verdict::Drop(Drop::LinkLocalSource)),
        ] {
            assert_eq!(up(src, dst), want, "{src} -> {dst}");
        }
    }

    #[test]
    fn a_node_whose_lma_is_not_configured_is_dropped_not_tunnelled_to_nowhere() {
        let c = WorkerCounters::default();
        let mut t = topo(true);
        t.attached = AttachedTable::default();
        t.attached.add(AttachedNode::new("mn2", 7, true), &[(a("2001:db8:3::"), 64)]);
        // Both tunnel paths: plain, and the one-pass RH2 for a bound destination.
        for b in [Map::default(), bound()] {
            assert_eq!(uplink(&t, &b, &c, &mut from_mn2(MN2)), Verdict::Drop(Drop::UnknownLma));
        }
        assert_eq!(c.encapsulated.get(), 0);
    }

    #[test]
    fn pmipv6_attach_register_forward_withdraw() {
        let (t, c) = (pmipv6_topo(), WorkerCounters::default());
        let up = |mac: MacAddr, src: &str| {
            uplink(&t, &Map::default(), &c, &mut VecBuf::new(&frame(ACCESS_MAC, mac, &ip6(a(src), a(HOME), ipv6::proto::UDP, &udp(a(src), a(HOME), 30)))))
        };
        let down = || {
            downlink(
                &t,
                &Map::default(),
                &c,
                &mut VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&ip6(a(HOME), a(MN2), ipv6::proto::UDP, &udp(a(HOME), a(MN2), 8))))),
            )
        };
        let mn2 = t.attached.node(0).unwrap();
        // No policy for the MAC: dropped, never registered.
        assert_eq!(up([2, 0, 0, 0, 9, 9], MN2), Verdict::Drop(Drop::UnknownMac));
        // A policy node's first frame starts its registration.
        assert_eq!(up(MN2_MAC, MN2), Verdict::Punt(Punt::Attach, Role::Access));
        assert_eq!(up(MN2_MAC, "::"), Verdict::Punt(Punt::Attach, Role::Access));
        // Until the PBA, neither forwarded nor tunnelled, and not punted again.
        mn2.set_registration(Registration::Registering);
        assert_eq!(up(MN2_MAC, MN2), Verdict::Drop(Drop::NotRegistered));
        assert_eq!(down(), Verdict::Drop(Drop::UnknownDestination));
        // The PBA accepted it and the route is installed: both ways forwarded.
        mn2.set_registration(Registration::Registered);
        t.attached.install(0, MN2_HNP).unwrap();
        assert_eq!(up(MN2_MAC, MN2), Verdict::Forward(Role::Core));
        assert_eq!(down(), Verdict::Forward(Role::Access));
        // A source outside its prefix is not forwarded.
        assert_eq!(up(MN2_MAC, "2001:db8:9::1"), Verdict::Drop(Drop::NotRegistered));
        // Its configured prefix still works for mn3, from any MAC as in static mode.
        assert_eq!(up(MN3_MAC, "2001:db8:4::1"), Verdict::Forward(Role::Core));
        // Withdrawn (detach): nothing is served any more.
        t.attached.withdraw(0);
        assert_eq!(up(MN2_MAC, MN2), Verdict::Drop(Drop::NotRegistered));
        assert_eq!(down(), Verdict::Drop(Drop::UnknownDestination));
        mn2.set_registration(Registration::Idle);
        assert_eq!(up(MN2_MAC, MN2), Verdict::Punt(Punt::Attach, Role::Access));
    }

    /// Static mode knows nothing of MACs or registration: an unknown source is
    /// `unknown_source` whatever MAC sent it and whatever state a node is in, and the
    /// configured prefixes are served as before.
    #[test]
    fn static_mode_verdicts_are_unchanged() {
        let c = WorkerCounters::default();
        let mut t = pmipv6_topo();
        t.signaling = Signaling::Static;
        for state in [Registration::Idle, Registration::Registering, Registration::Registered] {
            t.attached.node(0).unwrap().set_registration(state);
            for mac in [MN2_MAC, [2, 0, 0, 0, 9, 9]] {
                let mut p = VecBuf::new(&frame(ACCESS_MAC, mac, &ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 30))));
                assert_eq!(uplink(&t, &Map::default(), &c, &mut p), Verdict::Drop(Drop::UnknownSource));
            }
        }
        let t = topo(true);
        assert_eq!(uplink(&t, &Map::default(), &c, &mut from_mn2("2001:db8:9::1")), Verdict::Drop(Drop::UnknownSource));
        assert_eq!(uplink(&t, &Map::default(), &c, &mut from_mn2(MN2)), Verdict::Forward(Role::Core));
    }

    #[test]
    fn uplink_stamps_last_seen_with_the_clock_only_when_it_changes() {
        // Static mode has no idle detection: no stamp, not even a load of the clock.
        let (t, c) = (topo(true), WorkerCounters::default());
        t.set_clock(40);
        assert_eq!(uplink(&t, &Map::default(), &c, &mut from_mn2(MN2)), Verdict::Forward(Role::Core));
        assert_eq!(t.attached.node(0).unwrap().last_seen(), 0);
        let mut t = topo(true);
        t.signaling = Signaling::Pmipv6;
        let mn2 = t.attached.node(0).unwrap();
        t.set_clock(41);
        for _ in 0..3 {
            assert_eq!(uplink(&t, &Map::default(), &c, &mut from_mn2(MN2)), Verdict::Forward(Role::Core));
        }
        assert_eq!((mn2.last_seen(), mn2.stamps.load(Relaxed)), (41, 1));
        // Frames the node did not send (another source, here a MAC without policy) do not count.
        t.set_clock(42);
        assert_eq!(uplink(&t, &Map::default(), &c, &mut from_mn2("2001:db8:9::1")), Verdict::Drop(Drop::UnknownMac));
        assert_eq!(mn2.last_seen(), 41);
        // Dropped or punted frames from the node do (hop limit 1: punted after the lookup).
        let mut p = from_mn2(MN2);
        p.data_mut()[ETH + 7] = 1;
        assert_eq!(uplink(&t, &Map::default(), &c, &mut p), Verdict::Punt(Punt::HopLimit, Role::Access));
        assert_eq!((mn2.last_seen(), mn2.stamps.load(Relaxed)), (42, 2));
    }

    #[test]
    fn uplink_mobility_header_never_gets_rh2() {
        let (t, c) = (topo(true), WorkerCounters::default());
        let mut mh = vec![59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        wire::mobility::fill_checksum(&mut mh, &a(MN2), &a(HOME)).unwrap();
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::MOBILITY, &mh);
        let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
        assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Core));
        assert_eq!((c.rh2_inserted.get(), c.rh2_refused.get()), (0, 1));
        let d = tunnel::decapsulate(&p.data()[ETH..]).unwrap();
        let mut expect = pkt.clone();
        expect[7] = 63;
        assert_eq!(&p.data()[ETH + d.inner_offset..], &expect[..]);
    }

    #[test]
    fn downlink_hao_with_matching_binding_is_rewritten_to_a_plain_packet() {
        let (t, c) = (topo(true), WorkerCounters::default());
        let inner = hao_packet(a(CARE_OF), a(MN2), a(HOME));
        let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
        assert_eq!(downlink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Access));
        let ip = &p.data()[ETH..];
        let h = ipv6::Header::new_checked(ip).unwrap();
        // Source := home address, the Destination Options header gone, checksum valid.
        assert_eq!((h.src_addr(), h.dst_addr(), h.next_header(), h.hop_limit()), (a(HOME), a(MN2), ipv6::proto::UDP, 63));
        assert_eq!(ip.len(), 40 + 28);
        assert!(checksum::verify_upper_layer(&a(HOME), &a(MN2), ipv6::proto::UDP, &ip[40..]));
        assert_eq!(&p.data()[..6], &MN2_MAC);
        assert_eq!(c.hao_rewritten.get(), 1);
    }

    /// The one-step strip of the usual option layout gives the bytes of the walk and
    /// `hao::strip`; a layout it does not know (four Pad1 instead of PadN) takes the walk.
    #[test]
    fn canonical_hao_strip_equals_the_walked_one() {
        let t = topo(true);
        let inner = hao_packet(a(CARE_OF), a(MN2), a(HOME));
        let mut general = frame(CORE_MAC, LMA_MAC, &inner);
        let chain = ext::walk(&general[ETH..]).unwrap();
        let removed = hao::strip(&mut general, ETH, &chain).unwrap().removed;
        let mut general = general[removed..].to_vec();
        ethernet::write_header(&mut general, MN2_MAC, ACCESS_MAC, ETHERTYPE_IPV6).unwrap();
        general[ETH + 7] -= 1;
        let mut pad1 = inner.clone();
        pad1[42..46].fill(ext::option::PAD1);
        // The one-step strip itself: taken for MN1's layout, not for Pad1, and punting when
        // the binding does not match.
        let c = WorkerCounters::default();
        for (inner, b, want) in [
            (&inner, bound(), Some(Ok(()))),
            (&pad1, bound(), None),
            (&inner, Map::default(), Some(Err(Verdict::Punt(Punt::HomeAddressUnverified, Role::Core)))),
        ] {
            let mut q = VecBuf::new(&frame(CORE_MAC, LMA_MAC, inner));
            let ip = link_in(&mut q, &CORE_MAC).unwrap();
            assert_eq!(strip_hao_canonical(&b, &c, &mut q, &ip), want);
        }
        for (what, inner) in [("PadN", inner), ("Pad1", pad1)] {
            let c = WorkerCounters::default();
            let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
            assert_eq!(downlink(&t, &bound(), &c, &mut p), Verdict::Forward(Role::Access), "{what}");
            assert_eq!(p.data(), &general[..], "{what}");
            assert_eq!(c.hao_rewritten.get(), 1);
        }
    }

    #[test]
    fn downlink_hao_without_binding_or_from_another_address_is_punted() {
        let t = topo(true);
        for (src, b) in [(a(CARE_OF), Map::default()), (a("2001:db8:2::999"), bound())] {
            let c = WorkerCounters::default();
            let inner = hao_packet(src, a(MN2), a(HOME));
            let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
            assert_eq!(downlink(&t, &b, &c, &mut p), Verdict::Punt(Punt::HomeAddressUnverified, Role::Core));
            assert_eq!(c.hao_rewritten.get(), 0);
        }
    }

    #[test]
    fn downlink_mobility_header_goes_to_the_agent_only_when_it_is_on() {
        let mut mh = vec![59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        wire::mobility::fill_checksum(&mut mh, &a(HOME), &a(MN2)).unwrap();
        let inner = ip6(a(HOME), a(MN2), ipv6::proto::MOBILITY, &mh);
        let c = WorkerCounters::default();
        let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
        assert_eq!(downlink(&topo(true), &Map::default(), &c, &mut p), Verdict::Punt(Punt::Mobility, Role::Core));
        let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
        assert_eq!(downlink(&topo(false), &Map::default(), &c, &mut p), Verdict::Forward(Role::Access));
    }

    #[test]
    fn a_mobility_header_from_a_bound_peers_address_gets_the_peers_punt_reason() {
        // MN1's HoTI comes from its home address; CoTI and BU from its care-of address.
        let mut bound = Map::default();
        bound.0.insert((a(HOME).octets(), a(MN2).octets()), a(CARE_OF).octets());
        let c = WorkerCounters::default();
        for (src, want) in [(HOME, Punt::MobilityFromPeer), (CARE_OF, Punt::MobilityFromPeer), ("2001:db8:66::1", Punt::Mobility)] {
            let mut mh = vec![59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
            wire::mobility::fill_checksum(&mut mh, &a(src), &a(MN2)).unwrap();
            let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&ip6(a(src), a(MN2), ipv6::proto::MOBILITY, &mh))));
            assert_eq!(downlink(&topo(true), &bound, &c, &mut p), Verdict::Punt(want, Role::Core), "{src}");
        }
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_handled_without_panic() {
        let t = topo(true);
        let frames = [
            frame(ACCESS_MAC, MN2_MAC, &ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 30))),
            frame(CORE_MAC, LMA_MAC, &tunneled(&hao_packet(a(CARE_OF), a(MN2), a(HOME)))),
        ];
        for f in &frames {
            for len in 0..f.len() {
                let c = WorkerCounters::default();
                let mut p = VecBuf::new(&f[..len]);
                let _ = uplink(&t, &bound(), &c, &mut p);
                let mut p = VecBuf::new(&f[..len]);
                let _ = downlink(&t, &bound(), &c, &mut p);
            }
        }
    }

    /// Issue 11's frame: from the attached node, Next Header Hop-by-Hop with a payload
    /// length of 0 (a truncated chain). It used to go up the tunnel, unchanged even with a
    /// binding (the RH2 insertion refused it).
    #[test]
    fn a_truncated_chain_is_dropped_and_counted_both_ways() {
        let hex = "02000000000a02000000030086dd600000000000000420010db800030000000000000000000000000204050676740001020303090a0b";
        let f: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let c = WorkerCounters::default();
        for agent in [true, false] {
            let mut p = VecBuf::new(&f);
            assert_eq!(uplink(&topo(agent), &bound(), &c, &mut p), Verdict::Drop(Drop::ExtensionHeaders));
        }
        // Downlink: the same chain inside the tunnel, to a node with the agent off (with it
        // on, the Home Address walk already refused it).
        let mut inner = ip6(a(HOME), a(MN2), ipv6::proto::HOP_BY_HOP, &[]);
        inner.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner[..ipv6::HEADER_LEN])));
        assert_eq!(downlink(&topo(false), &bound(), &c, &mut p), Verdict::Drop(Drop::ExtensionHeaders));
        assert_eq!(c.rh2_refused.get(), 0);
    }

    /// Property tests: any frame on either port, random or a mutated valid one, with or
    /// without bindings, gives a verdict without panicking, and a forwarded frame is still a
    /// well-formed IPv6 packet.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Every (home, attached) pair is bound.
        struct All;

        impl Bindings for All {
            fn care_of(&self, _: &[u8; 16], _: &[u8; 16]) -> Option<[u8; 16]> {
                Some(a(CARE_OF).octets())
            }
            fn is_peer(&self, _: &[u8; 16]) -> bool {
                true
            }
        }

        /// Valid frames of every path, to be mutated: uplink, downlink plain, with HAO, MH.
        fn seeds() -> Vec<(bool, Vec<u8>)> {
            let mh = ip6(a(HOME), a(MN2), ipv6::proto::MOBILITY, &[59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
            vec![
                (true, frame(ACCESS_MAC, MN2_MAC, &ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 4)))),
                (false, frame(CORE_MAC, LMA_MAC, &tunneled(&ip6(a(HOME), a(MN2), ipv6::proto::UDP, &udp(a(HOME), a(MN2), 4))))),
                (false, frame(CORE_MAC, LMA_MAC, &tunneled(&hao_packet(a(CARE_OF), a(MN2), a(HOME))))),
                (false, frame(CORE_MAC, LMA_MAC, &tunneled(&mh))),
            ]
        }

        fn check(access: bool, bytes: &[u8]) {
            for agent in [true, false] {
                check_with(&topo(agent), access, bytes);
            }
        }

        fn check_with(t: &Topology, access: bool, bytes: &[u8]) {
            let c = WorkerCounters::default();
            for bound in [false, true] {
                let mut p = VecBuf::new(bytes);
                let v = match (access, bound) {
                    (true, true) => uplink(t, &All, &c, &mut p),
                    (true, false) => uplink(t, &Map::default(), &c, &mut p),
                    (false, true) => downlink(t, &All, &c, &mut p),
                    (false, false) => downlink(t, &Map::default(), &c, &mut p),
                };
                if let Verdict::Forward(_) = v {
                    let ip = &p.data()[ETH..];
                    let h = ipv6::Header::new_checked(ip).expect("a forwarded frame carries IPv6");
                    assert_eq!(ip.len(), h.total_len(), "no trailing bytes after a rewrite");
                    match tunnel::decapsulate(ip) {
                        Ok(d) => drop(ext::walk(&ip[d.inner_offset..]).expect("tunneled inner packet walks")),
                        Err(_) => drop(ext::walk(ip).expect("forwarded packet walks")),
                    }
                }
            }
        }

        #[test]
        fn seeds_take_the_rh2_hao_and_punt_paths() {
            let (t, c) = (topo(true), WorkerCounters::default());
            let mut forwarded = 0;
            for (access, f) in seeds() {
                let mut p = VecBuf::new(&f);
                let v = if access { uplink(&t, &All, &c, &mut p) } else { downlink(&t, &All, &c, &mut p) };
                forwarded += matches!(v, Verdict::Forward(_)) as u32;
            }
            assert_eq!(forwarded, 3, "the MH seed is punted, the others forwarded");
            assert_eq!((c.rh2_inserted.get(), c.hao_rewritten.get()), (1, 1));
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_frames(access: bool, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                check(access, &bytes);
            }

            /// Valid frames of either direction whose IPv6 header says an extension header
            /// (or an upper layer) follows, then arbitrary bytes: the chains a walk has to judge.
            #[test]
            fn chains_behind_a_valid_header(access: bool, nh in prop::sample::select(vec![0u8, 43, 44, 50, 51, 60, 135, 139, 17, 58, 59]), body in proptest::collection::vec(any::<u8>(), 0..48)) {
                let f = if access {
                    frame(ACCESS_MAC, MN2_MAC, &ip6(a(MN2), a(HOME), nh, &body))
                } else {
                    frame(CORE_MAC, LMA_MAC, &tunneled(&ip6(a(HOME), a(MN2), nh, &body)))
                };
                check(access, &f);
            }

            #[test]
            fn mutated_valid_frames(seed in 0usize..4, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
                let (access, mut f) = seeds()[seed].clone();
                for (i, b) in flips {
                    // Keep the Ethernet header mostly valid so the IPv6 paths are reached.
                    let i = 12 + i % (f.len() - 12);
                    f[i] = b;
                }
                let cut = cut % (f.len() + 1);
                check(access, &f[..cut.max(f.len() / 2)]);
            }
        }
    }
}
