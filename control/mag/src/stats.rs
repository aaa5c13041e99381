//! Counters and gauges the caller exports (it may also count `Action`s itself).

use crate::action::{DropReason, FailReason, PbuKind};
use crate::mag::MnState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pbu_sent: [u64; PbuKind::ALL.len()],
    pba_received: [u64; 256],
    failures: [u64; FailReason::NAMES.len()],
    dropped: [u64; DropReason::ALL.len()],
    mobile_nodes: [u64; MnState::ALL.len()],
    /// Registrations accepted, refreshes accepted, detaches (deregistrations started).
    pub registrations: u64,
    pub refreshes: u64,
    pub deregistrations: u64,
    /// Deregistrations never answered (forgotten after their last retransmission).
    pub deregistrations_unanswered: u64,
    pub probes: u64,
    pub advertisements: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            pbu_sent: [0; PbuKind::ALL.len()],
            pba_received: [0; 256],
            failures: [0; FailReason::NAMES.len()],
            dropped: [0; DropReason::ALL.len()],
            mobile_nodes: [0; MnState::ALL.len()],
            registrations: 0,
            refreshes: 0,
            deregistrations: 0,
            deregistrations_unanswered: 0,
            probes: 0,
            advertisements: 0,
        }
    }
}

impl Stats {
    /// `roagent_pbu_sent_total{kind}`.
    pub fn pbu_sent(&self, kind: PbuKind) -> u64 {
        self.pbu_sent[kind as usize]
    }
    /// `roagent_pba_received_total{status}`: every PBA handed to `on_pba`, valid or not.
    pub fn pba_received(&self, status: u8) -> u64 {
        self.pba_received[usize::from(status)]
    }
    /// `roagent_registration_failures_total{reason}`, by `FailReason::NAMES`.
    pub fn failures(&self, reason: FailReason) -> u64 {
        self.failures[reason.index()]
    }
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }
    /// `roagent_mobile_nodes{state}` (gauge).
    pub fn mobile_nodes(&self, state: MnState) -> u64 {
        self.mobile_nodes[state as usize]
    }

    pub(crate) fn count_pbu(&mut self, kind: PbuKind) {
        self.pbu_sent[kind as usize] += 1;
    }
    pub(crate) fn count_pba(&mut self, status: u8) {
        self.pba_received[usize::from(status)] += 1;
    }
    pub(crate) fn count_failure(&mut self, reason: FailReason) {
        self.failures[reason.index()] += 1;
    }
    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }
    pub(crate) fn enter(&mut self, state: MnState) {
        self.mobile_nodes[state as usize] += 1;
    }
    pub(crate) fn leave(&mut self, state: MnState) {
        self.mobile_nodes[state as usize] -= 1;
    }
}
