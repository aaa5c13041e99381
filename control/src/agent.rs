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
        let pkt = Inbound { src: h.src_addr(), dst: h.dst_addr(), home_address: chain.home_address.map(|o| o.home), ipv6_packet: &ip[..h.total_len()], mh_offset: chain.upper_offset };
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
                    let entry = BindingEntry { home: b.home, care_of: b.care_of, attached: b.attached, node, expires: self.start + b.expires, seq: b.seq, agent: b.agent, refreshed: b.refreshed };
                    self.view.insert((b.home, b.attached), entry);
                    let what = if b.refreshed == 0 {
                        self.counters.bindings_created.inc();
                        "created"
                    } else {
                        self.counters.bindings_refreshed.inc();
                        "refreshed"
                    };
                    tracing::info!("binding {what}: home {} care-of {} for attached node {}, lifetime {} s, sequence {}", b.home, b.care_of, b.attached, b.lifetime.as_secs(), b.seq);
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
                        tracing::info!("deregistration of home {home} at attached node {attached} (authenticated with the {} address){more}", format!("{with:?}").to_lowercase());
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
    ipv6::Repr { src: *src, dst: *dst, next_header, payload_len: (total - ipv6::HEADER_LEN) as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(buf)?;
    if let Some(home) = rh2_home {
        rh2::emit(&mut buf[ipv6::HEADER_LEN..], ipv6::proto::MOBILITY, home)?;
    }
    buf[ipv6::HEADER_LEN + ext_len..].copy_from_slice(mh);
    Ok(total)
}
