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
//! Under attack (issue 11): an off-path attacker behind the LMA floods MN2's agent with
//! HoTI, CoTI and forged Binding Updates from 65,536 spoofed sources, far above the agent's
//! reply limits (50,000 packets/s, `flood::per_sec`). The replies stay capped, yet MN2's
//! route-optimized pings to MN1 lose nothing and MN1, a peer with a binding, still gets
//! through its next return routability and Binding Update: the flood must not spend the
//! legitimate peer's share. And MN2 itself floods the uplink with packets of hop limit 1:
//! the Time Exceeded answers stay within the ICMPv6 error rate limit, and MN2's pings pass.
//! `E2E_FLOOD_PER_SEC=0` floods as fast as one thread can instead.
//!
//! Needs root; skipped (passes with a message) otherwise.

use e2e::flood::{self, Flood, LinkSocket, TimeExceededCount};
use e2e::mn1::Mn1;
use e2e::netns::{exec, http_get, skip_reason, spawn_ping, spawn_ping_every, NsProcess, Topology};
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

/// The Mobility Header messages the agent sent (replies to HoTI, CoTI and BU, Binding Errors)
/// and its Parameter Problems: everything its reply rate limit meters.
fn agent_replies(c: &Counters) -> u64 {
    let sent = |t: &str| c.get(&format!("roagent_signaling_sent_total{{type=\"{t}\"}}"));
    sent("home_test")
        + sent("care_of_test")
        + sent("binding_ack")
        + sent("binding_error")
        + c.get("roagent_icmpv6_errors_sent_total{type=\"parameter_problem\"}")
}

/// The series named `keys`, before → after, one per line (what a flood test prints).
fn report(before: &Counters, after: &Counters, keys: &[&str]) -> String {
    keys.iter()
        .filter(|k| after.has_series(k))
        .map(|k| format!("  {k}: {} -> {} (+{})\n", before.get(k), after.get(k), after.get(k).saturating_sub(before.get(k))))
        .collect()
}

/// A MAC address from its text form (`/sys/class/net/*/address`).
fn mac_of(ns: &str, ifname: &str) -> [u8; 6] {
    let out = exec(ns, "cat", &[&format!("/sys/class/net/{ifname}/address")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let bytes: Vec<u8> = text.trim().split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    bytes.try_into().unwrap_or_else(|_| panic!("a MAC address for {ifname} in {ns}: {text:?}"))
}

/// A flood test's start: the topology and roagent up, this thread (and so MN2's pings and
/// the flood it starts) pinned off the worker's CPU (flood::FLOOD_CPU), and MN1 bound (seq 1)
/// through the tunnel end.
fn start_bound(tag: &str) -> Option<(Topology, Scratch, NsProcess, TunnelEnd, Mn1)> {
    let (topo, dir, roagent) = start(tag, true)?;
    flood::pin_to_flood_cpu();
    let tun = TunnelEnd::open(&topo.lma()).unwrap();
    let mut mn1 = Mn1::new(a(HOME), a(CARE_OF), a(MN2));
    mn1.return_routability(&tun, &a(PROXY_COA));
    let ba = mn1.bind(&tun, &a(PROXY_COA), 1);
    assert_eq!((ba.status, ba.seq), (0, 1), "binding accepted before the flood");
    Some((topo, dir, roagent, tun, mn1))
}

/// The agent's defaults (control/src/config.rs `[reflector]`): replies per second in all and
/// the burst.
const REPLIES_PER_SEC: f64 = 1000.0;
const REPLY_BURST: u64 = 2000;

#[test]
fn a_signaling_flood_loses_no_ping_and_mn1s_next_return_routability_and_bu_succeed() {
    let Some((topo, _dir, roagent, tun, mut mn1)) = start_bound("sf") else { return };
    let mag = a(PROXY_COA);

    // The attacker did its own return routability once, so half of its forged Binding
    // Updates name nonce indices the agent issued (the same ones MN1 got).
    let issued = (mn1.home_token.unwrap().0, mn1.care_of_token.unwrap().0);
    let packets = flood::signaling_flood(a(MN2), issued);
    // Its own tunnel end: the agent's answers to the spoofed sources pile up unread there.
    let attacker = TunnelEnd::open(&topo.lma()).unwrap();
    let before = scrape(&topo);
    let scraped = Instant::now();
    let flood = Flood::start(packets, flood::per_sec(), Duration::from_secs(28), move |p| attacker.send(p, &mag));
    // Long enough to empty the reply burst at any rate this test calls a flood.
    std::thread::sleep(Duration::from_millis(500));

    // MN2 pings MN1 over the optimized path, 30 echoes 0.2 s apart.
    let (ping_status, ping_text, optimized) = mn1.answer_pings(&tun, &mag, spawn_ping_every(&topo.mn2(), HOME, 30, "0.2"));
    // MN1's next return routability and Binding Update, retransmitted as RFC 6275 §11.8 says,
    // within 15 s in all.
    let deadline = Instant::now() + Duration::from_secs(15);
    let rr = mn1.return_routability_until(&tun, &mag, deadline);
    let bu = rr.as_ref().ok().map(|_| mn1.bind_until(&tun, &mag, 2, deadline));

    let sent = flood.stop();
    let after = scrape(&topo);
    let secs = scraped.elapsed().as_secs_f64();
    let delta = |k: &str| after.get(k).saturating_sub(before.get(k));
    let core_rx = delta("roagent_port_rx_packets_total{port=\"core\"}");
    eprintln!("signaling flood: {sent}; roagent took {core_rx} packets in on the core port in {secs:.1} s ({:.0}/s)", core_rx as f64 / secs);
    eprintln!("MN2's ping during the flood ({optimized} requests route-optimized):\n{ping_text}");
    eprintln!("MN1's next return routability: {rr:?}; its Binding Update: {bu:?}");
    let policed = "roagent_punts_policed_total{reason=\"mobility\"}";
    let from_peer = "roagent_punted_packets_total{reason=\"mobility_from_peer\"}";
    eprint!(
        "counters, before -> after the flood:\n{}",
        report(
            &before,
            &after,
            &[
                "roagent_signaling_received_total",
                "roagent_signaling_sent_total{type=\"home_test\"}",
                "roagent_signaling_sent_total{type=\"care_of_test\"}",
                "roagent_signaling_sent_total{type=\"binding_ack\"}",
                "roagent_signaling_sent_total{type=\"binding_error\"}",
                "roagent_signaling_dropped_total{reason=\"rate_limited\"}",
                "roagent_signaling_dropped_total{reason=\"bad_authenticator\"}",
                "roagent_punted_packets_total{reason=\"mobility\"}",
                from_peer,
                policed,
                "roagent_punts_policed_total",
                "roagent_dropped_packets_total{reason=\"ring_full\"}",
                "roagent_dropped_packets_total",
                "roagent_port_driver_rx_missed_total",
                "roagent_bindings",
                "roagent_bindings_created_total",
                "roagent_bindings_refreshed_total",
            ]
        )
    );
    let replies = agent_replies(&after) - agent_replies(&before);
    eprintln!("agent replies during the flood: {replies} in {secs:.1} s");

    assert!(sent.per_sec() > 20.0 * REPLIES_PER_SEC, "a flood far above the reply limits: {:.0}/s", sent.per_sec());
    assert!(ping_status.success() && ping_text.contains(" 0% packet loss"), "no ping lost during the flood:\n{ping_text}\n{}", roagent.stderr_text());
    assert_eq!(optimized, 30, "every echo request route-optimized");
    let (hotis, cotis) = rr.unwrap_or_else(|e| panic!("MN1's next return routability during the flood: {e}"));
    let (ba, bus) = bu.unwrap().unwrap_or_else(|e| panic!("MN1's next Binding Update during the flood: {e}"));
    assert_eq!(ba.status, 0, "MN1's next binding accepted: {ba:?}");
    assert!(ba.seq >= 2 && ba.seq < 2 + bus, "the acknowledgement is for one of MN1's {bus} Binding Updates: {ba:?}");

    // The flood was refused, by the agent's rate limit or the workers' punt policer, and
    // what the agent did answer stayed within its overall limit.
    assert!(delta(policed) > 0, "the flood beyond the worker's budget was dropped on the worker");
    let refused = delta("roagent_signaling_dropped_total{reason=\"rate_limited\"}") + delta(policed);
    assert!(refused > 10 * replies.max(1000), "{refused} flood packets refused for {replies} replies");
    let cap = REPLIES_PER_SEC * secs + REPLY_BURST as f64 + (hotis + cotis + u64::from(bus)) as f64;
    assert!(replies as f64 <= cap, "{replies} agent replies in {secs:.1} s, more than the limits allow ({cap:.0})");
    assert!(delta(from_peer) >= 3, "MN1's HoTI, CoTI and BU were punted as a peer's: +{}", delta(from_peer));

    // The forged Binding Updates bound nothing; MN1's binding is there, refreshed.
    assert_eq!((after.get("roagent_bindings"), delta("roagent_bindings_created_total")), (1, 0));
    assert!(delta("roagent_bindings_refreshed_total") >= 1);
    let out = exec(&topo.mag(), roagent_bin().to_str().unwrap(), &["bindings", "--addr", METRICS]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    let row = table.lines().find(|l| l.starts_with(HOME)).unwrap_or_else(|| panic!("no binding row:\n{table}"));
    for field in [CARE_OF, MN2, "mn2"] {
        assert!(row.contains(field), "{field:?} missing from {row:?}");
    }
    assert!(table.contains("1 binding(s)"), "{table}");

    let done = roagent.stop(Duration::from_secs(10));
    assert!(done.status.success(), "{}", done.stderr);
    drop(topo);
}

/// Where MN2's hop-limit-1 packets are addressed: beyond the MAG, up the tunnel.
const BEYOND: &str = "2001:db8:99::1";
/// `[control] icmp_errors_per_sec`'s default (control/src/config.rs); the bucket's burst is
/// the same number (control/src/links.rs).
const ICMP_ERRORS_PER_SEC: f64 = 100.0;

#[test]
fn a_hop_limit_one_flood_on_the_uplink_draws_rate_limited_time_exceeded_and_pings_still_pass() {
    let Some((topo, _dir, roagent, tun, mn1)) = start_bound("hl") else { return };
    let mag = a(PROXY_COA);

    let frames = flood::hop_limit_one(mac_of(&topo.mag(), "mag-a"), mac_of(&topo.mn2(), "mn2"), a(MN2), a(BEYOND), 1024);
    let link = LinkSocket::open(&topo.mn2(), "mn2").unwrap();
    let time_exceeded = TimeExceededCount::start(&topo.mn2(), a(BEYOND)).unwrap();
    let before = scrape(&topo);
    let scraped = Instant::now();
    let flood = Flood::start(frames, flood::per_sec(), Duration::from_secs(5), move |f| link.send(f));
    std::thread::sleep(Duration::from_millis(300));
    // MN2 has sent nothing through its router yet: it resolves fe80::1 during the flood,
    // through the same punt path as the flood's packets.
    let (ping_status, ping_text, optimized) = mn1.answer_pings(&tun, &mag, spawn_ping_every(&topo.mn2(), HOME, 20, "0.2"));
    let sent = flood.wait();
    // The last answers in flight.
    std::thread::sleep(Duration::from_millis(300));
    let received = time_exceeded.stop();
    let after = scrape(&topo);
    let secs = scraped.elapsed().as_secs_f64();
    let delta = |k: &str| after.get(k).saturating_sub(before.get(k));

    let access_rx = delta("roagent_port_rx_packets_total{port=\"access\"}");
    eprintln!(
        "hop-limit-1 flood: {sent}; roagent took {access_rx} in on the access port ({:.0}/s); MN2 received {received} Time Exceeded in {secs:.1} s",
        access_rx as f64 / secs
    );
    eprintln!("MN2's ping during the flood ({optimized} requests route-optimized):\n{ping_text}");
    let policed = "roagent_punts_policed_total{reason=\"hop_limit\"}";
    let time_exceeded_sent = "roagent_icmpv6_errors_sent_total{type=\"time_exceeded\"}";
    eprint!(
        "counters, before -> after the flood:\n{}",
        report(
            &before,
            &after,
            &[
                "roagent_punted_packets_total{reason=\"hop_limit\"}",
                time_exceeded_sent,
                "roagent_rate_limited_total{kind=\"icmpv6\"}",
                policed,
                "roagent_punts_policed_total",
                "roagent_dropped_packets_total{reason=\"ring_full\"}",
                "roagent_dropped_packets_total",
                "roagent_port_driver_rx_missed_total",
                "roagent_rh2_inserted_total",
                "roagent_hao_rewritten_total",
            ]
        )
    );

    assert!(sent.per_sec() > 20.0 * ICMP_ERRORS_PER_SEC, "a flood far above the ICMPv6 error limit: {:.0}/s", sent.per_sec());
    assert!(ping_status.success() && ping_text.contains(" 0% packet loss"), "no ping lost during the flood:\n{ping_text}\n{}", roagent.stderr_text());
    assert_eq!(optimized, 20, "every echo request route-optimized");
    // RFC 4443 §2.4(f): at most the rate over the time, plus the burst the bucket started
    // with; one more for rounding at either end.
    let cap = ICMP_ERRORS_PER_SEC * secs + ICMP_ERRORS_PER_SEC + 2.0;
    assert!(received > 0, "Time Exceeded still answers a hop limit running out");
    assert!((received as f64) <= cap, "{received} Time Exceeded in {secs:.1} s, more than the limit allows ({cap:.0})");
    assert!((delta(time_exceeded_sent) as f64) <= cap, "{} Time Exceeded sent in {secs:.1} s (limit {cap:.0})", delta(time_exceeded_sent));
    assert!(received <= delta(time_exceeded_sent), "MN2 received only what roagent sent");
    let punted = delta("roagent_punted_packets_total{reason=\"hop_limit\"}");
    assert!(delta(policed) > punted, "most of the flood dropped on the worker ({}), not punted ({punted})", delta(policed));
    let refused = delta("roagent_rate_limited_total{kind=\"icmpv6\"}") + delta(policed) + delta("roagent_dropped_packets_total{reason=\"ring_full\"}");
    assert!(refused > 10 * received, "the flood beyond the limit was refused: {refused}");

    let done = roagent.stop(Duration::from_secs(10));
    assert!(done.status.success(), "{}", done.stderr);
    drop(topo);
}
