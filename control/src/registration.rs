//! The MAG's PMIPv6 signaling on the control core (RFC 5213 §6.9), with no I/O: what the
//! access link says of a mobile node (its first frame, a Router Solicitation, a Neighbor
//! Advertisement) and the LMA's Proxy Binding Acknowledgements go to the `mag` state machine;
//! its actions become PBUs from the Proxy-CoA to the LMA, unicast Router Advertisements and
//! NUD probes on the access link, and route changes in the workers' attached-node table
//! (through the [`Egress`]). The reflector's bindings of a node go when its routes do.

use crate::agent::Agent;
use crate::config::Config;
use crate::counters::PmipCounters;
use crate::egress::Egress;
use crate::links::{Heard, Links};
use wire::ethernet::fmt_mac;
use crate::mobiles_view::{MobileRow, MobilesView};
use dataplane::attached::Registration as DpState;
use dataplane::forward::{PacketBuf, Topology};
use mag::{Action, Mag, MnState, Policy};
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::ethernet::MacAddr;
use wire::pmip::ProxyBindingAck;
use wire::{ext, ipv6, mobility, nd, pmip};

/// How often the workers' per-node activity stamps are read (they are in seconds).
const ACTIVITY_SWEEP: Duration = Duration::from_secs(1);
/// A node whose frames cannot start a registration now (a rejection's or a silent LMA's
/// holdoff) has its frames dropped by the workers, not punted, for this long at a time.
const MUTE: Duration = Duration::from_secs(1);
/// RFC 4861 §6.2.1 MaxRtrAdvInterval's upper bound caps the router lifetime... at 9000 s.
const MAX_ROUTER_LIFETIME: u32 = 9000;

pub struct Registrations {
    mag: Mag,
    actions: Vec<Action>,
    pub counters: Arc<PmipCounters>,
    pub view: Arc<MobilesView>,
    /// The instant `now` counts from, for the view's expiry times.
    start: Instant,
    /// Per attached node: its activity stamp at the last sweep.
    seen: Vec<u32>,
    next_sweep: Duration,
    /// Link-local addresses the nodes used (Router Solicitation, ND), the NUD probes' target.
    link_local: HashMap<MacAddr, Ipv6Addr>,
    /// Nodes whose frames the workers drop for now, and when to listen to them again.
    muted: Vec<(u32, Duration)>,
    ra_router_lifetime: u16,
    mtu: u32,
}

impl Registrations {
    /// The policy store from the configuration's nodes (RFC 5213 §6.2). `wall` is the Unix
    /// time at `now` = 0, for the PBUs' Timestamp option (§5.5).
    pub fn new(cfg: &Config, topo: &Topology, wall: Duration, start: Instant) -> Registrations {
        let p = &cfg.pmipv6;
        let mcfg = mag::Config {
            access_link_local: cfg.mag.access_link_local,
            lifetime: Duration::from_secs(p.lifetime),
            max_transmissions: p.max_transmissions,
            idle_timeout: Duration::from_secs(p.idle_timeout),
            ra_interval: Duration::from_secs(p.ra_interval),
            ..mag::Config::default()
        };
        let mut m = Mag::new(mcfg, wall);
        m.reserve(cfg.nodes.len());
        let mut ignored = Vec::new();
        for n in &cfg.nodes {
            let (Some(mac), Some(id)) = (n.mac, &n.mn_id) else { continue };
            let lma = cfg.lmas.get(usize::from(cfg.lma_of(n))).map_or(Ipv6Addr::UNSPECIFIED, |l| l.address);
            let policy = Policy { mac: mac.0, mn_id: Arc::from(id.as_bytes()), lma, agent: n.agent, static_hnp: n.prefixes.first().map(|p| (p.addr, p.len)) };
            if let Err(e) = m.set_policy(Duration::ZERO, policy, &mut ignored) {
                // The configuration's checks refuse these first.
                tracing::error!("node {}: policy refused: {e:?}", n.name);
            }
        }
        let router_lifetime = (3 * p.ra_interval).min(u64::from(MAX_ROUTER_LIFETIME)) as u16;
        Registrations {
            mag: m,
            actions: ignored,
            counters: Arc::default(),
            view: Arc::default(),
            start,
            seen: vec![0; topo.attached.len()],
            next_sweep: Duration::ZERO,
            link_local: HashMap::new(),
            muted: Vec::new(),
            ra_router_lifetime: router_lifetime,
            mtu: cfg.ports.access.mtu.into(),
        }
    }

    pub fn mag(&self) -> &Mag {
        &self.mag
    }

    /// A worker punted the first frame of a node that has no route yet (`Punt::Attach`).
    pub fn on_attach<B: PacketBuf>(&mut self, now: Duration, frame: &[u8], links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) {
        let Some(mac) = frame.get(6..12).and_then(|m| <MacAddr>::try_from(m).ok()) else { return };
        let mut actions = std::mem::take(&mut self.actions);
        self.mag.on_frame_from(now, &mac, &mut actions);
        self.apply(now, &mut actions, links, agent, out);
        self.actions = actions;
        self.settle_after_frame(now, &mac, links.topo(), out);
    }

    /// Neighbor Discovery from a node on the access link: a Router Solicitation starts its
    /// registration or, once registered, gets an RA (RFC 5213 §6.9.1.1, §6.7); any ND
    /// message shows the node is there (RFC 4861 §7.3.1).
    pub fn on_heard<B: PacketBuf>(&mut self, now: Duration, h: Heard, links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) {
        if self.mag.state(&h.mac).is_none() {
            self.counters.unknown_mac.inc();
            return;
        }
        if wire::addr::is_link_local(&h.src) {
            self.link_local.insert(h.mac, h.src);
        }
        let mut actions = std::mem::take(&mut self.actions);
        if h.router_solicit {
            self.mag.on_router_solicitation(now, &h.mac, &mut actions);
        } else {
            self.mag.on_neighbor_reachable(now, &h.mac, &mut actions);
            self.mag.on_frame_from(now, &h.mac, &mut actions);
        }
        self.apply(now, &mut actions, links, agent, out);
        self.actions = actions;
        self.settle_after_frame(now, &h.mac, links.topo(), out);
    }

    /// A packet for the Proxy-CoA from the core link: true if it was a Mobility Header
    /// (a PBA, or a message the MAG does not take), which is then dealt with here.
    pub fn on_core_mobility<B: PacketBuf>(&mut self, now: Duration, ip: &[u8], links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) -> bool {
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else { return false };
        if chain.upper_proto != ipv6::proto::MOBILITY {
            return false;
        }
        let mh = ip.get(chain.upper_offset..h.total_len()).unwrap_or(&[]);
        let mut actions = std::mem::take(&mut self.actions);
        // RFC 6275 §9.2: a bad checksum is silently discarded.
        if !mobility::verify_checksum(&h.src_addr(), &h.dst_addr(), mh) {
            self.counters.bad_checksum.inc();
        } else if mh.get(2) != Some(&mobility::mh_type::BINDING_ACK) {
            self.counters.not_pba.inc();
        } else {
            match ProxyBindingAck::parse(mh) {
                Ok(pba) => self.mag.on_pba(now, h.src_addr(), &pba, &mut actions),
                Err(_) => self.mag.on_malformed_pba(now, &mut actions),
            }
        }
        self.apply(now, &mut actions, links, agent, out);
        self.actions = actions;
        true
    }

    /// Timers: PBU retransmissions and refreshes, idle nodes' probes, periodic RAs; and
    /// every second the workers' activity stamps.
    pub fn tick<B: PacketBuf>(&mut self, now: Duration, links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) {
        let mut actions = std::mem::take(&mut self.actions);
        if now >= self.next_sweep {
            self.next_sweep = now + ACTIVITY_SWEEP;
            let topo = links.topo().clone();
            for (i, node) in topo.attached.nodes().iter().enumerate() {
                let stamp = node.last_seen();
                if stamp != self.seen[i] {
                    self.seen[i] = stamp;
                    if let (Some(mac), DpState::Registered) = (node.mac, node.registration()) {
                        self.mag.on_frame_from(now, &mac, &mut actions);
                    }
                }
            }
            let mut i = 0;
            while i < self.muted.len() {
                let (node, until) = self.muted[i];
                if now >= until {
                    self.muted.swap_remove(i);
                    if let Some(mac) = topo.attached.node(node).and_then(|n| n.mac) {
                        if matches!(self.mag.state(&mac), Some(MnState::Idle | MnState::Rejected | MnState::Unanswered)) {
                            out.set_registration(node, DpState::Idle);
                        }
                    }
                } else {
                    i += 1;
                }
            }
        }
        self.mag.on_tick(now, &mut actions);
        self.apply(now, &mut actions, links, agent, out);
        self.actions = actions;
        self.counters.sync(self.mag.stats());
    }

    /// After a node's frame: if it is still without a route and nothing is under way (a
    /// holdoff), the workers drop its frames for a while instead of punting every one.
    fn settle_after_frame(&mut self, now: Duration, mac: &MacAddr, topo: &Topology, out: &mut impl Egress) {
        let Some(node) = topo.attached.lookup_mac(mac) else { return };
        if matches!(self.mag.state(mac), Some(MnState::Idle | MnState::Rejected | MnState::Unanswered)) && !self.muted.iter().any(|m| m.0 == node) {
            out.set_registration(node, DpState::Registering);
            self.muted.push((node, now + MUTE));
        }
    }

    /// Carries out what the state machine decided.
    fn apply<B: PacketBuf>(&mut self, now: Duration, actions: &mut Vec<Action>, links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) {
        let topo = links.topo().clone();
        let mut touched = Vec::new();
        for a in actions.drain(..) {
            match a {
                Action::SendPbu { lma, pbu, kind } => {
                    let mac = pbu.options.mn_link_layer_id.as_deref().and_then(|m| <MacAddr>::try_from(m).ok());
                    if let Some(node) = mac.and_then(|m| topo.attached.lookup_mac(&m)) {
                        if kind != mag::PbuKind::Deregistration && topo.attached.node(node).is_some_and(|n| n.registration() == DpState::Idle) {
                            out.set_registration(node, DpState::Registering);
                        }
                    }
                    touched.extend(mac);
                    let coa = topo.proxy_coa;
                    let sent = links.send_to_lma(now, &lma, |o| emit_pbu(o, &coa, &lma, &pbu), out);
                    if !sent {
                        self.counters.pbu_not_sent.inc();
                    }
                    tracing::debug!("PBU ({}) seq {} lifetime {} s to {lma}", kind.name(), pbu.seq, u32::from(pbu.lifetime_units) * 4);
                }
                Action::Install { mac, mn_id, hnps, lma, lifetime, agent: ro } => {
                    let Some(node) = topo.attached.lookup_mac(&mac) else { continue };
                    // One home network prefix per node in the workers' table (a /64).
                    let Some(&(prefix, len)) = hnps.first() else { continue };
                    let p64 = (u128::from(prefix) >> 64) as u64;
                    if len != 64 || out.install_route(node, p64).is_err() {
                        self.counters.route_refused.inc();
                        tracing::error!("{}: {prefix}/{len} not installed in the dataplane (table full or not a /64)", String::from_utf8_lossy(&mn_id));
                        continue;
                    }
                    out.set_registration(node, DpState::Registered);
                    self.muted.retain(|m| m.0 != node);
                    tracing::info!(
                        "routes installed: {} ({}) home network prefix {prefix}/{len} via LMA {lma}, lifetime {} s, route optimization {}",
                        String::from_utf8_lossy(&mn_id),
                        fmt_mac(&mac),
                        lifetime.as_secs(),
                        if ro { "on" } else { "off" }
                    );
                    touched.push(mac);
                }
                Action::Withdraw { mac, hnps } => {
                    let Some(node) = topo.attached.lookup_mac(&mac) else { continue };
                    // The reflector's bindings for addresses in the prefix go first, while
                    // the route still says whose they are (draft §4.1.3).
                    let addrs: Vec<Ipv6Addr> = agent.reflector.bindings().map(|b| b.attached).filter(|a| hnps.iter().any(|&(p, l)| in_prefix(a, &p, l))).collect();
                    for a in addrs {
                        agent.detach_address(now, a, links, out);
                    }
                    out.withdraw_route(node);
                    out.set_registration(node, DpState::Idle);
                    tracing::info!("routes withdrawn: {} {}", fmt_mac(&mac), hnps.iter().map(|(p, l)| format!("{p}/{l}")).collect::<Vec<_>>().join(", "));
                    touched.push(mac);
                }
                Action::Advertise { mac, prefixes, valid, preferred } => {
                    // RFC 5213 §6.7: unicast to the node; RFC 4861 §6.2.6: to its address
                    // if known, else all-nodes in a frame only it receives.
                    let to = self.link_local.get(&mac).copied().unwrap_or(ipv6::ALL_NODES);
                    let (ll, our_mac) = (topo.access_link_local, topo.access_mac);
                    let router = (self.ra_router_lifetime as u32).min(valid.max(1)) as u16;
                    let mtu = self.mtu;
                    if links.send(dataplane::counters::Role::Access, mac, |o| nd::build_router_advert_with_lifetimes(o, &ll, &to, &our_mac, &prefixes, router, Some(mtu), valid, preferred), out) {
                        self.counters.ra_sent.inc();
                    }
                }
                Action::ProbeNeighbor { mac, .. } => {
                    // RFC 4861 §7.3.3: a unicast solicitation to the node's own address.
                    let target = self.link_local.get(&mac).copied().unwrap_or_else(|| eui64_link_local(&mac));
                    let (ll, our_mac) = (topo.access_link_local, topo.access_mac);
                    if links.send(dataplane::counters::Role::Access, mac, |o| emit_unicast_ns(o, &ll, &target, &our_mac), out) {
                        self.counters.probes_sent.inc();
                    }
                }
                Action::Registered { mac, hnps, lifetime } => {
                    tracing::info!("registered: {} {} lifetime {} s", fmt_mac(&mac), hnps.iter().map(|(p, l)| format!("{p}/{l}")).collect::<Vec<_>>().join(", "), lifetime.as_secs());
                    touched.push(mac);
                }
                Action::Refreshed { mac, lifetime } => {
                    tracing::info!("refreshed: {} lifetime {} s", fmt_mac(&mac), lifetime.as_secs());
                    touched.push(mac);
                }
                Action::Deregistered { mac, reason } => {
                    tracing::info!("deregistered: {} ({})", fmt_mac(&mac), reason.name());
                    touched.push(mac);
                }
                Action::Failed { mac, reason } => {
                    tracing::warn!("registration failed: {} ({reason})", fmt_mac(&mac));
                    touched.push(mac);
                }
                Action::Dropped(why) => tracing::debug!("PMIPv6 input dropped: {}", why.name()),
            }
        }
        for mac in touched {
            self.refresh_view(&mac);
        }
    }

    fn refresh_view(&self, mac: &MacAddr) {
        match self.mag.mobile(mac) {
            Some(m) => {
                let row = MobileRow {
                    mn_id: String::from_utf8_lossy(m.mn_id).into_owned(),
                    mac: *mac,
                    hnp: m.hnps.first().copied(),
                    lma: m.lma,
                    state: m.state.name(),
                    expires: m.lifetime_left.map(|l| Instant::now() + l),
                    agent: m.agent,
                };
                self.view.insert(*mac, row);
            }
            None => {
                self.view.remove(mac);
            }
        }
        let _ = self.start;
    }
}

/// The IPv6 packet of a PBU from the Proxy-CoA to the LMA (RFC 5213 §6.9.1.1), its Mobility
/// Header checksum filled.
fn emit_pbu(o: &mut [u8], coa: &Ipv6Addr, lma: &Ipv6Addr, pbu: &pmip::ProxyBindingUpdate) -> wire::Result<usize> {
    let mut mh = pbu.try_to_bytes()?;
    mobility::fill_checksum(&mut mh, coa, lma)?;
    let total = ipv6::HEADER_LEN + mh.len();
    let len = o.len();
    let buf = o.get_mut(..total).ok_or(wire::Error::NoRoom { layer: "pbu", required: total, len })?;
    ipv6::Repr { src: *coa, dst: *lma, next_header: ipv6::proto::MOBILITY, payload_len: mh.len() as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(buf)?;
    buf[ipv6::HEADER_LEN..].copy_from_slice(&mh);
    Ok(total)
}

/// A Neighbor Solicitation for `target` sent to the target itself, not its solicited-node
/// group (NUD, RFC 4861 §7.2.2): built as usual, then the destination made the target and
/// the checksum redone.
fn emit_unicast_ns(o: &mut [u8], src: &Ipv6Addr, target: &Ipv6Addr, mac: &MacAddr) -> wire::Result<usize> {
    let n = nd::build_neighbor_solicit(o, src, target, mac)?;
    o[24..40].copy_from_slice(&target.octets());
    let mut m = wire::icmpv6::Message::new_checked(&mut o[ipv6::HEADER_LEN..n])?;
    m.fill_checksum(src, target);
    Ok(n)
}

/// fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 App. A), the
/// link-local address a node forms by default, for probing a node heard only from traffic.
fn eui64_link_local(mac: &MacAddr) -> Ipv6Addr {
    let iid = [mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]];
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&iid);
    Ipv6Addr::from(a)
}

fn in_prefix(a: &Ipv6Addr, p: &Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len.min(128))) };
    u128::from(*a) & mask == u128::from(*p) & mask
}
