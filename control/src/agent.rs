//! The Route Optimization Agent (draft §4.1), with no I/O: Mobility Header packets punted by
//! the workers go through the reflector state machine; its replies leave as the attached
//! node's own packets (framed by [`Links::send_as_node`]), and its binding changes go to the
//! workers' table through the [`Egress`] and to the admin view.

use crate::bindings_view::{BindingEntry, BindingsView};
use crate::counters::{mh_slot, AgentCounters};
use crate::egress::Egress;
use crate::links::Links;
use crate::ratelimit::TokenBucket;
use dataplane::forward::PacketBuf;
use reflector::{Action, Entropy, Inbound, Reflector, Reply};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::icmpv6::{self, ErrorKind};
use wire::{ext, ipv6, mobility, rh2};

/// Replay-triggered log lines per second (and burst).
const BU_LOG_PER_SEC: u32 = 10;

pub struct Agent {
    pub reflector: Reflector,
    entropy: Box<dyn Entropy + Send>,
    actions: Vec<Action>,
    pub counters: Arc<AgentCounters>,
    /// The admin view's copy of the cache.
    pub view: Arc<BindingsView>,
    /// The instant `now` (a Duration) counts from, for the admin view's expiry times.
    start: Instant,
    /// Log lines a replayed Binding Update can cause (rejected, deregistration): anyone on
    /// the path can replay one as fast as the control core verifies them (~400k/s), so they
    /// are limited; every BA status is counted in the metrics whatever is logged.
    bu_log: TokenBucket,
    bu_log_suppressed: u64,
}

impl Agent {
    pub fn new(cfg: reflector::Config, mut entropy: Box<dyn Entropy + Send>, start: Instant) -> Agent {
        let reflector = Reflector::new(cfg, Duration::ZERO, &mut *entropy);
        let bu_log = TokenBucket::new(BU_LOG_PER_SEC, BU_LOG_PER_SEC);
        Agent { reflector, entropy, actions: Vec::new(), counters: Default::default(), view: Default::default(), start, bu_log, bu_log_suppressed: 0 }
    }

    /// A Mobility Header packet to an attached node (`ip`: the decapsulated IPv6 packet).
    pub fn on_mobility<B: PacketBuf>(&mut self, now: Duration, ip: &[u8], links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else { return };
        if let Some(t) = ip.get(chain.upper_offset + 2) {
            self.counters.received[mh_slot(*t)].inc();
        }
        let pkt = Inbound {
            src: h.src_addr(),
            dst: h.dst_addr(),
            home_address: chain.home_address.map(|o| o.home),
            ipv6_packet: &ip[..h.total_len()],
            mh_offset: chain.upper_offset,
        };
        let mut actions = std::mem::take(&mut self.actions);
        self.reflector.on_mobility(now, &pkt, &mut actions);
        self.apply(now, &mut actions, Some(pkt.ipv6_packet), links, out);
        self.actions = actions;
    }

    /// A packet with a Home Address option that matched no binding (RFC 6275 §9.3.1):
    /// dropped, and a Binding Error status 1 sent to its source (rate-limited).
    pub fn on_unverified_home_address<B: PacketBuf>(&mut self, now: Duration, ip: &[u8], links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else { return };
        let Some(opt) = chain.home_address else { return };
        self.counters.hao_unverified.inc();
        let mut actions = std::mem::take(&mut self.actions);
        self.reflector.on_unverified_home_address(now, h.src_addr(), h.dst_addr(), opt.home, &mut actions);
        self.apply(now, &mut actions, None, links, out);
        self.actions = actions;
    }

    /// Nonce and Kcn rotation, binding expiry.
    pub fn tick<B: PacketBuf>(&mut self, now: Duration, links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        let mut actions = std::mem::take(&mut self.actions);
        self.reflector.on_tick(now, &mut *self.entropy, &mut actions);
        self.apply(now, &mut actions, None, links, out);
        self.counters.nonce_rotations.set(self.reflector.stats().nonce_rotations);
        self.actions = actions;
    }

    /// Purges the bindings of attached address `attached` (detach, agent off).
    pub fn detach_address<B: PacketBuf>(&mut self, now: Duration, attached: Ipv6Addr, links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        let mut actions = std::mem::take(&mut self.actions);
        self.reflector.detach(attached, &mut actions);
        self.apply(now, &mut actions, None, links, out);
        self.actions = actions;
    }

    /// Purges the bindings of every attached address `gone` says is going (a node detached,
    /// its prefix withdrawn, its agent turned off), each address once.
    pub fn purge_attached<B: PacketBuf>(&mut self, now: Duration, gone: impl Fn(&Ipv6Addr) -> bool, links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        let mut addrs: Vec<Ipv6Addr> = self.reflector.bindings().map(|b| b.attached).filter(|a| gone(a)).collect();
        addrs.sort();
        addrs.dedup();
        for a in addrs {
            self.detach_address(now, a, links, out);
        }
    }

    /// Whether a replay-triggered line may be logged at `now`; if so, the note to append
    /// about the lines suppressed since the last one.
    fn may_log_bu(&mut self, now: Duration) -> Option<String> {
        if !self.bu_log.take(now) {
            self.bu_log_suppressed += 1;
            return None;
        }
        Some(match std::mem::take(&mut self.bu_log_suppressed) {
            0 => String::new(),
            n => format!(" ({n} such line(s) suppressed before this one)"),
        })
    }

    /// Carries out what the reflector decided.
    fn apply<B: PacketBuf>(&mut self, now: Duration, actions: &mut Vec<Action>, invoking: Option<&[u8]>, links: &mut Links<B>, out: &mut impl Egress<Buf = B>) {
        for a in actions.drain(..) {
            match a {
                Action::Send(Reply::Mobility { src, dst, rh2_home, mh_type, status, mh }) => {
                    if links.send_as_node(now, &src, |o| emit_mobility(o, &src, &dst, rh2_home.as_ref(), &mh), out) {
                        let c = &self.counters;
                        c.sent[mh_slot(mh_type)].inc();
                        match (mh_type, status) {
                            (mobility::mh_type::BINDING_ACK, Some(s)) => c.ba_status[usize::from(s)].inc(),
                            (mobility::mh_type::BINDING_ERROR, Some(s)) => c.binding_error(s).into_iter().for_each(|c| c.inc()),
                            _ => {}
                        }
                    }
                }
                Action::Send(Reply::ParameterProblem { src, dst, pointer }) => {
                    let Some(inv) = invoking else { continue };
                    let kind = ErrorKind::ParameterProblem { code: 0, pointer };
                    if links.send_as_node(now, &src, |o| icmpv6::build_error(o, &src, &dst, kind, inv), out) {
                        self.counters.parameter_problems.inc();
                    }
                }
                Action::BindingCreated(b) | Action::BindingRefreshed(b) => {
                    if out.upsert_binding(&b.home, &b.attached, &b.care_of).is_err() {
                        self.counters.table_full.inc();
                        tracing::error!("binding home {} for {} not published to the dataplane: the fast-path table is full", b.home, b.attached);
                        continue;
                    }
                    let topo = links.topo();
                    let node = topo.attached.lookup(&b.attached.octets()).and_then(|i| topo.attached.node(i)).map_or(String::new(), |n| n.name.clone());
                    let entry = BindingEntry {
                        home: b.home,
                        care_of: b.care_of,
                        attached: b.attached,
                        node,
                        expires: self.start + b.expires,
                        seq: b.seq,
                        agent: b.agent,
                        refreshed: b.refreshed,
                    };
                    self.view.insert((b.home, b.attached), entry);
                    let what = if b.refreshed == 0 {
                        self.counters.bindings_created.inc();
                        "created"
                    } else {
                        self.counters.bindings_refreshed.inc();
                        "refreshed"
                    };
                    tracing::info!(
                        "binding {what}: home {} care-of {} for attached node {}, lifetime {} s, sequence {}",
                        b.home,
                        b.care_of,
                        b.attached,
                        b.lifetime.as_secs(),
                        b.seq
                    );
                }
                Action::BindingDeleted { key: (home, attached), reason } => {
                    out.remove_binding(&home, &attached);
                    self.view.remove(&(home, attached));
                    self.counters.deleted(reason).inc();
                    tracing::info!("binding deleted ({}): home {home} for attached node {attached}", format!("{reason:?}").to_lowercase());
                }
                Action::Dropped(why) => self.counters.dropped(why).inc(),
                Action::Rejected { status, home, care_of } => {
                    if let Some(more) = self.may_log_bu(now) {
                        tracing::warn!("binding update rejected with status {status}: home {home} care-of {care_of}{more}");
                    }
                }
                Action::Deregistered { home, attached, with } => {
                    if let Some(more) = self.may_log_bu(now) {
                        tracing::info!(
                            "deregistration of home {home} at attached node {attached} (authenticated with the {} address){more}",
                            format!("{with:?}").to_lowercase()
                        );
                    }
                }
            }
        }
        self.counters.bindings.set(self.reflector.binding_count() as u64);
    }
}

/// The IPv6 packet of a Mobility Header reply: RFC 6275 §6.4, the Type 2 Routing Header (to
/// the mobile node's home address via its care-of address) right after the IPv6 header.
fn emit_mobility(o: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr, rh2_home: Option<&Ipv6Addr>, mh: &[u8]) -> wire::Result<usize> {
    let ext_len = if rh2_home.is_some() { rh2::LEN } else { 0 };
    let total = ipv6::HEADER_LEN + ext_len + mh.len();
    let len = o.len();
    let buf = o.get_mut(..total).ok_or(wire::Error::NoRoom { layer: "agent", required: total, len })?;
    let next_header = if rh2_home.is_some() { ipv6::proto::ROUTING } else { ipv6::proto::MOBILITY };
    ipv6::Repr { src: *src, dst: *dst, next_header, payload_len: (total - ipv6::HEADER_LEN) as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }
        .emit(buf)?;
    if let Some(home) = rh2_home {
        rh2::emit(&mut buf[ipv6::HEADER_LEN..], ipv6::proto::MOBILITY, home)?;
    }
    buf[ipv6::HEADER_LEN + ext_len..].copy_from_slice(mh);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use dataplane::counters::{Punt, Role};
    use e2e::mn1::Mn1;
    use wire::ipv6;
    use wire::mobility::mh_type;

    fn mn1() -> Mn1 {
        Mn1::new(a(HOME), a(CARE_OF), a(MN2))
    }

    /// `ip` as the worker punts it: decapsulated, from the LMA's side of the MAG.
    fn down(ip: &[u8]) -> Vec<u8> {
        frame([0; 6], CORE_MAC, ip)
    }

    /// The inner packet of a tunnelled frame, after checking the outer header.
    fn untunnel(f: &[u8]) -> &[u8] {
        assert_eq!((&f[..6], &f[6..12]), (&LMA_MAC[..], &CORE_MAC[..]));
        let o = ipv6::Header::new_checked(ip_of(f)).unwrap();
        assert_eq!((o.src_addr(), o.dst_addr(), o.next_header(), o.hop_limit()), (a(PROXY_COA), a(LMA), ipv6::proto::IPV6, 60));
        &ip_of(f)[ipv6::HEADER_LEN..]
    }

    /// Return routability and a Binding Update; returns MN1 and the BA packet.
    fn bind(h: &mut Harness) -> (Mn1, Vec<u8>) {
        let mut m = mn1();
        h.punt(Punt::Mobility, Role::Core, &down(&m.hoti()));
        h.punt(Punt::Mobility, Role::Core, &down(&m.coti()));
        let sent = h.sent();
        assert_eq!(sent.len(), 2);
        m.take_hot(untunnel(&sent[0].1)).unwrap();
        m.take_cot(untunnel(&sent[1].1)).unwrap();
        h.punt(Punt::Mobility, Role::Core, &down(&m.bu(1, 10, true)));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let ba = untunnel(&sent[0].1).to_vec();
        (m, ba)
    }

    #[test]
    fn replies_are_the_attached_nodes_packets_up_its_lma_tunnel() {
        let mut h = Harness::resolved(TUNNEL);
        let mut m = mn1();
        h.punt(Punt::Mobility, Role::Core, &down(&m.hoti()));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, Role::Core);
        let inner = untunnel(&sent[0].1);
        let ih = ipv6::Header::new_checked(inner).unwrap();
        assert_eq!((ih.src_addr(), ih.dst_addr()), (a(MN2), a(HOME)));
        m.take_hot(inner).unwrap();
        let c = &h.plane.agent.counters;
        assert_eq!((c.received[mh_type::HOME_TEST_INIT as usize].get(), c.sent[mh_type::HOME_TEST as usize].get()), (1, 1));
    }

    #[test]
    fn in_routed_mode_replies_are_routed_to_the_core_next_hop() {
        let mut h = Harness::resolved(ROUTED);
        let mut m = mn1();
        h.punt(Punt::Mobility, Role::Core, &down(&m.coti()));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let (role, f) = &sent[0];
        assert_eq!(*role, Role::Core);
        assert_eq!((&f[..6], &f[6..12]), (&NEXT_HOP_MAC[..], &CORE_MAC[..]));
        let ih = ipv6::Header::new_checked(ip_of(f)).unwrap();
        assert_eq!((ih.src_addr(), ih.dst_addr()), (a(MN2), a(CARE_OF)), "not tunnelled");
        m.take_cot(ip_of(f)).unwrap();
    }

    #[test]
    fn a_reply_to_an_unresolved_lma_waits_for_its_address() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::Mobility, Role::Core, &down(&mn1().hoti()));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert!(matches!(wire::nd::parse(ip_of(&sent[0].1)), Ok(Some(wire::nd::Nd::NeighborSolicit { .. }))), "the LMA solicited first");
        let mut na = vec![0u8; 100];
        let n = wire::nd::build_neighbor_advert(&mut na, &a(LMA), &a(PROXY_COA), &a(LMA), &LMA_MAC, false, true, true).unwrap();
        na.truncate(n);
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&na));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        mn1().take_hot(untunnel(&sent[0].1)).unwrap();
    }

    #[test]
    fn an_accepted_binding_update_publishes_the_binding_and_a_detach_withdraws_it() {
        let mut h = Harness::resolved(TUNNEL);
        let (m, ba) = bind(&mut h);
        let ba = m.take_ba(&ba).unwrap();
        assert_eq!(ba.status, 0);
        assert_eq!(h.out.bindings.get(&(a(HOME), a(MN2))), Some(&a(CARE_OF)));
        let agent = &h.plane.agent;
        assert_eq!(agent.view.get(&(a(HOME), a(MN2))).map(|e| (e.care_of, e.node.clone(), e.seq)), Some((a(CARE_OF), "mn2".to_string(), 1)));
        let c = agent.counters.clone();
        assert_eq!((c.bindings_created.get(), c.bindings.get(), c.ba_status[0].get()), (1, 1, 1));
        h.plane.purge_nodes(h.now, &[0], &mut h.out);
        assert!(h.out.bindings.is_empty());
        assert!(h.plane.agent.view.is_empty());
        assert_eq!((c.deleted_detached.get(), c.bindings.get()), (1, 0));
    }

    #[test]
    fn purging_another_node_keeps_the_binding() {
        let mut h = Harness::resolved(TUNNEL);
        bind(&mut h);
        h.plane.purge_nodes(h.now, &[1], &mut h.out);
        assert_eq!(h.out.bindings.len(), 1);
    }

    #[test]
    fn a_binding_the_fast_path_table_refuses_is_counted_not_shown() {
        let mut h = Harness::resolved(TUNNEL);
        h.out.table_cap = 0;
        let (m, ba) = bind(&mut h);
        assert_eq!(m.take_ba(&ba).unwrap().status, 0, "the reflector accepted it");
        assert!(h.out.bindings.is_empty());
        assert!(h.plane.agent.view.is_empty());
        assert_eq!(h.plane.agent.counters.table_full.get(), 1);
        assert_eq!(h.plane.agent.counters.bindings_created.get(), 0);
    }

    #[test]
    fn bindings_expire_on_the_timer() {
        let mut h = Harness::resolved(TUNNEL);
        bind(&mut h);
        // Lifetime 10 units of 4 s.
        h.tick_at(39.0);
        assert_eq!(h.out.bindings.len(), 1);
        h.tick_at(41.0);
        assert!(h.out.bindings.is_empty());
        assert_eq!(h.plane.agent.counters.deleted_expired.get(), 1);
    }

    #[test]
    fn a_home_address_option_without_binding_gets_binding_error_1() {
        let mut h = Harness::resolved(TUNNEL);
        let m = mn1();
        h.punt(Punt::HomeAddressUnverified, Role::Core, &down(&m.udp_with_hao(1, 2, b"x")));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let inner = untunnel(&sent[0].1);
        let ih = ipv6::Header::new_checked(inner).unwrap();
        assert_eq!((ih.src_addr(), ih.dst_addr()), (a(MN2), a(CARE_OF)));
        let c = &h.plane.agent.counters;
        assert_eq!((c.hao_unverified.get(), c.be_unknown_binding.get(), c.sent[mh_type::BINDING_ERROR as usize].get()), (1, 1, 1));
    }

    #[test]
    fn a_bad_checksum_is_dropped_and_counted_by_reason() {
        let mut h = Harness::resolved(TUNNEL);
        let mut p = mn1().hoti();
        let last = p.len() - 1;
        p[last] ^= 0xff;
        h.punt(Punt::Mobility, Role::Core, &down(&p));
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.agent.counters.dropped(reflector::DropReason::BadChecksum).get(), 1);
    }
}
