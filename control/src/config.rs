//! The TOML configuration. Every field has a default where one makes sense; every error names
//! the field and what is wrong with it, on one line.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub eal: Eal,
    pub ports: Ports,
    pub mag: Mag,
    #[serde(default, rename = "lma")]
    pub lmas: Vec<Lma>,
    #[serde(default, rename = "node")]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub neighbors: NeighborsCfg,
    #[serde(default)]
    pub punt: PuntCfg,
    #[serde(default)]
    pub reflector: ReflectorCfg,
    #[serde(default)]
    pub pmipv6: Pmipv6Cfg,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub mempool: MempoolCfg,
    #[serde(default)]
    pub log: Log,
    /// Benchmark knobs (scripts/bench): only in a build with the `bench` feature; the
    /// product refuses `[bench]` as an unknown field.
    #[cfg(feature = "bench")]
    #[serde(default)]
    pub bench: crate::bench::BenchCfg,
}

/// The HTTP endpoint for `/metrics`, `/bindings` and `/mobiles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `host:port`; loopback by default (the admin view is not for the world). Empty: off.
    #[serde(default = "default_metrics_address")]
    pub address: String,
    /// Connections open at once; one more closes the oldest (`control/src/http.rs`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { address: default_metrics_address(), max_connections: default_max_connections() }
    }
}

/// The packet-buffer pool.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolCfg {
    /// Mbufs in the pool; default: the sizing rule (`app::pool_size`), which no load can
    /// exhaust. Fewer saves memory (and lets the fault tests run it dry): RX then fails and
    /// is counted as the driver's `rx_nombuf`.
    pub mbufs: Option<u32>,
}

/// The smallest pool: a few bursts per lcore beside the control core's working set, and
/// room for DPDK's per-lcore caches (a cache takes at most n / 8 here).
pub const MIN_MBUFS: u32 = 1023;
/// `rte_mempool` sizes are 32-bit, but a pool this large is a typo.
pub const MAX_MBUFS: u32 = (1 << 24) - 1;

pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9477";

/// Ample for Prometheus servers and operators; each open connection costs at most its bounded
/// buffers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Far below the default open-file limit (1024), which the dataplane shares.
pub const MAX_MAX_CONNECTIONS: usize = 512;

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

fn default_metrics_address() -> String {
    DEFAULT_METRICS_ADDRESS.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// error, warn, info, debug or trace.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log { level: default_log_level() }
    }
}

fn default_log_level() -> String {
    "info".to_string()
}

/// A log level name, or the problem with it.
pub fn log_level(name: &str) -> Result<tracing::Level, String> {
    name.parse::<tracing::Level>().map_err(|_| format!("{name:?} is not one of error, warn, info, debug, trace"))
}

/// The Route Optimization Agent's correspondent-node settings (RFC 6275 §5.2, §12).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectorCfg {
    /// Seconds between new nonces (and Kcn); at most 30 so every token lives ≥ 210 s.
    #[serde(default = "default_nonce_interval")]
    pub nonce_interval: u64,
    /// Binding cache capacity; a Binding Update beyond it is answered with status 130.
    #[serde(default = "default_max_bindings")]
    pub max_bindings: u32,
    /// Longest binding lifetime granted, seconds (RFC 6275 MAX_RR_BINDING_LIFETIME = 420).
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: u64,
    /// Signaling replies per second to one source, and the burst allowed.
    #[serde(default = "default_per_source")]
    pub replies_per_sec_per_source: u32,
    #[serde(default = "default_burst_per_source")]
    pub reply_burst_per_source: u32,
    /// Signaling replies per second in all, and the burst allowed.
    #[serde(default = "default_total")]
    pub replies_per_sec_total: u32,
    #[serde(default = "default_burst_total")]
    pub reply_burst_total: u32,
}

impl Default for ReflectorCfg {
    fn default() -> Self {
        ReflectorCfg {
            nonce_interval: default_nonce_interval(),
            max_bindings: default_max_bindings(),
            max_lifetime: default_max_lifetime(),
            replies_per_sec_per_source: default_per_source(),
            reply_burst_per_source: default_burst_per_source(),
            replies_per_sec_total: default_total(),
            reply_burst_total: default_burst_total(),
        }
    }
}

fn default_nonce_interval() -> u64 {
    30
}
fn default_max_bindings() -> u32 {
    1 << 20
}
fn default_max_lifetime() -> u64 {
    420
}
fn default_per_source() -> u32 {
    5
}
fn default_burst_per_source() -> u32 {
    10
}
fn default_total() -> u32 {
    1000
}
fn default_burst_total() -> u32 {
    2000
}

impl ReflectorCfg {
    pub fn to_reflector(&self) -> reflector::Config {
        use std::time::Duration;
        reflector::Config {
            nonce_interval: Duration::from_secs(self.nonce_interval),
            max_bindings: self.max_bindings as usize,
            max_lifetime: Duration::from_secs(self.max_lifetime),
            replies_per_sec_per_source: self.replies_per_sec_per_source,
            reply_burst_per_source: self.reply_burst_per_source,
            replies_per_sec_total: self.replies_per_sec_total,
            reply_burst_total: self.reply_burst_total,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eal {
    /// Extra EAL arguments (lcores, memory, file prefix). `--vdev`/`-a` for the ports are
    /// added from `ports.*.device`.
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub access: Port,
    pub core: Port,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// A DPDK virtual device with its arguments (`net_pcap0,rx_pcap=in.pcap,...`) or a PCI
    /// address (`0000:01:00.0`).
    pub device: String,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

impl Port {
    /// The name DPDK knows the port by.
    pub fn name(&self) -> &str {
        self.device.split(',').next().unwrap_or("")
    }
    pub fn is_vdev(&self) -> bool {
        self.device.starts_with("net_")
    }

    /// The Linux interface a virtual device sits on (`iface=` of `net_af_packet` and
    /// `net_pcap`, or `net_pcap`'s `rx_iface_in=` / `rx_iface=`), if any.
    pub fn linux_iface(&self) -> Option<&str> {
        let args: Vec<(&str, &str)> = self.device.split(',').skip(1).filter_map(|kv| kv.split_once('=')).collect();
        ["iface", "rx_iface_in", "rx_iface"]
            .iter()
            .find_map(|k| args.iter().find(|(a, _)| a == k).map(|(_, v)| *v))
            .filter(|v| !v.is_empty() && !v.contains('/') && *v != "." && *v != "..")
    }
}

fn default_mtu() -> u16 {
    1500
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Tunnel,
    Routed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mag {
    /// The MAG's Proxy Care-of Address: the tunnel end point on the core link (RFC 5213 §2.2).
    pub proxy_coa: Ipv6Addr,
    /// The MAG's link-local address on the access link (the attached nodes' default router).
    #[serde(default = "default_link_local")]
    pub access_link_local: Ipv6Addr,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Routed mode only: the core next hop for uplink traffic.
    pub routed_next_hop: Option<Ipv6Addr>,
    /// Routed mode only: its MAC, if it should not be resolved by ND.
    pub routed_next_hop_mac: Option<Mac>,
    #[serde(default = "default_tunnel_hop_limit")]
    pub tunnel_hop_limit: u8,
    /// How attached nodes get their prefixes: registered with their LMA by Proxy Binding
    /// Updates (RFC 5213, the default), or configured (`static`, labs and tests).
    #[serde(default)]
    pub signaling: Signaling,
    /// The MAC the mobile nodes see on the access link (default: the port's). Every MAG of a
    /// domain may present the same link-local and MAC addresses (RFC 5213 §6.8).
    pub access_mac: Option<Mac>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signaling {
    #[default]
    Pmipv6,
    Static,
}

/// PMIPv6 signaling settings (RFC 5213 §6.9, RFC 6275 §11.8); only with
/// `mag.signaling = "pmipv6"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pmipv6Cfg {
    /// Binding lifetime asked of the LMA, seconds (4..=262140).
    #[serde(default = "default_pbu_lifetime")]
    pub lifetime: u64,
    /// PBU transmissions (retries included) before a registration is given up.
    #[serde(default = "default_max_transmissions")]
    pub max_transmissions: u32,
    /// A registered node silent this long, seconds, gets 3 NUD probes 1 s apart and is
    /// detached (deregistered) if it answers none.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u64,
    /// Unsolicited Router Advertisements to each registered node this often, seconds.
    #[serde(default = "default_ra_interval")]
    pub ra_interval: u64,
}

impl Default for Pmipv6Cfg {
    fn default() -> Self {
        Pmipv6Cfg {
            lifetime: default_pbu_lifetime(),
            max_transmissions: default_max_transmissions(),
            idle_timeout: default_idle_timeout(),
            ra_interval: default_ra_interval(),
        }
    }
}

fn default_pbu_lifetime() -> u64 {
    600
}
fn default_max_transmissions() -> u32 {
    8
}
fn default_idle_timeout() -> u64 {
    30
}
fn default_ra_interval() -> u64 {
    60
}

fn default_link_local() -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)
}
fn default_mode() -> Mode {
    Mode::Tunnel
}
fn default_tunnel_hop_limit() -> u8 {
    64
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lma {
    pub address: Ipv6Addr,
    /// The core next hop toward it; default: the LMA itself (on-link).
    pub next_hop: Option<Ipv6Addr>,
    /// The next hop's MAC, if it should not be resolved by ND.
    pub mac: Option<Mac>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// A name for logs and views.
    pub name: String,
    /// PMIPv6: its MN Identifier, a Network Access Identifier (RFC 4283, `user@realm`).
    pub mn_id: Option<String>,
    /// Home Network Prefix(es), `2001:db8:1::/64`. With PMIPv6 signaling, optional: one
    /// static prefix to ask the LMA for instead of `::/0` (labs).
    #[serde(default)]
    pub prefixes: Vec<Prefix>,
    /// Single addresses.
    #[serde(default)]
    pub addresses: Vec<Ipv6Addr>,
    /// Its LMA; may be left out when only one LMA is configured.
    pub lma: Option<Ipv6Addr>,
    /// Its MAC, if it should not be learned; with PMIPv6 signaling, required: the
    /// link-layer address it attaches with (its policy profile's key, RFC 5213 §6.2).
    pub mac: Option<Mac>,
    /// Route Optimization Agent on for this node (draft §4.1).
    #[serde(default = "yes")]
    pub agent: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// ICMPv6 errors the MAG may send per second (RFC 4443 §2.4(f)).
    #[serde(default = "default_icmp_rate")]
    pub icmp_errors_per_sec: u32,
    /// Print port counters every N seconds (0: never).
    #[serde(default)]
    pub stats_period: u64,
}

impl Default for Control {
    fn default() -> Self {
        Control { icmp_errors_per_sec: default_icmp_rate(), stats_period: 0 }
    }
}

fn default_icmp_rate() -> u32 {
    100
}

/// What each worker may send to the control core per second (dataplane `policer`); beyond
/// it the worker drops the packet itself and counts it (`roagent_punts_policed_total`).
/// Bursts are 50 ms of the rate (at least 32). 0: unlimited. Neighbor Discovery, packets for
/// the MAG itself, attaches and unresolved next hops are not policed here (their state is
/// capped in `[neighbors]` and by the policies).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PuntCfg {
    /// Mobility Headers for the agent, and Home Address options with no binding, from
    /// sources that are not bound peers: what a flood of spoofed HoTI, CoTI and BU spends.
    #[serde(default = "default_signaling_per_sec")]
    pub signaling_per_sec: u32,
    /// Mobility Headers from a bound peer's home or care-of address (binding refreshes).
    #[serde(default = "default_signaling_per_sec")]
    pub peer_signaling_per_sec: u32,
    /// Packets that draw an ICMPv6 error (hop limit expired, too big); the control core
    /// still sends at most `control.icmp_errors_per_sec`.
    #[serde(default = "default_errors_per_sec")]
    pub errors_per_sec: u32,
}

impl Default for PuntCfg {
    fn default() -> Self {
        PuntCfg {
            signaling_per_sec: default_signaling_per_sec(),
            peer_signaling_per_sec: default_signaling_per_sec(),
            errors_per_sec: default_errors_per_sec(),
        }
    }
}

fn default_signaling_per_sec() -> u32 {
    20_000
}
fn default_errors_per_sec() -> u32 {
    2_000
}

impl PuntCfg {
    /// The per-reason budget each worker keeps.
    pub fn budget(&self) -> dataplane::policer::Budget {
        use dataplane::counters::Punt;
        dataplane::policer::Budget::UNLIMITED
            .with(&[Punt::Mobility, Punt::HomeAddressUnverified], self.signaling_per_sec)
            .with(&[Punt::MobilityFromPeer], self.peer_signaling_per_sec)
            .with(&[Punt::HopLimit, Punt::TooBig, Punt::TooBigOptimized], self.errors_per_sec)
    }
}

/// Neighbor reachability (RFC 4861 §7.3, the §10 constants as defaults) and the caps on what
/// the control core keeps for unresolved neighbors. The neighbor entries themselves are one
/// per configured next hop (attached nodes, LMAs' next hops): the configuration is their cap.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct NeighborsCfg {
    /// Seconds a confirmation keeps a neighbor REACHABLE (RFC 4861 REACHABLE_TIME).
    #[serde(default = "default_reachable_time")]
    pub reachable_time: u64,
    /// Seconds in DELAY before the first probe (DELAY_FIRST_PROBE_TIME).
    #[serde(default = "default_delay_first_probe_time")]
    pub delay_first_probe_time: u64,
    /// Milliseconds between solicitations (RETRANS_TIMER).
    #[serde(default = "default_retrans_timer_ms")]
    pub retrans_timer_ms: u64,
    /// Solicitations to resolve an address (MAX_MULTICAST_SOLICIT).
    #[serde(default = "default_solicit")]
    pub max_multicast_solicit: u32,
    /// Probes of a neighbor before it is forgotten (MAX_UNICAST_SOLICIT).
    #[serde(default = "default_solicit")]
    pub max_unicast_solicit: u32,
    /// Packets held per unresolved neighbor; a new one drops the oldest.
    #[serde(default = "default_hold_per_neighbor")]
    pub hold_per_neighbor: usize,
    /// Packets held for all unresolved neighbors together (mbufs of the control core's
    /// share of the pool).
    #[serde(default = "default_hold_total")]
    pub hold_total: usize,
    /// Resolutions (INCOMPLETE entries) under way at once; a packet needing one more is dropped.
    #[serde(default = "default_max_resolutions")]
    pub max_resolutions: usize,
    /// Neighbor Advertisements for the MAG's own addresses per second (and burst).
    #[serde(default = "default_advertisements_per_sec")]
    pub advertisements_per_sec: u32,
}

impl Default for NeighborsCfg {
    fn default() -> Self {
        NeighborsCfg {
            reachable_time: default_reachable_time(),
            delay_first_probe_time: default_delay_first_probe_time(),
            retrans_timer_ms: default_retrans_timer_ms(),
            max_multicast_solicit: default_solicit(),
            max_unicast_solicit: default_solicit(),
            hold_per_neighbor: default_hold_per_neighbor(),
            hold_total: default_hold_total(),
            max_resolutions: default_max_resolutions(),
            advertisements_per_sec: default_advertisements_per_sec(),
        }
    }
}

fn default_reachable_time() -> u64 {
    30
}
fn default_delay_first_probe_time() -> u64 {
    5
}
fn default_retrans_timer_ms() -> u64 {
    1000
}
fn default_solicit() -> u32 {
    3
}
fn default_hold_per_neighbor() -> usize {
    3
}
fn default_hold_total() -> usize {
    512
}
fn default_max_resolutions() -> usize {
    256
}
fn default_advertisements_per_sec() -> u32 {
    1000
}

/// An IPv6 prefix `addr/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').ok_or_else(|| format!("{s:?} is not addr/len"))?;
        let addr: Ipv6Addr = a.parse().map_err(|_| format!("{a:?} is not an IPv6 address"))?;
        let len: u8 = l.parse().ok().filter(|l| *l <= 128).ok_or_else(|| format!("{l:?} is not a prefix length 0..=128"))?;
        let masked = u128::from(addr) & if len == 0 { 0 } else { !(u128::MAX >> len) };
        if masked != u128::from(addr) {
            return Err(format!("{s} has host bits set"));
        }
        Ok(Prefix { addr, len })
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A MAC address `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("{s:?} is not a MAC address"));
        }
        for (i, p) in parts.iter().enumerate() {
            m[i] = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
        }
        Ok(Mac(m))
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A configuration error: the field and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), problem: problem.into() }
}

impl Config {
    /// Parses and validates. `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let before = e.span().map(|s| text.get(..s.start).unwrap_or(text));
            let at = before.map(|b| format!("{origin}:{}", b.matches('\n').count() + 1)).unwrap_or_else(|| origin.to_string());
            let problem = e.message().replace('\n', " ");
            // toml gives some errors (a control character in a comment) no message at all.
            if problem.trim().is_empty() {
                let column = before.map_or(0, |b| b.len() - b.rfind('\n').map_or(0, |i| i + 1) + 1);
                return err(at, format!("invalid TOML at column {column} (a control character?)"));
            }
            err(at, problem)
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        Self::parse(&text, path)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (role, p) in [("access", &self.ports.access), ("core", &self.ports.core)] {
            if p.name().is_empty() {
                return Err(err(format!("ports.{role}.device"), "is empty"));
            }
            if !(1280..=9000).contains(&p.mtu) {
                return Err(err(format!("ports.{role}.mtu"), format!("{} is outside 1280..=9000 (IPv6 minimum MTU is 1280)", p.mtu)));
            }
        }
        if self.ports.access.name() == self.ports.core.name() {
            return Err(err("ports.core.device", "names the same device as ports.access.device"));
        }
        log_level(&self.log.level).map_err(|p| err("log.level", p))?;
        if !self.metrics.address.is_empty() && self.metrics.address.parse::<std::net::SocketAddr>().is_err() {
            return Err(err("metrics.address", format!("{:?} is not host:port (e.g. 127.0.0.1:9477, [::1]:9477)", self.metrics.address)));
        }
        if !(1..=MAX_MAX_CONNECTIONS).contains(&self.metrics.max_connections) {
            return Err(err("metrics.max_connections", format!("{} is outside 1..={MAX_MAX_CONNECTIONS}", self.metrics.max_connections)));
        }
        if let Some(n) = self.mempool.mbufs {
            if !(MIN_MBUFS..=MAX_MBUFS).contains(&n) {
                return Err(err("mempool.mbufs", format!("{n} is outside {MIN_MBUFS}..={MAX_MBUFS}")));
            }
        }
        let r = &self.reflector;
        if !(1..=30).contains(&r.nonce_interval) {
            return Err(err("reflector.nonce_interval", format!("{} is outside 1..=30 seconds (tokens must live 210 s, RFC 6275 §5.2.7)", r.nonce_interval)));
        }
        if !(1..=1 << 24).contains(&r.max_bindings) {
            return Err(err("reflector.max_bindings", format!("{} is outside 1..=16777216", r.max_bindings)));
        }
        if !(4..=420).contains(&r.max_lifetime) {
            return Err(err("reflector.max_lifetime", format!("{} is outside 4..=420 seconds (RFC 6275 §12 MAX_RR_BINDING_LIFETIME)", r.max_lifetime)));
        }
        for (f, v) in [("reply_burst_per_source", r.reply_burst_per_source), ("reply_burst_total", r.reply_burst_total)] {
            if v == 0 {
                return Err(err(format!("reflector.{f}"), "must be at least 1"));
            }
        }
        let pu = &self.punt;
        for (f, v) in
            [("signaling_per_sec", pu.signaling_per_sec), ("peer_signaling_per_sec", pu.peer_signaling_per_sec), ("errors_per_sec", pu.errors_per_sec)]
        {
            if v > 100_000_000 {
                return Err(err(format!("punt.{f}"), format!("{v} is above 100000000 (0 = unlimited)")));
            }
        }
        let n = &self.neighbors;
        for (f, v, range) in [
            ("reachable_time", n.reachable_time, 1..=3600),
            ("delay_first_probe_time", n.delay_first_probe_time, 1..=60),
            ("retrans_timer_ms", n.retrans_timer_ms, 100..=60_000),
            ("max_multicast_solicit", u64::from(n.max_multicast_solicit), 1..=10),
            ("max_unicast_solicit", u64::from(n.max_unicast_solicit), 1..=10),
            ("hold_per_neighbor", n.hold_per_neighbor as u64, 1..=64),
            ("hold_total", n.hold_total as u64, 1..=1024),
            ("max_resolutions", n.max_resolutions as u64, 1..=65_536),
            ("advertisements_per_sec", u64::from(n.advertisements_per_sec), 1..=1_000_000),
        ] {
            if !range.contains(&v) {
                return Err(err(format!("neighbors.{f}"), format!("{v} is outside {}..={}", range.start(), range.end())));
            }
        }
        if n.hold_per_neighbor > n.hold_total {
            return Err(err("neighbors.hold_per_neighbor", format!("{} is more than neighbors.hold_total ({})", n.hold_per_neighbor, n.hold_total)));
        }
        let m = &self.mag;
        if !is_global_unicast(&m.proxy_coa) {
            return Err(err("mag.proxy_coa", format!("{} is not a global unicast address", m.proxy_coa)));
        }
        if !is_link_local(&m.access_link_local) {
            return Err(err("mag.access_link_local", format!("{} is not a link-local (fe80::/10) address", m.access_link_local)));
        }
        if m.tunnel_hop_limit == 0 {
            return Err(err("mag.tunnel_hop_limit", "must be 1..=255"));
        }
        match m.mode {
            Mode::Tunnel => {
                if self.lmas.is_empty() {
                    return Err(err("lma", "tunnel mode needs at least one [[lma]]"));
                }
            }
            Mode::Routed => {
                if m.routed_next_hop.is_none() {
                    return Err(err("mag.routed_next_hop", "routed mode needs the core next hop"));
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, l) in self.lmas.iter().enumerate() {
            if !is_global_unicast(&l.address) {
                return Err(err(format!("lma[{i}].address"), format!("{} is not a global unicast address", l.address)));
            }
            if !seen.insert(l.address) {
                return Err(err(format!("lma[{i}].address"), format!("{} is listed twice", l.address)));
            }
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        let mut mn_ids = HashSet::new();
        let mut macs = HashSet::new();
        if m.signaling == Signaling::Pmipv6 {
            let p = &self.pmipv6;
            if !(4..=262_140).contains(&p.lifetime) {
                return Err(err("pmipv6.lifetime", format!("{} is outside 4..=262140 seconds (16-bit count of 4 s units, RFC 6275 §6.1.7)", p.lifetime)));
            }
            if !(1..=32).contains(&p.max_transmissions) {
                return Err(err("pmipv6.max_transmissions", format!("{} is outside 1..=32", p.max_transmissions)));
            }
            if !(1..=3600).contains(&p.idle_timeout) {
                return Err(err("pmipv6.idle_timeout", format!("{} is outside 1..=3600 seconds", p.idle_timeout)));
            }
            if !(4..=1800).contains(&p.ra_interval) {
                return Err(err("pmipv6.ra_interval", format!("{} is outside 4..=1800 seconds (RFC 4861 MaxRtrAdvInterval)", p.ra_interval)));
            }
            if m.mode != Mode::Tunnel {
                return Err(err("mag.signaling", "pmipv6 needs mag.mode = \"tunnel\" (the LMA tunnel carries the registered prefixes)"));
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let f = |x: &str| format!("node[{i}].{x}");
            if n.name.is_empty() {
                return Err(err(f("name"), "is empty"));
            }
            if !names.insert(n.name.clone()) {
                return Err(err(f("name"), format!("{:?} is used by another node", n.name)));
            }
            match m.signaling {
                Signaling::Static if n.prefixes.is_empty() && n.addresses.is_empty() => {
                    return Err(err(f("prefixes"), "a node needs at least one prefix or address"));
                }
                Signaling::Static => {}
                Signaling::Pmipv6 => {
                    let Some(id) = &n.mn_id else {
                        return Err(err(f("mn_id"), "is required with mag.signaling = \"pmipv6\" (the default); set mag.signaling = \"static\" for configured prefixes without registration"));
                    };
                    if !is_nai(id) {
                        return Err(err(f("mn_id"), format!("{id:?} is not a network access identifier (user@realm, RFC 4282), 1..=254 bytes")));
                    }
                    if !mn_ids.insert(id.as_str()) {
                        return Err(err(f("mn_id"), format!("{id:?} is used by another node")));
                    }
                    let Some(mac) = n.mac else {
                        return Err(err(f("mac"), "is required with mag.signaling = \"pmipv6\": the MAC the node attaches with"));
                    };
                    if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                        return Err(err(f("mac"), "must be a unicast MAC"));
                    }
                    if !macs.insert(mac.0) {
                        return Err(err(f("mac"), "is used by another node"));
                    }
                    if !n.addresses.is_empty() {
                        return Err(err(f("addresses"), "single addresses are for mag.signaling = \"static\"; a PMIPv6 node gets a prefix"));
                    }
                    if n.prefixes.len() > 1 {
                        return Err(err(f("prefixes"), "one static home network prefix at most with PMIPv6 signaling"));
                    }
                    if n.prefixes.iter().any(|p| p.len != 64) {
                        return Err(err(f("prefixes"), "a PMIPv6 home network prefix is a /64 (RFC 5213 §2.2, §6.7)"));
                    }
                }
            }
            for (j, p) in n.prefixes.iter().enumerate() {
                if !is_global_unicast(&p.addr) || p.len == 0 {
                    return Err(err(format!("node[{i}].prefixes[{j}]"), format!("{}/{} is not a global unicast prefix", p.addr, p.len)));
                }
                if !addrs.insert((p.addr, p.len)) {
                    return Err(err(format!("node[{i}].prefixes[{j}]"), "is already used by another node"));
                }
            }
            for (j, a) in n.addresses.iter().enumerate() {
                if !is_global_unicast(a) {
                    return Err(err(format!("node[{i}].addresses[{j}]"), format!("{a} is not a global unicast address")));
                }
                if !addrs.insert((*a, 128)) {
                    return Err(err(format!("node[{i}].addresses[{j}]"), "is already used by another node"));
                }
            }
            if m.mode == Mode::Tunnel {
                match n.lma {
                    Some(a) if !seen.contains(&a) => return Err(err(f("lma"), format!("{a} is not one of the configured [[lma]] addresses"))),
                    None if self.lmas.len() > 1 => return Err(err(f("lma"), "is required when more than one [[lma]] is configured")),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Index of a node's LMA in `lmas`.
    pub fn lma_of(&self, n: &Node) -> u16 {
        n.lma.and_then(|a| self.lmas.iter().position(|l| l.address == a)).unwrap_or(0) as u16
    }
}

/// `user@realm` or a bare realm (RFC 4282 §2.1), printable ASCII, at most 254 bytes (the
/// MN Identifier option's length byte, RFC 4283 §3).
fn is_nai(s: &str) -> bool {
    !s.is_empty() && s.len() <= 254 && s.bytes().all(|b| b.is_ascii_graphic()) && s.matches('@').count() <= 1 && !s.ends_with('@') && !s.starts_with('@')
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    wire::addr::is_link_local(a)
}

fn is_global_unicast(a: &Ipv6Addr) -> bool {
    wire::addr::is_routable_unicast(a)
}

/// The check of fuzz target `config` (`fuzz/`, which compiles this file in: `control` is a
/// binary crate) and of the test that replays `fuzz/regressions/config/`: any text is
/// accepted, or refused in one line that names a field (or the file and line of a TOML
/// error), never with a panic.
#[cfg(any(test, fuzzing))]
pub fn fuzz_check(data: &[u8]) {
    // `load` refuses what is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text, "fuzz.toml") {
        Ok(cfg) => {
            assert_eq!(cfg.validate(), Ok(()));
            for n in &cfg.nodes {
                assert!(cfg.lmas.is_empty() || usize::from(cfg.lma_of(n)) < cfg.lmas.len());
            }
        }
        Err(e) => {
            let line = e.to_string();
            assert_eq!(line, format!("{}: {}", e.field, e.problem));
            assert!(!line.contains('\n'), "a refusal of more than one line: {line:?}");
            assert!(!e.problem.is_empty(), "a refusal without a reason: {line:?}");
            let named = e.field.starts_with("fuzz.toml")
                || (!e.field.is_empty() && e.field.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._[]".contains(&b)));
            assert!(named, "a refusal that names no field: {line:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz target `config` (fuzz/regressions/config/crash-72e0cfc1…): toml's
    /// error for a control character in a comment has an empty message.
    #[test]
    fn a_toml_error_without_a_message_still_says_what_is_wrong() {
        let e = Config::parse("#\u{1}\u{0}", "t.toml").unwrap_err();
        assert_eq!(e.to_string(), "t.toml:1: invalid TOML at column 2 (a control character?)");
        let e = Config::parse("[eal]\n#\u{1}", "t.toml").unwrap_err();
        assert_eq!(e.to_string(), "t.toml:2: invalid TOML at column 2 (a control character?)");
    }

    #[test]
    fn fuzz_regressions_and_seeds_replay() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        assert!(wire::fuzzing::replay(&fuzz, "config", fuzz_check) > 0);
    }

    const GOOD: &str = r#"
[ports.access]
device = "net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap"
[ports.core]
device = "net_pcap1,rx_pcap=c.pcap,tx_pcap=d.pcap"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
"#;

    fn problem(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_config_and_defaults() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.ports.access.name(), "net_pcap0");
        assert!(c.ports.access.is_vdev());
        assert_eq!(c.ports.core.mtu, 1500);
        assert_eq!(c.mag.mode, Mode::Tunnel);
        assert_eq!(c.mag.access_link_local, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert!(c.nodes[0].agent);
        assert_eq!((c.reflector.nonce_interval, c.reflector.max_lifetime, c.reflector.max_bindings), (30, 420, 1 << 20));
        assert_eq!(c.lma_of(&c.nodes[0]), 0);
        assert_eq!(c.metrics.max_connections, DEFAULT_MAX_CONNECTIONS);
        let n = &c.neighbors;
        assert_eq!((n.reachable_time, n.delay_first_probe_time, n.retrans_timer_ms, n.max_multicast_solicit, n.max_unicast_solicit), (30, 5, 1000, 3, 3));
        assert_eq!((n.hold_per_neighbor, n.hold_total, n.max_resolutions, n.advertisements_per_sec), (3, 512, 256, 1000));
    }

    #[test]
    fn punt_budgets_default_and_are_refused_on_one_line_naming_the_field() {
        use dataplane::counters::Punt;
        let b = Config::parse(GOOD, "t.toml").unwrap().punt.budget();
        for (r, rate) in [
            (Punt::Mobility, 20_000),
            (Punt::HomeAddressUnverified, 20_000),
            (Punt::MobilityFromPeer, 20_000),
            (Punt::HopLimit, 2_000),
            (Punt::TooBig, 2_000),
            (Punt::NeighborDiscovery, 0),
            (Punt::ForUs, 0),
        ] {
            assert_eq!(b.per_sec[r as usize], rate, "{r:?}");
        }
        let off = Config::parse(&format!("{GOOD}[punt]\nsignaling_per_sec = 0\n"), "t").unwrap().punt.budget();
        assert_eq!((off.per_sec[Punt::Mobility as usize], off.per_sec[Punt::MobilityFromPeer as usize]), (0, 20_000));
        assert_eq!(problem(&format!("{GOOD}[punt]\nerrors_per_sec = 200000000\n")), "punt.errors_per_sec: 200000000 is above 100000000 (0 = unlimited)");
        assert!(problem(&format!("{GOOD}[punt]\nnd_per_sec = 1\n")).contains("unknown field `nd_per_sec`"));
    }

    #[test]
    fn neighbor_knobs_are_refused_on_one_line_naming_the_field() {
        assert_eq!(problem(&format!("{GOOD}[neighbors]\nreachable_time = 0\n")), "neighbors.reachable_time: 0 is outside 1..=3600");
        assert_eq!(problem(&format!("{GOOD}[neighbors]\nretrans_timer_ms = 10\n")), "neighbors.retrans_timer_ms: 10 is outside 100..=60000");
        assert_eq!(problem(&format!("{GOOD}[neighbors]\nhold_total = 5000\n")), "neighbors.hold_total: 5000 is outside 1..=1024");
        assert_eq!(problem(&format!("{GOOD}[neighbors]\nmax_unicast_solicit = 0\n")), "neighbors.max_unicast_solicit: 0 is outside 1..=10");
        assert_eq!(
            problem(&format!("{GOOD}[neighbors]\nhold_per_neighbor = 8\nhold_total = 4\n")),
            "neighbors.hold_per_neighbor: 8 is more than neighbors.hold_total (4)"
        );
        assert!(problem(&format!("{GOOD}[neighbors]\nmax_entries = 1\n")).contains("unknown field `max_entries`"));
    }

    #[test]
    fn each_error_names_its_field() {
        assert_eq!(problem(&GOOD.replace("2001:db8:c0::1\"", "fe80::9\"")), "mag.proxy_coa: fe80::9 is not a global unicast address");
        assert_eq!(problem(&GOOD.replace("/64", "/200")), "t.toml:13: \"200\" is not a prefix length 0..=128");
        assert_eq!(problem(&GOOD.replace("2001:db8:3::/64", "2001:db8:3::1/64")), "t.toml:13: 2001:db8:3::1/64 has host bits set");
        assert!(problem(&GOOD.replace("[mag]", "[mag]\nbogus = 1")).starts_with("t.toml:7: unknown field `bogus`"));
        assert_eq!(problem(&format!("{GOOD}[[node]]\nname = \"mn2\"\naddresses = [\"2001:db8:9::1\"]\n")), "node[1].name: \"mn2\" is used by another node");
        assert_eq!(problem(&format!("{GOOD}lma = \"2001:db8:99::1\"\n")), "node[0].lma: 2001:db8:99::1 is not one of the configured [[lma]] addresses");
        assert_eq!(problem(&GOOD.replace("[[lma]]\naddress = \"2001:db8:c0::2\"\n", "")), "lma: tunnel mode needs at least one [[lma]]");
        assert_eq!(problem(&GOOD.replace("net_pcap1,", "net_pcap0,")), "ports.core.device: names the same device as ports.access.device");
        assert_eq!(problem(&GOOD.replace("[ports.core]", "[ports.core]\nmtu = 100")), "ports.core.mtu: 100 is outside 1280..=9000 (IPv6 minimum MTU is 1280)");
        assert_eq!(problem(&GOOD.replace("prefixes = [\"2001:db8:3::/64\"]", "")), "node[0].prefixes: a node needs at least one prefix or address");
        assert_eq!(
            problem(&format!("{GOOD}[reflector]\nnonce_interval = 60\n")),
            "reflector.nonce_interval: 60 is outside 1..=30 seconds (tokens must live 210 s, RFC 6275 §5.2.7)"
        );
        assert_eq!(problem(&format!("{GOOD}[log]\nlevel = \"loud\"\n")), "log.level: \"loud\" is not one of error, warn, info, debug, trace");
        assert_eq!(
            problem(&format!("{GOOD}[metrics]\naddress = \"localhost\"\n")),
            "metrics.address: \"localhost\" is not host:port (e.g. 127.0.0.1:9477, [::1]:9477)"
        );
        assert_eq!(problem(&format!("{GOOD}[metrics]\nmax_connections = 0\n")), "metrics.max_connections: 0 is outside 1..=512");
        assert_eq!(problem(&format!("{GOOD}[mempool]\nmbufs = 100\n")), "mempool.mbufs: 100 is outside 1023..=16777215");
        assert_eq!(Config::parse(&format!("{GOOD}[mempool]\nmbufs = 1023\n"), "t").unwrap().mempool.mbufs, Some(1023));
        assert_eq!(
            problem(&format!("{GOOD}[reflector]\nmax_lifetime = 600\n")),
            "reflector.max_lifetime: 600 is outside 4..=420 seconds (RFC 6275 §12 MAX_RR_BINDING_LIFETIME)"
        );
        assert!(problem(&GOOD.replace("[mag]\nproxy_coa = \"2001:db8:c0::1\"\nsignaling = \"static\"", "")).contains("missing field `mag`"));
    }

    #[test]
    fn the_linux_interface_of_a_device() {
        let p = |device: &str| Port { device: device.into(), mtu: 1500 };
        assert_eq!(p("net_af_packet0,iface=mag-a").linux_iface(), Some("mag-a"));
        assert_eq!(p("net_pcap0,rx_iface_in=eth1,tx_iface=eth1").linux_iface(), Some("eth1"));
        assert_eq!(p("net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap").linux_iface(), None);
        assert_eq!(p("0000:01:00.0").linux_iface(), None);
        assert_eq!(p("net_af_packet0,iface=../x").linux_iface(), None);
    }

    #[test]
    fn mac_and_prefix_parse() {
        assert_eq!("02:00:00:00:00:0a".parse::<Mac>().unwrap().0, [2, 0, 0, 0, 0, 10]);
        assert!("02:00:00".parse::<Mac>().is_err());
        assert!("zz:00:00:00:00:00".parse::<Mac>().is_err());
        assert_eq!("::/0".parse::<Prefix>().unwrap().len, 0);
    }

    /// The bench knobs are not the product's: without the `bench` feature `[bench]` is an
    /// unknown field like any other, refused on one line naming it.
    #[cfg(not(feature = "bench"))]
    #[test]
    fn bench_section_is_refused_without_the_bench_feature() {
        let p = problem(&format!("{GOOD}[bench]\npreload_bindings = 1\n"));
        assert!(p.starts_with("t.toml:14: unknown field `bench`"), "{p}");
        assert!(!p.contains('\n'), "{p}");
    }
}
