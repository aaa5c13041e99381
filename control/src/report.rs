//! What the binary prints on stdout: testpmd-like port statistics, and at exit the final
//! metrics (the same text `/metrics` serves).

use dataplane::counters::{self, Drop, Role, WorkerCounters};
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
    for (role, p) in Role::ALL.into_iter().zip(ports.iter()) {
        let s = p.stats();
        let drops: u64 = Drop::ALL.iter().map(|d| counters::sum(w(), |c| &c.drops[role][*d as usize])).sum();
        out!("  ######## NIC statistics for port {} ({}, {}) ########", p.id, role, p.name);
        out!("  RX-packets: {:<12} RX-missed: {:<12} RX-bytes: {}", s.ipackets, s.imissed, s.ibytes);
        out!("  RX-errors:  {:<12} RX-nombuf: {:<12} dropped:  {}", s.ierrors, s.rx_nombuf, drops);
        out!("  TX-packets: {:<12} TX-errors: {:<12} TX-bytes: {}", s.opackets, s.oerrors, s.obytes);
    }
}

/// Prints text (the final metrics) on stdout.
pub fn print_text(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
