//! End to end on `net_pcap`: the real binary forwards as a PMIPv6 MAG. Frames go in through
//! pcap files, come out in pcap files, and are checked byte by byte; every drop reason is
//! provoked once and counted once; tshark decodes every emitted frame without complaint.

use e2e::packets::*;
use e2e::run::{run_pcap, tshark_problems, PcapRun, ACCESS_MAC, CORE_MAC};
use std::net::Ipv6Addr;
use wire::ethernet::{Frame, ETHERTYPE_IPV6};
use wire::ipv6::{self, Header};
use wire::{icmpv6, tunnel};

const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
const LMA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x02];

fn mn2() -> Ipv6Addr {
    a("2001:db8:3::300")
}
fn cn() -> Ipv6Addr {
    a("2001:db8:9::9")
}
fn coa() -> Ipv6Addr {
    a("2001:db8:c0::1")
}
fn lma() -> Ipv6Addr {
    a("2001:db8:c0::2")
}

use e2e::run::STATIC_MN2 as TUNNEL_CONFIG;

fn up(ip: &[u8]) -> Vec<u8> {
    ipv6_frame(ACCESS_MAC, MN2_MAC, ip)
}
fn down(ip: &[u8]) -> Vec<u8> {
    ipv6_frame(CORE_MAC, LMA_MAC, ip)
}

/// The IPv6 packet of a frame, checking the Ethernet header on the way.
fn ip_of(frame: &[u8], dst_mac: [u8; 6], src_mac: [u8; 6]) -> &[u8] {
    let e = Frame::new_checked(frame).unwrap();
    assert_eq!((e.dst(), e.src(), e.ethertype()), (dst_mac, src_mac, ETHERTYPE_IPV6), "Ethernet header of {frame:02x?}");
    &frame[14..]
}

/// ICMPv6 messages of `type` in the frames (after an optional tunnel), as (src, dst, packet).
fn icmp_of(frames: &[Vec<u8>], ty: u8) -> Vec<(Ipv6Addr, Ipv6Addr, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let mut ip = f.get(14..)?;
            if let Ok(d) = tunnel::decapsulate(ip) {
                ip = &ip[d.inner_offset..d.inner_offset + d.inner_len];
            }
            let h = Header::new_checked(ip).ok()?;
            (h.next_header() == ipv6::proto::ICMPV6 && ip.get(40) == Some(&ty)).then(|| (h.src_addr(), h.dst_addr(), ip.to_vec()))
        })
        .collect()
}

fn tunnel_scenario() -> PcapRun {
    let good_up = udp_packet(mn2(), cn(), 64, 1000, 2000, b"uplink payload");
    let big_up = udp_packet(mn2(), cn(), 64, 1000, 2000, &[0x55; 1432]);
    assert_eq!(big_up.len(), 1480);
    let mut truncated = udp_packet(mn2(), cn(), 64, 1, 2, &[0; 80]);
    truncated.truncate(60);
    let access_in = vec![
        up(&good_up),
        up(&udp_packet(mn2(), cn(), 1, 1000, 2000, b"expires here")),
        [vec![0xff; 6], MN2_MAC.to_vec(), vec![0x08, 0x06], vec![0; 28]].concat(),
        ipv6_frame([0x02, 9, 9, 9, 9, 9], MN2_MAC, &good_up),
        vec![0x02; 10],
        up(&truncated),
        up(&udp_packet(a("fe80::300"), cn(), 64, 1, 2, b"ll")),
        up(&udp_packet(a("2001:db8:4::1"), cn(), 64, 1, 2, b"who")),
        ipv6_frame([0x33, 0x33, 0, 0, 0, 1], MN2_MAC, &udp_packet(mn2(), a("ff02::1"), 1, 1, 2, b"mc")),
        ipv6_frame([0x33, 0x33, 0xff, 0, 0, 1], MN2_MAC, &neighbor_solicit(mn2(), a("fe80::1"), MN2_MAC)),
        up(&echo_request(mn2(), a("fe80::1"), 64, 7, 1)),
        up(&big_up),
    ];
    let good_down = udp_packet(cn(), mn2(), 10, 2000, 1000, b"downlink payload");
    // Linux's ip6_tunnel adds a Tunnel Encapsulation Limit option (RFC 2473 §5.1).
    let encap_limit = [ipv6::proto::IPV6, 0, 4, 1, 4, 1, 1, 0];
    let mut with_limit = ip6(lma(), coa(), ipv6::proto::DEST_OPTS, 64, &[&encap_limit[..], &good_down].concat());
    with_limit[6] = ipv6::proto::DEST_OPTS;
    let mut long_chain = Vec::new();
    for i in 0..9 {
        let next = if i == 8 { ipv6::proto::NO_NEXT } else { ipv6::proto::DEST_OPTS };
        long_chain.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    let mut garbage_inner = vec![0x45u8; 60];
    garbage_inner[0] = 0x45;
    let core_in = vec![
        down(&tunneled(lma(), coa(), &good_down)),
        down(&good_down),
        down(&tunneled(a("2001:db8:c0::99"), coa(), &good_down)),
        down(&tunneled(lma(), coa(), &garbage_inner)),
        down(&tunneled(lma(), coa(), &udp_packet(cn(), a("2001:db8:5::1"), 10, 1, 2, b"nobody"))),
        down(&tunneled(lma(), coa(), &udp_packet(cn(), mn2(), 1, 2000, 1000, b"dies at the MAG"))),
        down(&ip6(lma(), coa(), ipv6::proto::DEST_OPTS, 64, &long_chain)),
        ipv6_frame([0x33, 0x33, 0xff, 0, 0, 1], LMA_MAC, &neighbor_solicit(lma(), coa(), LMA_MAC)),
        down(&with_limit),
    ];
    run_pcap("tunnel", TUNNEL_CONFIG, &access_in, &core_in, 2.0)
}

#[test]
fn mag_forwards_drops_and_answers_in_tunnel_mode() {
    let r = tunnel_scenario();
    let c = &r.counters;
    let err = r.stderr();

    // Uplink: encapsulated to the LMA, outer source = Proxy-CoA, inner hop limit − 1.
    let tunneled: Vec<_> = r
        .core_out
        .iter()
        .filter_map(|f| {
            let ip = ip_of(f, LMA_MAC, CORE_MAC);
            let d = tunnel::decapsulate(ip).ok()?;
            Some((d, ip.to_vec()))
        })
        .collect();
    let data: Vec<_> = tunneled.iter().filter(|(d, ip)| Header::new_checked(&ip[d.inner_offset..]).unwrap().next_header() == ipv6::proto::UDP).collect();
    assert_eq!(data.len(), 1, "one data packet up the tunnel; core out: {:02x?}\n{err}", r.core_out);
    let (d, ip) = data[0];
    assert_eq!((d.outer_src, d.outer_dst), (coa(), lma()));
    let outer = Header::new_checked(&ip[..]).unwrap();
    assert_eq!((outer.next_header(), outer.hop_limit()), (ipv6::proto::IPV6, 64));
    let inner = &ip[d.inner_offset..];
    let mut expect = udp_packet(mn2(), cn(), 64, 1000, 2000, b"uplink payload");
    expect[7] = 63;
    assert_eq!(inner, &expect[..], "inner packet unchanged but for the hop limit");

    // Downlink: decapsulated (with and without an encapsulation-limit option), hop limit − 1.
    let delivered: Vec<_> = r.access_out.iter().filter(|f| f.get(14 + 6) == Some(&ipv6::proto::UDP)).map(|f| ip_of(f, MN2_MAC, ACCESS_MAC).to_vec()).collect();
    let mut expect = udp_packet(cn(), mn2(), 10, 2000, 1000, b"downlink payload");
    expect[7] = 9;
    assert_eq!(delivered, vec![expect.clone(), expect], "two delivered downlink packets\n{err}");

    // Every drop reason, once each.
    for (port, reason) in [
        ("access", "not_ipv6"),
        ("access", "not_for_us"),
        ("access", "runt"),
        ("access", "ipv6_malformed"),
        ("access", "link_local_source"),
        ("access", "unknown_source"),
        ("access", "unroutable"),
        ("core", "not_tunneled"),
        ("core", "unknown_lma"),
        ("core", "tunnel_inner_malformed"),
        ("core", "unknown_destination"),
        ("core", "extension_headers"),
    ] {
        assert_eq!(c.drop(port, reason), 1, "{port}/{reason}: {:?}", c.0);
    }
    assert_eq!(c.drops_total(), 12, "no other drops: {:?}", c.0);
    assert_eq!(c.get("roagent_tunnel_encapsulations_total"), 1);
    // Decapsulated: the two delivered, the one to an unknown node, the one whose hop limit ends here.
    assert_eq!(c.get("roagent_tunnel_decapsulations_total"), 4);
    assert_eq!(c.get("roagent_port_rx_packets_total{port=\"access\"}"), 12);
    assert_eq!(c.get("roagent_port_rx_packets_total{port=\"core\"}"), 9);

    // Time Exceeded (RFC 4443 §3.3) for the uplink packet, on the access link from fe80::1 ...
    let te_access = icmp_of(&r.access_out, icmpv6::TIME_EXCEEDED);
    assert_eq!(te_access.len(), 1, "{err}");
    assert_eq!((te_access[0].0, te_access[0].1), (a("fe80::1"), mn2()));
    // ... and for the downlink one, back up the tunnel from the Proxy-CoA to its source.
    let te_core = icmp_of(&r.core_out, icmpv6::TIME_EXCEEDED);
    assert_eq!(te_core.len(), 1, "{err}");
    assert_eq!((te_core[0].0, te_core[0].1), (coa(), cn()));
    assert_eq!(c.get("roagent_icmpv6_errors_sent_total{type=\"time_exceeded\"}"), 2);

    // Packet Too Big with the tunnel overhead taken off (RFC 2473 §7.1).
    let ptb = icmp_of(&r.access_out, icmpv6::PACKET_TOO_BIG);
    assert_eq!(ptb.len(), 1, "{err}");
    assert_eq!(u32::from_be_bytes(ptb[0].2[44..48].try_into().unwrap()), 1460);
    assert!(ptb[0].2.len() <= 1280, "an ICMPv6 error fits the minimum MTU (RFC 4443 §2.4(c))");

    // Neighbor Discovery: NA for fe80::1 on the access link and for the Proxy-CoA on the core.
    let na_access = icmp_of(&r.access_out, icmpv6::NA);
    assert_eq!(na_access.len(), 1, "{err}");
    assert_eq!((na_access[0].0, na_access[0].1), (a("fe80::1"), mn2()));
    assert_eq!(&na_access[0].2[48..64], &a("fe80::1").octets(), "target");
    assert_eq!(na_access[0].2[44] & 0xe0, 0xe0, "router, solicited, override");
    let na_core = icmp_of(&r.core_out, icmpv6::NA);
    assert_eq!(na_core.len(), 1, "{err}");
    assert_eq!(&na_core[0].2[48..64], &coa().octets());
    assert_eq!(na_core[0].2[44] & 0xe0, 0x60, "not a router on the core link");

    // Ping the MAG.
    let echo = icmp_of(&r.access_out, icmpv6::ECHO_REPLY);
    assert_eq!(echo.len(), 1, "{err}");
    assert_eq!((echo[0].0, echo[0].1), (a("fe80::1"), mn2()));

    assert_eq!(r.access_out.len(), 6, "2 delivered, TE, PTB, NA, echo reply");
    assert_eq!(r.core_out.len(), 3, "1 tunneled, TE, NA");
    for f in ["access_out.pcap", "core_out.pcap"] {
        let p = tshark_problems(&r.scratch.0.join(f));
        assert!(p.is_empty(), "tshark on {f}: {p:?}");
    }
    assert_eq!(c.get("roagent_mempool_in_use"), 0, "no mbuf leaked");
}

#[test]
fn routed_mode_forwards_without_the_tunnel() {
    let cfg = r#"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
mode = "routed"
routed_next_hop = "2001:db8:c0::fe"
routed_next_hop_mac = "02:00:00:00:0c:fe"
[[node]]
name = "mn2"
addresses = ["2001:db8:3::300"]
mac = "02:00:00:00:03:00"
"#;
    let nh_mac = [0x02, 0, 0, 0, 0x0c, 0xfe];
    let upk = udp_packet(mn2(), cn(), 5, 1, 2, b"routed up");
    let dpk = udp_packet(cn(), mn2(), 5, 2, 1, b"routed down");
    let r = run_pcap("routed", cfg, &[up(&upk)], &[ipv6_frame(CORE_MAC, nh_mac, &dpk)], 1.5);
    assert_eq!(r.core_out.len(), 1, "{}", r.stderr());
    let mut e = upk.clone();
    e[7] = 4;
    assert_eq!(ip_of(&r.core_out[0], nh_mac, CORE_MAC), &e[..]);
    assert_eq!(r.access_out.len(), 1);
    let mut e = dpk.clone();
    e[7] = 4;
    assert_eq!(ip_of(&r.access_out[0], MN2_MAC, ACCESS_MAC), &e[..]);
    assert_eq!(r.counters.get("roagent_tunnel_encapsulations_total"), 0);
}

#[test]
fn unknown_neighbor_is_solicited_and_its_packets_held() {
    // No MAC configured for the node: the first downlink packet is held and the MAG solicits.
    let cfg = TUNNEL_CONFIG.replace("mac = \"02:00:00:00:03:00\"\n", "");
    let dpk = udp_packet(cn(), mn2(), 10, 2, 1, b"held");
    let r = run_pcap("resolve", &cfg, &[], &[down(&tunneled(lma(), coa(), &dpk))], 1.5);
    let ns = icmp_of(&r.access_out, icmpv6::NS);
    assert!(!ns.is_empty(), "a solicitation went out: {}", r.stderr());
    let (src, dst, pkt) = &ns[0];
    assert_eq!((*src, *dst), (a("fe80::1"), ipv6::solicited_node(&mn2())));
    assert_eq!(&pkt[48..64], &mn2().octets(), "target is the node's address");
    let e = Frame::new_checked(&r.access_out[0][..]).unwrap();
    assert_eq!(e.dst(), [0x33, 0x33, 0xff, 0x00, 0x03, 0x00]);
    assert_eq!(r.counters.get("roagent_held_packets_total"), 1);
    assert_eq!(r.counters.get("roagent_punted_packets_total{reason=\"unresolved\"}"), 1);
    assert!(r.access_out.iter().all(|f| f.get(20) != Some(&ipv6::proto::UDP)), "nothing delivered without a MAC");
}

#[test]
fn tshark_check_catches_a_bad_checksum() {
    // The decoding check above must be able to fail.
    let s = e2e::run::Scratch::new("tshark");
    let mut bad = udp_packet(mn2(), cn(), 64, 1, 2, b"x");
    bad[46] ^= 0xff;
    let p = s.0.join("bad.pcap");
    e2e::pcap::write(&p, &[up(&bad)]).unwrap();
    assert!(!tshark_problems(&p).is_empty());
    e2e::pcap::write(&p, &[up(&udp_packet(mn2(), cn(), 64, 1, 2, b"x"))]).unwrap();
    assert!(tshark_problems(&p).is_empty());
}
