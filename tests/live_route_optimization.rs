//! Route optimization live, through the real `roagent` on `net_af_packet`, with a real Linux
//! host as the attached node MN2 (the draft's Figure 3):
//!
//!   MN2 (Linux) ── veth ── roagent (MAG + agent) ── veth ── LMA namespace: this test is the
//!                                                           LMA tunnel end and MN1
//!
//! MN1 runs return routability and a Binding Update with MN2 through the LMA tunnel; roagent
//! answers as MN2. Then MN2 pings MN1's home address: the requests leave with destination =
//! care-of address and a Type 2 Routing Header, MN1 answers from its care-of address with a
//! Home Address option, and MN2, a plain IPv6 host, accepts the replies because roagent
//! turned them into plain packets from the home address. Negative control (Figure 1): with
//! the agent off, MN2's kernel answers the HoTI with ICMPv6 Parameter Problem.
//!
//! Needs root; skipped (passes with a message) otherwise.

use e2e::mn1::Mn1;
use e2e::netns::{exec, http_get, skip_reason, spawn_ping, NsProcess, Topology};
use e2e::pcap;
use e2e::run::{roagent_bin, Counters, Scratch};
use e2e::tunnel_end::TunnelEnd;
use std::net::Ipv6Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wire::{icmpv6, ipv6};

const MN2: &str = "2001:db8:3::300";
const HOME: &str = "2001:db8:1::100";
const CARE_OF: &str = "2001:db8:2::200";
const PROXY_COA: &str = "2001:db8:c0::1";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn config(prefix: &str, agent: bool) -> String {
    format!(
        r#"[eal]
args = {}
[ports.access]
device = "net_af_packet0,iface=mag-a"
[ports.core]
device = "net_af_packet1,iface=mag-c"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
access_link_local = "fe80::1"
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
agent = {agent}
[reflector]
max_bindings = 1024
"#,
        e2e::run::eal_args(&format!("{prefix}dp"))
    )
}

/// Brings up the topology and roagent; returns them with the scratch directory.
fn start(tag: &str, agent: bool) -> Option<(Topology, Scratch, NsProcess)> {
    start_with(tag, agent).map(|(t, d, r, _)| (t, d, r))
}

/// As `start`, also returning the configuration file (for reload tests).
fn start_with(tag: &str, agent: bool) -> Option<(Topology, Scratch, NsProcess, std::path::PathBuf)> {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    let topo = Topology::up(&Topology::unique_prefix(tag));
    let dir = Scratch::new(tag);
    let cfg = dir.0.join("roagent.toml");
    std::fs::write(&cfg, config(&topo.prefix, agent)).unwrap();
    let bin = roagent_bin();
    let mut roagent = NsProcess::spawn(&topo.mag(), "roagent", &dir.0, &bin, &["run", "--config", cfg.to_str().unwrap(), "--duration", "60"]);
    roagent.wait_for_stderr("running (", Duration::from_secs(30)).unwrap();
    Some((topo, dir, roagent, cfg))
}

/// roagent's metrics, scraped inside the MAG namespace and checked by `promtool check
/// metrics` (Debian package prometheus, installed by scripts/setup-host).
fn scrape(topo: &Topology) -> Counters {
    use std::io::Write;
    let text = http_get(&topo.mag(), METRICS, "/metrics").unwrap();
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/setup-host installs the prometheus package)");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool check metrics: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Counters::parse(&text)
}

const METRICS: &str = "127.0.0.1:9477";

#[test]
fn mn2_pings_mn1_over_the_route_optimized_path() {
    let Some((topo, dir, mut roagent, cfg)) = start_with("ro", true) else { return };
    let tun = TunnelEnd::open(&topo.lma()).unwrap();
    let capture = dir.0.join("mn2.pcap");
    let mut tcpdump =
        NsProcess::spawn(&topo.mn2(), "tcpdump", &dir.0, "tcpdump", &["-i", "mn2", "-n", "-U", "--immediate-mode", "-w", capture.to_str().unwrap(), "ip6"]);
    tcpdump.wait_for_stderr("listening on", Duration::from_secs(10)).unwrap();

    let before = scrape(&topo);
    let mut mn1 = Mn1::new(a(HOME), a(CARE_OF), a(MN2));
    let (hotis, cotis) = mn1.return_routability(&tun, &a(PROXY_COA));
    let ba = mn1.bind(&tun, &a(PROXY_COA), 1);
    assert_eq!((ba.status, ba.seq), (0, 1), "binding accepted");

    // MN2 pings MN1's home address; MN1 answers each request, route-optimized.
    let (status, text, optimized) = mn1.answer_pings(&tun, &a(PROXY_COA), spawn_ping(&topo.mn2(), HOME, 3));
    assert!(status.success() && text.contains("3 received"), "ping over the optimized path:\n{text}\n{}", roagent.stderr_text());
    assert!(optimized >= 3, "{optimized} optimized requests");

    // The metrics moved by exactly what this test did.
    let after = scrape(&topo);
    let delta = |k: &str| after.get(k) - before.get(k);
    assert_eq!(delta("roagent_signaling_received_total{type=\"home_test_init\"}"), hotis);
    assert_eq!(delta("roagent_signaling_received_total{type=\"care_of_test_init\"}"), cotis);
    assert_eq!(delta("roagent_signaling_received_total{type=\"binding_update\"}"), 1);
    assert_eq!(delta("roagent_signaling_sent_total{type=\"home_test\"}"), hotis);
    assert_eq!(delta("roagent_signaling_sent_total{type=\"care_of_test\"}"), cotis);
    assert_eq!(delta("roagent_binding_acks_sent_total{status=\"0\"}"), 1);
    assert_eq!(delta("roagent_bindings_created_total"), 1);
    assert_eq!((before.get("roagent_bindings"), after.get("roagent_bindings")), (0, 1));
    assert_eq!(delta("roagent_rh2_inserted_total"), optimized);
    assert_eq!(delta("roagent_hao_rewritten_total"), 3);
    assert_eq!(delta("roagent_punted_packets_total{reason=\"mobility\"}"), hotis + cotis + 1);
    assert_eq!(delta("roagent_dropped_packets_total{reason=\"ring_full\"}"), 0);
    // The admin view shows the binding.
    let out = exec(&topo.mag(), roagent_bin().to_str().unwrap(), &["bindings", "--addr", METRICS]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    let row = table.lines().find(|l| l.starts_with(HOME)).unwrap_or_else(|| panic!("no binding row:\n{table}"));
    for field in [CARE_OF, MN2, "mn2", " 1 ", "yes"] {
        assert!(row.contains(field), "{field:?} missing from {row:?}");
    }
    assert!(table.contains("1 binding(s)"), "{table}");

    // What MN2 received: plain echo replies from the home address, no Destination Options.
    drop(tcpdump.stop(Duration::from_secs(3)));
    let replies = pcap::plain_echo_replies(&capture).unwrap();
    assert_eq!(replies, vec![(a(HOME), a(MN2)); 3], "3 plain echo replies from the home address on MN2's link");

    // A reload with a broken configuration is refused whole: the binding stays.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, good.replace("[mag]", "[mag]\nbogus = 1")).unwrap();
    roagent.signal(libc::SIGHUP);
    roagent.wait_for_stderr("reload refused, configuration unchanged", Duration::from_secs(10)).unwrap();
    assert_eq!(scrape(&topo).get("roagent_bindings"), 1);
    // A prefix change needs a restart: said, and nothing changes.
    std::fs::write(&cfg, good.replace("2001:db8:3::/64", "2001:db8:33::/64")).unwrap();
    roagent.signal(libc::SIGHUP);
    roagent.wait_for_stderr("node mn2: prefix, address, LMA or MAC changes need a restart; kept as running", Duration::from_secs(10)).unwrap();
    assert_eq!(scrape(&topo).get("roagent_bindings"), 1);
    // Turning the agent off for the node (a reload) purges its bindings...
    std::fs::write(&cfg, good.replace("agent = true", "agent = false")).unwrap();
    roagent.signal(libc::SIGHUP);
    roagent.wait_for_stderr("binding deleted (detached): home 2001:db8:1::100", Duration::from_secs(10)).unwrap();
    let m = scrape(&topo);
    assert_eq!((m.get("roagent_bindings"), m.get("roagent_bindings_deleted_total{reason=\"detached\"}")), (0, 1));
    // ... and MN2's traffic to the home address takes the home agent's path again.
    let out = exec(&topo.mn2(), "ping", &["-6", "-n", "-c", "1", "-W", "1", HOME]);
    assert!(!out.status.success(), "nobody answers at the home address in this topology");
    let plain = std::iter::from_fn(|| tun.recv(Duration::from_secs(2)))
        .find(|(_, ip)| ip.get(6) == Some(&ipv6::proto::ICMPV6) && ip.get(40) == Some(&icmpv6::ECHO_REQUEST))
        .expect("the echo request still comes up the tunnel");
    let h = ipv6::Header::new_checked(&plain.1[..]).unwrap();
    assert_eq!(h.dst_addr(), a(HOME), "to the home address, without RH2");

    let done = roagent.stop(Duration::from_secs(10));
    assert!(done.status.success(), "{}", done.stderr);
    let c = Counters::parse(&done.stdout);
    assert!(c.get("roagent_rh2_inserted_total") >= 3, "{:?}", c.0);
    assert!(c.get("roagent_hao_rewritten_total") >= 3, "{:?}", c.0);
    assert_eq!(c.get("roagent_bindings_created_total"), 1);
    assert!(done.stderr.contains("binding created: home 2001:db8:1::100 care-of 2001:db8:2::200"), "{}", done.stderr);
    drop(topo);
}

#[test]
fn without_the_agent_mn2_answers_hoti_with_parameter_problem() {
    // The draft's Figure 1: a plain IPv6 node does not know the Mobility Header.
    let Some((topo, _dir, roagent)) = start("nc", false) else { return };
    let tun = TunnelEnd::open(&topo.lma()).unwrap();
    let mn1 = Mn1::new(a(HOME), a(CARE_OF), a(MN2));
    let deadline = Instant::now() + Duration::from_secs(20);
    let pp = 'found: loop {
        assert!(Instant::now() < deadline, "no Parameter Problem from MN2:\n{}", roagent.stderr_text());
        tun.send(&mn1.hoti(), &a(PROXY_COA)).unwrap();
        let until = Instant::now() + Duration::from_secs(1);
        while let Some((_, ip)) = tun.recv(until.saturating_duration_since(Instant::now())) {
            if ip.get(6) == Some(&ipv6::proto::ICMPV6) && ip.get(40) == Some(&icmpv6::PARAM_PROBLEM) {
                break 'found ip;
            }
        }
    };
    let h = ipv6::Header::new_checked(&pp[..]).unwrap();
    assert_eq!((h.src_addr(), h.dst_addr()), (a(MN2), a(HOME)));
    // Code 1, unrecognized Next Header (135), pointing at the IPv6 header's Next Header field.
    assert_eq!(pp[41], 1);
    assert_eq!(u32::from_be_bytes(pp[44..48].try_into().unwrap()), 6);
    let done = roagent.stop(Duration::from_secs(10));
    let c = Counters::parse(&done.stdout);
    assert_eq!(c.get("roagent_punted_packets_total{reason=\"mobility\"}"), 0, "the agent stayed out of it");
    drop(topo);
}
