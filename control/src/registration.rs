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
use crate::links::{emit_unicast_ns, Heard, Links};
use crate::mobiles_view::{MobileRow, MobilesView};
use dataplane::attached::Registration as DpState;
use dataplane::forward::{PacketBuf, Topology};
use mag::{Action, Mag, MnState, Policy};
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::ethernet::fmt_mac;
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
    pub(crate) mag: Mag,
    actions: Vec<Action>,
    pub counters: Arc<PmipCounters>,
    pub view: Arc<MobilesView>,
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
    pub fn new(cfg: &Config, topo: &Topology, wall: Duration) -> Registrations {
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
            seen: vec![0; topo.attached.len()],
            next_sweep: Duration::ZERO,
            link_local: HashMap::new(),
            muted: Vec::new(),
            ra_router_lifetime: router_lifetime,
            mtu: cfg.ports.access.mtu.into(),
        }
    }

    /// Link-local addresses remembered (one per policy node at most).
    #[cfg(test)]
    pub fn link_local_len(&self) -> usize {
        self.link_local.len()
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
    pub fn on_core_mobility<B: PacketBuf>(
        &mut self,
        now: Duration,
        ip: &[u8],
        links: &mut Links<B>,
        agent: &mut Agent,
        out: &mut impl Egress<Buf = B>,
    ) -> bool {
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

    /// A reload removed `mac`'s policy entry: deregistered (routes and bindings withdrawn
    /// first), then forgotten (RFC 5213 §6.9.1.1, a detach).
    pub fn remove_policy<B: PacketBuf>(&mut self, now: Duration, mac: &MacAddr, links: &mut Links<B>, agent: &mut Agent, out: &mut impl Egress<Buf = B>) {
        let mut actions = std::mem::take(&mut self.actions);
        if self.mag.remove_policy(now, mac, &mut actions) {
            tracing::info!("{}: policy removed by the reload, deregistering", fmt_mac(mac));
        }
        self.apply(now, &mut actions, links, agent, out);
        self.actions = actions;
        self.refresh_view(mac);
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
        let Some(node) = node_of(topo, mac) else { return };
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
                    let coa = topo.own.proxy_coa();
                    let sent = links.send_to_lma(now, &lma, |o| emit_pbu(o, &coa, &lma, &pbu), out);
                    if !sent {
                        self.counters.pbu_not_sent.inc();
                    }
                    tracing::debug!("PBU ({}) seq {} lifetime {} s to {lma}", kind.name(), pbu.seq, u32::from(pbu.lifetime_units) * 4);
                }
                Action::Install { mac, mn_id, hnps, lma, lifetime, agent: ro } => {
                    let Some(node) = node_of(&topo, &mac) else { continue };
                    // One home network prefix per node in the workers' table (a /64). The
                    // others stay in the registration (RFC 5213 §6.9.1.1: a refresh lists
                    // them all) but are never advertised, so no MN configures an address
                    // the MAG does not route.
                    let Some(&(prefix, len)) = hnps.first() else { continue };
                    if hnps.len() > 1 {
                        self.counters.prefixes_unused.add(hnps.len() as u64 - 1);
                        tracing::warn!(
                            "{}: the LMA granted {} home network prefixes; only {prefix}/{len} is routed and advertised (one per node)",
                            String::from_utf8_lossy(&mn_id),
                            hnps.len()
                        );
                    }
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
                    let Some(node) = node_of(&topo, &mac) else { continue };
                    // The reflector's bindings for addresses in the prefix go first, while
                    // the route still says whose they are (draft §4.1.3).
                    agent.purge_attached(now, |a| hnps.iter().any(|&(p, l)| ipv6::mask(a, l) == ipv6::mask(&p, l)), links, out);
                    out.withdraw_route(node);
                    out.set_registration(node, DpState::Idle);
                    tracing::info!("routes withdrawn: {} {}", fmt_mac(&mac), hnps.iter().map(|(p, l)| format!("{p}/{l}")).collect::<Vec<_>>().join(", "));
                    touched.push(mac);
                }
                Action::Advertise { mac, prefixes, valid, preferred } => {
                    // Only the prefix the workers route for the node (see `Install`).
                    let routed = node_of(&topo, &mac).and_then(|n| topo.attached.node(n)).and_then(|n| n.hnp());
                    let prefixes: Vec<_> = prefixes.into_iter().filter(|&(p, l)| l == 64 && Some((u128::from(p) >> 64) as u64) == routed).collect();
                    if prefixes.is_empty() {
                        continue;
                    }
                    // RFC 5213 §6.7: unicast to the node; RFC 4861 §6.2.6: to its address
                    // if known, else all-nodes in a frame only it receives.
                    let to = self.link_local.get(&mac).copied().unwrap_or(ipv6::ALL_NODES);
                    let (ll, our_mac) = (topo.own.access_link_local(), topo.access_mac);
                    let router = (self.ra_router_lifetime as u32).min(valid.max(1)) as u16;
                    let mtu = self.mtu;
                    if links.send(
                        dataplane::counters::Role::Access,
                        mac,
                        |o| nd::build_router_advert_with_lifetimes(o, &ll, &to, &our_mac, &prefixes, router, Some(mtu), valid, preferred),
                        out,
                    ) {
                        self.counters.ra_sent.inc();
                    }
                }
                Action::ProbeNeighbor { mac, .. } => {
                    // RFC 4861 §7.3.3: a unicast solicitation to the node's own address.
                    let target = self.link_local.get(&mac).copied().unwrap_or_else(|| eui64_link_local(&mac));
                    let (ll, our_mac) = (topo.own.access_link_local(), topo.access_mac);
                    if links.send(dataplane::counters::Role::Access, mac, |o| emit_unicast_ns(o, &ll, &target, &our_mac), out) {
                        self.counters.probes_sent.inc();
                    }
                }
                Action::Registered { mac, hnps, lifetime } => {
                    tracing::info!(
                        "registered: {} {} lifetime {} s",
                        fmt_mac(&mac),
                        hnps.iter().map(|(p, l)| format!("{p}/{l}")).collect::<Vec<_>>().join(", "),
                        lifetime.as_secs()
                    );
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
                    // Its next frame may try again (after the state machine's holdoff); until
                    // then the frames are punted at most once per MUTE.
                    if let Some(node) = node_of(&topo, &mac) {
                        out.set_registration(node, DpState::Idle);
                    }
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
    ipv6::Repr { src: *coa, dst: *lma, next_header: ipv6::proto::MOBILITY, payload_len: mh.len() as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }
        .emit(buf)?;
    buf[ipv6::HEADER_LEN..].copy_from_slice(&mh);
    Ok(total)
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

/// The attached node of policy MAC `mac`, also when a reload has just detached it (its
/// routes must still be withdrawn).
fn node_of(topo: &Topology, mac: &MacAddr) -> Option<u32> {
    topo.attached.lookup_mac(mac).or_else(|| topo.attached.nodes().iter().position(|n| n.mac == Some(*mac)).map(|i| i as u32))
}

#[cfg(test)]
mod tests {
    use super::eui64_link_local;
    use crate::testing::*;
    use dataplane::attached::Registration;
    use dataplane::counters::{Punt, Role};
    use e2e::pmip_lma::{Knobs, Lma};
    use std::time::Instant;
    use wire::nd::{self, Nd};
    use wire::pmip::{self, ProxyBindingUpdate};
    use wire::testpkt::{ip6, udp_packet};
    use wire::{ipv6, mobility};

    /// The LMA's assigned prefix for the first node (the test LMA's pool).
    const HNP: &str = "2001:db8:20:1::";
    const MN2_LL: &str = "fe80::ff:fe00:300";

    fn router_solicit() -> Vec<u8> {
        // RFC 4861 §4.1: type 133, from the node's link-local address to all-routers.
        let mut m = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 3, 0];
        let (src, dst) = (a(MN2_LL), a("ff02::2"));
        let c = wire::checksum::upper_layer(&src, &dst, ipv6::proto::ICMPV6, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = ip6(src, dst, ipv6::proto::ICMPV6, 255, &m);
        p[7] = 255;
        frame([0x33, 0x33, 0, 0, 0, 2], MN2_MAC, &p)
    }

    /// The PBUs among `sent`: (IPv6 source, destination, Mobility Header).
    fn pbus(sent: &[(Role, Vec<u8>)]) -> Vec<(std::net::Ipv6Addr, std::net::Ipv6Addr, Vec<u8>)> {
        sent.iter()
            .filter(|(r, f)| *r == Role::Core && ip_of(f).get(6) == Some(&ipv6::proto::MOBILITY))
            .map(|(_, f)| {
                let h = ipv6::Header::new_checked(ip_of(f)).unwrap();
                assert_eq!((&f[..6], &f[6..12]), (&LMA_MAC[..], &CORE_MAC[..]));
                (h.src_addr(), h.dst_addr(), ip_of(f)[ipv6::HEADER_LEN..h.total_len()].to_vec())
            })
            .collect()
    }

    fn ras(sent: &[(Role, Vec<u8>)]) -> Vec<Vec<u8>> {
        sent.iter().filter(|(r, f)| *r == Role::Access && ip_of(f).get(40) == Some(&134)).map(|(_, f)| f.clone()).collect()
    }

    /// Answers every PBU in `sent` with `lma`, punting the PBAs as the workers do.
    fn answer(h: &mut Harness, lma: &mut Lma, sent: &[(Role, Vec<u8>)]) -> usize {
        let mut n = 0;
        for (src, dst, mh) in pbus(sent) {
            if let Some((s, d, pba)) = lma.handle(src, dst, &mh, Instant::now()).reply {
                h.punt(Punt::ForUs, Role::Core, &from_lma(&ip6(s, d, ipv6::proto::MOBILITY, 64, &pba)));
                n += 1;
            }
        }
        n
    }

    fn node(h: &Harness) -> Registration {
        h.topo().attached.node(0).unwrap().registration()
    }

    fn registered(knobs: Knobs) -> (Harness, Lma) {
        let mut h = Harness::resolved(PMIPV6);
        let mut lma = Lma::new(a(PROXY_COA), knobs);
        h.punt(Punt::NeighborDiscovery, Role::Access, &router_solicit());
        let sent = h.sent();
        answer(&mut h, &mut lma, &sent);
        (h, lma)
    }

    #[test]
    fn an_attach_sends_the_rfc_5213_pbu_and_nothing_is_routed_before_the_pba() {
        let mut h = Harness::resolved(PMIPV6);
        h.punt(Punt::Attach, Role::Access, &from_mn2(&udp_packet(a("2001:db8:99::1"), a(HOME), 64, 1, 2, b"early")));
        let sent = h.sent();
        let p = pbus(&sent);
        assert_eq!(p.len(), 1);
        let (src, dst, mh) = &p[0];
        assert_eq!((*src, *dst), (a(PROXY_COA), a(LMA)));
        assert!(mobility::verify_checksum(src, dst, mh), "MH checksum");
        assert_eq!(mh[0], 59, "Payload Proto: no next header");
        let pbu = ProxyBindingUpdate::parse(mh).unwrap();
        assert!(pbu.ack && pbu.home_reg && pbu.proxy_reg && pbu.link_local_compat);
        assert_eq!(pbu.lifetime_units, 10);
        let o = &pbu.options;
        assert_eq!(o.mn_id.as_deref(), Some(&b"mn2@roagent.test"[..]));
        assert_eq!(o.home_network_prefixes, [(a("::"), 0)]);
        assert_eq!((o.handoff_indicator, o.access_technology), (Some(pmip::handoff::NEW_ATTACHMENT), Some(pmip::access_technology::IEEE_802_3)));
        assert_eq!(o.mn_link_layer_id.as_deref(), Some(&MN2_MAC[..]));
        assert_eq!(o.link_local_address, Some(a(MAG_LL)));
        assert_eq!(o.timestamp.map(|t| t >> 16), Some(WALL.as_secs() + 1), "seconds since 1970 at now = 1 s");
        assert!(ras(&sent).is_empty(), "no prefix advertised before the PBA");
        assert!(h.out.routes.is_empty());
        assert_eq!(node(&h), Registration::Registering, "the workers stop punting its frames");
    }

    #[test]
    fn a_status_0_pba_installs_the_prefix_then_advertises_it() {
        let (mut h, _) = registered(Knobs::default());
        assert_eq!(h.out.routes.get(&0), Some(&((u128::from(a(HNP)) >> 64) as u64)));
        assert_eq!(node(&h), Registration::Registered);
        assert_eq!(h.topo().attached.lookup(&a("2001:db8:20:1::abcd").octets()), Some(0), "the node's traffic is routed now");
        let sent = h.sent();
        let ra = ras(&sent);
        assert_eq!(ra.len(), 1, "one RA on acceptance");
        let f = &ra[0];
        assert_eq!((&f[..6], &f[6..12]), (&MN2_MAC[..], &ACCESS_MAC[..]), "unicast to the node");
        let ip = ip_of(f);
        let hd = ipv6::Header::new_checked(ip).unwrap();
        assert_eq!((hd.src_addr(), hd.dst_addr(), hd.hop_limit()), (a(MAG_LL), a(MN2_LL), 255));
        let body = &ip[ipv6::HEADER_LEN..];
        assert!(wire::icmpv6::Message::new_checked(body).unwrap().verify_checksum(&a(MAG_LL), &a(MN2_LL)));
        let router_lifetime = u16::from_be_bytes([body[6], body[7]]);
        assert!(router_lifetime > 0);
        // Options after the 16-byte RA header: SLLA (8), MTU (8), then the prefix (32).
        let opts = &body[16..];
        assert_eq!((opts[0], &opts[2..8]), (1, &ACCESS_MAC[..]));
        assert_eq!((opts[8], u32::from_be_bytes([opts[12], opts[13], opts[14], opts[15]])), (5, 1500));
        let pio = &opts[16..48];
        assert_eq!((pio[0], pio[2], pio[3] & 0xc0), (3, 64, 0xc0), "Prefix Information, /64, L and A");
        let valid = u32::from_be_bytes([pio[4], pio[5], pio[6], pio[7]]);
        let preferred = u32::from_be_bytes([pio[8], pio[9], pio[10], pio[11]]);
        assert!(valid <= 40 && preferred <= valid && valid > 30, "within the binding's 40 s: {valid}/{preferred}");
        assert_eq!(&pio[16..32], &a(HNP).octets());
        h.tick_at(1.0);
        let c = h.plane.registrations.as_ref().unwrap().counters.clone();
        assert_eq!((c.registrations.get(), c.pba_received[0].get(), c.pbu_sent[mag::PbuKind::Initial as usize].get()), (1, 1, 1));
        assert_eq!(c.mobile_nodes[mag::MnState::Registered as usize].get(), 1);
    }

    #[test]
    fn a_router_solicitation_once_registered_gets_an_ra() {
        let (mut h, _) = registered(Knobs::default());
        h.sent();
        h.punt(Punt::NeighborDiscovery, Role::Access, &router_solicit());
        assert_eq!(ras(&h.sent()).len(), 1);
    }

    #[test]
    fn a_rejection_keeps_the_node_offline_and_is_counted() {
        let (mut h, _) = registered(Knobs { pba_status: Some(pmip::status::NOT_LMA_FOR_THIS_MOBILE_NODE), ..Knobs::default() });
        assert!(h.out.routes.is_empty());
        assert_ne!(node(&h), Registration::Registered);
        assert!(ras(&h.sent()).is_empty());
        h.tick_at(1.0);
        let c = h.plane.registrations.as_ref().unwrap().counters.clone();
        assert_eq!(c.pba_received[153].get(), 1);
        assert_eq!(c.failures[1].get(), 1, "rejected");
        assert_eq!(c.registrations.get(), 0);
    }

    #[test]
    fn lost_pbus_are_retransmitted_with_new_sequence_numbers_until_answered() {
        let mut h = Harness::resolved(PMIPV6);
        let mut lma = Lma::new(a(PROXY_COA), Knobs { drop_first_pbus: 2, ..Knobs::default() });
        h.punt(Punt::NeighborDiscovery, Role::Access, &router_solicit());
        let mut seqs = Vec::new();
        for t in [0.0, 1.0, 3.0] {
            if t > 0.0 {
                h.tick_at(t);
            }
            let sent = h.sent();
            let p = pbus(&sent);
            assert_eq!(p.len(), 1, "one PBU by {t} s");
            seqs.push(ProxyBindingUpdate::parse(&p[0].2).unwrap().seq);
            answer(&mut h, &mut lma, &sent);
        }
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
        assert_eq!(node(&h), Registration::Registered);
        h.tick_at(3.5);
        let c = h.plane.registrations.as_ref().unwrap().counters.clone();
        assert_eq!(c.pbu_sent[mag::PbuKind::Retransmit as usize].get(), 2);
    }

    #[test]
    fn bad_pbas_are_dropped_and_keep_the_registration() {
        let (mut h, _) = registered(Knobs::default());
        let good = h.out.routes.clone();
        // Not from the LMA, bad checksum, not a PBA at all.
        let pba = pmip::ProxyBindingAck { status: 0, proxy_reg: true, seq: 1, lifetime_units: 10, ..Default::default() };
        let mut mh = pba.to_bytes();
        mobility::fill_checksum(&mut mh, &a("2001:db8:c0::99"), &a(PROXY_COA)).unwrap();
        h.punt(Punt::ForUs, Role::Core, &from_lma(&ip6(a("2001:db8:c0::99"), a(PROXY_COA), ipv6::proto::MOBILITY, 64, &mh)));
        let mut bad = mh.clone();
        bad[6] ^= 1;
        h.punt(Punt::ForUs, Role::Core, &from_lma(&ip6(a(LMA), a(PROXY_COA), ipv6::proto::MOBILITY, 64, &bad)));
        h.punt(Punt::ForUs, Role::Core, &from_lma(&ip6(a(LMA), a(PROXY_COA), ipv6::proto::MOBILITY, 64, &[59, 0, 0, 0])));
        assert_eq!(h.out.routes, good);
        assert_eq!(node(&h), Registration::Registered);
        let c = h.plane.registrations.as_ref().unwrap().counters.clone();
        h.tick_at(1.0);
        assert_eq!(c.dropped.iter().map(|d| d.get()).sum::<u64>(), 1, "the PBA from a non-LMA address");
        assert_eq!(c.bad_checksum.get(), 2, "the altered one and the truncated one");
    }

    #[test]
    fn a_second_granted_prefix_is_kept_for_refreshes_but_never_advertised_or_routed() {
        let mut h = Harness::resolved(PMIPV6);
        let mut lma = Lma::new(a(PROXY_COA), Knobs::default());
        h.punt(Punt::NeighborDiscovery, Role::Access, &router_solicit());
        let (src, dst, mh) = pbus(&h.sent()).remove(0);
        let (s, d, pba) = lma.handle(src, dst, &mh, Instant::now()).reply.unwrap();
        // The LMA's answer with a second /64 granted beside the first.
        let mut pba = pmip::ProxyBindingAck::parse(&pba).unwrap();
        pba.options.home_network_prefixes.push((a("2001:db8:77::"), 64));
        let mut mh = pba.to_bytes();
        mobility::fill_checksum(&mut mh, &s, &d).unwrap();
        h.punt(Punt::ForUs, Role::Core, &from_lma(&ip6(s, d, ipv6::proto::MOBILITY, 64, &mh)));
        assert_eq!(node(&h), Registration::Registered);
        assert_eq!(h.out.routes.get(&0), Some(&((u128::from(a(HNP)) >> 64) as u64)), "the first prefix is routed");
        assert_eq!(h.topo().attached.lookup(&a("2001:db8:77::1").octets()), None, "the second is not");
        let sent = h.sent();
        let ra = ras(&sent);
        assert_eq!(ra.len(), 1);
        let opts = &ip_of(&ra[0])[ipv6::HEADER_LEN + 16..];
        // SLLA (8), MTU (8), one Prefix Information option (32), nothing after it.
        assert_eq!((opts.len(), opts[16], &opts[32..48]), (48, 3, &a(HNP).octets()[..]), "only the routed prefix is advertised");
        assert_eq!(h.plane.registrations.as_ref().unwrap().counters.prefixes_unused.get(), 1);
    }

    #[test]
    fn an_unknown_mac_is_never_registered() {
        let mut h = Harness::resolved(PMIPV6);
        let mut rs = router_solicit();
        rs[6..12].copy_from_slice(&[2, 0, 0, 0, 9, 9]);
        h.punt(Punt::NeighborDiscovery, Role::Access, &rs);
        assert!(pbus(&h.sent()).is_empty());
        assert_eq!(h.plane.registrations.as_ref().unwrap().counters.unknown_mac.get(), 1);
    }

    #[test]
    fn the_refresh_comes_before_the_lifetime_ends() {
        let (mut h, mut lma) = registered(Knobs::default());
        h.sent();
        let mut refreshed = false;
        for t in 1..40 {
            // The node keeps sending (the workers stamp it), so it is never idle.
            h.topo().attached.node(0).unwrap().seen(t);
            h.tick_at(f64::from(t));
            let sent = h.sent();
            for (_, _, mh) in pbus(&sent) {
                let pbu = ProxyBindingUpdate::parse(&mh).unwrap();
                assert_eq!(pbu.options.handoff_indicator, Some(pmip::handoff::REREGISTRATION));
                assert_eq!(pbu.options.home_network_prefixes, [(a(HNP), 64)]);
                assert!(t < 40, "before the 40 s binding ends");
                refreshed = true;
            }
            answer(&mut h, &mut lma, &sent);
            assert_eq!(node(&h), Registration::Registered, "at {t} s");
        }
        assert!(refreshed);
    }

    #[test]
    fn a_silent_node_is_probed_then_deregistered_and_its_routes_and_bindings_go() {
        let (mut h, mut lma) = registered(Knobs::default());
        h.sent();
        let mut probes = 0;
        let mut dereg = false;
        for t in 1..=30 {
            h.tick_at(f64::from(t));
            let sent = h.sent();
            for (r, f) in &sent {
                if *r == Role::Access {
                    if let Ok(Some(Nd::NeighborSolicit { target, .. })) = nd::parse(ip_of(f)) {
                        assert_eq!(target, a(MN2_LL));
                        assert_eq!(ipv6::Header::new_checked(ip_of(f)).unwrap().dst_addr(), a(MN2_LL), "unicast NUD");
                        probes += 1;
                    }
                }
            }
            for (_, _, mh) in pbus(&sent) {
                if ProxyBindingUpdate::parse(&mh).unwrap().lifetime_units == 0 {
                    dereg = true;
                    assert!(h.out.routes.is_empty(), "routes withdrawn at once");
                }
            }
            answer(&mut h, &mut lma, &sent);
        }
        assert_eq!(probes, 3);
        assert!(dereg, "deregistered");
        assert_eq!(node(&h), Registration::Idle);
        assert_eq!(h.topo().attached.lookup(&a("2001:db8:20:1::abcd").octets()), None);
    }

    #[test]
    fn an_answered_probe_keeps_the_node() {
        let (mut h, mut lma) = registered(Knobs::default());
        for t in 1..=30 {
            h.tick_at(f64::from(t));
            let sent = h.sent();
            if sent.iter().any(|(r, f)| *r == Role::Access && matches!(nd::parse(ip_of(f)), Ok(Some(Nd::NeighborSolicit { .. })))) {
                let mut na = vec![0u8; 100];
                let n = nd::build_neighbor_advert(&mut na, &a(MN2_LL), &a(MAG_LL), &a(MN2_LL), &MN2_MAC, false, true, true).unwrap();
                na.truncate(n);
                h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&na));
            }
            answer(&mut h, &mut lma, &sent);
            assert!(pbus(&sent).iter().all(|(_, _, mh)| ProxyBindingUpdate::parse(mh).unwrap().lifetime_units != 0), "no deregistration");
        }
        assert_eq!(node(&h), Registration::Registered);
    }

    #[test]
    fn route_optimization_works_on_a_learned_prefix_and_goes_with_it() {
        let (mut h, _) = registered(Knobs::default());
        h.sent();
        let slaac = a("2001:db8:20:1::300");
        let mut m = e2e::mn1::Mn1::new(a(HOME), a(CARE_OF), slaac);
        let down = |ip: &[u8]| frame([0; 6], CORE_MAC, ip);
        h.punt(Punt::Mobility, Role::Core, &down(&m.hoti()));
        h.punt(Punt::Mobility, Role::Core, &down(&m.coti()));
        let sent = h.sent();
        assert_eq!(sent.len(), 2, "HoT and CoT as the node");
        let inner = |f: &[u8]| ip_of(f)[ipv6::HEADER_LEN..].to_vec();
        m.take_hot(&inner(&sent[0].1)).unwrap();
        m.take_cot(&inner(&sent[1].1)).unwrap();
        h.punt(Punt::Mobility, Role::Core, &down(&m.bu(1, 10, true)));
        let sent = h.sent();
        assert_eq!(m.take_ba(&inner(&sent[0].1)).unwrap().status, 0);
        assert_eq!(h.out.bindings.get(&(a(HOME), slaac)), Some(&a(CARE_OF)));
        // The node goes silent: detached, and the binding goes with the prefix.
        for t in 1..=30 {
            h.tick_at(f64::from(t));
        }
        assert!(h.out.bindings.is_empty(), "purged with the routes");
        assert_eq!(h.plane.agent.counters.deleted_detached.get(), 1);
    }

    #[test]
    fn after_a_silent_lma_is_given_up_the_nodes_next_frame_tries_again() {
        let mut h = Harness::resolved(PMIPV6);
        h.punt(Punt::NeighborDiscovery, Role::Access, &router_solicit());
        let mut sent = pbus(&h.sent()).len();
        for t in 1..=130 {
            h.tick_at(f64::from(t));
            sent += pbus(&h.sent()).len();
        }
        assert_eq!(sent, 8, "8 transmissions, then given up");
        let c = h.plane.registrations.as_ref().unwrap().counters.clone();
        assert_eq!(c.failures[0].get(), 1, "no_response");
        assert_eq!(node(&h), Registration::Idle, "the workers punt its next frame");
        // Within the holdoff a frame starts nothing, and the workers then drop its frames.
        h.punt(Punt::Attach, Role::Access, &from_mn2(&udp_packet(a("2001:db8:99::1"), a(HOME), 64, 1, 2, b"x")));
        assert!(pbus(&h.sent()).is_empty());
        assert_eq!(node(&h), Registration::Registering);
        h.tick_at(170.0);
        assert_eq!(node(&h), Registration::Idle, "listened to again after a second");
        h.punt(Punt::Attach, Role::Access, &from_mn2(&udp_packet(a("2001:db8:99::1"), a(HOME), 64, 1, 2, b"x")));
        assert_eq!(pbus(&h.sent()).len(), 1, "a new registration after the holdoff");
    }

    #[test]
    fn probes_of_a_node_never_heard_on_nd_go_to_its_eui64_link_local() {
        assert_eq!(eui64_link_local(&MN2_MAC), a(MN2_LL));
    }
}

#[cfg(test)]
mod scale {
    //! Registrations per second on one control core, and memory per registered node, at
    //! 100,000 nodes in the policy: the real `ControlPlane` (the `mag` machine, the codec,
    //! the framing, the attached-node table) against the test LMA's logic in process. No DPDK
    //! I/O: the mbuf and ring costs are the signaling bench's (`scripts/bench-signaling`).
    //! `cargo test --release -p control scale -- --ignored --nocapture` (benches/RESULTS.md).

    use crate::testing::*;
    use dataplane::attached::Registration;
    use dataplane::counters::{Punt, Role};
    use e2e::pmip_lma::{Knobs, Lma};
    use std::fmt::Write;
    use std::time::Instant;
    use wire::ipv6;
    use wire::testpkt::{ip6, udp_packet};

    const NODES: u32 = 100_000;

    fn mac(i: u32) -> [u8; 6] {
        [2, 0x10, (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8]
    }

    #[test]
    #[ignore = "a measurement: run with --release --ignored --nocapture"]
    fn registrations_per_second_at_100k_nodes() {
        let mut cfg = PMIPV6.replace("[[node]]\nname = \"mn2\"\nmn_id = \"mn2@roagent.test\"\nmac = \"02:00:00:00:03:00\"\n", "");
        for i in 0..NODES {
            let m = mac(i);
            let _ = write!(
                cfg,
                "[[node]]\nname = \"n{i}\"\nmn_id = \"n{i}@roagent.test\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\n",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
        }
        let t = Instant::now();
        let mut h = Harness::resolved(&cfg);
        eprintln!("policy of {NODES} nodes loaded in {:.2} s", t.elapsed().as_secs_f64());
        let mut lma = Lma::new(a(PROXY_COA), Knobs { pool: (a("2001:db8::"), 32), ..Knobs::default() });
        let frames: Vec<Vec<u8>> = (0..NODES).map(|i| frame(ACCESS_MAC, mac(i), &udp_packet(a("2001:db8:99::1"), a(HOME), 64, 1, 2, b"x"))).collect();
        let (mut pbu_time, mut pba_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let start = Instant::now();
        for f in &frames {
            let t0 = Instant::now();
            h.punt(Punt::Attach, Role::Access, f);
            pbu_time += t0.elapsed();
            for (role, out) in h.sent() {
                let ip = &out[14..];
                if role != Role::Core || ip[6] != ipv6::proto::MOBILITY {
                    continue;
                }
                let hd = ipv6::Header::new_checked(ip).unwrap();
                let reply = lma.handle(hd.src_addr(), hd.dst_addr(), &ip[ipv6::HEADER_LEN..hd.total_len()], Instant::now()).reply.unwrap();
                let pba = from_lma(&ip6(reply.0, reply.1, ipv6::proto::MOBILITY, 64, &reply.2));
                let t1 = Instant::now();
                h.punt(Punt::ForUs, Role::Core, &pba);
                pba_time += t1.elapsed();
            }
        }
        let all = start.elapsed();
        let registered = h.topo().attached.nodes().iter().filter(|n| n.registration() == Registration::Registered).count();
        assert_eq!(registered, NODES as usize);
        assert_eq!(h.out.routes.len(), NODES as usize);
        let control = pbu_time + pba_time;
        eprintln!(
            "{NODES} registrations: {:.0}/s on the control plane alone (attach -> PBU -> PBA -> route + RA: {:.2} s), {:.0}/s with the in-process test LMA ({:.2} s)",
            f64::from(NODES) / control.as_secs_f64(),
            control.as_secs_f64(),
            f64::from(NODES) / all.as_secs_f64(),
            all.as_secs_f64()
        );
        let regs = h.plane.registrations.as_ref().unwrap();
        let mem = regs.mag.approx_memory();
        let topo = h.topo();
        let dataplane_bytes = std::mem::size_of::<dataplane::attached::AttachedNode>() + 8 /* neighbor slot */ + 2 * 12 /* route slots */ + 12 /* MAC map slot x2 */;
        let view_bytes = regs.view.len() * (std::mem::size_of::<([u8; 6], crate::mobiles_view::MobileRow)>() + 24);
        eprintln!(
            "memory per registered node: {} B in the state machine ({mem:?}), ~{dataplane_bytes} B in the workers' tables, ~{} B in the admin view; {} nodes in the attached table",
            mem.total() / NODES as usize,
            view_bytes / NODES as usize,
            topo.attached.len()
        );
    }
}
