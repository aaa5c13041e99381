//! The per-packet forwarding decisions of a PMIPv6 MAG (RFC 5213 §6.10.5), generic over the
//! packet buffer so they run on an mbuf in the worker and on a `Vec` in unit tests.
//!
//! Uplink (access → core): from an attached node, encapsulated to its LMA (or routed).
//! Downlink (core → access): decapsulated from a known LMA, delivered to an attached node.
//! ND, packets for the MAG and errors that need an ICMPv6 answer are punted to the control core.

use crate::attached::AttachedTable;
use crate::counters::{Drop, Punt, WorkerCounters, ACCESS, CORE};
use crate::neighbor::NeighborCache;
use std::net::Ipv6Addr;
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::{ext, hao, ipv6, rh2, tunnel};

/// The binding lookup the forwarding decisions need: the care-of address bound to
/// (home address, attached-node address). The worker's is `bindings::Reader`.
pub trait Bindings {
    fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]>;
}

impl Bindings for crate::bindings::Reader {
    #[inline(always)]
    fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
        self.lookup(home, attached)
    }
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

/// How uplink traffic leaves the MAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// IPv6-in-IPv6 to the node's LMA (RFC 5213).
    Tunnel,
    /// Plain routing to the core next hop (labs).
    Routed,
}

/// Everything the workers need to know about the MAG's links. Immutable after start, except
/// the neighbor cache (single-word atomics).
pub struct Topology {
    pub mode: Mode,
    pub proxy_coa: Ipv6Addr,
    pub access_link_local: Ipv6Addr,
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
    /// Neighbor-cache slot of core next hop `i`.
    #[inline(always)]
    pub fn core_slot(&self, i: usize) -> usize {
        self.attached.len() + i
    }

    fn is_mine(&self, a: &Ipv6Addr) -> bool {
        *a == self.proxy_coa || *a == self.access_link_local
    }

    pub fn lma_index(&self, a: &Ipv6Addr) -> Option<usize> {
        self.lmas.iter().position(|l| l == a)
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of the port with this role.
    Forward(usize),
    Drop(Drop),
    /// Hand to the control core; the second field is the role of the port it would leave by
    /// (for `Unresolved`) or arrived on.
    Punt(Punt, usize),
}

const ETH: usize = ethernet::HEADER_LEN;

/// True for ICMPv6 Neighbor Discovery (RFC 4861 types 133–137) directly after the IPv6 header.
#[inline]
fn is_nd(ip: &[u8]) -> bool {
    ip.get(6) == Some(&ipv6::proto::ICMPV6) && matches!(ip.get(40), Some(133..=137))
}

#[inline]
fn is_multicast(a: &Ipv6Addr) -> bool {
    a.octets()[0] == 0xff
}

#[inline]
fn is_link_local(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xfe && o[1] & 0xc0 == 0x80
}

/// Checks the Ethernet and IPv6 headers common to both directions, trims link padding and
/// returns (source MAC, source, destination, hop limit).
#[inline]
fn link_in(p: &mut impl PacketBuf, our_mac: &MacAddr) -> Result<(MacAddr, Ipv6Addr, Ipv6Addr, u8), Drop> {
    let d = p.data();
    let eth = ethernet::Frame::new_checked(d).map_err(|_| Drop::Runt)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Err(Drop::NotIpv6);
    }
    let dst_mac = eth.dst();
    if dst_mac[0] & 1 == 0 && dst_mac != *our_mac {
        return Err(Drop::NotForUs);
    }
    let src_mac = eth.src();
    let ip = ipv6::Header::new_checked(&d[ETH..]).map_err(|_| Drop::Ipv6Malformed)?;
    let (src, dst, hl, total) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit(), ip.total_len());
    p.truncate(ETH + total);
    Ok((src_mac, src, dst, hl))
}

/// Rewrites the Ethernet header for the next hop in neighbor slot `slot`, or punts.
#[inline]
fn link_out(topo: &Topology, p: &mut impl PacketBuf, slot: usize, role: usize) -> Verdict {
    let our = if role == ACCESS { topo.access_mac } else { topo.core_mac };
    match topo.neighbors.get(slot) {
        Some(mac) => {
            if ethernet::write_header(p.data_mut(), mac, our, ETHERTYPE_IPV6).is_err() {
                return Verdict::Drop(Drop::Runt);
            }
            Verdict::Forward(role)
        }
        None => {
            // The source MAC is still needed by whoever sends it later.
            let _ = ethernet::write_header(p.data_mut(), [0; 6], our, ETHERTYPE_IPV6);
            Verdict::Punt(Punt::Unresolved, role)
        }
    }
}

#[inline]
fn decrement_hop_limit(p: &mut impl PacketBuf, hl: u8) {
    if let Some(b) = p.data_mut().get_mut(ETH + 7) {
        *b = hl - 1;
    }
}

/// A frame received on the access port.
#[inline]
pub fn uplink(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf) -> Verdict {
    let (src_mac, src, dst, hl) = match link_in(p, &topo.access_mac) {
        Ok(v) => v,
        Err(d) => return Verdict::Drop(d),
    };
    if is_multicast(&dst) {
        return if is_nd(&p.data()[ETH..]) { Verdict::Punt(Punt::NeighborDiscovery, ACCESS) } else { Verdict::Drop(Drop::Unroutable) };
    }
    if topo.is_mine(&dst) {
        return Verdict::Punt(if is_nd(&p.data()[ETH..]) { Punt::NeighborDiscovery } else { Punt::ForUs }, ACCESS);
    }
    // RFC 5213 §6.10.5: a link-local source is never forwarded.
    if is_link_local(&src) {
        return Verdict::Drop(Drop::LinkLocalSource);
    }
    if is_link_local(&dst) {
        return Verdict::Drop(Drop::Unroutable);
    }
    let Some(node) = topo.attached.lookup(&src.octets()) else {
        return Verdict::Drop(Drop::UnknownSource);
    };
    topo.neighbors.learn(node as usize, src_mac);
    if hl <= 1 {
        return Verdict::Punt(Punt::HopLimit, ACCESS);
    }
    let (lma, agent) = topo.attached.node(node).map_or((0, false), |n| (n.lma as usize, n.agent()));
    // Route optimization (draft §4.1.2, RFC 6275 §9.3.2): traffic to a home address with a
    // binding goes to the care-of address, the home address in a Type 2 Routing Header.
    let mut added = 0;
    if agent {
        if let Some(care_of) = b.care_of(&dst.octets(), &src.octets()) {
            let outer = if topo.mode == Mode::Tunnel { tunnel::OUTER_LEN } else { 0 };
            if p.data().len() - ETH + rh2::LEN + outer > topo.core_mtu {
                return Verdict::Punt(Punt::TooBigOptimized, ACCESS);
            }
            if !p.prepend(rh2::LEN) {
                return Verdict::Drop(Drop::NoHeadroom);
            }
            if rh2::insert(p.data_mut(), ETH, &Ipv6Addr::from(care_of)).is_ok() {
                c.rh2_inserted.inc();
                added = rh2::LEN;
            } else {
                // Not a packet RH2 may go on (ND, Mobility Header, already routed): the
                // buffer is unchanged; it takes the home agent's path as before.
                p.adj(rh2::LEN);
                c.rh2_refused.inc();
            }
        }
    }
    match topo.mode {
        Mode::Tunnel => {
            let inner_len = p.data().len() - ETH;
            if inner_len + tunnel::OUTER_LEN > topo.core_mtu {
                debug_assert_eq!(added, 0);
                return Verdict::Punt(Punt::TooBig, ACCESS);
            }
            decrement_hop_limit(p, hl);
            if !p.prepend(tunnel::OUTER_LEN) {
                return Verdict::Drop(Drop::NoHeadroom);
            }
            // [outer space 40][old Ethernet 14][inner] → [Ethernet][outer][inner]: the old
            // Ethernet header is overwritten, so nothing moves.
            if tunnel::encapsulate(&mut p.data_mut()[ETH..], &topo.proxy_coa, &topo.lmas[lma], topo.tunnel_hop_limit).is_err() {
                return Verdict::Drop(Drop::Ipv6Malformed);
            }
            c.encapsulated.inc();
            link_out(topo, p, topo.core_slot(lma), CORE)
        }
        Mode::Routed => {
            if p.data().len() - ETH > topo.core_mtu {
                debug_assert_eq!(added, 0);
                return Verdict::Punt(Punt::TooBig, ACCESS);
            }
            decrement_hop_limit(p, hl);
            link_out(topo, p, topo.core_slot(topo.core_next_hops.len().saturating_sub(1)), CORE)
        }
    }
}

/// A frame received on the core port.
#[inline]
pub fn downlink(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf) -> Verdict {
    let (_, _, dst, _) = match link_in(p, &topo.core_mac) {
        Ok(v) => v,
        Err(d) => return Verdict::Drop(d),
    };
    if is_multicast(&dst) {
        return if is_nd(&p.data()[ETH..]) { Verdict::Punt(Punt::NeighborDiscovery, CORE) } else { Verdict::Drop(Drop::Unroutable) };
    }
    if topo.mode == Mode::Tunnel {
        if dst != topo.proxy_coa {
            return Verdict::Drop(Drop::NotTunneled);
        }
        let ip = &p.data()[ETH..];
        let chain = match ext::walk(ip) {
            Ok(ch) => ch,
            Err(_) => return Verdict::Drop(Drop::ExtensionHeaders),
        };
        if chain.upper_proto != ipv6::proto::IPV6 {
            let nd = is_nd(ip);
            return Verdict::Punt(if nd { Punt::NeighborDiscovery } else { Punt::ForUs }, CORE);
        }
        // The outer chain is already walked: do not walk it again (bench: ~20 cycles).
        let dec = match tunnel::decapsulate_walked(ip, &chain) {
            Ok(d) => d,
            Err(_) => return Verdict::Drop(Drop::TunnelInnerMalformed),
        };
        if topo.lma_index(&dec.outer_src).is_none() {
            return Verdict::Drop(Drop::UnknownLma);
        }
        // [Ethernet][outer][inner] → [14 bytes reused as Ethernet][inner]
        if !p.adj(dec.inner_offset) {
            return Verdict::Drop(Drop::TunnelInnerMalformed);
        }
        p.truncate(ETH + dec.inner_len);
        c.decapsulated.inc();
    } else if topo.is_mine(&dst) {
        return Verdict::Punt(if is_nd(&p.data()[ETH..]) { Punt::NeighborDiscovery } else { Punt::ForUs }, CORE);
    }
    deliver(topo, b, c, p)
}

/// Sends a (decapsulated) packet to the attached node it is addressed to.
#[inline]
fn deliver(topo: &Topology, b: &impl Bindings, c: &WorkerCounters, p: &mut impl PacketBuf) -> Verdict {
    let ip = &p.data()[ETH..];
    let Ok(h) = ipv6::Header::new_checked(ip) else {
        return Verdict::Drop(Drop::TunnelInnerMalformed);
    };
    let (src, dst, hl) = (h.src_addr(), h.dst_addr(), h.hop_limit());
    if is_multicast(&dst) || is_link_local(&dst) {
        return Verdict::Drop(Drop::Unroutable);
    }
    let Some(node) = topo.attached.lookup(&dst.octets()) else {
        return Verdict::Drop(Drop::UnknownDestination);
    };
    if topo.attached.node(node).is_some_and(|n| n.agent()) {
        // The agent answers for the node (draft §4.1.1): its Mobility Headers go to the
        // control core, and a Home Address option must match a binding (RFC 6275 §9.3.1).
        let chain = match ext::walk(&p.data()[ETH..]) {
            Ok(ch) => ch,
            Err(_) => return Verdict::Drop(Drop::ExtensionHeaders),
        };
        if chain.upper_proto == ipv6::proto::MOBILITY {
            return Verdict::Punt(Punt::Mobility, CORE);
        }
        if let Some(opt) = chain.home_address {
            if b.care_of(&opt.home.octets(), &dst.octets()) != Some(src.octets()) {
                return Verdict::Punt(Punt::HomeAddressUnverified, CORE);
            }
            match hao::strip(&mut p.data_mut()[..], ETH, &chain) {
                Ok(s) => {
                    p.adj(s.removed);
                    c.hao_rewritten.inc();
                }
                Err(_) => return Verdict::Drop(Drop::ExtensionHeaders),
            }
        }
    }
    if hl <= 1 {
        return Verdict::Punt(Punt::HopLimit, CORE);
    }
    if p.data().len() - ETH > topo.access_mtu {
        return Verdict::Punt(Punt::TooBig, CORE);
    }
    decrement_hop_limit(p, hl);
    link_out(topo, p, node as usize, ACCESS)
}


#[cfg(test)]
mod tests {
    //! The forwarding decisions on plain `Vec` buffers (no EAL), with a map for bindings.
    use super::*;
    use crate::attached::AttachedNode;
    use std::collections::HashMap;
    use wire::checksum;

    struct VecBuf {
        buf: Vec<u8>,
        start: usize,
    }

    impl VecBuf {
        fn new(frame: &[u8]) -> VecBuf {
            let mut buf = vec![0u8; 128];
            buf.extend_from_slice(frame);
            VecBuf { buf, start: 128 }
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

    #[derive(Default)]
    struct Map(HashMap<([u8; 16], [u8; 16]), [u8; 16]>);

    impl Bindings for Map {
        fn care_of(&self, home: &[u8; 16], attached: &[u8; 16]) -> Option<[u8; 16]> {
            self.0.get(&(*home, *attached)).copied()
        }
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
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
            proxy_coa: a("2001:db8:c0::1"),
            access_link_local: a("fe80::1"),
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
        let mut p = vec![0u8; 40];
        ipv6::Repr { src, dst, next_header: nh, payload_len: payload.len() as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(&mut p).unwrap();
        p.extend_from_slice(payload);
        p
    }

    /// UDP with a checksum over (pseudo_src, pseudo_dst).
    fn udp(pseudo_src: Ipv6Addr, pseudo_dst: Ipv6Addr, len: usize) -> Vec<u8> {
        let mut u = vec![0u8; 8 + len];
        u[0..2].copy_from_slice(&1000u16.to_be_bytes());
        u[2..4].copy_from_slice(&2000u16.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
        let c = checksum::upper_layer(&pseudo_src, &pseudo_dst, ipv6::proto::UDP, &u);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        u
    }

    fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        ethernet::write_header(&mut f, dst, src, ETHERTYPE_IPV6).unwrap();
        f.extend_from_slice(ip);
        f
    }

    fn hao_packet(src: Ipv6Addr, dst: Ipv6Addr, home: Ipv6Addr) -> Vec<u8> {
        let mut opts = vec![0u8; hao::DEST_OPTS_LEN];
        hao::emit_dest_opts(&mut opts, ipv6::proto::UDP, &home).unwrap();
        opts.extend_from_slice(&udp(home, dst, 20));
        ip6(src, dst, ipv6::proto::DEST_OPTS, &opts)
    }

    fn tunneled(inner: &[u8]) -> Vec<u8> {
        ip6(a("2001:db8:c0::2"), a("2001:db8:c0::1"), ipv6::proto::IPV6, inner)
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
        assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(CORE));
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

    #[test]
    fn uplink_without_binding_or_with_agent_off_is_not_optimized() {
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), 30));
        for (t, b) in [(topo(true), Map::default()), (topo(false), bound())] {
            let c = WorkerCounters::default();
            let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
            assert_eq!(uplink(&t, &b, &c, &mut p), Verdict::Forward(CORE));
            let d = tunnel::decapsulate(&p.data()[ETH..]).unwrap();
            assert_eq!(ipv6::Header::new_checked(&p.data()[ETH + d.inner_offset..]).unwrap().dst_addr(), a(HOME));
            assert_eq!(c.rh2_inserted.get(), 0);
        }
    }

    #[test]
    fn uplink_too_big_with_rh2_is_punted_for_packet_too_big() {
        let (t, c) = (topo(true), WorkerCounters::default());
        // 1500 − 40 (tunnel) − 24 (RH2) = 1436 fits; one byte more does not.
        for (len, verdict) in [(1436 - 48, Verdict::Forward(CORE)), (1437 - 48, Verdict::Punt(Punt::TooBigOptimized, ACCESS))] {
            let pkt = ip6(a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(MN2), a(HOME), len));
            let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
            assert_eq!(uplink(&t, &bound(), &c, &mut p), verdict, "{} bytes", pkt.len());
        }
    }

    #[test]
    fn uplink_mobility_header_never_gets_rh2() {
        let (t, c) = (topo(true), WorkerCounters::default());
        let mut mh = vec![59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        wire::mobility::fill_checksum(&mut mh, &a(MN2), &a(HOME)).unwrap();
        let pkt = ip6(a(MN2), a(HOME), ipv6::proto::MOBILITY, &mh);
        let mut p = VecBuf::new(&frame(ACCESS_MAC, MN2_MAC, &pkt));
        assert_eq!(uplink(&t, &bound(), &c, &mut p), Verdict::Forward(CORE));
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
        assert_eq!(downlink(&t, &bound(), &c, &mut p), Verdict::Forward(ACCESS));
        let ip = &p.data()[ETH..];
        let h = ipv6::Header::new_checked(ip).unwrap();
        // Source := home address, the Destination Options header gone, checksum valid.
        assert_eq!((h.src_addr(), h.dst_addr(), h.next_header(), h.hop_limit()), (a(HOME), a(MN2), ipv6::proto::UDP, 63));
        assert_eq!(ip.len(), 40 + 28);
        assert!(checksum::verify_upper_layer(&a(HOME), &a(MN2), ipv6::proto::UDP, &ip[40..]));
        assert_eq!(&p.data()[..6], &MN2_MAC);
        assert_eq!(c.hao_rewritten.get(), 1);
    }

    #[test]
    fn downlink_hao_without_binding_or_from_another_address_is_punted() {
        let t = topo(true);
        for (src, b) in [(a(CARE_OF), Map::default()), (a("2001:db8:2::999"), bound())] {
            let c = WorkerCounters::default();
            let inner = hao_packet(src, a(MN2), a(HOME));
            let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
            assert_eq!(downlink(&t, &b, &c, &mut p), Verdict::Punt(Punt::HomeAddressUnverified, CORE));
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
        assert_eq!(downlink(&topo(true), &Map::default(), &c, &mut p), Verdict::Punt(Punt::Mobility, CORE));
        let mut p = VecBuf::new(&frame(CORE_MAC, LMA_MAC, &tunneled(&inner)));
        assert_eq!(downlink(&topo(false), &Map::default(), &c, &mut p), Verdict::Forward(ACCESS));
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
            let t = topo(true);
            let c = WorkerCounters::default();
            for bound in [false, true] {
                let mut p = VecBuf::new(bytes);
                let v = match (access, bound) {
                    (true, true) => uplink(&t, &All, &c, &mut p),
                    (true, false) => uplink(&t, &Map::default(), &c, &mut p),
                    (false, true) => downlink(&t, &All, &c, &mut p),
                    (false, false) => downlink(&t, &Map::default(), &c, &mut p),
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
