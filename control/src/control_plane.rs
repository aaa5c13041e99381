//! The control plane as one sans-IO type: it takes a punted frame (with the reason the worker
//! punted it, the role of its port and the time) or a timer tick, and answers through an
//! [`Egress`]: frames to send with their port role, neighbor and binding table changes. No
//! I/O, no clock: `control_core` drives it with mbufs, the unit tests with `Vec<u8>`.

use crate::agent::Agent;
use crate::egress::Egress;
use crate::links::{self, Links};
use crate::registration::Registrations;
use dataplane::counters::{Punt, Role};
use dataplane::forward::{PacketBuf, Topology};
use std::sync::Arc;
use std::time::Duration;
use wire::ethernet;
use wire::icmpv6::ErrorKind;

pub struct ControlPlane<B> {
    pub links: Links<B>,
    pub agent: Agent,
    /// The MAG's PMIPv6 signaling; `None` in static mode.
    pub registrations: Option<Registrations>,
}

impl<B: PacketBuf> ControlPlane<B> {
    pub fn new(topo: Arc<Topology>, settings: links::Settings, agent: Agent, registrations: Option<Registrations>) -> Self {
        ControlPlane { links: Links::new(topo, settings), agent, registrations }
    }

    pub fn topo(&self) -> &Arc<Topology> {
        self.links.topo()
    }

    /// A frame the worker punted for `why`; `role` is the port it arrived on, or for
    /// `Unresolved` the port it is to leave by.
    pub fn on_packet(&mut self, now: Duration, why: Option<Punt>, role: Role, frame: B, out: &mut impl Egress<Buf = B>) {
        let ip = frame.data().get(ethernet::HEADER_LEN..).unwrap_or(&[]);
        match why {
            Some(why @ (Punt::NeighborDiscovery | Punt::ForUs)) => {
                if let Some(r) = &mut self.registrations {
                    // A PBA (or another Mobility Header) for the Proxy-CoA.
                    if why == Punt::ForUs && role == Role::Core && r.on_core_mobility(now, ip, &mut self.links, &mut self.agent, out) {
                        return;
                    }
                }
                let heard = self.links.on_local(now, frame.data(), role, out);
                if let (Some(h), Some(r)) = (heard, &mut self.registrations) {
                    r.on_heard(now, h, &mut self.links, &mut self.agent, out);
                }
            }
            Some(Punt::Attach) => match &mut self.registrations {
                Some(r) => r.on_attach(now, frame.data(), &mut self.links, &mut self.agent, out),
                None => self.links.counters.unhandled.inc(),
            },
            // RFC 4443 §3.3 code 0: hop limit exceeded in transit.
            Some(Punt::HopLimit) => self.links.icmp_error(now, frame.data(), role, ErrorKind::TimeExceeded(0), out),
            Some(why @ (Punt::TooBig | Punt::TooBigOptimized)) => {
                let mtu = self.links.too_big_mtu(role, why);
                self.links.icmp_error(now, frame.data(), role, ErrorKind::PacketTooBig { mtu }, out)
            }
            Some(Punt::Unresolved) => self.links.hold(now, frame, role, out),
            Some(Punt::Mobility | Punt::MobilityFromPeer) => self.agent.on_mobility(now, ip, &mut self.links, out),
            Some(Punt::HomeAddressUnverified) => self.agent.on_unverified_home_address(now, ip, &mut self.links, out),
            // PMIPv6 mode only; the MAG's registration (issue 10) will take it.
            None => self.links.counters.unhandled.inc(),
        }
    }

    /// Timers: the agent's (nonces, binding expiry), then neighbor resolution.
    pub fn tick(&mut self, now: Duration, out: &mut impl Egress<Buf = B>) {
        self.agent.tick(now, &mut self.links, out);
        if let Some(r) = &mut self.registrations {
            r.tick(now, &mut self.links, &mut self.agent, out);
        }
        self.links.tick(now, out);
    }

    /// Deletes every binding whose attached address belongs to one of attached nodes
    /// `nodes` (a node detached, or its agent turned off).
    pub fn purge_nodes(&mut self, now: Duration, nodes: &[u32], out: &mut impl Egress<Buf = B>) {
        let topo = self.links.topo().clone();
        self.agent.purge_attached(now, |a| topo.attached.lookup_any(&a.octets()).is_some_and(|i| nodes.contains(&i)), &mut self.links, out);
    }

    /// A reload removed attached nodes `nodes` from the configuration: with PMIPv6, each is
    /// deregistered; in either mode its Route Optimization bindings go.
    pub fn remove_nodes(&mut self, now: Duration, nodes: &[u32], out: &mut impl Egress<Buf = B>) {
        if let Some(r) = &mut self.registrations {
            let topo = self.links.topo().clone();
            for mac in nodes.iter().filter_map(|&i| topo.attached.node(i).and_then(|n| n.mac)) {
                r.remove_policy(now, &mac, &mut self.links, &mut self.agent, out);
            }
        }
        self.purge_nodes(now, nodes, out);
    }

    /// Drops everything held (shutdown).
    pub fn drain(&mut self) {
        self.links.drain();
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use dataplane::counters::Role;
    use wire::testpkt::udp_packet;

    #[test]
    fn a_packet_with_no_punt_reason_is_counted_unhandled() {
        let mut h = Harness::new(TUNNEL);
        let f = from_mn2(&udp_packet(a(MN2), a(HOME), 1, 1, 2, b"x"));
        h.plane.on_packet(h.now, None, Role::Access, VecBuf::new(&f), &mut h.out);
        assert!(h.sent().is_empty());
        assert_eq!(h.plane.links.counters.unhandled.get(), 1);
    }
}
