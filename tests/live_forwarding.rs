//! Live forwarding through the real `roagent` on `net_af_packet` ports, with real Linux
//! kernels on both sides (scripts/topology):
//!
//!   MN2 (plain host) ── veth ── roagent (MAG) ── veth ── LMA (kernel + lma-peer tunnel end)
//!
//! MN2 pings a correspondent behind the LMA. MN2 finds its default router fe80::1 by ordinary
//! ND, the kernel in the LMA namespace resolves the Proxy-CoA by ND, roagent resolves the LMA
//! by ND and learns MN2; every packet crosses the core link in the MAG–LMA IPv6-in-IPv6
//! tunnel (RFC 5213 §6.10.5). Controls: an address the LMA does not route gets no answer, and
//! nothing gets through once roagent is stopped.
//!
//! Needs root; skipped (passes with a message) otherwise. About 10 s.

use e2e::netns::{exec, ping, NsProcess, Topology};
use e2e::pcap;
use e2e::run::{roagent_bin, Counters, Scratch};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const MN2: &str = "2001:db8:3::300";
const CORRESPONDENT: &str = "2001:db8:9::9";
const NOT_ROUTED: &str = "2001:db8:99::1";
const PROXY_COA: &str = "2001:db8:c0::1";
const LMA: &str = "2001:db8:c0::2";

/// An ICMPv6 echo seen on the core link inside an IPv6-in-IPv6 packet.
#[derive(Debug)]
struct TunneledEcho {
    outer_src: Ipv6Addr,
    outer_dst: Ipv6Addr,
    inner_src: Ipv6Addr,
    inner_dst: Ipv6Addr,
    inner_hop_limit: u8,
    icmp_type: u8,
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let a: [u8; 16] = b[..16].try_into().unwrap();
    Ipv6Addr::from(a)
}

/// Ethernet / IPv6 (next header 41) / IPv6 (next header 58) / ICMPv6 echo; `None` for
/// anything else (ND, RS, ...).
fn tunneled_echo(frame: &[u8]) -> Option<TunneledEcho> {
    let ip = frame.get(14..).filter(|_| frame.get(12..14) == Some(&[0x86, 0xdd]))?;
    if ip.len() < 80 || ip[0] >> 4 != 6 || ip[6] != 41 {
        return None;
    }
    let inner = &ip[40..];
    if inner[0] >> 4 != 6 || inner[6] != 58 {
        return None;
    }
    let icmp_type = *inner.get(40)?;
    if icmp_type != 128 && icmp_type != 129 {
        return None;
    }
    Some(TunneledEcho {
        outer_src: addr(&ip[8..]),
        outer_dst: addr(&ip[24..]),
        inner_src: addr(&inner[8..]),
        inner_dst: addr(&inner[24..]),
        inner_hop_limit: inner[7],
        icmp_type,
    })
}

/// A Neighbor Advertisement (not tunneled) from `target` for `target`.
fn is_na_for(frame: &[u8], target: Ipv6Addr) -> bool {
    let Some(ip) = frame.get(14..).filter(|_| frame.get(12..14) == Some(&[0x86, 0xdd])) else { return false };
    ip.len() >= 64 && ip[6] == 58 && ip[40] == 136 && addr(&ip[8..]) == target && addr(&ip[48..]) == target
}

fn config(prefix: &str) -> String {
    format!(
        r#"[eal]
args = ["-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", "{prefix}live", "--log-level", "lib.eal:warning"]
[ports.access]
device = "net_af_packet0,iface=mag-a"
[ports.core]
device = "net_af_packet1,iface=mag-c"
[mag]
proxy_coa = "{PROXY_COA}"
signaling = "static"
access_link_local = "fe80::1"
[[lma]]
address = "{LMA}"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
"#
    )
}

#[test]
fn ping_from_mn2_crosses_the_lma_tunnel() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED live_forwarding: {why}");
        return;
    }
    let started = Instant::now();
    let roagent = roagent_bin();
    let scratch = Scratch::new("live");
    let dir = &scratch.0;
    let prefix = Topology::unique_prefix("");
    let config_path = dir.join("roagent.toml");
    std::fs::write(&config_path, config(&prefix)).unwrap();
    let pcap_path = dir.join("core.pcap");

    // Declared after the topology: dropped (stopped) before it is removed.
    let topo = Topology::up(&prefix);
    let pcap_arg = pcap_path.to_str().unwrap();
    // -Z root: write the capture as root (tcpdump drops privileges otherwise). Wrapped in
    // `timeout` so it cannot outlive a killed test by much.
    let mut tcpdump =
        NsProcess::spawn(&topo.lma(), "tcpdump", dir, "timeout", &["40", "tcpdump", "-i", "lma", "-n", "-U", "--immediate-mode", "-Z", "root", "-w", pcap_arg]);
    let mut lma_peer =
        NsProcess::spawn(&topo.lma(), "lma-peer", dir, env!("CARGO_BIN_EXE_lma-peer"), &["--tun", "lmatun", "--mag", PROXY_COA, "--duration", "40"]);
    tcpdump.wait_for_stderr("listening on", Duration::from_secs(5)).unwrap();
    lma_peer.wait_for_stderr("lma-peer: running", Duration::from_secs(5)).unwrap();
    let mut mag = NsProcess::spawn(&topo.mag(), "roagent", dir, &roagent, &["run", "-c", config_path.to_str().unwrap(), "--duration", "40"]);
    mag.wait_for_stderr("running (", Duration::from_secs(15)).unwrap();

    let (ok, forwarded) = ping(&topo.mn2(), CORRESPONDENT, 3);
    eprintln!("--- ping {CORRESPONDENT} through roagent:\n{forwarded}");
    // The LMA's kernel learned the Proxy-CoA's MAC from roagent's own NS. Forget it, so the
    // next replies need roagent to answer the LMA's NS for the Proxy-CoA on the core link.
    let flush = exec(&topo.lma(), "ip", &["-6", "neigh", "flush", "dev", "lma"]);
    assert!(flush.status.success(), "ip neigh flush in the LMA namespace: {}", String::from_utf8_lossy(&flush.stderr));
    let (again_ok, again) = ping(&topo.mn2(), CORRESPONDENT, 2);
    eprintln!("--- ping {CORRESPONDENT} again, the LMA resolving the Proxy-CoA anew:\n{again}");
    let (unrouted_ok, unrouted) = ping(&topo.mn2(), NOT_ROUTED, 1);
    eprintln!("--- ping {NOT_ROUTED} (the LMA has no route):\n{unrouted}");

    let roagent_out = mag.stop(Duration::from_secs(5));
    let (stopped_ok, stopped) = ping(&topo.mn2(), CORRESPONDENT, 1);
    eprintln!("--- ping {CORRESPONDENT} with roagent stopped:\n{stopped}");
    let peer_out = lma_peer.stop(Duration::from_secs(3));
    // Give tcpdump a moment to write the last packets (it is in -U mode).
    std::thread::sleep(Duration::from_millis(200));
    let tcpdump_out = tcpdump.stop(Duration::from_secs(3));
    drop(topo);

    let explain = || {
        format!(
            "\n--- roagent ({}) stdout:\n{}--- roagent stderr:\n{}--- lma-peer ({}):\n{}{}--- tcpdump:\n{}--- files in {}",
            roagent_out.status,
            roagent_out.stdout,
            roagent_out.stderr,
            peer_out.status,
            peer_out.stdout,
            peer_out.stderr,
            tcpdump_out.stderr,
            dir.display()
        )
    };
    eprintln!("{}", explain());

    assert!(ok && forwarded.contains("3 received"), "ping {CORRESPONDENT} from MN2 failed:\n{forwarded}{}", explain());
    assert!(again_ok && again.contains("2 received"), "ping {CORRESPONDENT} after the LMA forgot the Proxy-CoA failed:\n{again}{}", explain());
    assert!(!unrouted_ok, "control: ping {NOT_ROUTED} (not routed by the LMA) succeeded:\n{unrouted}");
    assert!(!stopped_ok, "control: ping {CORRESPONDENT} succeeded with roagent stopped:\n{stopped}");
    assert!(roagent_out.status.success(), "roagent did not exit cleanly on SIGTERM: {}{}", roagent_out.status, explain());

    // The core link: requests MAG → LMA, replies LMA → MAG, all IPv6-in-IPv6.
    let frames = pcap::read(&pcap_path).unwrap();
    let echoes: Vec<TunneledEcho> = frames.iter().filter_map(|f| tunneled_echo(f)).collect();
    for e in &echoes {
        eprintln!("core link: {} → {} [41] {} → {} hlim {} icmpv6 type {}", e.outer_src, e.outer_dst, e.inner_src, e.inner_dst, e.inner_hop_limit, e.icmp_type);
    }
    let (mn2, cn, coa, lma): (Ipv6Addr, Ipv6Addr, Ipv6Addr, Ipv6Addr) =
        (MN2.parse().unwrap(), CORRESPONDENT.parse().unwrap(), PROXY_COA.parse().unwrap(), LMA.parse().unwrap());
    let requests = echoes.iter().filter(|e| e.icmp_type == 128 && e.inner_src == mn2 && e.inner_dst == cn).collect::<Vec<_>>();
    let replies = echoes.iter().filter(|e| e.icmp_type == 129 && e.inner_src == cn && e.inner_dst == mn2).collect::<Vec<_>>();
    assert!(requests.len() >= 5, "expected ≥ 5 tunneled echo requests on the core link, saw {}: {echoes:?}", requests.len());
    assert!(replies.len() >= 5, "expected ≥ 5 tunneled echo replies on the core link, saw {}: {echoes:?}", replies.len());
    let proxy_coa_nas = frames.iter().filter(|f| is_na_for(f, coa)).count();
    assert!(proxy_coa_nas >= 1, "roagent sent no Neighbor Advertisement for the Proxy-CoA on the core link");
    assert!(requests.iter().all(|e| e.outer_src == coa && e.outer_dst == lma), "uplink outer header is not {PROXY_COA} → {LMA}: {requests:?}");
    assert!(replies.iter().all(|e| e.outer_src == lma && e.outer_dst == coa), "downlink outer header is not {LMA} → {PROXY_COA}: {replies:?}");

    let counters = Counters::parse(&roagent_out.stdout);
    for name in ["roagent_tunnel_encapsulations_total", "roagent_tunnel_decapsulations_total"] {
        assert!(counters.get(name) >= 5, "{name} = {} (want ≥ 5){}", counters.get(name), explain());
    }
    // One for MN2 (fe80::1 on the access link), one for the LMA (the Proxy-CoA).
    assert!(counters.get("roagent_neighbor_advertisements_sent_total") >= 2, "roagent sent too few Neighbor Advertisements{}", explain());
    assert!(peer_out.stdout.contains("lma_peer_rejected_total{reason=\"source\"} 0"), "lma-peer rejected tunnel packets{}", explain());
    eprintln!("live_forwarding: ok in {:.1} s", started.elapsed().as_secs_f64());
}
