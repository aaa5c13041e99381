//! BENCH ONLY (scripts/bench; compiled only with the `bench` feature): the synthetic keys
//! the testpmd-style benchmark uses, their preloading into the production fast-path binding
//! table, the control-core churn, the in-process generator's frames, the `[bench]` config
//! section that asks for them, and the template frames (`roagent bench-packets`). `app::run`
//! calls [`Run`] at its seams; lookups and rewrites are always the production code
//! (`dataplane::forward`, `dataplane::bindings`).

use dataplane::bindings::Writer;
use dataplane::counters::Role;
use dataplane::generator::Generator;
use dataplane::mempool::Mempool;
use dataplane::port::Port;
use dataplane::worker::Rx;
use serde::Deserialize;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::{checksum, hao, ipv6};

/// The `[bench]` section, for scripts/bench only: synthetic bindings preloaded into the production
/// fast-path table before the workers start (this file says which keys), a control-core
/// churn of adds and deletes per second, and the generator. Lookups and rewrites stay the
/// production code; only the table's contents are synthetic.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchCfg {
    /// Bindings `bench::key(0..n)` published before the workers start.
    #[serde(default)]
    pub preload_bindings: u32,
    /// Bindings the control core adds and deletes per second while running (beyond the
    /// preloaded ones).
    #[serde(default)]
    pub churn_per_sec: u32,
    /// A traffic mix (`up-nobind`, `up-bind`, `down-decap`, `down-hao`) made in process by
    /// worker 0 in place of the RX queue of the port it arrives on, with keys drawn from
    /// the preloaded bindings (scripts/bench --generator). Empty: off.
    #[serde(default)]
    pub generator: String,
    /// Zipf-like keys for the generator instead of uniform ones.
    #[serde(default)]
    pub generator_zipf: bool,
}

impl BenchCfg {
    /// Room in the binding table: `max_bindings`, or the preloaded synthetic bindings and
    /// the churn's window if that is more.
    pub fn max_bindings(&self, max_bindings: u32) -> u32 {
        max_bindings.max(self.preload_bindings.saturating_add(if self.churn_per_sec > 0 { 4096 } else { 0 }))
    }
}

/// The `[bench]` knobs of one `roagent run`, at `app::run`'s seams: one call each.
pub struct Run {
    churn: Churn,
    generator: Option<(Role, Generator)>,
}

impl Run {
    /// Publishes the preloaded bindings into `table` (before the workers start) and makes
    /// worker 0's generator; hands the table back.
    pub fn start(cfg: &BenchCfg, mut table: Writer, pool: &Arc<Mempool>, access: &Port, core: &Port) -> Result<(Writer, Run), String> {
        if cfg.preload_bindings > 0 {
            let t = Instant::now();
            preload(&mut table, cfg.preload_bindings)?;
            tracing::warn!("bench: {} synthetic bindings preloaded in {:.1} s", cfg.preload_bindings, t.elapsed().as_secs_f64());
        }
        let generator = if cfg.generator.is_empty() {
            None
        } else {
            let GeneratorSpec { role, template, stamps, keys } =
                generator(&cfg.generator, cfg.preload_bindings, cfg.generator_zipf, if cfg.generator.starts_with("up") { access.mac } else { core.mac })?;
            let port = if role == Role::Access { access.id } else { core.id };
            Some((role, Generator::new(pool.clone(), template, stamps, keys, port)?))
        };
        Ok((table, Run { churn: Churn::new(cfg.churn_per_sec, cfg.preload_bindings), generator }))
    }

    /// The first worker asking gets the generator in place of one port's RX queue.
    pub fn rx(&mut self, rx: Rx) -> Rx {
        rx.with_generator(self.generator.take())
    }

    /// Binding adds and deletes from the control core (no-op unless asked).
    pub fn step(&mut self, table: &mut Writer, now: Duration) {
        self.churn.step(table, now);
    }

    /// The churn's counts, after the final metrics.
    pub fn report(&self) {
        if self.churn.per_sec > 0 {
            crate::report::print_text(&format!(
                "roagent_bench_churn_total{{op=\"add\"}} {}\nroagent_bench_churn_total{{op=\"delete\"}} {}\n",
                self.churn.added, self.churn.deleted
            ));
        }
    }
}

/// Binding i: home address 2001:db8:1::/64 + i + 1 (MN1's home addresses), attached address
/// 2001:db8:3::/64 + i + 1 (inside the bench node's prefix), care-of 2001:db8:2::/64 + i + 1.
pub fn home(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0001_0000u128 << 64) | (i as u128 + 1))
}
pub fn attached(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0003_0000u128 << 64) | (i as u128 + 1))
}
pub fn care_of(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0002_0000u128 << 64) | (i as u128 + 1))
}
/// A correspondent with no binding (uplink without binding, plain downlink).
pub fn unbound(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0009_0000u128 << 64) | (i as u128 + 1))
}

pub const PROXY_COA: &str = "2001:db8:c0::1";
pub const LMA: &str = "2001:db8:c0::2";
pub const NODE_MAC: MacAddr = [2, 0, 0, 0, 3, 0];
pub const LMA_MAC: MacAddr = [2, 0, 0, 0, 0xc, 2];

/// Publishes bindings 0..n into the fast-path table, as the agent would after n Binding
/// Updates (the reflector's own cache does not know them: they never expire).
pub fn preload(table: &mut Writer, n: u32) -> Result<(), String> {
    for i in 0..n as u64 {
        table.upsert(&home(i), &attached(i), &care_of(i)).map_err(|e| format!("bench.preload_bindings: binding {i} refused: {e:?}"))?;
    }
    Ok(())
}

/// Adds and deletes `per_sec` bindings a second beyond the preloaded ones, keeping
/// `WINDOW` of them live, from the control core (the table's only writer).
pub struct Churn {
    per_sec: u32,
    base: u64,
    next: u64,
    done: u64,
    pub added: u64,
    pub deleted: u64,
}

const WINDOW: u64 = 1000;

impl Churn {
    pub fn new(per_sec: u32, preloaded: u32) -> Churn {
        Churn { per_sec, base: preloaded as u64, next: 0, done: 0, added: 0, deleted: 0 }
    }

    /// Catches up with the schedule at `now`.
    pub fn step(&mut self, table: &mut Writer, now: Duration) {
        if self.per_sec == 0 {
            return;
        }
        let due = (now.as_secs_f64() * self.per_sec as f64) as u64;
        while self.done < due {
            let i = self.base + self.next;
            if table.upsert(&home(i), &attached(i), &care_of(i)).is_ok() {
                self.added += 1;
            }
            if self.next >= WINDOW {
                let j = self.base + self.next - WINDOW;
                if table.remove(&home(j), &attached(j)) {
                    self.deleted += 1;
                }
            }
            // Keys cycle through 4 windows so the table does not grow.
            self.next = (self.next + 1) % (4 * WINDOW);
            self.done += 1;
        }
    }
}

/// Traffic mixes: which frames the bench feeds, and to which port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Access port: attached node → an address without binding (encapsulation only).
    UpNoBinding,
    /// Access port: attached node → a home address with a binding (RH2 + encapsulation).
    UpBinding,
    /// Core port: tunneled from the LMA, plain inner packet (decapsulation).
    DownDecap,
    /// Core port: tunneled, inner packet with a Home Address option matching a binding.
    DownHao,
    /// Core port: DownHao with one frame in 100 a HoTI to an attached node (1 % signaling).
    DownHaoHoti,
    /// Core port: DownHao with every other frame a HoTI (scripts/bench-signaling `fwd+hoti`:
    /// signaling far beyond what the control core answers).
    DownHaoHoti50,
    /// Core port: a signaling flood (issue 11), tunneled from the LMA to the attached
    /// nodes: HoTI, CoTI and forged Binding Update in turn, from 65,536 distinct spoofed
    /// sources (`flood_frame`), none of them a bound peer.
    Flood,
    /// Core port: DownHao with every other frame one of Flood's (50 % flood).
    DownHaoFlood,
    /// Core port: DownHao and DownDecap in turn: two data paths alternating, the control
    /// for what alternating costs by itself (scripts/bench --flood).
    DownHaoDecap,
    /// Access port: UpNoBinding with hop limit 1, from 65,536 sources of the attached
    /// node's prefix: every frame draws an ICMPv6 Time Exceeded (RFC 4443 §3.3).
    HopLimitFlood,
    /// Access port: UpNoBinding with every other frame one of HopLimitFlood's.
    UpNoBindingHopLimitFlood,
    /// Core port: HoTIs only, tunneled from the LMA, each from its own home address with its
    /// own cookie (scripts/bench-signaling `hoti`).
    Hoti,
    /// Core port: signed Binding Updates (care-of address + Home Address option, Nonce
    /// Indices, Binding Authorization Data), one per mobile node, all with the same sequence
    /// number: the first of each is accepted, every replay is answered with status 135 after
    /// the whole verification (scripts/bench-signaling `bu`). Needs `--seed`.
    BindingUpdate,
    /// Core port: four Binding Updates per mobile node whose sequence numbers step by 16384,
    /// so each is newer than the one before, also when the pcap wraps around: accepted and
    /// the binding refreshed whenever the control core sees a node's BUs in order (ring-full
    /// drops in between make some 135). Needs `--seed`.
    BindingUpdateFresh,
}

impl Mix {
    pub fn parse(s: &str) -> Result<Mix, String> {
        Ok(match s {
            "up-nobind" => Mix::UpNoBinding,
            "up-bind" => Mix::UpBinding,
            "down-decap" => Mix::DownDecap,
            "down-hao" => Mix::DownHao,
            "down-hao-hoti" => Mix::DownHaoHoti,
            "down-hao-hoti50" => Mix::DownHaoHoti50,
            "flood" => Mix::Flood,
            "down-hao-flood" => Mix::DownHaoFlood,
            "hl1-flood" => Mix::HopLimitFlood,
            "down-hao-decap" => Mix::DownHaoDecap,
            "up-nobind-hl1-flood" => Mix::UpNoBindingHopLimitFlood,
            "hoti" => Mix::Hoti,
            "bu" => Mix::BindingUpdate,
            "bu-fresh" => Mix::BindingUpdateFresh,
            _ => {
                return Err(format!("--mix: {s:?} is not one of up-nobind, up-bind, down-decap, down-hao, down-hao-hoti, down-hao-hoti50, flood, down-hao-flood, hl1-flood, up-nobind-hl1-flood, down-hao-decap, hoti, bu, bu-fresh"))
            }
        })
    }
}

/// A small deterministic generator (xorshift64*), so runs see the same keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Which binding frame j uses: every key once in order when they fit, else drawn uniformly
/// or Zipf-like (s ≈ 1: P(rank ≤ k) ≈ ln k / ln n, drawn as n^u), ranks scattered over the
/// key space so hot keys are not neighbours in memory.
pub fn keys(n: u64, frames: usize, zipf: bool, seed: u64) -> Vec<u64> {
    let n = n.max(1);
    let mut r = Rng(seed | 1);
    (0..frames as u64)
        .map(|j| {
            if !zipf && n <= frames as u64 {
                j % n
            } else if zipf {
                let rank = ((n as f64).powf(r.unit()) as u64).saturating_sub(1).min(n - 1);
                // A fixed odd multiplier permutes 0..n when n is a power of two; otherwise close enough.
                rank.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n
            } else {
                r.next() % n
            }
        })
        .collect()
}

fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    ipv6::Repr { src, dst, next_header: nh, payload_len: payload.len() as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(&mut p).expect("40 bytes");
    p.extend_from_slice(payload);
    p
}

/// UDP with 16 bytes of data (a 78-byte frame when plain), checksummed over (src, dst).
fn udp(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut u = vec![0u8; 24];
    u[0..2].copy_from_slice(&1024u16.to_be_bytes());
    u[2..4].copy_from_slice(&2048u16.to_be_bytes());
    u[4..6].copy_from_slice(&24u16.to_be_bytes());
    let c = checksum::upper_layer(&src, &dst, ipv6::proto::UDP, &u);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN];
    ethernet::write_header(&mut f, dst, src, ETHERTYPE_IPV6).expect("14 bytes");
    f.extend_from_slice(ip);
    f
}

/// A HoTI (`home`) or CoTI (RFC 6275 §6.1.3, §6.1.4) from `src` to `cn` with `cookie`, in
/// `wire::mobility`'s layout, checksummed.
fn test_init(home: bool, src: Ipv6Addr, cn: Ipv6Addr, cookie: u64) -> Vec<u8> {
    use wire::mobility::{CareOfTestInit, HomeTestInit};
    let cookie = cookie.to_be_bytes();
    let mut mh = if home { HomeTestInit { cookie }.to_bytes() } else { CareOfTestInit { cookie }.to_bytes() };
    wire::mobility::fill_checksum(&mut mh, &src, &cn).expect("a 16-byte message");
    ip6(src, cn, ipv6::proto::MOBILITY, &mh)
}

/// HoTI from home address `home(k)` to the attached node `attached(k)`, with cookie `cookie`.
fn hoti(k: u64, cookie: u64) -> Vec<u8> {
    test_init(true, home(k), attached(k), cookie)
}

/// Distinct spoofed sources of the flood mixes.
pub const FLOOD_SOURCES: u64 = 65_536;

/// Flood frame f (inner packet) to the attached node `attached(k)` from spoofed source
/// 2001:db8:67::/64 + s + 1, s = f mod 65,536: a HoTI, a CoTI, or a forged Binding Update
/// with home address 2001:db8:66::/64 + s + 1 (Nonce Indices 0x1234 twice, an
/// authenticator under a key nobody holds), in turn by f mod 3. Valid layouts and MH
/// checksums, so each one is punted.
pub fn flood_frame(f: u64, k: u64) -> Vec<u8> {
    use wire::mobility::{self, BindingUpdate};
    let s = f % FLOOD_SOURCES;
    let spoofed_home = Ipv6Addr::from((0x2001_0db8_0066_0000u128 << 64) | (s as u128 + 1));
    let spoofed_coa = Ipv6Addr::from((0x2001_0db8_0067_0000u128 << 64) | (s as u128 + 1));
    let cn = attached(k);
    match f % 3 {
        kind @ (0 | 1) => test_init(kind == 0, spoofed_coa, cn, f),
        _ => {
            let bu =
                BindingUpdate { seq: f as u16, ack: true, lifetime_units: 100, nonce_indices: Some((0x1234, 0x1234)), has_bad: true, ..Default::default() };
            let mut mh = bu.to_bytes();
            let forged: reflector::crypto::BindingManagementKey = [0x5a; 20];
            reflector::crypto::sign(&mut mh, &forged, &spoofed_coa, &cn).expect("BU with BAD");
            mobility::fill_checksum(&mut mh, &spoofed_home, &cn).expect("BU");
            let mut opts = vec![0u8; hao::DEST_OPTS_LEN];
            hao::emit_dest_opts(&mut opts, ipv6::proto::MOBILITY, &spoofed_home).expect("24 bytes");
            opts.extend_from_slice(&mh);
            ip6(spoofed_coa, cn, ipv6::proto::DEST_OPTS, &opts)
        }
    }
}

/// Hop-limit flood frame f: UDP from the attached node's address `attached(f mod 65,536)`
/// to `unbound(k)` with hop limit 1, so the MAG must not forward it (RFC 8200 §3) and
/// owes its source a Time Exceeded.
fn hop_limit_flood_frame(f: u64, k: u64, mag_mac: MacAddr) -> Vec<u8> {
    let (s, d) = (attached(f % FLOOD_SOURCES), unbound(k));
    let mut ip = ip6(s, d, ipv6::proto::UDP, &udp(s, d));
    ip[7] = 1;
    frame(mag_mac, NODE_MAC, &ip)
}

/// A frame from the LMA down the tunnel to the MAG's Proxy-CoA.
fn tunneled(mag_mac: MacAddr, inner: &[u8]) -> Vec<u8> {
    let lma: Ipv6Addr = LMA.parse().expect("const");
    let coa: Ipv6Addr = PROXY_COA.parse().expect("const");
    frame(mag_mac, LMA_MAC, &ip6(lma, coa, ipv6::proto::IPV6, inner))
}

/// The frame of `mix` for binding `k`, addressed to the MAG port's MAC `mag_mac`.
/// (Binding Update mixes: see [`signed_binding_updates`].)
pub fn packet(mix: Mix, k: u64, j: usize, mag_mac: MacAddr) -> Vec<u8> {
    let tunneled = |inner: &[u8]| tunneled(mag_mac, inner);
    match mix {
        Mix::HopLimitFlood => hop_limit_flood_frame(j as u64, k, mag_mac),
        Mix::UpNoBindingHopLimitFlood if j % 2 == 1 => hop_limit_flood_frame(j as u64 / 2, k, mag_mac),
        Mix::UpNoBinding | Mix::UpNoBindingHopLimitFlood => {
            let (s, d) = (attached(k), unbound(k));
            frame(mag_mac, NODE_MAC, &ip6(s, d, ipv6::proto::UDP, &udp(s, d)))
        }
        Mix::UpBinding => {
            let (s, d) = (attached(k), home(k));
            frame(mag_mac, NODE_MAC, &ip6(s, d, ipv6::proto::UDP, &udp(s, d)))
        }
        Mix::DownHaoDecap if j % 2 == 1 => packet(Mix::DownDecap, k, j, mag_mac),
        Mix::DownDecap => {
            let (s, d) = (unbound(k), attached(k));
            tunneled(&ip6(s, d, ipv6::proto::UDP, &udp(s, d)))
        }
        Mix::DownHaoHoti if j % 100 == 99 => tunneled(&hoti(k, j as u64)),
        Mix::DownHaoHoti50 if j % 2 == 1 => tunneled(&hoti(k, j as u64)),
        Mix::Flood => tunneled(&flood_frame(j as u64, k)),
        Mix::DownHaoFlood if j % 2 == 1 => tunneled(&flood_frame(j as u64 / 2, k)),
        // (The BU mixes are made by `signed_binding_updates`; a HoTI stands in here.)
        Mix::Hoti | Mix::BindingUpdate | Mix::BindingUpdateFresh => tunneled(&hoti(k, j as u64)),
        Mix::DownHao | Mix::DownHaoHoti | Mix::DownHaoHoti50 | Mix::DownHaoFlood | Mix::DownHaoDecap => {
            let (s, d, h) = (care_of(k), attached(k), home(k));
            let mut opts = vec![0u8; hao::DEST_OPTS_LEN];
            hao::emit_dest_opts(&mut opts, ipv6::proto::UDP, &h).expect("24 bytes");
            // The pseudo-header uses the home address (RFC 6275 §9.3.1).
            opts.extend_from_slice(&udp(h, d));
            tunneled(&ip6(s, d, ipv6::proto::DEST_OPTS, &opts))
        }
    }
}

/// The in-process generator of `mix` (`[bench] generator`): the port role it feeds, the
/// template frame, where the key's interface identifier goes, and the identifiers to stamp
/// (keys of bindings 0..n, uniform or Zipf-like, in random order).
pub fn generator(mix: &str, n: u32, zipf: bool, mag_mac: MacAddr) -> Result<GeneratorSpec, String> {
    let mix = match Mix::parse(mix) {
        Ok(m @ (Mix::UpNoBinding | Mix::UpBinding | Mix::DownDecap | Mix::DownHao)) => m,
        _ => return Err(format!("bench.generator: {mix:?} is not one of up-nobind, up-bind, down-decap, down-hao")),
    };
    // Every address of the template frame that depends on the key ends in this identifier
    // (bench addresses are prefix::/64 + i + 1); its places are the stamps.
    const MARK: u64 = 0x5a5a_5a5a_5a5a_5a5a;
    let template = packet(mix, MARK - 1, 0, mag_mac);
    let stamps: Vec<usize> = (0..template.len().saturating_sub(7)).filter(|&o| template[o..o + 8] == MARK.to_be_bytes()).collect();
    let role = match mix {
        Mix::UpNoBinding | Mix::UpBinding => dataplane::counters::Role::Access,
        _ => dataplane::counters::Role::Core,
    };
    // 4M draws (32 MiB): enough to touch every line of an 8M-binding table many times.
    const DRAWS: usize = 1 << 22;
    let mut ks = keys(u64::from(n.max(1)), DRAWS, zipf, 0x9e4e);
    if !zipf {
        // keys() lists a small table in order; shuffle so lookups are not sequential.
        let mut r = Rng(0x5eed_5eed);
        for i in (1..ks.len()).rev() {
            ks.swap(i, (r.next() % (i as u64 + 1)) as usize);
        }
    }
    Ok(GeneratorSpec { role, template, stamps, keys: ks.into_iter().map(|k| k + 1).collect() })
}

/// What [`generator`] makes: see `dataplane::generator::Generator::new`.
pub struct GeneratorSpec {
    /// The port role the frames arrive on.
    pub role: dataplane::counters::Role,
    pub template: Vec<u8>,
    pub stamps: Vec<usize>,
    pub keys: Vec<u64>,
}

/// Reflector settings with the reply rate limits opened (signed BUs made ahead of a run).
fn unlimited() -> reflector::Config {
    reflector::Config {
        replies_per_sec_per_source: u32::MAX,
        reply_burst_per_source: u32::MAX,
        replies_per_sec_total: u32::MAX,
        reply_burst_total: u32::MAX,
        ..Default::default()
    }
}

/// Binding Updates that roagent started with `ROAGENT_INSECURE_TEST_ENTROPY=seed` accepts:
/// mobile node `k` (home `home(k)`, care-of `care_of(k)`, correspondent `attached(k)`) runs
/// return routability against a reflector made from the same seed at the same instant
/// (Kcn and the nonce are then the binary's: they only rotate after `nonce_interval`, and
/// stay valid 240 s), as tests/pcap_agent.rs does, takes the keygen tokens from the HoT and
/// CoT it answers, and signs its BU with Kbm (RFC 6275 §5.2.5, §5.2.6). `per_node` BUs per
/// node, sequence numbers stepping by 65536 / `per_node`; frame j is node j / per_node's
/// (j % per_node)-th BU, nodes in rounds so one node's BUs are far apart.
pub fn signed_binding_updates(seed: u64, nodes: u64, per_node: u16, mag_mac: MacAddr) -> Result<Vec<Vec<u8>>, String> {
    use reflector::{crypto, Action, Inbound, Reflector, Reply, TestEntropy};
    use wire::mobility::{self, BindingUpdate, CareOfTest, HomeTest};
    let open = unlimited();
    let mut rng = TestEntropy::new(seed);
    let mut r = Reflector::new(open, Duration::ZERO, &mut rng);
    let mut tokens = Vec::new();
    for k in 0..nodes {
        let (c, cn) = (care_of(k), attached(k));
        let (mut home_token, mut care_of_token) = (None, None);
        for pkt in [hoti(k, k), test_init(false, c, cn, k)] {
            let hdr = ipv6::Header::new_checked(&pkt[..]).map_err(|e| e.to_string())?;
            let inb = Inbound { src: hdr.src_addr(), dst: hdr.dst_addr(), home_address: None, ipv6_packet: &pkt, mh_offset: ipv6::HEADER_LEN };
            let mut out = Vec::new();
            r.on_mobility(Duration::ZERO, &inb, &mut out);
            match &out[..] {
                [Action::Send(Reply::Mobility { mh, mh_type: mobility::mh_type::HOME_TEST, .. })] => {
                    let t = HomeTest::parse(mh).map_err(|e| e.to_string())?;
                    home_token = Some((t.nonce_index, t.token));
                }
                [Action::Send(Reply::Mobility { mh, mh_type: mobility::mh_type::CARE_OF_TEST, .. })] => {
                    let t = CareOfTest::parse(mh).map_err(|e| e.to_string())?;
                    care_of_token = Some((t.nonce_index, t.token));
                }
                other => return Err(format!("return routability for node {k}: {other:?}")),
            }
        }
        tokens.push((home_token.ok_or("no HoT")?, care_of_token.ok_or("no CoT")?));
    }
    let step = (65536 / u32::from(per_node.max(1))) as u16;
    let mut frames = Vec::new();
    for round in 0..per_node {
        for (k, &((hi, ht), (ci, ct))) in tokens.iter().enumerate() {
            let k = k as u64;
            let (h, c, cn) = (home(k), care_of(k), attached(k));
            let bu = BindingUpdate {
                seq: round.wrapping_mul(step),
                ack: true,
                lifetime_units: 100,
                nonce_indices: Some((hi, ci)),
                has_bad: true,
                ..Default::default()
            };
            let mut mh = bu.to_bytes();
            crypto::sign(&mut mh, &crypto::binding_key(&ht, Some(&ct)), &c, &cn).map_err(|e| e.to_string())?;
            // The pseudo-header source is the home address (RFC 6275 §6.3).
            mobility::fill_checksum(&mut mh, &h, &cn).map_err(|e| e.to_string())?;
            let mut opts = vec![0u8; hao::DEST_OPTS_LEN];
            hao::emit_dest_opts(&mut opts, ipv6::proto::MOBILITY, &h).map_err(|e| e.to_string())?;
            opts.extend_from_slice(&mh);
            frames.push(tunneled(mag_mac, &ip6(c, cn, ipv6::proto::DEST_OPTS, &opts)));
        }
    }
    Ok(frames)
}

/// A classic pcap file (Ethernet) of `frames`.
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &0u32.to_le_bytes(),
        &0u32.to_le_bytes(),
        &65535u32.to_le_bytes(),
        &1u32.to_le_bytes(),
    ] {
        out.extend_from_slice(v);
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [1u32, i as u32, f.len() as u32, f.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// `roagent bench-packets`: writes the template pcap of a mix.
pub fn write_packets(mix: &str, bindings: u64, frames: usize, zipf: bool, mac: &str, out: &str, seed: Option<u64>) -> Result<(), String> {
    let mix = Mix::parse(mix)?;
    let mac: crate::config::Mac = mac.parse().map_err(|e| format!("--mac: {e}"))?;
    let frames: Vec<Vec<u8>> = match mix {
        Mix::BindingUpdate | Mix::BindingUpdateFresh => {
            let seed = seed.ok_or("--mix bu and bu-fresh need --seed (roagent's ROAGENT_INSECURE_TEST_ENTROPY)")?;
            let per_node: u16 = if mix == Mix::BindingUpdate { 1 } else { 4 };
            signed_binding_updates(seed, (frames as u64 / u64::from(per_node)).max(1), per_node, mac.0)?
        }
        _ => keys(bindings, frames, zipf, 0x5eed).iter().enumerate().map(|(j, &k)| packet(mix, k, j, mac.0)).collect(),
    };
    std::fs::write(out, pcap(&frames)).map_err(|e| format!("{out}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the bench build `[bench]` is part of the configuration, and refuses unknown knobs.
    #[test]
    fn bench_section_parses_in_the_bench_build() {
        let base = "[ports.access]\ndevice = \"net_null0\"\n[ports.core]\ndevice = \"net_null1\"\n[mag]\nproxy_coa = \"2001:db8:c0::1\"\n[[lma]]\naddress = \"2001:db8:c0::2\"\n";
        let c =
            crate::config::Config::parse(&format!("{base}[bench]\npreload_bindings = 5000\nchurn_per_sec = 10\ngenerator = \"up-bind\"\n"), "t.toml").unwrap();
        assert_eq!((c.bench.preload_bindings, c.bench.churn_per_sec, c.bench.generator.as_str(), c.bench.generator_zipf), (5000, 10, "up-bind", false));
        assert_eq!((c.bench.max_bindings(1024), c.bench.max_bindings(1 << 20)), (5000 + 4096, 1 << 20));
        let e = crate::config::Config::parse(&format!("{base}[bench]\npreload = 1\n"), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:10: unknown field `preload`"), "{e}");
    }

    #[test]
    fn keys_cover_small_tables_and_stay_in_range() {
        assert_eq!(keys(4, 8, false, 1), [0, 1, 2, 3, 0, 1, 2, 3]);
        for zipf in [false, true] {
            assert!(keys(1000, 5000, zipf, 7).iter().all(|&k| k < 1000));
        }
    }

    #[test]
    fn generator_stamps_every_key_dependent_address() {
        let m = [2, 0x70, 0x63, 0x61, 0x70, 0];
        for (mix, stamps) in [("up-bind", 2), ("up-nobind", 2), ("down-decap", 2), ("down-hao", 3)] {
            let GeneratorSpec { template: t, stamps: s, keys: k, .. } = generator(mix, 1000, false, m).unwrap();
            assert_eq!(s.len(), stamps, "{mix}");
            // Stamping key 7 gives the frame packet() builds for binding 6 (checksum aside).
            let mut f = t.clone();
            for &o in &s {
                f[o..o + 8].copy_from_slice(&7u64.to_be_bytes());
            }
            let want = packet(Mix::parse(mix).unwrap(), 6, 0, m);
            let udp_sum = f.len() - 24 + 6;
            assert_eq!((&f[..udp_sum], &f[udp_sum + 2..]), (&want[..udp_sum], &want[udp_sum + 2..]), "{mix}");
            assert!(k.iter().all(|&i| (1..=1000).contains(&i)));
        }
        assert!(generator("down-hao-hoti", 10, false, m).is_err());
    }

    #[test]
    fn frames_are_78_bytes_plain_and_parse() {
        let m = [2, 0x70, 0x63, 0x61, 0x70, 0];
        assert_eq!(packet(Mix::UpBinding, 5, 0, m).len(), 78);
        assert_eq!(packet(Mix::DownDecap, 5, 0, m).len(), 118);
        for mix in [Mix::UpNoBinding, Mix::UpBinding, Mix::DownDecap, Mix::DownHao, Mix::DownHaoHoti, Mix::DownHaoHoti50, Mix::Hoti] {
            for j in 0..100 {
                let f = packet(mix, 3, j, m);
                assert!(wire::ext::walk(&f[14..]).is_ok(), "{mix:?}");
            }
        }
    }

    /// The flood: 65,536 distinct spoofed sources, HoTI, CoTI and BU in turn, all valid
    /// Mobility Headers, and not one forged BU binds; the 50 % mix alternates data and flood.
    #[test]
    fn flood_frames_come_from_65536_sources_and_bind_nothing() {
        use reflector::{Action, Inbound, Reflector, TestEntropy};
        let m = [2, 0x70, 0x63, 0x61, 0x70, 0];
        let mut rng = TestEntropy::new(7);
        let mut r = Reflector::new(reflector::Config::default(), Duration::ZERO, &mut rng);
        let mut sources = std::collections::HashSet::new();
        let mut kinds = [0; 3];
        for f in 0..2 * FLOOD_SOURCES {
            let pkt = flood_frame(f, 3);
            let hdr = ipv6::Header::new_checked(&pkt[..]).unwrap();
            sources.insert(hdr.src_addr());
            if f % 64 != 0 {
                continue;
            }
            let chain = wire::ext::walk(&pkt).unwrap();
            assert_eq!(chain.upper_proto, ipv6::proto::MOBILITY);
            let inb = Inbound {
                src: hdr.src_addr(),
                dst: hdr.dst_addr(),
                home_address: chain.home_address.map(|o| o.home),
                ipv6_packet: &pkt,
                mh_offset: chain.upper_offset,
            };
            let mut out = Vec::new();
            r.on_mobility(Duration::from_millis(f), &inb, &mut out);
            assert!(!out.iter().any(|a| matches!(a, Action::BindingCreated(_))), "frame {f}: {out:?}");
            assert!(!out.iter().any(|a| matches!(a, Action::Dropped(reflector::DropReason::BadChecksum))), "frame {f}: {out:?}");
            kinds[(f % 3) as usize] += 1;
        }
        assert_eq!(sources.len(), FLOOD_SOURCES as usize);
        assert!(kinds.iter().all(|&n| n > 600), "{kinds:?}");
        assert_eq!(r.binding_count(), 0);
        for j in 0..8 {
            let f = packet(Mix::DownHaoFlood, 3, j, m);
            assert_eq!(f == packet(Mix::DownHao, 3, j, m), j % 2 == 0, "frame {j}");
            let f = packet(Mix::DownHaoDecap, 3, j, m);
            assert_eq!(f, packet(if j % 2 == 0 { Mix::DownHao } else { Mix::DownDecap }, 3, j, m), "frame {j}");
            let f = packet(Mix::UpNoBindingHopLimitFlood, 3, j, m);
            assert_eq!(f == packet(Mix::UpNoBinding, 3, j, m), j % 2 == 0, "frame {j}");
            assert_eq!(ipv6::Header::new_checked(&f[14..]).unwrap().hop_limit(), if j % 2 == 0 { 64 } else { 1 });
        }
    }

    /// The signed BUs verify in a reflector made from the same seed (status 0 for the first
    /// of each node, 135 for a replay), i.e. the whole RFC 6275 §9.5.1 path, not a shortcut.
    #[test]
    fn signed_binding_updates_are_accepted_then_replays_get_135() {
        use reflector::{Action, Inbound, Reflector, Reply, TestEntropy};
        let m = [2, 0x70, 0x63, 0x61, 0x70, 1];
        let frames = signed_binding_updates(7, 3, 1, m).unwrap();
        let open = super::unlimited();
        let mut r = Reflector::new(open, Duration::ZERO, &mut TestEntropy::new(7));
        for expected in [0u8, 135] {
            for f in &frames {
                let d = wire::tunnel::decapsulate(&f[14..]).unwrap();
                let ip = &f[14 + d.inner_offset..][..d.inner_len];
                let chain = wire::ext::walk(ip).unwrap();
                let h = ipv6::Header::new_checked(ip).unwrap();
                let inb = Inbound {
                    src: h.src_addr(),
                    dst: h.dst_addr(),
                    home_address: chain.home_address.map(|o| o.home),
                    ipv6_packet: ip,
                    mh_offset: chain.upper_offset,
                };
                let mut out = Vec::new();
                r.on_mobility(Duration::from_secs(1), &inb, &mut out);
                let status = out.iter().find_map(|a| match a {
                    Action::Send(Reply::Mobility { status, .. }) => *status,
                    _ => None,
                });
                assert_eq!(status, Some(expected), "{out:?}");
            }
        }
        // Four per node, sequence numbers stepping by 16384: each newer than the last, round after round.
        let frames = signed_binding_updates(7, 2, 4, m).unwrap();
        assert_eq!(frames.len(), 8);
    }
}
