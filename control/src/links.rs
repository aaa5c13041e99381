//! The MAG's own traffic on its two links, with no I/O: Neighbor Discovery for its addresses
//! (RFC 4861), learning and resolving next hops (holding a few packets per unresolved
//! neighbor, as a kernel does), ICMPv6 errors (RFC 4443) and echo replies, and the framing of
//! packets sent on an attached node's behalf (up its LMA tunnel, or routed).
//! Everything leaves through an [`Egress`].

use crate::counters::ControlCounters;
use crate::egress::Egress;
use crate::ratelimit::TokenBucket;
use dataplane::counters::{Punt, Role};
use dataplane::forward::{Mode, PacketBuf, Topology};
use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::icmpv6::{self, ErrorKind};
use wire::nd::{self, Nd};
use wire::{ipv6, tunnel};

const ETH: usize = ethernet::HEADER_LEN;
/// Packets held per unresolved neighbor (Linux's unres_qlen_bytes is similar in spirit).
pub const HOLD_MAX: usize = 3;
/// Solicitations sent before held packets are dropped (RFC 4861 §7.3.3 MAX_MULTICAST_SOLICIT).
pub const SOLICIT_MAX: u32 = 3;
/// RFC 4861 §10 RETRANS_TIMER.
pub const RETRANS: Duration = Duration::from_secs(1);
/// All-nodes multicast (RFC 4291 §2.7.1).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Packets waiting for one neighbor's link-layer address.
struct Pending<B> {
    target: Ipv6Addr,
    role: Role,
    packets: VecDeque<B>,
    solicits: u32,
    last: Option<Duration>,
}

pub struct Links<B> {
    topo: Arc<Topology>,
    icmp: TokenBucket,
    /// By neighbor slot.
    pending: Vec<Option<Pending<B>>>,
    pub counters: Arc<ControlCounters>,
}

impl<B: PacketBuf> Links<B> {
    pub fn new(topo: Arc<Topology>, icmp_per_sec: u32) -> Self {
        let slots = topo.neighbors.len();
        Links { topo, icmp: TokenBucket::new(icmp_per_sec, icmp_per_sec.max(1)), pending: (0..slots).map(|_| None).collect(), counters: Arc::default() }
    }

    pub fn topo(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// The MAG's address on the link with `role`.
    fn mine(&self, role: Role) -> Ipv6Addr {
        match role {
            Role::Access => self.topo.access_link_local,
            Role::Core => self.topo.proxy_coa,
        }
    }

    fn our_mac(&self, role: Role) -> MacAddr {
        match role {
            Role::Access => self.topo.access_mac,
            Role::Core => self.topo.core_mac,
        }
    }

    /// ND and packets for the MAG's own addresses, received on the link with `role`.
    pub fn on_local(&mut self, frame: &[u8], role: Role, out: &mut impl Egress<Buf = B>) {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else { return };
        let peer_mac = eth.src();
        let ip = &frame[ETH..];
        let Ok(h) = ipv6::Header::new_checked(ip) else { return };
        let (src, dst) = (h.src_addr(), h.dst_addr());
        let mine = self.mine(role);
        match nd::parse(ip) {
            Ok(Some(Nd::NeighborSolicit { target, source_ll })) => {
                self.counters.nd_received.inc();
                if !src.is_unspecified() {
                    if let Some(ll) = source_ll {
                        self.learn(role, src, ll, out);
                    }
                }
                if target != mine {
                    return;
                }
                // RFC 4861 §7.2.4: unicast to the soliciting node, or all-nodes if it had no
                // address (duplicate address detection), then not Solicited.
                let (to, to_mac, solicited) = if src.is_unspecified() { (ALL_NODES, ethernet::ipv6_multicast_mac(&ALL_NODES), false) } else { (src, source_ll.unwrap_or(peer_mac), true) };
                let our_mac = self.our_mac(role);
                // Router flag on the access link only: there the MAG is the nodes' default router.
                if self.send(role, to_mac, |o| nd::build_neighbor_advert(o, &mine, &to, &mine, &our_mac, role == Role::Access, solicited, true), out) {
                    self.counters.na_sent.inc();
                }
            }
            Ok(Some(Nd::NeighborAdvert { target, target_ll, .. })) => {
                self.counters.nd_received.inc();
                self.learn(role, target, target_ll.unwrap_or(peer_mac), out);
            }
            Ok(Some(Nd::RouterSolicit { .. })) => self.counters.nd_received.inc(),
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
            }
            Err(_) => self.counters.nd_invalid.inc(),
        }
    }

    /// Neighbor slot of `addr` on the link with `role`: an attached node's on the access
    /// link, a configured next hop's on the core link.
    fn slot_of(&self, role: Role, addr: &Ipv6Addr) -> Option<usize> {
        match role {
            Role::Access => self.topo.attached.lookup(&addr.octets()).map(|i| i as usize),
            Role::Core => self.topo.core_next_hops.iter().position(|a| a == addr).map(|i| self.topo.core_slot(i)),
        }
    }

    fn learn(&mut self, role: Role, addr: Ipv6Addr, mac: MacAddr, out: &mut impl Egress<Buf = B>) {
        let Some(slot) = self.slot_of(role, &addr) else { return };
        if self.topo.neighbors.get(slot) != Some(mac) {
            out.learn_neighbor(slot, mac);
            self.counters.neighbors_learned.inc();
            tracing::info!("neighbor {addr} is at {} on the {role} link", fmt_mac(&mac));
        }
        self.release(slot, mac, out);
    }

    /// Sends what was held for `slot` now that it is known to be at `mac`.
    fn release(&mut self, slot: usize, mac: MacAddr, out: &mut impl Egress<Buf = B>) {
        let Some(p) = self.pending.get_mut(slot).and_then(Option::take) else { return };
        for mut m in p.packets {
            if let Some(d) = m.data_mut().get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            self.counters.held_sent.inc();
            out.send(p.role, m);
        }
    }

    /// A packet ready to leave by the link with `role` but for the next hop's MAC: held
    /// (at most [`HOLD_MAX`] per neighbor, the oldest dropped first) while it is solicited.
    pub fn hold(&mut self, now: Duration, m: B, role: Role, out: &mut impl Egress<Buf = B>) {
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
        let Some(entry) = self.pending.get_mut(slot) else { return };
        self.counters.held.inc();
        let p = entry.get_or_insert_with(|| Pending { target, role, packets: VecDeque::new(), solicits: 0, last: None });
        if p.packets.len() == HOLD_MAX {
            p.packets.pop_front();
            self.counters.held_dropped.inc();
        }
        p.packets.push_back(m);
        // A worker may have learned the address from traffic meanwhile.
        if let Some(mac) = self.topo.neighbors.get(slot) {
            self.release(slot, mac, out);
        } else if p.last.is_none() {
            self.solicit(now, slot, out);
        }
    }

    /// RFC 4861 §7.2.2: a multicast solicitation to the target's solicited-node address.
    fn solicit(&mut self, now: Duration, slot: usize, out: &mut impl Egress<Buf = B>) {
        let Some(p) = self.pending.get_mut(slot).and_then(Option::as_mut) else { return };
        p.solicits += 1;
        p.last = Some(now);
        let (role, target) = (p.role, p.target);
        let src = self.mine(role);
        let mac = self.our_mac(role);
        let to_mac = ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&target));
        if self.send(role, to_mac, |o| nd::build_neighbor_solicit(o, &src, &target, &mac), out) {
            self.counters.ns_sent.inc();
        }
    }

    /// Timers: a solicitation every [`RETRANS`]; after [`SOLICIT_MAX`] unanswered ones the
    /// held packets are dropped.
    pub fn tick(&mut self, now: Duration, out: &mut impl Egress<Buf = B>) {
        for slot in 0..self.pending.len() {
            let Some(p) = &self.pending[slot] else { continue };
            if !p.last.is_some_and(|t| now.saturating_sub(t) >= RETRANS) {
                continue;
            }
            if p.solicits >= SOLICIT_MAX {
                if let Some(p) = self.pending[slot].take() {
                    self.counters.held_dropped.add(p.packets.len() as u64);
                    tracing::warn!("neighbor {} did not answer {SOLICIT_MAX} solicitations; {} packet(s) dropped", p.target, p.packets.len());
                }
            } else {
                self.solicit(now, slot, out);
            }
        }
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
                let src = self.topo.access_link_local;
                self.send(Role::Access, peer, |o| icmpv6::build_error(o, &src, &to, kind, invoking), out)
            }
            Role::Core => {
                let src = self.topo.proxy_coa;
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
        let Some(mut m) = out.alloc() else {
            self.counters.no_mbuf.inc();
            return None;
        };
        let data = m.data_mut();
        let n = build(data.get_mut(ETH..)?).ok()?;
        ethernet::write_header(data, to_mac, self.our_mac(role), ETHERTYPE_IPV6).ok()?;
        m.truncate(ETH + n);
        Some(m)
    }

    /// Sends an IPv6 packet of an attached node's (built by `build`; `node_addr` is the
    /// node's address) the way the node's own traffic goes: up its LMA's tunnel
    /// (RFC 5213 §6.10.5), or routed. An unknown next hop is resolved first.
    pub fn send_as_node(&mut self, now: Duration, node_addr: &Ipv6Addr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>, out: &mut impl Egress<Buf = B>) -> bool {
        let topo = self.topo.clone();
        let (slot, frame) = match topo.mode {
            Mode::Tunnel => {
                let lma = topo.attached.lookup(&node_addr.octets()).and_then(|i| topo.attached.node(i)).map_or(0, |n| n.lma as usize);
                let Some(&dst) = topo.lmas.get(lma) else { return false };
                let (src, hl) = (topo.proxy_coa, topo.tunnel_hop_limit);
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

    /// Drops everything held (shutdown).
    pub fn drain(&mut self) {
        for p in &mut self.pending {
            p.take();
        }
    }
}

pub fn fmt_mac(m: &MacAddr) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}
