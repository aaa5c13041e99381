//! Faults, end to end on the real binary (issue 11, deliverable 5): what roagent does, counts
//! and logs when
//!
//! - the access or the core link goes down and comes back (veth down/up under
//!   `net_af_packet`): the workers keep polling and MN2's pings resume by themselves;
//! - the LMA's next hop never answers Neighbor Discovery: the held packets are dropped and
//!   counted, and the mempool is back to its baseline (`net_pcap`, nobody on the core link);
//! - the mempool is run dry by held and punted packets (a deliberately small
//!   `mempool.mbufs`): RX fails and is counted (`rx_nombuf`), forwarding stops, and it all
//!   recovers once the held packets are given up;
//! - SIGTERM at full load (`net_pcap` with `infinite_rx=1` into `net_null`): exit 0 and every
//!   mbuf returned once the ports stopped.
//!
//! The live tests (namespaces) need root and are skipped with a message otherwise; the
//! `net_pcap` ones run anywhere. About 60 s in all on the debug build.

use e2e::netns::{exec, ping, NsProcess, Topology};
use e2e::packets::*;
use e2e::pcap;
use e2e::run::{eal_args, roagent_bin, Counters, Scratch};
use e2e::tunnel_end::TunnelEnd;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CORRESPONDENT: &str = "2001:db8:9::9";
const PROXY_COA: &str = "2001:db8:c0::1";
const LMA: &str = "2001:db8:c0::2";
const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
const METRICS: &str = "127.0.0.1:9477";

fn live_config(prefix: &str, access: &str, core: &str, extra: &str) -> String {
    format!(
        r#"[eal]
args = ["-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", "{prefix}f", "--log-level", "lib.eal:warning", "--log-level", "pmd.net.pcap:warning"]
[ports.access]
device = "{access}"
[ports.core]
device = "{core}"
[mag]
proxy_coa = "{PROXY_COA}"
signaling = "static"
access_link_local = "fe80::1"
[metrics]
address = "{METRICS}"
[[lma]]
address = "{LMA}"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
{extra}"#
    )
}

/// The live topology with `lma-peer` and roagent running on `config`.
struct Live {
    topo: Topology,
    scratch: Scratch,
    lma: NsProcess,
    mag: NsProcess,
}

fn live(tag: &str, config: impl Fn(&str) -> String) -> Live {
    let scratch = Scratch::new(tag);
    let prefix = Topology::unique_prefix(tag);
    let topo = Topology::up(&prefix);
    let dir = &scratch.0;
    let path = dir.join("roagent.toml");
    std::fs::write(&path, config(&prefix)).unwrap();
    let mut lma = NsProcess::spawn(&topo.lma(), "lma-peer", dir, env!("CARGO_BIN_EXE_lma-peer"), &["--tun", "lmatun", "--mag", PROXY_COA, "--duration", "60"]);
    lma.wait_for_stderr("lma-peer: running", Duration::from_secs(5)).unwrap();
    let mut mag = NsProcess::spawn(&topo.mag(), "roagent", dir, roagent_bin(), &["run", "-c", path.to_str().unwrap(), "--duration", "60"]);
    mag.wait_for_stderr("running (", Duration::from_secs(20)).unwrap();
    Live { topo, scratch, lma, mag }
}

impl Live {
    fn metrics(&self) -> Counters {
        Counters::parse(&e2e::netns::http_get(&self.topo.mag(), METRICS, "/metrics").unwrap_or_else(|e| panic!("/metrics: {e}")))
    }

    /// Pings the correspondent once a second until one answers: how long that took.
    fn ping_until_answered(&self, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < within {
            if ping(&self.topo.mn2(), CORRESPONDENT, 1).0 {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        None
    }

    fn stop(self) -> (e2e::netns::Finished, String) {
        let roagent = self.mag.stop(Duration::from_secs(5));
        let peer = self.lma.stop(Duration::from_secs(3));
        drop(self.topo);
        let explain = format!(
            "\n--- roagent ({}) stdout:\n{}--- roagent stderr:\n{}--- lma-peer:\n{}{}--- in {}",
            roagent.status,
            roagent.stdout,
            roagent.stderr,
            peer.stdout,
            peer.stderr,
            self.scratch.0.display()
        );
        (roagent, explain)
    }
}

fn polls(c: &Counters) -> u64 {
    c.get("roagent_worker_polls_total")
}

fn link(ns: &str, ifname: &str, state: &str) {
    let out = exec(ns, "ip", &["link", "set", ifname, state]);
    assert!(out.status.success(), "ip link set {ifname} {state}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn access_and_core_links_go_down_and_come_back() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED faults (link down/up): {why}");
        return;
    }
    let started = Instant::now();
    let r = live("lk", |p| live_config(p, "net_af_packet0,iface=mag-a", "net_af_packet1,iface=mag-c", ""));
    let (mn2, mag) = (r.topo.mn2(), r.topo.mag());
    // The kernel publishes a veth's operstate (linkwatch) up to ~1 s after its carrier, and
    // on this loaded host the topology may still be settling: wait for both ports up.
    let t = Instant::now();
    while r.metrics().get("roagent_port_link_up") < 2 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (first_ok, first) = ping(&mn2, CORRESPONDENT, 2);
    let mut report = Vec::new();
    for (ifname, role) in [("mag-a", "access"), ("mag-c", "core")] {
        let before = r.metrics();
        link(&mag, ifname, "down");
        let (down_ok, down) = ping(&mn2, CORRESPONDENT, 2);
        let during = r.metrics();
        link(&mag, ifname, "up");
        let resumed = r.ping_until_answered(Duration::from_secs(10));
        // Then 3 in a row answered (a second try: this 2-core host is shared and loaded).
        let (mut after_ok, mut after) = ping(&mn2, CORRESPONDENT, 3);
        if !after.contains("3 received") {
            (after_ok, after) = ping(&mn2, CORRESPONDENT, 3);
        }
        let end = r.metrics();
        report.push((ifname, role, before, down_ok, down, during, resumed, after_ok, after, end));
    }
    let (roagent_out, explain) = r.stop();

    assert!(first_ok, "ping before any fault:\n{first}{explain}");
    for (ifname, role, before, down_ok, down, during, resumed, after_ok, after, end) in &report {
        let tx_err = |c: &Counters| c.get(&format!("roagent_port_driver_tx_errors_total{{port=\"{role}\"}}"));
        let enc = |c: &Counters| c.get("roagent_tunnel_encapsulations_total");
        let up = |c: &Counters| c.get(&format!("roagent_port_link_up{{port=\"{role}\"}}"));
        eprintln!(
            "{role} link ({ifname}) down: worker polls {} → {} → {}, {role} tx errors {} → {} → {}, link_up gauge {} → {} → {}; pings answered again {resumed:?} after up",
            polls(before),
            polls(during),
            polls(end),
            tx_err(before),
            tx_err(during),
            tx_err(end),
            up(before),
            up(during),
            up(end)
        );
        assert!(!down_ok, "control: ping crossed roagent with {ifname} down:\n{down}{explain}");
        assert!(polls(during) > polls(before), "the worker stopped polling while {ifname} was down{explain}");
        assert!(polls(end) > polls(during), "the worker stopped polling after {ifname} came back{explain}");
        assert!(resumed.is_some(), "pings did not resume within 10 s of {ifname} coming back up{explain}");
        assert!(*after_ok && after.contains("3 received"), "pings after {ifname} came back:\n{after}{explain}");
        assert!(enc(end) >= enc(during) + 3, "uplink not encapsulated again after {ifname} came back{explain}");
        // net_af_packet (22.11) reports its link up from port start to stop, whatever the
        // carrier; roagent reads the interface's operstate too.
        assert_eq!((up(before), up(during), up(end)), (1, 0, 1), "roagent_port_link_up{{port=\"{role}\"}} before, during, after{explain}");
        for change in ["down", "up"] {
            let line = format!("({role}, net_af_packet{}): link {change}", if *role == "access" { 0 } else { 1 });
            assert!(roagent_out.stderr.contains(&line), "no {line:?} logged{explain}");
        }
        if *role == "core" {
            // Uplink echo requests tunnelled into the downed core link: the kernel refuses
            // them (ENETDOWN) and the driver counts them as TX errors.
            assert!(tx_err(during) > tx_err(before), "no TX error counted while {ifname} was down{explain}");
        }
    }
    assert!(roagent_out.status.success(), "roagent did not exit cleanly{explain}");
    assert!(roagent_out.stdout.contains("# mempool in use after the ports stopped: 0 of "), "{explain}");
    eprintln!("faults link down/up: ok in {:.1} s", started.elapsed().as_secs_f64());
}

/// roagent in this namespace on `net_pcap`/`net_null` devices with `config`, its metrics on
/// an ephemeral loopback port read from its log.
struct Local {
    child: Child,
    /// Handed on by [`Local::wait`].
    scratch: Option<Scratch>,
    metrics: String,
}

fn local(tag: &str, access: &str, core: &str, body: &str, seconds: u32) -> Local {
    let scratch = Scratch::new(tag);
    let d = &scratch.0;
    let cfg = format!(
        "[eal]\nargs = {}\n[metrics]\naddress = \"127.0.0.1:0\"\n[ports.access]\ndevice = \"{access}\"\n[ports.core]\ndevice = \"{core}\"\n{body}",
        eal_args(&format!("ro{}{tag}", std::process::id())),
    )
    .replace("{dir}", &d.display().to_string());
    std::fs::write(d.join("roagent.toml"), cfg).unwrap();
    let file = |n: &str| std::fs::File::create(d.join(n)).unwrap();
    let child = Command::new(roagent_bin())
        .args(["run", "--config"])
        .arg(d.join("roagent.toml"))
        .args(["--duration", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .expect("roagent runs");
    let mut l = Local { child, scratch: Some(scratch), metrics: String::new() };
    let t = Instant::now();
    while l.metrics.is_empty() {
        let err = l.stderr();
        if let Some(at) = err.find("metrics on http://") {
            l.metrics = err[at + 18..].split('/').next().unwrap().to_string();
        } else if t.elapsed() > Duration::from_secs(20) || l.child.try_wait().unwrap().is_some() {
            panic!("roagent did not start its metrics endpoint:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    l
}

impl Local {
    fn dir(&self) -> &Path {
        &self.scratch.as_ref().expect("not yet handed on").0
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir().join("stderr")).unwrap_or_default()
    }

    fn metrics(&self) -> Counters {
        let mut c = std::net::TcpStream::connect(&self.metrics).unwrap_or_else(|e| panic!("{}: {e}\n{}", self.metrics, self.stderr()));
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        Counters::parse(&s)
    }

    /// Waits for roagent to exit (its `--duration`, or a signal sent meanwhile): its status,
    /// stdout and stderr.
    fn wait(mut self, within: Duration) -> (std::process::ExitStatus, String, String, Scratch) {
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > within {
                let _ = self.child.kill();
                let s = self.child.wait().unwrap();
                panic!("roagent did not exit within {within:?} ({s}):\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(self.dir().join("stdout")).unwrap_or_default();
        let err = self.stderr();
        (status, out, err, self.scratch.take().expect("handed on once"))
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn mn2() -> std::net::Ipv6Addr {
    a("2001:db8:3::300")
}

const PCAP_NODE: &str = r#"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
access_link_local = "fe80::1"
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
mac = "02:00:00:00:03:00"
"#;

#[test]
fn a_silent_lma_next_hop_drops_and_counts_the_held_packets() {
    // The LMA has no configured MAC and nobody is on the core link (its RX is an empty pcap):
    // MN2's uplink is tunnelled, held for the LMA's resolution, solicited 3 times 1 s apart
    // (RFC 4861 §7.3.3), then dropped.
    let started = Instant::now();
    let sent = 10u64;
    let scratch = Scratch::new("silentin");
    let up: Vec<Vec<u8>> =
        (0..sent).map(|i| ipv6_frame(e2e::run::ACCESS_MAC, MN2_MAC, &udp_packet(mn2(), a(CORRESPONDENT), 64, 1000, 2000 + i as u16, b"held"))).collect();
    let access_in = scratch.0.join("access_in.pcap");
    let core_in = scratch.0.join("core_in.pcap");
    pcap::write(&access_in, &up).unwrap();
    pcap::write(&core_in, &[]).unwrap();
    let l = local(
        "silent",
        &format!("net_pcap0,rx_pcap={},tx_pcap={{dir}}/access_out.pcap", access_in.display()),
        &format!("net_pcap1,rx_pcap={},tx_pcap={{dir}}/core_out.pcap", core_in.display()),
        PCAP_NODE,
        7,
    );
    // Start-up took its time; the packets were read at once, the first solicitation went
    // out with them. While soliciting, the last HOLD_MAX (3) are held, in mbufs.
    std::thread::sleep(Duration::from_millis(1000));
    // The least of a few readings: a solicitation on its way out takes an mbuf for a moment.
    let holding = (0..4)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(150));
            l.metrics()
        })
        .min_by_key(|c| c.get("roagent_mempool_in_use"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(3400));
    let after = l.metrics();
    let (status, stdout, stderr, s) = l.wait(Duration::from_secs(15));
    let core_out = pcap::read(&s.0.join("core_out.pcap")).unwrap();
    let exit = Counters::parse(&stdout);
    let explain = format!("\n--- stdout:\n{stdout}--- stderr:\n{stderr}");

    let held = |c: &Counters| (c.get("roagent_held_packets_total"), c.get("roagent_held_packets_dropped_total"), c.get("roagent_held_packets_sent_total"));
    eprintln!(
        "silent next hop: while soliciting held/dropped/sent = {:?}, mempool in use {}; after {:?}, in use {}; solicitations {}",
        held(&holding),
        holding.get("roagent_mempool_in_use"),
        held(&after),
        after.get("roagent_mempool_in_use"),
        after.get("roagent_neighbor_solicitations_sent_total")
    );
    assert!(status.success(), "roagent: {status}{explain}");
    assert_eq!(exit.get("roagent_punted_packets_total{reason=\"unresolved\"}"), sent, "{explain}");
    assert_eq!(holding.get("roagent_mempool_in_use"), 3, "the 3 held packets are what is in use while soliciting{explain}");
    assert_eq!(held(&holding), (sent, sent - 3, 0), "3 held per neighbor, the older ones dropped{explain}");
    assert_eq!(held(&after), (sent, sent, 0), "every held packet dropped once the LMA did not answer{explain}");
    assert_eq!(after.get("roagent_mempool_in_use"), 0, "the mempool back to its baseline (0): nothing leaked{explain}");
    assert_eq!(after.get("roagent_neighbor_solicitations_sent_total"), 3, "{explain}");
    let solicited = a("ff02::1:ff00:2");
    let ns: Vec<_> = core_out.iter().filter(|f| f.len() > 54 + 24 && f[20] == 58 && f[54] == 135 && f[38..54] == solicited.octets()).collect();
    assert_eq!((ns.len(), core_out.len()), (3, 3), "3 NS for the LMA on the core link and nothing else{explain}");
    assert!(stderr.contains(&format!("neighbor {LMA} did not answer 3 solicitations; 3 packet(s) dropped")), "{explain}");
    assert!(stdout.contains("# mempool in use after the ports stopped: 0 of "), "{explain}");
    eprintln!("faults silent next hop: ok in {:.1} s", started.elapsed().as_secs_f64());
}

/// Static nodes on the access link that never answer ND: each holds up to 3 packets.
fn silent_nodes(n: u32) -> String {
    (0..n).map(|i| format!("[[node]]\nname = \"q{i}\"\naddresses = [\"2001:db8:4::{:x}\"]\n", i + 1)).collect()
}

#[test]
fn an_exhausted_mempool_degrades_forwarding_counts_it_and_recovers() {
    if let Some(why) = e2e::netns::skip_reason() {
        eprintln!("SKIPPED faults (mempool exhaustion): {why}");
        return;
    }
    let started = Instant::now();
    // net_pcap on the veths (libpcap live capture): unlike net_af_packet (22.11), it counts
    // an RX that finds no mbuf (rx_nombuf). The neighbor caps raised to their maximum (the
    // default hold_total of 512 alone keeps holds from running a 1023-mbuf pool dry): 600
    // silent nodes can then hold 1024 packets; the pool has 1023.
    let nodes = 600;
    let r = live("mp", |p| {
        live_config(
            p,
            "net_pcap0,iface=mag-a",
            "net_pcap1,iface=mag-c",
            &format!("[mempool]\nmbufs = 1023\n[neighbors]\nhold_total = 1024\nmax_resolutions = 1024\n{}", silent_nodes(nodes)),
        )
    });
    let (mn2, lma) = (r.topo.mn2(), r.topo.lma());
    let (first_ok, first) = ping(&mn2, CORRESPONDENT, 2);
    let baseline = r.metrics();
    // The flood, for 2 s: every 200 ms one downlink packet per silent node down the tunnel,
    // as fast as the LMA's kernel sends them. roagent punts each (next hop unresolved) and
    // holds up to 3 per node, more than the pool has.
    let tun = TunnelEnd::open(&lma).unwrap();
    let coa = a(PROXY_COA);
    // The flood goes on until the pool is seen dry (at most 8 s: this host is shared and
    // loaded), then 2 s more while MN2 pings.
    let dry_at = 1023 - 2 * 190;
    let flooding = std::sync::atomic::AtomicBool::new(true);
    let (dry, dry_ping, during, flood_sent) = std::thread::scope(|s| {
        let flooder = s.spawn(|| {
            let mut sent = 0u64;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                for i in 0..nodes {
                    let p = udp_packet(a(CORRESPONDENT), a(&format!("2001:db8:4::{:x}", i + 1)), 64, 7, 9000, &[0x5a; 200]);
                    if tun.send(&p, &coa).is_ok() {
                        sent += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            sent
        });
        let t = Instant::now();
        let dry = loop {
            std::thread::sleep(Duration::from_millis(100));
            let c = r.metrics();
            if c.get("roagent_mempool_in_use") >= dry_at || t.elapsed() > Duration::from_secs(8) {
                break c;
            }
        };
        let dry_ping = ping(&mn2, CORRESPONDENT, 3);
        let during = r.metrics();
        flooding.store(false, std::sync::atomic::Ordering::Relaxed);
        (dry, dry_ping, during, flooder.join().unwrap())
    });
    let t_flood_end = Instant::now();
    // The held packets are given up after 3 unanswered solicitations (~3 s); forwarding
    // comes back by itself.
    let resumed = r.ping_until_answered(Duration::from_secs(10)).map(|_| t_flood_end.elapsed());
    let (after_ok, after) = ping(&mn2, CORRESPONDENT, 3);
    // Every hold given up by now (3 s after the last flood packet).
    std::thread::sleep(Duration::from_secs(4).saturating_sub(t_flood_end.elapsed()));
    let end = r.metrics();
    let (roagent_out, explain) = r.stop();

    let in_use = |c: &Counters| c.get("roagent_mempool_in_use");
    let rx_lost = |c: &Counters| c.get("roagent_port_driver_rx_nombuf_total") + c.get("roagent_port_driver_rx_missed_total");
    let nombuf = |c: &Counters, port: &str| c.get(&format!("roagent_port_driver_rx_nombuf_total{{port=\"{port}\"}}"));
    let enc = |c: &Counters| c.get("roagent_tunnel_encapsulations_total");
    let (_, dry_ping) = dry_ping;
    eprintln!(
        "mempool 1023, {flood_sent} flood packets: in use {} (baseline) → {} (flooded) → {} (end); rx_nombuf core {} → {} → {}, access {} → {} → {}; \
         rx_missed {}; held {} dropped {} sent {}; control-core allocation failures {}; encapsulated {} → {} → {}; \
         pings answered again {resumed:?} after the flood",
        in_use(&baseline),
        in_use(&dry),
        in_use(&end),
        nombuf(&baseline, "core"),
        nombuf(&during, "core"),
        nombuf(&end, "core"),
        nombuf(&baseline, "access"),
        nombuf(&during, "access"),
        nombuf(&end, "access"),
        end.get("roagent_port_driver_rx_missed_total"),
        end.get("roagent_held_packets_total"),
        end.get("roagent_held_packets_dropped_total"),
        end.get("roagent_held_packets_sent_total"),
        end.get("roagent_mbuf_alloc_failed_total"),
        enc(&baseline),
        enc(&during),
        enc(&end)
    );
    eprintln!("--- ping during the flood:\n{dry_ping}");
    assert!(first_ok, "ping before the flood:\n{first}{explain}");
    assert_eq!(baseline.get("roagent_mempool_size"), 1023, "{explain}");
    assert!(roagent_out.stderr.contains("mempool.mbufs = 1023 is below the sizing rule's"), "start-up warns of the small pool{explain}");
    // Run dry: all but what the lcores' caches keep (127 each, up to 190 before a flush).
    assert!(in_use(&dry) >= dry_at, "the pool is not exhausted: {} in use{explain}", in_use(&dry));
    assert!(
        nombuf(&during, "core") + nombuf(&during, "access") > nombuf(&baseline, "core") + nombuf(&baseline, "access"),
        "RX finding no mbuf is not counted{explain}"
    );
    assert!(!dry_ping.contains(" 3 received"), "forwarding did not degrade with the pool dry:\n{dry_ping}{explain}");
    assert!(end.get("roagent_mbuf_alloc_failed_total") > 0, "the solicitations the control core could not build are counted{explain}");
    // Nothing still held: every held packet was given up (counted) or sent (MN2's or the
    // LMA's, resolved meanwhile).
    let (held, dropped, released) =
        (end.get("roagent_held_packets_total"), end.get("roagent_held_packets_dropped_total"), end.get("roagent_held_packets_sent_total"));
    assert!(held >= dry_at && held == dropped + released && released <= 3, "held {held}, dropped {dropped}, sent {released}{explain}");
    assert!(rx_lost(&end) > rx_lost(&baseline), "{explain}");
    // Recovered by itself.
    assert!(resumed.is_some(), "forwarding did not come back within 10 s of the flood{explain}");
    assert!(after_ok && after.contains("3 received"), "pings after the recovery:\n{after}{explain}");
    assert!(enc(&end) >= enc(&during) + 3, "forwarding counters did not move again{explain}");
    assert_eq!(in_use(&end), in_use(&baseline), "mempool in use after the recovery vs before the flood{explain}");
    assert!(roagent_out.status.success(), "{explain}");
    assert!(roagent_out.stdout.contains("# mempool in use after the ports stopped: 0 of 1023"), "{explain}");
    eprintln!("faults mempool exhaustion: ok in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn sigterm_at_full_load_exits_cleanly_with_every_mbuf_returned() {
    // MN2's uplink (forwarded into net_null) and echo requests to fe80::1 (punted, answered,
    // injected back): as fast as the worker takes them, from net_pcap's infinite RX, whose
    // preloaded copies sit in mbufs of the pool until the port is closed.
    let started = Instant::now();
    let scratch = Scratch::new("loadin");
    let mut frames = Vec::new();
    for i in 0..31u16 {
        frames.push(ipv6_frame(e2e::run::ACCESS_MAC, MN2_MAC, &udp_packet(mn2(), a(CORRESPONDENT), 64, 1000, 2000 + i, &[0x11; 64])));
    }
    frames.push(ipv6_frame(e2e::run::ACCESS_MAC, MN2_MAC, &echo_request(mn2(), a("fe80::1"), 64, 7, 1)));
    let input = scratch.0.join("up.pcap");
    pcap::write(&input, &frames).unwrap();
    let body = PCAP_NODE.replace("address = \"2001:db8:c0::2\"\n", "address = \"2001:db8:c0::2\"\nmac = \"02:00:00:00:0c:02\"\n");
    let l = local("load", &format!("net_pcap0,rx_pcap={},infinite_rx=1", input.display()), "net_null1,no-rx=1", &body, 60);
    let rx = |c: &Counters| c.get("roagent_port_rx_packets_total{port=\"access\"}");
    std::thread::sleep(Duration::from_millis(1000));
    let a1 = l.metrics();
    let t1 = Instant::now();
    // At load: at least 100k packets since the first reading (within 10 s, the host being
    // shared and loaded), then SIGTERM at once.
    let a2 = loop {
        std::thread::sleep(Duration::from_millis(250));
        let c = l.metrics();
        if rx(&c) >= rx(&a1) + 100_000 || t1.elapsed() > Duration::from_secs(10) {
            break c;
        }
    };
    let window = t1.elapsed().as_secs_f64();
    let sent_at = Instant::now();
    // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
    unsafe { libc::kill(l.child.id() as libc::pid_t, libc::SIGTERM) };
    let (status, stdout, stderr, _s) = l.wait(Duration::from_secs(20));
    let took = sent_at.elapsed();
    let exit = Counters::parse(&stdout);
    let explain = format!("\n--- stdout:\n{stdout}--- stderr:\n{stderr}");
    let rate = (rx(&a2) - rx(&a1)) as f64 / window;
    eprintln!(
        "full load: {:.0} packets/s in, mempool in use {} while running; SIGTERM → exit {status} in {took:?}; exit report: in use {} before the ports stopped, {}",
        rate,
        a2.get("roagent_mempool_in_use"),
        exit.get("roagent_mempool_in_use"),
        stdout.lines().find(|l| l.starts_with("# mempool in use after")).unwrap_or("no after-stop line")
    );
    assert!(rx(&a2) >= rx(&a1) + 100_000, "not at load: {rate:.0} packets/s{explain}");
    assert!(a2.get("roagent_tunnel_encapsulations_total") > a1.get("roagent_tunnel_encapsulations_total"), "{explain}");
    assert!(a2.get("roagent_echo_replies_sent_total") > 0, "the punt path was not loaded{explain}");
    assert!(status.success(), "roagent on SIGTERM at full load: {status}{explain}");
    assert!(stderr.contains("stopping"), "{explain}");
    // The preloaded copies are only freed when the port closes: the after-stop figure is
    // the one that says nothing leaked.
    assert!(stdout.contains("# mempool in use after the ports stopped: 0 of "), "{explain}");
    assert!(stderr.contains("mempool: every mbuf returned after the ports stopped"), "{explain}");
    assert!(exit.get("roagent_port_rx_packets_total") >= rx(&a2), "{explain}");
    eprintln!("faults SIGTERM at load: ok in {:.1} s", started.elapsed().as_secs_f64());
}
