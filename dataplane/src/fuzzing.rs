//! The check of fuzz target `forward` (`fuzz/`), shared with the regression test that
//! replays `fuzz/regressions/forward/` (feature `fuzzing`): the forwarding decisions on an
//! arbitrary frame from either port, in every mode, with and without a binding. No verdict
//! may panic, and what is forwarded must be what RFC 5213 §6.10.5 and RFC 6275 §9.3 say:
//! a well-formed packet out of the right port, tunnelled to the LMA or delivered to the
//! node, hop limit − 1, an RH2 only with a binding, no Home Address option left, and an
//! upper-layer checksum that was valid still valid.

use crate::attached::{AttachedNode, AttachedTable};
use crate::counters::{Role, WorkerCounters};
use crate::forward::{downlink, uplink, Bindings, Mode, OwnAddresses, PacketBuf, Signaling, Topology, VecBuf, Verdict};
use crate::neighbor::NeighborCache;
use arbitrary::{Arbitrary, Unstructured};
use std::net::Ipv6Addr;
use std::sync::atomic::AtomicU32;
use wire::ethernet::{MacAddr, ETHERTYPE_IPV6};
use wire::fuzzing::{checksum_ok, fix_checksum};
use wire::{ext, ipv6, testpkt, tunnel};

const ACCESS_MAC: MacAddr = [2, 0, 0, 0, 0, 0xa];
const CORE_MAC: MacAddr = [2, 0, 0, 0, 0, 0xc];
const MN2_MAC: MacAddr = [2, 0, 0, 0, 3, 0];
const LMA_MAC: MacAddr = [2, 0, 0, 0, 0xc, 2];
const PROXY_COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 1);
const LMA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 2);
const MN2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x300);
const HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const CARE_OF: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x200);
const MN2_PREFIX: u64 = 0x2001_0db8_0003_0000;
const TUNNEL_HOP_LIMIT: u8 = 64;

/// Addresses the decisions treat differently, and any other.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Mn2,
    Home,
    CareOf,
    ProxyCoa,
    Lma,
    LinkLocal,
    AllNodes,
    Other([u8; 16]),
}

impl Addr {
    fn get(self) -> Ipv6Addr {
        match self {
            Addr::Mn2 => MN2,
            Addr::Home => HOME,
            Addr::CareOf => CARE_OF,
            Addr::ProxyCoa => PROXY_COA,
            Addr::Lma => LMA,
            Addr::LinkLocal => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
            Addr::AllNodes => ipv6::ALL_NODES,
            Addr::Other(a) => Ipv6Addr::from(a),
        }
    }
}

/// An IPv6 packet: a valid fixed header whose payload (extension headers and upper layer)
/// is the fuzzer's, optionally with MN1's Home Address option in front of it.
#[derive(Arbitrary, Debug)]
struct Packet {
    src: Addr,
    dst: Addr,
    next_header: u8,
    hop_limit: u8,
    home_address: Option<Addr>,
    payload: Vec<u8>,
}

impl Packet {
    fn bytes(&self) -> Vec<u8> {
        let mut p = match self.home_address {
            Some(h) => testpkt::with_hao(self.src.get(), self.dst.get(), h.get(), self.next_header, &self.payload),
            None => testpkt::ip6(self.src.get(), self.dst.get(), self.next_header, 64, &self.payload),
        };
        p[7] = self.hop_limit;
        p
    }
}

#[derive(Arbitrary, Debug)]
enum Frame {
    /// Any bytes.
    Raw(Vec<u8>),
    /// Ethernet to our MAC (or broadcast) from MN2 or the LMA, then the packet.
    Plain { broadcast: bool, packet: Packet },
    /// Ethernet, the tunnel's outer header (with the fuzzer's extension headers, if any),
    /// then the packet.
    Tunneled { outer_src: Addr, outer_dst: Addr, outer_ext: Option<(u8, Vec<u8>)>, packet: Packet },
}

#[derive(Arbitrary, Debug)]
struct Input {
    from_access: bool,
    agent: bool,
    bound: bool,
    routed: bool,
    pmipv6: bool,
    know_neighbors: bool,
    frame: Frame,
}

/// Every (home, attached) pair is bound to CARE_OF, or none is.
struct Bound(bool);

impl Bindings for Bound {
    fn care_of(&self, _: &[u8; 16], _: &[u8; 16]) -> Option<[u8; 16]> {
        self.0.then(|| CARE_OF.octets())
    }
    fn is_peer(&self, addr: &[u8; 16]) -> bool {
        self.0 && *addr == CARE_OF.octets()
    }
}

fn topology(i: &Input) -> Topology {
    let mut attached = AttachedTable::default();
    let node = AttachedNode::new("mn2", 0, i.agent).with_mac(MN2_MAC);
    let neighbors = NeighborCache::new(3);
    if i.pmipv6 {
        attached.add(node, &[]);
        attached.size_routes();
        attached.install(0, MN2_PREFIX).expect("room for one route");
        attached.node(0).expect("added").set_registration(crate::attached::Registration::Registered);
    } else {
        attached.add(node, &[(Ipv6Addr::from(u128::from(MN2_PREFIX) << 64), 64)]);
    }
    if i.know_neighbors {
        neighbors.learn(0, MN2_MAC);
        neighbors.learn(1, LMA_MAC);
        neighbors.learn(2, LMA_MAC);
    }
    Topology {
        mode: if i.routed && !i.pmipv6 { Mode::Routed } else { Mode::Tunnel },
        signaling: if i.pmipv6 { Signaling::Pmipv6 } else { Signaling::Static },
        clock: AtomicU32::new(0),
        own: OwnAddresses::new(PROXY_COA, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        access_mac: ACCESS_MAC,
        core_mac: CORE_MAC,
        access_mtu: 1500,
        core_mtu: 1500,
        lmas: vec![LMA],
        core_next_hops: vec![LMA, LMA],
        tunnel_hop_limit: TUNNEL_HOP_LIMIT,
        attached,
        neighbors,
    }
}

/// The frame; its packets' upper-layer checksums made valid.
fn frame(i: &Input) -> Vec<u8> {
    let (our, peer) = if i.from_access { (ACCESS_MAC, MN2_MAC) } else { (CORE_MAC, LMA_MAC) };
    match &i.frame {
        Frame::Raw(b) => b.clone(),
        Frame::Plain { broadcast, packet } => {
            let mut p = packet.bytes();
            fix_checksum(&mut p);
            testpkt::frame(if *broadcast { [0xff; 6] } else { our }, peer, &p)
        }
        Frame::Tunneled { outer_src, outer_dst, outer_ext, packet } => {
            let mut p = packet.bytes();
            fix_checksum(&mut p);
            let (nh, ext) = match outer_ext {
                Some((nh, e)) => (*nh, e.as_slice()),
                None => (ipv6::proto::IPV6, &[][..]),
            };
            let mut outer = testpkt::ip6(outer_src.get(), outer_dst.get(), nh, 64, &[ext, &p].concat());
            // The outer packet is what an access port forwards: its checksum too, if any.
            fix_checksum(&mut outer);
            testpkt::frame(our, peer, &outer)
        }
    }
}

pub fn forward(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!("{input:?}");
    }
    let topo = topology(&input);
    let f = frame(&input);
    let c = WorkerCounters::default();
    let mut p = VecBuf::new(&f);
    let b = Bound(input.bound);
    let v = if input.from_access { uplink(&topo, &b, &c, &mut p) } else { downlink(&topo, &b, &c, &mut p) };
    let Verdict::Forward(role) = v else { return };
    let out = p.data();
    assert_eq!(&out[6..12], if role == Role::Core { &CORE_MAC } else { &ACCESS_MAC }, "source MAC");
    assert_eq!(&out[12..14], &ETHERTYPE_IPV6.to_be_bytes());
    if input.know_neighbors {
        assert_eq!(&out[..6], if role == Role::Core { &LMA_MAC } else { &MN2_MAC }, "destination MAC");
    }
    let ip = &out[14..];
    let h = ipv6::Header::new_checked(ip).expect("a forwarded frame carries IPv6");
    assert_eq!(ip.len(), h.total_len(), "no trailing bytes after a rewrite");
    if input.from_access {
        assert_eq!(role, Role::Core, "uplink leaves by the core port");
        let ip_in = f.get(14..).unwrap_or(&[]);
        let hop_limit = ipv6::Header::new_checked(ip_in).ok().map(|h| h.hop_limit());
        uplink_out(&topo, &input, &c, ip, hop_limit, checksum_ok(ip_in));
    } else {
        assert_eq!(role, Role::Access, "downlink leaves by the access port");
        // The packet as it came: inside the tunnel, unless routed.
        let ip_in = f.get(14..).unwrap_or(&[]);
        let inner_in = match topo.mode {
            Mode::Tunnel => tunnel::decapsulate(ip_in).ok().and_then(|d| ip_in.get(d.inner_offset..)).unwrap_or(&[]),
            Mode::Routed => ip_in,
        };
        let home = ext::walk(inner_in).ok().and_then(|c| c.home_address).map(|h| h.home);
        downlink_out(&input, &c, ip, home, checksum_ok(inner_in));
    }
}

/// RFC 5213 §6.10.5: encapsulated from the Proxy-CoA to the LMA (or routed), hop limit − 1;
/// RFC 6275 §9.3.2: an RH2 only with a binding, and the checksum still verifies.
fn uplink_out(topo: &Topology, input: &Input, c: &WorkerCounters, ip: &[u8], hop_limit: Option<u8>, valid: bool) {
    let inner = if topo.mode == Mode::Tunnel {
        let d = tunnel::decapsulate(ip).expect("an uplink packet is tunnelled");
        assert_eq!((d.outer_src, d.outer_dst), (PROXY_COA, LMA));
        assert_eq!(ipv6::Header::new_checked(ip).expect("checked").hop_limit(), TUNNEL_HOP_LIMIT);
        assert_eq!(c.encapsulated.get(), 1);
        &ip[d.inner_offset..]
    } else {
        assert_eq!(c.encapsulated.get(), 0, "tunnelled in routed mode");
        ip
    };
    let h = ipv6::Header::new_checked(inner).expect("inner IPv6");
    let src = u128::from(h.src_addr());
    assert_eq!((src >> 64) as u64, MN2_PREFIX, "forwarded a packet from outside the node's prefix");
    if let Some(hl) = hop_limit {
        assert_eq!(h.hop_limit(), hl - 1, "hop limit − 1");
    }
    let chain = ext::walk(inner).expect("a forwarded packet walks");
    if c.rh2_inserted.get() == 1 {
        assert!(input.bound && input.agent, "RH2 without a binding");
        assert_eq!(h.dst_addr(), CARE_OF);
        assert_eq!(chain.routing.map(|r| (r.routing_type, r.segments_left)), Some((2, 1)));
    }
    if valid {
        assert!(checksum_ok(inner), "upper-layer checksum broken on the uplink");
    }
}

fn downlink_out(input: &Input, c: &WorkerCounters, ip: &[u8], home: Option<Ipv6Addr>, valid: bool) {
    let h = ipv6::Header::new_checked(ip).expect("checked");
    assert_eq!((u128::from(h.dst_addr()) >> 64) as u64, MN2_PREFIX, "delivered to an address outside the node's prefix");
    let chain = ext::walk(ip).expect("a delivered packet walks");
    if input.agent {
        assert_eq!(chain.home_address, None, "a Home Address option reached the node");
        assert_ne!(chain.upper_proto, ipv6::proto::MOBILITY, "a Mobility Header reached a node with the agent on");
    }
    if c.hao_rewritten.get() == 1 {
        assert!(input.bound && input.agent, "Home Address option taken without a binding");
        assert_eq!(Some(h.src_addr()), home, "source := the home address (RFC 6275 §9.3.1)");
    }
    if valid {
        assert!(checksum_ok(ip), "upper-layer checksum broken on the downlink");
    }
}
