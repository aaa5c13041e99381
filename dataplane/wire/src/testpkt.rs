//! The one builder of test packets, for unit tests, benches and the end-to-end tests
//! (feature `test-support`). Every packet is built with this crate's own emitters and
//! checksum code, so a test packet has the layout the product parses.

use core::net::Ipv6Addr;

use crate::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use crate::ipv6::{self, proto};
use crate::{checksum, hao, icmpv6, nd};

/// An address from its text form; panics on a typo, as a test should.
pub fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("an IPv6 address")
}

/// An IPv6 packet: the fixed header (traffic class and flow label 0), then `payload`.
pub fn ip6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    let payload_len = u16::try_from(payload.len()).expect("payload fits the payload length");
    ipv6::Repr { src, dst, next_header, payload_len, hop_limit, traffic_class: 0, flow_label: 0 }.emit(&mut p).expect("40 bytes");
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram (RFC 768) with its checksum over the pseudo-header (src, dst); a computed
/// 0 is sent as 0xffff (RFC 8200 §8.1).
pub fn udp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + data.len()).expect("UDP length fits 16 bits");
    let mut u = Vec::with_capacity(usize::from(len));
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let c = checksum::upper_layer(&src, &dst, proto::UDP, &u);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

/// An IPv6 packet carrying [`udp`] from `src` to `dst`.
pub fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    ip6(src, dst, proto::UDP, hop_limit, &udp(src, dst, sport, dport, data))
}

/// The Destination Options header MN1 sends (`hao::emit_dest_opts`): a Home Address
/// option for `home` (RFC 6275 §6.3), then `next_header`.
pub fn hao_dest_opts(next_header: u8, home: Ipv6Addr) -> Vec<u8> {
    let mut d = vec![0u8; hao::DEST_OPTS_LEN];
    hao::emit_dest_opts(&mut d, next_header, &home).expect("24 bytes");
    d
}

/// A packet from a mobile node's care-of address `src` with a Home Address option for
/// `home` ([`hao_dest_opts`]), hop limit 64, then `upper` (protocol `next_header`).
pub fn with_hao(src: Ipv6Addr, dst: Ipv6Addr, home: Ipv6Addr, next_header: u8, upper: &[u8]) -> Vec<u8> {
    let payload = [hao_dest_opts(next_header, home), upper.to_vec()].concat();
    ip6(src, dst, proto::DEST_OPTS, 64, &payload)
}

/// `inner` in an IPv6-in-IPv6 tunnel (RFC 2473), outer hop limit 64, traffic class 0.
/// The inner bytes are not checked, so a test can tunnel a malformed packet.
pub fn tunneled(outer_src: Ipv6Addr, outer_dst: Ipv6Addr, inner: &[u8]) -> Vec<u8> {
    ip6(outer_src, outer_dst, proto::IPV6, 64, inner)
}

/// An Ethernet header, then `payload`.
pub fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN];
    ethernet::write_header(&mut f, dst, src, ethertype).expect("14 bytes");
    f.extend_from_slice(payload);
    f
}

/// An Ethernet frame carrying the IPv6 packet `ip`.
pub fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, src, ETHERTYPE_IPV6, ip)
}

/// An ICMPv6 Echo Request (RFC 4443 §4.1) with data `roagent-test`.
pub fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let n = icmpv6::build_echo(&mut buf, &src, &dst, true, id, seq, b"roagent-test").expect("fits 200 bytes");
    buf.truncate(n);
    buf[ipv6::field::HOP_LIMIT] = hop_limit;
    buf
}

/// A Neighbor Solicitation from `src` (its MAC in the Source Link-Layer Address option)
/// for `target` (RFC 4861 §4.3).
pub fn neighbor_solicit(src: Ipv6Addr, target: Ipv6Addr, mac: MacAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let n = nd::build_neighbor_solicit(&mut buf, &src, &target, &mac).expect("fits 200 bytes");
    buf.truncate(n);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_and_checksums_verify() {
        let (s, d) = (a("2001:db8:3::300"), a("2001:db8:1::100"));
        let p = udp_packet(s, d, 7, 1000, 2000, b"data");
        let h = ipv6::Header::new_checked(&p[..]).unwrap();
        assert_eq!((h.src_addr(), h.dst_addr(), h.next_header(), h.hop_limit(), h.total_len()), (s, d, proto::UDP, 7, p.len()));
        assert_eq!(p[40..48], [0x03, 0xe8, 0x07, 0xd0, 0, 12, p[46], p[47]]);
        assert!(checksum::verify_upper_layer(&s, &d, proto::UDP, &p[40..]));

        let home = a("2001:db8:1::1");
        let m = with_hao(a("2001:db8:2::200"), s, home, proto::UDP, &udp(home, s, 1, 2, &[]));
        let chain = crate::ext::walk(&m).unwrap();
        assert_eq!((chain.home_address.map(|h| h.home), chain.upper_offset), (Some(home), 64));
        assert!(checksum::verify_upper_layer(&home, &s, proto::UDP, &m[64..]));

        let t = tunneled(a("2001:db8:c0::2"), a("2001:db8:c0::1"), &p);
        assert_eq!(crate::tunnel::decapsulate(&t).unwrap().inner_offset, 40);
        let f = frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], &t);
        assert_eq!((f.len(), &f[12..14]), (14 + t.len(), &[0x86, 0xdd][..]));
        assert_eq!(echo_request(s, d, 9, 1, 2)[7], 9);
        assert_eq!(neighbor_solicit(a("fe80::2"), s, [2, 0, 0, 0, 0, 2])[40], icmpv6::NS);
    }
}
