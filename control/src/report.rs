//! What the binary prints: testpmd-like port statistics and the final counters, in the
//! Prometheus text format so scripts and tests can read them.

use crate::agent::{AgentCounters, MH_TYPES};
use crate::control_core::ControlCounters;
use reflector::DropReason;
use dataplane::counters::{self, Drop, Punt, WorkerCounters, ROLES};
use dataplane::mempool::Mempool;
use dataplane::port::Port;
use std::sync::Arc;

/// Prints a line on stdout. A closed stdout (a reader that went away) must not stop the
/// appliance, so write errors are ignored, unlike `println!`, which panics on them.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

pub fn print_port_stats(ports: &[&Port; 2], workers: &[Arc<WorkerCounters>]) {
    let w = || workers.iter().map(|c| &**c);
    for (role, p) in ports.iter().enumerate() {
        let s = p.stats();
        let drops: u64 = Drop::ALL.iter().map(|d| counters::sum(w(), |c| &c.drops[role][*d as usize])).sum();
        out!("  ######## NIC statistics for port {} ({}, {}) ########", p.id, ROLES[role], p.name);
        out!("  RX-packets: {:<12} RX-missed: {:<12} RX-bytes: {}", s.ipackets, s.imissed, s.ibytes);
        out!("  RX-errors:  {:<12} RX-nombuf: {:<12} dropped:  {}", s.ierrors, s.rx_nombuf, drops);
        out!("  TX-packets: {:<12} TX-errors: {:<12} TX-bytes: {}", s.opackets, s.oerrors, s.obytes);
    }
}

/// Final counters, one `name{labels} value` line each (only non-zero drop reasons).
pub fn print_counters(workers: &[Arc<WorkerCounters>], ctl: &ControlCounters, agent: &AgentCounters, pool: &Mempool) {
    let w = || workers.iter().map(|c| &**c);
    for (role, name) in ROLES.iter().enumerate() {
        out!("roagent_rx_packets_total{{port=\"{name}\"}} {}", counters::sum(w(), |c| &c.rx_packets[role]));
        out!("roagent_tx_packets_total{{port=\"{name}\"}} {}", counters::sum(w(), |c| &c.tx_packets[role]));
        for d in Drop::ALL {
            let v = counters::sum(w(), |c| &c.drops[role][*d as usize]);
            if v > 0 {
                out!("roagent_dropped_packets_total{{port=\"{name}\",reason=\"{}\"}} {v}", d.label());
            }
        }
    }
    for p in Punt::ALL {
        out!("roagent_punted_packets_total{{reason=\"{}\"}} {}", p.label(), counters::sum(w(), |c| &c.punts[*p as usize]));
    }
    out!("roagent_tunnel_encapsulations_total {}", counters::sum(w(), |c| &c.encapsulated));
    out!("roagent_tunnel_decapsulations_total {}", counters::sum(w(), |c| &c.decapsulated));
    out!("roagent_injected_packets_total {}", counters::sum(w(), |c| &c.injected));
    out!("roagent_rh2_inserted_total {}", counters::sum(w(), |c| &c.rh2_inserted));
    out!("roagent_rh2_refused_total {}", counters::sum(w(), |c| &c.rh2_refused));
    out!("roagent_hao_rewritten_total {}", counters::sum(w(), |c| &c.hao_rewritten));
    let a = agent;
    for (i, t) in MH_TYPES.iter().enumerate() {
        out!("roagent_signaling_received_total{{type=\"{t}\"}} {}", a.received[i].get());
    }
    for (i, t) in MH_TYPES.iter().enumerate() {
        out!("roagent_signaling_sent_total{{type=\"{t}\"}} {}", a.sent[i].get());
    }
    for (status, c) in a.ba_status.iter().enumerate() {
        if c.get() > 0 {
            out!("roagent_binding_acks_sent_total{{status=\"{status}\"}} {}", c.get());
        }
    }
    for status in 1..=2 {
        out!("roagent_binding_errors_sent_total{{status=\"{status}\"}} {}", a.be_status[status].get());
    }
    out!("roagent_parameter_problems_sent_total {}", a.parameter_problems.get());
    for (i, d) in DropReason::ALL.iter().enumerate() {
        if a.dropped[i].get() > 0 {
            out!("roagent_signaling_dropped_total{{reason=\"{}\"}} {}", d.name(), a.dropped[i].get());
        }
    }
    out!("roagent_bindings {}", a.bindings.get());
    out!("roagent_bindings_created_total {}", a.bindings_created.get());
    out!("roagent_bindings_refreshed_total {}", a.bindings_refreshed.get());
    for (i, r) in ["deregistered", "expired", "detached"].iter().enumerate() {
        out!("roagent_bindings_deleted_total{{reason=\"{r}\"}} {}", a.bindings_deleted[i].get());
    }
    out!("roagent_binding_table_full_total {}", a.table_full.get());
    out!("roagent_home_address_unverified_total {}", a.hao_unverified.get());
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
        out!("roagent_{n}_total {}", v.get());
    }
    out!("roagent_mempool_in_use {}", pool.in_use());
}
