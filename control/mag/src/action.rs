//! What the MAG asks its caller to do, and the reasons it gives.

use core::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use wire::ethernet::MacAddr;
use wire::pmip::{status_name, ProxyBindingUpdate};

use crate::policy::Prefix;

/// Something for the control loop to do or to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this PBU from the Proxy-CoA to `lma` (emit it with `wire::pmip`).
    SendPbu {
        lma: Ipv6Addr,
        pbu: ProxyBindingUpdate,
        kind: PbuKind,
    },
    /// The LMA accepted the registration: install the routes and the tunnel to `lma` for
    /// `hnps` in the workers' attached-node table. Never before a status-0 PBA.
    Install {
        mac: MacAddr,
        mn_id: Arc<[u8]>,
        hnps: Vec<Prefix>,
        lma: Ipv6Addr,
        lifetime: Duration,
        agent: bool,
    },
    /// Remove the routes and tunnel for `hnps` (and purge the reflector's bindings there).
    Withdraw {
        mac: MacAddr,
        hnps: Vec<Prefix>,
    },
    /// Send a Router Advertisement unicast to `mac`, one Prefix Information option (L = 1,
    /// A = 1) per prefix with these lifetimes in seconds (within the binding's remaining
    /// lifetime).
    Advertise {
        mac: MacAddr,
        prefixes: Vec<Prefix>,
        valid: u32,
        preferred: u32,
    },
    /// Send a unicast Neighbor Solicitation to `mac` (NUD probe, RFC 4861 §7.3); answer
    /// with `Mag::on_neighbor_reachable`. `hnps` for choosing a target address.
    ProbeNeighbor {
        mac: MacAddr,
        hnps: Vec<Prefix>,
    },
    /// Events, for logs and counters.
    Registered {
        mac: MacAddr,
        hnps: Vec<Prefix>,
        lifetime: Duration,
    },
    Refreshed {
        mac: MacAddr,
        lifetime: Duration,
    },
    Deregistered {
        mac: MacAddr,
        reason: DetachReason,
    },
    Failed {
        mac: MacAddr,
        reason: FailReason,
    },
    /// An input dropped; the reason doubles as a counter name.
    Dropped(DropReason),
}

/// Why a PBU is sent; `roagent_pbu_sent_total{kind}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PbuKind {
    Initial,
    Retransmit,
    Refresh,
    Deregistration,
}

impl PbuKind {
    pub const ALL: [PbuKind; 4] = [PbuKind::Initial, PbuKind::Retransmit, PbuKind::Refresh, PbuKind::Deregistration];

    pub fn name(self) -> &'static str {
        match self {
            PbuKind::Initial => "initial",
            PbuKind::Retransmit => "retransmit",
            PbuKind::Refresh => "refresh",
            PbuKind::Deregistration => "deregistration",
        }
    }
}

/// Why a binding was given up by the MAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetachReason {
    /// Silent for the idle time, then no answer to any NUD probe.
    Unreachable,
    /// Its policy entry was removed by a reload.
    PolicyRemoved,
    /// Its policy changed MN-ID or LMA: the old binding goes first.
    PolicyChanged,
    /// `Mag::detach`.
    Operator,
}

impl DetachReason {
    pub fn name(self) -> &'static str {
        match self {
            DetachReason::Unreachable => "unreachable",
            DetachReason::PolicyRemoved => "policy_removed",
            DetachReason::PolicyChanged => "policy_changed",
            DetachReason::Operator => "operator",
        }
    }
}

/// Why a registration failed; `roagent_registration_failures_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// No PBA after every retransmission.
    NoResponse,
    /// The LMA answered with this status (≥ 128).
    Rejected(u8),
    /// The binding ran out while its refresh went unanswered.
    Expired,
}

impl FailReason {
    pub const NAMES: [&'static str; 3] = ["no_response", "rejected", "expired"];

    pub(crate) fn index(self) -> usize {
        match self {
            FailReason::NoResponse => 0,
            FailReason::Rejected(_) => 1,
            FailReason::Expired => 2,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

impl core::fmt::Display for FailReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FailReason::Rejected(s) => write!(f, "rejected: status {s} ({})", status_name(*s)),
            other => f.write_str(other.name()),
        }
    }
}

/// Why an input was dropped; `roagent_signaling_dropped_total{reason}` or a MAG drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A frame (or NUD answer) from a MAC with no policy: never registered.
    UnknownMac,
    /// The caller could not parse the PBA (`Mag::on_malformed_pba`): truncated, bad
    /// checksum, unknown or duplicated option...
    Malformed,
    /// A Binding Acknowledgement without the P flag is not a PBA (RFC 5213 §8.2).
    NotProxy,
    /// No MN Identifier option.
    MissingMnId,
    /// An MN-ID no policy has.
    UnknownMnId,
    /// Not from the LMA the MN is registered (or registering) with.
    NotFromLma,
    /// Nothing is outstanding for this MN.
    NoOutstandingPbu,
    /// The sequence number of an earlier PBU (a retransmission has replaced it).
    StaleSequence,
    /// A sequence number we never sent.
    SequenceMismatch,
    /// The Timestamp option is missing or is not the outstanding PBU's (RFC 5213 §5.5).
    TimestampMismatch,
    /// A status below 128 other than 0: PMIPv6 defines none, so nothing is installed.
    UnknownStatus,
    /// Status 0 with lifetime 0.
    ZeroLifetime,
    /// Status 0 without a Home Network Prefix option.
    MissingPrefix,
    /// A prefix that is link-local, multicast, unspecified, loopback or has host bits set.
    BadPrefix,
    /// A prefix whose length is not 64 (or not the policy's static prefix length).
    BadPrefixLength,
    /// The same prefix twice.
    DuplicatePrefix,
    /// Not the prefix(es) asked for (the static prefix, or the assigned ones on refresh).
    PrefixMismatch,
}

impl DropReason {
    pub const ALL: [DropReason; 17] = [
        DropReason::UnknownMac,
        DropReason::Malformed,
        DropReason::NotProxy,
        DropReason::MissingMnId,
        DropReason::UnknownMnId,
        DropReason::NotFromLma,
        DropReason::NoOutstandingPbu,
        DropReason::StaleSequence,
        DropReason::SequenceMismatch,
        DropReason::TimestampMismatch,
        DropReason::UnknownStatus,
        DropReason::ZeroLifetime,
        DropReason::MissingPrefix,
        DropReason::BadPrefix,
        DropReason::BadPrefixLength,
        DropReason::DuplicatePrefix,
        DropReason::PrefixMismatch,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name for counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnknownMac => "unknown_mac",
            DropReason::Malformed => "malformed",
            DropReason::NotProxy => "not_proxy",
            DropReason::MissingMnId => "missing_mn_id",
            DropReason::UnknownMnId => "unknown_mn_id",
            DropReason::NotFromLma => "not_from_lma",
            DropReason::NoOutstandingPbu => "no_outstanding_pbu",
            DropReason::StaleSequence => "stale_sequence",
            DropReason::SequenceMismatch => "sequence_mismatch",
            DropReason::TimestampMismatch => "timestamp_mismatch",
            DropReason::UnknownStatus => "unknown_status",
            DropReason::ZeroLifetime => "zero_lifetime",
            DropReason::MissingPrefix => "missing_prefix",
            DropReason::BadPrefix => "bad_prefix",
            DropReason::BadPrefixLength => "bad_prefix_length",
            DropReason::DuplicatePrefix => "duplicate_prefix",
            DropReason::PrefixMismatch => "prefix_mismatch",
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
