//! Live PMIPv6 (RFC 5213) through the real `roagent` on `net_af_packet` ports, with real
//! Linux kernels on both sides (scripts/topology) and the test LMA (`lma-peer`) answering
//! Proxy Binding Updates:
//!
//!   MN2 (Linux, SLAAC) ── veth ── roagent (MAG) ── veth ── LMA (kernel + lma-peer)
//!
//! MN2 has no address of its own in any prefix roagent's configuration names: only its MAC
//! and MN Identifier are in the policy. Its Router Solicitation starts the registration; the
//! LMA assigns a /64 from its pool; roagent installs the route and advertises the prefix;
//! MN2 autoconfigures an address in it and pings a correspondent behind the LMA through the
//! tunnel. Then route optimization on that address (the draft's Figure 3): MN1, played by the
//! test at the LMA, runs return routability and a Binding Update with MN2's SLAAC address,
//! roagent answers for MN2, and MN2's ping to MN1's home address is route-optimized both
//! ways. Controls: an LMA that rejects the registration keeps MN2 without an address and
//! offline.
//!
//! Needs root; skipped (passes with a message) otherwise. About 15 s per test.

use e2e::mn1::Mn1;
use e2e::netns::{exec, ping, spawn_ping, Finished, NsProcess, Topology};
use e2e::pcap;
use e2e::run::{roagent_bin, Counters, Scratch};
use e2e::tunnel_end::TunnelEnd;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const CORRESPONDENT: &str = "2001:db8:9::9";
const PROXY_COA: &str = "2001:db8:c0::1";
const LMA: &str = "2001:db8:c0::2";
/// The test LMA's pool gives the first MN 2001:db8:20:1::/64.
const HNP_START: &str = "2001:db8:20:1:";
const MN_ID: &str = "mn2@roagent.test";
/// MN1, the Mobile IPv6 node behind the LMA that binds to MN2.
const HOME: &str = "2001:db8:1::100";
const CARE_OF: &str = "2001:db8:2::200";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn config(prefix: &str, mac: &str, pmipv6: &str) -> String {
    format!(
        r#"[eal]
args = ["-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", "{prefix}pmip", "--log-level", "lib.eal:warning"]
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
[pmipv6]
{pmipv6}
[metrics]
address = "127.0.0.1:9477"
"#
    )
}

/// The MAC of MN2's interface.
fn mn2_mac(ns: &str) -> String {
    let out = exec(ns, "cat", &["/sys/class/net/mn2/address"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// MN2's global addresses in the LMA's pool, once SLAAC has formed one.
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

/// The topology with MN2 as a SLAAC host: no configured global address, RAs accepted; then
/// its link bounced so it solicits at once.
struct Run {
    topo: Topology,
    scratch: Scratch,
    mag: NsProcess,
    lma: NsProcess,
}

fn start(tag: &str, lma_args: &[&str], pmipv6: &str) -> Run {
    let scratch = Scratch::new(tag);
    let prefix = Topology::unique_prefix(&tag[tag.len() - 2..]);
    let topo = Topology::up(&prefix);
    let mn2 = topo.mn2();
    for (k, v) in [("accept_ra", "1"), ("autoconf", "1"), ("router_solicitation_interval", "1")] {
        let out = exec(&mn2, "sysctl", &["-qw", &format!("net.ipv6.conf.mn2.{k}={v}")]);
        assert!(out.status.success(), "sysctl {k}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let del = exec(&mn2, "ip", &["-6", "addr", "flush", "dev", "mn2", "scope", "global"]);
    assert!(del.status.success());
    let dir = &scratch.0;
    let config_path = dir.join("roagent.toml");
    std::fs::write(&config_path, config(&prefix, &mn2_mac(&mn2), pmipv6)).unwrap();
    let mut args = vec!["--tun", "lmatun", "--mag", PROXY_COA, "--duration", "40"];
    args.extend_from_slice(lma_args);
    let mut lma = NsProcess::spawn(&topo.lma(), "lma-peer", dir, env!("CARGO_BIN_EXE_lma-peer"), &args);
    lma.wait_for_stderr("lma-peer: running", Duration::from_secs(5)).unwrap();
    let mut mag = NsProcess::spawn(&topo.mag(), "roagent", dir, roagent_bin(), &["run", "-c", config_path.to_str().unwrap(), "--duration", "40"]);
    mag.wait_for_stderr("running (", Duration::from_secs(15)).unwrap();
    // A fresh link: MN2 solicits a router now rather than at its next retry.
    for state in ["down", "up"] {
        assert!(exec(&mn2, "ip", &["link", "set", "mn2", state]).status.success());
    }
    Run { topo, scratch, mag, lma }
}

impl Run {
    /// Stops roagent and the LMA and removes the topology: roagent's output, and both
    /// outputs as a text for failure messages.
    fn stop(self) -> (Finished, String) {
        let roagent = self.mag.stop(Duration::from_secs(5));
        let peer = self.lma.stop(Duration::from_secs(3));
        drop(self.topo);
        let explain = format!(
            "\n--- roagent stdout:\n{}--- roagent stderr:\n{}--- lma-peer:\n{}{}--- in {}",
            roagent.stdout,
            roagent.stderr,
            peer.stdout,
            peer.stderr,
            self.scratch.0.display()
        );
        (roagent, explain)
    }
}

#[test]
fn attach_gives_an_lma_assigned_prefix_and_the_ping_crosses_the_tunnel() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    let started = Instant::now();
    let r = start("pmip", &[], "lifetime = 60");
    let mn2 = r.topo.mn2();
    let addr = slaac_address(&mn2, Duration::from_secs(12));
    let (ok, pinged) = ping(&mn2, CORRESPONDENT, 3);
    eprintln!("--- ping {CORRESPONDENT} from {addr:?}:\n{pinged}");
    let mobiles = e2e::netns::http_get(&r.topo.mag(), "127.0.0.1:9477", "/mobiles");
    let table = exec(&r.topo.mag(), roagent_bin().to_str().unwrap(), &["mobiles"]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    eprintln!("--- roagent mobiles:\n{table}");
    let (roagent_out, explain) = r.stop();

    let addr = addr.unwrap_or_else(|| panic!("MN2 formed no address in the LMA's pool{explain}"));
    assert!(ok && pinged.contains("3 received"), "ping {CORRESPONDENT} from MN2's SLAAC address {addr} failed:\n{pinged}{explain}");
    let mobiles = mobiles.unwrap_or_else(|e| panic!("/mobiles: {e}{explain}"));
    assert!(mobiles.contains(MN_ID) && mobiles.contains("2001:db8:20:1::/64") && mobiles.contains("\"registered\""), "/mobiles: {mobiles}{explain}");
    assert!(table.contains(MN_ID) && table.contains("registered") && table.contains("1 mobile node(s)"), "roagent mobiles: {table}{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert!(c.get("roagent_pbu_sent_total{kind=\"initial\"}") >= 1, "{explain}");
    assert_eq!(c.get("roagent_pba_received_total{status=\"0\"}"), 1, "{explain}");
    assert_eq!(c.get("roagent_registrations_total"), 1, "{explain}");
    assert!(c.get("roagent_router_advertisements_sent_total") >= 1, "{explain}");
    assert!(c.get("roagent_tunnel_encapsulations_total") >= 3 && c.get("roagent_tunnel_decapsulations_total") >= 3, "{explain}");
    assert!(roagent_out.stderr.contains("registered:") && roagent_out.stderr.contains("routes installed: mn2@roagent.test"), "{explain}");
    assert!(roagent_out.status.success(), "roagent did not exit cleanly{explain}");
    eprintln!("live_pmipv6 attach: ok in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn mn1_binds_to_mn2s_slaac_address_and_the_ping_is_route_optimized() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    let started = Instant::now();
    let r = start("pmipro", &[], "lifetime = 60");
    eprintln!("--- logs in {}", r.scratch.0.display());
    let (mn2, mag, proxy_coa) = (r.topo.mn2(), r.topo.mag(), a(PROXY_COA));
    let capture = r.scratch.0.join("mn2.pcap");
    let mut tcpdump =
        NsProcess::spawn(&mn2, "tcpdump", &r.scratch.0, "tcpdump", &["-i", "mn2", "-n", "-U", "--immediate-mode", "-w", capture.to_str().unwrap(), "ip6"]);
    tcpdump.wait_for_stderr("listening on", Duration::from_secs(10)).unwrap();
    let slaac = slaac_address(&mn2, Duration::from_secs(12)).unwrap_or_else(|| panic!("MN2 formed no address in the LMA's pool"));
    let config = std::fs::read_to_string(r.scratch.0.join("roagent.toml")).unwrap();
    assert!(!config.contains(&slaac[..HNP_START.len() - 1]), "the prefix is the LMA's, not roagent's configuration's:\n{config}");

    // MN1 at the LMA: return routability and a Binding Update with MN2's SLAAC address,
    // through the tunnel; roagent answers for MN2.
    let tun = TunnelEnd::open(&r.topo.lma()).unwrap();
    let mut mn1 = Mn1::new(a(HOME), a(CARE_OF), a(&slaac));
    let (hotis, cotis) = mn1.return_routability(&tun, &proxy_coa);
    let ba = mn1.bind(&tun, &proxy_coa, 1);
    let bindings = exec(&mag, roagent_bin().to_str().unwrap(), &["bindings"]);
    let bindings = String::from_utf8_lossy(&bindings.stdout).to_string();
    eprintln!("--- roagent bindings:\n{bindings}");

    // MN2 pings MN1's home address; MN1 answers each request, route-optimized.
    let (status, pinged, optimized) = mn1.answer_pings(&tun, &proxy_coa, spawn_ping(&mn2, HOME, 3));
    eprintln!("--- ping {HOME} from {slaac}:\n{pinged}");
    drop(tcpdump.stop(Duration::from_secs(3)));
    let replies = pcap::plain_echo_replies(&capture).unwrap();
    let (roagent_out, explain) = r.stop();

    assert_eq!((ba.status, ba.seq), (0, 1), "binding accepted{explain}");
    let row = bindings.lines().find(|l| l.starts_with(HOME)).unwrap_or_else(|| panic!("no binding row:\n{bindings}{explain}"));
    for field in [CARE_OF, slaac.as_str(), "mn2", "yes"] {
        assert!(row.contains(field), "{field:?} missing from {row:?}{explain}");
    }
    assert!(status.success() && pinged.contains("3 received"), "ping {HOME} over the optimized path:\n{pinged}{explain}");
    assert_eq!(optimized, 3, "echo requests with RH2 to the care-of address{explain}");
    // What MN2 received: plain echo replies from the home address, no Home Address option.
    assert_eq!(replies, vec![(a(HOME), a(&slaac)); 3], "plain echo replies on MN2's link{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert_eq!(c.get("roagent_registrations_total"), 1, "{explain}");
    assert_eq!(c.get("roagent_signaling_sent_total{type=\"home_test\"}"), hotis, "{explain}");
    assert_eq!(c.get("roagent_signaling_sent_total{type=\"care_of_test\"}"), cotis, "{explain}");
    assert_eq!(c.get("roagent_binding_acks_sent_total{status=\"0\"}"), 1, "{explain}");
    assert_eq!((c.get("roagent_bindings_created_total"), c.get("roagent_bindings")), (1, 1), "{explain}");
    assert_eq!(c.get("roagent_rh2_inserted_total"), optimized, "{explain}");
    assert_eq!(c.get("roagent_hao_rewritten_total"), 3, "{explain}");
    let created = format!("binding created: home {HOME} care-of {CARE_OF}");
    assert!(roagent_out.stderr.contains(&created), "{explain}");
    assert!(roagent_out.status.success(), "roagent did not exit cleanly{explain}");
    eprintln!("live_pmipv6 route optimization: ok in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_rejected_registration_keeps_mn2_offline() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    let r = start("pmiprej", &["--pba-status", "153"], "lifetime = 60");
    let mn2 = r.topo.mn2();
    let addr = slaac_address(&mn2, Duration::from_secs(6));
    let (roagent_out, explain) = r.stop();
    assert_eq!(addr, None, "MN2 got an address although the LMA refused it{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert!(c.get("roagent_pba_received_total{status=\"153\"}") >= 1, "{explain}");
    assert!(c.get("roagent_registration_failures_total{reason=\"rejected\"}") >= 1, "{explain}");
    assert_eq!(c.get("roagent_router_advertisements_sent_total"), 0, "no prefix advertised{explain}");
    assert_eq!(c.get("roagent_tunnel_encapsulations_total"), 0, "nothing of MN2's tunnelled{explain}");
    assert!(roagent_out.stderr.contains("registration failed") && roagent_out.stderr.contains("NOT_LMA_FOR_THIS_MOBILE_NODE"), "{explain}");
}

#[test]
fn an_lma_that_drops_the_first_two_pbus_still_registers_mn2() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    let r = start("pmipdr", &["--drop-first-pbus", "2"], "lifetime = 60");
    let mn2 = r.topo.mn2();
    // Retransmissions 1 s and 2 s later (RFC 6275 §11.8): the third PBU is answered.
    let addr = slaac_address(&mn2, Duration::from_secs(15));
    let (ok, pinged) = ping(&mn2, CORRESPONDENT, 2);
    let (roagent_out, explain) = r.stop();
    assert!(addr.is_some(), "MN2 got no address{explain}");
    assert!(ok, "ping failed:\n{pinged}{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert!(c.get("roagent_pbu_sent_total{kind=\"retransmit\"}") >= 2, "{explain}");
    assert_eq!(c.get("roagent_registrations_total"), 1, "{explain}");
}

#[test]
fn a_short_lifetime_is_refreshed_with_no_ping_lost() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    // The LMA grants 8 s; the MAG refreshes before it runs out, twice in the 13 s of pings.
    let r = start("pmiplt", &["--lifetime", "8"], "lifetime = 60");
    let mn2 = r.topo.mn2();
    let addr = slaac_address(&mn2, Duration::from_secs(12));
    let (ok, pinged) = ping(&mn2, CORRESPONDENT, 40);
    let (roagent_out, explain) = r.stop();
    assert!(addr.is_some(), "MN2 got no address{explain}");
    assert!(ok && pinged.contains("40 received"), "pings lost across the refreshes:\n{pinged}{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert!(c.get("roagent_pbu_sent_total{kind=\"refresh\"}") >= 1, "{explain}");
    assert!(c.get("roagent_registration_refreshes_total") >= 1, "{explain}");
    assert_eq!(c.get("roagent_registration_failures_total"), 0, "{explain}");
}

#[test]
fn mn2_going_silent_is_deregistered() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_pmipv6: {why}");
        return;
    }
    let r = start("pmipsl", &[], "lifetime = 60\nidle_timeout = 2");
    let mn2 = r.topo.mn2();
    let addr = slaac_address(&mn2, Duration::from_secs(12));
    let (ok, _) = ping(&mn2, CORRESPONDENT, 1);
    // MN2 leaves: its link goes down, so it answers no NUD probe.
    assert!(exec(&mn2, "ip", &["link", "set", "mn2", "down"]).status.success());
    let t = Instant::now();
    let mut mobiles = String::new();
    while t.elapsed() < Duration::from_secs(15) {
        mobiles = e2e::netns::http_get(&r.topo.mag(), "127.0.0.1:9477", "/mobiles").unwrap_or_default();
        if !mobiles.contains("\"registered\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let gone_after = t.elapsed();
    let (roagent_out, explain) = r.stop();
    assert!(addr.is_some() && ok, "MN2 never worked{explain}");
    assert!(!mobiles.contains("\"registered\""), "still registered after {gone_after:?}: {mobiles}{explain}");
    let c = Counters::parse(&roagent_out.stdout);
    assert!(c.get("roagent_nud_probes_sent_total") >= 3, "{explain}");
    assert!(c.get("roagent_pbu_sent_total{kind=\"deregistration\"}") >= 1, "{explain}");
    assert!(roagent_out.stderr.contains("deregistered:") && roagent_out.stderr.contains("unreachable"), "{explain}");
}
