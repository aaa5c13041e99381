//! What the binary prints: testpmd-like port statistics and the final counters, in the
//! Prometheus text format so scripts and tests can read them.

use crate::control_core::ControlCounters;
use dataplane::counters::{self, Drop, Punt, WorkerCounters, ROLES};
use dataplane::mempool::Mempool;
use dataplane::port::Port;
use std::sync::Arc;

pub fn print_port_stats(ports: &[&Port; 2], workers: &[Arc<WorkerCounters>]) {
    let w = || workers.iter().map(|c| &**c);
    for (role, p) in ports.iter().enumerate() {
        let s = p.stats();
        let drops: u64 = Drop::ALL.iter().map(|d| counters::sum(w(), |c| &c.drops[role][*d as usize])).sum();
        println!("  ######## NIC statistics for port {} ({}, {}) ########", p.id, ROLES[role], p.name);
        println!("  RX-packets: {:<12} RX-missed: {:<12} RX-bytes: {}", s.ipackets, s.imissed, s.ibytes);
        println!("  RX-errors:  {:<12} RX-nombuf: {:<12} dropped:  {}", s.ierrors, s.rx_nombuf, drops);
        println!("  TX-packets: {:<12} TX-errors: {:<12} TX-bytes: {}", s.opackets, s.oerrors, s.obytes);
    }
}

/// Final counters, one `name{labels} value` line each (only non-zero drop reasons).
pub fn print_counters(workers: &[Arc<WorkerCounters>], ctl: &ControlCounters, pool: &Mempool) {
    let w = || workers.iter().map(|c| &**c);
    for (role, name) in ROLES.iter().enumerate() {
        println!("roagent_rx_packets_total{{port=\"{name}\"}} {}", counters::sum(w(), |c| &c.rx_packets[role]));
        println!("roagent_tx_packets_total{{port=\"{name}\"}} {}", counters::sum(w(), |c| &c.tx_packets[role]));
        for d in Drop::ALL {
            let v = counters::sum(w(), |c| &c.drops[role][*d as usize]);
            if v > 0 {
                println!("roagent_dropped_packets_total{{port=\"{name}\",reason=\"{}\"}} {v}", d.label());
            }
        }
    }
    for p in Punt::ALL {
        println!("roagent_punted_packets_total{{reason=\"{}\"}} {}", p.label(), counters::sum(w(), |c| &c.punts[*p as usize]));
    }
    println!("roagent_tunnel_encapsulations_total {}", counters::sum(w(), |c| &c.encapsulated));
    println!("roagent_tunnel_decapsulations_total {}", counters::sum(w(), |c| &c.decapsulated));
    println!("roagent_injected_packets_total {}", counters::sum(w(), |c| &c.injected));
    let c = ctl;
    for (n, v) in [
        ("nd_received", &c.nd_received),
        ("nd_invalid", &c.nd_invalid),
        ("neighbor_advertisements_sent", &c.na_sent),
        ("neighbor_solicitations_sent", &c.ns_sent),
        ("neighbors_learned", &c.neighbors_learned),
        ("echo_replies_sent", &c.echo_replies),
        ("time_exceeded_sent", &c.time_exceeded_sent),
        ("packet_too_big_sent", &c.packet_too_big_sent),
        ("icmp_rate_limited", &c.icmp_rate_limited),
        ("icmp_not_allowed", &c.icmp_not_allowed),
        ("held_packets", &c.held),
        ("held_packets_sent", &c.held_sent),
        ("held_packets_dropped", &c.held_dropped),
        ("inject_ring_full", &c.inject_full),
        ("mbuf_alloc_failed", &c.no_mbuf),
        ("control_unhandled", &c.unhandled),
    ] {
        println!("roagent_{n}_total {}", v.get());
    }
    println!("roagent_mempool_in_use {}", pool.in_use());
}
