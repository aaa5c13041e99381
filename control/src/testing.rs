//! Fixtures for the control plane's unit tests: an [`Egress`] on plain buffers that records
//! everything, a topology from a configuration text, and a fake clock. No EAL.

use crate::agent::Agent;
use crate::config::Config;
use crate::control_plane::ControlPlane;
use crate::egress::{Egress, TableFull};
use crate::registration::Registrations;
use dataplane::attached::Registration;
use dataplane::counters::{Punt, Role};
pub use dataplane::forward::VecBuf;
use dataplane::forward::{PacketBuf, Topology};
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::ethernet::{self, MacAddr};

/// The Unix time at `now` = 0 (2023-11-14T22:13:20Z), for the PBUs' timestamps.
pub const WALL: Duration = Duration::from_secs(1_700_000_000);

pub const ACCESS_MAC: MacAddr = [2, 0, 0, 0, 0, 0x0a];
pub const CORE_MAC: MacAddr = [2, 0, 0, 0, 0, 0x0c];
pub const MN2_MAC: MacAddr = [2, 0, 0, 0, 3, 0];
pub const LMA_MAC: MacAddr = [2, 0, 0, 0, 0x0c, 2];
pub const NEXT_HOP_MAC: MacAddr = [2, 0, 0, 0, 0x0c, 0xfe];

pub use wire::testpkt::a;

/// The MAG's addresses and its neighbors in [`TUNNEL`] and [`ROUTED`].
pub const MAG_LL: &str = "fe80::1";
pub const PROXY_COA: &str = "2001:db8:c0::1";
pub const LMA: &str = "2001:db8:c0::2";
/// MN2, the attached node (node 0), in its home network prefix.
pub const MN2: &str = "2001:db8:3::300";
/// MN1's home and care-of addresses (a correspondent behind the LMA).
pub const HOME: &str = "2001:db8:1::100";
pub const CARE_OF: &str = "2001:db8:2::200";

/// Tunnel mode: one LMA, MN2's prefix, two ICMPv6 errors a second.
pub const TUNNEL: &str = r#"
[ports.access]
device = "net_null0"
[ports.core]
device = "net_null1"
mtu = 1500
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
tunnel_hop_limit = 60
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
[control]
icmp_errors_per_sec = 2
"#;

/// Routed mode: no tunnel, a core next hop.
pub const ROUTED: &str = r#"
[ports.access]
device = "net_null0"
[ports.core]
device = "net_null1"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
mode = "routed"
routed_next_hop = "2001:db8:c0::fe"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
"#;

/// PMIPv6 signaling: MN2 is a policy node known by its MAC, with no prefix until its LMA
/// assigns one.
pub const PMIPV6: &str = r#"
[ports.access]
device = "net_null0"
[ports.core]
device = "net_null1"
mtu = 1500
[mag]
proxy_coa = "2001:db8:c0::1"
tunnel_hop_limit = 60
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
mn_id = "mn2@roagent.test"
mac = "02:00:00:00:03:00"
[pmipv6]
lifetime = 40
idle_timeout = 20
"#;

/// The data room of the DPDK side's mbufs (RTE_MBUF_DEFAULT_DATAROOM).
const ROOM: usize = 2048;

/// Records what the control plane sends and changes. Neighbor and route changes are also
/// applied to the topology, as the DPDK side does, so later decisions see them.
pub struct Recorder {
    pub topo: Arc<Topology>,
    pub sent: Vec<(Role, Vec<u8>)>,
    /// Neighbor slots given a MAC (learned or watched), and made unknown again.
    pub learned: Vec<(usize, MacAddr)>,
    pub forgotten: Vec<usize>,
    pub bindings: HashMap<(Ipv6Addr, Ipv6Addr), Ipv6Addr>,
    /// Run-time routes: node → /64 (PMIPv6).
    pub routes: HashMap<u32, u64>,
    /// Buffers left to hand out (`None`: unlimited).
    pub buffers: Option<usize>,
    /// The binding table takes no more than this many entries.
    pub table_cap: usize,
}

impl Egress for Recorder {
    type Buf = VecBuf;

    fn alloc(&mut self) -> Option<VecBuf> {
        if let Some(n) = &mut self.buffers {
            *n = n.checked_sub(1)?;
        }
        Some(VecBuf::zeroed(ROOM))
    }

    fn send(&mut self, role: Role, frame: VecBuf) {
        self.sent.push((role, frame.data().to_vec()));
    }

    fn learn_neighbor(&mut self, slot: usize, mac: MacAddr) {
        self.topo.neighbors.learn(slot, mac);
        self.learned.push((slot, mac));
    }

    fn watch_neighbor(&mut self, slot: usize, mac: MacAddr) {
        self.topo.neighbors.watch(slot, mac);
        self.learned.push((slot, mac));
    }

    fn forget_neighbor(&mut self, slot: usize) {
        self.topo.neighbors.forget(slot);
        self.forgotten.push(slot);
    }

    fn upsert_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr, care_of: &Ipv6Addr) -> Result<(), TableFull> {
        if !self.bindings.contains_key(&(*home, *attached)) && self.bindings.len() >= self.table_cap {
            return Err(TableFull);
        }
        self.bindings.insert((*home, *attached), *care_of);
        Ok(())
    }

    fn remove_binding(&mut self, home: &Ipv6Addr, attached: &Ipv6Addr) {
        self.bindings.remove(&(*home, *attached));
    }

    fn install_route(&mut self, node: u32, prefix64: u64) -> Result<(), TableFull> {
        self.topo.attached.install(node, prefix64).map_err(|_| TableFull)?;
        self.routes.insert(node, prefix64);
        Ok(())
    }

    fn withdraw_route(&mut self, node: u32) {
        self.topo.attached.withdraw(node);
        self.routes.remove(&node);
    }

    fn set_registration(&mut self, node: u32, r: Registration) {
        self.topo.attached.node(node).unwrap().set_registration(r);
    }
}

/// A control plane on a configuration, with a fake clock and fixed randomness.
pub struct Harness {
    pub plane: ControlPlane<VecBuf>,
    pub out: Recorder,
    pub now: Duration,
}

impl Harness {
    pub fn new(config: &str) -> Harness {
        let cfg = Config::parse(config, "test").unwrap();
        let topo = Arc::new(crate::topology::build(&cfg, ACCESS_MAC, CORE_MAC));
        let agent = Agent::new(cfg.reflector.to_reflector(), Box::new(reflector::TestEntropy::new(7)), Instant::now());
        let registrations = (cfg.mag.signaling == crate::config::Signaling::Pmipv6).then(|| Registrations::new(&cfg, &topo, WALL));
        let plane = ControlPlane::new(topo.clone(), crate::links::Settings::from_config(&cfg), agent, registrations);
        let out = Recorder {
            topo,
            sent: Vec::new(),
            learned: Vec::new(),
            forgotten: Vec::new(),
            bindings: HashMap::new(),
            routes: HashMap::new(),
            buffers: None,
            table_cap: usize::MAX,
        };
        Harness { plane, out, now: Duration::from_secs(1) }
    }

    /// As [`Harness::new`], with the LMA (or routed next hop) already resolved.
    pub fn resolved(config: &str) -> Harness {
        let h = Harness::new(config);
        let slot = h.topo().core_slot(0);
        h.topo().neighbors.learn(slot, if config.contains("routed") { NEXT_HOP_MAC } else { LMA_MAC });
        h
    }

    pub fn topo(&self) -> &Arc<Topology> {
        self.plane.topo()
    }

    /// The worker punted `frame` for `why` from (or, for `Unresolved`, toward) `role`.
    pub fn punt(&mut self, why: Punt, role: Role, frame: &[u8]) {
        self.plane.on_packet(self.now, Some(why), role, VecBuf::new(frame), &mut self.out);
    }

    /// Moves the clock to `secs` after the start and runs the timers.
    pub fn tick_at(&mut self, secs: f64) {
        self.now = Duration::from_secs(1) + Duration::from_secs_f64(secs);
        self.plane.tick(self.now, &mut self.out);
    }

    /// Takes the frames sent so far.
    pub fn sent(&mut self) -> Vec<(Role, Vec<u8>)> {
        std::mem::take(&mut self.out.sent)
    }
}

pub use wire::testpkt::frame;

/// A frame from MN2 on the access link.
pub fn from_mn2(ip: &[u8]) -> Vec<u8> {
    frame(ACCESS_MAC, MN2_MAC, ip)
}

/// A frame from the LMA on the core link.
pub fn from_lma(ip: &[u8]) -> Vec<u8> {
    frame(CORE_MAC, LMA_MAC, ip)
}

/// The IPv6 packet of a frame.
pub fn ip_of(f: &[u8]) -> &[u8] {
    &f[ethernet::HEADER_LEN..]
}
