//! Neighbor reachability on the control core (RFC 4861 §7.3), with no I/O: one entry per
//! neighbor slot of the workers' cache (attached nodes, core next hops), so the table is
//! exactly as large as the configuration and a spoofed source never gets an entry; the
//! packets held for unresolved neighbors, capped per neighbor and in all; the timers of
//! resolution and unreachability detection. `Links` feeds it ND and held packets and sends
//! what it asks for.
//!
//! States (§7.3.2) and the rules applied:
//! - INCOMPLETE: a packet needs an unknown neighbor; multicast solicitations every
//!   RetransTimer, MAX_MULTICAST_SOLICIT of them, then the entry and its packets go (§7.2.2).
//! - REACHABLE: a solicited advertisement confirmed it (§7.2.5), for ReachableTime.
//! - STALE: ReachableTime passed, or the address came without a confirmation (an NS's
//!   source link-layer option §7.2.3, an unsolicited override NA, a worker filling the empty
//!   slot from the node's traffic). No action until the entry is used (§7.3.3).
//! - DELAY: a STALE entry in use: for a core next hop always (the tunnel runs through it),
//!   for an attached node once a worker saw its traffic since it went STALE (the slot's
//!   watched bit; one store per STALE period, no per-packet cost). A frame *from* the
//!   neighbor is not a confirmation (§7.3.1: it shows only the way from it to us), so the
//!   hint moves the entry toward a probe, never to REACHABLE.
//! - PROBE: after DELAY_FIRST_PROBE_TIME, MAX_UNICAST_SOLICIT unicast solicitations
//!   RetransTimer apart; unanswered, the neighbor is forgotten (its slot cleared, so workers
//!   punt its packets and it is resolved again).
//! - Configured MACs are permanent: no ND message changes them.
//!
//! A known MAC changes only here: an NA with Override, or with the same-or-no address
//! (§7.2.5), or an NS with a different source link-layer option (§7.2.3). Workers only fill
//! empty slots (`dataplane::neighbor`).

use crate::config::NeighborsCfg;
use crate::counters::{ControlCounters, HeldDrop, NdRefused};
use dataplane::counters::Role;
use dataplane::forward::Topology;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::Duration;
use wire::ethernet::{fmt_mac, MacAddr};

/// The knobs (`[neighbors]`; the defaults are RFC 4861 §10's).
#[derive(Clone, Debug)]
pub struct Settings {
    pub reachable_time: Duration,
    pub delay_first_probe: Duration,
    pub retrans: Duration,
    pub max_multicast_solicit: u32,
    pub max_unicast_solicit: u32,
    pub hold_per_neighbor: usize,
    pub hold_total: usize,
    pub max_resolutions: usize,
}

impl Settings {
    pub fn from_config(c: &NeighborsCfg) -> Settings {
        Settings {
            reachable_time: Duration::from_secs(c.reachable_time),
            delay_first_probe: Duration::from_secs(c.delay_first_probe_time),
            retrans: Duration::from_millis(c.retrans_timer_ms),
            max_multicast_solicit: c.max_multicast_solicit,
            max_unicast_solicit: c.max_unicast_solicit,
            hold_per_neighbor: c.hold_per_neighbor,
            hold_total: c.hold_total,
            max_resolutions: c.max_resolutions,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&NeighborsCfg::default())
    }
}

/// RFC 4861 §7.3.2, plus the configured and the absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Absent,
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Permanent,
}

impl State {
    /// The states counted in `ControlCounters::neighbor_states`, in its order.
    pub const COUNTED: [State; 6] = [State::Incomplete, State::Reachable, State::Stale, State::Delay, State::Probe, State::Permanent];

    pub fn label(self) -> &'static str {
        match self {
            State::Absent => "absent",
            State::Incomplete => "incomplete",
            State::Reachable => "reachable",
            State::Stale => "stale",
            State::Delay => "delay",
            State::Probe => "probe",
            State::Permanent => "permanent",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    state: State,
    mac: MacAddr,
    /// The address ND knows it by (the probes' target); a slot a worker filled has none
    /// until ND names one, and is not probed before.
    addr: Option<Ipv6Addr>,
    /// When the current state's timer started (entered, or last solicitation sent).
    since: Duration,
    /// Solicitations sent in this state.
    sent: u32,
    /// The last reachability confirmation (ZERO: never); eviction order.
    confirmed: Duration,
}

impl Entry {
    const ABSENT: Entry = Entry { state: State::Absent, mac: [0; 6], addr: None, since: Duration::ZERO, sent: 0, confirmed: Duration::ZERO };
}

/// Packets waiting for one neighbor.
struct Held<B> {
    role: Role,
    packets: VecDeque<B>,
}

/// What the caller (`Links`) is to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Solicit {
    /// A multicast solicitation for `target` on `role` (resolution, §7.2.2).
    Multicast { role: Role, target: Ipv6Addr },
    /// A unicast solicitation to `mac` for `target` (a probe, §7.3.3).
    Unicast { role: Role, target: Ipv6Addr, mac: MacAddr },
}

pub struct Neighbors<B> {
    pub settings: Settings,
    entries: Vec<Entry>,
    /// Slots not configured with a MAC: the only ones the timers look at.
    dynamic: Vec<usize>,
    /// By slot; at most `max_resolutions` keys, `hold_total` packets in all.
    held: HashMap<usize, Held<B>>,
    held_total: usize,
    incomplete: usize,
}

impl<B> Neighbors<B> {
    /// The slots known at start (configured MACs) are permanent.
    pub fn new(topo: &Topology, settings: Settings) -> Self {
        let n = topo.neighbors.len();
        let mut entries = vec![Entry::ABSENT; n];
        let mut dynamic = Vec::new();
        for (i, e) in entries.iter_mut().enumerate() {
            match topo.neighbors.get(i) {
                Some(mac) => *e = Entry { state: State::Permanent, mac, ..Entry::ABSENT },
                None => dynamic.push(i),
            }
        }
        let held = HashMap::with_capacity(settings.max_resolutions.min(n));
        Neighbors { settings, entries, dynamic, held, held_total: 0, incomplete: 0 }
    }

    #[cfg(test)]
    pub fn state(&self, slot: usize) -> State {
        self.entries.get(slot).map_or(State::Absent, |e| e.state)
    }

    #[cfg(test)]
    /// Packets held now, in all.
    pub fn held(&self) -> usize {
        self.held_total
    }

    #[cfg(test)]
    /// Resolutions under way (INCOMPLETE entries).
    pub fn resolutions(&self) -> usize {
        self.incomplete
    }

    #[cfg(test)]
    /// Neighbors waiting with packets.
    pub fn waiting(&self) -> usize {
        self.held.len()
    }

    fn set_state(&mut self, slot: usize, s: State, now: Duration) {
        let e = &mut self.entries[slot];
        if e.state == State::Incomplete {
            self.incomplete -= 1;
        }
        if s == State::Incomplete {
            self.incomplete += 1;
        }
        e.state = s;
        e.since = now;
        e.sent = 0;
    }

    /// Takes what is held for `slot` (to send it, now that it is known).
    pub fn take_held(&mut self, slot: usize) -> Option<(Role, VecDeque<B>)> {
        let h = self.held.remove(&slot)?;
        self.held_total -= h.packets.len();
        Some((h.role, h.packets))
    }

    /// An NS from `addr` (neighbor `slot`) with source link-layer address `mac` (§7.2.3).
    /// Returns the MAC the workers' slot must take and whether it is watched, if it changes.
    pub fn on_solicit(&mut self, now: Duration, slot: usize, addr: Ipv6Addr, mac: MacAddr, c: &ControlCounters) -> Option<(MacAddr, bool)> {
        let e = *self.entries.get(slot)?;
        match e.state {
            State::Permanent => {
                if e.mac != mac {
                    c.nd_refused(NdRefused::Permanent).inc();
                }
                None
            }
            State::Absent | State::Incomplete => {
                self.set_state(slot, State::Stale, now);
                self.entries[slot].mac = mac;
                self.entries[slot].addr = Some(addr);
                Some((mac, true))
            }
            _ => {
                self.entries[slot].addr = Some(addr);
                if e.mac == mac {
                    return None;
                }
                self.set_state(slot, State::Stale, now);
                self.entries[slot].mac = mac;
                Some((mac, true))
            }
        }
    }

    /// An NA for `addr` (neighbor `slot`) with its flags and target link-layer address
    /// (§7.2.5). Returns the MAC the workers' slot must take and whether watched, if it
    /// changes (a confirmation of a watched slot unwatches it).
    pub fn on_advert(
        &mut self,
        now: Duration,
        slot: usize,
        addr: Ipv6Addr,
        tlla: Option<MacAddr>,
        solicited: bool,
        override_: bool,
        c: &ControlCounters,
    ) -> Option<(MacAddr, bool)> {
        let e = *self.entries.get(slot)?;
        match e.state {
            State::Permanent => {
                if tlla.is_some_and(|m| m != e.mac) {
                    c.nd_refused(NdRefused::Permanent).inc();
                }
                None
            }
            // "If no entry exists, the advertisement SHOULD be silently discarded."
            State::Absent => {
                c.nd_refused(NdRefused::NoEntry).inc();
                None
            }
            State::Incomplete => {
                let Some(mac) = tlla else {
                    c.nd_refused(NdRefused::NoTargetAddress).inc();
                    return None;
                };
                self.set_state(slot, if solicited { State::Reachable } else { State::Stale }, now);
                let n = &mut self.entries[slot];
                n.mac = mac;
                n.addr = Some(addr);
                if solicited {
                    n.confirmed = now;
                }
                Some((mac, !solicited))
            }
            _ => {
                let differs = tlla.is_some_and(|m| m != e.mac);
                if differs && !override_ {
                    c.nd_refused(NdRefused::NoOverride).inc();
                    if e.state == State::Reachable {
                        self.set_state(slot, State::Stale, now);
                        return Some((e.mac, true));
                    }
                    return None;
                }
                let mac = tlla.unwrap_or(e.mac);
                self.entries[slot].mac = mac;
                self.entries[slot].addr = Some(addr);
                if solicited {
                    self.set_state(slot, State::Reachable, now);
                    self.entries[slot].confirmed = now;
                    Some((mac, false))
                } else if differs {
                    self.set_state(slot, State::Stale, now);
                    Some((mac, true))
                } else {
                    None
                }
            }
        }
    }

    /// A packet for unknown neighbor `slot` (`target` its address) to go out on `role`:
    /// held while it is resolved. Returns the packet if the neighbor is known after all
    /// (to send now), and whether to solicit now. Refusals and evictions are counted.
    pub fn hold(&mut self, now: Duration, slot: usize, target: Ipv6Addr, role: Role, m: B, c: &ControlCounters) -> (Option<B>, Option<Solicit>) {
        let Some(e) = self.entries.get(slot).copied() else { return (None, None) };
        let mut solicit = None;
        match e.state {
            State::Incomplete => {}
            State::Absent => {
                if self.incomplete >= self.settings.max_resolutions {
                    c.held_dropped(HeldDrop::ResolutionsFull).inc();
                    return (None, None);
                }
                self.set_state(slot, State::Incomplete, now);
                self.entries[slot].addr = Some(target);
                self.entries[slot].sent = 1;
                solicit = Some(Solicit::Multicast { role, target });
            }
            // Known here: the caller's view of the slot was older.
            _ => return (Some(m), None),
        }
        c.held.inc();
        if self.held_total >= self.settings.hold_total && self.held.get(&slot).is_none_or(|h| h.packets.len() < self.settings.hold_per_neighbor) {
            self.evict_one(c);
        }
        let h = self.held.entry(slot).or_insert_with(|| Held { role, packets: VecDeque::new() });
        if h.packets.len() >= self.settings.hold_per_neighbor {
            h.packets.pop_front();
            self.held_total -= 1;
            c.held_dropped(HeldDrop::PerNeighbor).inc();
        }
        h.packets.push_back(m);
        self.held_total += 1;
        (None, solicit)
    }

    /// All queues are full: drops the oldest packet of the neighbor least recently
    /// confirmed (never confirmed first), the oldest resolution among equals.
    fn evict_one(&mut self, c: &ControlCounters) {
        let entries = &self.entries;
        let Some(&victim) =
            self.held.iter().filter(|(_, h)| !h.packets.is_empty()).map(|(s, _)| s).min_by_key(|&&s| (entries[s].confirmed, entries[s].since, s))
        else {
            return;
        };
        if let Some(h) = self.held.get_mut(&victim) {
            h.packets.pop_front();
            self.held_total -= 1;
            c.held_dropped(HeldDrop::Global).inc();
            if h.packets.is_empty() {
                self.held.remove(&victim);
            }
        }
    }

    /// Timers, at `now`. `topo` is read for what workers did (a slot filled, a watch
    /// cleared); changes to the workers' slots and solicitations are pushed to `changes`
    /// and `solicits`. Gauges are refreshed.
    pub fn tick(
        &mut self,
        now: Duration,
        topo: &Topology,
        changes: &mut Vec<(usize, Option<(MacAddr, bool)>)>,
        solicits: &mut Vec<Solicit>,
        c: &ControlCounters,
    ) {
        let s = self.settings.clone();
        for k in 0..self.dynamic.len() {
            let slot = self.dynamic[k];
            let e = self.entries[slot];
            let role = if slot < topo.attached.len() { Role::Access } else { Role::Core };
            let elapsed = now.saturating_sub(e.since);
            match e.state {
                State::Absent => {
                    // A worker filled the slot from the node's traffic (§7.3.3: STALE).
                    if let Some(mac) = topo.neighbors.get(slot) {
                        self.set_state(slot, State::Stale, now);
                        self.entries[slot].mac = mac;
                        changes.push((slot, Some((mac, true))));
                    }
                }
                State::Incomplete => {
                    if let Some(mac) = topo.neighbors.get(slot) {
                        // Filled from traffic meanwhile: what is held goes (caller), STALE.
                        self.set_state(slot, State::Stale, now);
                        self.entries[slot].mac = mac;
                        changes.push((slot, Some((mac, true))));
                    } else if elapsed >= s.retrans {
                        if e.sent >= s.max_multicast_solicit {
                            self.set_state(slot, State::Absent, now);
                            let dropped = self.take_held(slot).map_or(0, |(_, p)| p.len());
                            c.held_dropped(HeldDrop::Unresolved).add(dropped as u64);
                            c.forgotten_unresolved.inc();
                            tracing::warn!(
                                "neighbor {} did not answer {} solicitations; {dropped} packet(s) dropped",
                                fmt_addr(e.addr),
                                s.max_multicast_solicit
                            );
                        } else if let Some(target) = e.addr {
                            self.entries[slot].since = now;
                            self.entries[slot].sent += 1;
                            solicits.push(Solicit::Multicast { role, target });
                        }
                    }
                }
                State::Reachable => {
                    if elapsed >= s.reachable_time {
                        self.set_state(slot, State::Stale, now);
                        changes.push((slot, Some((e.mac, true))));
                    }
                }
                State::Stale => {
                    let in_use = role == Role::Core || !topo.neighbors.is_watched(slot);
                    if in_use && e.addr.is_some() {
                        self.set_state(slot, State::Delay, now);
                    }
                }
                State::Delay => {
                    if elapsed >= s.delay_first_probe {
                        if let Some(target) = e.addr {
                            self.set_state(slot, State::Probe, now);
                            self.entries[slot].sent = 1;
                            solicits.push(Solicit::Unicast { role, target, mac: e.mac });
                        }
                    }
                }
                State::Probe => {
                    if elapsed >= s.retrans {
                        if e.sent >= s.max_unicast_solicit {
                            self.set_state(slot, State::Absent, now);
                            self.entries[slot].addr = None;
                            changes.push((slot, None));
                            c.forgotten_unreachable.inc();
                            tracing::warn!("neighbor {} at {} did not answer {} probes; forgotten", fmt_addr(e.addr), fmt_mac(&e.mac), s.max_unicast_solicit);
                        } else if let Some(target) = e.addr {
                            self.entries[slot].since = now;
                            self.entries[slot].sent += 1;
                            solicits.push(Solicit::Unicast { role, target, mac: e.mac });
                        }
                    }
                }
                State::Permanent => {}
            }
        }
        let mut counts = [0u64; State::COUNTED.len()];
        for e in &self.entries {
            if let Some(i) = State::COUNTED.iter().position(|s| *s == e.state) {
                counts[i] += 1;
            }
        }
        for (g, n) in c.neighbor_states.iter().zip(counts) {
            g.set(n);
        }
    }

    /// Drops everything held (shutdown).
    pub fn drain(&mut self) {
        self.held.clear();
        self.held_total = 0;
    }
}

fn fmt_addr(a: Option<Ipv6Addr>) -> String {
    a.map_or_else(|| "(address unknown)".to_string(), |a| a.to_string())
}
