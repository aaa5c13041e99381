//! Issue 11: a Neighbor Solicitation flood from random spoofed sources on both ports, through
//! the real binary on `net_pcap`. Forwarding of the legitimate packets interleaved with it
//! goes on, no neighbor state appears beyond the configured slots, the NAs are
//! rate-limited, and roagent's resident memory stays flat: the figures come from its own
//! log (before the workers read a packet, at the end, the peak) and from /proc/<pid>/status
//! sampled while it runs.
//!
//! 2^18 solicitations by default; `ND_FLOOD_LOG2=20` for the 2^20 (by hand).

use e2e::packets::*;
use e2e::pcap;
use e2e::run::{eal_args, roagent_bin, Counters, Scratch, ACCESS_MAC, CORE_MAC};
use std::net::Ipv6Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wire::ipv6;

const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
const LMA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x02];

use e2e::run::STATIC_MN2 as CONFIG;

/// The default binding table (1M bindings) has 37.8 MB of buckets that the workers' lookups
/// of random (destination, source) keys fault in page by page without hugepages: bounded
/// by its configured size, not by the flood, but it would hide what the flood itself costs.
/// `ND_FLOOD_BINDINGS` sets it (e.g. 1048576 for the default's figures).
fn bindings() -> String {
    format!("[reflector]\nmax_bindings = {}\n", std::env::var("ND_FLOOD_BINDINGS").unwrap_or_else(|_| "1024".into()))
}

/// A legitimate packet every this many frames of each port.
const EVERY: usize = 256;
/// Frames from MN2's address but another MAC (forwarded, not learned).
const SPOOFED_MN2: usize = 16;

struct Flood {
    access: Vec<Vec<u8>>,
    core: Vec<Vec<u8>>,
    solicitations: u64,
    /// Access-link solicitations whose source is in MN2's prefix.
    in_prefix: u64,
    legit_up: usize,
    legit_down: usize,
}

fn flood(n: u64) -> Flood {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mn2, cn, coa, lma) = (a("2001:db8:3::300"), a("2001:db8:9::9"), a("2001:db8:c0::1"), a("2001:db8:c0::2"));
    let mut f = Flood { access: Vec::new(), core: Vec::new(), solicitations: n, in_prefix: 0, legit_up: 0, legit_down: 0 };
    for i in 0..n {
        let r = rnd();
        let access = i % 2 == 0;
        let mut mac: [u8; 6] = r.to_be_bytes()[..6].try_into().unwrap();
        mac[0] &= 0xfe;
        let iid = u128::from(rnd());
        let src = match r >> 60 {
            0 if access => {
                f.in_prefix += 1;
                Ipv6Addr::from(u128::from(mn2) & !u128::from(u64::MAX) | iid)
            }
            k if k < 8 => Ipv6Addr::from(0xfe80u128 << 112 | iid),
            _ => Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(rnd() as u32) << 64) | iid),
        };
        let mine = if access { a("fe80::1") } else { coa };
        let target = if r & 1 == 0 { mine } else { Ipv6Addr::from(u128::from(mine) ^ u128::from(rnd())) };
        let dst_mac = wire::ethernet::ipv6_multicast_mac(&ipv6::solicited_node(&target));
        let frame = ipv6_frame(dst_mac, mac, &neighbor_solicit(src, target, mac));
        let (port, legit) = if access { (&mut f.access, &mut f.legit_up) } else { (&mut f.core, &mut f.legit_down) };
        port.push(frame);
        if port.len() % EVERY == 0 {
            *legit += 1;
            let p = if access {
                ipv6_frame(ACCESS_MAC, MN2_MAC, &udp_packet(mn2, cn, 64, 1000, 2000, b"legit uplink"))
            } else {
                ipv6_frame(CORE_MAC, LMA_MAC, &tunneled(lma, coa, &udp_packet(cn, mn2, 64, 2000, 1000, b"legit downlink")))
            };
            port.push(p);
        }
    }
    for _ in 0..SPOOFED_MN2 {
        f.access.push(ipv6_frame(ACCESS_MAC, [0x02, 0xee, 0, 0, 0, 1], &udp_packet(mn2, cn, 64, 1000, 2000, b"other mac")));
    }
    f
}

/// `... <prefix> N kB` in roagent's log.
fn logged_kb(log: &str, prefix: &str) -> u64 {
    let at = log.find(prefix).unwrap_or_else(|| panic!("{prefix:?} not in the log:\n{log}")) + prefix.len();
    log[at..].split_whitespace().next().unwrap().parse().unwrap()
}

fn count(frames: &[Vec<u8>], marker: &[u8]) -> usize {
    frames.iter().filter(|f| f.windows(marker.len()).any(|w| w == marker)).count()
}

#[test]
fn a_solicitation_flood_from_spoofed_sources_leaves_memory_and_tables_flat() {
    let log2: u32 = std::env::var("ND_FLOOD_LOG2").ok().and_then(|v| v.parse().ok()).unwrap_or(18);
    let seconds: f64 = if log2 > 18 { 30.0 } else { 10.0 };
    let f = flood(1 << log2);
    let scratch = Scratch::new("ndflood");
    let d = &scratch.0;
    pcap::write(&d.join("access_in.pcap"), &f.access).unwrap();
    pcap::write(&d.join("core_in.pcap"), &f.core).unwrap();
    let cfg = format!(
        "[eal]\nargs = {}\n[metrics]\naddress = \"\"\n[ports.access]\ndevice = \"net_pcap0,rx_pcap={dir}/access_in.pcap,tx_pcap={dir}/access_out.pcap\"\n[ports.core]\ndevice = \"net_pcap1,rx_pcap={dir}/core_in.pcap,tx_pcap={dir}/core_out.pcap\"\n{CONFIG}{bindings}",
        eal_args(&format!("ro{}ndflood", std::process::id())),
        dir = d.display(),
        bindings = bindings()
    );
    std::fs::write(d.join("roagent.toml"), &cfg).unwrap();
    let started = Instant::now();
    let child = Command::new(roagent_bin())
        .args(["run", "--config"])
        .arg(d.join("roagent.toml"))
        .args(["--duration", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roagent runs");
    let mut child = child;
    // The log, line by line with the time each came, to know when forwarding ran.
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr).lines().map_while(Result::ok).map(|l| (Instant::now(), l)).collect::<Vec<_>>()
    });
    let mut samples = Vec::new();
    // Until it exits (a zombie has no VmRSS).
    while let Some(v) = e2e::run::vm_rss_kb(child.id()) {
        samples.push((Instant::now(), v));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let lines = lines.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n");
    let at = |what: &str| lines.iter().find(|(_, l)| l.contains(what)).map(|(t, _)| *t).unwrap_or_else(|| panic!("{what:?} not logged:\n{log}"));
    let (forwarding, stopping) = (at("resident memory before forwarding"), at("stopping"));
    // While the workers ran (start-up and the EAL's cleanup at exit touch memory of their own).
    let samples: Vec<_> = samples.into_iter().filter(|(t, _)| *t > forwarding && *t < stopping).collect();
    assert!(out.status.success(), "roagent failed: {}\n{stdout}\n{log}", out.status);
    let c = Counters::parse(&stdout);
    let (access_out, core_out) = (pcap::read(&d.join("access_out.pcap")).unwrap(), pcap::read(&d.join("core_out.pcap")).unwrap());

    // Every solicitation reached the control core or was dropped at a full punt ring.
    let ring_full = c.get("roagent_dropped_packets_total{reason=\"ring_full\"}");
    assert_eq!(c.get("roagent_punted_packets_total{reason=\"neighbor_discovery\"}"), f.solicitations);
    assert_eq!(c.get("roagent_nd_received_total") + ring_full, f.solicitations);
    // The legitimate traffic went through, the spoofed-MAC frames too but unlearned.
    assert_eq!(count(&core_out, b"legit uplink"), f.legit_up);
    assert_eq!(count(&access_out, b"legit downlink"), f.legit_down);
    assert!(access_out.iter().filter(|p| count(std::slice::from_ref(p), b"legit downlink") == 1).all(|p| p[..6] == MN2_MAC));
    assert_eq!(count(&core_out, b"other mac"), SPOOFED_MN2);
    assert_eq!(c.get("roagent_neighbor_mac_mismatch_total"), SPOOFED_MN2 as u64);
    // No state but the two configured neighbors; nothing learned or held.
    assert_eq!(c.get("roagent_neighbors{state=\"permanent\"}"), 2);
    assert_eq!(c.get("roagent_neighbors"), 2);
    assert_eq!(c.get("roagent_neighbors_learned_total"), 0);
    assert_eq!(c.get("roagent_held_packets_total"), 0);
    let refused = c.get("roagent_nd_refused_total{reason=\"permanent\"}");
    assert!(refused > 0 && refused <= f.in_prefix, "{refused} of {} spoofed sources in MN2's prefix refused", f.in_prefix);
    // Neighbor Advertisements: a burst of 1000, then 1000/s.
    let na = c.get("roagent_neighbor_advertisements_sent_total");
    let limited = c.get("roagent_rate_limited_total{kind=\"neighbor_advertisement\"}");
    let nas = access_out.iter().chain(&core_out).filter(|p| p.get(14 + 40) == Some(&136)).count() as u64;
    assert_eq!(nas, na);
    assert!(na <= 1000 + (1000.0 * seconds) as u64, "{na} NAs in {seconds} s");
    assert!(na + limited <= c.get("roagent_nd_received_total"));
    assert_eq!(c.get("roagent_mbuf_alloc_failed_total"), 0);

    // Memory: before any packet, at the end, the peak; and what /proc showed meanwhile.
    let before = logged_kb(&log, "resident memory before forwarding:");
    let end = logged_kb(&log, "resident memory at the end:");
    let peak = logged_kb(&log, "at the peak:");
    let sampled = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let first = samples.first().map_or(0, |s| s.1);
    eprintln!(
        "2^{log2} NS ({} in, {} reached the control core, {ring_full} dropped at the punt ring, {na} NAs, {limited} rate-limited): VmRSS {before} kB before forwarding, {end} kB at the end, VmHWM {peak} kB; {} samples by the test while forwarding, first {first} kB, max {sampled} kB; {:.1} s",
        f.solicitations,
        c.get("roagent_nd_received_total"),
        samples.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(samples.len() > 10, "{} samples", samples.len());
    assert!(end <= before + 1024, "RSS grew from {before} kB to {end} kB");
    assert!(peak <= before + 1024, "RSS peaked at {peak} kB from {before} kB");
    assert!(sampled <= before + 1024, "a sample showed {sampled} kB from {before} kB");
}
