//! Soak (issue 11): the real `roagent` in PMIPv6 mode on `net_af_packet` for `SOAK_MINUTES`
//! (default 1) with mixed traffic, binding churn, a SIGHUP reload every minute and a scrape
//! of `/metrics` every 10 s; run by `scripts/soak [MINUTES]`, `#[ignore]`d otherwise.
//!
//!   MN2 (Linux, SLAAC) ── veth ── roagent (MAG + agent) ── veth ── LMA ns: lma-peer (LMA,
//!                                                                   tunnel end) and this
//!                                                                   test (MN1 ×4, tunnel)
//!
//! Every 10 s period: 5 s of traffic, then a quiet moment and a check.
//! - Traffic: MN2 pings the correspondent behind the LMA through the tunnel and MN1's home
//!   address (route-optimized while MN1 has a binding: RH2 out, Home Address option back;
//!   through the tunnel to the home address while it has none), 100 echoes a second each.
//!   Four MN1s (home 2001:db8:1::100+i, care-of 2001:db8:2::200+i) each run return
//!   routability and a Binding Update every 4 s, staggered: new sequence numbers, so bindings
//!   are created and refreshed, and every 4th cycle a deregistration (lifetime 0) deletes
//!   the binding: the churn. lma-peer grants 20 s registrations, so roagent refreshes MN2's
//!   PMIPv6 registration every few seconds too.
//! - Quiet: the pings end, no MN1 starts a cycle and the ones under way finish, 2 s pass;
//!   then a scrape, VmRSS and the check below.
//! - Every minute, during the traffic, a SIGHUP reload turns a second node's agent off and a
//!   second one turns it back on; both must show in the log ("node mn3: route optimization
//!   agent off|on").
//!
//! Checks (each a failure of the test): every `_total` series never goes backwards (a series
//! that disappears counts as going to 0); after the warm-up (the first 20 % of the run, at
//! least one check), VmRSS stays within 1 % of its value at the end of the warm-up;
//! `roagent_mempool_in_use` at every quiet moment equals its value at the first one; no
//! drop-like counter (`is_drop_like`) moves after set-up, except access `unroutable` by at most
//! the MLD reports MN2 sent (`MN2_MULTICAST_DROPS`); no ping lost or answered with an ICMPv6
//! error; every RR/BU cycle answered with status 0; every reload applied; roagent exits 0
//! with its final report.
//!
//! `SOAK_FAULT` makes a check fail on purpose, to show it can: `counter` (a fake backwards
//! value), `rss` (a 0 % bound), `mempool` (a baseline off by one), `drop` (MN2 pings ff02::1,
//! with no allowance for MN2's multicast), `reload` (waits for a log line that never comes);
//! several at once, comma-separated.

use e2e::mn1::Mn1;
use e2e::netns::{exec, http_get, ping, skip_reason, NsProcess, Topology};
use e2e::packets::ip6;
use e2e::run::{roagent_bin, Scratch};
use e2e::tunnel_end::TunnelEnd;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::{checksum, ext, icmpv6, ipv6};

const CORRESPONDENT: &str = "2001:db8:9::9";
const PROXY_COA: &str = "2001:db8:c0::1";
const LMA: &str = "2001:db8:c0::2";
const HNP_START: &str = "2001:db8:20:1:";
const MN_ID: &str = "mn2@roagent.test";
const METRICS: &str = "127.0.0.1:9477";
const PERIOD: Duration = Duration::from_secs(10);
/// Traffic per period: 500 echoes 10 ms apart to each destination.
const ECHOES: u32 = 500;
const MN1S: usize = 4;
const CYCLE_EVERY: Duration = Duration::from_secs(4);
const RSS_GROWTH_MAX: f64 = 0.01;

/// The one drop counter that may move: MN2's kernel sends MLD reports (to ff02::16, after
/// its addresses change), which roagent does not route (multicast that is not ND). It may move
/// by at most the number of such frames MN2 sent, counted from a capture on MN2's link.
const MN2_MULTICAST_DROPS: &str = "roagent_dropped_packets_total{port=\"access\",queue=\"0\",reason=\"unroutable\"}";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Counters that say something was lost, refused or failed.
fn is_drop_like(series: &str) -> bool {
    let name = series.split('{').next().unwrap_or(series);
    matches!(
        name,
        "roagent_dropped_packets_total"
            | "roagent_signaling_dropped_total"
            | "roagent_pmip_dropped_total"
            | "roagent_port_driver_rx_missed_total"
            | "roagent_port_driver_rx_errors_total"
            | "roagent_port_driver_rx_nombuf_total"
            | "roagent_port_driver_tx_errors_total"
            | "roagent_inject_ring_full_total"
            | "roagent_held_packets_dropped_total"
            | "roagent_rh2_refused_total"
            | "roagent_binding_errors_sent_total"
            | "roagent_registration_failures_total"
            | "roagent_http_refused_total"
            | "roagent_rate_limited_total"
            | "roagent_icmpv6_errors_sent_total"
            | "roagent_home_address_unverified_total"
            | "roagent_binding_table_full_total"
            | "roagent_routes_refused_total"
            | "roagent_pbu_not_sent_total"
    ) || (name == "roagent_binding_acks_sent_total" && !series.contains("status=\"0\""))
        || (name == "roagent_pbu_sent_total" && series.contains("kind=\"retransmit\""))
}

/// Prometheus text → series (`name{labels}`) → value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("roagent_"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn counters(m: &BTreeMap<String, f64>) -> impl Iterator<Item = (&String, &f64)> {
    m.iter().filter(|(k, _)| k.split('{').next().is_some_and(|n| n.ends_with("_total")))
}

/// Every counter of `prev` that is lower (or gone) in `now`.
fn backwards(prev: &BTreeMap<String, f64>, now: &BTreeMap<String, f64>) -> Vec<String> {
    counters(prev)
        .filter_map(|(k, v)| {
            let n = now.get(k).copied().unwrap_or(0.0);
            (n < *v).then(|| format!("{k}: {v} -> {n}"))
        })
        .collect()
}

fn config(prefix: &str, mac: &str, mn3_agent: bool) -> String {
    format!(
        r#"[eal]
args = ["-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", "{prefix}soak", "--log-level", "lib.eal:warning"]
[ports.access]
device = "net_af_packet0,iface=mag-a"
[ports.core]
device = "net_af_packet1,iface=mag-c"
[mag]
proxy_coa = "{PROXY_COA}"
access_link_local = "fe80::1"
[[lma]]
address = "{LMA}"
[[node]]
name = "mn2"
mn_id = "{MN_ID}"
mac = "{mac}"
[[node]]                       # never attaches; its agent flag is what the reloads toggle
name = "mn3"
mn_id = "mn3@roagent.test"
mac = "02:00:00:00:03:33"
agent = {mn3_agent}
[pmipv6]
lifetime = 60
[reflector]
max_bindings = 1024
[metrics]
address = "{METRICS}"
"#
    )
}

/// One MN1's return routability and Binding Update cycle.
enum Cycle {
    Idle { next: Instant },
    ReturnRoutability { since: Instant, tries: u32 },
    Binding { seq: u16, dereg: bool, since: Instant },
}

struct Peer {
    mn1: Mn1,
    cycle: Cycle,
    seq: u16,
    cycles: u64,
    /// MN1's Binding Update List entry for MN2 (RFC 6275 §11.1): set by a BA with status 0,
    /// cleared when MN1 sends a deregistration. Only then does MN1 send route-optimized.
    bound: bool,
}

#[derive(Default)]
struct Mn1Stats {
    cycles_ok: AtomicU64,
    deregistrations: AtomicU64,
    failures: Mutex<Vec<String>>,
    retransmissions: AtomicU64,
    echoes_optimized: AtomicU64,
    echoes_plain: AtomicU64,
    busy: AtomicUsize,
}

/// The MN1s at the LMA: answer MN2's echoes to MN1's home address and run the RR/BU cycles
/// (not starting new ones while `quiet`), until `stop`.
fn run_mn1s(tun: TunnelEnd, mut peers: Vec<Peer>, quiet: Arc<AtomicBool>, stop: Arc<AtomicBool>, st: Arc<Mn1Stats>) {
    let mag = a(PROXY_COA);
    let fail = |st: &Mn1Stats, why: String| st.failures.lock().unwrap().push(why);
    while !stop.load(Relaxed) {
        while let Some((_, ip)) = tun.recv(Duration::from_millis(10)) {
            let Ok(h) = ipv6::Header::new_checked(&ip[..]) else { continue };
            let Ok(ch) = ext::walk(&ip) else { continue };
            let final_dst = ch.routing.and_then(|r| r.home_address).unwrap_or(h.dst_addr());
            let Some(p) = peers.iter_mut().find(|p| final_dst == p.mn1.home || final_dst == p.mn1.care_of) else { continue };
            if ch.upper_proto == ipv6::proto::ICMPV6 && ip.get(ch.upper_offset) == Some(&icmpv6::ECHO_REQUEST) {
                let icmp = &ip[ch.upper_offset..h.total_len()];
                let (id, seq) = (u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]]));
                if p.bound {
                    st.echoes_optimized.fetch_add(1, Relaxed);
                    tun.send(&p.mn1.echo_reply_with_hao(id, seq, &icmp[8..]), &mag).unwrap();
                } else {
                    // No binding (or one MN1 is giving up): the reply takes the home agent's path,
                    // as does a request that came before the binding or after MN1 deregistered.
                    st.echoes_plain.fetch_add(1, Relaxed);
                    let mut m = vec![icmpv6::ECHO_REPLY, 0, 0, 0];
                    m.extend_from_slice(&icmp[4..]);
                    let c = checksum::upper_layer(&p.mn1.home, &h.src_addr(), ipv6::proto::ICMPV6, &m);
                    m[2..4].copy_from_slice(&c.to_be_bytes());
                    tun.send(&ip6(p.mn1.home, h.src_addr(), ipv6::proto::ICMPV6, 64, &m), &mag).unwrap();
                }
                continue;
            }
            match p.cycle {
                Cycle::ReturnRoutability { .. } => {
                    let _ = p.mn1.take_hot(&ip).or_else(|_| p.mn1.take_cot(&ip));
                }
                Cycle::Binding { seq, dereg, .. } => {
                    if let Ok(ba) = p.mn1.take_ba_of(&ip, dereg) {
                        if (ba.status, ba.seq) == (0, seq) {
                            p.bound = !dereg;
                            st.cycles_ok.fetch_add(1, Relaxed);
                            st.deregistrations.fetch_add(u64::from(dereg), Relaxed);
                        } else {
                            fail(&st, format!("MN1 {}: BU {seq} answered with status {} seq {}", p.mn1.home, ba.status, ba.seq));
                        }
                        p.cycle = Cycle::Idle { next: Instant::now() + CYCLE_EVERY };
                        st.busy.fetch_sub(1, Relaxed);
                    }
                }
                Cycle::Idle { .. } => {}
            }
        }
        let now = Instant::now();
        for p in &mut peers {
            match p.cycle {
                Cycle::Idle { next } if now >= next && !quiet.load(Relaxed) => {
                    st.busy.fetch_add(1, Relaxed);
                    p.mn1.home_token = None;
                    p.mn1.care_of_token = None;
                    tun.send(&p.mn1.hoti(), &mag).unwrap();
                    tun.send(&p.mn1.coti(), &mag).unwrap();
                    p.cycle = Cycle::ReturnRoutability { since: now, tries: 1 };
                }
                Cycle::ReturnRoutability { .. } if p.mn1.home_token.is_some() && p.mn1.care_of_token.is_some() => {
                    p.cycles += 1;
                    p.seq = p.seq.wrapping_add(1);
                    // Every 4th cycle deregisters; the others create or refresh the binding.
                    let dereg = p.cycles % 4 == 0;
                    if dereg {
                        p.bound = false;
                    }
                    tun.send(&p.mn1.bu(p.seq, if dereg { 0 } else { 100 }, true), &mag).unwrap();
                    p.cycle = Cycle::Binding { seq: p.seq, dereg, since: now };
                }
                Cycle::ReturnRoutability { since, tries } if now - since >= Duration::from_secs(1) => {
                    if tries >= 5 {
                        fail(&st, format!("MN1 {}: no HoT/CoT after 5 tries", p.mn1.home));
                        p.cycle = Cycle::Idle { next: now + CYCLE_EVERY };
                        st.busy.fetch_sub(1, Relaxed);
                        continue;
                    }
                    st.retransmissions.fetch_add(1, Relaxed);
                    if p.mn1.home_token.is_none() {
                        tun.send(&p.mn1.hoti(), &mag).unwrap();
                    }
                    if p.mn1.care_of_token.is_none() {
                        tun.send(&p.mn1.coti(), &mag).unwrap();
                    }
                    p.cycle = Cycle::ReturnRoutability { since: now, tries: tries + 1 };
                }
                Cycle::Binding { seq, since, .. } if now - since >= Duration::from_secs(5) => {
                    fail(&st, format!("MN1 {}: no Binding Acknowledgement for BU {seq} within 5 s", p.mn1.home));
                    p.cycle = Cycle::Idle { next: now + CYCLE_EVERY };
                    st.busy.fetch_sub(1, Relaxed);
                }
                _ => {}
            }
        }
    }
}

/// MN2's global address in the LMA's pool, once SLAAC has formed one.
fn slaac_address(ns: &str, within: Duration) -> Option<String> {
    let t = Instant::now();
    while t.elapsed() < within {
        let out = exec(ns, "ip", &["-6", "-o", "addr", "show", "dev", "mn2", "scope", "global"]);
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(a) = text.split_whitespace().find(|w| w.starts_with(HNP_START)) {
            return Some(a.split('/').next().unwrap_or(a).to_string());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn spawn_fast_ping(ns: &str, dst: &str) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-6", "-n", "-q", "-c", &ECHOES.to_string(), "-i", "0.01", "-W", "2", dst])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ping in {ns}: {e}"))
}

/// (transmitted, received, ICMPv6 errors) from ping's summary.
fn ping_result(child: Child) -> (u64, u64, u64) {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("packets transmitted")).unwrap_or_else(|| panic!("no ping summary:\n{text}"));
    let num = |w: &str| line.split(", ").find(|p| p.contains(w)).and_then(|p| p.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    (num("transmitted"), num("received"), num("errors"))
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
#[ignore = "the soak: scripts/soak [MINUTES] (root, minutes)"]
fn soak() {
    if let Some(why) = skip_reason() {
        panic!("the soak cannot run here: {why}");
    }
    let minutes: f64 = std::env::var("SOAK_MINUTES").ok().map(|m| m.parse().expect("SOAK_MINUTES is a number")).unwrap_or(1.0);
    // A comma-separated list: each named check is made to fail.
    let faults = std::env::var("SOAK_FAULT").unwrap_or_default();
    let fault = |f: &str| faults.split(',').any(|x| x == f);
    let run_for = Duration::from_secs_f64(minutes * 60.0);
    let warmup = run_for / 5;

    let scratch = Scratch::new("soak");
    let dir = scratch.0.clone();
    eprintln!("soak: {minutes} min (a check every {PERIOD:?}, warm-up {warmup:?}), logs in {}", dir.display());
    let topo = Topology::up(&Topology::unique_prefix("sk"));
    let (mn2, mag, lma) = (topo.mn2(), topo.mag(), topo.lma());
    for (k, v) in [("accept_ra", "1"), ("autoconf", "1"), ("router_solicitation_interval", "1")] {
        assert!(exec(&mn2, "sysctl", &["-qw", &format!("net.ipv6.conf.mn2.{k}={v}")]).status.success());
    }
    assert!(exec(&mn2, "ip", &["-6", "addr", "flush", "dev", "mn2", "scope", "global"]).status.success());
    let mac = String::from_utf8_lossy(&exec(&mn2, "cat", &["/sys/class/net/mn2/address"]).stdout).trim().to_string();
    let cfg = dir.join("roagent.toml");
    std::fs::write(&cfg, config(&topo.prefix, &mac, true)).unwrap();
    // This test is MN1 on its own raw socket; lma-peer writes its copy of MN1's packets into
    // the TUN, where the LMA's kernel would answer each with Destination Unreachable (no
    // route) to MN2. MN1 is not in the LMA's namespace: its prefixes are discarded silently.
    for p in ["2001:db8:1::/64", "2001:db8:2::/64"] {
        assert!(exec(&lma, "ip", &["-6", "route", "add", "blackhole", p]).status.success());
    }
    let safety = (run_for.as_secs() + 180).to_string();
    let mut peer = NsProcess::spawn(
        &lma,
        "lma-peer",
        &dir,
        env!("CARGO_BIN_EXE_lma-peer"),
        &["--tun", "lmatun", "--mag", PROXY_COA, "--lifetime", "20", "--duration", &safety],
    );
    peer.wait_for_stderr("lma-peer: running", Duration::from_secs(10)).unwrap();
    let mut roagent = NsProcess::spawn(&mag, "roagent", &dir, roagent_bin(), &["run", "-c", cfg.to_str().unwrap(), "--duration", &safety]);
    roagent.wait_for_stderr("running (", Duration::from_secs(60)).unwrap();
    let pid = roagent.pid();
    for state in ["down", "up"] {
        assert!(exec(&mn2, "ip", &["link", "set", "mn2", state]).status.success());
    }
    let slaac = slaac_address(&mn2, Duration::from_secs(20)).unwrap_or_else(|| panic!("MN2 formed no address:\n{}", roagent.stderr_text()));
    let (ok, text) = ping(&mn2, CORRESPONDENT, 3);
    assert!(ok, "MN2 cannot reach the correspondent before the soak:\n{text}\n{}", roagent.stderr_text());
    // MN2's kernel's MLD reports for its new address come within ~2 s; counted from here on.
    let mld = dir.join("mn2-multicast.pcap");
    let mut tcpdump = NsProcess::spawn(&mn2, "tcpdump", &dir, "tcpdump", &["-i", "mn2", "-n", "-U", "-Q", "out", "-w", mld.to_str().unwrap(), "ip6 multicast"]);
    tcpdump.wait_for_stderr("listening on", Duration::from_secs(10)).unwrap();
    eprintln!("soak: MN2 is {slaac}; starting");

    let tun = TunnelEnd::open(&lma).unwrap();
    let start = Instant::now();
    let peers = (0..MN1S)
        .map(|i| {
            let home = Ipv6Addr::from(u128::from(a("2001:db8:1::100")) + i as u128);
            let care_of = Ipv6Addr::from(u128::from(a("2001:db8:2::200")) + i as u128);
            Peer {
                mn1: Mn1::new(home, care_of, a(&slaac)),
                cycle: Cycle::Idle { next: start + Duration::from_secs(i as u64) },
                seq: 0,
                cycles: 0,
                bound: false,
            }
        })
        .collect();
    let home0 = Ipv6Addr::from(u128::from(a("2001:db8:1::100"))).to_string();
    let (quiet, stop, st) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Arc::new(Mn1Stats::default()));
    let mn1s = {
        let (q, s, st) = (quiet.clone(), stop.clone(), st.clone());
        std::thread::spawn(move || run_mn1s(tun, peers, q, s, st))
    };

    let mut failures: Vec<String> = Vec::new();
    let first = parse_metrics(&http_get(&mag, METRICS, "/metrics").expect("first scrape"));
    let mut prev = first.clone();
    let (mut sent, mut received, mut errors) = (0u64, 0u64, 0u64);
    let (mut reloads, mut reloads_ok) = (0u32, 0u32);
    let (mut rss_warm, mut rss_end, mut rss_max) = (0u64, 0u64, 0u64);
    let (mut pool_base, mut pool_end) = (None::<f64>, 0.0);
    let mut scrapes = 0u32;
    let mut last_reload = Instant::now();

    let mut period = 0u32;
    let mut warm = false;
    while start.elapsed() < run_for {
        period += 1;
        let t0 = Instant::now();
        quiet.store(false, Relaxed);
        let pings = [spawn_fast_ping(&mn2, CORRESPONDENT), spawn_fast_ping(&mn2, &home0)];
        if fault("drop") && period == 1 {
            // Multicast that is not ND: dropped as unroutable, and not allowed under this fault.
            exec(&mn2, "ping", &["-6", "-n", "-c", "2", "-i", "0.2", "-W", "1", "ff02::1%mn2"]);
        }
        // The reload, once a minute, while the traffic runs.
        if last_reload.elapsed() >= Duration::from_secs(60) || (start.elapsed() + PERIOD >= run_for && reloads == 0) {
            last_reload = Instant::now();
            reloads += 1;
            let mut applied = true;
            for (agent, word) in [(false, "off"), (true, "on")] {
                let needle = if fault("reload") { "no such line".to_string() } else { format!("node mn3: route optimization agent {word}") };
                let before = count(&roagent.stderr_text(), &needle);
                std::fs::write(&cfg, config(&topo.prefix, &mac, agent)).unwrap();
                roagent.signal(libc::SIGHUP);
                let t = Instant::now();
                while count(&roagent.stderr_text(), &needle) == before && t.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if count(&roagent.stderr_text(), &needle) == before {
                    applied = false;
                    failures.push(format!("reload {reloads}: no {needle:?} within 5 s"));
                }
            }
            reloads_ok += u32::from(applied);
        }
        let mut lost_now = Vec::new();
        for (p, dst) in pings.into_iter().zip([CORRESPONDENT, home0.as_str()]) {
            let (s, r, e) = ping_result(p);
            sent += s;
            received += r;
            errors += e;
            if r < s || e > 0 {
                lost_now.push(format!("{} lost, {e} errors to {dst}", s - r));
            }
        }
        // Quiet: no new cycles, the ones under way finish, then 2 s for anything in flight.
        quiet.store(true, Relaxed);
        let t = Instant::now();
        while st.busy.load(Relaxed) > 0 && t.elapsed() < Duration::from_secs(8) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(2));

        let text = match http_get(&mag, METRICS, "/metrics") {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("period {period}: scrape failed: {e}"));
                break;
            }
        };
        let rss = e2e::run::vm_rss_kb(pid).unwrap_or_else(|| panic!("no VmRSS for pid {pid}"));
        let mut now = parse_metrics(&text);
        scrapes += 1;
        if fault("counter") && period == 2 {
            now.insert("roagent_bindings_created_total".into(), -1.0);
        }
        for b in backwards(&prev, &now) {
            failures.push(format!("period {period}: counter went backwards: {b}"));
        }
        // Where a loss shows, what moved with it (the final check below decides).
        let moved: Vec<String> = counters(&now)
            .filter(|(k, v)| is_drop_like(k) && **v > prev.get(*k).copied().unwrap_or(0.0))
            .map(|(k, v)| format!("{k} +{}", v - prev.get(k).copied().unwrap_or(0.0)))
            .collect();
        if !lost_now.is_empty() || !moved.is_empty() {
            eprintln!(
                "soak: check {period}: pings: {}; drop counters moved: {}",
                lost_now.join(", "),
                if moved.is_empty() { "none".into() } else { moved.join(", ") }
            );
        }
        let in_use = now.get("roagent_mempool_in_use").copied().unwrap_or(f64::NAN);
        let base = *pool_base.get_or_insert(if fault("mempool") { in_use - 1.0 } else { in_use });
        if in_use != base {
            failures.push(format!("period {period}: mempool in use {in_use} at a quiet moment, baseline {base}"));
        }
        pool_end = in_use;
        if warm {
            let bound = if fault("rss") { 0.0 } else { RSS_GROWTH_MAX };
            if rss as f64 > rss_warm as f64 * (1.0 + bound) {
                failures.push(format!("period {period}: VmRSS {rss} KiB, more than {:.0} % over {rss_warm} KiB at the end of the warm-up", bound * 100.0));
            }
        }
        if !warm && (start.elapsed() >= warmup || period == 1) {
            // The warm-up ends at the first check after the first 20 % of the run.
            warm = start.elapsed() >= warmup;
            rss_warm = rss;
        }
        rss_max = rss_max.max(rss);
        rss_end = rss;
        eprintln!(
            "soak: {:>5.0} s  check {period:>3}  pings {received}/{sent}  cycles ok {}  bindings {}  mempool in use {in_use}  VmRSS {rss} KiB",
            start.elapsed().as_secs_f64(),
            st.cycles_ok.load(Relaxed),
            now.get("roagent_bindings").copied().unwrap_or(0.0),
        );
        prev = now;
        if let Some(left) = PERIOD.checked_sub(t0.elapsed()) {
            std::thread::sleep(left);
        }
    }
    stop.store(true, Relaxed);
    mn1s.join().expect("the MN1 thread");
    let elapsed = start.elapsed();

    let done = roagent.stop(Duration::from_secs(15));
    let peer_done = peer.stop(Duration::from_secs(5));
    drop(tcpdump.stop(Duration::from_secs(3)));
    let mn2_multicast = e2e::pcap::read(&mld)
        .unwrap()
        .iter()
        .filter(|f| {
            // Not ND (ICMPv6 133..=137 right after the IPv6 header): MLD, behind a Hop-by-Hop header.
            let (nh, icmp_type) = (f.get(14 + 6).copied(), f.get(14 + 40).copied().unwrap_or(0));
            !(nh == Some(ipv6::proto::ICMPV6) && (133..=137).contains(&icmp_type))
        })
        .count() as f64;
    if !done.status.success() {
        failures.push(format!("roagent exited with {}", done.status));
    }
    let last = parse_metrics(&done.stdout);
    if !last.contains_key("roagent_mempool_in_use") {
        failures.push("roagent printed no final report".into());
    }
    for b in backwards(&prev, &last) {
        failures.push(format!("final report: counter went backwards: {b}"));
    }
    let mut unexpected = Vec::new();
    for (k, v) in counters(&last).filter(|(k, _)| is_drop_like(k)) {
        let moved = v - first.get(k).copied().unwrap_or(0.0);
        let allowed = if k == MN2_MULTICAST_DROPS && !fault("drop") { mn2_multicast } else { 0.0 };
        if moved > allowed {
            unexpected.push(format!("{k} +{moved}"));
        }
    }
    for u in &unexpected {
        failures.push(format!("unexpected drop: {u}"));
    }
    let mn1_failures = st.failures.lock().unwrap().clone();
    failures.extend(mn1_failures.iter().cloned());
    if received < sent {
        failures.push(format!("{} of {sent} pings lost", sent - received));
    }
    if errors > 0 {
        failures.push(format!("MN2's pings got {errors} ICMPv6 errors"));
    }
    if done.stderr.contains("panicked") {
        failures.push("roagent panicked".into());
    }

    let growth = if rss_warm > 0 { (rss_end as f64 / rss_warm as f64 - 1.0) * 100.0 } else { f64::NAN };
    let rows = [
        ("duration", format!("{:.0} s (warm-up {:.0} s)", elapsed.as_secs_f64(), warmup.as_secs_f64())),
        ("pings sent / lost / errors", format!("{sent} / {} / {errors}", sent.saturating_sub(received))),
        (
            "  roagent RH2 inserted / HAO rewritten",
            format!(
                "{} / {}",
                last.get("roagent_rh2_inserted_total{queue=\"0\"}").unwrap_or(&0.0),
                last.get("roagent_hao_rewritten_total{queue=\"0\"}").unwrap_or(&0.0)
            ),
        ),
        ("  to MN1's home", format!("{} answered route-optimized, {} via the home path", st.echoes_optimized.load(Relaxed), st.echoes_plain.load(Relaxed))),
        (
            "RR/BU cycles ok",
            format!(
                "{} ({} deregistrations, {} RR retransmissions)",
                st.cycles_ok.load(Relaxed),
                st.deregistrations.load(Relaxed),
                st.retransmissions.load(Relaxed)
            ),
        ),
        ("  failed", mn1_failures.len().to_string()),
        (
            "bindings created / refreshed / deleted",
            format!(
                "{} / {} / {}",
                last.get("roagent_bindings_created_total").unwrap_or(&0.0),
                last.get("roagent_bindings_refreshed_total").unwrap_or(&0.0),
                counters(&last).filter(|(k, _)| k.starts_with("roagent_bindings_deleted_total")).map(|(_, v)| v).sum::<f64>()
            ),
        ),
        ("PMIPv6 refreshes", format!("{}", last.get("roagent_registration_refreshes_total").unwrap_or(&0.0))),
        ("reloads ok", format!("{reloads_ok} / {reloads}")),
        ("VmRSS warm-up / end / max", format!("{rss_warm} / {rss_end} / {rss_max} KiB ({growth:+.2} %)")),
        ("mempool in use baseline / end", format!("{} / {pool_end}", pool_base.unwrap_or(f64::NAN))),
        ("scrapes, counters checked", format!("{scrapes}, {} series", counters(&last).count())),
        ("unexpected drops", if unexpected.is_empty() { "none".into() } else { unexpected.join(", ") }),
        (
            "MN2 multicast (MLD) sent / access unroutable",
            format!("{mn2_multicast} / {}", last.get(MN2_MULTICAST_DROPS).unwrap_or(&0.0) - first.get(MN2_MULTICAST_DROPS).unwrap_or(&0.0)),
        ),
        ("roagent exit", format!("{}", done.status)),
        ("result", if failures.is_empty() { "PASS".into() } else { format!("FAIL ({} check(s))", failures.len()) }),
    ];
    println!("\nsoak summary");
    for (k, v) in rows {
        println!("  {k:<40} {v}");
    }
    let moved: Vec<String> = counters(&last).filter(|(k, _)| is_drop_like(k) && last[*k] > 0.0).map(|(k, v)| format!("    {k} {v}")).collect();
    if !moved.is_empty() {
        println!("  drop-like counters at exit (from start, set-up included):\n{}", moved.join("\n"));
    }
    drop(topo);
    assert!(
        failures.is_empty(),
        "soak failed:\n  {}\n--- lma-peer:\n{}\n--- logs in {}",
        failures.join("\n  "),
        peer_done.stderr.lines().skip(peer_done.stderr.lines().count().saturating_sub(20)).collect::<Vec<_>>().join("\n"),
        dir.display()
    );
}
