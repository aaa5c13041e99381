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
//! empty slots (`dataplane::neighbor`). An NA for a neighbor with no entry is discarded,
//! and so is one answering a resolution without a Target Link-Layer Address option (both
//! §7.2.5's SHOULDs; the frame's source MAC is not taken instead). ReachableTime is not
//! randomized (§6.3.2): the few dynamic neighbors are confirmed at different times anyway.
//!
//! Caps: the entries are the slots (the configuration); packets held `hold_per_neighbor`
//! per neighbor (a new one drops the oldest) and `hold_total` in all (a new one drops the
//! oldest packet of the unresolved neighbor least recently confirmed, never-confirmed
//! first, the older resolution among equals); `max_resolutions` INCOMPLETE entries (a
//! packet needing one more is dropped). Each drop counted by reason (`HeldDrop`).

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

/// A Neighbor Advertisement's content for a neighbor (RFC 4861 §4.4).
#[derive(Clone, Copy, Debug)]
pub struct Advert {
    /// Its target address.
    pub addr: Ipv6Addr,
    /// Its Target Link-Layer Address option.
    pub tlla: Option<MacAddr>,
    pub solicited: bool,
    pub override_: bool,
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
    pub fn on_advert(&mut self, now: Duration, slot: usize, na: Advert, c: &ControlCounters) -> Option<(MacAddr, bool)> {
        let Advert { addr, tlla, solicited, override_ } = na;
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
    /// held while it is resolved. Returns the packet with the neighbor's MAC if it is known
    /// after all (to send now), and whether to solicit now. Refusals and evictions are counted.
    pub fn hold(&mut self, now: Duration, slot: usize, target: Ipv6Addr, role: Role, m: B, c: &ControlCounters) -> (Option<(B, MacAddr)>, Option<Solicit>) {
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
            _ => return (Some((m, e.mac)), None),
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
        // The permanent ones never change; the dynamic ones are few or, at most, configured.
        let mut counts = [0u64; State::COUNTED.len()];
        counts[State::COUNTED.len() - 1] = (self.entries.len() - self.dynamic.len()) as u64;
        for &slot in &self.dynamic {
            if let Some(i) = State::COUNTED.iter().position(|s| *s == self.entries[slot].state) {
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

#[cfg(test)]
mod tests {
    //! Reachability through the whole control plane (`Harness`: punted frames in, a fake
    //! clock, a `Recorder`), and the caps under a flood.
    use super::State;
    use crate::counters::{HeldDrop, NdRefused};
    use crate::testing::*;
    use dataplane::counters::{Counter, Punt, Role};
    use wire::ethernet::MacAddr;
    use wire::nd::{self, Nd};
    use wire::testpkt::{neighbor_solicit, tunneled, udp_packet};
    use wire::{ethernet, ipv6};

    fn advert(src: &str, mac: MacAddr, solicited: bool) -> Vec<u8> {
        let mut b = vec![0u8; 200];
        let n = nd::build_neighbor_advert(&mut b, &a(src), &a(MAG_LL), &a(src), &mac, false, solicited, true).unwrap();
        b.truncate(n);
        b
    }

    fn uplink_to_lma() -> Vec<u8> {
        frame([0; 6], CORE_MAC, &tunneled(a(PROXY_COA), a(LMA), &udp_packet(a(MN2), a(HOME), 63, 1, 2, b"x")))
    }

    /// The solicitations in `sent`: (role, destination MAC, IPv6 destination, target).
    fn solicits(sent: &[(Role, Vec<u8>)]) -> Vec<(Role, MacAddr, std::net::Ipv6Addr, std::net::Ipv6Addr)> {
        sent.iter()
            .filter_map(|(r, f)| match nd::parse(ip_of(f)) {
                Ok(Some(Nd::NeighborSolicit { target, .. })) => {
                    Some((*r, f[..6].try_into().unwrap(), ipv6::Header::new_checked(ip_of(f)).unwrap().dst_addr(), target))
                }
                _ => None,
            })
            .collect()
    }

    /// The LMA resolved and confirmed at t = 1 s.
    fn confirmed_lma() -> (Harness, usize) {
        let mut h = Harness::new(TUNNEL);
        let slot = h.topo().core_slot(0);
        h.punt(Punt::Unresolved, Role::Core, &uplink_to_lma());
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&advert(LMA, LMA_MAC, true)));
        assert_eq!(h.plane.links.nd.state(slot), State::Reachable);
        h.sent();
        (h, slot)
    }

    /// RFC 4861 §7.3.2/§7.3.3 with the §10 defaults: REACHABLE for 30 s, then STALE; in use
    /// (a core next hop always is), DELAY for 5 s; then PROBE: 3 unicast solicitations 1 s
    /// apart to the cached MAC; unanswered, forgotten: the slot is cleared and the next
    /// packet resolves it again by multicast.
    #[test]
    fn a_neighbor_ages_reachable_stale_delay_probe_then_is_forgotten() {
        let (mut h, slot) = confirmed_lma();
        let c = h.plane.links.counters.clone();
        h.tick_at(28.9);
        assert_eq!(h.plane.links.nd.state(slot), State::Reachable);
        h.tick_at(30.0);
        assert_eq!(h.plane.links.nd.state(slot), State::Stale);
        assert!(h.topo().neighbors.is_watched(slot));
        h.tick_at(30.1);
        assert_eq!(h.plane.links.nd.state(slot), State::Delay);
        h.tick_at(35.0);
        assert!(h.sent().is_empty(), "no probe before DELAY_FIRST_PROBE_TIME");
        for t in [35.2, 36.3, 37.4] {
            h.tick_at(t);
            assert_eq!(h.plane.links.nd.state(slot), State::Probe);
            assert_eq!(solicits(&h.sent()), [(Role::Core, LMA_MAC, a(LMA), a(LMA))], "a unicast probe at {t}");
        }
        assert_eq!(h.topo().neighbors.get(slot), Some(LMA_MAC), "still used while probed");
        h.tick_at(38.5);
        assert_eq!(h.plane.links.nd.state(slot), State::Absent);
        assert_eq!((h.topo().neighbors.get(slot), h.out.forgotten.as_slice()), (None, &[slot][..]));
        assert_eq!((c.probes_sent.get(), c.forgotten_unreachable.get()), (3, 1));
        h.tick_at(60.0);
        assert!(h.sent().is_empty());
        h.punt(Punt::Unresolved, Role::Core, &uplink_to_lma());
        assert_eq!(solicits(&h.sent()), [(Role::Core, ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&a(LMA))), ipv6::solicited_node(&a(LMA)), a(LMA))]);
    }

    #[test]
    fn an_answered_probe_confirms_the_neighbor_again() {
        let (mut h, slot) = confirmed_lma();
        for t in [30.0, 30.1, 35.2] {
            h.tick_at(t);
        }
        assert_eq!(h.plane.links.nd.state(slot), State::Probe);
        h.sent();
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&advert(LMA, LMA_MAC, true)));
        assert_eq!(h.plane.links.nd.state(slot), State::Reachable);
        assert!(!h.topo().neighbors.is_watched(slot));
        h.tick_at(40.0);
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.forgotten_unreachable.get(), 0);
        // An unsolicited advertisement is no confirmation (§7.3.1): the timer runs on.
        h.punt(Punt::NeighborDiscovery, Role::Core, &from_lma(&advert(LMA, LMA_MAC, false)));
        h.tick_at(65.3);
        assert_eq!(h.plane.links.nd.state(slot), State::Stale);
    }

    /// An attached node known from its solicitation (§7.2.3: STALE) is probed only once a
    /// worker has seen its traffic (the slot's watched bit), not while it is silent.
    #[test]
    fn an_attached_node_is_probed_only_once_a_worker_saw_its_traffic() {
        let mut h = Harness::new(TUNNEL);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC)));
        assert_eq!((h.plane.links.nd.state(0), h.topo().neighbors.get(0)), (State::Stale, Some(MN2_MAC)));
        h.sent();
        for t in [10.0, 100.0, 200.0] {
            h.tick_at(t);
        }
        assert_eq!(h.plane.links.nd.state(0), State::Stale, "not in use: left alone");
        assert!(h.sent().is_empty());
        // A worker forwards one of its frames.
        h.topo().neighbors.learn_from_frame(0, MN2_MAC, &Counter::default());
        h.tick_at(200.1);
        assert_eq!(h.plane.links.nd.state(0), State::Delay);
        h.tick_at(205.2);
        assert_eq!(solicits(&h.sent()), [(Role::Access, MN2_MAC, a(MN2), a(MN2))]);
    }

    /// A worker fills an empty slot from a node's frame; the control core holds it STALE.
    /// A frame from another MAC changes nothing (counted by the worker); the node's
    /// solicitation with another source link-layer address does (§7.2.3).
    #[test]
    fn traffic_fills_an_empty_slot_but_only_nd_changes_a_known_mac() {
        let mut h = Harness::new(TUNNEL);
        let mismatch = Counter::default();
        const NEW: MacAddr = [2, 0, 0, 0, 3, 9];
        h.topo().neighbors.learn_from_frame(0, MN2_MAC, &mismatch);
        h.tick_at(0.1);
        assert_eq!(h.plane.links.nd.state(0), State::Stale);
        h.topo().neighbors.learn_from_frame(0, NEW, &mismatch);
        assert_eq!((h.topo().neighbors.get(0), mismatch.get()), (Some(MN2_MAC), 1));
        h.punt(Punt::NeighborDiscovery, Role::Access, &frame(ACCESS_MAC, NEW, &neighbor_solicit(a(MN2), a(MAG_LL), NEW)));
        assert_eq!((h.topo().neighbors.get(0), h.plane.links.nd.state(0)), (Some(NEW), State::Stale));
        assert_eq!(h.plane.links.counters.neighbors_learned.get(), 1);
    }

    /// Four static nodes without MACs (dynamic slots 0..=3); at most 4 packets held in all
    /// and 3 resolutions.
    fn four_nodes() -> Harness {
        let mut cfg = TUNNEL.replace("[[node]]\nname = \"mn2\"\nprefixes = [\"2001:db8:3::/64\"]\n", "");
        for i in 0..4 {
            cfg += &format!("[[node]]\nname = \"n{i}\"\nprefixes = [\"2001:db8:1{i}::/64\"]\n");
        }
        cfg += "[neighbors]\nhold_total = 4\nmax_resolutions = 3\n";
        Harness::new(&cfg)
    }

    fn downlink_to(i: u8) -> Vec<u8> {
        frame([0; 6], ACCESS_MAC, &udp_packet(a(HOME), a(&format!("2001:db8:1{i}::1")), 63, 1, 2, b"x"))
    }

    /// At the global cap a new packet evicts the oldest packet of the unresolved neighbor
    /// least recently confirmed (never confirmed before once confirmed, the older
    /// resolution among equals), not simply the oldest packet; beyond the resolutions cap a
    /// packet is refused. Each counted by reason.
    #[test]
    fn held_packets_are_capped_in_all_least_recently_confirmed_first() {
        let mut h = four_nodes();
        let c = h.plane.links.counters.clone();
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(0));
        // Node 0 had been confirmed before (at 0.5 s) and is being resolved again.
        h.plane.links.nd.entries[0].confirmed = std::time::Duration::from_millis(500);
        h.tick_at(0.1);
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(1));
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(1));
        h.tick_at(0.2);
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(2));
        assert_eq!((h.plane.links.nd.held(), h.plane.links.nd.resolutions()), (4, 3));
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(2));
        assert_eq!(c.held_dropped(HeldDrop::Global).get(), 1);
        assert_eq!(h.plane.links.nd.held(), 4, "at the cap");
        // Node 1 (never confirmed, oldest such resolution) lost one; node 0 (the oldest
        // resolution, but confirmed before) kept its packet.
        assert_eq!([0, 1, 2].map(|s| h.plane.links.nd.held.get(&s).map_or(0, |q| q.packets.len())), [1, 1, 2]);
        h.punt(Punt::Unresolved, Role::Access, &downlink_to(3));
        assert_eq!(c.held_dropped(HeldDrop::ResolutionsFull).get(), 1);
        assert_eq!(h.plane.links.nd.state(3), State::Absent);
        // The answer releases what node 1 still has.
        let mac = [2, 0, 0, 0, 0x10, 1];
        h.sent();
        h.punt(Punt::NeighborDiscovery, Role::Access, &frame(ACCESS_MAC, mac, &advert("2001:db8:11::1", mac, true)));
        assert_eq!(h.sent().len(), 1);
        assert_eq!((h.plane.links.nd.held(), c.held_sent.get()), (3, 1));
        assert_eq!(c.held.get(), 5, "the refused one was never held");
    }

    #[test]
    fn advertisements_for_the_mag_are_rate_limited() {
        let mut h = Harness::new(&format!("{TUNNEL}[neighbors]\nadvertisements_per_sec = 2\n"));
        for _ in 0..3 {
            h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC)));
        }
        let c = h.plane.links.counters.clone();
        assert_eq!((h.sent().len(), c.na_sent.get(), c.na_rate_limited.get()), (2, 2, 1));
        h.now += std::time::Duration::from_millis(500);
        h.punt(Punt::NeighborDiscovery, Role::Access, &from_mn2(&neighbor_solicit(a(MN2), a(MAG_LL), MN2_MAC)));
        assert_eq!(h.sent().len(), 1, "a token every 500 ms");
    }

    /// Issue 11: 2^20 Neighbor Solicitations from random spoofed sources and MACs on both
    /// links (half for the MAG's address, a sixteenth of the access ones from inside the
    /// attached node's prefix) leave no state but the configured slots: nothing learned
    /// but that one slot, nothing held, every counter adds up, the NAs rate-limited.
    #[test]
    fn a_flood_of_spoofed_solicitations_keeps_every_table_within_its_caps() {
        for config in [TUNNEL, PMIPV6] {
            let mut h = Harness::new(config);
            let slots = h.topo().neighbors.len();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut rnd = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            const N: u64 = 1 << 20;
            let (mut for_us, mut in_prefix) = (0, 0);
            let t0 = h.now;
            for i in 0..N {
                let r = rnd();
                let role = if i % 2 == 0 { Role::Access } else { Role::Core };
                let mut mac: MacAddr = r.to_be_bytes()[..6].try_into().unwrap();
                mac[0] &= 0xfe;
                let iid = u128::from(rnd());
                let src = match (role, r >> 60) {
                    (Role::Access, 0) => {
                        in_prefix += 1;
                        std::net::Ipv6Addr::from(u128::from(a("2001:db8:3::")) | iid)
                    }
                    (_, k) if k < 8 => std::net::Ipv6Addr::from(u128::from(a("fe80::")) | iid),
                    _ => std::net::Ipv6Addr::from((0x2001_0db8_0077u128 << 80) | (u128::from(rnd() & 0xffff) << 64) | iid),
                };
                let mine = if role == Role::Access { a(MAG_LL) } else { a(PROXY_COA) };
                let target = if r & 1 == 0 {
                    for_us += 1;
                    mine
                } else {
                    std::net::Ipv6Addr::from(u128::from(mine) ^ u128::from(rnd()))
                };
                let our_mac = if role == Role::Access { ACCESS_MAC } else { CORE_MAC };
                h.now = t0 + std::time::Duration::from_micros(i);
                h.punt(Punt::NeighborDiscovery, role, &frame(our_mac, mac, &neighbor_solicit(src, target, mac)));
                if i % 4096 == 0 {
                    h.plane.tick(h.now, &mut h.out);
                    h.sent();
                }
            }
            h.plane.tick(h.now, &mut h.out);
            h.sent();
            let c = h.plane.links.counters.clone();
            let nd = &h.plane.links.nd;
            assert_eq!(h.topo().neighbors.len(), slots, "{config}");
            assert_eq!((nd.held(), nd.waiting(), nd.resolutions()), (0, 0, 0));
            assert_eq!(c.nd_received.get(), N);
            assert_eq!(c.na_sent.get() + c.na_rate_limited.get(), for_us);
            // A burst of 1000, then 1000/s over the ~1.05 s of the flood.
            let elapsed = (h.now - t0).as_secs_f64();
            assert!(c.na_sent.get() <= 1000 + (1000.0 * elapsed) as u64 + 1, "{} NAs", c.na_sent.get());
            assert!(c.na_sent.get() >= 1000, "{} NAs", c.na_sent.get());
            let states: u64 = c.neighbor_states.iter().map(|g| g.get()).sum();
            assert!(states <= slots as u64);
            if config == TUNNEL {
                // Only MN2's slot (sources in its prefix) took addresses: one entry, STALE.
                assert!(in_prefix > 1000);
                assert!(h.out.learned.iter().all(|(s, _)| *s == 0));
                assert_eq!(c.neighbors_learned.get(), in_prefix);
                assert_eq!(nd.state(0), State::Stale);
                assert_eq!(nd.state(h.topo().core_slot(0)), State::Absent);
            } else {
                // PMIPv6: the node's slot is its policy MAC, which ND does not change, and
                // no unknown MAC gets state in the registrations.
                assert!(h.out.learned.is_empty());
                assert_eq!(c.nd_refused(NdRefused::Permanent).get(), 0, "no policy node has a prefix yet");
                let r = h.plane.registrations.as_ref().unwrap();
                assert_eq!(r.counters.unknown_mac.get(), N / 2);
                assert!(r.link_local_len() <= slots);
            }
        }
    }
}
