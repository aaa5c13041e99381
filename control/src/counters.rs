//! What the control core counts. It is the only writer of these blocks (relaxed load + store,
//! see `dataplane::counters::Counter`); the metrics thread reads them. A leaf module: it
//! depends on no other module of this crate.

use dataplane::counters::Counter;
use reflector::{DeleteReason, DropReason};

/// The MAG's own traffic on its links: ND, neighbor resolution, ICMPv6 errors, echo replies,
/// and what the DPDK side could not send.
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
    /// Errors RFC 4443 §2.4(e) forbids (about an error, to multicast, ...).
    pub icmp_not_allowed: Counter,
    pub held: Counter,
    pub held_sent: Counter,
    /// Held packets dropped, by [`HeldDrop`].
    pub held_dropped: [Counter; HeldDrop::ALL.len()],
    /// Neighbor Advertisements for the MAG's addresses not sent (their rate limit).
    pub na_rate_limited: Counter,
    /// Unicast solicitations to a known neighbor (RFC 4861 §7.3.3 PROBE).
    pub probes_sent: Counter,
    /// Neighbors forgotten: no answer to their probes (unreachable) or to their resolution.
    pub forgotten_unreachable: Counter,
    pub forgotten_unresolved: Counter,
    /// ND messages whose link-layer address was not taken, by [`NdRefused`].
    pub nd_refused: [Counter; NdRefused::ALL.len()],
    /// Neighbor entries by state (gauges, `neighbors::State::ALL` order).
    pub neighbor_states: [Counter; 6],
    pub inject_full: Counter,
    pub no_mbuf: Counter,
    pub unhandled: Counter,
}

/// Why a held packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldDrop {
    /// A neighbor's queue was full: its oldest packet made room.
    PerNeighbor,
    /// All queues together were full: the oldest packet of the least recently confirmed
    /// unresolved neighbor made room.
    Global,
    /// The neighbor did not answer its solicitations.
    Unresolved,
    /// A new resolution was needed with the most already under way.
    ResolutionsFull,
}

impl HeldDrop {
    pub const ALL: [HeldDrop; 4] = [HeldDrop::PerNeighbor, HeldDrop::Global, HeldDrop::Unresolved, HeldDrop::ResolutionsFull];

    pub fn label(self) -> &'static str {
        match self {
            HeldDrop::PerNeighbor => "per_neighbor_cap",
            HeldDrop::Global => "global_cap",
            HeldDrop::Unresolved => "unresolved",
            HeldDrop::ResolutionsFull => "resolutions_full",
        }
    }
}

/// Why an ND message's link-layer address was not taken (RFC 4861 §7.2.5, §7.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdRefused {
    /// An advertisement without Override for a known neighbor at another MAC.
    NoOverride,
    /// The neighbor's MAC is configured.
    Permanent,
    /// An advertisement for a neighbor with no entry (unsolicited).
    NoEntry,
    /// An advertisement answering a resolution without a Target Link-Layer Address option.
    NoTargetAddress,
}

impl NdRefused {
    pub const ALL: [NdRefused; 4] = [NdRefused::NoOverride, NdRefused::Permanent, NdRefused::NoEntry, NdRefused::NoTargetAddress];

    pub fn label(self) -> &'static str {
        match self {
            NdRefused::NoOverride => "no_override",
            NdRefused::Permanent => "permanent",
            NdRefused::NoEntry => "no_entry",
            NdRefused::NoTargetAddress => "no_target_address",
        }
    }
}

impl ControlCounters {
    pub fn held_dropped(&self, why: HeldDrop) -> &Counter {
        &self.held_dropped[why as usize]
    }

    pub fn nd_refused(&self, why: NdRefused) -> &Counter {
        &self.nd_refused[why as usize]
    }
}

/// Mobility Header types 0..=7 (RFC 6275 §6.1), then one slot for any other.
pub const MH_TYPES: [&str; 9] =
    ["binding_refresh_request", "home_test_init", "care_of_test_init", "home_test", "care_of_test", "binding_update", "binding_ack", "binding_error", "other"];

/// The slot of MH type `t` in the per-type counters ([`MH_TYPES`]).
pub fn mh_slot(t: u8) -> usize {
    usize::from(t).min(MH_TYPES.len() - 1)
}

/// The reasons a binding is deleted, as metric labels.
pub const DELETE_REASONS: [(DeleteReason, &str); 3] =
    [(DeleteReason::Deregistered, "deregistered"), (DeleteReason::Expired, "expired"), (DeleteReason::Detached, "detached")];

/// What the Route Optimization Agent counts.
pub struct AgentCounters {
    /// By MH type slot ([`mh_slot`]).
    pub received: [Counter; MH_TYPES.len()],
    pub sent: [Counter; MH_TYPES.len()],
    /// Binding Acknowledgements by status byte (RFC 6275 §6.1.8).
    pub ba_status: Box<[Counter; 256]>,
    /// Binding Error status 1 (unknown binding for Home Address option) and 2 (unrecognized
    /// MH type), RFC 6275 §6.1.9.
    pub be_unknown_binding: Counter,
    pub be_unrecognized_type: Counter,
    pub parameter_problems: Counter,
    /// By `DropReason as usize` (the order of `DropReason::ALL`).
    pub dropped: [Counter; DropReason::ALL.len()],
    pub bindings_created: Counter,
    pub bindings_refreshed: Counter,
    pub deleted_deregistered: Counter,
    pub deleted_expired: Counter,
    pub deleted_detached: Counter,
    /// Bindings in the reflector's cache (a gauge).
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
            be_unknown_binding: Counter::default(),
            be_unrecognized_type: Counter::default(),
            parameter_problems: Counter::default(),
            dropped: Default::default(),
            bindings_created: Counter::default(),
            bindings_refreshed: Counter::default(),
            deleted_deregistered: Counter::default(),
            deleted_expired: Counter::default(),
            deleted_detached: Counter::default(),
            bindings: Counter::default(),
            table_full: Counter::default(),
            hao_unverified: Counter::default(),
            nonce_rotations: Counter::default(),
        }
    }
}

impl AgentCounters {
    pub fn deleted(&self, why: DeleteReason) -> &Counter {
        match why {
            DeleteReason::Deregistered => &self.deleted_deregistered,
            DeleteReason::Expired => &self.deleted_expired,
            DeleteReason::Detached => &self.deleted_detached,
        }
    }

    pub fn dropped(&self, why: DropReason) -> &Counter {
        &self.dropped[why as usize]
    }

    /// The Binding Error counter of status `status`, if it is one a correspondent sends.
    pub fn binding_error(&self, status: u8) -> Option<&Counter> {
        match status {
            1 => Some(&self.be_unknown_binding),
            2 => Some(&self.be_unrecognized_type),
            _ => None,
        }
    }
}

/// One `FailReason` per `FailReason::NAMES` entry, in that order (`Rejected` counts every
/// status).
const FAIL_REASONS: [mag::FailReason; 3] = [mag::FailReason::NoResponse, mag::FailReason::Rejected(0), mag::FailReason::Expired];

/// What the MAG's PMIPv6 signaling counts: copies of the state machine's statistics (set on
/// every tick) and what the control core counts around it.
pub struct PmipCounters {
    /// By `mag::PbuKind as usize`.
    pub pbu_sent: [Counter; mag::PbuKind::ALL.len()],
    /// By status byte: every PBA handed to the state machine.
    pub pba_received: Box<[Counter; 256]>,
    /// By `mag::FailReason::NAMES`.
    pub failures: [Counter; mag::FailReason::NAMES.len()],
    /// By `mag::DropReason::ALL` order.
    pub dropped: [Counter; mag::DropReason::ALL.len()],
    /// Gauge, by `mag::MnState as usize`.
    pub mobile_nodes: [Counter; mag::MnState::ALL.len()],
    pub registrations: Counter,
    pub refreshes: Counter,
    pub deregistrations: Counter,
    pub ra_sent: Counter,
    pub probes_sent: Counter,
    /// PBUs not sent (no buffer, or the LMA is not configured).
    pub pbu_not_sent: Counter,
    /// Routes the workers' table refused (full, or not a /64).
    pub route_refused: Counter,
    /// Home network prefixes a PBA granted beyond the one per node the workers route; they
    /// are kept in the registration (refreshes ask for them) but never advertised.
    pub prefixes_unused: Counter,
    /// Mobility Headers to the Proxy-CoA with a bad checksum, or that are not PBAs.
    pub bad_checksum: Counter,
    pub not_pba: Counter,
    /// ND from a MAC without a policy.
    pub unknown_mac: Counter,
}

impl Default for PmipCounters {
    fn default() -> Self {
        PmipCounters {
            pbu_sent: Default::default(),
            pba_received: Box::new(std::array::from_fn(|_| Counter::default())),
            failures: Default::default(),
            dropped: std::array::from_fn(|_| Counter::default()),
            mobile_nodes: Default::default(),
            registrations: Counter::default(),
            refreshes: Counter::default(),
            deregistrations: Counter::default(),
            ra_sent: Counter::default(),
            probes_sent: Counter::default(),
            pbu_not_sent: Counter::default(),
            route_refused: Counter::default(),
            prefixes_unused: Counter::default(),
            bad_checksum: Counter::default(),
            not_pba: Counter::default(),
            unknown_mac: Counter::default(),
        }
    }
}

impl PmipCounters {
    /// Copies the state machine's statistics (the control core is the only writer).
    pub fn sync(&self, s: &mag::Stats) {
        for k in mag::PbuKind::ALL {
            self.pbu_sent[k as usize].set(s.pbu_sent(k));
        }
        for (st, c) in self.pba_received.iter().enumerate() {
            c.set(s.pba_received(st as u8));
        }
        for (c, r) in self.failures.iter().zip(FAIL_REASONS) {
            c.set(s.failures(r));
        }
        for (i, d) in mag::DropReason::ALL.iter().enumerate() {
            self.dropped[i].set(s.dropped(*d));
        }
        for st in mag::MnState::ALL {
            self.mobile_nodes[st as usize].set(s.mobile_nodes(st));
        }
        self.registrations.set(s.registrations);
        self.refreshes.set(s.refreshes);
        self.deregistrations.set(s.deregistrations);
    }
}

/// Why the HTTP endpoint closed a connection or refused a request (`roagent_http_refused_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRefusal {
    /// Every connection slot was taken: the oldest connection was closed to make room.
    ConnectionCap,
    /// The request head passed the size bound or the header count bound (answered 431).
    HeadTooLarge,
    /// The request head was not complete by its deadline (bytes were sent, or none ever).
    HeadTimeout,
    /// The connection reached its lifetime bound (a client reading its answer too slowly).
    Lifetime,
    /// Not HTTP/1 (answered 400).
    BadRequest,
    /// Not GET (answered 405).
    Method,
}

impl HttpRefusal {
    pub const ALL: [HttpRefusal; 6] =
        [HttpRefusal::ConnectionCap, HttpRefusal::HeadTooLarge, HttpRefusal::HeadTimeout, HttpRefusal::Lifetime, HttpRefusal::BadRequest, HttpRefusal::Method];

    pub fn name(self) -> &'static str {
        match self {
            HttpRefusal::ConnectionCap => "connection_cap",
            HttpRefusal::HeadTooLarge => "head_too_large",
            HttpRefusal::HeadTimeout => "head_timeout",
            HttpRefusal::Lifetime => "lifetime",
            HttpRefusal::BadRequest => "bad_request",
            HttpRefusal::Method => "method",
        }
    }
}

/// The paths the HTTP endpoint answers, then one slot for any other (answered 404).
pub const HTTP_PATHS: [&str; 4] = ["/metrics", "/bindings", "/mobiles", "other"];

/// What the HTTP endpoint counts. Its thread is the only writer.
#[derive(Default)]
pub struct HttpCounters {
    pub connections_accepted: Counter,
    /// Connections open now (a gauge).
    pub connections_open: Counter,
    /// Keep-alive connections closed when no new request came by the idle deadline.
    pub idle_closed: Counter,
    /// GET requests answered, by [`HTTP_PATHS`] slot.
    pub requests: [Counter; HTTP_PATHS.len()],
    /// By `HttpRefusal as usize`.
    pub refused: [Counter; HttpRefusal::ALL.len()],
}

impl HttpCounters {
    pub fn refused(&self, why: HttpRefusal) -> &Counter {
        &self.refused[why as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reasons_index_in_declaration_order() {
        for (i, d) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i, "{d}");
        }
    }

    #[test]
    fn every_delete_reason_has_its_own_counter() {
        let c = AgentCounters::default();
        for (r, _) in DELETE_REASONS {
            c.deleted(r).inc();
        }
        assert_eq!([c.deleted_deregistered.get(), c.deleted_expired.get(), c.deleted_detached.get()], [1, 1, 1]);
    }

    #[test]
    fn failure_counters_follow_the_state_machines_names() {
        assert_eq!(FAIL_REASONS.map(|r| r.name()), mag::FailReason::NAMES);
    }

    #[test]
    fn http_refusals_index_in_declaration_order() {
        for (i, r) in HttpRefusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    #[test]
    fn unknown_mh_types_share_the_last_slot() {
        assert_eq!(mh_slot(5), 5);
        assert_eq!(mh_slot(8), 8);
        assert_eq!(mh_slot(200), 8);
    }
}
