//! The Route Optimization Agent on the control core (draft §4.1): Mobility Header packets
//! punted by the workers go through the reflector state machine; its replies leave as the
//! attached node's own packets (up the node's LMA tunnel), and its binding changes are
//! published to the workers' lock-free table. This module is the only writer of that table.

use crate::control_core::ControlCore;
use crate::metrics::{BindingEntry, BindingsView};
use crate::ratelimit::TokenBucket;
use dataplane::bindings;
use dataplane::counters::Counter;
use dataplane::mbuf::Mbuf;
use reflector::{Action, DeleteReason, DropReason, Entropy, Inbound, Reflector, Reply};
use std::net::Ipv6Addr;
use std::time::Duration;
use wire::icmpv6::{self, ErrorKind};
use wire::{ext, ipv6, mobility, rh2};

/// Mobility Header types 0..=7 (RFC 6275 §6.1), and one slot for any other.
pub const MH_TYPES: [&str; 9] = [
    "binding_refresh_request",
    "home_test_init",
    "care_of_test_init",
    "home_test",
    "care_of_test",
    "binding_update",
    "binding_ack",
    "binding_error",
    "other",
];

/// What the agent counts (the control core is the only writer).
pub struct AgentCounters {
    pub received: [Counter; 9],
    pub sent: [Counter; 9],
    /// Binding Acknowledgements by status (0..=255).
    pub ba_status: Box<[Counter; 256]>,
    /// Binding Errors by status (1, 2).
    pub be_status: [Counter; 3],
    pub parameter_problems: Counter,
    pub dropped: [Counter; DropReason::ALL.len()],
    pub bindings_created: Counter,
    pub bindings_refreshed: Counter,
    /// Deleted, by reason: deregistered, expired, detached.
    pub bindings_deleted: [Counter; 3],
    pub bindings: Counter,
    /// The fast-path table could not take a binding (should never happen: it is sized for
    /// the reflector's limit plus the records waiting for a grace period).
    pub table_full: Counter,
    pub hao_unverified: Counter,
    pub nonce_rotations: Counter,
}

impl Default for AgentCounters {
    fn default() -> Self {
        AgentCounters {
            received: Default::default(),
            sent: Default::default(),
            ba_status: Box::new(std::array::from_fn(|_| Counter::default())),
            be_status: Default::default(),
            parameter_problems: Default::default(),
            dropped: Default::default(),
            bindings_created: Default::default(),
            bindings_refreshed: Default::default(),
            bindings_deleted: Default::default(),
            bindings: Default::default(),
            table_full: Default::default(),
            hao_unverified: Default::default(),
            nonce_rotations: Default::default(),
        }
    }
}

fn type_slot(t: u8) -> usize {
    (t as usize).min(8)
}

pub struct Agent {
    pub reflector: Reflector,
    pub entropy: Box<dyn Entropy + Send>,
    pub table: bindings::Writer,
    actions: Vec<Action>,
    pub counters: std::sync::Arc<AgentCounters>,
    /// The admin view's copy of the cache.
    pub view: std::sync::Arc<BindingsView>,
    /// The instant `now` (a Duration) counts from.
    start: std::time::Instant,
    /// Log lines a replayed Binding Update can cause (rejected, deregistration): anyone on
    /// the path can replay one as fast as the control core verifies them (~400k/s), so they
    /// are limited; every BA status is counted in the metrics whatever is logged.
    bu_log: TokenBucket,
    bu_log_suppressed: u64,
}

/// Replay-triggered log lines per second (and burst).
const BU_LOG_PER_SEC: u32 = 10;

impl Agent {
    pub fn new(cfg: reflector::Config, mut entropy: Box<dyn Entropy + Send>, table: bindings::Writer, start: std::time::Instant) -> Agent {
        let reflector = Reflector::new(cfg, Duration::ZERO, &mut *entropy);
        let bu_log = TokenBucket::new(BU_LOG_PER_SEC, BU_LOG_PER_SEC);
        Agent { reflector, entropy, table, actions: Vec::new(), counters: Default::default(), view: Default::default(), start, bu_log, bu_log_suppressed: 0 }
    }
}

impl Agent {
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
}

impl ControlCore {
    /// A Mobility Header packet to an attached node (decapsulated; IPv6 at offset 14).
    pub(crate) fn on_mobility(&mut self, now: Duration, m: &Mbuf) {
        let ip = m.data().get(14..).unwrap_or(&[]);
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else { return };
        if let Some(t) = ip.get(chain.upper_offset + 2) {
            self.agent.counters.received[type_slot(*t)].inc();
        }
        let pkt = Inbound {
            src: h.src_addr(),
            dst: h.dst_addr(),
            home_address: chain.home_address.map(|o| o.home),
            ipv6_packet: &ip[..h.total_len()],
            mh_offset: chain.upper_offset,
        };
        let mut actions = std::mem::take(&mut self.agent.actions);
        self.agent.reflector.on_mobility(now, &pkt, &mut actions);
        self.apply(now, &mut actions, Some(pkt.ipv6_packet));
        self.agent.actions = actions;
    }

    /// A packet with a Home Address option that matched no binding (RFC 6275 §9.3.1):
    /// dropped, and a Binding Error status 1 sent to its source (rate-limited).
    pub(crate) fn on_unverified_home_address(&mut self, now: Duration, m: &Mbuf) {
        let ip = m.data().get(14..).unwrap_or(&[]);
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else { return };
        let Some(opt) = chain.home_address else { return };
        self.agent.counters.hao_unverified.inc();
        let mut actions = std::mem::take(&mut self.agent.actions);
        self.agent.reflector.on_unverified_home_address(now, h.src_addr(), h.dst_addr(), opt.home, &mut actions);
        self.apply(now, &mut actions, None);
        self.agent.actions = actions;
    }

    /// Nonce and Kcn rotation, binding expiry.
    pub(crate) fn agent_tick(&mut self, now: Duration) {
        let mut actions = std::mem::take(&mut self.agent.actions);
        let agent = &mut self.agent;
        agent.reflector.on_tick(now, &mut *agent.entropy, &mut actions);
        self.apply(now, &mut actions, None);
        self.agent.table.reclaim();
        self.agent.counters.nonce_rotations.set(self.agent.reflector.stats().nonce_rotations);
        self.agent.actions = actions;
    }

    /// Purges the bindings of attached address `attached` (detach, agent off).
    pub(crate) fn detach_address(&mut self, now: Duration, attached: Ipv6Addr) {
        let mut actions = std::mem::take(&mut self.agent.actions);
        self.agent.reflector.detach(attached, &mut actions);
        self.apply(now, &mut actions, None);
        self.agent.actions = actions;
    }

    /// Carries out what the reflector decided.
    fn apply(&mut self, now: Duration, actions: &mut Vec<Action>, invoking: Option<&[u8]>) {
        for a in actions.drain(..) {
            match a {
                Action::Send(Reply::Mobility { src, dst, rh2_home, mh_type, status, mh }) => {
                    // RFC 6275 §6.4: the RH2 goes right after the IPv6 header.
                    let sent = self.send_as_node(now, &src, |out| {
                        let ext_len = if rh2_home.is_some() { rh2::LEN } else { 0 };
                        let total = ipv6::HEADER_LEN + ext_len + mh.len();
                        let buf = out.get_mut(..total).ok_or(wire::Error::NoRoom { layer: "agent", required: total, len: 0 })?;
                        let next = if rh2_home.is_some() { ipv6::proto::ROUTING } else { ipv6::proto::MOBILITY };
                        ipv6::Repr { src, dst, next_header: next, payload_len: (total - ipv6::HEADER_LEN) as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(buf)?;
                        if let Some(home) = rh2_home {
                            rh2::emit(&mut buf[ipv6::HEADER_LEN..], ipv6::proto::MOBILITY, &home)?;
                        }
                        buf[ipv6::HEADER_LEN + ext_len..].copy_from_slice(&mh);
                        Ok(total)
                    });
                    if sent {
                        let c = &self.agent.counters;
                        c.sent[type_slot(mh_type)].inc();
                        match (mh_type, status) {
                            (mobility::mh_type::BINDING_ACK, Some(s)) => c.ba_status[s as usize].inc(),
                            (mobility::mh_type::BINDING_ERROR, Some(s)) => c.be_status[(s as usize).min(2)].inc(),
                            _ => {}
                        }
                    }
                }
                Action::Send(Reply::ParameterProblem { src, dst, pointer }) => {
                    let Some(inv) = invoking else { continue };
                    let kind = ErrorKind::ParameterProblem { code: 0, pointer };
                    if self.send_as_node(now, &src, |out| icmpv6::build_error(out, &src, &dst, kind, inv)) {
                        self.agent.counters.parameter_problems.inc();
                    }
                }
                Action::BindingCreated(b) | Action::BindingRefreshed(b) if self.publish(&b.home, &b.attached, &b.care_of) => {
                    let node = self.topo.attached.lookup(&b.attached.octets()).and_then(|i| self.topo.attached.node(i)).map_or(String::new(), |n| n.name.clone());
                    let entry = BindingEntry {
                        home: b.home,
                        care_of: b.care_of,
                        attached: b.attached,
                        node,
                        expires: self.agent.start + b.expires,
                        seq: b.seq,
                        agent: b.agent,
                        refreshed: b.refreshed,
                    };
                    self.agent.view.insert((b.home, b.attached), entry);
                    let c = &self.agent.counters;
                    let what = if b.refreshed == 0 {
                        c.bindings_created.inc();
                        "created"
                    } else {
                        c.bindings_refreshed.inc();
                        "refreshed"
                    };
                    tracing::info!("binding {what}: home {} care-of {} for attached node {}, lifetime {} s, sequence {}", b.home, b.care_of, b.attached, b.lifetime.as_secs(), b.seq);
                }
                Action::BindingCreated(_) | Action::BindingRefreshed(_) => {}
                Action::BindingDeleted { key: (home, attached), reason } => {
                    self.agent.table.remove(&home, &attached);
                    self.agent.view.remove(&(home, attached));
                    let i = match reason {
                        DeleteReason::Deregistered => 0,
                        DeleteReason::Expired => 1,
                        DeleteReason::Detached => 2,
                    };
                    self.agent.counters.bindings_deleted[i].inc();
                    tracing::info!("binding deleted ({}): home {home} for attached node {attached}", format!("{reason:?}").to_lowercase());
                }
                Action::Dropped(why) => {
                    if let Some(i) = DropReason::ALL.iter().position(|d| *d == why) {
                        self.agent.counters.dropped[i].inc();
                    }
                }
                Action::Rejected { status, home, care_of } => {
                    if let Some(more) = self.agent.may_log_bu(now) {
                        tracing::warn!("binding update rejected with status {status}: home {home} care-of {care_of}{more}");
                    }
                }
                Action::Deregistered { home, attached, with } => {
                    if let Some(more) = self.agent.may_log_bu(now) {
                        tracing::info!("deregistration of home {home} at attached node {attached} (authenticated with the {} address){more}", format!("{with:?}").to_lowercase());
                    }
                }
            }
        }
        self.agent.counters.bindings.set(self.agent.table.len() as u64);
    }

    fn publish(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> bool {
        match self.agent.table.upsert(home, attached, care_of) {
            Ok(()) => true,
            Err(e) => {
                self.agent.counters.table_full.inc();
                tracing::error!("binding home {home} for {attached} not published to the dataplane: {e:?}");
                false
            }
        }
    }
}
