//! The MAG: attach, PBU/PBA, the Binding Update List, retransmission, refresh, NUD-driven
//! detach and deregistration (RFC 5213 §6.9), for every MN of the policy store.
//!
//! Memory per MN ([`Mag::approx_memory`], printed by the 100,000-MN test): one
//! `(MacAddr, Mn)` slot of the node map (328 bytes + 1 control byte, in a table of
//! 131,072 buckets for 100,000 MNs: 431 bytes per MN), one slot of the MN-ID index (25
//! bytes, 33 per MN), the MN-ID once (`Arc<[u8]>`, shared by the policy, the Binding Update
//! List entry, the index and every `Install`: 48 bytes for a 17-byte NAI), one HNP on the
//! heap (32) and the timer heap (42, live and stale entries of 32 bytes): about 586 bytes
//! per registered MN at 100,000 MNs, 59 MB in all.

use core::net::Ipv6Addr;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wire::ethernet::MacAddr;
use wire::pmip::{access_technology, handoff, status, timestamp_from_unix, PmipOptions, ProxyBindingAck, ProxyBindingUpdate};

use crate::action::{Action, DetachReason, DropReason, FailReason, PbuKind};
use crate::config::Config;
use crate::policy::{is_unroutable, masked, Policy, PolicyError, Prefix};
use crate::stats::Stats;
use crate::timers::Timers;

/// Where an MN stands; `roagent_mobile_nodes{state}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MnState {
    /// In the policy, no binding, nothing outstanding: its next frame registers it.
    Idle,
    /// Its initial PBU is outstanding. Its traffic is not forwarded.
    Registering,
    /// A PBA accepted it: routes installed (also while a refresh is outstanding or NUD
    /// probes are running).
    Registered,
    /// Its deregistration PBU is outstanding; routes already withdrawn.
    Deregistering,
    /// The LMA rejected it (status ≥ 128): offline until `rejected_holdoff` has passed.
    Rejected,
    /// No PBA came (or the binding expired unrefreshed): offline until
    /// `no_response_holdoff` has passed.
    Unanswered,
}

impl MnState {
    pub const ALL: [MnState; 6] = [MnState::Idle, MnState::Registering, MnState::Registered, MnState::Deregistering, MnState::Rejected, MnState::Unanswered];

    pub fn name(self) -> &'static str {
        match self {
            MnState::Idle => "idle",
            MnState::Registering => "registering",
            MnState::Registered => "registered",
            MnState::Deregistering => "deregistering",
            MnState::Rejected => "rejected",
            MnState::Unanswered => "no_response",
        }
    }
}

/// What the outstanding PBU is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Register,
    Refresh,
    Deregister,
}

/// The outstanding PBU of an MN (its sequence number and timestamp are the MN's last ones).
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    purpose: Purpose,
    /// When the latest transmission left: a granted lifetime counts from there.
    sent_at: Duration,
    /// When to retransmit (or give up).
    retry_at: Duration,
    timeout: Duration,
    transmissions: u32,
}

/// Policy plus Binding Update List entry plus timers, for one MN.
#[derive(Debug)]
struct Mn {
    /// `None` once a reload removed it: the entry lives until its deregistration ends.
    policy: Option<Policy>,
    state: MnState,
    /// The identity the binding was made with (the policy's at attach time).
    mn_id: Arc<[u8]>,
    lma: Ipv6Addr,
    /// HNPs accepted by the LMA; empty unless registered.
    hnps: Vec<Prefix>,
    granted: Duration,
    expires: Duration,
    refresh_at: Duration,
    /// The last PBU's sequence number and timestamp.
    seq: u16,
    timestamp: u64,
    outstanding: Option<Outstanding>,
    last_seen: Duration,
    probes_sent: u8,
    next_probe: Duration,
    next_ra: Duration,
    /// Rejected/Unanswered: no new registration before this.
    holdoff_until: Duration,
    /// The live timer entry: its generation and deadline (`Duration::MAX` when none).
    timer_gen: u32,
    timer_at: Duration,
}

/// A read-only view of an MN, for `/mobiles` and `roagent mobiles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MobileView<'a> {
    pub mac: MacAddr,
    pub mn_id: &'a [u8],
    pub lma: Ipv6Addr,
    pub state: MnState,
    pub hnps: &'a [Prefix],
    /// Time left on the binding (registered MNs only).
    pub lifetime_left: Option<Duration>,
    pub agent: bool,
}

/// Estimated bytes held for the MNs (see [`Mag::approx_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUse {
    pub node_table: usize,
    pub index_table: usize,
    pub mn_ids: usize,
    pub hnps: usize,
    pub timers: usize,
}

impl MemoryUse {
    pub fn total(&self) -> usize {
        self.node_table + self.index_table + self.mn_ids + self.hnps + self.timers
    }
}

impl core::fmt::Display for MemoryUse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "node table {} B, MN-ID index {} B, MN-IDs {} B, HNPs {} B, timers {} B; slot {} B",
            self.node_table,
            self.index_table,
            self.mn_ids,
            self.hnps,
            self.timers,
            std::mem::size_of::<(MacAddr, Mn)>(),
        )
    }
}

/// RFC 6275 §9.5.1's comparison: `a` is newer than `b` (modulo 2^16).
fn seq_is_newer(a: u16, b: u16) -> bool {
    (1..=32767).contains(&a.wrapping_sub(b))
}

/// The MAG's PMIPv6 signaling for every MN of its policy store.
pub struct Mag {
    cfg: Config,
    /// Unix time at `now` = 0, for the Timestamp option (RFC 5213 §5.5).
    wall_base: Duration,
    nodes: HashMap<MacAddr, Mn>,
    /// MN-ID → MAC, for matching PBAs: the policy's MN-ID, and until its deregistration
    /// ends, the one a binding was made with.
    by_mn_id: HashMap<Arc<[u8]>, MacAddr>,
    timers: Timers,
    stats: Stats,
    /// First sequence number of every MN, from the wall clock so a restarted MAG does not
    /// start where it started last time.
    first_seq: u16,
    now: Duration,
}

impl Mag {
    /// `wall_base`: the Unix time (since 1970-01-01 UTC) at which the caller's monotonic
    /// `now` was zero. Timestamps are `wall_base + now`, so tests stay deterministic.
    pub fn new(cfg: Config, wall_base: Duration) -> Mag {
        Mag {
            cfg: cfg.sanitized(),
            wall_base,
            nodes: HashMap::new(),
            by_mn_id: HashMap::new(),
            timers: Timers::default(),
            stats: Stats::default(),
            first_seq: wall_base.as_secs() as u16,
            now: Duration::ZERO,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Policies plus entries kept only until their deregistration ends.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Reserve room for `n` more MNs (a big policy load without rehashing as it goes).
    pub fn reserve(&mut self, n: usize) {
        self.nodes.reserve(n);
        self.by_mn_id.reserve(n);
    }

    pub fn state(&self, mac: &MacAddr) -> Option<MnState> {
        self.nodes.get(mac).map(|mn| mn.state)
    }

    /// The MAC of the MN whose policy holds MN Identifier `id`: the MN a PBA carrying it
    /// is matched to (RFC 5213 §6.9.1.2).
    pub fn mac_of_mn_id(&self, id: &[u8]) -> Option<MacAddr> {
        self.by_mn_id.get(id).copied()
    }

    pub fn policy(&self, mac: &MacAddr) -> Option<&Policy> {
        self.nodes.get(mac).and_then(|mn| mn.policy.as_ref())
    }

    pub fn mobile(&self, mac: &MacAddr) -> Option<MobileView<'_>> {
        self.nodes.get(mac).map(|mn| self.view(mac, mn))
    }

    /// Every MN, in no particular order.
    pub fn mobiles(&self) -> impl Iterator<Item = MobileView<'_>> {
        self.nodes.iter().map(|(mac, mn)| self.view(mac, mn))
    }

    fn view<'a>(&self, mac: &MacAddr, mn: &'a Mn) -> MobileView<'a> {
        MobileView {
            mac: *mac,
            mn_id: &mn.mn_id,
            lma: mn.lma,
            state: mn.state,
            hnps: &mn.hnps,
            lifetime_left: (mn.state == MnState::Registered).then(|| mn.expires.saturating_sub(self.now)),
            agent: mn.policy.as_ref().is_some_and(|p| p.agent),
        }
    }

    /// When to call `on_tick` next at the latest (`None`: nothing pending).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.next()
    }

    /// Live and stale timer entries (for tests and a gauge).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// What the MN tables take, estimated from `size_of`, the tables' capacities and
    /// glibc-like allocation sizes.
    pub fn approx_memory(&self) -> MemoryUse {
        fn table<K, V>(map: &HashMap<K, V>) -> usize {
            // hashbrown: buckets = capacity × 8/7 rounded up to a power of two, each with
            // one control byte.
            let buckets = (map.capacity() * 8 / 7).next_power_of_two();
            buckets * (std::mem::size_of::<(K, V)>() + 1)
        }
        fn alloc(bytes: usize) -> usize {
            if bytes == 0 {
                0
            } else {
                (bytes + 8).div_ceil(16).max(2) * 16
            }
        }
        let mut mn_ids = 0;
        let mut hnps = 0;
        for mn in self.nodes.values() {
            // Arc<[u8]>: strong and weak counts, then the bytes.
            mn_ids += alloc(16 + mn.mn_id.len());
            hnps += alloc(mn.hnps.capacity() * std::mem::size_of::<Prefix>());
        }
        MemoryUse { node_table: table(&self.nodes), index_table: table(&self.by_mn_id), mn_ids, hnps, timers: self.timers.capacity_bytes() }
    }

    fn advance(&mut self, now: Duration) -> Duration {
        self.now = self.now.max(now);
        self.now
    }

    // ---- Policy store ----------------------------------------------------------------

    /// Adds or replaces the policy of `policy.mac`. A change of MN-ID or LMA under a live
    /// binding deregisters the old binding first; the next frame registers the new identity.
    pub fn set_policy(&mut self, now: Duration, policy: Policy, out: &mut Vec<Action>) -> Result<(), PolicyError> {
        let now = self.advance(now);
        policy.validate()?;
        let mac = policy.mac;
        if let Some(owner) = self.by_mn_id.get(&policy.mn_id) {
            if *owner != mac {
                return Err(PolicyError::DuplicateMnId);
            }
        }
        let Some(mn) = self.nodes.get_mut(&mac) else {
            self.by_mn_id.insert(policy.mn_id.clone(), mac);
            self.stats.enter(MnState::Idle);
            self.nodes.insert(
                mac,
                Mn {
                    mn_id: policy.mn_id.clone(),
                    lma: policy.lma,
                    policy: Some(policy),
                    state: MnState::Idle,
                    hnps: Vec::new(),
                    granted: Duration::ZERO,
                    expires: Duration::ZERO,
                    refresh_at: Duration::ZERO,
                    seq: self.first_seq,
                    timestamp: 0,
                    outstanding: None,
                    last_seen: now,
                    probes_sent: 0,
                    next_probe: Duration::ZERO,
                    next_ra: Duration::ZERO,
                    holdoff_until: Duration::ZERO,
                    timer_gen: 0,
                    timer_at: Duration::MAX,
                },
            );
            return Ok(());
        };
        let identity_changed = *mn.mn_id != *policy.mn_id || mn.lma != policy.lma;
        if let Some(old) = mn.policy.replace(policy.clone()) {
            if *old.mn_id != *policy.mn_id && *old.mn_id != *mn.mn_id {
                self.by_mn_id.remove(&old.mn_id);
            }
        }
        self.by_mn_id.insert(policy.mn_id.clone(), mac);
        if identity_changed {
            self.detach_mac(now, mac, DetachReason::PolicyChanged, out);
        }
        self.settle(mac);
        Ok(())
    }

    /// Removes the policy of `mac`, deregistering its binding if it has one. Returns
    /// whether it had a policy.
    pub fn remove_policy(&mut self, now: Duration, mac: &MacAddr, out: &mut Vec<Action>) -> bool {
        let now = self.advance(now);
        let Some(mn) = self.nodes.get_mut(mac) else { return false };
        let Some(old) = mn.policy.take() else { return false };
        if *old.mn_id != *mn.mn_id {
            self.by_mn_id.remove(&old.mn_id);
        }
        self.detach_mac(now, *mac, DetachReason::PolicyRemoved, out);
        self.settle(*mac);
        true
    }

    // ---- Access link -----------------------------------------------------------------

    /// Any frame from `mac` on the access link (RFC 5213 §6.9.1.1): registers a policy MN
    /// that is not registered, refreshes the activity time of one that is (which also ends
    /// NUD probing: the frame shows it is on the link). Unknown MACs are dropped.
    pub fn on_frame_from(&mut self, now: Duration, mac: &MacAddr, out: &mut Vec<Action>) {
        let now = self.advance(now);
        let Some(mn) = self.nodes.get_mut(mac) else {
            return self.drop_input(DropReason::UnknownMac, out);
        };
        if mn.policy.is_none() {
            return self.drop_input(DropReason::UnknownMac, out);
        }
        mn.last_seen = now;
        match mn.state {
            MnState::Idle => self.attach(now, *mac, out),
            MnState::Rejected | MnState::Unanswered if now >= mn.holdoff_until => self.attach(now, *mac, out),
            MnState::Registered => mn.probes_sent = 0,
            _ => {}
        }
        self.settle(*mac);
    }

    /// A Router Solicitation from `mac`: a frame like any other, then an RA if registered.
    pub fn on_router_solicitation(&mut self, now: Duration, mac: &MacAddr, out: &mut Vec<Action>) {
        self.on_frame_from(now, mac, out);
        let now = self.now;
        if let Some(mn) = self.nodes.get(mac) {
            if mn.state == MnState::Registered {
                advertise(&mut self.stats, now, mac, mn, out);
            }
        }
    }

    /// The NUD probe was answered (a solicited Neighbor Advertisement from `mac`).
    pub fn on_neighbor_reachable(&mut self, now: Duration, mac: &MacAddr, out: &mut Vec<Action>) {
        let now = self.advance(now);
        let Some(mn) = self.nodes.get_mut(mac) else {
            return self.drop_input(DropReason::UnknownMac, out);
        };
        mn.last_seen = now;
        mn.probes_sent = 0;
        self.settle(*mac);
    }

    /// Detach `mac` now (operator): Withdraw, then a deregistration PBU. Returns whether it
    /// had a binding or a registration under way.
    pub fn detach(&mut self, now: Duration, mac: &MacAddr, out: &mut Vec<Action>) -> bool {
        let now = self.advance(now);
        let done = self.detach_mac(now, *mac, DetachReason::Operator, out);
        self.settle(*mac);
        done
    }

    // ---- LMA -------------------------------------------------------------------------

    /// The caller received a Binding Acknowledgement it could not parse (truncated, bad
    /// checksum, unknown or duplicated option): counted like the drops made here.
    pub fn on_malformed_pba(&mut self, now: Duration, out: &mut Vec<Action>) {
        self.advance(now);
        self.drop_input(DropReason::Malformed, out);
    }

    /// A Proxy Binding Acknowledgement from `from` (RFC 5213 §6.9.1.2).
    pub fn on_pba(&mut self, now: Duration, from: Ipv6Addr, pba: &ProxyBindingAck, out: &mut Vec<Action>) {
        let now = self.advance(now);
        self.stats.count_pba(pba.status);
        match self.match_pba(from, pba) {
            Ok(mac) => {
                self.handle_pba(now, mac, pba, out);
                self.settle(mac);
            }
            Err(reason) => self.drop_input(reason, out),
        }
    }

    /// Finds the MN with an outstanding PBU this PBA answers: from its LMA, its MN-ID, the
    /// outstanding sequence number (RFC 6275 §11.7.3, but for 135 which carries the LMA's
    /// last accepted one) and timestamp (RFC 5213 §5.5, but for 156/157 which may carry the
    /// LMA's own clock).
    fn match_pba(&self, from: Ipv6Addr, pba: &ProxyBindingAck) -> Result<MacAddr, DropReason> {
        if !pba.proxy_reg {
            return Err(DropReason::NotProxy);
        }
        let id = pba.options.mn_id.as_deref().ok_or(DropReason::MissingMnId)?;
        let mac = *self.by_mn_id.get(id).ok_or(DropReason::UnknownMnId)?;
        let mn = self.nodes.get(&mac).ok_or(DropReason::UnknownMnId)?;
        if from != mn.lma {
            return Err(DropReason::NotFromLma);
        }
        if *mn.mn_id != *id || mn.outstanding.is_none() {
            return Err(DropReason::NoOutstandingPbu);
        }
        let own_clock = matches!(pba.status, status::TIMESTAMP_MISMATCH | status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
        if pba.status == status::SEQUENCE_NUMBER_OUT_OF_WINDOW {
            // The sequence is the LMA's; the timestamp, when there is one, must be ours.
            if pba.options.timestamp.is_some_and(|t| t != mn.timestamp) {
                return Err(DropReason::TimestampMismatch);
            }
            return Ok(mac);
        }
        if pba.seq != mn.seq {
            return Err(if seq_is_newer(mn.seq, pba.seq) { DropReason::StaleSequence } else { DropReason::SequenceMismatch });
        }
        if !own_clock && pba.options.timestamp != Some(mn.timestamp) {
            return Err(DropReason::TimestampMismatch);
        }
        Ok(mac)
    }

    fn handle_pba(&mut self, now: Duration, mac: MacAddr, pba: &ProxyBindingAck, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        let Some(o) = mn.outstanding else { return };
        if o.purpose == Purpose::Deregister {
            // Whatever the status, the binding is gone from our side; a 135 is retried
            // with the LMA's sequence number like any other PBU.
            if pba.status == status::SEQUENCE_NUMBER_OUT_OF_WINDOW && mn.seq != pba.seq {
                mn.seq = pba.seq;
                return self.retry(now, mac, out);
            }
            return self.finish_deregistration(mac);
        }
        match pba.status {
            status::ACCEPTED => self.accept(now, mac, pba, out),
            // RFC 6275 §11.7.3: adopt the LMA's sequence number and send again.
            status::SEQUENCE_NUMBER_OUT_OF_WINDOW if mn.seq != pba.seq => {
                mn.seq = pba.seq;
                self.retry(now, mac, out)
            }
            s if s >= 128 => self.reject(now, mac, s, out),
            // RFC 6275 §6.1.8 calls every status below 128 an acceptance, but PMIPv6 defines
            // only 0; one we do not know may carry conditions (like MIPv6's 1, "prefix
            // discovery necessary") we cannot meet, so nothing is installed on it and the
            // PBU keeps being retransmitted.
            _ => self.drop_input(DropReason::UnknownStatus, out),
        }
    }

    /// Status 0 for a registration or a refresh: check what the LMA granted, then install
    /// (registration) or extend (refresh). An absurd PBA is dropped and changes nothing.
    fn accept(&mut self, now: Duration, mac: MacAddr, pba: &ProxyBindingAck, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        let Some(o) = mn.outstanding else { return };
        if let Err(reason) = check_grant(mn, o.purpose, pba) {
            return self.drop_input(reason, out);
        }
        // Never longer than asked (a longer grant would only delay the refresh).
        let granted = Duration::from_secs(4 * u64::from(pba.lifetime_units)).min(Duration::from_secs(4 * u64::from(self.cfg.lifetime_units())));
        // RFC 6275 §11.7.3: the lifetime runs from when the (last) PBU was sent.
        mn.outstanding = None;
        mn.granted = granted;
        mn.expires = o.sent_at + granted;
        mn.refresh_at = mn.expires.saturating_sub(self.cfg.refresh_lead(granted));
        mn.next_ra = now + self.cfg.ra_interval;
        match o.purpose {
            Purpose::Register => {
                mn.hnps = pba.options.home_network_prefixes.clone();
                mn.probes_sent = 0;
                set_state(&mut self.stats, mn, MnState::Registered);
                self.stats.registrations += 1;
                let agent = mn.policy.as_ref().is_some_and(|p| p.agent);
                out.push(Action::Install { mac, mn_id: mn.mn_id.clone(), hnps: mn.hnps.clone(), lma: mn.lma, lifetime: granted, agent });
                out.push(Action::Registered { mac, hnps: mn.hnps.clone(), lifetime: granted });
            }
            Purpose::Refresh => {
                self.stats.refreshes += 1;
                out.push(Action::Refreshed { mac, lifetime: granted });
            }
            Purpose::Deregister => {}
        }
        // The MN is waiting for an RA (it sent an RS or it would not be here), and after a
        // refresh the lifetimes it holds must move on before they run out.
        advertise(&mut self.stats, now, &mac, mn, out);
    }

    /// Status ≥ 128: nothing installed; a refused refresh takes the routes down.
    fn reject(&mut self, now: Duration, mac: MacAddr, status: u8, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        if mn.state == MnState::Registered {
            out.push(Action::Withdraw { mac, hnps: std::mem::take(&mut mn.hnps) });
        }
        mn.outstanding = None;
        mn.holdoff_until = now + self.cfg.rejected_holdoff;
        set_state(&mut self.stats, mn, MnState::Rejected);
        let reason = FailReason::Rejected(status);
        self.stats.count_failure(reason);
        out.push(Action::Failed { mac, reason });
    }

    // ---- Timers ----------------------------------------------------------------------

    /// Runs every timer due at `now`: retransmissions, refreshes, expiries, NUD probes,
    /// periodic RAs. Cost: O(k log n) for the k MNs with something due.
    pub fn on_tick(&mut self, now: Duration, out: &mut Vec<Action>) {
        let now = self.advance(now);
        while let Some((_, generation, mac)) = self.timers.pop_due(now) {
            let Some(mn) = self.nodes.get_mut(&mac) else { continue };
            if mn.timer_gen != generation {
                continue;
            }
            mn.timer_at = Duration::MAX;
            self.run_timers(now, mac, out);
            self.settle(mac);
        }
    }

    fn run_timers(&mut self, now: Duration, mac: MacAddr, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        if mn.state == MnState::Registered && mn.expires <= now {
            // The refresh never got through: the binding is gone at the LMA too.
            out.push(Action::Withdraw { mac, hnps: std::mem::take(&mut mn.hnps) });
            mn.outstanding = None;
            mn.holdoff_until = now + self.cfg.no_response_holdoff;
            set_state(&mut self.stats, mn, MnState::Unanswered);
            self.stats.count_failure(FailReason::Expired);
            return out.push(Action::Failed { mac, reason: FailReason::Expired });
        }
        if mn.outstanding.is_some_and(|o| o.retry_at <= now) {
            self.retry(now, mac, out);
        }
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        if mn.state != MnState::Registered {
            return;
        }
        if mn.outstanding.is_none() && mn.refresh_at <= now {
            self.transmit(now, mac, Purpose::Refresh, out);
        }
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        // NUD (RFC 4861 §7.3): idle → probe, probe, probe, each `probe_interval` apart, and
        // one more interval without an answer → detached.
        let probe_due = if mn.probes_sent == 0 { mn.last_seen + self.cfg.idle_timeout <= now } else { mn.next_probe <= now };
        if probe_due {
            if mn.probes_sent >= self.cfg.probes {
                self.detach_mac(now, mac, DetachReason::Unreachable, out);
                return;
            }
            mn.probes_sent += 1;
            mn.next_probe = now + self.cfg.probe_interval;
            self.stats.probes += 1;
            out.push(Action::ProbeNeighbor { mac, hnps: mn.hnps.clone() });
        }
        if mn.next_ra <= now {
            mn.next_ra = now + self.cfg.ra_interval;
            advertise(&mut self.stats, now, &mac, mn, out);
        }
    }

    /// The outstanding PBU timed out (or got a 135): send it again with a new sequence
    /// number and timestamp and a doubled timeout, or give up after the configured number
    /// of transmissions. A refresh is retried until the binding expires.
    fn retry(&mut self, now: Duration, mac: MacAddr, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        let Some(o) = mn.outstanding else { return };
        let limit = match o.purpose {
            Purpose::Register => Some(self.cfg.max_transmissions),
            Purpose::Deregister => Some(self.cfg.max_dereg_transmissions),
            Purpose::Refresh => None,
        };
        if limit.is_some_and(|n| o.transmissions >= n) {
            mn.outstanding = None;
            if o.purpose == Purpose::Deregister {
                self.stats.deregistrations_unanswered += 1;
                return self.finish_deregistration(mac);
            }
            // RFC 6275 §11.8 lets a sender go on at MAX_BINDACK_TIMEOUT indefinitely; we stop
            // and let the MN's next frame (after the holdoff) start again, so an MN that left
            // or an LMA that is down costs no signaling until the MN shows up again.
            mn.holdoff_until = now + self.cfg.no_response_holdoff;
            set_state(&mut self.stats, mn, MnState::Unanswered);
            self.stats.count_failure(FailReason::NoResponse);
            return out.push(Action::Failed { mac, reason: FailReason::NoResponse });
        }
        let timeout = (o.timeout * 2).min(self.cfg.max_bindack_timeout);
        self.send(now, mac, o.purpose, PbuKind::Retransmit, o.transmissions + 1, timeout, out);
    }

    // ---- Sending ---------------------------------------------------------------------

    fn attach(&mut self, now: Duration, mac: MacAddr, out: &mut Vec<Action>) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        let Some(policy) = &mn.policy else { return };
        mn.mn_id = policy.mn_id.clone();
        mn.lma = policy.lma;
        mn.hnps.clear();
        mn.probes_sent = 0;
        set_state(&mut self.stats, mn, MnState::Registering);
        self.transmit(now, mac, Purpose::Register, out);
    }

    /// The first transmission of a PBU for `purpose`.
    fn transmit(&mut self, now: Duration, mac: MacAddr, purpose: Purpose, out: &mut Vec<Action>) {
        let kind = match purpose {
            Purpose::Register => PbuKind::Initial,
            Purpose::Refresh => PbuKind::Refresh,
            Purpose::Deregister => PbuKind::Deregistration,
        };
        let timeout = self.cfg.initial_bindack_timeout;
        self.send(now, mac, purpose, kind, 1, timeout, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn send(&mut self, now: Duration, mac: MacAddr, purpose: Purpose, kind: PbuKind, transmissions: u32, timeout: Duration, out: &mut Vec<Action>) {
        let lifetime_units = self.cfg.lifetime_units();
        let link_local = self.cfg.access_link_local;
        let clock = timestamp_from_unix(self.wall_base + now);
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        // Every transmission is a new PBU: a greater sequence number (RFC 6275 §11.8) and a
        // timestamp that never repeats, even for two PBUs in the same instant (§5.5: the LMA
        // refuses one not newer than the last it accepted).
        mn.seq = mn.seq.wrapping_add(1);
        mn.timestamp = clock.max(mn.timestamp.wrapping_add(1));
        mn.outstanding = Some(Outstanding { purpose, sent_at: now, retry_at: now + timeout, timeout, transmissions });
        let pbu = build_pbu(mn, &mac, purpose, lifetime_units, link_local);
        self.stats.count_pbu(kind);
        out.push(Action::SendPbu { lma: mn.lma, pbu, kind });
    }

    // ---- Detach ----------------------------------------------------------------------

    /// Withdraw and deregister a registered MN; abandon a registration under way (nothing
    /// was installed, and a binding the LMA may have made for it lapses with its lifetime).
    fn detach_mac(&mut self, now: Duration, mac: MacAddr, reason: DetachReason, out: &mut Vec<Action>) -> bool {
        let Some(mn) = self.nodes.get_mut(&mac) else { return false };
        match mn.state {
            MnState::Registered => {
                out.push(Action::Withdraw { mac, hnps: mn.hnps.clone() });
                out.push(Action::Deregistered { mac, reason });
                self.stats.deregistrations += 1;
                mn.probes_sent = 0;
                set_state(&mut self.stats, mn, MnState::Deregistering);
                self.transmit(now, mac, Purpose::Deregister, out);
                true
            }
            MnState::Registering => {
                mn.outstanding = None;
                set_state(&mut self.stats, mn, MnState::Idle);
                true
            }
            _ => false,
        }
    }

    fn finish_deregistration(&mut self, mac: MacAddr) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        mn.outstanding = None;
        mn.hnps.clear();
        set_state(&mut self.stats, mn, MnState::Idle);
    }

    // ---- Bookkeeping -----------------------------------------------------------------

    /// After any change to `mac`: forget an entry whose policy is gone and which has nothing
    /// left to do, drop the index entry of a superseded identity, and (re)arm its timer.
    fn settle(&mut self, mac: MacAddr) {
        let Some(mn) = self.nodes.get_mut(&mac) else { return };
        let idle = mn.outstanding.is_none() && mn.state != MnState::Registered;
        if idle {
            let keep = mn.policy.as_ref().is_some_and(|p| *p.mn_id == *mn.mn_id);
            if !keep && self.by_mn_id.get(&mn.mn_id) == Some(&mac) {
                self.by_mn_id.remove(&mn.mn_id);
            }
            if let Some(p) = &mn.policy {
                mn.mn_id = p.mn_id.clone();
                mn.lma = p.lma;
            } else {
                self.stats.leave(mn.state);
                self.nodes.remove(&mac);
                return;
            }
        }
        let Some(at) = next_deadline(&self.cfg, mn) else { return };
        if at < mn.timer_at {
            mn.timer_gen = mn.timer_gen.wrapping_add(1);
            mn.timer_at = at;
            self.timers.push(at, mn.timer_gen, mac);
            if self.timers.len() > 2 * self.nodes.len() + 1024 {
                let nodes = &self.nodes;
                self.timers.retain(|m, g| nodes.get(m).is_some_and(|mn| mn.timer_gen == g));
            }
        }
    }

    fn drop_input(&mut self, reason: DropReason, out: &mut Vec<Action>) {
        self.stats.count_drop(reason);
        out.push(Action::Dropped(reason));
    }
}

fn set_state(stats: &mut Stats, mn: &mut Mn, state: MnState) {
    stats.leave(mn.state);
    stats.enter(state);
    mn.state = state;
}

/// The MN's earliest deadline, if it has one.
fn next_deadline(cfg: &Config, mn: &Mn) -> Option<Duration> {
    let mut at = mn.outstanding.map(|o| o.retry_at);
    if mn.state == MnState::Registered {
        let idle = if mn.probes_sent == 0 { mn.last_seen + cfg.idle_timeout } else { mn.next_probe };
        let mut due = mn.expires.min(idle).min(mn.next_ra);
        if mn.outstanding.is_none() {
            due = due.min(mn.refresh_at);
        }
        at = Some(at.map_or(due, |a| a.min(due)));
    }
    at
}

/// A unicast RA with the accepted prefixes, valid and preferred for what is left of the
/// binding (never beyond it; nothing when under a second is left).
fn advertise(stats: &mut Stats, now: Duration, mac: &MacAddr, mn: &Mn, out: &mut Vec<Action>) {
    let left = u32::try_from(mn.expires.saturating_sub(now).as_secs()).unwrap_or(u32::MAX);
    if left == 0 || mn.hnps.is_empty() {
        return;
    }
    stats.advertisements += 1;
    out.push(Action::Advertise { mac: *mac, prefixes: mn.hnps.clone(), valid: left, preferred: left });
}

/// RFC 5213 §6.9.1.1 and §8.1: flags A, H, P (and L, as the Link-local Address option is
/// sent), and the options MN-ID, HNP, HI, ATT, MN Link-layer Identifier, Link-local Address,
/// Timestamp.
fn build_pbu(mn: &Mn, mac: &MacAddr, purpose: Purpose, lifetime_units: u16, link_local: Ipv6Addr) -> ProxyBindingUpdate {
    let home_network_prefixes = if !mn.hnps.is_empty() {
        // A refresh or a deregistration names the prefixes assigned.
        mn.hnps.clone()
    } else if let Some(p) = mn.policy.as_ref().and_then(|p| p.static_hnp) {
        vec![p]
    } else {
        // ALL_ZERO: the LMA assigns (§6.9.1.1).
        vec![(Ipv6Addr::UNSPECIFIED, 0)]
    };
    let handoff_indicator = match purpose {
        Purpose::Register => handoff::NEW_ATTACHMENT,
        // Refresh: "handoff state not changed (re-registration)". Deregistration: the same
        // session ending here, not an attachment whose handoff state is unknown (4).
        Purpose::Refresh | Purpose::Deregister => handoff::REREGISTRATION,
    };
    ProxyBindingUpdate {
        seq: mn.seq,
        ack: true,
        home_reg: true,
        link_local_compat: true,
        proxy_reg: true,
        lifetime_units: if purpose == Purpose::Deregister { 0 } else { lifetime_units },
        options: PmipOptions {
            mn_id: Some(mn.mn_id.to_vec()),
            home_network_prefixes,
            handoff_indicator: Some(handoff_indicator),
            access_technology: Some(access_technology::IEEE_802_3),
            mn_link_layer_id: Some(mac.to_vec()),
            link_local_address: Some(link_local),
            timestamp: Some(mn.timestamp),
        },
    }
}

/// What a status-0 PBA for a registration or refresh must hold (RFC 5213 §6.9.1.2), so an
/// absurd one changes nothing.
fn check_grant(mn: &Mn, purpose: Purpose, pba: &ProxyBindingAck) -> Result<(), DropReason> {
    if pba.lifetime_units == 0 {
        return Err(DropReason::ZeroLifetime);
    }
    let hnps = &pba.options.home_network_prefixes;
    if hnps.is_empty() {
        return Err(DropReason::MissingPrefix);
    }
    let static_hnp = mn.policy.as_ref().and_then(|p| p.static_hnp);
    let allowed_len = static_hnp.map_or(64, |(_, len)| len);
    for (i, (addr, len)) in hnps.iter().enumerate() {
        if is_unroutable(addr) || *len > 128 || masked(addr, *len) != *addr {
            return Err(DropReason::BadPrefix);
        }
        if *len != allowed_len {
            return Err(DropReason::BadPrefixLength);
        }
        if hnps[..i].contains(&(*addr, *len)) {
            return Err(DropReason::DuplicatePrefix);
        }
    }
    let asked: Option<Vec<Prefix>> = match purpose {
        Purpose::Refresh => Some(mn.hnps.clone()),
        _ => static_hnp.map(|p| vec![p]),
    };
    if let Some(asked) = asked {
        if asked.len() != hnps.len() || !asked.iter().all(|p| hnps.contains(p)) {
            return Err(DropReason::PrefixMismatch);
        }
    }
    Ok(())
}
