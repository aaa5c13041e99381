//! The control core (main lcore): takes what the workers punt, answers Neighbor Discovery for
//! the MAG's addresses, learns and resolves neighbors (holding a few packets per unresolved
//! neighbor, as a kernel does), sends rate-limited ICMPv6 errors, and hands every packet it
//! sends to a worker's inject ring (the worker owns the TX queues).

use crate::ratelimit::TokenBucket;
use dataplane::counters::{Counter, Punt, Role};
use dataplane::forward::{Mode, Topology};
use dataplane::mbuf::Mbuf;
use dataplane::mempool::Mempool;
use dataplane::ring;
use dataplane::worker::untag;
use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::icmpv6::{self, ErrorKind};
use wire::nd::{self, Nd};
use wire::{ipv6, tunnel};

const ETH: usize = ethernet::HEADER_LEN;
/// Packets held per unresolved neighbor (Linux's unres_qlen_bytes is similar in spirit).
const HOLD_MAX: usize = 3;
/// Solicitations sent before held packets are dropped (RFC 4861 MAX_MULTICAST_SOLICIT).
const SOLICIT_MAX: u32 = 3;
const RETRANS: Duration = Duration::from_secs(1);

/// What the control core counts (it is their only writer).
#[derive(Default)]
pub struct ControlCounters {
    pub nd_received: Counter,
    pub nd_invalid: Counter,
    pub na_sent: Counter,
    pub ns_sent: Counter,
    pub neighbors_learned: Counter,
    pub echo_replies: Counter,
    pub time_exceeded_sent: Counter,
    pub packet_too_big_sent: Counter,
    pub icmp_rate_limited: Counter,
    pub icmp_not_allowed: Counter,
    pub held: Counter,
    pub held_sent: Counter,
    pub held_dropped: Counter,
    pub inject_full: Counter,
    pub no_mbuf: Counter,
    pub unhandled: Counter,
}

struct Pending {
    target: Ipv6Addr,
    role: Role,
    packets: VecDeque<Mbuf>,
    solicits: u32,
    last: Option<Duration>,
}

pub struct ControlCore {
    pub(crate) topo: Arc<Topology>,
    pool: Arc<Mempool>,
    from_workers: Vec<ring::Consumer>,
    to_workers: Vec<ring::Producer>,
    next_worker: usize,
    icmp: TokenBucket,
    pending: Vec<Option<Pending>>,
    pub counters: Arc<ControlCounters>,
    pub(crate) agent: crate::agent::Agent,
}

impl ControlCore {
    pub fn new(topo: Arc<Topology>, pool: Arc<Mempool>, from_workers: Vec<ring::Consumer>, to_workers: Vec<ring::Producer>, icmp_per_sec: u32, agent: crate::agent::Agent) -> Self {
        let slots = topo.neighbors.len();
        ControlCore {
            topo,
            pool,
            from_workers,
            to_workers,
            next_worker: 0,
            icmp: TokenBucket::new(icmp_per_sec, icmp_per_sec.max(1)),
            pending: (0..slots).map(|_| None).collect(),
            counters: Arc::default(),
            agent,
        }
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
                self.handle(now, m);
            }
            total += n;
        }
        total
    }

    fn handle(&mut self, now: Duration, m: Mbuf) {
        let (why, role) = untag(m.tag());
        match why {
            Some(Punt::NeighborDiscovery) | Some(Punt::ForUs) => self.local(now, m, role),
            Some(Punt::HopLimit) => self.icmp_error(now, &m, role, ErrorKind::TimeExceeded(0)),
            Some(why @ (Punt::TooBig | Punt::TooBigOptimized)) => {
                let mtu = if role == Role::Access {
                    let outer = if self.topo.mode == Mode::Tunnel { tunnel::OUTER_LEN } else { 0 };
                    // With route optimization the Type 2 Routing Header counts too.
                    let rh2 = if why == Punt::TooBigOptimized { wire::rh2::LEN } else { 0 };
                    self.topo.core_mtu - outer - rh2
                } else {
                    self.topo.access_mtu
                };
                self.icmp_error(now, &m, role, ErrorKind::PacketTooBig { mtu: mtu as u32 })
            }
            Some(Punt::Unresolved) => self.hold(now, m, role),
            Some(Punt::Mobility) => self.on_mobility(now, &m),
            Some(Punt::HomeAddressUnverified) => self.on_unverified_home_address(now, &m),
            _ => self.counters.unhandled.inc(),
        }
    }

    /// ND and packets for the MAG's own addresses.
    fn local(&mut self, now: Duration, m: Mbuf, role: Role) {
        let frame = m.data();
        let Ok(eth) = ethernet::Frame::new_checked(frame) else { return };
        let peer_mac = eth.src();
        let ip = &frame[ETH..];
        let Ok(h) = ipv6::Header::new_checked(ip) else { return };
        let (src, dst) = (h.src_addr(), h.dst_addr());
        let mine = if role == Role::Access { self.topo.access_link_local } else { self.topo.proxy_coa };
        match nd::parse(ip) {
            Ok(Some(Nd::NeighborSolicit { target, source_ll })) => {
                self.counters.nd_received.inc();
                if !src.is_unspecified() {
                    if let Some(ll) = source_ll {
                        self.learn(now, role, src, ll);
                    }
                }
                if target != mine {
                    return;
                }
                // RFC 4861 §7.2.4: unicast to the soliciting node, or all-nodes if it had no address.
                let (to, solicited) = if src.is_unspecified() { (Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), false) } else { (src, true) };
                let to_mac = if src.is_unspecified() { ethernet::ipv6_multicast_mac(&to) } else { source_ll.unwrap_or(peer_mac) };
                let our_mac = self.our_mac(role);
                let sent = self.send(role, to_mac, |out| nd::build_neighbor_advert(out, &mine, &to, &mine, &our_mac, role == Role::Access, solicited, true));
                if sent {
                    self.counters.na_sent.inc();
                }
            }
            Ok(Some(Nd::NeighborAdvert { target, target_ll, .. })) => {
                self.counters.nd_received.inc();
                self.learn(now, role, target, target_ll.unwrap_or(peer_mac));
            }
            Ok(Some(Nd::RouterSolicit { .. })) => self.counters.nd_received.inc(),
            Ok(None) => {
                // Ping the MAG: answer echo requests to its own addresses.
                let body = ip.get(ipv6::HEADER_LEN..h.total_len()).unwrap_or(&[]);
                if dst == mine && h.next_header() == ipv6::proto::ICMPV6 && body.first() == Some(&icmpv6::ECHO_REQUEST) && body.len() >= 8 {
                    let id = u16::from_be_bytes([body[4], body[5]]);
                    let seq = u16::from_be_bytes([body[6], body[7]]);
                    let payload = &body[8..];
                    if self.send(role, peer_mac, |out| icmpv6::build_echo(out, &mine, &src, false, id, seq, payload)) {
                        self.counters.echo_replies.inc();
                    }
                } else {
                    self.counters.unhandled.inc();
                }
            }
            Err(_) => self.counters.nd_invalid.inc(),
        }
    }

    /// Neighbor slot of `addr` on the link with `role`.
    fn slot_of(&self, role: Role, addr: &Ipv6Addr) -> Option<usize> {
        if role == Role::Access {
            self.topo.attached.lookup(&addr.octets()).map(|i| i as usize)
        } else {
            self.topo.core_next_hops.iter().position(|a| a == addr).map(|i| self.topo.core_slot(i))
        }
    }

    fn learn(&mut self, now: Duration, role: Role, addr: Ipv6Addr, mac: MacAddr) {
        let Some(slot) = self.slot_of(role, &addr) else { return };
        if self.topo.neighbors.get(slot) != Some(mac) {
            self.topo.neighbors.learn(slot, mac);
            self.counters.neighbors_learned.inc();
            tracing::info!("neighbor {addr} is at {} on the {} link", fmt_mac(&mac), role);
        }
        self.release(now, slot);
    }

    /// Sends what was held for `slot` now that its address is known.
    fn release(&mut self, _now: Duration, slot: usize) {
        let Some(mac) = self.topo.neighbors.get(slot) else { return };
        if let Some(p) = self.pending[slot].take() {
            for mut m in p.packets {
                m.data_mut()[..6].copy_from_slice(&mac);
                m.set_tag(p.role.bit());
                self.counters.held_sent.inc();
                self.inject(m);
            }
        }
    }

    /// A packet ready to go but for the next hop's MAC: hold it and solicit.
    pub(crate) fn hold(&mut self, now: Duration, m: Mbuf, role: Role) {
        let ip = m.data().get(ETH..).unwrap_or(&[]);
        let Ok(h) = ipv6::Header::new_checked(ip) else { return };
        let dst = h.dst_addr();
        let (slot, target) = if role == Role::Access {
            match self.topo.attached.lookup(&dst.octets()) {
                Some(i) => (i as usize, dst),
                None => return,
            }
        } else {
            let i = match self.topo.mode {
                Mode::Tunnel => self.topo.lma_index(&dst),
                Mode::Routed => self.topo.core_next_hops.len().checked_sub(1),
            };
            match i {
                Some(i) => (self.topo.core_slot(i), self.topo.core_next_hops[i]),
                None => return,
            }
        };
        self.counters.held.inc();
        let p = self.pending[slot].get_or_insert_with(|| Pending { target, role, packets: VecDeque::new(), solicits: 0, last: None });
        if p.packets.len() == HOLD_MAX {
            p.packets.pop_front();
            self.counters.held_dropped.inc();
        }
        p.packets.push_back(m);
        if self.topo.neighbors.get(slot).is_some() {
            self.release(now, slot);
        } else if p.last.is_none() {
            self.solicit(now, slot);
        }
    }

    fn solicit(&mut self, now: Duration, slot: usize) {
        let Some(p) = self.pending[slot].as_mut() else { return };
        p.solicits += 1;
        p.last = Some(now);
        let (role, target) = (p.role, p.target);
        let src = if role == Role::Access { self.topo.access_link_local } else { self.topo.proxy_coa };
        let mac = self.our_mac(role);
        let to_mac = ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&target));
        if self.send(role, to_mac, |out| nd::build_neighbor_solicit(out, &src, &target, &mac)) {
            self.counters.ns_sent.inc();
        }
    }

    /// Timers: solicitation retransmits, giving up on silent neighbors, the agent's timers.
    pub fn tick(&mut self, now: Duration) {
        self.agent_tick(now);
        for slot in 0..self.pending.len() {
            let due = matches!(&self.pending[slot], Some(p) if p.last.is_some_and(|t| now.saturating_sub(t) >= RETRANS));
            if !due {
                continue;
            }
            if self.pending[slot].as_ref().is_some_and(|p| p.solicits >= SOLICIT_MAX) {
                if let Some(p) = self.pending[slot].take() {
                    self.counters.held_dropped.add(p.packets.len() as u64);
                    tracing::warn!("neighbor {} did not answer {SOLICIT_MAX} solicitations; {} packet(s) dropped", p.target, p.packets.len());
                }
            } else {
                self.solicit(now, slot);
            }
        }
    }

    /// ICMPv6 error about `m` to its source (RFC 4443), rate-limited.
    fn icmp_error(&mut self, now: Duration, m: &Mbuf, role: Role, kind: ErrorKind) {
        let invoking = m.data().get(ETH..).unwrap_or(&[]);
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
        let sent = if role == Role::Access {
            // From the access link: answer on it, to the sender's MAC.
            let peer = ethernet::Frame::new_checked(m.data()).map(|e| e.src()).unwrap_or([0; 6]);
            let src = self.topo.access_link_local;
            self.send(Role::Access, peer, |out| icmpv6::build_error(out, &src, &to, kind, invoking))
        } else {
            // Came down the tunnel (or the core link): the answer goes back the same way.
            let src = self.topo.proxy_coa;
            self.send_as_node(now, &orig_dst, |out| icmpv6::build_error(out, &src, &to, kind, invoking))
        };
        if sent {
            match kind {
                ErrorKind::TimeExceeded(_) => self.counters.time_exceeded_sent.inc(),
                ErrorKind::PacketTooBig { .. } => self.counters.packet_too_big_sent.inc(),
                _ => {}
            }
        }
    }

    fn our_mac(&self, role: Role) -> MacAddr {
        if role == Role::Access {
            self.topo.access_mac
        } else {
            self.topo.core_mac
        }
    }

    /// Builds a frame in a fresh mbuf (`build` writes the IPv6 packet after the Ethernet
    /// header and returns its length) and hands it to a worker to send on port `role`.
    fn send(&mut self, role: Role, to_mac: MacAddr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>) -> bool {
        match self.build_frame(role, to_mac, build) {
            Some(m) => {
                self.inject(m);
                true
            }
            None => false,
        }
    }

    /// A frame for port `role`, tagged for the worker, or None (no mbuf, or `build` failed).
    pub(crate) fn build_frame(&mut self, role: Role, to_mac: MacAddr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>) -> Option<Mbuf> {
        let Some(mut m) = self.pool.alloc() else {
            self.counters.no_mbuf.inc();
            return None;
        };
        let room = m.tailroom();
        if !m.append(room) {
            return None;
        }
        let data = m.data_mut();
        let n = build(&mut data[ETH..]).ok()?;
        ethernet::write_header(data, to_mac, self.our_mac(role), ETHERTYPE_IPV6).ok()?;
        m.truncate(ETH + n);
        m.set_tag(role.bit());
        Some(m)
    }

    /// Sends an IPv6 packet of an attached node's (built by `build`) the way the node's own
    /// traffic goes: up its LMA tunnel, or routed. An unknown next hop is resolved first.
    pub(crate) fn send_as_node(&mut self, now: Duration, node_addr: &Ipv6Addr, build: impl FnOnce(&mut [u8]) -> wire::Result<usize>) -> bool {
        let topo = self.topo.clone();
        let (slot, frame) = match topo.mode {
            Mode::Tunnel => {
                let lma = topo.attached.lookup(&node_addr.octets()).and_then(|i| topo.attached.node(i)).map_or(0, |n| n.lma as usize);
                let (src, dst, hl) = (topo.proxy_coa, topo.lmas[lma], topo.tunnel_hop_limit);
                let slot = topo.core_slot(lma);
                let mac = topo.neighbors.get(slot).unwrap_or([0; 6]);
                (slot, self.build_frame(Role::Core, mac, |out| {
                    let n = build(out.get_mut(tunnel::OUTER_LEN..).unwrap_or(&mut []))?;
                    tunnel::encapsulate(&mut out[..tunnel::OUTER_LEN + n], &src, &dst, hl)?;
                    Ok(tunnel::OUTER_LEN + n)
                }))
            }
            Mode::Routed => {
                let slot = topo.core_slot(topo.core_next_hops.len().saturating_sub(1));
                let mac = topo.neighbors.get(slot).unwrap_or([0; 6]);
                (slot, self.build_frame(Role::Core, mac, build))
            }
        };
        let Some(m) = frame else { return false };
        if topo.neighbors.get(slot).is_some() {
            self.inject(m);
        } else {
            self.hold(now, m, Role::Core);
        }
        true
    }

    pub(crate) fn inject(&mut self, m: Mbuf) {
        if self.to_workers.is_empty() {
            return;
        }
        let w = self.next_worker % self.to_workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        if self.to_workers[w].push(m).is_err() {
            self.counters.inject_full.inc();
        }
    }

    /// Frees everything still queued or held (shutdown).
    pub fn drain(&mut self) {
        for c in &mut self.from_workers {
            c.drain();
        }
        for p in &mut self.pending {
            p.take();
        }
    }
}

pub fn fmt_mac(m: &MacAddr) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}
