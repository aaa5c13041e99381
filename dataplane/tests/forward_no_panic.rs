//! Property test of the forwarding decisions (no EAL): any frame on either port, random or a
//! mutated valid one, with or without bindings, gives a verdict without panicking, and a
//! forwarded frame is still a well-formed IPv6 packet.

use dataplane::attached::{AttachedNode, AttachedTable};
use dataplane::counters::WorkerCounters;
use dataplane::forward::{downlink, uplink, Bindings, Mode, PacketBuf, Topology, Verdict};
use dataplane::neighbor::NeighborCache;
use proptest::prelude::*;
use std::net::Ipv6Addr;
use wire::{ext, hao, ipv6, tunnel};

struct VecBuf {
    buf: Vec<u8>,
    start: usize,
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.buf.len() - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn truncate(&mut self, len: usize) {
        self.buf.truncate(self.start + len);
    }
}

/// Every (home, attached) pair is bound to one care-of address.
struct All;

impl Bindings for All {
    fn care_of(&self, _: &[u8; 16], _: &[u8; 16]) -> Option<[u8; 16]> {
        Some(a("2001:db8:2::200").octets())
    }
}

struct None_;

impl Bindings for None_ {
    fn care_of(&self, _: &[u8; 16], _: &[u8; 16]) -> Option<[u8; 16]> {
        None
    }
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn topo() -> Topology {
    let mut attached = AttachedTable::default();
    attached.add(AttachedNode::new("mn2", 0, true), &[(a("2001:db8:3::"), 64)]);
    let neighbors = NeighborCache::new(2);
    neighbors.learn(0, [2, 0, 0, 0, 3, 0]);
    neighbors.learn(1, [2, 0, 0, 0, 0xc, 2]);
    Topology {
        mode: Mode::Tunnel,
        proxy_coa: a("2001:db8:c0::1"),
        access_link_local: a("fe80::1"),
        access_mac: [2, 0, 0, 0, 0, 0xa],
        core_mac: [2, 0, 0, 0, 0, 0xc],
        access_mtu: 1500,
        core_mtu: 1500,
        lmas: vec![a("2001:db8:c0::2")],
        core_next_hops: vec![a("2001:db8:c0::2")],
        tunnel_hop_limit: 64,
        attached,
        neighbors,
    }
}

fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    ipv6::Repr { src, dst, next_header: nh, payload_len: payload.len() as u16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(&mut p).unwrap();
    p.extend_from_slice(payload);
    p
}

fn frame(dst_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 9, 9, 0x86, 0xdd]);
    f.extend_from_slice(ip);
    f
}

/// Valid frames of every path, to be mutated.
fn seeds() -> Vec<(bool, Vec<u8>)> {
    let (mn2, home, coa, lma, proxy) = (a("2001:db8:3::300"), a("2001:db8:1::100"), a("2001:db8:2::200"), a("2001:db8:c0::2"), a("2001:db8:c0::1"));
    let udp = [0u8, 1, 0, 2, 0, 12, 0, 0, 1, 2, 3, 4];
    let mut opts = vec![0u8; hao::DEST_OPTS_LEN];
    hao::emit_dest_opts(&mut opts, ipv6::proto::UDP, &home).unwrap();
    opts.extend_from_slice(&udp);
    let hao_pkt = ip6(coa, mn2, ipv6::proto::DEST_OPTS, &opts);
    let mh = ip6(home, mn2, ipv6::proto::MOBILITY, &[59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    vec![
        (true, frame([2, 0, 0, 0, 0, 0xa], &ip6(mn2, home, ipv6::proto::UDP, &udp))),
        (false, frame([2, 0, 0, 0, 0, 0xc], &ip6(lma, proxy, ipv6::proto::IPV6, &ip6(home, mn2, ipv6::proto::UDP, &udp)))),
        (false, frame([2, 0, 0, 0, 0, 0xc], &ip6(lma, proxy, ipv6::proto::IPV6, &hao_pkt))),
        (false, frame([2, 0, 0, 0, 0, 0xc], &ip6(lma, proxy, ipv6::proto::IPV6, &mh))),
    ]
}

fn check(access: bool, bytes: &[u8]) {
    let t = topo();
    let c = WorkerCounters::default();
    for with_bindings in [false, true] {
        let mut p = VecBuf { buf: [vec![0u8; 128], bytes.to_vec()].concat(), start: 128 };
        let v = match (access, with_bindings) {
            (true, true) => uplink(&t, &All, &c, &mut p),
            (true, false) => uplink(&t, &None_, &c, &mut p),
            (false, true) => downlink(&t, &All, &c, &mut p),
            (false, false) => downlink(&t, &None_, &c, &mut p),
        };
        if let Verdict::Forward(_) = v {
            let ip = &p.data()[14..];
            let h = ipv6::Header::new_checked(ip).expect("a forwarded frame carries IPv6");
            assert_eq!(ip.len(), h.total_len(), "no trailing bytes after a rewrite");
            match tunnel::decapsulate(ip) {
                Ok(d) => {
                    ext::walk(&ip[d.inner_offset..]).expect("tunneled inner packet walks");
                }
                Err(_) => {
                    ext::walk(ip).expect("forwarded packet walks");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_frames(access: bool, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(access, &bytes);
    }

    #[test]
    fn mutated_valid_frames(seed in 0usize..4, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let (access, mut f) = seeds()[seed].clone();
        for (i, b) in flips {
            // Keep the Ethernet header mostly valid so the IPv6 paths are reached.
            let i = 12 + i % (f.len() - 12);
            f[i] = b;
        }
        let cut = cut % (f.len() + 1);
        check(access, &f[..cut.max(f.len() / 2)]);
    }
}

#[test]
fn seeds_are_forwarded_so_the_mutations_start_from_working_packets() {
    let t = topo();
    let c = WorkerCounters::default();
    let mut forwarded = 0;
    for (access, f) in seeds() {
        let mut p = VecBuf { buf: [vec![0u8; 128], f].concat(), start: 128 };
        let v = if access { uplink(&t, &All, &c, &mut p) } else { downlink(&t, &All, &c, &mut p) };
        forwarded += matches!(v, Verdict::Forward(_)) as u32;
    }
    assert_eq!(forwarded, 3, "the MH seed is punted, the others forwarded");
    assert_eq!((c.rh2_inserted.get(), c.hao_rewritten.get()), (1, 1));
}
