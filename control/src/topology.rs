//! The configuration turned into the dataplane's [`Topology`]: attached nodes and their
//! prefixes, LMAs and core next hops, the neighbor slots.

use crate::config::{Config, Mode as CfgMode, Signaling as CfgSignaling};
use dataplane::attached::{AttachedNode, AttachedTable};
use dataplane::forward::{Mode, OwnAddresses, Signaling, Topology};
use dataplane::neighbor::NeighborCache;
use std::sync::atomic::AtomicU32;
use wire::ethernet::MacAddr;

/// The topology the workers and the control plane share, from the configuration and the
/// ports' MAC addresses. Configured MACs are known neighbors from the start.
pub fn build(cfg: &Config, access_mac: MacAddr, core_mac: MacAddr) -> Topology {
    let signaling = match cfg.mag.signaling {
        CfgSignaling::Static => Signaling::Static,
        CfgSignaling::Pmipv6 => Signaling::Pmipv6,
    };
    let mut attached = AttachedTable::default();
    for n in &cfg.nodes {
        let node = AttachedNode::new(&n.name, cfg.lma_of(n), n.agent);
        match signaling {
            Signaling::Static => {
                let mut prefixes: Vec<_> = n.prefixes.iter().map(|p| (p.addr, p.len)).collect();
                prefixes.extend(n.addresses.iter().map(|a| (*a, 128)));
                attached.add(node, &prefixes)
            }
            // No route before the LMA accepts a registration (RFC 5213 §6.9.1.2): a static
            // prefix is only what the PBU asks for.
            Signaling::Pmipv6 => attached.add(node.with_mac(n.mac.map_or([0; 6], |m| m.0)), &[]),
        };
    }
    if signaling == Signaling::Pmipv6 {
        attached.size_routes();
    }
    let access_mac = cfg.mag.access_mac.map_or(access_mac, |m| m.0);
    let lmas: Vec<_> = cfg.lmas.iter().map(|l| l.address).collect();
    let mut core_next_hops: Vec<_> = cfg.lmas.iter().map(|l| l.next_hop.unwrap_or(l.address)).collect();
    let mut core_macs: Vec<_> = cfg.lmas.iter().map(|l| l.mac).collect();
    if let Some(nh) = cfg.mag.routed_next_hop {
        core_next_hops.push(nh);
        core_macs.push(cfg.mag.routed_next_hop_mac);
    }
    let neighbors = NeighborCache::new(attached.len() + core_next_hops.len());
    for (i, n) in cfg.nodes.iter().enumerate() {
        if let Some(m) = n.mac {
            neighbors.learn(i, m.0);
        }
    }
    for (i, m) in core_macs.iter().enumerate() {
        if let Some(m) = m {
            neighbors.learn(attached.len() + i, m.0);
        }
    }
    Topology {
        mode: match cfg.mag.mode {
            CfgMode::Tunnel => Mode::Tunnel,
            CfgMode::Routed => Mode::Routed,
        },
        signaling,
        clock: AtomicU32::new(0),
        own: OwnAddresses::new(cfg.mag.proxy_coa, cfg.mag.access_link_local),
        access_mac,
        core_mac,
        access_mtu: cfg.ports.access.mtu as usize,
        core_mtu: cfg.ports.core.mtu as usize,
        lmas,
        core_next_hops,
        tunnel_hop_limit: cfg.mag.tunnel_hop_limit,
        attached,
        neighbors,
    }
}
