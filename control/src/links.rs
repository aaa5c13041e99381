//! The MAG's own traffic on its two links, with no I/O: Neighbor Discovery for its addresses
//! (RFC 4861), learning and resolving next hops (holding a few packets per unresolved
//! neighbor, as a kernel does), ICMPv6 errors (RFC 4443) and echo replies, and the framing of
//! packets sent on an attached node's behalf (up its LMA tunnel, or routed).
//! Everything leaves through an [`Egress`].

use crate::config::Config;
use crate::counters::ControlCounters;
use crate::egress::Egress;
use crate::neighbors::{self, Advert, Neighbors, Solicit};
use crate::ratelimit::TokenBucket;
use dataplane::counters::{Punt, Role};
use dataplane::forward::{Mode, PacketBuf, Topology};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;
use wire::ethernet::{self, fmt_mac, MacAddr};
use wire::icmpv6::{self, ErrorKind};
use wire::nd::{self, Nd};
use wire::{ipv6, tunnel};

const ETH: usize = ethernet::HEADER_LEN;
/// "Neighbor ... is at ..." lines per second (and burst); the counters count them all.
const ND_LOG_PER_SEC: u32 = 10;

/// What `Links` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub icmp_errors_per_sec: u32,
    /// Neighbor Advertisements for the MAG's addresses per second (and burst): one bucket
    /// for all sources, so a flood from spoofed sources costs no state.
    pub advertisements_per_sec: u32,
    pub neighbors: neighbors::Settings,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            icmp_errors_per_sec: c.control.icmp_errors_per_sec,
            advertisements_per_sec: c.neighbors.advertisements_per_sec,
            neighbors: neighbors::Settings::from_config(&c.neighbors),
        }
    }
}

/// A Neighbor Discovery message heard from a node on the access link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub mac: MacAddr,
    /// Its IPv6 source (a link-local address, or unspecified during DAD).
    pub src: Ipv6Addr,
    pub router_solicit: bool,
}

pub struct Links<B> {
    topo: Arc<Topology>,
    icmp: TokenBucket,
    advertisements: TokenBucket,
    /// Reachability of the neighbor slots and the packets held for them.
    pub nd: Neighbors<B>,
    pub counters: Arc<ControlCounters>,
    /// Lines about changed neighbor addresses: anyone on a link can send ND from spoofed
    /// sources inside a node's prefix as fast as the control core reads them.
    nd_log: TokenBucket,
    nd_log_suppressed: u64,
    /// Scratch for the timers' output.
    changes: Vec<(usize, Option<(MacAddr, bool)>)>,
    solicits: Vec<Solicit>,
}

impl<B: PacketBuf> Links<B> {
    pub fn new(topo: Arc<Topology>, settings: Settings) -> Self {
        let icmp = settings.icmp_errors_per_sec;
        let na = settings.advertisements_per_sec;
        let nd = Neighbors::new(&topo, settings.neighbors);
        Links {
            topo,
            icmp: TokenBucket::new(icmp, icmp.max(1)),
            advertisements: TokenBucket::new(na, na.max(1)),
            nd,
            nd_log: TokenBucket::new(ND_LOG_PER_SEC, ND_LOG_PER_SEC),
            nd_log_suppressed: 0,
            counters: Arc::default(),
            changes: Vec::new(),
            solicits: Vec::new(),
        }
    }

    pub fn topo(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// The MAG's address on the link with `role`.
    fn mine(&self, role: Role) -> Ipv6Addr {
        match role {
            Role::Access => self.topo.own.access_link_local(),
            Role::Core => self.topo.own.proxy_coa(),
        }
    }

    fn our_mac(&self, role: Role) -> MacAddr {
        match role {
            Role::Access => self.topo.access_mac,
            Role::Core => self.topo.core_mac,
        }
    }

    /// ND and packets for the MAG's own addresses, received on the link with `role`.
    /// Returns what the PMIPv6 signaling wants to know of it: a node's Router Solicitation
    /// or Neighbor Discovery message, from its MAC.
    pub fn on_local(&mut self, now: Duration, frame: &[u8], role: Role, out: &mut impl Egress<Buf = B>) -> Option<Heard> {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else { return None };
        let peer_mac = eth.src();
        let ip = &frame[ETH..];
        let Ok(h) = ipv6::Header::new_checked(ip) else { return None };
        let (src, dst) = (h.src_addr(), h.dst_addr());
        let mine = self.mine(role);
        let heard = |solicit| (role == Role::Access).then_some(Heard { mac: peer_mac, src, router_solicit: solicit });
        match nd::parse(ip) {
            Ok(Some(Nd::NeighborSolicit { target, source_ll })) => {
                self.counters.nd_received.inc();
                if !src.is_unspecified() {
                    if let (Some(ll), Some(slot)) = (source_ll, self.slot_of(role, &src)) {
                        // RFC 4861 §7.2.3.
                        let change = self.nd.on_solicit(now, slot, src, ll, &self.counters);
                        self.apply(now, slot, src, role, change, out);
                    }
                }
                if target != mine {
                    return heard(false);
                }
                if !self.advertisements.take(now) {
                    self.counters.na_rate_limited.inc();
                    return heard(false);
                }
                // RFC 4861 §7.2.4: unicast to the soliciting node, or all-nodes if it had no
                // address (duplicate address detection), then not Solicited.
                let (to, to_mac, solicited) = if src.is_unspecified() {
                    (ipv6::ALL_NODES, ethernet::ipv6_multicast_mac(&ipv6::ALL_NODES), false)
                } else {
                    (src, source_ll.unwrap_or(peer_mac), true)
                };
                let our_mac = self.our_mac(role);
                // Router flag on the access link only: there the MAG is the nodes' default router.
                if self.send(role, to_mac, |o| nd::build_neighbor_advert(o, &mine, &to, &mine, &our_mac, role == Role::Access, solicited, true), out) {
                    self.counters.na_sent.inc();
                }
                heard(false)
            }
            Ok(Some(Nd::NeighborAdvert { target, target_ll, solicited, override_, .. })) => {
                self.counters.nd_received.inc();
                if let Some(slot) = self.slot_of(role, &target) {
                    // RFC 4861 §7.2.5.
                    let change = self.nd.on_advert(now, slot, Advert { addr: target, tlla: target_ll, solicited, override_ }, &self.counters);
                    self.apply(now, slot, target, role, change, out);
                }
                heard(false)
            }
            Ok(Some(Nd::RouterSolicit { .. })) => {
                self.counters.nd_received.inc();
                heard(true)
            }
            Ok(None) => {
                // Ping the MAG: answer echo requests to its own addresses (RFC 4443 §4.2).
                let body = ip.get(ipv6::HEADER_LEN..h.total_len()).unwrap_or(&[]);
                if dst == mine && h.next_header() == ipv6::proto::ICMPV6 && body.first() == Some(&icmpv6::ECHO_REQUEST) && body.len() >= 8 {
                    let id = u16::from_be_bytes([body[4], body[5]]);
                    let seq = u16::from_be_bytes([body[6], body[7]]);
                    if self.send(role, peer_mac, |o| icmpv6::build_echo(o, &mine, &src, false, id, seq, &body[8..]), out) {
                        self.counters.echo_replies.inc();
                    }
                } else {
                    self.counters.unhandled.inc();
                }
                None
            }
            Err(_) => {
                self.counters.nd_invalid.inc();
                None
            }
        }
    }

    /// Neighbor slot of `addr` on the link with `role`: an attached node's on the access
    /// link, a configured next hop's on the core link. Nothing else has one.
    fn slot_of(&self, role: Role, addr: &Ipv6Addr) -> Option<usize> {
        match role {
            Role::Access => self.topo.attached.lookup(&addr.octets()).map(|i| i as usize),
            Role::Core => self.topo.core_next_hops.iter().position(|a| a == addr).map(|i| self.topo.core_slot(i)),
        }
    }

    /// Carries a change of neighbor `slot`'s MAC (`addr` on `role`) out to the workers'
    /// slot, and sends what was held for it.
    fn apply(&mut self, now: Duration, slot: usize, addr: Ipv6Addr, role: Role, change: Option<(MacAddr, bool)>, out: &mut impl Egress<Buf = B>) {
        let Some((mac, watched)) = change else { return };
        if self.topo.neighbors.get(slot) != Some(mac) {
            self.counters.neighbors_learned.inc();
            if self.nd_log.take(now) {
                let note = match std::mem::take(&mut self.nd_log_suppressed) {
                    0 => String::new(),
                    n => format!(" ({n} such line(s) suppressed before this one)"),
                };
                tracing::info!("neighbor {addr} is at {} on the {role} link{note}", fmt_mac(&mac));
            } else {
                self.nd_log_suppressed += 1;
            }
        }
        if watched {
            out.watch_neighbor(slot, mac);
        } else {
            out.learn_neighbor(slot, mac);
        }
        self.release(slot, mac, out);
    }

    /// Sends what was held for `slot` now that it is known to be at `mac`.
    fn release(&mut self, slot: usize, mac: MacAddr, out: &mut impl Egress<Buf = B>) {
        let Some((role, packets)) = self.nd.take_held(slot) else { return };
        for mut m in packets {
            if let Some(d) = m.data_mut().get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            self.counters.held_sent.inc();
            out.send(role, m);
        }
    }

    /// A packet ready to leave by the link with `role` but for the next hop's MAC: held
    /// while it is solicited (capped per neighbor and in all, `neighbors`).
    pub fn hold(&mut self, now: Duration, mut m: B, role: Role, out: &mut impl Egress<Buf = B>) {
        let ip = m.data().get(ETH..).unwrap_or(&[]);
        let Ok(h) = ipv6::Header::new_checked(ip) else { return };
        let dst = h.dst_addr();
        let (slot, target) = match role {
            Role::Access => match self.topo.attached.lookup(&dst.octets()) {
                Some(i) => (i as usize, dst),
                None => return,
            },
            Role::Core => {
                let i = match self.topo.mode {
                    Mode::Tunnel => self.topo.lma_index(&dst),
                    Mode::Routed => self.topo.core_next_hops.len().checked_sub(1),
                };
                match i {
                    Some(i) => (self.topo.core_slot(i), self.topo.core_next_hops[i]),
                    None => return,
                }
            }
        };
        // A worker may have learned the address from traffic meanwhile.
        if let Some(mac) = self.topo.neighbors.get(slot) {
            self.release(slot, mac, out);
            if let Some(d) = m.data_mut().get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            self.counters.held.inc();
            self.counters.held_sent.inc();
            out.send(role, m);
            return;
        }
        let (now_ready, solicit) = self.nd.hold(now, slot, target, role, m, &self.counters);
        if let Some((mut m, mac)) = now_ready {
            if let Some(d) = m.data_mut().get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            out.send(role, m);
        }
        if let Some(s) = solicit {
            self.solicit(s, out);
        }
    }

    /// RFC 4861 §7.2.2: a multicast solicitation to the target's solicited-node address;
    /// §7.3.3: a probe, unicast to the cached MAC and the target itself.
    fn solicit(&mut self, s: Solicit, out: &mut impl Egress<Buf = B>) {
        let (role, target, to_mac, unicast) = match s {
            Solicit::Multicast { role, target } => (role, target, ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&target)), false),
            Solicit::Unicast { role, target, mac } => (role, target, mac, true),
        };
        let src = self.mine(role);
        let mac = self.our_mac(role);
        let sent = if unicast {
            self.send(role, to_mac, |o| emit_unicast_ns(o, &src, &target, &mac), out)
        } else {
            self.send(role, to_mac, |o| nd::build_neighbor_solicit(o, &src, &target, &mac), out)
        };
        if sent {
            self.counters.ns_sent.inc();
            if unicast {
                self.counters.probes_sent.inc();
            }
        }
    }

    /// Timers: resolutions, reachability (REACHABLE → STALE → DELAY → PROBE → forgotten).
    pub fn tick(&mut self, now: Duration, out: &mut impl Egress<Buf = B>) {
        let mut changes = std::mem::take(&mut self.changes);
        let mut solicits = std::mem::take(&mut self.solicits);
        self.nd.tick(now, &self.topo, &mut changes, &mut solicits, &self.counters);
        for (slot, change) in changes.drain(..) {
            match change {
                Some((mac, true)) => {
                    out.watch_neighbor(slot, mac);
                    self.release(slot, mac, out);
                }
                Some((mac, false)) => {
                    out.learn_neighbor(slot, mac);
                    self.release(slot, mac, out);
                }
                None => out.forget_neighbor(slot),
            }
        }
        for s in solicits.drain(..) {
            self.solicit(s, out);
        }
        self.changes = changes;
        self.solicits = solicits;
    }

    /// The MTU a Packet Too Big reports for a packet punted with `why` from the link `role`:
    /// the next link's, less the tunnel's outer header and, with route optimization, the
    /// Type 2 Routing Header the packet would have gained.
    pub fn too_big_mtu(&self, role: Role, why: Punt) -> u32 {
        let mtu = match role {
            Role::Access => {
                let outer = if self.topo.mode == Mode::Tunnel { tunnel::OUTER_LEN } else { 0 };
                let rh2 = if why == Punt::TooBigOptimized { wire::rh2::LEN } else { 0 };
                self.topo.core_mtu - outer - rh2
            }
            Role::Core => self.topo.access_mtu,
        };
        mtu as u32
    }

    /// An ICMPv6 error about `frame` (received on the link `role`) to its source, rate-limited
    /// (RFC 4443 §2.4(f)). From the access link it goes back on it from the access
    /// link-local address; about a packet that came down the tunnel it goes back up the
    /// tunnel from the Proxy-CoA.
    pub fn icmp_error(&mut self, now: Duration, frame: &[u8], role: Role, kind: ErrorKind, out: &mut impl Egress<Buf = B>) {
        let invoking = frame.get(ETH..).unwrap_or(&[]);
        if !icmpv6::may_send_error_kind(invoking, &kind) {
            self.counters.icmp_not_allowed.inc();
            return;
        }
        if !self.icmp.take(now) {
            self.counters.icmp_rate_limited.inc();
            return;
        }
        let Ok(h) = ipv6::Header::new_checked(invoking) else { return };
        let (to, orig_dst) = (h.src_addr(), h.dst_addr());
        let sent = match role {
            Role::Access => {
                let peer = ethernet::Frame::new_checked(frame).map(|e| e.src()).unwrap_or([0; 6]);
                let src = self.topo.own.access_link_local();
                self.send(Role::Access, peer, |o| icmpv6::build_error(o, &src, &to, kind, invoking), out)
            }
            Role::Core => {
                let src = self.topo.own.proxy_coa();
                self.send_as_node(now, &orig_dst, |o| icmpv6::build_error(o, &src, &to, kind, invoking), out)
            }
        };
        if sent {
            match kind {
                ErrorKind::TimeExceeded(_) => self.counters.time_exceeded_sent.inc(),
                ErrorKind::PacketTooBig { .. } => self.counters.packet_too_big_sent.inc(),
                _ => {}
            }
        }
    }

    /// Builds a frame (`build` writes the IPv6 packet after the Ethernet header and returns
    /// its length) and sends it on the link `role` to `to_mac`.
    pub fn send(&mut self, role: Role, to_mac: MacAddr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>, out: &mut impl Egress<Buf = B>) -> bool {
        match self.build_frame(role, to_mac, build, out) {
            Some(m) => {
                out.send(role, m);
                true
            }
            None => false,
        }
    }

    /// A frame for the link `role`, or None (no buffer, or `build` failed).
    fn build_frame(&mut self, role: Role, to_mac: MacAddr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>, out: &mut impl Egress<Buf = B>) -> Option<B> {
        crate::egress::build_frame(out, to_mac, self.our_mac(role), build, &self.counters.no_mbuf)
    }

    /// Sends an IPv6 packet of an attached node's (built by `build`; `node_addr` is the
    /// node's address) the way the node's own traffic goes: up its LMA's tunnel
    /// (RFC 5213 §6.10.5), or routed. An unknown next hop is resolved first.
    pub fn send_as_node(
        &mut self,
        now: Duration,
        node_addr: &Ipv6Addr,
        build: impl FnOnce(&mut [u8]) -> wire::Result<usize>,
        out: &mut impl Egress<Buf = B>,
    ) -> bool {
        let topo = self.topo.clone();
        let (slot, frame) = match topo.mode {
            Mode::Tunnel => {
                let lma = topo.attached.lookup(&node_addr.octets()).and_then(|i| topo.attached.node(i)).map_or(0, |n| n.lma as usize);
                let Some(&dst) = topo.lmas.get(lma) else { return false };
                let (src, hl) = (topo.own.proxy_coa(), topo.tunnel_hop_limit);
                let slot = topo.core_slot(lma);
                let mac = topo.neighbors.get(slot).unwrap_or([0; 6]);
                let frame = self.build_frame(
                    Role::Core,
                    mac,
                    |o| {
                        let n = build(o.get_mut(tunnel::OUTER_LEN..).unwrap_or(&mut []))?;
                        tunnel::encapsulate(&mut o[..tunnel::OUTER_LEN + n], &src, &dst, hl)?;
                        Ok(tunnel::OUTER_LEN + n)
                    },
                    out,
                );
                (slot, frame)
            }
            Mode::Routed => {
                let slot = topo.core_slot(topo.core_next_hops.len().saturating_sub(1));
                let mac = topo.neighbors.get(slot).unwrap_or([0; 6]);
                (slot, self.build_frame(Role::Core, mac, build, out))
            }
        };
        let Some(m) = frame else { return false };
        if topo.neighbors.get(slot).is_some() {
            out.send(Role::Core, m);
        } else {
            self.hold(now, m, Role::Core, out);
        }
        true
    }

    /// Sends the MAG's own IPv6 packet (built by `build`) to LMA `lma` over the core link,
    /// not tunnelled (PMIPv6 signaling, RFC 5213 §6.9.1.1); its next hop is resolved first.
    pub fn send_to_lma(&mut self, now: Duration, lma: &Ipv6Addr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>, out: &mut impl Egress<Buf = B>) -> bool {
        let Some(i) = self.topo.lma_index(lma) else { return false };
        let slot = self.topo.core_slot(i);
        let mac = self.topo.neighbors.get(slot);
        let Some(m) = self.build_frame(Role::Core, mac.unwrap_or([0; 6]), build, out) else { return false };
        match mac {
            Some(_) => out.send(Role::Core, m),
            None => self.hold(now, m, Role::Core, out),
        }
        true
    }

    /// Drops everything held (shutdown).
    pub fn drain(&mut self) {
        self.nd.drain();
    }
}

/// A Neighbor Solicitation for `target` sent to the target itself, not its solicited-node
/// group (NUD, RFC 4861 §7.2.2): built as usual, then the destination made the target and
/// the checksum redone.
pub(crate) fn emit_unicast_ns(o: &mut [u8], src: &Ipv6Addr, target: &Ipv6Addr, mac: &MacAddr) -> wire::Result<usize> {
    let n = nd::build_neighbor_solicit(o, src, target, mac)?;
    o[24..40].copy_from_slice(&target.octets());
    let mut m = icmpv6::Message::new_checked(&mut o[ipv6::HEADER_LEN..n])?;
    m.fill_checksum(src, target);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use crate::counters::{HeldDrop, NdRefused};
    use crate::neighbors::State;
    use crate::testing::*;
    use dataplane::counters::{Punt, Role};
    use wire::icmpv6::{self, ErrorKind};
    use wire::nd::{self, Nd};
    use wire::testpkt::{echo_request, ip6, neighbor_solicit, tunneled, udp_packet};
    use wire::{ethernet, ipv6};

    fn nd_of(f: &[u8]) -> Nd {
        nd::parse(ip_of(f)).unwrap().expect("an ND message")
    }

    fn src_dst(f: &[u8]) -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
        let h = ipv6::Header::new_checked(ip_of(f)).unwrap();
        (h.src_addr(), h.dst_addr())
    }

    /// The ICMPv6 message of an IPv6 packet, its checksum checked.
    fn icmp_of(ip: &[u8]) -> (ErrorKind, Vec<u8>) {
        let h = ipv6::Header::new_checked(ip).unwrap();
        assert_eq!(h.next_header(), ipv6::proto::ICMPV6);
        let m = icmpv6::Message::new_checked(&ip[ipv6::HEADER_LEN..h.total_len()]).unwrap();
        assert!(m.verify_checksum(&h.src_addr(), &h.dst_addr()), "ICMPv6 checksum");
        (m.error_kind().expect("an ICMPv6 error"), m.body()[4..].to_vec())
    }

    /// A Neighbor Advertisement from `src` for `target`, with or without the target
    /// link-layer address option.
    fn neighbor_advert(src: &str, target: &str, mac: [u8; 6], with_tlla: bool) -> Vec<u8> {
        advert(src, target, mac, with_tlla, true, true)
    }

    /// As [`neighbor_advert`], with the Solicited and Override flags chosen.
    fn advert(src: &str, target: &str, mac: [u8; 6], with_tlla: bool, solicited: bool, override_: bool) -> Vec<u8> {
        let mut b = vec![0u8; 200];
        let n = nd::build_neighbor_advert(&mut b, &a(src), &a(MAG_LL), &a(target), &mac, false, solicited, override_).unwrap();
        b.truncate(n);
        if !with_tlla {
            // Cut the 8-byte option, fix the payload length and the checksum.
            b.truncate(n - 8);
            let len = (b.len() - ipv6::HEADER_LEN) as u16;
            b[4..6].copy_from_slice(&len.to_be_bytes());
            let mut m = icmpv6::Message::new_checked(&mut b[ipv6::HEADER_LEN..]).unwrap();
            m.fill_checksum(&a(src), &a(MAG_LL));
        }
        b
    }

    // --- Neighbor Advertisements for the MAG's own addresses (RFC 4861 §7.2.4) ---

    /// The NA for each of the MAG's addresses: unicast back, Solicited and Override, and the
    /// Router flag on the access link only (where the MAG is the nodes' default router).
    #[test]
    fn ns_for_each_own_address_gets_a_solicited_override_na_router_on_access_only() {
        for (role, peer, peer_mac, mine, our_mac, router) in
            [(Role::Access, MN2, MN2_MAC, MAG_LL, ACCESS_MAC, true), (Role::Core, LMA, LMA_MAC, PROXY_COA, CORE_MAC, false)]
        {
            let mut h = Harness::new(TUNNEL);
            h.punt(Punt::NeighborDiscovery, role, &frame(our_mac, peer_mac, &neighbor_solicit(a(peer), a(mine), peer_mac)));
            let sent = h.sent();
            assert_eq!(sent.len(), 1, "{role}");
            let (r, f) = &sent[0];
            assert_eq!(*r, role);
            assert_eq!((&f[..6], &f[6..12]), (&peer_mac[..], &our_mac[..]));
            assert_eq!(src_dst(f), (a(mine), a(peer)));
            assert_eq!(nd_of(f), Nd::NeighborAdvert { target: a(mine), router, solicited: true, override_: true, target_ll: Some(our_mac) });
            assert_eq!(h.plane.links.counters.na_sent.get(), 1);
        }
    }

    #[test]
    fn a_duplicate_address_probe_is_answered_to_all_nodes_unsolicited() {
        let mut h = Harness::new(TUNNEL);
        // DAD: from the unspecified address, so without a source link-layer option.
        let ns = neighbor_solicit(a("::"), a(MAG_LL), MN2_MAC);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&ns));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let f = &sent[0].1;
        assert_eq!(&f[..6], &ethernet::ipv6_multicast_mac(&a("ff02::1"))[..]);
        assert_eq!(src_dst(f), (a(MAG_LL), a("ff02::1")));
        assert!(matches!(nd_of(f), Nd::NeighborAdvert { solicited: false, .. }));
        assert!(h.out.learned.is_empty(), "nothing to learn from the unspecified address");
    }

    #[test]
    fn ns_for_another_target_is_not_answered_but_teaches_the_sender() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a("fe80::99"), MN2_MAC)));
        assert!(h.sent().is_empty());
        assert_eq!(h.out.learned, [(0, MN2_MAC)]);
        assert_eq!(h.topo().neighbors.get(0), Some(MN2_MAC));
        assert_eq!(h.plane.links.counters.neighbors_learned.get(), 1);
    }

    // --- Learning ---

    /// RFC 4861 §7.2.5: an advertisement for no entry is discarded; one answering a
    /// resolution must carry the target's address; a different address replaces the known
    /// one only with Override; Solicited confirms (REACHABLE), anything else is STALE.
    #[test]
    fn advertisements_follow_rfc_4861_7_2_5() {
        const OTHER: [u8; 6] = [2, 0, 0, 0, 0x77, 1];
        let mut h = Harness::new(TUNNEL);
        let slot = h.topo().core_slot(0);
        let c = h.plane.links.counters.clone();
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, true)));
        assert_eq!((h.topo().neighbors.get(slot), c.nd_refused(NdRefused::NoEntry).get()), (None, 1), "no entry, discarded");
        h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(1));
        h.sent();
        assert_eq!(h.plane.links.nd.state(slot), State::Incomplete);
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, false)));
        assert_eq!((h.topo().neighbors.get(slot), c.nd_refused(NdRefused::NoTargetAddress).get()), (None, 1));
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, true)));
        assert_eq!((h.topo().neighbors.get(slot), h.plane.links.nd.state(slot)), (Some(LMA_MAC), State::Reachable));
        assert_eq!(h.sent().len(), 1, "the held packet");
        // Another MAC without Override: not taken, and no longer REACHABLE.
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&advert(LMA, LMA, OTHER, true, true, false)));
        assert_eq!((h.topo().neighbors.get(slot), h.plane.links.nd.state(slot)), (Some(LMA_MAC), State::Stale));
        assert_eq!(c.nd_refused(NdRefused::NoOverride).get(), 1);
        // With Override, unsolicited: taken, STALE (unconfirmed).
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&advert(LMA, LMA, OTHER, true, false, true)));
        assert_eq!((h.topo().neighbors.get(slot), h.plane.links.nd.state(slot)), (Some(OTHER), State::Stale));
        // Solicited without the option: confirmed, the address kept.
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, false)));
        assert_eq!((h.topo().neighbors.get(slot), h.plane.links.nd.state(slot)), (Some(OTHER), State::Reachable));
        assert_eq!(c.neighbors_learned.get(), 2);
        assert_eq!(c.nd_received.get(), 6);
    }

    /// Changed addresses are all counted, but logged at most 10 a second: spoofed sources
    /// in a node's prefix must not flood the log.
    #[test]
    fn neighbor_changes_are_logged_at_most_ten_a_second() {
        let mut h = Harness::new(TUNNEL);
        for i in 0..25u8 {
            let mac = [2, 0, 0, 0, 0x99, i];
            h.punt(Punt::NeighborDiscovery, Role::Access, &frame(ACCESS_MAC, mac, &neighbor_solicit(a(MN2), a("fe80::99"), mac)));
        }
        assert_eq!((h.plane.links.counters.neighbors_learned.get(), h.plane.links.nd_log_suppressed), (25, 15));
        h.now += std::time::Duration::from_millis(100);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a("fe80::99"), MN2_MAC)));
        assert_eq!(h.plane.links.nd_log_suppressed, 0, "logged, with the count of those left out");
    }

    /// A configured MAC is permanent: ND does not change it.
    #[test]
    fn a_configured_mac_is_not_changed_by_nd() {
        let mut h = Harness::new(&TUNNEL.replace("address = \"2001:db8:c0::2\"\n", "address = \"2001:db8:c0::2\"\nmac = \"02:00:00:00:0c:02\"\n"));
        let slot = h.topo().core_slot(0);
        assert_eq!(h.plane.links.nd.state(slot), State::Permanent);
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, [2, 0, 0, 0, 0x77, 1], true)));
        h.punt(Punt::NeighborDiscovery, Role::Core, &frame(CORE_MAC, [2, 0, 0, 0, 0x77, 1], &neighbor_solicit(a(LMA), a(PROXY_COA), [2, 0, 0, 0, 0x77, 1])));
        assert_eq!(h.topo().neighbors.get(slot), Some(LMA_MAC));
        assert_eq!(h.plane.links.counters.nd_refused(NdRefused::Permanent).get(), 2);
        h.tick_at(100.0);
        assert_eq!(h.plane.links.counters.probes_sent.get(), 0, "never probed");
    }

    #[test]
    fn only_configured_neighbors_are_learned() {
        let mut h = Harness::new(TUNNEL);
        // Not an attached node's address on the access link, not a next hop on the core.
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a("2001:db8:9::1"), a(MAG_LL), MN2_MAC)));
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert("2001:db8:c0::77", "2001:db8:c0::77", LMA_MAC, true)));
        assert!(h.out.learned.is_empty());
    }

    #[test]
    fn invalid_nd_is_counted() {
        let mut h = Harness::new(TUNNEL);
        let mut ns = neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC);
        ns[7] = 64; // RFC 4861 §7.1.1: the hop limit must be 255
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&ns));
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.nd_invalid.get(), 1);
    }

    // --- Resolution of an unknown next hop (RFC 4861 §7.2.2, §7.3.3) ---

    /// A packet up the tunnel to the LMA, ready to go but for the LMA's MAC.
    fn unresolved_uplink(n: u8) -> Vec<u8> {
        let inner = udp_packet(a(MN2), a(HOME), 63, 1000, 2000, &[n; 10]);
        frame([0; 6], CORE_MAC, &tunneled(a(PROXY_COA), a(LMA), &inner))
    }

    fn solicitations(sent: &[(Role, Vec<u8>)]) -> usize {
        sent.iter().filter(|(r, f)| *r == Role::Core && matches!(nd::parse(ip_of(f)), Ok(Some(Nd::NeighborSolicit { .. })))).count()
    }

    #[test]
    fn an_unknown_next_hop_is_solicited_three_times_a_second_apart_then_its_packets_dropped() {
        let mut h = Harness::new(TUNNEL);
        for n in 0..4 {
            h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(n));
        }
        let c = h.plane.links.counters.clone();
        assert_eq!((c.held.get(), c.held_dropped(HeldDrop::PerNeighbor).get()), (4, 1), "3 held per neighbor, the oldest dropped");
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "one solicitation for the four");
        let f = &sent[0].1;
        assert_eq!(&f[..6], &ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&a(LMA)))[..]);
        assert_eq!(src_dst(f), (a(PROXY_COA), ipv6::solicited_node(&a(LMA))));
        assert_eq!(nd_of(f), Nd::NeighborSolicit { target: a(LMA), source_ll: Some(CORE_MAC) });
        h.tick_at(0.9);
        assert_eq!(solicitations(&h.sent()), 0, "not before a second");
        h.tick_at(1.0);
        assert_eq!(solicitations(&h.sent()), 1);
        h.tick_at(2.0);
        assert_eq!(solicitations(&h.sent()), 1);
        assert_eq!(c.ns_sent.get(), 3);
        assert_eq!(c.held_dropped(HeldDrop::PerNeighbor).get(), 1);
        h.tick_at(3.0);
        assert!(h.sent().is_empty(), "no fourth solicitation");
        assert_eq!(c.held_dropped(HeldDrop::Unresolved).get(), 3, "the three held packets dropped");
        assert_eq!(c.forgotten_unresolved.get(), 1);
        // A late answer finds nothing held.
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, true)));
        assert!(h.sent().is_empty());
        assert_eq!(c.held_sent.get(), 0);
    }

    #[test]
    fn the_answer_releases_the_held_packets_in_order_to_the_learned_mac() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(1));
        h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(2));
        h.sent();
        h.tick_at(0.5);
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&neighbor_advert(LMA, LMA, LMA_MAC, true)));
        let sent = h.sent();
        assert_eq!(sent.len(), 2);
        for (i, (role, f)) in sent.iter().enumerate() {
            assert_eq!(*role, Role::Core);
            assert_eq!(&f[..6], &LMA_MAC[..]);
            assert_eq!(&f[6..], &unresolved_uplink(i as u8 + 1)[6..]);
        }
        assert_eq!(h.plane.links.counters.held_sent.get(), 2);
        h.tick_at(5.0);
        assert!(h.sent().is_empty(), "nothing left to solicit");
    }

    #[test]
    fn a_neighbor_a_worker_learned_from_traffic_gets_held_packets_at_once() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(1));
        h.sent();
        // A worker saw the LMA's traffic meanwhile.
        let slot = h.topo().core_slot(0);
        h.topo().neighbors.learn(slot, LMA_MAC);
        h.punt(Punt::Unresolved, Role::Core, &unresolved_uplink(2));
        let sent = h.sent();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|(_, f)| f[..6] == LMA_MAC));
    }

    #[test]
    fn downlink_to_an_unresolved_attached_node_is_solicited_on_the_access_link() {
        let mut h = Harness::new(TUNNEL);
        let down = frame([0; 6], ACCESS_MAC, &udp_packet(a(HOME), a(MN2), 63, 1, 2, b"x"));
        h.punt(Punt::Unresolved, Role::Access, &down);
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, Role::Access);
        assert_eq!(src_dst(&sent[0].1), (a(MAG_LL), ipv6::solicited_node(&a(MN2))));
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC)));
        let sent = h.sent();
        // The held packet, then the NA.
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], (Role::Access, [&MN2_MAC[..], &down[6..]].concat()));
    }

    // --- ICMPv6 errors (RFC 4443): contents, source, rate limit ---

    #[test]
    fn time_exceeded_goes_back_on_the_access_link_from_the_link_local_address() {
        let mut h = Harness::new(TUNNEL);
        let invoking = udp_packet(a(MN2), a(HOME), 1, 1000, 2000, b"expired");
        h.punt(Punt::HopLimit, Role::Access, &from_mn2(&invoking));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let (role, f) = &sent[0];
        assert_eq!(*role, Role::Access);
        assert_eq!((&f[..6], &f[6..12]), (&MN2_MAC[..], &ACCESS_MAC[..]));
        assert_eq!(src_dst(f), (a(MAG_LL), a(MN2)));
        let (kind, quoted) = icmp_of(ip_of(f));
        assert_eq!(kind, ErrorKind::TimeExceeded(0));
        assert_eq!(quoted, invoking, "the invoking packet, whole");
        assert_eq!(h.plane.links.counters.time_exceeded_sent.get(), 1);
    }

    #[test]
    fn packet_too_big_reports_the_core_mtu_less_the_tunnel_and_the_rh2() {
        for (why, mtu) in [(Punt::TooBig, 1500 - 40), (Punt::TooBigOptimized, 1500 - 40 - 24)] {
            let mut h = Harness::new(TUNNEL);
            h.punt(why, Role::Access, &from_mn2(&udp_packet(a(MN2), a(HOME), 64, 1, 2, &[0; 1460])));
            let sent = h.sent();
            assert_eq!(sent.len(), 1, "{why:?}");
            assert_eq!(icmp_of(ip_of(&sent[0].1)).0, ErrorKind::PacketTooBig { mtu }, "{why:?}");
            assert_eq!(h.plane.links.counters.packet_too_big_sent.get(), 1);
        }
        // Routed: no tunnel header to take off.
        let mut h = Harness::new(ROUTED);
        h.punt(Punt::TooBig, Role::Access, &from_mn2(&udp_packet(a(MN2), a(HOME), 64, 1, 2, &[0; 1460])));
        assert_eq!(icmp_of(ip_of(&h.sent()[0].1)).0, ErrorKind::PacketTooBig { mtu: 1500 });
    }

    #[test]
    fn errors_about_downlink_packets_go_back_up_the_tunnel_from_the_proxy_coa() {
        let mut h = Harness::resolved(TUNNEL);
        // A decapsulated packet to MN2 that is too big for the access link.
        let invoking = udp_packet(a(HOME), a(MN2), 64, 1, 2, &[0; 1300]);
        h.punt(Punt::TooBig, Role::Core, &frame([0; 6], CORE_MAC, &invoking));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let (role, f) = &sent[0];
        assert_eq!(*role, Role::Core);
        assert_eq!((&f[..6], &f[6..12]), (&LMA_MAC[..], &CORE_MAC[..]));
        let outer = ipv6::Header::new_checked(ip_of(f)).unwrap();
        assert_eq!((outer.src_addr(), outer.dst_addr(), outer.next_header(), outer.hop_limit()), (a(PROXY_COA), a(LMA), ipv6::proto::IPV6, 60));
        let inner = &ip_of(f)[ipv6::HEADER_LEN..];
        let ih = ipv6::Header::new_checked(inner).unwrap();
        assert_eq!((ih.src_addr(), ih.dst_addr()), (a(PROXY_COA), a(HOME)));
        let (kind, quoted) = icmp_of(inner);
        assert_eq!(kind, ErrorKind::PacketTooBig { mtu: 1500 });
        // RFC 4443 §2.4(c): as much of the invoking packet as fits in the minimum MTU.
        assert_eq!(&quoted[..], &invoking[..quoted.len()]);
        assert!(inner.len() <= 1280);
    }

    #[test]
    fn icmp_errors_are_rate_limited_together() {
        let mut h = Harness::new(TUNNEL);
        let expired = from_mn2(&udp_packet(a(MN2), a(HOME), 1, 1, 2, b"x"));
        let big = from_mn2(&udp_packet(a(MN2), a(HOME), 64, 1, 2, &[0; 1460]));
        h.punt(Punt::HopLimit, Role::Access, &expired);
        h.punt(Punt::TooBig, Role::Access, &big);
        h.punt(Punt::HopLimit, Role::Access, &expired);
        let c = h.plane.links.counters.clone();
        assert_eq!(h.sent().len(), 2, "a burst of 2 at 2/s");
        assert_eq!(c.icmp_rate_limited.get(), 1);
        h.now += std::time::Duration::from_millis(499);
        h.punt(Punt::HopLimit, Role::Access, &expired);
        assert!(h.sent().is_empty());
        h.now += std::time::Duration::from_millis(2);
        h.punt(Punt::HopLimit, Role::Access, &expired);
        assert_eq!(h.sent().len(), 1, "a token every 500 ms");
        assert_eq!((c.time_exceeded_sent.get(), c.packet_too_big_sent.get(), c.icmp_rate_limited.get()), (2, 1, 2));
    }

    #[test]
    fn no_error_about_an_icmpv6_error() {
        let mut h = Harness::new(TUNNEL);
        let mut err = vec![0u8; 300];
        let inv = udp_packet(a(HOME), a(MN2), 64, 1, 2, b"x");
        let n = icmpv6::build_error(&mut err, &a(MN2), &a(HOME), ErrorKind::DestinationUnreachable(0), &inv).unwrap();
        err.truncate(n);
        err[7] = 1;
        h.punt(Punt::HopLimit, Role::Access, &from_mn2(&err));
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.icmp_not_allowed.get(), 1);
        assert_eq!(h.plane.links.counters.icmp_rate_limited.get(), 0, "refused before taking a token");
    }

    // --- Echo replies (RFC 4443 §4.2) ---

    #[test]
    fn echo_requests_to_the_mag_are_answered_on_the_link_they_came_from() {
        for (role, src, mine, peer, f) in [
            (Role::Access, MN2, MAG_LL, MN2_MAC, from_mn2(&echo_request(a(MN2), a(MAG_LL), 64, 7, 9))),
            (Role::Core, LMA, PROXY_COA, LMA_MAC, from_lma(&echo_request(a(LMA), a(PROXY_COA), 64, 7, 9))),
        ] {
            let mut h = Harness::new(TUNNEL);
            h.punt(Punt::ForUs, role, &f);
            let sent = h.sent();
            assert_eq!(sent.len(), 1, "{role}");
            let (r, out) = &sent[0];
            assert_eq!(*r, role);
            assert_eq!(&out[..6], &peer[..]);
            assert_eq!(src_dst(out), (a(mine), a(src)));
            let ip = ip_of(out);
            let m = icmpv6::Message::new_checked(&ip[ipv6::HEADER_LEN..]).unwrap();
            assert_eq!(m.msg_type(), 129);
            assert!(m.verify_checksum(&a(mine), &a(src)));
            assert_eq!(m.echo_id_seq(), Some((7, 9)));
            assert_eq!(&m.body()[4..], b"roagent-test");
            assert_eq!(h.plane.links.counters.echo_replies.get(), 1);
        }
    }

    #[test]
    fn other_packets_for_the_mag_are_counted_unhandled() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::ForUs, Role::Access, &from_mn2(&udp_packet(a(MN2), a(MAG_LL), 64, 1, 2, b"x")));
        // An echo request to an address that is not the MAG's on that link.
        h.punt(Punt::ForUs, Role::Access, &from_mn2(&echo_request(a(MN2), a(PROXY_COA), 64, 1, 1)));
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.unhandled.get(), 2);
    }

    #[test]
    fn no_buffer_no_answer_counted() {
        let mut h = Harness::new(TUNNEL);
        h.out.buffers = Some(0);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC)));
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.no_mbuf.get(), 1);
        assert_eq!(h.plane.links.counters.na_sent.get(), 0);
    }

    #[test]
    fn garbage_is_ignored_without_panic() {
        let mut h = Harness::new(TUNNEL);
        for why in dataplane::counters::Punt::ALL {
            for role in Role::ALL {
                for f in [vec![], vec![0u8; 13], from_mn2(&[0x60, 0, 0, 0, 0, 200, 58, 255]), from_mn2(&ip6(a(MN2), a(MAG_LL), 58, 255, &[135]))] {
                    h.punt(*why, role, &f);
                }
            }
        }
    }
}
