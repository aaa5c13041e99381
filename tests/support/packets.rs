//! Frames for the tests, built with the product's own `wire` library where it has a builder.

use std::net::Ipv6Addr;
use wire::checksum;
use wire::ethernet::{self, MacAddr, ETHERTYPE_IPV6};
use wire::ipv6;

pub fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Ethernet header + payload.
pub fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN];
    ethernet::write_header(&mut f, dst, src, ethertype).unwrap();
    f.extend_from_slice(payload);
    f
}

/// An IPv6 packet with `payload` after the header.
pub fn ip6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    ipv6::Repr { src, dst, next_header, payload_len: payload.len() as u16, hop_limit, traffic_class: 0, flow_label: 0 }.emit(&mut p).unwrap();
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram with a valid checksum for (src, dst).
pub fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let c = checksum::upper_layer(&src, &dst, ipv6::proto::UDP, &u);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    ip6(src, dst, ipv6::proto::UDP, hop_limit, &u)
}

/// `inner` in an IPv6-in-IPv6 tunnel (RFC 2473).
pub fn tunneled(outer_src: Ipv6Addr, outer_dst: Ipv6Addr, inner: &[u8]) -> Vec<u8> {
    ip6(outer_src, outer_dst, ipv6::proto::IPV6, 64, inner)
}

/// An ICMPv6 echo request.
pub fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let n = wire::icmpv6::build_echo(&mut buf, &src, &dst, true, id, seq, b"roagent-test").unwrap();
    buf.truncate(n);
    buf[7] = hop_limit;
    buf
}

/// A Neighbor Solicitation from `src` (with its MAC in the SLLA option) for `target`.
pub fn neighbor_solicit(src: Ipv6Addr, target: Ipv6Addr, mac: MacAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let n = wire::nd::build_neighbor_solicit(&mut buf, &src, &target, &mac).unwrap();
    buf.truncate(n);
    buf
}

pub fn ipv6_frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, src, ETHERTYPE_IPV6, ip)
}
